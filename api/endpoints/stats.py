"""Statistics for the city: `stats/summary/`, `stats/timeseries/`, `stats/territories/` (GeoJSON),
`stats/ledger/` (anonymised) and `stats/reports/` (monthly CSV and printable HTML).

Every table also comes as CSV (`?format=csv` or `Accept: text/csv`; UTF-8, headers in French or English
by `Accept-Language`, French by default). Answers carry an ETag and Last-Modified: dashboards poll with
If-None-Match / If-Modified-Since and get 304 while nothing changed. Who sees what is decided once, in
impact.query.stats_scope_for."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.http import FileResponse, HttpResponseNotModified, StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone, translation
from django.utils.cache import get_conditional_response, patch_vary_headers
from django.utils.http import http_date
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from claims.models import Handover
from core.i18n import localized
from impact import selectors
from impact.query import DEFAULT_TIME_ZONE, MAX_PERIOD_DAYS, StatsParams, stats_scope_for, time_zone_get
from organisations.models import OrganisationKind

from ..actors import actor_of
from ..fields import (
    BoundedDateField,
    FeatureCollectionTypeField,
    FeatureTypeField,
    MultiPolygonGeometryField,
    TimeZoneField,
)
from ..inputs import validated_query
from ..pagination import CursorPage
from ..renderers import GeoJSONRenderer

CSV_MEDIA_TYPE = "text/csv"


# ---------------------------------------------------------------------------------------------------
# CSV tables, conditional answers
# ---------------------------------------------------------------------------------------------------


@dataclass
class CsvTable:
    """Rows to write as CSV; `columns` are (key, French header, English header)."""

    columns: list[tuple[str, str, str]]
    rows: list[dict]
    filename: str

    def headers(self) -> list[str]:
        return [localized(fr, en) for _key, fr, en in self.columns]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "; ".join(_cell(v) for v in value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class StatsCSVRenderer(BaseRenderer):
    media_type = CSV_MEDIA_TYPE
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        if isinstance(data, CsvTable):
            writer.writerow(data.headers())
            for row in data.rows:
                writer.writerow([_cell(row.get(key)) for key, _fr, _en in data.columns])
        return out.getvalue().encode("utf-8")


def _etag_of(*parts) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(json.dumps(part, default=str, sort_keys=True).encode())
        digest.update(b"\0")
    return f'"{digest.hexdigest()[:32]}"'


def _csv_requested(request) -> bool:
    return getattr(request.accepted_renderer, "format", None) == "csv"


def conditional(request, *, body, last_modified: datetime | None, filename: str | None = None):
    """The answer for `body` (a JSON-able value or a CsvTable) with its validators, or 304 when the
    client's copy is current. The ETag hashes the body, its media type and the language."""
    media_type = request.accepted_renderer.media_type
    payload = (body.columns, body.rows) if isinstance(body, CsvTable) else body
    etag = _etag_of(payload, media_type, translation.get_language())
    timestamp = int(last_modified.timestamp()) if last_modified else None
    answer = get_conditional_response(request._request, etag=etag, last_modified=timestamp)
    if answer is not None and answer.status_code == 304:
        response = HttpResponseNotModified()
        response.headers["ETag"] = etag
    else:
        response = Response(body)
        response["ETag"] = etag
        if isinstance(body, CsvTable):
            response["Content-Disposition"] = f'attachment; filename="{body.filename}"'
    if timestamp is not None:
        response["Last-Modified"] = http_date(timestamp)
    response["Cache-Control"] = "private, no-cache"
    patch_vary_headers(response, ["Accept", "Accept-Language", "Authorization"])
    return response


# ---------------------------------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------------------------------

DEFAULT_PERIOD_DAYS = 365
# The period rule of impact.query.period_check, for people (the descriptions of `from` and `to`) and for
# programs (an extension of each statistics operation, which the contract fuzzing reads).
PERIOD_LIMIT_TEXT = f"From `from` to `to` is at most {MAX_PERIOD_DAYS} days (five years), `from` first."
PERIOD_LIMIT = {"x-period-max-days": MAX_PERIOD_DAYS}


