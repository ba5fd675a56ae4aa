"""The needs' areas (migration 0004): the box the database keeps on each need_category row contains the
need's disc, follows every change of the need, and the covering-needs query found through it returns
exactly what the previous query (a 100 km prefilter, kept by the benchmark) returned."""

from __future__ import annotations

import math
import random

import pytest
from django.contrib.gis.geos import Point
from django.db import connection, transaction
from django.utils import timezone

from benchmarks import bench_matching
from exchange.models import Offer
from inventory.models import Category
from matching import selectors
from matching.models import Need, NeedCategory, NeedStatus
from matching.services import need_create, need_update
from organisations.actors import Actor
from organisations.models import OrganisationKind

from .conftest import make_member, make_need, make_org

pytestmark = pytest.mark.django_db

EARTH_M = 6_371_008.8  # the sphere ST_DWithin(…, false) measures on, near enough for placing points

# Where boxes are unusual: the 180° meridian on both sides, near and at the poles, high latitudes
# (wide in longitude), the equator, and France.
PLACES = [
    (179.6, 10.0),
    (-179.7, -35.0),
    (180.0, 0.0),
    (0.0, 89.6),
    (120.0, -89.4),
    (25.0, 78.0),
    (-70.0, -60.0),
    (0.0, 0.0),
    (3.1746, 50.6916),
    (2.3522, 48.8566),
]


def _category(key: str, parent: Category | None = None) -> Category:
    return Category.objects.create(key=key, parent=parent, name_fr=key, name_en=key, default_unit="piece")


def _near(rng: random.Random, lon: float, lat: float, max_m: float) -> Point:
    """A point at most `max_m` from (lon, lat), in a uniform direction (on the sphere)."""
    d = rng.uniform(0, max_m) / EARTH_M
    bearing = rng.uniform(0, 2 * math.pi)
    phi, lam = math.radians(lat), math.radians(lon)
    phi2 = math.asin(math.sin(phi) * math.cos(d) + math.cos(phi) * math.sin(d) * math.cos(bearing))
    lam2 = lam + math.atan2(
        math.sin(bearing) * math.sin(d) * math.cos(phi), math.cos(d) - math.sin(phi) * math.sin(phi2)
    )
    lon2 = (math.degrees(lam2) + 540) % 360 - 180
    return Point(round(lon2, 6), round(math.degrees(phi2), 6), srid=4326)


def _previous(offer: Offer, lineage: dict[int, str], now) -> list[selectors.CoveringNeed]:
    """The previous query's answer: every need within 100 km, then the exact test."""
    params = {
        "point": f"SRID=4326;POINT({offer.public_location.x} {offer.public_location.y})",
        "now": now,
        "organisation_id": offer.organisation_id,
        "category_ids": list(lineage),
    }
    with connection.cursor() as cursor:
        cursor.execute(bench_matching.PREVIOUS_COVERING_NEEDS_SQL, params)
        return [selectors.CoveringNeed(*row) for row in cursor.fetchall()]


def test_areas_find_exactly_what_the_100_km_prefilter_found():
    """Seeded random needs (radii 1–100 km) around the places above, a quarter of them asking for two
    categories; offers near them, inside and outside their discs, across the meridian and the poles."""
    rng = random.Random(12)
    root = _category("area-root")
    child = _category("area-child", root)
    leaf = _category("area-leaf", child)
    other = _category("area-other")
    lineages = {c.pk: selectors.category_lineage(category=c) for c in (leaf, child, other)}
    recipients = [make_org(OrganisationKind.ASSOCIATION) for _ in range(3)]
    donor = make_org(OrganisationKind.COMPANY)
    for index in range(400):
        lon, lat = PLACES[index % len(PLACES)]
        categories = rng.sample([root, child, leaf, other], 2 if index % 4 == 0 else 1)
        make_need(
            recipients[index % 3],
            categories,
            point=_near(rng, lon, lat, 120_000),
            radius_m=rng.randint(1_000, 100_000),
            deadline=timezone.now() + timezone.timedelta(days=1) if index % 7 else None,
        )
    now = timezone.now()
    found = 0
    for index in range(300):
        lon, lat = PLACES[index % len(PLACES)]
        category = (leaf, child, other)[index % 3]
        owner = recipients[0] if index % 5 == 0 else donor  # now and then, the needs' own organisation
        offer = Offer(organisation=owner, category=category, public_location=_near(rng, lon, lat, 150_000))
        lineage = lineages[category.pk]
        covering = selectors.needs_covering_offer(offer=offer, lineage=lineage, now=now)
        assert covering == _previous(offer, lineage, now), (offer.public_location, category.key)
        found += len(covering)
    assert found > 1000  # the comparison is not between empty answers


