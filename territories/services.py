"""State changes of territories: loading boundaries (by management command, by test fixtures)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.gis.geos import GEOSGeometry, MultiPolygon
from django.db import connection, transaction
from django.utils.translation import gettext as _

from core.errors import InvalidInput

from .loading import TerritoryRecord
from .models import Territory, TerritoryKind

SOURCE_MAX = Territory._meta.get_field("source").max_length


@dataclass
class TerritoryLoadResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    repaired: int = 0  # geometries made valid with ST_MakeValid


def _made_valid(geometry: MultiPolygon, code: str) -> MultiPolygon:
    """Self-intersections and the like, repaired by PostGIS; only the polygonal part is kept."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_AsEWKB(ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_GeomFromEWKB(%s)), 3)))",
            [bytes(geometry.ewkb)],
        )
        (ewkb,) = cursor.fetchone()
    repaired = GEOSGeometry(memoryview(bytes(ewkb)))
    if repaired.empty or not isinstance(repaired, MultiPolygon):  # GEOSGeometry takes the class of its type
        raise InvalidInput(
            _("Territory %(code)s: the geometry is invalid and cannot be repaired into polygons.")
            % {"code": code},
            field_errors={"geometry": [_("%(code)s: invalid geometry") % {"code": code}]},
        )
    return repaired


@transaction.atomic
def territories_upsert(*, kind: str, records: list[TerritoryRecord], source: str = "") -> TerritoryLoadResult:
    """Create or update territories of `kind`, matched by code; unchanged ones are not written. Others of
    the same kind are left alone (a file may hold only part of a territory set)."""
    if kind not in TerritoryKind.values:
        raise InvalidInput(
            _("Unknown territory kind %(kind)s.") % {"kind": kind},
            field_errors={"kind": [_("One of %(choices)s.") % {"choices": ", ".join(TerritoryKind.values)}]},
        )
    source = source.strip()
    if SOURCE_MAX is not None and len(source) > SOURCE_MAX:
        source = source[: SOURCE_MAX - 1] + "…"
    result = TerritoryLoadResult()
    existing = {
        t.code: t
        for t in Territory.objects.select_for_update().filter(kind=kind, code__in=[r.code for r in records])
    }
    new: list[Territory] = []
    for record in records:
        geometry = record.geometry
        if not geometry.valid:
            geometry = _made_valid(geometry, record.code)
            result.repaired += 1
        wanted = {
            "name": record.name,
            "population": record.population,
            "properties": record.properties,
            "source": source,
        }
        territory = existing.get(record.code)
        if territory is None:
            new.append(Territory(kind=kind, code=record.code, geometry=geometry, **wanted))
            continue
        same_geometry = bytes(territory.geometry.ewkb) == bytes(geometry.ewkb)
        if same_geometry and all(getattr(territory, k) == v for k, v in wanted.items()):
            result.unchanged += 1
            continue
        for name, value in wanted.items():
            setattr(territory, name, value)
        territory.geometry = geometry
        territory.save()
        result.updated += 1
    Territory.objects.bulk_create(new)
    result.created = len(new)
    return result
