"""`stats/territories/`: the territories in the caller's scope with their figures, as GeoJSON (for a
choropleth), JSON or a CSV table without geometry."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import JSONRenderer

from core.tables import columns_of
from impact import selectors

from ...actors import actor_of
from ...conditional import NOT_MODIFIED, conditional
from ...exports import (
    CSV_MEDIA_TYPE,
    Table,
    TableRenderer,
    columns_sentence,
    table_requested,
    table_response,
)
from ...fields import FeatureCollectionTypeField, FeatureTypeField, MultiPolygonGeometryField
from ...inputs import validated_query
from ...renderers import GeoJSONRenderer
from .common import (
    FORMAT_PARAMETER,
    OUTCOME_COLUMNS,
    PERIOD_LIMIT,
    STATS_ERRORS,
    StatsHeaderOut,
    StatsOutcomesOut,
    StatsQueryIn,
    _filename,
    _number,
    stats_params,
)

TERRITORY_COLUMNS = columns_of(
    ("id", "Identifiant", "Id"),
    ("kind", "Type", "Kind"),
    ("code", "Code", "Code"),
    ("name", "Nom", "Name"),
    ("population", "Population", "Population"),
    ("handovers", "Remises (nettes des annulations)", "Handovers (net of reversals)"),
    ("mass_kg", "Masse (kg)", "Mass (kg)"),
    ("tonnes", "Tonnes détournées", "Tonnes diverted"),
    ("co2e_avoided_kg", "CO2e évité (kg)", "CO2e avoided (kg)"),
    ("kg_per_inhabitant", "Kg par habitant", "Kg per inhabitant"),
    *OUTCOME_COLUMNS,
)


class StatsTerritoryPropertiesOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    code = serializers.CharField()
    name = serializers.CharField()
    population = serializers.IntegerField(allow_null=True)
    handovers = serializers.IntegerField()
    mass_kg = _number(3)
    tonnes = _number(6)
    co2e_avoided_kg = _number(3)
    kg_per_inhabitant = _number(3, allow_null=True)
    outcomes = StatsOutcomesOut(help_text="The social indicators of the territory's handovers.")


class StatsTerritoryFeatureOut(serializers.Serializer):
    type = FeatureTypeField()
    id = serializers.IntegerField()
    geometry = MultiPolygonGeometryField()
    properties = StatsTerritoryPropertiesOut()


class StatsTerritoryCollectionOut(StatsHeaderOut):
    type = FeatureCollectionTypeField()
    features = StatsTerritoryFeatureOut(many=True)


class StatsTerritoriesView(GenericAPIView):
    renderer_classes = [GeoJSONRenderer, JSONRenderer, TableRenderer]
    throttle_scope = "stats"  # a budget of its own per caller (api.throttling)

    @extend_schema(
        operation_id="stats_territories",
        extensions=PERIOD_LIMIT,
        summary="Territories with their figures (GeoJSON, for a choropleth)",
        description=(
            "A GeoJSON FeatureCollection (RFC 7946) of the territories in your scope — for an organisation, "
            "those where it took part in handovers — with their figures in `properties`, the social "
            "indicators (`outcomes`) among them. CSV without geometry. "
            + STATS_ERRORS
            + columns_sentence(TERRITORY_COLUMNS)
        ),
        parameters=[StatsQueryIn, FORMAT_PARAMETER],
        responses={
            (200, GeoJSONRenderer.media_type): StatsTerritoryCollectionOut,
            (200, "application/json"): StatsTerritoryCollectionOut,
            (200, CSV_MEDIA_TYPE): table_response("one row per territory", TERRITORY_COLUMNS),
            **NOT_MODIFIED,
        },
    )
    def get(self, request):
        params = stats_params(validated_query(StatsQueryIn, request))
        csv_wanted = table_requested(request)
        last_modified = selectors.stats_last_modified()  # before the figures: never later
        result = selectors.stats_territories(
            actor=actor_of(request), params=params, with_geometry=not csv_wanted
        )
        if csv_wanted:
            rows = StatsTerritoryPropertiesOut(result["territories"], many=True).data
            table = Table(TERRITORY_COLUMNS, rows, _filename("territories", params))
            return conditional(request, body=table, last_modified=last_modified)
        body = {
            **StatsHeaderOut(result).data,
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "id": item["id"],
                    "geometry": item["geometry"],
                    "properties": StatsTerritoryPropertiesOut(item).data,
                }
                for item in result["territories"]
            ],
        }
        return conditional(request, body=body, last_modified=last_modified)
