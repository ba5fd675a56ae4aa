"""An organisation's own impact: `GET organisations/{id}/impact/` — kg given and received, CO2e avoided,
handovers (net of reversals) over a period. Its members and the operator only; anyone else gets 404."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import JSONRenderer

from impact.selectors import organisation_impact, stats_last_modified

from ..actors import actor_of
from ..inputs import validated_query
from .stats import (
    CSV_MEDIA_TYPE,
    FORMAT_PARAMETER,
    NOT_MODIFIED,
    PERIOD_LIMIT,
    CsvTable,
    StatsCategoryRefOut,
    StatsCSVRenderer,
    StatsQueryIn,
    StatsTerritoryRefOut,
    _csv_requested,
    _number,
    conditional,
    stats_params,
)


class OrganisationImpactIn(StatsQueryIn):
    def get_fields(self):
        fields = super().get_fields()
        for name in ("donor_kind", "recipient_kind"):
            fields.pop(name)
        return fields


class ImpactSideOut(serializers.Serializer):
    handovers = serializers.IntegerField(help_text="net of reversals")
    mass_kg = _number(3)
    co2e_avoided_kg = _number(3)


class ImpactOrganisationRefOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()


class OrganisationImpactOut(serializers.Serializer):
    tz = serializers.CharField()
    territory = StatsTerritoryRefOut(allow_null=True)
    category = StatsCategoryRefOut(allow_null=True)
    factor_version = serializers.CharField(allow_null=True)
    organisation = ImpactOrganisationRefOut()
    given = ImpactSideOut(help_text="as donor")
    received = ImpactSideOut(help_text="as recipient")
    total = ImpactSideOut()

    def get_fields(self):
        return {"from": serializers.DateField(), "to": serializers.DateField(), **super().get_fields()}


IMPACT_COLUMNS = [
    ("side", "sens", "side"),
    ("handovers", "remises", "handovers"),
    ("mass_kg", "masse_kg", "mass_kg"),
    ("co2e_avoided_kg", "co2e_evite_kg", "co2e_avoided_kg"),
]


class OrganisationImpactView(GenericAPIView):
    renderer_classes = [JSONRenderer, StatsCSVRenderer]
    throttle_scope = "stats"  # a budget of its own per caller (api.throttling)

    @extend_schema(
        operation_id="organisations_impact",
        extensions=PERIOD_LIMIT,
        summary="An organisation's impact: kg given and received, CO2e avoided, handovers",
        description="For the organisation's members and the operator; anyone else gets 404.",
        parameters=[OrganisationImpactIn, FORMAT_PARAMETER],
        responses={
            (200, "application/json"): OrganisationImpactOut,
            (200, CSV_MEDIA_TYPE): OpenApiResponse(
                OpenApiTypes.STR, description="given, received, total rows"
            ),
            **NOT_MODIFIED,
        },
    )
    def get(self, request, organisation_id: int):
        params = stats_params(validated_query(OrganisationImpactIn, request))
        impact = organisation_impact(actor=actor_of(request), organisation_id=organisation_id, params=params)
        data = OrganisationImpactOut(impact).data
        if _csv_requested(request):
            rows = [{"side": side, **data[side]} for side in ("given", "received", "total")]
            body = CsvTable(
                IMPACT_COLUMNS,
                rows,
                f"boucle-impact-{organisation_id}-{params.date_from}_{params.date_to}.csv",
            )
        else:
            body = data
        return conditional(request, body=body, last_modified=stats_last_modified())


urlpatterns = [
    path(
        "organisations/<int:organisation_id>/impact/",
        OrganisationImpactView.as_view(),
        name="organisation-impact",
    ),
]