class StatsQueryIn(serializers.Serializer):
    """`from` and `to` are Python keywords: added in get_fields."""

    tz = TimeZoneField(required=False, default=DEFAULT_TIME_ZONE, help_text="IANA time zone of the dates.")
    territory = serializers.CharField(
        required=False, max_length=32, help_text="A territory code (INSEE 59512) or id; within your scope."
    )
    category = serializers.CharField(
        required=False, max_length=64, help_text="A category key or id; its descendants are included."
    )
    donor_kind = serializers.ChoiceField(choices=OrganisationKind.choices, required=False)
    recipient_kind = serializers.ChoiceField(choices=OrganisationKind.choices, required=False)
    factor_version = serializers.CharField(
        required=False,
        max_length=32,
        help_text="Restate CO2e with this published factor version instead of the figures stamped on "
        "each handover (which never change).",
    )
    outlier = serializers.ChoiceField(
        choices=["true", "false"],
        required=False,
        help_text="`true`: only the ledger rows flagged outlier (a mass outside the plausible bounds, kept "
        "because it was confirmed); `false`: only the others. Figures are then read from the ledger.",
    )

    def get_fields(self):
        return {
            "from": BoundedDateField(
                required=False,
                help_text="First day (inclusive, in `tz`); default: one year before `to`. "
                + PERIOD_LIMIT_TEXT,
            ),
            "to": BoundedDateField(
                required=False,
                help_text="Last day (inclusive, in `tz`); default: today. " + PERIOD_LIMIT_TEXT,
            ),
            **super().get_fields(),
        }


FORMAT_PARAMETER = OpenApiParameter(
    "format", str, enum=["json", "csv"], description="`csv` for a CSV table (or send `Accept: text/csv`)."
)


def stats_params(data: dict) -> StatsParams:
    tz = time_zone_get(data.get("tz") or DEFAULT_TIME_ZONE)
    date_to = data.get("to") or timezone.now().astimezone(tz).date()
    date_from = data.get("from") or date_to - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    return StatsParams(
        date_from=date_from,
        date_to=date_to,
        tz=tz.key,
        territory=data.get("territory"),
        category=data.get("category"),
        donor_kind=data.get("donor_kind"),
        recipient_kind=data.get("recipient_kind"),
        factor_version=data.get("factor_version"),
        outlier={"true": True, "false": False}.get(data.get("outlier")),
    )


