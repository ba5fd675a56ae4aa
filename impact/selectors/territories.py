"""The figures per territory for a choropleth (`stats_territories`): each territory in the caller's
scope with its handovers, mass, CO2e, kg per inhabitant and social indicators (impact.outcome_figures),
and its outline as GeoJSON (RFC 7946)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal

from django.contrib.gis.db.models import MultiPolygonField
from django.contrib.gis.db.models.functions import AsGeoJSON
from django.db.models import Func

from organisations.actors import Actor
from territories.models import Territory

from ..outcome_figures import empty_outcomes, outcome_figures
from ..query import StatsParams, StatsQuery, stats_query_resolve
from ..sql import Sql, facts, fetch
from ..versions import LEDGER_SOURCES, figures_cached
from .common import _header, _kg, _territory_ref, _tonnes


class _ForcePolygonCCW(Func):
    function = "ST_ForcePolygonCCW"  # RFC 7946 §3.1.6: exterior rings counterclockwise
    output_field = MultiPolygonField(srid=4326)


def territories_for(query: StatsQuery, *, with_geometry: bool = True) -> list[dict]:
    rows = fetch(
        Sql("SELECT f.territory_id, SUM(f.handovers), SUM(f.mass_g), SUM(f.co2e_g) FROM (")
        + facts(query)
        + Sql(") f WHERE f.territory_id IS NOT NULL GROUP BY 1")
    )
    sums = {territory_id: (int(h), int(m), int(c)) for territory_id, h, m, c in rows}
    period = [(query.date_from, query.start, query.end)]
    outcomes = outcome_figures(query, period, interval=None, group_column="h.territory_id")
    scope = query.scope
    territories = Territory.objects.defer("geometry", "properties").order_by("code", "id")
    if query.territory is not None:
        territories = territories.filter(pk=query.territory.pk)
    elif not scope.everything:
        territories = territories.filter(pk__in=set(scope.territory_ids) | set(sums))
    listed: Iterable[tuple[Territory, str | None]]
    if with_geometry:
        outlined = territories.annotate(geojson=AsGeoJSON(_ForcePolygonCCW("geometry"), precision=6))
        listed = ((territory, territory.geojson) for territory in outlined)
    else:
        listed = ((territory, None) for territory in territories)
    out = []
    for territory, geojson in listed:
        handovers, mass_g, co2e_g = sums.get(territory.pk, (0, 0, 0))
        item = {
            **_territory_ref(territory),
            "population": territory.population,
            "handovers": handovers,
            "mass_kg": _kg(mass_g),
            "tonnes": _tonnes(mass_g),
            "co2e_avoided_kg": _kg(co2e_g),
            "kg_per_inhabitant": (_kg(mass_g) / territory.population).quantize(Decimal("0.001"))
            if territory.population
            else None,
            "outcomes": outcomes.get((None, territory.pk)) or empty_outcomes(),
        }
        if geojson is not None:
            item["geometry"] = json.loads(geojson)
        out.append(item)
    return out


def stats_territories(*, actor: Actor, params: StatsParams, with_geometry: bool = True) -> dict:
    """The territories in the caller's scope (an organisation: those where it took part in handovers)
    with their figures for the period: ready for a choropleth."""
    return figures_cached(
        operation="territories",
        sources=LEDGER_SOURCES,
        resolve=lambda: stats_query_resolve(actor=actor, params=params),
        compute=lambda query: {
            **_header(query),
            "territories": territories_for(query, with_geometry=with_geometry),
        },
        arguments={"with_geometry": with_geometry},
    )
