"""Admin of territories: list and search, names and attributes editable. Boundaries come from files
(`manage.py load_territories`) and are shown as a short summary: no map widget, so the admin works
offline."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.gis.db.models import MultiPolygonField
from django.contrib.gis.db.models.functions import Area
from django.db.models import F
from django.db.models.functions import Cast
from django.utils.translation import gettext_lazy as _

from .models import Territory


@admin.register(Territory)
class TerritoryAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "population", "area_km2", "updated_at")
    list_filter = ("kind",)
    search_fields = ("code", "name")
    ordering = ("kind", "code")
    fields = ("kind", "code", "name", "population", "geometry_summary", "properties", "source", "updated_at")
    readonly_fields = ("kind", "code", "geometry_summary", "updated_at")

    def get_queryset(self, request):
        # On the geography type, so that the area is in square metres on the spheroid.
        area = Area(Cast(F("geometry"), MultiPolygonField(srid=4326, geography=True)))
        return super().get_queryset(request).annotate(area_m2=area)

    @admin.display(description=_("area (km²)"), ordering="area_m2")
    def area_km2(self, obj: Territory) -> str:
        area = getattr(obj, "area_m2", None)  # annotated by get_queryset
        return f"{area.sq_m / 1e6:.2f}" if area is not None else "—"

    @admin.display(description=_("boundary"))
    def geometry_summary(self, obj: Territory) -> str:
        geometry = obj.geometry
        if geometry is None:
            return "—"
        west, south, east, north = geometry.extent
        vertices = geometry.num_coords
        return _(
            "%(type)s of %(parts)d polygon(s), %(vertices)d vertices, %(area)s km²; "
            "bounding box lon %(west).4f…%(east).4f, lat %(south).4f…%(north).4f"
        ) % {
            "type": geometry.geom_type,
            "parts": len(geometry),
            "vertices": vertices,
            "area": self.area_km2(obj),
            "west": west,
            "east": east,
            "south": south,
            "north": north,
        }

    def has_add_permission(self, request) -> bool:
        return False  # territories come with their boundaries, from files: manage.py load_territories

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # sites and statistics point to territories
