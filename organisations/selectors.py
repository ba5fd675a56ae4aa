"""Reads. Each selector takes the actor and only ever returns what that actor may see."""

from __future__ import annotations

from django.db.models import QuerySet

from core.errors import NotFound

from .actors import Actor
from .models import ApiKey, Organisation, Site


def sites_visible_to(*, actor: Actor) -> QuerySet[Site]:
    qs = Site.objects.select_related("territory", "organisation").filter(is_active=True)
    if actor.is_operator:
        return qs
    return qs.filter(organisation_id__in=actor.organisation_ids)


def site_get(*, actor: Actor, site_id: int) -> Site:
    """Fetch and authorise in one call: out of scope reads as absent."""
    site = sites_visible_to(actor=actor).filter(pk=site_id).first()
    if site is None:
        raise NotFound("No such site.")
    return site


def organisations_visible_to(*, actor: Actor) -> QuerySet[Organisation]:
    qs = Organisation.objects.all()
    if actor.is_operator:
        return qs
    return qs.filter(id__in=actor.organisation_ids)


def organisation_get(*, actor: Actor, organisation_id: int) -> Organisation:
    organisation = organisations_visible_to(actor=actor).filter(pk=organisation_id).first()
    if organisation is None:
        raise NotFound("No such organisation.")
    return organisation


def api_keys_visible_to(*, actor: Actor) -> QuerySet[ApiKey]:
    admin_of = [org_id for org_id in actor.organisation_ids if actor.is_admin(org_id)]
    return ApiKey.objects.filter(organisation_id__in=admin_of).select_related("organisation")