def _flat(data: dict, prefix: str = "") -> dict:
    """Nested objects as dotted keys (`loans.made`), for CSV columns."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _filename(kind: str, params: StatsParams) -> str:
    return f"boucle-{kind}-{params.date_from}_{params.date_to}.csv"


# ---------------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------------


def _number(decimals: int, **kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=24, decimal_places=decimals, coerce_to_string=False, **kwargs)


class StatsTerritoryRefOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    code = serializers.CharField()
    name = serializers.CharField()


class StatsCategoryRefOut(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    path = serializers.CharField()
    name = serializers.CharField()


class StatsHeaderOut(serializers.Serializer):
    """What the figures are about."""

    tz = serializers.CharField()
    territory = StatsTerritoryRefOut(allow_null=True)
    category = StatsCategoryRefOut(allow_null=True)
    factor_version = serializers.CharField(
        allow_null=True, help_text="The version CO2e was restated with; null: the stamped figures."
    )
    computed_from = serializers.ChoiceField(
        choices=["rollups", "ledger"],
        help_text="Where the ledger figures were read; both give the same numbers.",
    )

    def get_fields(self):
        return {"from": serializers.DateField(), "to": serializers.DateField(), **super().get_fields()}


class StatsFactorOut(serializers.Serializer):
    factor_version = serializers.CharField()
    basis = serializers.CharField()
    kgco2e = _number(4)
    source = serializers.CharField()
    status = serializers.CharField(
        help_text="sourced, sourced-secondary, indicative (not yet checked), missing"
    )
    categories = serializers.ListField(child=serializers.CharField(), help_text="keys of the categories")


SUMMARY_FIELDS: list[tuple[str, str, str]] = [
    ("handovers", "Remises (nettes des annulations)", "Handovers (net of reversals)"),
    ("tonnes_diverted", "Tonnes détournées des déchets", "Tonnes diverted"),
    ("mass_kg", "Masse (kg)", "Mass (kg)"),
    ("co2e_avoided_kg", "CO2e évité (kg)", "CO2e avoided (kg)"),
    ("donors", "Organisations donatrices", "Donor organisations"),
    ("recipients", "Organisations bénéficiaires", "Recipient organisations"),
    ("mass_weighed_kg", "Masse pesée (kg)", "Mass weighed (kg)"),
    ("mass_declared_kg", "Masse déclarée (kg)", "Mass declared (kg)"),
    ("mass_estimated_kg", "Masse estimée (kg)", "Mass estimated (kg)"),
    ("share_weighed", "Part de la masse pesée", "Share of mass weighed"),
    ("share_declared", "Part de la masse déclarée", "Share of mass declared"),
    ("share_estimated", "Part de la masse estimée", "Share of mass estimated"),
    ("offers_published", "Offres publiées", "Offers published"),
    ("published_mass_kg", "Masse publiée (kg)", "Mass published (kg)"),
    (
        "published_mass_claimed_7d_share",
        "Part de la masse publiée réservée sous 7 jours",
        "Share of published mass claimed within 7 days",
    ),
    (
        "median_hours_to_first_claim",
        "Délai médian avant la première demande (heures)",
        "Median hours to the first claim",
    ),
    ("offers_expired_untaken", "Offres expirées sans preneur", "Offers expired untaken"),
    ("mass_wasted_kg", "Masse non réemployée (kg)", "Mass wasted (kg)"),
    ("offers_expired_mass_unknown", "Offres expirées de masse inconnue", "Expired offers of unknown mass"),
    ("open_needs_without_match", "Besoins ouverts sans proposition", "Open needs without a match"),
    ("outliers.handovers", "Remises aberrantes confirmées", "Confirmed outlier handovers"),
    ("outliers.mass_kg", "Masse des remises aberrantes (kg)", "Mass of outlier handovers (kg)"),
    (
        "outliers.share_of_tonnage",
        "Part des tonnes reposant sur des remises aberrantes",
        "Share of tonnage resting on outliers",
    ),
    ("loans.made", "Prêts consentis", "Loans made"),
    ("loans.items_lent", "Quantité prêtée", "Items lent"),
    ("loans.item_days_lent", "Jours-objets prêtés", "Item-days lent"),
    ("loans.returned", "Prêts rendus", "Loans returned"),
    ("loans.returned_on_time", "Prêts rendus à temps", "Loans returned on time"),
    ("loans.returned_on_time_share", "Part des prêts rendus à temps", "Share of loans returned on time"),
    ("factor_versions", "Versions des facteurs", "Factor versions"),
]


class StatsOutliersOut(serializers.Serializer):
    """Ledger rows flagged `outlier` among the figures: a mass outside the plausible bounds for what was
    declared or estimated, kept because the recording party confirmed it."""

    handovers = serializers.IntegerField(help_text="Outlier rows net of reversals.")
    mass_kg = _number(3)
    tonnes = _number(6)
    share_of_tonnage = _number(
        4, allow_null=True, help_text="Their mass over the tonnage diverted; null when there is none."
    )


class StatsLoansOut(serializers.Serializer):
    """Loans (offers in mode `loan`): equipment lent and returned, never counted as tonnage diverted or
    CO2e avoided. Same scope and filters as the other figures (the territory of the ledger row)."""

    made = serializers.IntegerField(help_text="Loan handovers collected in the period, net of reversals.")
    items_lent = _number(3, help_text="Their quantity, net of reversals.")
    item_days_lent = _number(
        2,
        help_text="Σ quantity × days each loan was out within the period, from collection to return "
        "(still out: to now).",
    )
    returned = serializers.IntegerField(help_text="Loans returned in the period.")
    returned_on_time = serializers.IntegerField(help_text="Of those, returned no later than due.")
    returned_on_time_share = _number(4, allow_null=True, help_text="null when none was returned.")


class StatsSummaryOut(StatsHeaderOut):
    handovers = serializers.IntegerField(help_text="Handovers net of reversals.")
    tonnes_diverted = _number(6)
    mass_kg = _number(3)
    co2e_avoided_kg = _number(3)
    donors = serializers.IntegerField(help_text="Distinct donor organisations (net handovers above zero).")
    recipients = serializers.IntegerField(help_text="Distinct recipient organisations.")
    mass_weighed_kg = _number(3)
    mass_declared_kg = _number(3)
    mass_estimated_kg = _number(3)
    share_weighed = _number(4, allow_null=True)
    share_declared = _number(4, allow_null=True)
    share_estimated = _number(4, allow_null=True)
    offers_published = serializers.IntegerField()
    published_mass_kg = _number(3)
    published_mass_claimed_7d_share = _number(4, allow_null=True)
    median_hours_to_first_claim = _number(2, allow_null=True)
    offers_expired_untaken = serializers.IntegerField()
    mass_wasted_kg = _number(3)
    offers_expired_mass_unknown = serializers.IntegerField()
    open_needs_without_match = serializers.IntegerField()
    outliers = StatsOutliersOut()
    loans = StatsLoansOut()
    factor_versions = serializers.ListField(child=serializers.CharField())
    factors = StatsFactorOut(many=True)


class StatsGroupOut(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()


class StatsPointOutliersOut(serializers.Serializer):
    handovers = serializers.IntegerField(help_text="Outlier rows net of reversals.")
    tonnes = _number(6)


class StatsPointOut(serializers.Serializer):
    bucket = serializers.DateField(help_text="First day of the bucket, in `tz`.")
    group = serializers.CharField()
    label = serializers.CharField()
    handovers = serializers.IntegerField()
    tonnes = _number(6)
    co2e_kg = _number(3)
    outliers = StatsPointOutliersOut()
    loans = StatsLoansOut(help_text="The loans of the bucket (made, returned, item-days within it).")


class StatsTimeseriesOut(StatsHeaderOut):
    interval = serializers.ChoiceField(choices=selectors.INTERVALS)
    group_by = serializers.ChoiceField(choices=selectors.GROUP_BYS, allow_null=True)
    buckets = serializers.ListField(child=serializers.DateField())
    groups = StatsGroupOut(many=True)
    points = StatsPointOut(many=True)


TERRITORY_COLUMNS = [
    ("id", "id", "id"),
    ("kind", "type", "kind"),
    ("code", "code", "code"),
    ("name", "nom", "name"),
    ("population", "population", "population"),
    ("handovers", "remises", "handovers"),
    ("mass_kg", "masse_kg", "mass_kg"),
    ("tonnes", "tonnes", "tonnes"),
    ("co2e_avoided_kg", "co2e_evite_kg", "co2e_avoided_kg"),
    ("kg_per_inhabitant", "kg_par_habitant", "kg_per_inhabitant"),
]


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


class StatsTerritoryFeatureOut(serializers.Serializer):
    type = FeatureTypeField()
    id = serializers.IntegerField()
    geometry = MultiPolygonGeometryField()
    properties = StatsTerritoryPropertiesOut()


class StatsTerritoryCollectionOut(StatsHeaderOut):
    type = FeatureCollectionTypeField()
    features = StatsTerritoryFeatureOut(many=True)


# ---------------------------------------------------------------------------------------------------
# Views
# ---------------------------------------------------------------------------------------------------

STATS_ERRORS = (
    "Bad parameters (unknown interval or grouping, period inverted or over five years) are a 400; a "
    "category or factor version that does not exist is a 404."
)
NOT_MODIFIED = {
    304: OpenApiResponse(description="Not modified: your copy (ETag / Last-Modified) is current.")
}


class StatsSummaryView(GenericAPIView):
    renderer_classes = [JSONRenderer, StatsCSVRenderer]
    throttle_scope = "stats"  # a budget of its own per caller (api.throttling)

    @extend_schema(
        operation_id="stats_summary",
        extensions=PERIOD_LIMIT,
        summary="Headline figures of a period",
        description=(
            "Tonnes diverted, CO2e avoided, handovers (net of reversals), distinct donors and recipients, "
            "mass by method, the factors used, offers published and expired untaken, how fast published "
            "mass is claimed, open needs without a match. Scoped: the operator sees everything, a public "
            "authority its territories, an organisation its own handovers. A territory outside your scope "
            "is a 404. Loans (offers in mode `loan`) are in none of the tonnage, CO2e, handover and party "
            "figures: lent equipment comes back, it is not waste diverted. They have their own indicators in "
            "`loans` (loans made, items lent, item-days lent, returned, returned on time and its share). "
            "`outliers` counts the rows flagged outlier (a confirmed mass outside the plausible bounds), "
            "their mass and their share of the tonnage; `outlier=true|false` restricts every figure to "
            "those rows or to the others. " + STATS_ERRORS
        ),
        parameters=[StatsQueryIn, FORMAT_PARAMETER],
        responses={
            (200, "application/json"): StatsSummaryOut,
            (200, CSV_MEDIA_TYPE): OpenApiResponse(
                OpenApiTypes.STR, description="indicator, label, value rows"
            ),
            **NOT_MODIFIED,
        },
    )
    def get(self, request):
        params = stats_params(validated_query(StatsQueryIn, request))
        data = StatsSummaryOut(selectors.stats_summary(actor=actor_of(request), params=params)).data
        last_modified = selectors.stats_last_modified(market=True)
        if _csv_requested(request):
            flat = _flat(data)
            rows = [
                {"indicator": key, "label": localized(fr, en), "value": flat[key]}
                for key, fr, en in SUMMARY_FIELDS
            ]
            table = CsvTable(
                [
                    ("indicator", "indicateur", "indicator"),
                    ("label", "libellé", "label"),
                    ("value", "valeur", "value"),
                ],
                rows,
                _filename("summary", params),
            )
            return conditional(request, body=table, last_modified=last_modified)
        return conditional(request, body=data, last_modified=last_modified)


class StatsTimeseriesIn(StatsQueryIn):
    interval = serializers.ChoiceField(
        choices=selectors.INTERVALS, help_text="Calendar buckets; weeks start on Monday."
    )
    group_by = serializers.ChoiceField(choices=selectors.GROUP_BYS, required=False)


TIMESERIES_COLUMNS = [
    ("bucket", "période", "bucket"),
    ("group", "groupe", "group"),
    ("label", "libellé", "label"),
    ("handovers", "remises", "handovers"),
    ("tonnes", "tonnes", "tonnes"),
    ("co2e_kg", "co2e_evite_kg", "co2e_kg"),
    ("outliers.handovers", "remises_aberrantes", "outlier_handovers"),
    ("outliers.tonnes", "tonnes_aberrantes", "outlier_tonnes"),
    ("loans.made", "prets", "loans_made"),
    ("loans.items_lent", "quantite_pretee", "items_lent"),
    ("loans.item_days_lent", "jours_objets_pretes", "item_days_lent"),
    ("loans.returned", "prets_rendus", "loans_returned"),
    ("loans.returned_on_time", "prets_rendus_a_temps", "loans_returned_on_time"),
]


class StatsTimeseriesView(GenericAPIView):
    renderer_classes = [JSONRenderer, StatsCSVRenderer]
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
            "(made, items lent, returned and returned on time in the bucket; item-days lent within it). "
            + STATS_ERRORS
        ),
        parameters=[StatsTimeseriesIn, FORMAT_PARAMETER],
        responses={
            (200, "application/json"): StatsTimeseriesOut,
            (200, CSV_MEDIA_TYPE): OpenApiResponse(
                OpenApiTypes.STR, description="one row per bucket and group"
            ),
            **NOT_MODIFIED,
        },
    )
    def get(self, request):
        query = validated_query(StatsTimeseriesIn, request)
        params = stats_params(query)
        series = selectors.stats_timeseries(
            actor=actor_of(request), params=params, interval=query["interval"], group_by=query.get("group_by")
        )
        data = StatsTimeseriesOut(series).data
        last_modified = selectors.stats_last_modified(loans=True)  # a return moves the loan figures
        if _csv_requested(request):
            rows = [_flat(point) for point in data["points"]]
            table = CsvTable(TIMESERIES_COLUMNS, rows, _filename("timeseries", params))
            return conditional(request, body=table, last_modified=last_modified)
        return conditional(request, body=data, last_modified=last_modified)


class StatsTerritoriesView(GenericAPIView):
    renderer_classes = [GeoJSONRenderer, JSONRenderer, StatsCSVRenderer]
    throttle_scope = "stats"  # a budget of its own per caller (api.throttling)

    @extend_schema(
        operation_id="stats_territories",
        extensions=PERIOD_LIMIT,
        summary="Territories with their figures (GeoJSON, for a choropleth)",
        description=(
            "A GeoJSON FeatureCollection (RFC 7946) of the territories in your scope — for an organisation, "
            "those where it took part in handovers — with their figures in `properties`. CSV without "
            "geometry. " + STATS_ERRORS
        ),
        parameters=[StatsQueryIn, FORMAT_PARAMETER],
        responses={
            (200, GeoJSONRenderer.media_type): StatsTerritoryCollectionOut,
            (200, "application/json"): StatsTerritoryCollectionOut,
            (200, CSV_MEDIA_TYPE): OpenApiResponse(OpenApiTypes.STR, description="one row per territory"),
            **NOT_MODIFIED,
        },
    )
    def get(self, request):
        params = stats_params(validated_query(StatsQueryIn, request))
        csv_wanted = _csv_requested(request)
        result = selectors.stats_territories(
            actor=actor_of(request), params=params, with_geometry=not csv_wanted
        )
        last_modified = selectors.stats_last_modified()
        if csv_wanted:
            rows = StatsTerritoryPropertiesOut(result["territories"], many=True).data
            table = CsvTable(TERRITORY_COLUMNS, rows, _filename("territories", params))
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


LEDGER_COLUMNS = [
    ("id", "id", "id"),
    ("collected_at", "collecte", "collected_at"),
    ("category", "catégorie", "category"),
    ("territory", "territoire", "territory"),
    ("donor_kind", "type_donateur", "donor_kind"),
    ("recipient_kind", "type_bénéficiaire", "recipient_kind"),
    ("quantity", "quantité", "quantity"),
    ("unit", "unité", "unit"),
    ("mass_kg", "masse_kg", "mass_kg"),
    ("mass_method", "méthode_masse", "mass_method"),
    ("factor_version", "version_facteur", "factor_version"),
    ("factor_basis", "base_facteur", "factor_basis"),
    ("factor_kgco2e", "facteur_kgco2e", "factor_kgco2e"),
    ("factor_status", "statut_facteur", "factor_status"),
    ("co2e_avoided_kg", "co2e_evite_kg", "co2e_avoided_kg"),
    ("reverses", "annule", "reverses"),
    ("corrects", "corrige", "corrects"),
    ("mode", "mode", "mode"),
    ("outlier", "aberrante", "outlier"),
    ("mass_confirmed", "masse_confirmee", "mass_confirmed"),
    ("expected_mass_kg", "masse_attendue_kg", "expected_mass_kg"),
    ("factor_items", "objets_facteur", "factor_items"),
]


class _Echo:
    def write(self, value: str) -> str:
        return value


class StatsLedgerView(ListAPIView):
    throttle_scope = "stats"  # a budget of its own per caller (api.throttling)
    queryset = Handover.objects.none()  # for the schema; rows come from impact.selectors.stats_ledger
    serializer_class = LedgerRowOut
    pagination_class = CursorPage
    renderer_classes = [JSONRenderer, StatsCSVRenderer]

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
            "row a corrected handover replaces. " + STATS_ERRORS
        ),
        parameters=[StatsQueryIn, FORMAT_PARAMETER],
        responses={
            (200, "application/json"): LedgerRowOut(many=True),
            (200, CSV_MEDIA_TYPE): OpenApiResponse(OpenApiTypes.STR, description="every row of the period"),
            **NOT_MODIFIED,
        },
    )
    def get(self, request):
        params = stats_params(validated_query(StatsQueryIn, request))
        rows = selectors.stats_ledger(actor=actor_of(request), params=params)
        last_modified = selectors.stats_last_modified()
        if not _csv_requested(request):
            page = self.paginate_queryset(rows)
            data = self.get_paginated_response(LedgerRowOut(page, many=True).data).data
            return conditional(request, body=data, last_modified=last_modified)
        self.paginator.check_query(rows, request)
        # Streamed: the ETag is the ledger's state (append-only: its last id) with the request and scope.
        latest = Handover.objects.order_by("-id").values_list("id", flat=True).first()
        scope = stats_scope_for(actor=actor_of(request))
        etag = _etag_of(
            latest,
            sorted(request.query_params.items()),
            sorted(scope.territory_ids),
            sorted(scope.organisation_ids),
            scope.everything,
            translation.get_language(),
        )
        answer = get_conditional_response(
            request._request,
            etag=etag,
            last_modified=int(last_modified.timestamp()) if last_modified else None,
        )
        if answer is not None and answer.status_code == 304:
            response = HttpResponseNotModified()
        else:
            response = StreamingHttpResponse(
                self._csv_lines(rows), content_type=f"{CSV_MEDIA_TYPE}; charset=utf-8"
            )
            response["Content-Disposition"] = f'attachment; filename="{_filename("ledger", params)}"'
        response["ETag"] = etag
        if last_modified:
            response["Last-Modified"] = http_date(int(last_modified.timestamp()))
        response["Cache-Control"] = "private, no-cache"
        patch_vary_headers(response, ["Accept", "Accept-Language", "Authorization"])
        return response

    def _csv_lines(self, rows):
        writer = csv.writer(_Echo(), lineterminator="\r\n")
        yield writer.writerow([localized(fr, en) for _k, fr, en in LEDGER_COLUMNS])
        for row in rows.order_by("id").iterator(chunk_size=2000):
            data = LedgerRowOut(row).data
            yield writer.writerow([_cell(data.get(key)) for key, _fr, _en in LEDGER_COLUMNS])


# ---------------------------------------------------------------------------------------------------
# Monthly reports
# ---------------------------------------------------------------------------------------------------


class MonthlyReportOut(serializers.Serializer):
    id = serializers.IntegerField()
    territory = StatsTerritoryRefOut(allow_null=True, help_text="null: every territory together")
    month = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    csv_url = serializers.SerializerMethodField()
    html_url = serializers.SerializerMethodField()

    @extend_schema_field({"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$", "example": "2025-02"})
    def get_month(self, report) -> str:
        return f"{report.month:%Y-%m}"

    def _url(self, report, name: str) -> str:
        return self.context["request"].build_absolute_uri(reverse(f"api:{name}", args=[report.pk]))

    def get_csv_url(self, report) -> str:
        return self._url(report, "stats-report-csv")

    def get_html_url(self, report) -> str:
        return self._url(report, "stats-report-html")


class StatsReportListView(ListAPIView):
    serializer_class = MonthlyReportOut

    def get_queryset(self):
        return selectors.reports_visible_to(actor=actor_of(self.request))

    @extend_schema(
        operation_id="stats_reports_list",
        summary="Monthly reports of the territories in your scope",
        description="Built on the 1st of each month for last month: CSV and printable HTML.",
    )
    def get(self, request):
        return self.list(request)


class _AnyAccept(BaseContentNegotiation):
    """A download is what it is, whatever the client accepts; errors are problem+json anyway."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class StatsReportFileView(GenericAPIView):
    content_negotiation_class = _AnyAccept
    file_field = "csv_file"
    content_type = CSV_MEDIA_TYPE

    def get(self, request, report_id: int):
        report = selectors.report_get(actor=actor_of(request), report_id=report_id)
        stored = getattr(report, self.file_field)
        name = stored.name.rsplit("/", 1)[-1]
        response = FileResponse(
            stored.open("rb"),
            content_type=f"{self.content_type}; charset=utf-8",
            filename=name,
            as_attachment=self.file_field == "csv_file",
        )
        return response


