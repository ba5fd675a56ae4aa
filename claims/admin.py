"""The operator's view of claims and of the ledger: read-only, but for one write. Claims change through
the services (the API) where their rules live; ledger rows never change at all (the database refuses
UPDATE and DELETE, and corrections are reversing rows appended by `handovers/{id}/reverse/`). The one
write: the operator settles a handover by adding a proposal, which appends the reversal and the
correction through claims.corrections."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyAdmin
from core.errors import DomainError
from organisations.actors import Actor

from .corrections import handover_settle
from .models import Claim, Handover, HandoverConfirmation, HandoverProposal


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
        "outlier",
        "mode",
        "co2e_avoided_kg",
        "factor_version",
        "collected_at",
    )
    list_filter = ("mass_method", "outlier", "mode", "factor_version", "factor_status")
    search_fields = ("donor__name", "recipient__name")
    list_select_related = ("donor", "recipient", "category", "claim", "reverses")
    date_hierarchy = "collected_at"


@admin.register(HandoverConfirmation)
class HandoverConfirmationAdmin(ReadOnlyAdmin):
    list_display = ("handover", "state", "tacit", "organisation", "recorded_at")
    list_filter = ("state", "tacit")
    list_select_related = ("handover", "organisation")


class HandoverSettleForm(forms.ModelForm):
    """The operator's figure for a handover: quantity (empty: unchanged) and mass, with the reason."""

    quantity = forms.DecimalField(
        label=_("quantity"), max_digits=14, decimal_places=3, required=False, help_text=_("Empty: unchanged.")
    )
    mass_confirmed = forms.BooleanField(
        label=_("keep an implausible mass"), required=False, help_text=_("The row is then flagged outlier.")
    )

    class Meta:
        model = HandoverProposal
        fields = ("handover", "quantity", "mass_kg", "mass_confirmed", "reason")


@admin.register(HandoverProposal)
class HandoverProposalAdmin(admin.ModelAdmin):
    """Proposals are read-only; adding one settles the handover (reversal + correction)."""

    form = HandoverSettleForm
    list_display = ("id", "handover", "organisation", "quantity", "mass_kg", "correction", "recorded_at")
    list_select_related = ("handover", "organisation", "correction")
    raw_id_fields = ("handover",)
    readonly_fields = ("organisation", "correction", "recorded_by", "recorded_at")

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            settled = handover_settle(
                actor=Actor.for_user(request.user),
                handover_id=data["handover"].pk,
                quantity=data.get("quantity"),
                mass_kg=data["mass_kg"],
                mass_confirmed=data.get("mass_confirmed", False),
                reason=data["reason"],
            )
        except DomainError as exc:  # nothing was written: the service's transaction rolled back
            self.message_user(request, exc.message, messages.ERROR)
            return
        obj.pk = settled.pk

    def response_add(self, request, obj, post_url_continue=None):
        if obj.pk is None:  # refused: back to the form, with the refusal above it
            return HttpResponseRedirect(request.get_full_path())
        return super().response_add(request, obj, post_url_continue)

    def log_addition(self, request, obj, message):
        if obj.pk is not None:
            super().log_addition(request, obj, message)
