"""What receipt requests carry: the list's filters, an issue, a cancellation, the totals' query."""

from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from ...exports import ExportQueryIn
from ...fields import BoundedDateField

FIRST_YEAR, LAST_YEAR = 2000, 2100


class ReceiptListQuery(serializers.Serializer):
    year = serializers.IntegerField(
        min_value=FIRST_YEAR, max_value=LAST_YEAR, required=False, help_text="The year of issue."
    )
    association = serializers.IntegerField(min_value=1, required=False, help_text="The issuer.")
    donor = serializers.IntegerField(min_value=1, required=False, help_text="The donor.")


class ReceiptIssueIn(serializers.Serializer):
    association = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="The issuing association; optional when you belong to only one organisation.",
    )
    donor = serializers.IntegerField(min_value=1, help_text="The donating company (with a SIRET).")
    period_start = BoundedDateField(help_text="First day of collection covered (Europe/Paris).")
    period_end = BoundedDateField(help_text="Last day of collection covered, included.")
    handover_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        min_length=1,
        max_length=500,
        required=False,
        help_text="Only these handovers; default: every donation of the donor collected in the period "
        "that is on no live receipt yet.",
    )
    replaces = serializers.IntegerField(
        min_value=1, required=False, help_text="The cancelled receipt this one re-issues."
    )


class ReceiptCancelIn(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="Why the receipt is cancelled.")


class ReceiptTotalsQuery(ExportQueryIn):
    year = serializers.IntegerField(
        min_value=FIRST_YEAR,
        max_value=LAST_YEAR,
        help_text="An association's receipts issued that year; a donor's gifts of that year.",
    )
    organisation = serializers.IntegerField(
        min_value=1, help_text="A donor (its totals as a donor) or an association (its declaration)."
    )
    turnover_eur = serializers.DecimalField(
        max_digits=16,
        decimal_places=2,
        min_value=Decimal("0"),
        required=False,
        help_text="A donor's turnover excluding tax, for the ceiling (0.5 %; €20,000 at least).",
    )
    format = serializers.ChoiceField(
        choices=["json", "csv"], required=False, help_text="csv: the row as CSV (same as `Accept: text/csv`)."
    )
