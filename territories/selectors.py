from __future__ import annotations

from django.contrib.gis.geos import Point
from django.db.models import QuerySet

from .models import Territory, TerritoryKind

# When territories overlap (a district inside a commune), a site is attached to the finest one.
_FINEST_FIRST = [
    TerritoryKind.IRIS,
    TerritoryKind.DISTRICT,
    TerritoryKind.COMMUNE,
    TerritoryKind.EPCI,
    TerritoryKind.OTHER,
]


def territory_containing(*, point: Point, kind: str | None = TerritoryKind.COMMUNE) -> Territory | None:
    """The territory of `kind` that covers the point (boundary included), or None outside all of them."""
    candidates = Territory.objects.filter(geometry__covers=point)
    if kind is not None:
        return candidates.filter(kind=kind).order_by("code").first()
    found = {t.kind: t for t in candidates.order_by("-code")}
    return next((found[k] for k in _FINEST_FIRST if k in found), None)


def territories_list(*, kind: str | None = None, codes: list[str] | None = None) -> QuerySet[Territory]:
    qs = Territory.objects.all()
    if kind:
        qs = qs.filter(kind=kind)
    if codes:
        qs = qs.filter(code__in=codes)
    return qs.order_by("kind", "code")
