"""The operator's view of needs and matches: read-only, since changes go through the services (the API)
where their rules live."""

from __future__ import annotations

from django.contrib import admin

from core.admin import ReadOnlyAdmin

from .models import Match, MatchAlertPreference, Need


@admin.register(Need)
class NeedAdmin(ReadOnlyAdmin):
    list_display = ("id", "title", "organisation", "status", "radius_m", "deadline", "created_at")
    list_filter = ("status",)
    search_fields = ("title", "organisation__name")
    list_select_related = ("organisation",)


@admin.register(Match)
class MatchAdmin(ReadOnlyAdmin):
    list_display = ("id", "need", "offer", "organisation", "score", "distance_m", "created_at", "notified_at")
    list_select_related = ("need", "offer", "organisation")
    raw_id_fields = ("need", "offer", "organisation")


@admin.register(MatchAlertPreference)
class MatchAlertPreferenceAdmin(ReadOnlyAdmin):
    list_display = ("organisation", "mode", "updated_at")
    list_filter = ("mode",)
    list_select_related = ("organisation",)
