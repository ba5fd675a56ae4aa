"""The operator's view of offers: read-only records, moderated through the same services as the API
(withdraw, close), acting as the logged-in operator. Firms edit their offers through the API."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.errors import DomainError
from organisations.actors import Actor

from . import services
from .models import Offer, OfferImport, OfferPhoto


class OfferPhotoInline(admin.TabularInline):
    model = OfferPhoto
    fields = ("preview", "content_type", "width", "height", "size_bytes", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("photo"))
    def preview(self, photo: OfferPhoto) -> str:
        return format_html('<a href="{}">{}</a>', photo.image.url, photo.image.name)


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "title",
        "organisation",
        "category",
        "quantity",
        "remaining_quantity",
        "unit",
        "status",
    )
    list_filter = ("status", "mode", "condition", "unit")
    search_fields = ("title", "external_ref", "organisation__name")
    list_select_related = ("organisation", "category")
    readonly_fields = [field.name for field in Offer._meta.fields if field.name != "search_vector"]
    exclude = ("search_vector",)
    inlines = [OfferPhotoInline]
    actions = ["withdraw", "close"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # offers are referenced by claims and the ledger; withdraw instead

    def _apply(self, request, queryset, service) -> int:
        """Runs `service` on each offer; reports refusals one by one and returns how many succeeded."""
        actor = Actor.for_user(request.user)
        changed = 0
        for offer in queryset.order_by("pk"):
            try:
                service(actor=actor, offer=offer)
                changed += 1
            except DomainError as exc:
                self.message_user(request, f"#{offer.pk}: {exc.message}", messages.ERROR)
        return changed

    @admin.action(description=_("Withdraw the selected offers"))
    def withdraw(self, request, queryset):
        if changed := self._apply(request, queryset, services.offer_withdraw):
            self.message_user(
                request,
                ngettext("%(n)d offer withdrawn.", "%(n)d offers withdrawn.", changed) % {"n": changed},
            )

    @admin.action(description=_("Close the selected offers"))
    def close(self, request, queryset):
        if changed := self._apply(request, queryset, services.offer_close):
            self.message_user(
                request, ngettext("%(n)d offer closed.", "%(n)d offers closed.", changed) % {"n": changed}
            )


@admin.register(OfferImport)
class OfferImportAdmin(admin.ModelAdmin):
    """File imports as they ran (exchange.imports): read-only, for the operator helping a firm."""

    list_display = ("id", "organisation", "filename", "status", "rows_processed", "rows_total", "error_count")
    list_filter = ("status", "file_format")
    search_fields = ("filename", "organisation__name", "sha256")
    list_select_related = ("organisation",)
    readonly_fields = [field.name for field in OfferImport._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the record of what a file did to the offers
