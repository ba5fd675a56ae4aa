"""One organisation's impact (`organisation_impact`): what it gave and received in a period, read from
the ledger (the rollups do not know organisations), for its members and the operator."""

from __future__ import annotations

from dataclasses import replace

from django.utils.translation import gettext as _

from core.errors import NotFound
from organisations.actors import Actor
from organisations.models import Organisation

from ..query import StatsParams, StatsScope, stats_query_resolve
from ..sql import Sql, facts, fetch
from .common import _header, _kg


def organisation_impact(*, actor: Actor, organisation_id: int, params: StatsParams) -> dict:
    """What an organisation gave and received in the period (kg, CO2e, handovers net of reversals).
    Its members and the operator only; anyone else reads it as absent."""
    actor.require_member(organisation_id)
    organisation = Organisation.objects.filter(pk=organisation_id).first()
    if organisation is None:
        raise NotFound(_("No such organisation."))
    query = stats_query_resolve(actor=actor, params=params, scope=StatsScope(everything=True))
    query = replace(query, organisation_id=organisation_id)
    rows = fetch(
        Sql(
            "SELECT f.donor_id = %s, SUM(f.handovers), SUM(f.mass_g), SUM(f.co2e_g) FROM (", [organisation_id]
        )
        + facts(query, with_parties=True)
        + Sql(") f GROUP BY 1")
    )
    sides = {given: (int(h), int(m), int(c)) for given, h, m, c in rows}

    def side(values: tuple[int, ...]) -> dict:
        return {"handovers": values[0], "mass_kg": _kg(values[1]), "co2e_avoided_kg": _kg(values[2])}

    given, received = sides.get(True, (0, 0, 0)), sides.get(False, (0, 0, 0))
    header = _header(query)
    header.pop("computed_from")
    return {
        **header,
        "organisation": {"id": organisation.pk, "name": organisation.name, "kind": organisation.kind},
        "given": side(given),
        "received": side(received),
        "total": side(tuple(a + b for a, b in zip(given, received, strict=True))),
    }
