"""The communes map: SVG outlines projected from the territory polygons, shaded by the tonnes of
impact.selectors.stats_territories.

Outlines are simplified in PostGIS (ST_SimplifyPreserveTopology) and projected equirectangularly, the
longitude scaled by the cosine of the middle latitude, so the shapes keep their proportions at Lille's
latitude. That work is done once per set of communes and kept in Django's cache, keyed by the ids and
`updated_at` of the communes: reloading a boundary changes the key."""

from __future__ import annotations

import hashlib
import math
from decimal import Decimal

from django.contrib.gis.db.models import GeometryField
from django.core.cache import cache
from django.db.models import Func
from django.utils.translation import gettext as _

from impact.query import StatsScope
from territories.models import Territory, TerritoryKind

from . import formatting

SIMPLIFY_TOLERANCE_DEG = 0.0004  # ≈ 30 m: below half a pixel at the width drawn
MAP_WIDTH = 600
MAP_PADDING = 8
CACHE_SECONDS = 30 * 24 * 3600
CLASSES = 4  # shaded classes above zero, equal intervals up to the top commune


class _SimplifyPreserveTopology(Func):
    function = "ST_SimplifyPreserveTopology"
    output_field = GeometryField(srid=4326)


def _polygons(geometry) -> list:
    if geometry is None or geometry.empty:
        return []
    if geometry.geom_type == "Polygon":
        return [geometry]
    return [part for part in geometry if part.geom_type == "Polygon"]


def _project(geometries: dict[int, object]) -> dict:
    """SVG path data per territory id, and the size of the drawing."""
    extents = [g.extent for g in geometries.values() if g is not None and not g.empty]
    if not extents:
        return {"width": MAP_WIDTH, "height": MAP_WIDTH // 2, "paths": {}}
    west, south = min(e[0] for e in extents), min(e[1] for e in extents)
    east, north = max(e[2] for e in extents), max(e[3] for e in extents)
    kx = math.cos(math.radians((south + north) / 2))
    scale = (MAP_WIDTH - 2 * MAP_PADDING) / max((east - west) * kx, 1e-9)
    height = round((north - south) * scale + 2 * MAP_PADDING, 1)

    def point(lon: float, lat: float) -> str:
        return f"{MAP_PADDING + (lon - west) * kx * scale:.1f},{MAP_PADDING + (north - lat) * scale:.1f}"

    paths = {}
    for territory_id, geometry in geometries.items():
        rings = []
        for polygon in _polygons(geometry):
            for ring in polygon:
                projected = []
                for lon, lat in ring.coords[:-1]:
                    here = point(lon, lat)
                    if not projected or projected[-1] != here:
                        projected.append(here)
                if len(projected) >= 3:
                    rings.append("M" + " ".join(projected) + "Z")
        paths[territory_id] = "".join(rings)
    return {"width": MAP_WIDTH, "height": height, "paths": paths}


def commune_outlines() -> dict:
    """{width, height, source, communes: [{id, code, name, d}]} for every commune, from the cache when the
    communes have not changed."""
    rows = list(
        Territory.objects.filter(kind=TerritoryKind.COMMUNE)
        .order_by("code", "id")
        .values_list("id", "code", "name", "source", "updated_at")
    )
    fingerprint = hashlib.sha256(
        repr([(pk, updated.isoformat()) for pk, _c, _n, _s, updated in rows]).encode()
        + f"|{SIMPLIFY_TOLERANCE_DEG}|{MAP_WIDTH}".encode()
    ).hexdigest()
    key = f"web:commune-outlines:{fingerprint}"
    drawing = cache.get(key)
    if drawing is None:
        simplified = (
            Territory.objects.filter(pk__in=[row[0] for row in rows])
            .annotate(outline=_SimplifyPreserveTopology("geometry", SIMPLIFY_TOLERANCE_DEG))
            .values_list("id", "outline")
        )
        drawing = _project(dict(simplified))
        cache.set(key, drawing, CACHE_SECONDS)
    sources = sorted({source for _pk, _c, _n, source, _u in rows if source})
    return {
        "width": drawing["width"],
        "height": drawing["height"],
        "source": "; ".join(sources),
        "communes": [
            {"id": pk, "code": code, "name": name, "d": drawing["paths"].get(pk, "")}
            for pk, code, name, _s, _u in rows
        ],
    }


def shade_class(tonnes: Decimal, top: Decimal) -> str:
    """q0 for nothing (or a net negative), then q1…q4 in equal intervals of the top value."""
    if tonnes <= 0 or top <= 0:
        return "q0"
    return f"q{min(max(math.ceil(tonnes / top * CLASSES), 1), CLASSES)}"


def _legend(top: Decimal, muted: bool) -> list[dict]:
    items = [{"css": "q0", "label": formatting.tonnes(Decimal(0))}]
    if top > 0:
        decimals = formatting.tonnes_decimals(top / CLASSES)
        for k in range(1, CLASSES + 1):
            low, high = top * (k - 1) / CLASSES, top * k / CLASSES
            label = _("%(low)s to %(high)s") % {
                "low": formatting.number(low, decimals if low else 0),
                "high": f"{formatting.number(high, decimals)}{formatting.NBSP}t",
            }
            items.append({"css": f"q{k}", "label": label})
    if muted:
        items.append({"css": "muted", "label": _("outside the selection")})
    return items


def commune_map(*, territories: list[dict], scope: StatsScope, selected_id: int | None) -> dict:
    """The communes shaded by the tonnes of `territories` (rows of stats_territories). Communes outside
    the figures are drawn muted when a territory is selected or the caller sees only some territories
    (a public authority); for the operator and for organisations, a commune without figures is a zero."""
    outlines = commune_outlines()
    figures = {row["id"]: row for row in territories}
    mute_others = selected_id is not None or not (scope.everything or scope.organisation_ids)
    top = max(
        (figures[c["id"]]["tonnes"] for c in outlines["communes"] if c["id"] in figures), default=Decimal(0)
    )
    features, any_muted = [], False
    for commune in outlines["communes"]:
        row = figures.get(commune["id"])
        if row is None and mute_others:
            any_muted = True
            css, tonnes = "muted", None
            title = _("%(name)s: outside the selection") % {"name": commune["name"]}
        else:
            tonnes = row["tonnes"] if row else Decimal(0)
            css = shade_class(tonnes, top)
            title = _("%(name)s: %(tonnes)s, %(co2e)s") % {
                "name": commune["name"],
                "tonnes": formatting.tonnes(tonnes),
                "co2e": formatting.tonnes_from_kg(row["co2e_avoided_kg"] if row else 0, "t\u00a0CO\u2082e"),
            }
        if commune["id"] == selected_id:
            css += " selected"
        features.append({**commune, "css": css, "tonnes": tonnes, "title": title})
    features.sort(key=lambda f: f["id"] == selected_id)  # drawn last, so its outline stays on top
    return {
        "width": outlines["width"],
        "height": outlines["height"],
        "source": outlines["source"],
        "features": features,
        "legend": _legend(top, any_muted),
        "empty": not features,
    }
