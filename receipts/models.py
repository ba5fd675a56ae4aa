"""Tax receipts: what an association issued to a donor, line by line from the ledger, and the parties'
identities as printed. Once issued nothing changes: the database refuses UPDATE and DELETE on receipts,
lines and cancellations (triggers, migration 0001). A receipt is cancelled by a cancellation row and
re-issued as a new receipt that `replaces` it. Numbers come from `ReceiptCounter` (receipts/numbering.py):
sequential per association and year, never reused."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from exchange.models import ValuationBasis


class ReceiptCounter(models.Model):
    """The last number issued by an association in a year; its row is the lock that serialises the
    association's receipts of that year. Never deleted (trigger), so a number is never reused."""

    association = models.ForeignKey("organisations.Organisation", models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField()
    last = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["association", "year"], name="receipt_counter_unique"),
            models.CheckConstraint(condition=Q(last__gt=0), name="receipt_counter_positive"),
        ]


class Receipt(models.Model):
    association = models.ForeignKey(
        "organisations.Organisation",
        models.PROTECT,
        related_name="receipts_issued",
        verbose_name=_("association"),
    )
    donor = models.ForeignKey(
        "organisations.Organisation",
        models.PROTECT,
        related_name="receipts_received",
        verbose_name=_("donor"),
    )
    year = models.PositiveSmallIntegerField(_("year"))
    number = models.PositiveIntegerField(_("number"))
    reference = models.CharField(_("reference"), max_length=20)
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"))
    issued_at = models.DateTimeField(_("issued at"))
    issued_by = models.CharField(
        _("issued by"), max_length=64, help_text="user:<id>, api-key:<prefix> or system"
    )
    # The signature block and the parties as printed: a snapshot, the receipt never changes afterwards.
    signatory_name = models.CharField(_("signatory"), max_length=300)
    signatory_capacity = models.CharField(_("signatory's capacity"), max_length=100)
    place = models.CharField(_("place"), max_length=200, blank=True)
    association_name = models.CharField(max_length=200)
    association_siret = models.CharField(max_length=14, blank=True)
    association_rna = models.CharField(max_length=10, blank=True)
    association_address = models.CharField(max_length=300, blank=True)
    association_object = models.TextField(blank=True)
    association_evidence = models.TextField()
    donor_name = models.CharField(max_length=200)
    donor_siret = models.CharField(max_length=14)
    donor_address = models.CharField(max_length=300, blank=True)
    total_value_eur = models.DecimalField(_("total value (EUR)"), max_digits=14, decimal_places=2)
    replaces = models.OneToOneField(
        "self",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="replaced_by",
        verbose_name=_("replaces"),
        help_text=_("The cancelled receipt this one re-issues."),
    )

    class Meta:
        ordering = ["-issued_at", "-id"]
        verbose_name = _("tax receipt")
        verbose_name_plural = _("tax receipts")
        constraints = [
            models.UniqueConstraint(fields=["association", "year", "number"], name="receipt_number_unique"),
            models.UniqueConstraint(fields=["association", "reference"], name="receipt_reference_unique"),
            models.CheckConstraint(condition=Q(number__gt=0), name="receipt_number_positive"),
            models.CheckConstraint(condition=Q(total_value_eur__gt=0), name="receipt_total_positive"),
            models.CheckConstraint(
                condition=Q(period_end__gte=F("period_start")), name="receipt_period_ordered"
            ),
            models.CheckConstraint(condition=~Q(donor=F("association")), name="receipt_distinct_parties"),
            models.CheckConstraint(condition=~Q(donor_siret=""), name="receipt_donor_siret"),
            models.CheckConstraint(
                condition=~Q(association_evidence=""), name="receipt_association_evidence"
            ),
        ]
        indexes = [
            models.Index(fields=["association", "year"], name="receipt_association_year"),
            models.Index(fields=["donor", "year"], name="receipt_donor_year"),
        ]

    def __str__(self) -> str:
        return f"receipt {self.reference} ({self.association_name} → {self.donor_name})"


class ReceiptLine(models.Model):
    """One ledger row on a receipt: what was given, and its value (quantity × the stamped unit value)."""

    receipt = models.ForeignKey(Receipt, models.PROTECT, related_name="lines")
    handover = models.ForeignKey("claims.Handover", models.PROTECT, related_name="receipt_lines")
    description = models.CharField(_("description"), max_length=400)
    quantity = models.DecimalField(_("quantity"), max_digits=14, decimal_places=3)
    unit = models.CharField(_("unit"), max_length=8)
    unit_value_eur = models.DecimalField(_("unit value (EUR)"), max_digits=12, decimal_places=2)
    valuation_basis = models.CharField(_("valuation basis"), max_length=12, choices=ValuationBasis.choices)
    near_use_by = models.BooleanField(_("close to its use-by date"), default=False)
    value_eur = models.DecimalField(_("value (EUR)"), max_digits=14, decimal_places=2)
    collected_at = models.DateTimeField(_("collected at"))

    class Meta:
        ordering = ["collected_at", "id"]
        verbose_name = _("receipt line")
        verbose_name_plural = _("receipt lines")
        constraints = [
            models.UniqueConstraint(fields=["receipt", "handover"], name="receipt_line_once"),
            models.CheckConstraint(
                condition=Q(quantity__gt=0) & Q(unit_value_eur__gt=0) & Q(value_eur__gt=0),
                name="receipt_line_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.description}: {self.value_eur} €"


class ReceiptCancellation(models.Model):
    """A receipt cancelled, for a reason; the receipt itself stays as it was issued."""

    receipt = models.OneToOneField(
        Receipt, models.PROTECT, primary_key=True, related_name="cancellation", verbose_name=_("receipt")
    )
    reason = models.TextField(_("reason"))
    cancelled_at = models.DateTimeField(_("cancelled at"))
    cancelled_by = models.CharField(_("cancelled by"), max_length=64)

    class Meta:
        verbose_name = _("receipt cancellation")
        verbose_name_plural = _("receipt cancellations")
        constraints = [models.CheckConstraint(condition=~Q(reason=""), name="receipt_cancellation_reason")]

    def __str__(self) -> str:
        return f"cancellation of receipt #{self.receipt_id}"
