"""Reading a GeoJSON FeatureCollection of territories (communes, districts, IRIS…) into records.

Pure parsing, no database: `territories.services.territories_upsert` writes the records. Polygons
become MultiPolygons, a third coordinate is dropped, and a legacy `crs` member (e.g. Lambert-93,
EPSG:2154) is reprojected to WGS 84. Problems raise `TerritoryFileError` naming the feature."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.gis.gdal import GDALException
from django.contrib.gis.geos import GEOSException, GEOSGeometry, MultiPolygon, Polygon, WKBWriter

WGS84 = 4326
_CRS_CODE = re.compile(r"(?:EPSG:+|EPSG::)(\d+)$", re.IGNORECASE)
_WGS84_NAMES = {"urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:OGC::CRS84", "CRS84", "OGC:CRS84"}


class TerritoryFileError(ValueError):
    pass


@dataclass(frozen=True)
class TerritoryRecord:
    code: str
    name: str
    population: int | None
    properties: dict[str, Any]
    geometry: MultiPolygon = field(compare=False)


@dataclass(frozen=True)
class TerritoryFile:
    records: list[TerritoryRecord]
    source: str  # attribution found in the file's `metadata` member, if any


def _srid(collection: dict, path: Path) -> int:
    crs = collection.get("crs")
    if crs is None:
        return WGS84  # RFC 7946: WGS 84 longitude/latitude
    name = (crs.get("properties") or {}).get("name") if isinstance(crs, dict) else None
    if not isinstance(name, str):
        raise TerritoryFileError(f"{path.name}: the crs member names no coordinate reference system")
    if name in _WGS84_NAMES:
        return WGS84
    match = _CRS_CODE.search(name)
    if not match:
        raise TerritoryFileError(f"{path.name}: unsupported coordinate reference system {name!r}")
    return int(match.group(1))


def _multipolygon(geometry: Any, srid: int, where: str) -> MultiPolygon:
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        kind = geometry.get("type") if isinstance(geometry, dict) else geometry
        raise TerritoryFileError(f"{where}: geometry must be a Polygon or MultiPolygon, not {kind!r}")
    try:
        geom = GEOSGeometry(json.dumps(geometry))
    except (GEOSException, GDALException, ValueError, TypeError) as exc:
        raise TerritoryFileError(f"{where}: unreadable geometry ({exc})") from exc
    if geom.empty:
        raise TerritoryFileError(f"{where}: empty geometry")
    if geom.hasz:
        writer = WKBWriter()
        writer.outdim = 2
        geom = GEOSGeometry(writer.write(geom))
    geom.srid = srid
    if srid != WGS84:
        try:
            geom.transform(WGS84)
        except (GEOSException, GDALException) as exc:
            raise TerritoryFileError(f"{where}: cannot reproject from EPSG:{srid} ({exc})") from exc
    # GEOSGeometry takes the class of what it read, a Polygon or a MultiPolygon as the type checked above.
    if isinstance(geom, Polygon):
        geom = MultiPolygon(geom, srid=WGS84)
    if not isinstance(geom, MultiPolygon):
        raise TerritoryFileError(
            f"{where}: geometry must be a Polygon or MultiPolygon, not {geom.geom_type!r}"
        )
    return geom


def _population(value: Any, where: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not (
        isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())
    ):
        raise TerritoryFileError(f"{where}: population {value!r} is not a whole number")
    population = int(value)
    if population < 0:
        raise TerritoryFileError(f"{where}: population {value!r} is negative")
    return population


def _metadata_source(collection: dict) -> str:
    metadata = collection.get("metadata")
    if not isinstance(metadata, dict):
        return ""
    parts = [
        str(value).strip()
        for key, value in metadata.items()
        if isinstance(value, str) and any(word in key.lower() for word in ("source", "licen", "attribution"))
    ]
    return "; ".join(p for p in parts if p)


def read_territory_file(
    path: Path | str,
    *,
    code_field: str,
    name_field: str = "name",
    population_field: str = "population",
) -> TerritoryFile:
    path = Path(path)
    try:
        collection = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise TerritoryFileError(f"{path}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise TerritoryFileError(f"{path}: cannot be read ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise TerritoryFileError(f"{path.name}: not JSON ({exc})") from exc
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        raise TerritoryFileError(f"{path.name}: not a GeoJSON FeatureCollection")
    features = collection.get("features")
    if not isinstance(features, list) or not features:
        raise TerritoryFileError(f"{path.name}: the FeatureCollection has no features")
    srid = _srid(collection, path)
    records: list[TerritoryRecord] = []
    seen: set[str] = set()
    for index, feature in enumerate(features):
        where = f"{path.name}: feature {index}"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise TerritoryFileError(f"{where}: not a GeoJSON Feature")
        properties = feature.get("properties")
        if not isinstance(properties, dict):
            raise TerritoryFileError(f"{where}: has no properties")
        code = properties.get(code_field)
        if code is None or str(code).strip() == "":
            raise TerritoryFileError(f"{where}: missing code field {code_field!r}")
        code = str(code).strip()
        where = f"{path.name}: feature {index} ({code_field}={code})"
        if len(code) > 32:
            raise TerritoryFileError(f"{where}: code longer than 32 characters")
        if code in seen:
            raise TerritoryFileError(f"{where}: duplicate code")
        seen.add(code)
        name = properties.get(name_field)
        if name is None or str(name).strip() == "":
            raise TerritoryFileError(f"{where}: missing name field {name_field!r}")
        records.append(
            TerritoryRecord(
                code=code,
                name=str(name).strip()[:200],
                population=_population(properties.get(population_field), where),
                properties={
                    k: v for k, v in properties.items() if k not in (code_field, name_field, population_field)
                },
                geometry=_multipolygon(feature.get("geometry"), srid, where),
            )
        )
    return TerritoryFile(records=records, source=_metadata_source(collection))
