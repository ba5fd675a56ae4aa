"""Geo search: published offers near a point, nearest first.

Distances are on the sphere everywhere (the radius, the order and the `distance_m` shown): PostGIS
orders geography with `<->` on the sphere, so measuring the radius and the distance on the spheroid
would let `distance_m` disagree with the order by up to 0.5 %. The sphere is within that of the truth,
which is far below what matters for "what is near me", and keeps the three consistent.

Nearest first is a two-level walk (`_nearest_by_cell`): the distinct public points of published offers
(matching.models.SearchCell) nearest first, then each point's offers by id. Every offer of a grid cell
stands on the cell's centre, so this returns what walking the offers themselves by distance returns,
without wading through the hundreds of equidistant offers a dense cell holds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache

from django.contrib.gis.geos import Point
from django.contrib.postgres.search import SearchQuery
from django.db import connection
from django.db.models import (
    Count,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from claims.selectors import offer_exact_location_visible
from core import i18n
from core.errors import InvalidInput, NotFound
from core.statements import Statements, statement_compile
from exchange.models import Offer, OfferPhoto, OfferStatus
from exchange.shape import OFFER_FIELDS
from inventory.models import Category
from inventory.selectors import category_subtree_q
from organisations.actors import Actor
from organisations.geo import grid_cells_within_bound, point_ewkt

from .expressions import Latitude, Longitude, Origin, SphereDistance
from .hits import HitCategory, HitOrganisation, OfferHit
from .models import SearchCell

MAX_RADIUS_M = 100_000
MAX_LIMIT = 200


# The columns of a hit, read as plain values (one joined query; no model instances to build).
HIT_VALUES = (
    "id",
    *OFFER_FIELDS,
    "organisation_id",
    "organisation__name",
    "organisation__kind",
    "category_id",
    "category__key",
    "category__name_fr",
    "category__name_en",
    "photo_count",
    "exact_visible",
    "public_lon",
    "public_lat",
    "public_distance_m",
    "exact_lon",
    "exact_lat",
    "exact_distance_m",
)


def _category_path(category_id: int) -> str:
    path = Category.objects.filter(pk=category_id).values_list("path", flat=True).first()
    if path is None:
        raise NotFound(_("No category has this id."))
    return path


def _window(available_on: date | None, now: datetime) -> Q:
    """Live now, and (when a day is given) available at some time during that day in local time."""
    live = Q(available_from__lte=now) if available_on is None else Q()
    live &= Q(available_until__isnull=True) | Q(available_until__gt=now)
    if available_on is not None:
        start = timezone.make_aware(datetime.combine(available_on, time.min))
        end = timezone.make_aware(datetime.combine(available_on + timedelta(days=1), time.min))
        live &= Q(available_from__lt=end) & (Q(available_until__isnull=True) | Q(available_until__gt=start))
    return live


def offers_searchable(
    *,
    base: QuerySet[Offer] | None = None,
    category_id: int | None = None,
    q: str | None = None,
    min_quantity: Decimal | None = None,
    available_on: date | None = None,
    mode: str | None = None,
    now: datetime | None = None,
    category_path: str | None = None,
) -> QuerySet[Offer]:
    """Published, live offers with something left, filtered; anywhere (the caller adds the geography).
    The category by id, or by its path when the caller has read it already."""
    # Literally status = 'published': the partial GiST index only serves queries that say so.
    qs = (Offer.objects if base is None else base).filter(
        _window(available_on, now or timezone.now()), status=OfferStatus.PUBLISHED, remaining_quantity__gt=0
    )
    if category_path is None and category_id is not None:
        category_path = _category_path(category_id)
    if category_path is not None:
        qs = qs.filter(category_subtree_q([category_path], prefix="category__"))
    if q:
        qs = qs.filter(search_vector=SearchQuery(q, config="french_unaccent", search_type="websearch"))
    if min_quantity is not None:
        qs = qs.filter(remaining_quantity__gte=min_quantity)
    if mode:
        qs = qs.filter(mode=mode)
    return qs


def hit_columns() -> QuerySet[Offer]:
    """The part of the hit query that never changes: both locations' coordinates and the photo count.
    Resolving these expressions is much of the cost of building the query, so it is done once per
    process and each search starts from a fresh clone (never from the cached queryset itself)."""
    return _hit_columns().all()


@cache
def _hit_columns() -> QuerySet[Offer]:
    photo_count = (
        OfferPhoto.objects.filter(offer=OuterRef("pk")).order_by().values("offer").annotate(n=Count("id"))
    )
    return Offer.objects.annotate(
        public_lon=Longitude("public_location"),
        public_lat=Latitude("public_location"),
        exact_lon=Longitude("location"),
        exact_lat=Latitude("location"),
        photo_count=Coalesce(Subquery(photo_count.values("n")), 0),
    )


def with_shown_location(
    qs: QuerySet[Offer], *, actor: Actor, point: Point | str, now: datetime | None = None
) -> QuerySet[Offer]:
    """`qs` (made from hit_columns()) with the distance from `point` to both locations, and which of the
    two the actor may see.

    The owner's members and keys, and a recipient holding a claim that reveals the place, see the exact
    site (claims/selectors/reveal.py decides, as for every other view of an offer); everyone else sees the
    stable grid-cell centre (organisations.geo) and distances measured from it. Both are measured in SQL
    (cheap on the few rows returned) and Python picks one, so the visibility test is written once per
    row."""
    origin = Origin(point.x, point.y) if isinstance(point, Point) else Origin.of_ewkt(point)
    return qs.annotate(
        exact_visible=offer_exact_location_visible(actor=actor, now=now),
        public_distance_m=SphereDistance("public_location", origin),
        exact_distance_m=SphereDistance("location", origin),
    )


@dataclass(frozen=True)
class SearchFilters:
    """What narrows a search besides the place: the part of a search that repeats across requests."""

    category_id: int | None = None
    q: str | None = None
    min_quantity: Decimal | None = None
    available_on: date | None = None
    mode: str | None = None


@dataclass(frozen=True)
class _Place:
    """What changes with every request: the point (as EWKT), the radius, how many cells the walk may
    visit (None near the poles), the limit and the moment."""

    origin: str
    radius_m: float
    cells: int | None
    limit: int
    now: datetime


def _checked(radius_m: float, limit: int) -> None:
    if not 0 < radius_m <= MAX_RADIUS_M:
        raise InvalidInput(_("The radius is out of range."), field_errors={"radius_m": [_("Out of range.")]})
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(_("The limit is out of range."), field_errors={"limit": [_("Out of range.")]})


def _place(point: Point, radius_m: float, limit: int, now: datetime | None = None) -> _Place:
    _checked(radius_m, limit)
    return _Place(
        origin=point_ewkt(point.x, point.y),
        radius_m=float(radius_m),
        cells=grid_cells_within_bound(point, radius_m),
        limit=limit,
        now=now or timezone.now(),
    )


def _hits(
    *, actor: Actor, filters: SearchFilters, place: _Place, category_path: str | None = None
) -> QuerySet:
    """The one query behind `offers_near`, rows of HIT_VALUES."""
    searchable = offers_searchable(
        category_id=filters.category_id,
        category_path=category_path,
        q=filters.q,
        min_quantity=filters.min_quantity,
        available_on=filters.available_on,
        mode=filters.mode,
        now=place.now,
    )
    picked = _nearest_by_cell(searchable, place)
    qs = hit_columns().filter(pk__in=picked).order_by()  # offers_near sorts the few hits
    return with_shown_location(qs, actor=actor, point=place.origin, now=place.now).values_list(
        *HIT_VALUES, named=True
    )


def offers_near_queryset(
    *,
    actor: Actor,
    point: Point,
    radius_m: float,
    category_id: int | None = None,
    q: str | None = None,
    min_quantity: Decimal | None = None,
    available_on: date | None = None,
    mode: str | None = None,
    limit: int = 50,
) -> QuerySet:
    """The one query behind `offers_near` as a queryset, rows of HIT_VALUES (the benchmark and the EXPLAIN
    test run it as it is; offers_near runs the same SQL from `_statement`)."""
    filters = SearchFilters(category_id, q, min_quantity, available_on, mode)
    return _hits(actor=actor, filters=filters, place=_place(point, radius_m, limit))


@cache
def _nearest_cells_sql(bounded: bool) -> str:
    """The public points nearest first from their GiST index (at most `cells` of them when bounded)."""
    meta, quote = SearchCell._meta, connection.ops.quote_name
    columns = [meta.get_field(name).column for name in ("x", "y", "point")]  # type: ignore[union-attr]
    x, y, point = (quote(str(column)) for column in columns)
    return (
        f"SELECT {x} AS x, {y} AS y, {point} AS point, {point} <-> %s::geography AS distance "
        f"FROM {quote(meta.db_table)} ORDER BY distance" + (" LIMIT %s" if bounded else "")
    )


def _nearest_by_cell(searchable: QuerySet[Offer], place: _Place) -> RawSQL:
    """The ids of the `limit` offers of `searchable` nearest to the point within the radius (public
    points, on the sphere), ties by id: a two-level walk.

    Every offer of a grid cell stands on the cell's centre, so "nearest" is decided cell by cell: the
    cells (matching.models.SearchCell) are walked nearest first from their GiST index, within the
    radius, and each cell's matching offers are read in id order from the `offer_live_cell` btree, at
    most `limit` of them; the walk stops as soon as `limit` offers are found. Same rows and order as
    walking the offers' own GiST index by `<->` (the nearest `limit`, ties by id), without wading through
    hundreds of equidistant offers per cell: tests/test_search.py compares the two on random points."""
    # "The cells within r, nearest first" as "the nearest N cells, then those within r", N being a bound
    # on the grid cells a disc of radius r can hold: only the nearest-first index walk can answer that,
    # so the planner cannot swap it for gathering and sorting every cell of the box (its estimate of
    # that box is far too low), and the walk stops after N cells at most even where none is near.
    nearest_params = (place.origin,) if place.cells is None else (place.origin, place.cells)
    cells_sql = (
        f"SELECT nearest.x, nearest.y, nearest.distance FROM ({_nearest_cells_sql(place.cells is not None)}) "
        "AS nearest WHERE _ST_DWithin(nearest.point, %s::geography, %s, false)"
    )
    in_cell = (
        searchable.alias(cell_x=Longitude("public_location"), cell_y=Latitude("public_location"))
        .filter(cell_x=RawSQL("cells.x", ()), cell_y=RawSQL("cells.y", ()))
        .order_by("id")
        .values("id")
    )
    in_cell_sql, in_cell_params = in_cell.query.sql_with_params()
    return RawSQL(
        f"SELECT picked.id FROM ({cells_sql}) AS cells CROSS JOIN LATERAL ({in_cell_sql} LIMIT %s) AS picked "
        "ORDER BY cells.distance LIMIT %s",
        (*nearest_params, place.origin, place.radius_m, *in_cell_params, place.limit, place.limit),
    )


# The hit query compiled once per shape (core.statements): building and compiling it through the ORM
# costs more than running it, yet only the place changes from one search to the next. It is compiled for
# each (organisations of the actor, filters, category path, bounded walk) with stand-ins for the place,
# and each search puts its own place in the stand-ins' positions. tests/test_search.py checks that this
# gives exactly the SQL and parameters a fresh compile gives, for every kind of actor and filter.
_STAND_IN = _Place(
    "SRID=4326;POINT(stand-in)",
    -0.000123456789,
    -9_876_543_211,
    -9_876_543_212,
    datetime(1901, 2, 3, tzinfo=UTC),
)
_OTHER_STAND_IN = _Place(
    "SRID=4326;POINT(other)",
    -0.000987654321,
    -9_876_543_221,
    -9_876_543_222,
    datetime(1902, 3, 4, tzinfo=UTC),
)
STATEMENTS = Statements()


def _statement(*, actor: Actor, filters: SearchFilters, place: _Place) -> tuple[str, list]:
    """The hit query's SQL and parameters for this search (`_hits`, compiled once per shape). The shape
    holds the actor's organisations and nothing else of the actor: all the visibility rule reads
    (claims/selectors/reveal.py)."""
    # The category's path is read at each search (404 when it is gone), and a moved category is a new
    # shape: the statement holds the path, not the id.
    path = _category_path(filters.category_id) if filters.category_id is not None else None
    bounded = place.cells is not None

    def build(stand_in: _Place) -> QuerySet:
        return _hits(actor=actor, filters=filters, place=stand_in, category_path=path)

    stand_ins = [
        stand_in if bounded else replace(stand_in, cells=None) for stand_in in (_STAND_IN, _OTHER_STAND_IN)
    ]
    shape = (frozenset(actor.organisation_ids), filters, path, bounded)
    statement = STATEMENTS.get(shape, lambda: statement_compile(build, *stand_ins))
    if statement is None:
        sql, params = build(place).query.sql_with_params()
        return sql, list(params)
    return statement.bind(place)


def offers_near(
    *,
    actor: Actor,
    point: Point,
    radius_m: float,
    category_id: int | None = None,
    q: str | None = None,
    min_quantity: Decimal | None = None,
    available_on: date | None = None,
    mode: str | None = None,
    limit: int = 50,
) -> list[OfferHit]:
    """Published, live offers with something left whose public location lies within `radius_m` of
    `point`, nearest first. The radius and the order use the public (approximate) location for everyone,
    so neither reveals an exact site; `distance_m` is measured from the location the actor is shown."""
    filters = SearchFilters(category_id, q, min_quantity, available_on, mode)
    sql, params = _statement(actor=actor, filters=filters, place=_place(point, radius_m, limit))
    # The query's own rows, as the driver reads them: Django's row iteration and named tuples would
    # cost as much as the query (no column of a hit needs a converter: tests/test_search.py compares).
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        at = {column.name: i for i, column in enumerate(cursor.description)}
        records = cursor.fetchall()
    plain = [(name, at[name]) for name in OFFER_FIELDS]
    english = i18n.english()  # the rule of Category.name
    hits = []
    for record in records:
        exact = record[at["exact_visible"]]
        hits.append(
            OfferHit(
                id=record[at["id"]],
                fields={name: record[i] for name, i in plain},
                organisation=HitOrganisation(
                    record[at["organisation_id"]],
                    record[at["organisation__name"]],
                    record[at["organisation__kind"]],
                ),
                category=HitCategory(
                    record[at["category_id"]],
                    record[at["category__key"]],
                    record[at["category__name_en" if english else "category__name_fr"]],
                ),
                lon=record[at["exact_lon" if exact else "public_lon"]],
                lat=record[at["exact_lat" if exact else "public_lat"]],
                location_is_approximate=not exact,
                distance_m=record[at["exact_distance_m" if exact else "public_distance_m"]],
                photo_count=record[at["photo_count"]],
            )
        )
    # Offers of one grid cell tie exactly: id orders them; and an exact location moves a hit by up to
    # half a cell. Sorting the few hits by what is shown keeps the list deterministic and consistent.
    hits.sort(key=lambda hit: (hit.distance_m, hit.id))
    return hits