class StatsReportCSVView(StatsReportFileView):
    @extend_schema(
        operation_id="stats_reports_csv",
        summary="A monthly report as CSV",
        responses={
            (200, CSV_MEDIA_TYPE): OpenApiResponse(OpenApiTypes.STR, description="the report's table")
        },
    )
    def get(self, request, report_id: int):
        return super().get(request, report_id)


class StatsReportHTMLView(StatsReportFileView):
    file_field = "html_file"
    content_type = "text/html"

    @extend_schema(
        operation_id="stats_reports_html",
        summary="A monthly report as printable HTML",
        responses={(200, "text/html"): OpenApiResponse(OpenApiTypes.STR, description="a printable page")},
    )
    def get(self, request, report_id: int):
        return super().get(request, report_id)


urlpatterns = [
    path("stats/summary/", StatsSummaryView.as_view(), name="stats-summary"),
    path("stats/timeseries/", StatsTimeseriesView.as_view(), name="stats-timeseries"),
    path("stats/territories/", StatsTerritoriesView.as_view(), name="stats-territories"),
    path("stats/ledger/", StatsLedgerView.as_view(), name="stats-ledger"),
    path("stats/reports/", StatsReportListView.as_view(), name="stats-reports"),
    path("stats/reports/<int:report_id>/csv/", StatsReportCSVView.as_view(), name="stats-report-csv"),
    path("stats/reports/<int:report_id>/html/", StatsReportHTMLView.as_view(), name="stats-report-html"),
]
