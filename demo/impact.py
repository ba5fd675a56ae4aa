"""Demo: the public authorities see their territories — the city of Roubaix its commune (59512), the
Métropole Européenne de Lille its 95 communes. Safe to run again; needs the demo organisations
(demo/scenario.py) and the MEL communes (territories)."""

from __future__ import annotations

from impact.services import authority_territories_link
from organisations.actors import Actor
from organisations.models import Organisation, OrganisationKind
from territories.models import Territory, TerritoryKind

ROUBAIX_NAME, ROUBAIX_CODE = "Ville de Roubaix", "59512"
MEL_NAME = "Métropole Européenne de Lille"


class ImpactDemoError(RuntimeError):
    pass


def _authority(name: str) -> Organisation:
    found = (
        Organisation.objects.filter(kind=OrganisationKind.PUBLIC_AUTHORITY, name=name).order_by("id").first()
    )
    if found is None:
        raise ImpactDemoError(f"The demo organisation {name!r} is missing: seed the scenario first.")
    return found


def seed(*, stdout=None) -> dict[str, int]:
    """Link the demo authorities to their territories; returns authority name → territories linked."""
    communes = Territory.objects.filter(kind=TerritoryKind.COMMUNE)
    roubaix = list(communes.filter(code=ROUBAIX_CODE).values_list("pk", flat=True))
    every_commune = list(communes.values_list("pk", flat=True))
    if not roubaix or not every_commune:
        raise ImpactDemoError("The MEL communes are missing: load the territories first.")
    system = Actor.for_system()
    linked = {}
    for name, territory_ids in ((ROUBAIX_NAME, roubaix), (MEL_NAME, every_commune)):
        authority = _authority(name)
        authority_territories_link(actor=system, organisation_id=authority.pk, territory_ids=territory_ids)
        linked[name] = authority.authority_territories.count()
        if stdout is not None:
            stdout.write(f"  {name}: sees {linked[name]} territories")
    return linked