def test_the_area_contains_the_disc_even_across_the_meridian_and_at_the_poles():
    """Points just inside each disc (by the sphere test itself), in every direction: all in the box."""
    rng = random.Random(3)
    association = make_org(OrganisationKind.ASSOCIATION)
    category = _category("area-disc")
    places = PLACES + [(179.99, 45.0), (-180.0, -70.0), (10.0, 90.0), (-30.0, -89.9)]
    for lon, lat in places:
        for radius_m in (1_000, 37_000, 100_000):
            make_need(association, [category], point=Point(lon, lat, srid=4326), radius_m=radius_m)
    probes = []
    for row in NeedCategory.objects.filter(category=category):
        for _ in range(24):
            point = _near(rng, row.location.x, row.location.y, row.radius_m * 1.003)
            probes.append((row.pk, point.x, point.y))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT count(*) FILTER (WHERE ST_DWithin(a.location, p.g, a.radius_m, false)),
                   count(*) FILTER (WHERE ST_DWithin(a.location, p.g, a.radius_m, false)
                                      AND NOT a.area && box(point(p.g::geometry)))
            FROM unnest(%s::bigint[], %s::float8[], %s::float8[]) AS q(id, x, y)
            CROSS JOIN LATERAL (SELECT ST_SetSRID(ST_MakePoint(q.x, q.y), 4326)::geography AS g) p
            JOIN {NeedCategory._meta.db_table} a ON a.id = q.id
            """,
            [[p[0] for p in probes], [p[1] for p in probes], [p[2] for p in probes]],
        )
        inside, missed = cursor.fetchone()
    assert inside > len(probes) // 2 and missed == 0


def test_the_area_is_a_tight_box_in_france_and_every_longitude_where_it_must_be():
    association = make_org(OrganisationKind.ASSOCIATION)
    category = _category("area-boxes")
    roubaix = make_need(association, [category], point=Point(3.1746, 50.6916, srid=4326), radius_m=10_000)
    meridian = make_need(association, [category], point=Point(179.95, 10.0, srid=4326), radius_m=10_000)
    pole = make_need(association, [category], point=Point(45.0, 89.95, srid=4326), radius_m=10_000)

    def area(need) -> tuple[float, ...]:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT (area[1])[0], (area[1])[1], (area[0])[0], (area[0])[1] "
                f"FROM {NeedCategory._meta.db_table} WHERE need_id = %s",
                [need.pk],
            )
            return tuple(round(v, 4) for v in cursor.fetchone())

    # 10 km: 0.0901° of latitude on the polar radius, 0.1423° of longitude at 50.69° N.
    assert area(roubaix) == (3.0323, 50.6015, 3.3169, 50.7817)
    assert area(meridian) == (-180.0, 9.9099, 180.0, 10.0901)
    assert area(pole) == (-180.0, 89.8599, 180.0, 90.0)


def test_the_area_follows_every_change_of_the_need():
    """Radius, move, close and reopen: the generated column moves with the copy the trigger makes, and the
    offer at the edge is found or not accordingly."""
    association = make_org(OrganisationKind.ASSOCIATION)
    donor = make_org(OrganisationKind.COMPANY)
    category = _category("area-follow")
    actor = Actor.for_user(make_member(association))
    need = need_create(
        actor=actor,
        title="Chaises",
        categories=[category.id],
        location=Point(3.0, 50.0, srid=4326),
        radius_m=5000,
    )
    north = Point(3.0, 50.06, srid=4326)  # 6.7 km north of the need
    offer = Offer(organisation=donor, category=category, public_location=north)
    lineage = selectors.category_lineage(category=category)

    def covering() -> list[int]:
        return [row.need_id for row in selectors.needs_covering_offer(offer=offer, lineage=lineage)]

    def area_is_the_needs() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT bool_and(nc.area ~= matching_need_area(n.location, n.radius_m)) "
                f"FROM {NeedCategory._meta.db_table} nc JOIN {Need._meta.db_table} n ON n.id = nc.need_id "
                "WHERE nc.need_id = %s",
                [need.pk],
            )
            return cursor.fetchone()[0]

    assert covering() == [] and area_is_the_needs()
    need_update(actor=actor, need=need, radius_m=7000)
    assert covering() == [need.id] and area_is_the_needs()
    need_update(actor=actor, need=need, location=Point(3.0, 49.95, srid=4326))  # now 12 km away
    assert covering() == [] and area_is_the_needs()
    need_update(actor=actor, need=need, location=Point(3.0, 50.01, srid=4326), status=NeedStatus.CLOSED)
    assert covering() == [] and area_is_the_needs()
    need_update(actor=actor, need=need, status=NeedStatus.OPEN)
    assert covering() == [need.id] and area_is_the_needs()
    need_update(actor=actor, need=need, radius_m=1000)
    assert covering() == [] and area_is_the_needs()


@pytest.mark.django_db(transaction=True)
def test_covering_needs_is_an_index_only_scan_of_the_areas_per_category():
    """A few thousand needs from the benchmark's generator, vacuumed (outside a transaction, as
    autovacuum leaves the table) so that the planner has real statistics and the visibility map: one
    index-only scan of need_category_open_area per category of the lineage, nothing else read."""
    recipient, donor = bench_matching._organisations()
    root = _category("area-plan")
    leaves = [_category(f"area-plan-{k}", root) for k in range(4)]
    assert bench_matching._generate(recipient, 3000, [c.pk for c in [root, *leaves]]) == 3000
    lineage = selectors.category_lineage(category=leaves[0])
    assert list(lineage) == [root.pk, leaves[0].pk]
    params = {
        "point": "SRID=4326;POINT(3.1746 50.6916)",
        "now": timezone.now(),
        "organisation_id": donor.id,
        "category_ids": list(lineage),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(selectors._NO_JIT_NOR_PARALLEL)
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + selectors._COVERING_NEEDS_SQL, params)
        lines = [row[0].strip() for row in cursor.fetchall()]
    plan = "\n".join(lines)
    scan = next(i for i, line in enumerate(lines) if "need_category_open_area" in line)
    assert lines[scan].startswith("->  Index Only Scan using need_category_open_area"), plan
    assert lines[scan + 1].startswith("Index Cond: ((category_id = lineage.category_id) AND (area && "), plan
    assert "loops=2)" in lines[scan], plan  # once per category of the lineage
    assert "Heap Fetches: 0" in plan, plan
    assert "Seq Scan" not in plan and "Bitmap" not in plan and "matching_need " not in plan, plan
    offer = Offer(organisation=donor, category=leaves[0], public_location=Point(3.1746, 50.6916, srid=4326))
    covering = selectors.needs_covering_offer(offer=offer, lineage=lineage)
    assert covering == _previous(offer, lineage, params["now"])
    assert len(covering) > 100 and all(row.organisation_id == recipient.id for row in covering)
