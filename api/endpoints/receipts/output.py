"""How a receipt reads (everything printed on it, the parties as they were when it was issued) and the
yearly totals."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from exchange.models import ValuationBasis
from receipts.models import Receipt
from receipts.words import amount_in_words

from ...fields import QUANTITY

EUROS: dict[str, Any] = {"max_digits": 14, "decimal_places": 2}


class ReceiptAssociationOut(serializers.Serializer):
    id = serializers.IntegerField(source="association_id")
    name = serializers.CharField(source="association_name")
    siret = serializers.CharField(source="association_siret")
    rna = serializers.CharField(source="association_rna")
    address = serializers.CharField(source="association_address")
    object = serializers.CharField(source="association_object", help_text="Its object, as printed.")
    evidence = serializers.CharField(
        source="association_evidence", help_text="Its general-interest status: the evidence declared."
    )


class ReceiptDonorOut(serializers.Serializer):
    id = serializers.IntegerField(source="donor_id")
    name = serializers.CharField(source="donor_name")
    siret = serializers.CharField(source="donor_siret")
    address = serializers.CharField(source="donor_address")


class ReceiptSignatoryOut(serializers.Serializer):
    name = serializers.CharField(source="signatory_name")
    capacity = serializers.CharField(source="signatory_capacity")


class ReceiptLineOut(serializers.Serializer):
    handover = serializers.IntegerField(source="handover_id")
    description = serializers.CharField(help_text="Nature of the goods, as printed.")
    quantity = serializers.DecimalField(**QUANTITY)
    unit = serializers.CharField()
    unit_value_eur = serializers.DecimalField(max_digits=12, decimal_places=2)
    valuation_basis = serializers.ChoiceField(choices=ValuationBasis.choices)
    near_use_by = serializers.BooleanField()
    value_eur = serializers.DecimalField(**EUROS, help_text="quantity × unit value, to the cent.")
    collected_at = serializers.DateTimeField()


class ReceiptCancellationOut(serializers.Serializer):
    reason = serializers.CharField()
    cancelled_at = serializers.DateTimeField()
    cancelled_by = serializers.CharField(help_text="user:<id>, api-key:<prefix> or system")


def _replaced_by(receipt: Receipt) -> Receipt | None:
    try:
        return receipt.replaced_by
    except ObjectDoesNotExist:
        return None


class ReceiptSummaryOut(serializers.Serializer):
    """A receipt as a list shows it: everything but its lines."""

    id = serializers.IntegerField()
    reference = serializers.CharField(help_text="<year>-<number>, unique per association.")
    number = serializers.IntegerField(help_text="Sequential per association and year, never reused.")
    year = serializers.IntegerField()
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    issued_at = serializers.DateTimeField()
    issued_by = serializers.CharField(help_text="user:<id>, api-key:<prefix> or system")
    association = ReceiptAssociationOut(source="*")
    donor = ReceiptDonorOut(source="*")
    signatory = ReceiptSignatoryOut(source="*")
    place = serializers.CharField()
    total_value_eur = serializers.DecimalField(**EUROS)
    total_in_words = serializers.SerializerMethodField(help_text="The total in French words, as printed.")
    cancellation = serializers.SerializerMethodField(help_text="Null while the receipt stands.")
    replaces = serializers.IntegerField(
        source="replaces_id", allow_null=True, help_text="The cancelled receipt this one re-issues."
    )
    replaced_by = serializers.SerializerMethodField(help_text="The receipt re-issuing this one, if any.")
    pdf = serializers.SerializerMethodField(help_text="Where the printable receipt is served.")

    def get_total_in_words(self, receipt: Receipt) -> str:
        return amount_in_words(receipt.total_value_eur)

    @extend_schema_field(ReceiptCancellationOut(allow_null=True))
    def get_cancellation(self, receipt: Receipt) -> dict | None:
        try:
            cancellation = receipt.cancellation
        except ObjectDoesNotExist:
            return None
        return ReceiptCancellationOut(cancellation).data

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_replaced_by(self, receipt: Receipt) -> int | None:
        replacement = _replaced_by(receipt)
        return replacement.pk if replacement else None

    @extend_schema_field(OpenApiTypes.URI)
    def get_pdf(self, receipt: Receipt) -> str:
        url = reverse("api:receipt-pdf", kwargs={"receipt_id": receipt.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url


class ReceiptOut(ReceiptSummaryOut):
    """A receipt: everything printed on it, its lines from the ledger, and what became of it."""

    lines = ReceiptLineOut(many=True)


class ReceiptReductionOut(serializers.Serializer):
    """The 238 bis arithmetic on the year's gifts: information, not tax advice."""

    turnover_eur = serializers.DecimalField(max_digits=16, decimal_places=2, allow_null=True)
    ceiling_eur = serializers.DecimalField(max_digits=16, decimal_places=2)
    eligible_eur = serializers.DecimalField(
        **EUROS, help_text="The gifts taken this year (within the ceiling)."
    )
    reduction_eur = serializers.DecimalField(**EUROS, help_text="60 %, 40 % above €2 M.")
    carried_over_eur = serializers.DecimalField(**EUROS, help_text="Over the ceiling: carried over.")
    carry_over_years = serializers.IntegerField()


class ReceiptTotalsOut(serializers.Serializer):
    side = serializers.ChoiceField(
        choices=["donor", "association"],
        help_text="donor: what the organisation received in receipts; association: what it issued.",
    )
    organisation = serializers.IntegerField()
    year = serializers.IntegerField()
    receipt_count = serializers.IntegerField(help_text="Receipts not cancelled.")
    total_value_eur = serializers.DecimalField(**EUROS)
    cancelled_count = serializers.IntegerField(allow_null=True, help_text="Association side; else null.")
    reduction = ReceiptReductionOut(allow_null=True, help_text="Donor side; else null.")
