"""`stats/ledger/`: the anonymised ledger (public authorities and the operator), cursor-paginated JSON or
every row of the period streamed as CSV."""

from __future__ import annotations

from django.utils import translation
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.renderers import JSONRenderer

from claims.models import Handover
from core.tables import columns_of
from impact import selectors
from impact.query import stats_scope_for
from impact.versions import LEDGER_SOURCES, versions_read

from ...actors import actor_of
from ...conditional import NOT_MODIFIED, conditional, conditional_stream, etag_of
from ...exports import (
    CSV_MEDIA_TYPE,
    TableRenderer,
    columns_sentence,
    labels_requested,
    streamed,
    table_requested,
    table_response,
)
from ...inputs import validated_query
from ...pagination import CursorPage
from .common import (
    FORMAT_PARAMETER,
    PERIOD_LIMIT,
    STATS_ERRORS,
    StatsQueryIn,
    _filename,
    _number,
    stats_params,
)


class LedgerRowOut(serializers.Serializer):
    id = serializers.IntegerField()
    collected_at = serializers.DateTimeField()
    category = serializers.CharField(source="category__key")
    territory = serializers.CharField(source="territory__code", allow_null=True, help_text="territory code")
    donor_kind = serializers.CharField()
    recipient_kind = serializers.CharField()
    quantity = _number(3)
    unit = serializers.CharField()
    mass_kg = _number(3)
    mass_method = serializers.CharField()
    factor_version = serializers.CharField()
    factor_basis = serializers.CharField()
    factor_kgco2e = _number(4)
    factor_status = serializers.CharField()
    co2e_avoided_kg = _number(3)
    reverses = serializers.IntegerField(
        source="reverses_id", allow_null=True, help_text="the row this one reverses"
    )
    corrects = serializers.IntegerField(
        source="corrects_id",
        allow_null=True,
        help_text="the reversed row this one corrects (a corrected handover of the same claim)",
    )
    mode = serializers.CharField(
        help_text="The offer's mode: donation, sale or loan. Loans are not counted as diverted."
    )
    outlier = serializers.BooleanField(
        help_text="A mass outside the plausible bounds, kept because the recording party confirmed it."
    )
    mass_confirmed = serializers.BooleanField(help_text="The recording party confirmed the mass explicitly.")
    expected_mass_kg = _number(
        3, allow_null=True, help_text="What was declared or estimated for the quantity handed over."
    )
    factor_items = _number(
        3, allow_null=True, help_text="Per-item factor: the number of items it was applied to; else null."
    )


LEDGER_COLUMNS = columns_of(
    ("id", "Identifiant", "Id"),
    ("collected_at", "Collectée le", "Collected at"),
    ("category", "Catégorie", "Category"),
    ("territory", "Territoire", "Territory"),
    ("donor_kind", "Type de donateur", "Donor kind"),
    ("recipient_kind", "Type de bénéficiaire", "Recipient kind"),
    ("quantity", "Quantité", "Quantity"),
    ("unit", "Unité", "Unit"),
    ("mass_kg", "Masse (kg)", "Mass (kg)"),
    ("mass_method", "Méthode de la masse", "Mass method"),
    ("factor_version", "Version du facteur", "Factor version"),
    ("factor_basis", "Base du facteur", "Factor basis"),
    ("factor_kgco2e", "Facteur (kg CO2e)", "Factor (kg CO2e)"),
    ("factor_status", "Statut du facteur", "Factor status"),
    ("co2e_avoided_kg", "CO2e évité (kg)", "CO2e avoided (kg)"),
    ("reverses", "Annule la ligne", "Reverses the row"),
    ("corrects", "Corrige la ligne", "Corrects the row"),
    ("mode", "Mode", "Mode"),
    ("outlier", "Aberrante", "Outlier"),
    ("mass_confirmed", "Masse confirmée", "Mass confirmed"),
    ("expected_mass_kg", "Masse attendue (kg)", "Expected mass (kg)"),
    ("factor_items", "Objets du facteur", "Factor items"),
)


class StatsLedgerView(ListAPIView):
    throttle_scope = "stats"  # a budget of its own per caller (api.throttling)
    queryset = Handover.objects.none()  # for the schema; rows come from impact.selectors.stats_ledger
    serializer_class = LedgerRowOut
    pagination_class = CursorPage
    renderer_classes = [JSONRenderer, TableRenderer]

    @extend_schema(
        operation_id="stats_ledger",
        extensions=PERIOD_LIMIT,
        summary="The anonymised ledger (public authorities and the operator)",
        description=(
            "Ledger rows in your scope with the kinds of the parties instead of who they are: no "
            "organisation, person, contact or note. Cursor-paginated JSON; `?format=csv` streams every row "
            "of the period at once. Other organisations get 403. Every row is listed, loans included: `mode` "
            "says which rows count as diverted (all but loans), `outlier` which masses were confirmed "
            "outside the plausible bounds (`outlier=true` lists only those), `corrects` which reversed "
            "row a corrected handover replaces. " + STATS_ERRORS + columns_sentence(LEDGER_COLUMNS)
        ),
        parameters=[StatsQueryIn, FORMAT_PARAMETER],
        responses={
            (200, "application/json"): LedgerRowOut(many=True),
            (200, CSV_MEDIA_TYPE): table_response("every row of the period", LEDGER_COLUMNS),
            **NOT_MODIFIED,
        },
    )
    def get(self, request):
        params = stats_params(validated_query(StatsQueryIn, request))
        last_modified = selectors.stats_last_modified()  # before the rows: never later
        versions = versions_read(LEDGER_SOURCES)  # likewise
        rows = selectors.stats_ledger(actor=actor_of(request), params=params)
        if not table_requested(request):
            page = self.paginate_queryset(rows)
            data = self.get_paginated_response(LedgerRowOut(page, many=True).data).data
            return conditional(request, body=data, last_modified=last_modified)
        self.paginator.check_query(rows, request)
        labels = labels_requested(request)
        # Streamed: the ETag is the state of the ledger and the reference data (their data versions,
        # impact.versions; the last id alone misses a row committed after a later one) with the request
        # and scope.
        latest = Handover.objects.order_by("-id").values_list("id", flat=True).first()
        scope = stats_scope_for(actor=actor_of(request))
        etag = etag_of(
            latest,
            versions,
            sorted(request.query_params.items()),
            sorted(scope.territory_ids),
            sorted(scope.organisation_ids),
            scope.everything,
            translation.get_language(),
        )
        return conditional_stream(
            request,
            etag=etag,
            last_modified=last_modified,
            stream=lambda: streamed(
                LEDGER_COLUMNS,
                (LedgerRowOut(row).data for row in rows.order_by("id").iterator(chunk_size=2000)),
                filename=_filename("ledger", params),
                labels=labels,
            ),
        )
