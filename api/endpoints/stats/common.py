"""What every statistics operation shares: the query (`StatsQueryIn`, read into
`impact.query.StatsParams`), the header of the answers, the decimal fields, the errors and the schema
extensions, and the statistics' filenames."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from impact.models import OutcomeUse
from impact.query import DEFAULT_TIME_ZONE, MAX_PERIOD_DAYS, StatsParams, time_zone_get
from organisations.models import OrganisationKind

from ...exports import ExportQueryIn, period_filename
from ...fields import BoundedDateField, TimeZoneField

DEFAULT_PERIOD_DAYS = 365
# The period rule of impact.query.period_check, for people (the descriptions of `from` and `to`) and for
# programs (an extension of each statistics operation, which the contract fuzzing reads).
PERIOD_LIMIT_TEXT = f"From `from` to `to` is at most {MAX_PERIOD_DAYS} days (five years), `from` first."
PERIOD_LIMIT = {"x-period-max-days": MAX_PERIOD_DAYS}

STATS_ERRORS = (
    "Bad parameters (unknown interval or grouping, period inverted or over five years) are a 400; a "
    "category or factor version that does not exist is a 404."
)


class StatsQueryIn(ExportQueryIn):
    """`from` and `to` are Python keywords: added in get_fields. `labels` comes from ExportQueryIn."""

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
        outlier={"true": True, "false": False}.get(data.get("outlier") or ""),
    )


def _flat(data: dict, prefix: str = "") -> dict:
    """Nested objects as dotted keys (`loans.made`), for the summary's indicators."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _filename(kind: str, params: StatsParams) -> str:
    return period_filename(kind, params)


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


class StatsOutcomeUseOut(serializers.Serializer):
    use = serializers.ChoiceField(choices=OutcomeUse.choices)
    label = serializers.CharField(  # type: ignore[assignment]  # a field named like Field.label
        help_text="The use's name, in the request's language."
    )
    reports = serializers.IntegerField()
    people_reached = serializers.IntegerField()


class StatsOutcomesOut(serializers.Serializer):
    """What the recipients report their lots became (`PUT handovers/{id}/outcome/`), counted once per
    handover: a claim's live ledger row (not a reversal, not reversed), of any mode, loans included.
    Same scope and filters as the other figures (the territory of the ledger row)."""

    handovers = serializers.IntegerField(help_text="Live handovers collected in the period, every mode.")
    reported = serializers.IntegerField(help_text="Of those, the ones with an outcome report.")
    share_reported = _number(4, allow_null=True, help_text="reported ÷ handovers; null when none.")
    people_reached = serializers.IntegerField()
    young_people = serializers.IntegerField(help_text="Of the people reached, under 26.")
    seniors = serializers.IntegerField(help_text="Of the people reached, over 60.")
    volunteer_hours = _number(1)


# The social indicators as table columns (key, French label, English label, source in the answer): the
# time series' and the territories' CSV columns, and the summary's indicator rows.
OUTCOME_COLUMNS = (
    ("outcome_handovers", "Remises (tous modes)", "Handovers (every mode)", "outcomes.handovers"),
    ("outcomes_reported", "Remises dont l'usage est rapporté", "Handovers reported", "outcomes.reported"),
    ("outcomes_share_reported", "Part des remises rapportées", "Share reported", "outcomes.share_reported"),
    ("people_reached", "Personnes touchées", "People reached", "outcomes.people_reached"),
    ("young_people", "dont jeunes (moins de 26 ans)", "of whom young people", "outcomes.young_people"),
    ("seniors", "dont seniors (plus de 60 ans)", "of whom seniors", "outcomes.seniors"),
    ("volunteer_hours", "Heures de bénévolat", "Volunteer hours", "outcomes.volunteer_hours"),
)
