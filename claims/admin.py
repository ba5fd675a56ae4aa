"""The operator's view of claims and of the ledger: read-only. Claims change through the services (the
API) where their rules live; ledger rows never change at all (the database refuses UPDATE and DELETE,
and corrections are reversing rows appended by `handovers/{id}/reverse/`)."""

from __future__ import annotations

from django.contrib import admin

from core.admin import ReadOnlyAdmin

from .models import Claim, Handover, HandoverConfirmation


@admin.register(Claim)
class ClaimAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "offer",
        "organisation",
        "quantity",
        "status",
        "auto_accepted",
        "location_revealed_at",
        "pickup_deadline",
        "created_at",
    )
    list_filter = ("status", "auto_accepted", "auto_accept_withheld")
    search_fields = ("organisation__name", "offer__title")
    list_select_related = ("offer", "organisation")
    raw_id_fields = ("offer", "organisation", "created_by")


@admin.register(Handover)
class HandoverAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "claim",
        "reverses",
        "donor",
        "recipient",
        "category",
        "quantity",
        "unit",
        "mass_kg",
        "mass_method",
        "co2e_avoided_kg",
        "factor_version",
        "collected_at",
    )
    list_filter = ("mass_method", "factor_version", "factor_status")
    search_fields = ("donor__name", "recipient__name")
    list_select_related = ("donor", "recipient", "category", "claim", "reverses")
    date_hierarchy = "collected_at"


@admin.register(HandoverConfirmation)
class HandoverConfirmationAdmin(ReadOnlyAdmin):
    list_display = ("handover", "state", "tacit", "organisation", "recorded_at")
    list_filter = ("state", "tacit")
    list_select_related = ("handover", "organisation")
