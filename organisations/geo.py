"""Location privacy: the stable approximate point shown to everyone but the owner (and, later, a
recipient whose claim was accepted)."""

from __future__ import annotations

import math

from django.contrib.gis.geos import Point

# A grid of about 550 m × 550 m at the latitude of Lille. Every point of a cell is shown as the cell's
# centre: the same on every request (no averaging attack), independent of the query point (no
# trilateration), and coarse enough to hide a yard among its neighbours.
GRID_LAT_DEG = 0.005
GRID_LON_DEG = 0.0078


def point_ewkt(lon: float, lat: float) -> str:
    """A WGS 84 point as EWKT text, which PostGIS casts to geography (query parameters on hot paths:
    no GEOS object to build)."""
    return f"SRID=4326;POINT({float(lon)!r} {float(lat)!r})"


def approximate_point(point: Point) -> Point:
    lon_cell = math.floor(point.x / GRID_LON_DEG)
    lat_cell = math.floor(point.y / GRID_LAT_DEG)
    lon = (lon_cell + 0.5) * GRID_LON_DEG
    lat = (lat_cell + 0.5) * GRID_LAT_DEG
    return Point(round(lon, 6), round(min(max(lat, -90.0), 90.0), 6), srid=4326)


# The sphere PostGIS measures geography on when asked not to use the spheroid (mean radius of WGS 84).
SPHERE_RADIUS_M = 6371008.7714150598


def grid_cells_within_bound(point: Point, radius_m: float) -> int | None:
    """At most how many cells of the grid have their centre within `radius_m` of `point` (on the
    sphere): the cells meeting the disc's bounding box, one more each way. None when the box reaches
    a pole, where longitudes converge and no finite count of columns bounds it."""
    dlat = math.degrees(radius_m / SPHERE_RADIUS_M)
    widest = abs(point.y) + dlat
    if widest >= 89.0:
        return None
    dlon = dlat / math.cos(math.radians(widest))
    rows = math.floor(2 * dlat / GRID_LAT_DEG) + 2
    columns = math.floor(2 * dlon / GRID_LON_DEG) + 2
    return rows * columns
