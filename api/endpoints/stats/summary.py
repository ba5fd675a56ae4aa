"""`stats/summary/`: the headline figures of a period, as JSON or as an indicator, label, value table."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import JSONRenderer

from core.i18n import localized
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
    StatsOutcomeUseOut,
    StatsQueryIn,
    _filename,
    _flat,
    _number,
    stats_params,
)

SUMMARY_COLUMNS = columns_of(
    ("indicator", "Indicateur", "Indicator"),
    ("label", "Libellé", "Label"),
    ("value", "Valeur", "Value"),
)


class StatsFactorOut(serializers.Serializer):
    factor_version = serializers.CharField()
    basis = serializers.CharField()
    kgco2e = _number(4)
    source = serializers.CharField()  # type: ignore[assignment]  # a field named like Field.source
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
    *((source, fr, en) for _key, fr, en, source in OUTCOME_COLUMNS),
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


class StatsSummaryOutcomesOut(StatsOutcomesOut):
    by_use = StatsOutcomeUseOut(many=True, help_text="Per use, the reports and their people reached.")


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
    outcomes = StatsSummaryOutcomesOut()
    factor_versions = serializers.ListField(child=serializers.CharField())
    factors = StatsFactorOut(many=True)


class StatsSummaryView(GenericAPIView):
    renderer_classes = [JSONRenderer, TableRenderer]
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
            "those rows or to the others. `outcomes` counts what the recipients report their lots became "
            "(people reached, of whom young people and seniors, volunteer hours, per use), once per "
            "handover, with the share of handovers that have a report. "
            + STATS_ERRORS
            + columns_sentence(SUMMARY_COLUMNS)
        ),
        parameters=[StatsQueryIn, FORMAT_PARAMETER],
        responses={
            (200, "application/json"): StatsSummaryOut,
            (200, CSV_MEDIA_TYPE): table_response("one row per indicator", SUMMARY_COLUMNS),
            **NOT_MODIFIED,
        },
    )
    def get(self, request):
        params = stats_params(validated_query(StatsQueryIn, request))
        last_modified = selectors.stats_last_modified(market=True)  # before the figures: never later
        data = StatsSummaryOut(selectors.stats_summary(actor=actor_of(request), params=params)).data
        if table_requested(request):
            flat = _flat(data)
            rows = [
                {"indicator": key, "label": localized(fr, en), "value": flat[key]}
                for key, fr, en in SUMMARY_FIELDS
            ]
            table = Table(SUMMARY_COLUMNS, rows, _filename("summary", params))
            return conditional(request, body=table, last_modified=last_modified)
        return conditional(request, body=data, last_modified=last_modified)
