"""State changes of sites: an organisation's places, each attached to the territory its point lies in."""

from __future__ import annotations

from django.contrib.gis.geos import Point
from django.db import transaction

from territories.rules import site_territory

from ..actors import Actor
from ..models import Site
from ..signals import site_moved

SITE_FIELDS = ("name", "address", "opening_notes")


def _locate(site: Site) -> None:
    """Attach the site to its territory; a point outside every territory is refused (territories.rules)."""
    site.territory = site_territory(point=site.location)


@transaction.atomic
def site_create(
    *,
    actor: Actor,
    organisation_id: int | None = None,
    name: str,
    location: Point,
    address: str = "",
    opening_notes: str = "",
) -> Site:
    actor.require_write()
    organisation = actor.acting_organisation(organisation_id)
    site = Site(
        organisation=organisation, name=name, location=location, address=address, opening_notes=opening_notes
    )
    _locate(site)
    site.save()
    return site


@transaction.atomic
def site_update(*, actor: Actor, site: Site, location: Point | None = None, **changes: str) -> Site:
    actor.require_write()
    actor.require_member(site.organisation_id)
    site = Site.objects.select_for_update().get(pk=site.pk)
    for name, value in changes.items():
        if name not in SITE_FIELDS:
            raise TypeError(f"site_update() got an unexpected field {name!r}")
        setattr(site, name, value)
    moved = False
    if location is not None and not location.equals_exact(site.location, tolerance=0):
        site.location = location
        _locate(site)
        moved = True
    site.save()
    if moved:
        # Offers and needs carry a copy of their site's point (search and matching read one indexed
        # table each): their layers keep them in step on this signal, which this layer sends without
        # knowing them.
        site_moved.send(sender=Site, site=site)
    return site


@transaction.atomic
def site_delete(*, actor: Actor, site: Site) -> None:
    """Sites that offers point to are retired (kept for the ledger), others are deleted."""
    actor.require_write()
    actor.require_member(site.organisation_id)
    site = Site.objects.select_for_update().get(pk=site.pk)
    if _site_has_history(site):
        site.is_active = False
        site.save(update_fields=["is_active", "updated_at"])
    else:
        site.delete()


def _site_has_history(site: Site) -> bool:
    # Any related object pointing at the site (offers, needs…) keeps it for the record.
    for relation in site._meta.related_objects:
        if (
            relation.one_to_many
            and relation.related_model is not None
            and relation.related_model._default_manager.filter(**{relation.field.name: site}).exists()
        ):
            return True
    return False
