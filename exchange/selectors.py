"""Reads of offers, scoped to the actor: owners see all their offers, everyone authenticated sees offers
that have been public, and only the owner (or whom the claims layer names: a recipient whose claim
reveals the place) sees the exact place."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import TypedDict

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from core.errors import NotFound
from inventory.models import Category
from inventory.selectors import category_subtree_q
from organisations.actors import Actor

from .models import Offer, OfferPhoto
from .rules import PUBLIC_STATUSES


class OfferFilters(TypedDict, total=False):
    status: str
    category: Category
    site: int
    organisation: int
    external_ref: str
    updated_since: dt.datetime


def _with_relations(qs: QuerySet[Offer]) -> QuerySet[Offer]:
    return qs.select_related("organisation", "site", "category").prefetch_related("photos")


def offers_visible_to(*, actor: Actor) -> QuerySet[Offer]:
    qs = _with_relations(Offer.objects.all())
    if actor.is_operator:
        return qs
    return qs.filter(Q(organisation_id__in=actor.organisation_ids) | Q(status__in=PUBLIC_STATUSES))


def offer_version(offer: Offer) -> str:
    """An opaque token of the offer's state, the same for every reader: it changes whenever the offer
    does (every change sets `updated_at`). The API sends it as the offer's ETag."""
    return hashlib.sha256(f"offer:{offer.pk}:{offer.updated_at.isoformat()}".encode()).hexdigest()[:32]


def offer_get(*, actor: Actor, offer_id: int) -> Offer:
    """Fetch and authorise in one call: another organisation's draft or withdrawn offer reads as absent."""
    offer = offers_visible_to(actor=actor).filter(pk=offer_id).first()
    if offer is None:
        raise NotFound(_("No such offer."))
    return offer


def offers_of_organisations(*, actor: Actor, filters: OfferFilters | None = None) -> QuerySet[Offer]:
    """The caller's organisations' own offers (every offer for the operator), filtered. The category
    filter includes its descendants; `updated_since` is strict, so a client that stores the last
    `updated_at` it saw does not receive that offer again."""
    filters = filters or {}
    qs = _with_relations(Offer.objects.all())
    if not actor.is_operator:
        qs = qs.filter(organisation_id__in=actor.organisation_ids)
    if "status" in filters:
        qs = qs.filter(status=filters["status"])
    if "category" in filters:
        path = filters["category"].path
        qs = qs.filter(category_subtree_q([path], prefix="category__"))
    if "site" in filters:
        qs = qs.filter(site_id=filters["site"])
    if "organisation" in filters:
        qs = qs.filter(organisation_id=filters["organisation"])
    if "external_ref" in filters:
        qs = qs.filter(external_ref=filters["external_ref"])
    if "updated_since" in filters:
        qs = qs.filter(updated_at__gt=filters["updated_since"])
    return qs


def offers_owned_q(*, actor: Actor) -> Q:
    """On Offer: the offers of the actor's own organisations. Purely "own organisation"; who else sees
    an offer's exact place is decided by claims/selectors/reveal.py, the rule's one home, which uses this."""
    return Q(organisation_id__in=actor.organisation_ids)


def offer_owned_by(*, actor: Actor, offer: Offer) -> bool:
    """`offers_owned_q` for one offer already loaded, without a query."""
    return offer.organisation_id in actor.organisation_ids


def offer_photo_get(*, actor: Actor, offer_id: int, photo_id: int) -> OfferPhoto:
    """A photo of an offer the actor may see."""
    offer = offer_get(actor=actor, offer_id=offer_id)
    photo = next((p for p in offer.photos.all() if p.pk == photo_id), None)
    if photo is None:
        raise NotFound(_("No such photo."))
    return photo
