"""The operator links public authorities to territories here (through impact.services); rollups and
reports are shown read-only: they derive from the ledger."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.translation import gettext as _

from core.admin import ReadOnlyAdmin
from core.errors import DomainError
from organisations.actors import Actor

from .models import DailyRollup, MonthlyReport, PublicAuthorityTerritory
from .services import authority_territories_link, authority_territories_unlink


class PublicAuthorityTerritoryForm(forms.ModelForm):
    class Meta:
        model = PublicAuthorityTerritory
        fields = ["organisation", "territory"]

    def clean(self):
        data = super().clean()
        organisation = data.get("organisation")
        if organisation is not None and organisation.kind != "public_authority":
            raise forms.ValidationError(
                {"organisation": _("Only a public authority is linked to territories.")}
            )
        return data


@admin.register(PublicAuthorityTerritory)
class PublicAuthorityTerritoryAdmin(admin.ModelAdmin):
    form = PublicAuthorityTerritoryForm
    list_display = ("organisation", "territory", "created_at")
    list_filter = ("territory__kind",)
    search_fields = ("organisation__name", "territory__name", "territory__code")
    list_select_related = ("organisation", "territory")
    raw_id_fields = ("territory",)

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None  # a link is added or removed, never edited

    def save_model(self, request, obj, form, change):
        try:
            authority_territories_link(
                actor=Actor.for_user(request.user),
                organisation_id=obj.organisation_id,
                territory_ids=[obj.territory_id],
            )
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from exc
        obj.pk = PublicAuthorityTerritory.objects.get(
            organisation_id=obj.organisation_id, territory_id=obj.territory_id
        ).pk

    def delete_model(self, request, obj):
        authority_territories_unlink(
            actor=Actor.for_user(request.user),
            organisation_id=obj.organisation_id,
            territory_ids=[obj.territory_id],
        )

    def delete_queryset(self, request, queryset):
        for link in queryset:
            self.delete_model(request, link)


@admin.register(MonthlyReport)
class MonthlyReportAdmin(ReadOnlyAdmin):
    list_display = ("month", "territory", "csv_file", "html_file", "created_at")
    list_select_related = ("territory",)
    date_hierarchy = "month"


@admin.register(DailyRollup)
class DailyRollupAdmin(ReadOnlyAdmin):
    list_display = (
        "day",
        "category",
        "territory",
        "donor_kind",
        "recipient_kind",
        "factor_version",
        "handovers",
        "mass_g",
        "co2e_g",
    )
    list_filter = ("factor_version", "donor_kind", "recipient_kind")
    list_select_related = ("category", "territory")
    date_hierarchy = "day"
