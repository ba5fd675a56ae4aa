"""The operator's view of tax receipts: read-only. Receipts are issued and cancelled through the
services (the API), and once written never change: the database refuses UPDATE and DELETE on receipts,
lines and cancellations."""

from __future__ import annotations

from django.contrib import admin

from core.admin import ReadOnlyAdmin

from .models import Receipt, ReceiptCancellation, ReceiptLine


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReceiptLineInline(_ReadOnlyInline):
    model = ReceiptLine
    fields = ("handover", "description", "quantity", "unit", "unit_value_eur", "valuation_basis", "value_eur")


class ReceiptCancellationInline(_ReadOnlyInline):
    model = ReceiptCancellation
    fields = ("reason", "cancelled_at", "cancelled_by")


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyAdmin):
    list_display = (
        "reference",
        "association",
        "donor",
        "period_start",
        "period_end",
        "total_value_eur",
        "issued_at",
        "replaces",
    )
    list_filter = ("year",)
    search_fields = ("reference", "association_name", "donor_name", "donor_siret")
    list_select_related = ("association", "donor", "replaces")
    date_hierarchy = "issued_at"
    inlines = (ReceiptLineInline, ReceiptCancellationInline)
