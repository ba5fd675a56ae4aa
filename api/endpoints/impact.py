"""An organisation's own impact: `GET organisations/{id}/impact/` — kg given and received, CO2e avoided,
handovers (net of reversals) over a period. Its members and the operator only; anyone else gets 404."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.serializer_helpers import ReturnDict

from core.tables import columns_of
from impact.selectors import organisation_impact, stats_last_modified

from ..actors import actor_of
from ..conditional import NOT_MODIFIED, conditional
from ..exports import CSV_MEDIA_TYPE, Table, TableRenderer, period_filename, table_requested, table_response
from ..inputs import validated_query
from .stats import (
    FORMAT_PARAMETER,
    PERIOD_LIMIT,
    StatsCategoryRefOut,
    StatsQueryIn,
    StatsTerritoryRefOut,
    _number,
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


IMPACT_COLUMNS = columns_of(
    ("side", "Sens (given : donné, received : reçu, total)", "Side (given, received, total)"),
    ("handovers", "Remises", "Handovers"),
    ("mass_kg", "Masse (kg)", "Mass (kg)"),
    ("co2e_avoided_kg", "CO2e évité (kg)", "CO2e avoided (kg)"),
)


class OrganisationImpactView(GenericAPIView):
    renderer_classes = [JSONRenderer, TableRenderer]
    throttle_scope = "stats"  # a budget of its own per caller (api.throttling)

    @extend_schema(
        operation_id="organisations_impact",
        extensions=PERIOD_LIMIT,
        summary="An organisation's impact: kg given and received, CO2e avoided, handovers",
        description="For the organisation's members and the operator; anyone else gets 404.",
        parameters=[OrganisationImpactIn, FORMAT_PARAMETER],
        responses={
            (200, "application/json"): OrganisationImpactOut,
            (200, CSV_MEDIA_TYPE): table_response("given, received, total rows", IMPACT_COLUMNS),
            **NOT_MODIFIED,
        },
    )
    def get(self, request, organisation_id: int):
        params = stats_params(validated_query(OrganisationImpactIn, request))
        last_modified = stats_last_modified()  # before the figures: never later
        impact = organisation_impact(actor=actor_of(request), organisation_id=organisation_id, params=params)
        data = OrganisationImpactOut(impact).data
        body: Table | ReturnDict
        if table_requested(request):
            rows = [{"side": side, **data[side]} for side in ("given", "received", "total")]
            body = Table(IMPACT_COLUMNS, rows, period_filename("impact", params, organisation_id))
        else:
            body = data
        return conditional(request, body=body, last_modified=last_modified)


urlpatterns = [
    path(
        "organisations/<int:organisation_id>/impact/",
        OrganisationImpactView.as_view(),
        name="organisation-impact",
    ),
]
