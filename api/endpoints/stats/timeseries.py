"""`stats/timeseries/`: tonnes, CO2e and handovers per calendar bucket (and group), zero-filled."""

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
from ...inputs import validated_query
from .common import (
    FORMAT_PARAMETER,
    OUTCOME_COLUMNS,
    PERIOD_LIMIT,
    STATS_ERRORS,
    StatsHeaderOut,
    StatsLoansOut,
    StatsOutcomesOut,
    StatsQueryIn,
    _filename,
    _number,
    stats_params,
)


class StatsGroupOut(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field named like Field.label


class StatsPointOutliersOut(serializers.Serializer):
    handovers = serializers.IntegerField(help_text="Outlier rows net of reversals.")
    tonnes = _number(6)


class StatsPointOut(serializers.Serializer):
    bucket = serializers.DateField(help_text="First day of the bucket, in `tz`.")
    group = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field named like Field.label
    handovers = serializers.IntegerField()
    tonnes = _number(6)
    co2e_kg = _number(3)
    outliers = StatsPointOutliersOut()
    loans = StatsLoansOut(help_text="The loans of the bucket (made, returned, item-days within it).")
    outcomes = StatsOutcomesOut(help_text="The social indicators of the handovers collected in the bucket.")


class StatsTimeseriesOut(StatsHeaderOut):
    interval = serializers.ChoiceField(choices=selectors.INTERVALS)
    group_by = serializers.ChoiceField(choices=selectors.GROUP_BYS, allow_null=True)
    buckets = serializers.ListField(child=serializers.DateField())
    groups = StatsGroupOut(many=True)
    points = StatsPointOut(many=True)


class StatsTimeseriesIn(StatsQueryIn):
    interval = serializers.ChoiceField(
        choices=selectors.INTERVALS, help_text="Calendar buckets; weeks start on Monday."
    )
    group_by = serializers.ChoiceField(choices=selectors.GROUP_BYS, required=False)


TIMESERIES_COLUMNS = columns_of(
    ("bucket", "Période (premier jour)", "Bucket (first day)"),
    ("group", "Groupe", "Group"),
    ("label", "Libellé", "Label"),
    ("handovers", "Remises (nettes des annulations)", "Handovers (net of reversals)"),
    ("tonnes", "Tonnes détournées", "Tonnes diverted"),
    ("co2e_kg", "CO2e évité (kg)", "CO2e avoided (kg)"),
    ("outlier_handovers", "Remises aberrantes", "Outlier handovers", "outliers.handovers"),
    ("outlier_tonnes", "Tonnes des remises aberrantes", "Tonnes of outlier handovers", "outliers.tonnes"),
    ("loans_made", "Prêts consentis", "Loans made", "loans.made"),
    ("items_lent", "Quantité prêtée", "Items lent", "loans.items_lent"),
    ("item_days_lent", "Jours-objets prêtés", "Item-days lent", "loans.item_days_lent"),
    ("loans_returned", "Prêts rendus", "Loans returned", "loans.returned"),
    ("loans_returned_on_time", "Prêts rendus à temps", "Loans returned on time", "loans.returned_on_time"),
    *OUTCOME_COLUMNS,
)


class StatsTimeseriesView(GenericAPIView):
    renderer_classes = [JSONRenderer, TableRenderer]
    throttle_scope = "stats"  # a budget of its own per caller (api.throttling)

    @extend_schema(
        operation_id="stats_timeseries",
        extensions=PERIOD_LIMIT,
        summary="Tonnes, CO2e and handovers per calendar bucket",
        description=(
            "Calendar-aligned buckets (day, week from Monday, month, year) in the caller's time zone, "
            "every bucket of the period and every group present, zero-filled. Group by top-level category "
            "(or the children of `category`), territory, donor kind or recipient kind. Loans are not in the "
            "tonnes, CO2e or handovers; each point has its `outliers` (net count, tonnes) and its `loans` "
            "(made, items lent, returned and returned on time in the bucket; item-days lent within it) and "
            "its `outcomes` (the handovers of every mode collected in the bucket, how many have an outcome "
            "report, the people reached, of whom young people and seniors, volunteer hours). "
            + STATS_ERRORS
            + columns_sentence(TIMESERIES_COLUMNS)
        ),
        parameters=[StatsTimeseriesIn, FORMAT_PARAMETER],
        responses={
            (200, "application/json"): StatsTimeseriesOut,
            (200, CSV_MEDIA_TYPE): table_response("one row per bucket and group", TIMESERIES_COLUMNS),
            **NOT_MODIFIED,
        },
    )
    def get(self, request):
        query = validated_query(StatsTimeseriesIn, request)
        params = stats_params(query)
        # Before the figures (never later than them); with the claims: a return moves the loan figures.
        last_modified = selectors.stats_last_modified(loans=True)
        series = selectors.stats_timeseries(
            actor=actor_of(request), params=params, interval=query["interval"], group_by=query.get("group_by")
        )
        data = StatsTimeseriesOut(series).data
        if table_requested(request):
            table = Table(TIMESERIES_COLUMNS, data["points"], _filename("timeseries", params))
            return conditional(request, body=table, last_modified=last_modified)
        return conditional(request, body=data, last_modified=last_modified)
