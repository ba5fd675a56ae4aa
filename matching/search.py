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

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from django.contrib.gis.db.models import GeometryField
from django.contrib.gis.geos import Point
from django.contrib.postgres.search import SearchQuery
from django.db.models import (
    Count,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from claims.selectors import offer_exact_location_visible
from core import i18n
from core.errors import InvalidInput, NotFound
from exchange.models import Offer, OfferPhoto, OfferStatus
from exchange.shape import OFFER_FIELDS
from inventory.models import Category
from inventory.selectors import category_subtree_q
from organisations.actors import Actor
from organisations.geo import grid_cells_within_bound, point_ewkt

from .models import SearchCell

MAX_RADIUS_M = 100_000
MAX_LIMIT = 200


class Origin(Func):
    """The query point as a geography constant. Written as EWKT text rather than a GEOS geometry: the
    planner folds it all the same, and building the query costs no GEOS work (this path is hot)."""

    template = "%(expressions)s::geography"
    output_field = GeometryField(geography=True, srid=4326)

    def __init__(self, lon: float, lat: float):
        # Plain floats, not the Point: expressions hash their constructor arguments, and hashing a GEOS
        # geometry computes its WKT.
        super().__init__(Value(point_ewkt(lon, lat)))


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


@dataclass(frozen=True, slots=True)
class HitOrganisation:
    id: int
    name: str
    kind: str


@dataclass(frozen=True, slots=True)
class HitCategory:
    id: int
    key: str
    name: str


@dataclass(frozen=True, slots=True)
class OfferHit:
    """An offer as search shows it: its plain fields, the location the actor may see, and the distance
    from it. A plain field reads as an attribute too (`hit.title`)."""

    id: int
    fields: Mapping[str, Any]  # the offer's plain fields (exchange/shape.py OFFER_FIELDS) and their values
    organisation: HitOrganisation
    category: HitCategory
    lon: float
    lat: float
    location_is_approximate: bool
    distance_m: float
    photo_count: int

    def __getattr__(self, name: str) -> Any:
        if name in OFFER_FIELDS:
            return self.fields[name]
        raise AttributeError(name)


def _category_path(category_id: int) -> str:
    path = Category.objects.filter(pk=category_id).values_list("path", flat=True).first()
    if path is None:
        raise NotFound(_("No category has this id."))
    return path


def _window(available_on: date | None) -> Q:
    """Live now, and (when a day is given) available at some time during that day in local time."""
    now = timezone.now()
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
) -> QuerySet[Offer]:
    """Published, live offers with something left, filtered; anywhere (the caller adds the geography)."""
    # Literally status = 'published': the partial GiST index only serves queries that say so.
    qs = (Offer.objects if base is None else base).filter(
        _window(available_on), status=OfferStatus.PUBLISHED, remaining_quantity__gt=0
    )
    if category_id is not None:
        path = _category_path(category_id)
        qs = qs.filter(category_subtree_q([path], prefix="category__"))
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


def with_shown_location(qs: QuerySet[Offer], *, actor: Actor, point: Point) -> QuerySet[Offer]:
    """`qs` (made from hit_columns()) with the distance from `point` to both locations, and which of the
    two the actor may see.

    The owner's members and keys, and a recipient holding a claim that reveals the place, see the exact
    site (claims/selectors/reveal.py decides, as for every other view of an offer); everyone else sees the
    stable grid-cell centre (organisations.geo) and distances measured from it. Both are measured in SQL
    (cheap on the few rows returned) and Python picks one, so the visibility test is written once per
    row."""
    origin = Origin(point.x, point.y)
    return qs.annotate(
        exact_visible=offer_exact_location_visible(actor=actor),
        public_distance_m=SphereDistance("public_location", origin),
        exact_distance_m=SphereDistance("location", origin),
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
    """The one query behind `offers_near`, rows of HIT_VALUES (the benchmark and the EXPLAIN test run it
    as it is)."""
    if not 0 < radius_m <= MAX_RADIUS_M:
        raise InvalidInput(_("The radius is out of range."), field_errors={"radius_m": [_("Out of range.")]})
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(_("The limit is out of range."), field_errors={"limit": [_("Out of range.")]})
    searchable = offers_searchable(
        category_id=category_id, q=q, min_quantity=min_quantity, available_on=available_on, mode=mode
    )
    picked = _nearest_by_cell(searchable, point=point, radius_m=radius_m, limit=limit)
    qs = hit_columns().filter(pk__in=picked).order_by()  # offers_near sorts the few hits
    return with_shown_location(qs, actor=actor, point=point).values_list(*HIT_VALUES, named=True)


def _nearest_by_cell(searchable: QuerySet[Offer], *, point: Point, radius_m: float, limit: int) -> RawSQL:
    """The ids of the `limit` offers of `searchable` nearest to `point` within `radius_m` (public points,
    on the sphere), ties by id: a two-level walk.

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
    origin = Origin(point.x, point.y)
    nearest = (
        SearchCell.objects.annotate(distance=KNNDistance("point", origin))
        .order_by("distance")
        .values("x", "y", "point", "distance")
    )
    bound = grid_cells_within_bound(point, radius_m)
    nearest_sql, nearest_params = (nearest[:bound] if bound is not None else nearest).query.sql_with_params()
    cells_sql = (
        f"SELECT nearest.x, nearest.y, nearest.distance FROM ({nearest_sql}) AS nearest "
        "WHERE _ST_DWithin(nearest.point, %s::geography, %s, false)"
    )
    cells_params = (
        *nearest_params,
        point_ewkt(point.x, point.y),
        float(radius_m),
    )

    in_cell = (
        searchable.alias(cell_x=Longitude("public_location"), cell_y=Latitude("public_location"))
        .filter(cell_x=RawSQL("cells.x", ()), cell_y=RawSQL("cells.y", ()))
        .order_by("id")
        .values("id")[:limit]
    )
    in_cell_sql, in_cell_params = in_cell.query.sql_with_params()
    return RawSQL(
        f"SELECT picked.id FROM ({cells_sql}) AS cells CROSS JOIN LATERAL ({in_cell_sql}) AS picked "
        "ORDER BY cells.distance LIMIT %s",
        (*cells_params, *in_cell_params, limit),
    )


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
    rows = offers_near_queryset(
        actor=actor,
        point=point,
        radius_m=radius_m,
        category_id=category_id,
        q=q,
        min_quantity=min_quantity,
        available_on=available_on,
        mode=mode,
        limit=limit,
    )
    english = i18n.english()  # the rule of Category.name
    hits = [
        OfferHit(
            id=row.id,
            fields={name: getattr(row, name) for name in OFFER_FIELDS},
            organisation=HitOrganisation(row.organisation_id, row.organisation__name, row.organisation__kind),
            category=HitCategory(
                row.category_id,
                row.category__key,
                row.category__name_en if english else row.category__name_fr,
            ),
            lon=row.exact_lon if row.exact_visible else row.public_lon,
            lat=row.exact_lat if row.exact_visible else row.public_lat,
            location_is_approximate=not row.exact_visible,
            distance_m=row.exact_distance_m if row.exact_visible else row.public_distance_m,
            photo_count=row.photo_count,
        )
        for row in rows
    ]
    # Offers of one grid cell tie exactly: id orders them; and an exact location moves a hit by up to
    # half a cell. Sorting the few hits by what is shown keeps the list deterministic and consistent.
    hits.sort(key=lambda hit: (hit.distance_m, hit.id))
    return hits
