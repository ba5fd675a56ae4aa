"""The SQL expressions of search: the query point as a geography constant, distances on the sphere, the
nearest-first operator and a point's coordinates."""

from __future__ import annotations

from django.contrib.gis.db.models import GeometryField
from django.db.models import FloatField, Func, Value

from organisations.geo import point_ewkt


class Origin(Func):
    """The query point as a geography constant. Written as EWKT text rather than a GEOS geometry: the
    planner folds it all the same, and building the query costs no GEOS work (this path is hot)."""

    template = "%(expressions)s::geography"
    output_field = GeometryField(geography=True, srid=4326)

    def __init__(self, lon: float, lat: float, *, ewkt: str | None = None):
        # Plain floats, not the Point: expressions hash their constructor arguments, and hashing a GEOS
        # geometry computes its WKT.
        super().__init__(Value(ewkt if ewkt is not None else point_ewkt(lon, lat)))

    @classmethod
    def of_ewkt(cls, ewkt: str) -> Origin:
        return cls(0.0, 0.0, ewkt=ewkt)


class SphereDistance(Func):
    """ST_Distance(geography, geography, use_spheroid => false), in metres."""

    template = "ST_Distance(%(expressions)s, false)"
    output_field = FloatField()


class KNNDistance(Func):
    """`column <-> point`: what a GiST index on `column` can return rows in increasing order of."""

    arg_joiner = " <-> "
    template = "(%(expressions)s)"
    output_field = FloatField()


class Longitude(Func):
    template = "ST_X(%(expressions)s::geometry)"
    output_field = FloatField()


class Latitude(Func):
    template = "ST_Y(%(expressions)s::geometry)"
    output_field = FloatField()
