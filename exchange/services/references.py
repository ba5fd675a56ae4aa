"""What offers may name and which offers a change locks: the organisation's active sites and the active
categories, loaded once for one offer or a batch, and the row locks of one offer or many."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from django.utils.translation import gettext as _

from core.errors import NotFound
from inventory.models import Category
from organisations.actors import Actor
from organisations.models import Organisation, Site

from ..models import LIVE_STATUSES, Offer


def _pk(ref: int | Site | Category) -> int:
    return ref.pk if isinstance(ref, Site | Category) else ref


@dataclass(frozen=True)
class OfferReferences:
    """What offers may name, loaded once for one offer or a whole batch: the active sites of the
    offering organisation and the active categories (new offers cannot use a retired one). Anything
    else reads as absent."""

    sites: Mapping[int, Site]
    categories: Mapping[int, Category]

    def site(self, ref: int | Site) -> Site | None:
        return self.sites.get(_pk(ref))

    def category(self, ref: int | Category) -> Category | None:
        return self.categories.get(_pk(ref))


def offer_references_load(
    *,
    organisation_id: int | None,
    sites: Iterable[int | Site] = (),
    categories: Iterable[int | Category] = (),
) -> OfferReferences:
    """At most two queries, whatever the number of offers; none for what is not asked."""
    site_ids = {_pk(ref) for ref in sites}
    category_ids = {_pk(ref) for ref in categories}
    found_sites = (
        Site.objects.filter(pk__in=site_ids, organisation_id=organisation_id, is_active=True)
        if site_ids and organisation_id is not None
        else ()
    )
    found_categories = Category.objects.filter(pk__in=category_ids, is_active=True) if category_ids else ()
    return OfferReferences(
        sites={site.pk: site for site in found_sites},
        categories={category.pk: category for category in found_categories},
    )


def category_resolve(ref: int | Category) -> Category | None:
    """An active category (new offers cannot use a retired one)."""
    return offer_references_load(organisation_id=None, categories=[ref]).category(ref)


def offer_lock_owned(actor: Actor, offer: Offer | int) -> Offer:
    """Reload the offer under a row lock, for a member (or key) of the organisation that offers it, or
    the operator (moderation, commands). Others read it as absent."""
    pk = offer.pk if isinstance(offer, Offer) else offer
    locked = (
        Offer.objects.select_for_update(of=("self",))
        .select_related("organisation", "category", "site")
        .filter(pk=pk)
        .first()
    )
    if locked is None or not (actor.is_member(locked.organisation_id) or actor.is_operator):
        raise NotFound(_("No such offer."))
    return locked


def offers_live_lock(*, organisation: Organisation, external_refs: Collection[str]) -> dict[str, Offer]:
    """The organisation's live offers holding these references (at most one each), with their site and
    category, locked in primary-key order as every lock of several offers is taken: what a batch
    changes (exchange.bulk), as offer_lock_owned is for one offer. The caller has checked that the actor
    acts for the organisation."""
    if not external_refs:
        return {}
    offers = list(
        Offer.objects.select_for_update()
        # Not read by a change: the search vector (a trigger's), the points (copied from the site).
        .defer("search_vector", "location", "public_location")
        .filter(organisation=organisation, external_ref__in=external_refs, status__in=LIVE_STATUSES)
        .order_by("pk")
    )
    # Few sites and categories for many offers: each read once, shared.
    sites = Site.objects.in_bulk({offer.site_id for offer in offers})
    categories = Category.objects.in_bulk({offer.category_id for offer in offers})
    live = {}
    for offer in offers:
        offer.organisation, offer.site, offer.category = (
            organisation,
            sites[offer.site_id],
            categories[offer.category_id],
        )
        live[offer.external_ref] = offer
    return live
