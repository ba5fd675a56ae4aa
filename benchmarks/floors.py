"""What the search is measured against, in the same run on the same data.

- The two-level floor: the least SQL that answers "the nearest 50 published offers within r" on this
  data: a side table of the distinct public points built here (`bench_floor_cell`, its own GiST index),
  walked nearest first, each cell's offers read by id from the offers' cell btree, ids only, stopping at
  50. No filters, no columns, no visibility: what the project's search cannot beat, only approach.
- The previous search: the offers' own GiST index walked by `<->` (the plan before the cell walk), with
  the same columns as today's query, so the gain of the cell walk is measured, not remembered.

Imported after Django is set up (benchmarks/run.py, benchmarks/scale.py, the tests)."""

from __future__ import annotations

from django.contrib.gis.geos import Point
from django.db import connection
from django.db.models import BooleanField, F, Func, QuerySet, Value

from matching.expressions import KNNDistance, Origin
from matching.search import HIT_VALUES, hit_columns, offers_searchable, with_shown_location

FLOOR_TABLE = "bench_floor_cell"


class DWithinSphere(Func):
    """Within `radius_m` on the sphere, written out as PostGIS wrote ST_DWithin before 3.0: a bounding-box
    test the GiST index answers (`&&` with the box expanded by the radius), then the exact test.

    Why not ST_DWithin itself: PostGIS 3 estimates its selectivity from the query point's box alone,
    ignoring the radius (rows=1 where thousands match), on top of the box test's own estimate. Expecting
    fewer rows than the LIMIT, PostgreSQL then skips the nearest-first index walk and fetches everything
    in the radius to sort it: 34 ms instead of 0.3 ms on 20,000 offers near Roubaix, worse as the table
    grows. Spelt out, only `&&` is estimated (low too for small boxes on geography, but in proportion to
    the data), and where offers are many the plan is the KNN walk that stops after `limit` rows
    (what the search did before it walked cells)."""

    output_field = BooleanField()

    def __init__(self, field_name: str, origin: Origin, radius_m: float):
        super().__init__(F(field_name), origin, Value(float(radius_m)))

    def as_sql(self, compiler, connection, **extra_context):
        (column, column_params), (point, point_params), (radius, radius_params) = (
            compiler.compile(expression) for expression in self.get_source_expressions()
        )
        sql = (
            f"({column} && _ST_Expand({point}, {radius}) AND _ST_DWithin({column}, {point}, {radius}, false))"
        )
        params = (*column_params, *point_params, *radius_params) * 2
        return sql, params


def floor_build() -> int:
    """(Re)builds the side table from the published offers; returns its number of cells."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {FLOOR_TABLE}")
        cursor.execute(
            f"CREATE TABLE {FLOOR_TABLE} AS SELECT x, y, ST_SetSRID(ST_MakePoint(x, y), 4326)::geography "
            "AS point FROM (SELECT DISTINCT ST_X(public_location::geometry) AS x, "
            "ST_Y(public_location::geometry) AS y FROM exchange_offer WHERE status = 'published') AS cell"
        )
        cursor.execute(f"CREATE INDEX {FLOOR_TABLE}_point ON {FLOOR_TABLE} USING gist (point)")
        cursor.execute(f"ANALYZE {FLOOR_TABLE}")
        cursor.execute(f"SELECT count(*) FROM {FLOOR_TABLE}")
        return cursor.fetchone()[0]


def floor_sql(point: Point, *, radius_m: float, limit: int) -> tuple[str, list]:
    origin = "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography"
    sql = (
        f"SELECT o.id FROM (SELECT x, y, point <-> {origin} AS d FROM {FLOOR_TABLE} "
        f"WHERE point && _ST_Expand({origin}, %s) AND _ST_DWithin(point, {origin}, %s, false) "
        f"ORDER BY point <-> {origin}) AS c "
        "CROSS JOIN LATERAL (SELECT id FROM exchange_offer WHERE status = 'published' "
        "AND remaining_quantity > 0 AND ST_X(public_location::geometry) = c.x "
        "AND ST_Y(public_location::geometry) = c.y ORDER BY id LIMIT %s) AS o ORDER BY c.d LIMIT %s"
    )
    xy = [point.x, point.y]
    return sql, [*xy, *xy, radius_m, *xy, radius_m, *xy, limit, limit]


def previous_search(*, actor, point: Point, radius_m: float, limit: int, **filters) -> QuerySet:
    """The search query as it was before the cell walk: the offers' partial GiST index by `<->`;
    `filters` as offers_searchable takes them."""

    origin = Origin(point.x, point.y)
    qs = offers_searchable(base=hit_columns(), **filters).filter(
        DWithinSphere("public_location", origin, radius_m)
    )
    return (
        with_shown_location(qs, actor=actor, point=point)
        .order_by(KNNDistance("public_location", origin))
        .values_list(*HIT_VALUES, named=True)[:limit]
    )
