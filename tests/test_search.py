import math
import random
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.gis.geos import Point
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from api.endpoints.search import OfferSearchHitOut, OfferSearchPropertiesOut
from claims.models import Claim, ClaimStatus
from exchange.models import Offer, OfferCondition, OfferMode, OfferPhoto, OfferStatus
from inventory.models import Category
from matching.models import SearchCell
from matching.search import (
    offers_near,
    offers_near_queryset,
)
from organisations.actors import Actor
from organisations.geo import GRID_LAT_DEG, GRID_LON_DEG, approximate_point, grid_cells_within_bound
from organisations.models import ApiKey, ApiKeyScope, MembershipRole, OrganisationKind
from organisations.tokens import hash_token

from .conftest import client_for, client_for_key, make_api_key, make_member, make_offer, make_org, make_site

pytestmark = pytest.mark.django_db

# PostGIS measures geography on the sphere of mean radius (2a + b) / 3 of WGS 84 when asked to.
EARTH_RADIUS_M = 6371008.7714150598
# Grid-cell centres (organisations.geo): a site placed exactly there is shown where it is.
CELL_LON = 3.1785  # (407 + ½) × 0.0078
CELL_LAT = 50.6925  # (10138 + ½) × 0.005
URL = "/api/v1/offers/search/"


def haversine_m(a: Point, b: Point) -> float:
    phi1, phi2 = math.radians(a.y), math.radians(b.y)
    dphi, dlambda = phi2 - phi1, math.radians(b.x - a.x)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def destination(origin: Point, distance_m: float, bearing_deg: float) -> Point:
    delta, theta = distance_m / EARTH_RADIUS_M, math.radians(bearing_deg)
    phi1, lambda1 = math.radians(origin.y), math.radians(origin.x)
    phi2 = math.asin(math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(theta))
    lambda2 = lambda1 + math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(phi1), math.cos(delta) - math.sin(phi1) * math.sin(phi2)
    )
    return Point(math.degrees(lambda2), math.degrees(phi2), srid=4326)


def search(client, headers=None, **params):
    return client.get(URL, {"lat": CELL_LAT, "lon": CELL_LON, **params}, headers=headers)


@pytest.fixture
def seeker():
    """An association member: sees approximate locations."""
    return make_member(make_org(OrganisationKind.ASSOCIATION), MembershipRole.MEMBER)


def offer_at(firm, lat: float, lon: float = CELL_LON, **extra) -> Offer:
    return make_offer(firm, site=make_site(firm, Point(lon, lat, srid=4326)), **extra)


def test_nearest_first_with_great_circle_distances(firm, seeker):
    # Due north of the query point, on grid-cell centres: distance = R × Δlatitude exactly.
    assert approximate_point(Point(CELL_LON, CELL_LAT + 0.005)).coords == (CELL_LON, 50.6975)
    far = offer_at(firm, CELL_LAT + 0.030)
    near = offer_at(firm, CELL_LAT + 0.005)
    middle = offer_at(firm, CELL_LAT - 0.015)
    offer_at(firm, CELL_LAT + 0.050)  # 5.56 km: outside a 5 km radius
    body = search(client_for(seeker), radius_km=5).json()
    assert body["count"] == 3
    assert [hit["id"] for hit in body["results"]] == [near.id, middle.id, far.id]
    # R × radians(0.005°) = 555.98 m, × 3 = 1667.93 m, × 6 = 3335.85 m
    assert [hit["distance_m"] for hit in body["results"]] == [556.0, 1667.9, 3335.9]
    first = body["results"][0]
    assert first["location"] == {"type": "Point", "coordinates": [CELL_LON, round(CELL_LAT + 0.005, 7)]}
    assert first["location_is_approximate"] is True
    assert first["organisation"] == {"id": firm.id, "name": "Menuiserie du Nord", "kind": "company"}
    assert first["category"]["key"] == "test-misc"
    assert first["quantity"] == "10.000"
    assert first["remaining_quantity"] == "10.000"
    assert first["mode"] == "donation"
    assert first["photo_count"] == 0


def test_equidistant_offers_are_ordered_by_id(firm, seeker):
    site = make_site(firm, Point(CELL_LON, CELL_LAT + 0.01, srid=4326))
    offers = [make_offer(firm, site=site) for _ in range(3)]
    body = search(client_for(seeker)).json()
    assert [hit["id"] for hit in body["results"]] == sorted(o.id for o in offers)
    assert {hit["distance_m"] for hit in body["results"]} == {1112.0}


def test_limit_keeps_the_nearest(firm, seeker):
    offers = [offer_at(firm, CELL_LAT + 0.005 * k) for k in range(1, 6)]
    body = search(client_for(seeker), limit=2).json()
    assert [hit["id"] for hit in body["results"]] == [offers[0].id, offers[1].id]


def test_approximate_location_is_stable_and_distance_is_measured_from_it(firm, seeker):
    exact = Point(3.1702, 50.6987, srid=4326)
    shown = approximate_point(exact)
    assert (shown.x, shown.y) == (3.1707, 50.6975)
    offer = make_offer(firm, site=make_site(firm, exact))
    client = client_for(seeker)
    for lat, lon in [(50.70, 3.18), (50.70, 3.18), (50.68, 3.15), (50.6975, 3.1707)]:
        (hit,) = client.get(URL, {"lat": lat, "lon": lon}).json()["results"]
        assert hit["id"] == offer.id
        assert hit["location"] == {"type": "Point", "coordinates": [3.1707, 50.6975]}
        assert hit["location_is_approximate"] is True
        assert hit["distance_m"] == round(haversine_m(Point(lon, lat), shown), 1)
    # Standing on the cell centre gives 0 whatever the exact site.
    assert hit["distance_m"] == 0.0


def test_owner_and_accepted_recipient_see_the_exact_location(firm, association):
    exact = Point(3.1702, 50.6987, srid=4326)
    offer = make_offer(firm, site=make_site(firm, exact))
    expected_m = round(haversine_m(Point(CELL_LON, CELL_LAT), exact), 1)
    exact_json = {"type": "Point", "coordinates": [3.1702, 50.6987]}

    raw = "bk_test_owner_key_0123456789"
    ApiKey.objects.create(
        organisation=firm, name="ERP", prefix="bk_own", key_hash=hash_token(raw), scopes=[ApiKeyScope.READ]
    )
    recipient = make_member(association, MembershipRole.MEMBER)
    Claim.objects.create(
        offer=offer,
        organisation=association,
        quantity=Decimal("2"),
        status=ClaimStatus.ACCEPTED,
        location_revealed_at=timezone.now(),
        pickup_deadline=timezone.now() + timedelta(days=2),
    )
    for client in (
        client_for(make_member(firm, MembershipRole.MEMBER)),
        client_for_key(raw),
        client_for(recipient),
    ):
        (hit,) = search(client).json()["results"]
        assert hit["location"] == exact_json
        assert hit["location_is_approximate"] is False
        assert hit["distance_m"] == expected_m

    # A requested (not accepted) claim reveals nothing.
    other = make_org(OrganisationKind.ASSOCIATION)
    Claim.objects.create(offer=offer, organisation=other, quantity=Decimal("1"))
    (hit,) = search(client_for(make_member(other))).json()["results"]
    assert hit["location"] == {"type": "Point", "coordinates": [3.1707, 50.6975]}
    assert hit["location_is_approximate"] is True
    assert hit["distance_m"] == round(haversine_m(Point(CELL_LON, CELL_LAT), Point(3.1707, 50.6975)), 1)


def test_only_live_published_offers_with_something_left(firm, seeker):
    now = timezone.now()
    live = offer_at(firm, CELL_LAT + 0.005)
    endless = offer_at(firm, CELL_LAT + 0.010, available_until=None)
    offer_at(firm, CELL_LAT, status=OfferStatus.DRAFT)
    offer_at(firm, CELL_LAT, status=OfferStatus.WITHDRAWN)
    offer_at(firm, CELL_LAT, status=OfferStatus.EXPIRED)
    offer_at(firm, CELL_LAT, status=OfferStatus.EXHAUSTED, remaining_quantity=Decimal("0"))
    offer_at(firm, CELL_LAT, remaining_quantity=Decimal("0"))  # published but nothing left
    offer_at(firm, CELL_LAT, available_from=now - timedelta(days=9), available_until=now - timedelta(hours=1))
    later = offer_at(
        firm, CELL_LAT, available_from=now + timedelta(days=3), available_until=now + timedelta(days=5)
    )
    client = client_for(seeker)
    assert [h["id"] for h in search(client).json()["results"]] == [live.id, endless.id]
    on_day = (timezone.localdate() + timedelta(days=4)).isoformat()
    assert [h["id"] for h in search(client, available_on=on_day).json()["results"]] == [
        later.id,
        live.id,
        endless.id,
    ]
    after = (timezone.localdate() + timedelta(days=6)).isoformat()
    assert [h["id"] for h in search(client, available_on=after).json()["results"]] == [live.id, endless.id]


def test_category_includes_descendants_only(firm, seeker):
    furniture = Category.objects.create(key="furniture", name_fr="Mobilier", name_en="Furniture")
    shelving = Category.objects.create(
        key="shelving", parent=furniture, name_fr="Étagères", name_en="Shelving"
    )
    lookalike = Category.objects.create(key="furniture-parts", name_fr="Pièces", name_en="Parts")
    in_root = offer_at(firm, CELL_LAT + 0.005, category=furniture)
    in_child = offer_at(firm, CELL_LAT + 0.010, category=shelving)
    offer_at(firm, CELL_LAT, category=lookalike)
    client = client_for(seeker)
    assert [h["id"] for h in search(client, category=furniture.id).json()["results"]] == [
        in_root.id,
        in_child.id,
    ]
    body = search(client, category=shelving.id).json()
    assert [h["id"] for h in body["results"]] == [in_child.id]
    assert body["results"][0]["category"] == {"id": shelving.id, "key": "shelving", "name": "Étagères"}


def test_full_text_is_french_aware(firm, seeker):
    shelves = offer_at(
        firm, CELL_LAT + 0.005, title="Étagères métalliques", description="Rayonnages d'atelier"
    )
    chairs = offer_at(firm, CELL_LAT + 0.010, title="Chaise en bois", description="Solide")
    client = client_for(seeker)
    for q, expected in [
        ("etagere", [shelves.id]),
        ("ÉTAGÈRE", [shelves.id]),
        ("chaises", [chairs.id]),
        ("rayonnage atelier", [shelves.id]),
        ("bois -chaise", []),
        ("", [shelves.id, chairs.id]),
    ]:
        assert [h["id"] for h in search(client, q=q).json()["results"]] == expected, q


def test_quantity_and_mode_filters(firm, seeker):
    small = offer_at(firm, CELL_LAT + 0.005, quantity=2)
    big = offer_at(firm, CELL_LAT + 0.010, quantity=50)
    sale = offer_at(firm, CELL_LAT + 0.015, quantity=50, mode=OfferMode.SALE, price_eur=Decimal("12.50"))
    client = client_for(seeker)
    assert [h["id"] for h in search(client, min_quantity="2.5").json()["results"]] == [big.id, sale.id]
    assert [h["id"] for h in search(client, min_quantity="2").json()["results"]] == [
        small.id,
        big.id,
        sale.id,
    ]
    body = search(client, mode="sale").json()
    assert [h["id"] for h in body["results"]] == [sale.id]
    assert body["results"][0]["price_eur"] == "12.50"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"radius_km": "100.1"}, "radius_km"),
        ({"radius_km": "0"}, "radius_km"),
        ({"radius_km": "-3"}, "radius_km"),
        ({"lat": "90.5"}, "lat"),
        ({"lat": "-91"}, "lat"),
        ({"lon": "180.01"}, "lon"),
        ({"lon": "nan"}, "lon"),
        ({"lat": ""}, "lat"),
        ({"category": "furniture"}, "category"),
        ({"min_quantity": "-1"}, "min_quantity"),
        ({"min_quantity": "0"}, "min_quantity"),
        ({"available_on": "31/12/2026"}, "available_on"),
        ({"mode": "barter"}, "mode"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
    ],
)
def test_bad_parameters_are_a_400_problem(seeker, params, field):
    response = search(client_for(seeker), **params)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_missing_point_is_a_400_problem(seeker):
    response = client_for(seeker).get(URL, {"radius_km": 5})
    assert response.status_code == 400
    assert sorted(e["field"] for e in response.json()["errors"]) == ["lat", "lon"]


def test_anonymous_is_refused(anon):
    response = anon.get(URL, {"lat": CELL_LAT, "lon": CELL_LON})
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


def test_geojson_feature_collection(firm, seeker):
    near = offer_at(firm, CELL_LAT + 0.005, title="Palettes")
    far = offer_at(firm, CELL_LAT + 0.010)
    response = search(client_for(seeker), headers={"Accept": "application/geo+json"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/geo+json"
    assert "Accept" in response["Vary"]
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert [f["id"] for f in body["features"]] == [near.id, far.id]
    feature = body["features"][0]
    assert feature["type"] == "Feature"
    assert feature["geometry"] == {"type": "Point", "coordinates": [CELL_LON, round(CELL_LAT + 0.005, 7)]}
    assert feature["properties"]["title"] == "Palettes"
    assert feature["properties"]["distance_m"] == 556.0
    assert feature["properties"]["location_is_approximate"] is True
    assert "location" not in feature["properties"]
    by_parameter = search(client_for(seeker), format="geojson")
    assert by_parameter["Content-Type"] == "application/geo+json"
    assert by_parameter.json() == body


def test_json_is_the_default_and_other_types_are_refused(firm, seeker):
    offer_at(firm, CELL_LAT)
    client = client_for(seeker)
    assert search(client, headers={"Accept": "*/*"})["Content-Type"] == "application/json"
    response = search(client, headers={"Accept": "text/csv"})
    assert response.status_code == 406
    assert response["Content-Type"] == "application/problem+json"


def test_written_out_representation_equals_the_declared_fields(firm, seeker):
    furniture = Category.objects.create(key="furniture", name_fr="Mobilier", name_en="Furniture")
    offer_at(
        firm,
        CELL_LAT + 0.005,
        category=furniture,
        quantity="12.5",
        unit="kg",
        mass_per_unit_kg=Decimal("1"),
        mode=OfferMode.SALE,
        price_eur=Decimal("3"),
        available_until=timezone.now() + timedelta(days=3),
    )
    offer_at(firm, CELL_LAT + 0.010)
    hits = offers_near(actor=Actor.for_user(seeker), point=Point(CELL_LON, CELL_LAT), radius_m=5000)
    assert len(hits) == 2
    for serializer in (OfferSearchPropertiesOut(), OfferSearchHitOut()):
        for hit in hits:
            assert serializer.to_representation(hit) == serializers.Serializer.to_representation(
                serializer, hit
            )


def test_one_query_for_the_hits_whatever_their_number(firm, seeker, django_assert_num_queries):
    client = client_for(seeker)
    furniture = Category.objects.create(key="furniture", name_fr="Mobilier", name_en="Furniture")
    for k in range(30):
        offer = offer_at(firm, CELL_LAT + 0.001 * k, category=furniture)
        OfferPhoto.objects.create(
            offer=offer,
            image=f"offers/{offer.id}/a.jpg",
            width=4,
            height=3,
            content_type="image/jpeg",
            size_bytes=1,
        )
    # The person with their memberships (JWT; the actor reads them), the category path, the hits.
    with django_assert_num_queries(3):
        body = search(client, category=furniture.id, limit=200).json()
    assert body["count"] == 30
    assert {h["photo_count"] for h in body["results"]} == {1}


def _copies_of(template: Offer, count: int, *, lon: tuple[float, float], lat: tuple[float, float], **columns):
    """`count` copies of `template` in one INSERT … SELECT (the triggers run once, set-based), at random
    exact points in the lon × lat box, each shown at its grid cell's centre; `columns` are SQL over the
    copy's number `g` and the template `t` (e.g. `status`)."""
    names = [f.column for f in Offer._meta.concrete_fields if f.column != "id"]
    generated = {
        "title": "'Lot ' || g",
        "location": "ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography",
        "public_location": (
            f"ST_SetSRID(ST_MakePoint((floor(lon / {GRID_LON_DEG}) + 0.5) * {GRID_LON_DEG},"
            f" (floor(lat / {GRID_LAT_DEG}) + 0.5) * {GRID_LAT_DEG}), 4326)::geography"
        ),
        **columns,
    }
    select = ", ".join(generated.get(name, f"t.{name}") for name in names)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO exchange_offer ({', '.join(names)}) SELECT {select} FROM exchange_offer t, "
            "LATERAL (SELECT g, %s + random() * %s AS lon, %s + random() * %s AS lat "
            "FROM generate_series(1, %s) g) p WHERE t.id = %s",
            [lon[0], lon[1] - lon[0], lat[0], lat[1] - lat[0], count, template.id],
        )
        cursor.execute("ANALYZE exchange_offer")
        cursor.execute("ANALYZE matching_search_cell")


def test_plan_walks_the_cells_then_each_cells_offers_and_stops_at_the_limit(firm):
    """20,000 published offers (plus drafts) around Lille: the selector's exact SQL answers the radius and
    the order from the cells' GiST index (nearest first), reads each cell's offers from the
    offer_live_cell btree, and stops at the limit: no sort, no sequential scan of the offers."""
    _copies_of(
        make_offer(firm),
        22_000,
        lon=(2.6, 3.6),
        lat=(50.3, 50.9),
        status="CASE WHEN g %% 10 = 0 THEN 'draft' ELSE 'published' END",
    )
    with connection.cursor() as cursor:
        assert Offer.objects.filter(status=OfferStatus.PUBLISHED).count() == 19801

        seeker = Actor.for_user(make_member(make_org(OrganisationKind.ASSOCIATION)))
        qs = offers_near_queryset(actor=seeker, point=Point(3.1746, 50.6916, srid=4326), radius_m=5000)
        sql, params = qs.query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    walk = plan.split("SubPlan")[0]  # the hits' own columns (photos, who sees the site) aside
    assert "Seq Scan" not in walk, plan
    # The cells come from their GiST index nearest first (`<->`), at most as many as the grid has within
    # the radius (a Limit right above the walk), then those within the radius.
    assert "Index Scan using matching_search_cell_point" in walk, plan
    assert "Order By: (point <-> " in walk, plan
    lines = [line.strip() for line in walk.splitlines()]
    cells_at = next(k for k, line in enumerate(lines) if "matching_search_cell_point" in line)
    assert lines[cells_at - 1].startswith("->  Limit"), plan
    assert "Filter: _st_dwithin(nearest.point" in walk, plan
    # Each cell's offers from the btree, in id order, at most `limit`; the whole walk under one Limit.
    assert "Index Scan using offer_live_cell on exchange_offer" in walk, plan
    assert "Index Cond: ((st_x((public_location)::geometry) = nearest.x)" in walk, plan
    loop_at = next(k for k, line in enumerate(lines) if "offer_live_cell" in line) - 1
    assert lines[loop_at].startswith("->  Limit")
    walk_at = max(k for k in range(loop_at) if lines[k].startswith("->  Nested Loop"))
    assert lines[walk_at - 1].startswith("->  Limit"), plan
    assert not any("Sort Key" in line and "exchange_offer" in line for line in lines), plan


# Property: the search equals a brute-force great-circle filter and sort done in Python.
# The selector measures on the sphere (use_spheroid => false) for the radius, the order (`<->` on
# geography is spherical) and distance_m alike, so a haversine on the same sphere is an exact oracle up
# to floating-point noise. Hence no 0.5 % band around the radius (which a spheroid/sphere mix would need),
# only a millimetre: examples with a point within 1 mm of the radius, or two different distances within
# 1 mm of each other, are skipped. To probe the boundary, the radius is drawn relative to one offer's
# distance (within ±0.3 %, where sphere and spheroid disagree); sites hold up to three offers (exact
# ties), at random exact points whose public point is the grid-cell centre the search must measure from.
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    centre_lon=st.floats(-1.5, 7.5),
    centre_lat=st.floats(43.0, 50.9),
    scale_m=st.floats(300, 30_000),
    placements=st.lists(
        st.tuples(st.floats(0, 1.3), st.floats(0, 360, exclude_max=True), st.integers(1, 3)),
        min_size=1,
        max_size=25,
    ),
    boundary=st.tuples(st.integers(0, 24), st.floats(1e-5, 0.003), st.sampled_from([-1, 1])),
    limit=st.integers(1, 50),
)
def test_search_equals_brute_force_great_circle(
    firm, centre_lon, centre_lat, scale_m, placements, boundary, limit
):
    centre = Point(centre_lon, centre_lat, srid=4326)
    seeker = Actor.for_user(make_member(make_org(OrganisationKind.ASSOCIATION)))
    with transaction.atomic():
        site = make_site(firm, centre)
        template = make_offer(firm, site=site, status=OfferStatus.DRAFT)
        exact_points = [
            destination(centre, fraction * scale_m, bearing)
            for fraction, bearing, copies in placements
            for _ in range(copies)
        ]
        offers = Offer.objects.bulk_create(
            Offer(
                organisation=firm,
                site=site,
                category=template.category,
                title=f"Lot {k}",
                quantity=Decimal(1),
                remaining_quantity=Decimal(1),
                unit="piece",
                condition=OfferCondition.GOOD,
                available_from=template.available_from,
                status=OfferStatus.PUBLISHED,
                location=exact,
                public_location=approximate_point(exact),
            )
            for k, exact in enumerate(exact_points)
        )
        shown = {offer.id: offer.public_location.coords for offer in offers}
        distance = {offer.id: haversine_m(centre, offer.public_location) for offer in offers}
        pick, epsilon, sign = boundary
        radius_m = distance[offers[pick % len(offers)].id] * (1 + sign * epsilon)
        assume(10 < radius_m <= 100_000)
        distinct = sorted(set(distance.values()))
        assume(all(abs(d - radius_m) > 1e-3 for d in distinct))
        assume(all(b - a > 1e-3 for a, b in zip(distinct, distinct[1:], strict=False)))
        expected = sorted((d, offer_id) for offer_id, d in distance.items() if d <= radius_m)
        if len(expected) > limit:
            # Equidistant offers across the cut: which of them the index returns first is unspecified.
            assume(expected[limit][0] != expected[limit - 1][0])

        hits = offers_near(actor=seeker, point=centre, radius_m=radius_m, limit=limit)

        assert [h.id for h in hits] == [offer_id for _, offer_id in expected[:limit]]
        for hit, (expected_m, _) in zip(hits, expected, strict=False):
            assert hit.distance_m == pytest.approx(expected_m, abs=1e-6)
            assert hit.location_is_approximate
            assert (hit.lon, hit.lat) == pytest.approx(shown[hit.id], abs=1e-9)
        transaction.set_rollback(True)


# The cell walk against the query it replaced: the offers' own GiST index walked by `<->` (the nearest
# `limit` within the radius), on a dense, tie-heavy data set (~20 offers per cell) at random points, radii,
# limits and filters. Where equidistant offers straddle the cut, which of them the old walk returned was
# unspecified: the distances must agree everywhere, and the rows wherever they are not tied at the cut.
def _knn_reference(*, actor: Actor, point: Point, radius_m: float, limit: int, **filters) -> list[tuple]:
    """The previous search (benchmarks/floors.py, which `make bench` also times): (distance, id)."""
    from benchmarks.floors import previous_search

    rows = previous_search(actor=actor, point=point, radius_m=radius_m, limit=limit, **filters)
    return sorted((row.public_distance_m, row.id) for row in rows)


def test_the_cell_walk_returns_what_the_offers_knn_walk_returned(firm):
    wood = Category.objects.create(key="wood", name_fr="Bois", name_en="Wood")
    _copies_of(
        make_offer(firm),
        8_000,
        lon=(3.10, 3.25),
        lat=(50.65, 50.73),
        status="CASE WHEN g %% 7 = 0 THEN 'draft' ELSE 'published' END",
        mode="CASE WHEN g %% 3 = 0 THEN 'loan' ELSE 'donation' END",
        category_id=f"CASE WHEN g %% 4 = 0 THEN {wood.id} ELSE t.category_id END",
        remaining_quantity="CASE WHEN g %% 11 = 0 THEN 0 ELSE t.remaining_quantity END",
        reserved_quantity="CASE WHEN g %% 11 = 0 THEN t.remaining_quantity ELSE 0 END",
    )
    seeker = Actor.for_user(make_member(make_org(OrganisationKind.ASSOCIATION)))
    rng = random.Random(12)
    compared = 0
    for _ in range(60):
        point = Point(3.08 + rng.random() * 0.2, 50.63 + rng.random() * 0.12, srid=4326)
        radius_m, limit = rng.choice([300, 800, 2_000, 5_000, 20_000]), rng.choice([1, 7, 50, 200])
        filters = rng.choice([{}, {"category_id": wood.id}, {"mode": "loan"}, {"min_quantity": Decimal(1)}])
        expected = _knn_reference(actor=seeker, point=point, radius_m=radius_m, limit=limit, **filters)
        hits = offers_near(actor=seeker, point=point, radius_m=radius_m, limit=limit, **filters)
        got = [(hit.distance_m, hit.id) for hit in hits]
        assert [round(d, 6) for d, _ in got] == [round(d, 6) for d, _ in expected]
        cut = expected[-1][0] if len(expected) == limit else math.inf
        assert {i for d, i in got if d < cut - 1e-6} == {i for d, i in expected if d < cut - 1e-6}
        assert got == sorted(got)  # nearest first, ties by id
        compared += len(expected)
    assert compared > 1_000  # the comparison saw many rows, not empty answers


def test_the_cells_follow_every_write_of_the_offers(firm):
    """The trigger adds the cell of every offer written as published, by any statement: one INSERT, a
    bulk insert, an UPDATE that publishes or moves offers; never twice, never for a draft."""
    lille, roubaix = Point(3.0630, 50.6300, srid=4326), Point(CELL_LON, CELL_LAT, srid=4326)
    draft = make_offer(firm, site=make_site(firm, lille), status=OfferStatus.DRAFT)
    assert not SearchCell.objects.exists()
    make_offer(firm, site=make_site(firm, roubaix))
    make_offer(firm, site=make_site(firm, roubaix))
    assert list(SearchCell.objects.values_list("x", "y")) == [roubaix.coords]
    Offer.objects.filter(pk=draft.pk).update(status=OfferStatus.PUBLISHED)
    cells = {cell.coords for cell in SearchCell.objects.values_list("point", flat=True)}
    assert cells == {roubaix.coords, approximate_point(lille).coords}
    assert set(SearchCell.objects.values_list("x", "y")) == cells
    assert (
        search(client_for(make_member(make_org(OrganisationKind.ASSOCIATION))), radius_km=20).json()["count"]
        == 3
    )


@pytest.mark.django_db(transaction=True)
def test_parallel_writers_publishing_into_new_cells_never_wait_on_each_other_nor_lose_a_cell(firm):
    """Eight transactions at once, each publishing offers into the same three new cells (in different
    orders) and one cell of its own: all commit, each cell is there once, and search finds every offer."""
    shared = [Point(CELL_LON + 0.0078 * k, CELL_LAT, srid=4326) for k in range(3)]
    sites = [make_site(firm, point) for point in shared]
    own = [make_site(firm, Point(CELL_LON, CELL_LAT + 0.005 * (k + 1), srid=4326)) for k in range(8)]
    template = make_offer(firm, site=sites[0], status=OfferStatus.DRAFT)
    barrier = threading.Barrier(8)
    failures: list[BaseException] = []

    def publish(k: int) -> None:
        try:
            order = sites[k % 3 :] + sites[: k % 3]
            with transaction.atomic():
                barrier.wait(timeout=30)
                Offer.objects.bulk_create(
                    Offer(
                        organisation=firm,
                        site=site,
                        category=template.category,
                        title=f"Lot {k}",
                        quantity=Decimal(1),
                        remaining_quantity=Decimal(1),
                        unit="piece",
                        condition=OfferCondition.GOOD,
                        available_from=template.available_from,
                        status=OfferStatus.PUBLISHED,
                        location=site.location,
                        public_location=site.public_location,
                    )
                    for site in [*order, own[k]]
                )
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=publish, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    cells = list(SearchCell.objects.values_list("x", "y"))
    assert len(cells) == len(set(cells)) == 11
    assert set(cells) == {site.public_location.coords for site in [*sites, *own]}
    seeker = Actor.for_user(make_member(make_org(OrganisationKind.ASSOCIATION)))
    hits = offers_near(actor=seeker, point=shared[0], radius_m=10_000, limit=200)
    assert len(hits) == 8 * 4


def test_the_benchmarks_floor_finds_the_offers_the_search_finds(firm):
    """`make bench` compares the search with a two-level floor (benchmarks/floors.py): on the same data,
    the floor must answer the same question, or the ratio means nothing."""
    from benchmarks.floors import floor_build, floor_sql

    for k in range(12):
        for _ in range(3):
            offer_at(firm, CELL_LAT + 0.004 * k, CELL_LON + 0.003 * (k % 4))
    seeker = Actor.for_user(make_member(make_org(OrganisationKind.ASSOCIATION)))
    points = Offer.objects.filter(status=OfferStatus.PUBLISHED).values_list("public_location", flat=True)
    assert floor_build() == len({point.coords for point in points}) > 5
    for radius_m, limit in ((1_000, 5), (3_000, 50), (20_000, 7)):
        sql, params = floor_sql(Point(CELL_LON, CELL_LAT, srid=4326), radius_m=radius_m, limit=limit)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            floor_ids = [row[0] for row in cursor.fetchall()]
        hits = offers_near(
            actor=seeker, point=Point(CELL_LON, CELL_LAT, srid=4326), radius_m=radius_m, limit=limit
        )
        assert sorted(floor_ids) == sorted(hit.id for hit in hits)
        assert len(floor_ids) == min(limit, len(hits)) > 0


@settings(max_examples=80, deadline=None)
@given(lon=st.floats(-179, 179), lat=st.floats(-80, 80), radius_m=st.floats(10, 30_000))
def test_the_cell_walk_bound_holds_every_cell_within_the_radius(lon, lat, radius_m):
    """The search walks at most `grid_cells_within_bound` cells: never fewer than the grid has within
    the radius (counted here by brute force over the disc's bounding box, on the sphere)."""
    point = Point(lon, lat, srid=4326)
    bound = grid_cells_within_bound(point, radius_m)
    assume(bound is not None)
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    dlon = dlat / math.cos(math.radians(min(abs(lat) + dlat, 89.9)))
    rows = range(math.floor((lat - dlat) / GRID_LAT_DEG) - 1, math.floor((lat + dlat) / GRID_LAT_DEG) + 2)
    columns = range(math.floor((lon - dlon) / GRID_LON_DEG) - 1, math.floor((lon + dlon) / GRID_LON_DEG) + 2)
    assume(len(rows) * len(columns) < 200_000)
    within = sum(
        1
        for row in rows
        for column in columns
        if haversine_m(point, Point((column + 0.5) * GRID_LON_DEG, (row + 0.5) * GRID_LAT_DEG)) <= radius_m
    )
    assert within <= bound


# --- the statement compiled once per shape -------------------------------------------------------------
def test_the_statement_compiled_once_per_shape_is_what_a_fresh_compile_gives(firm, seeker, operator_user):
    """offers_near compiles its query once per (organisations, filters, category path, bounded walk) with
    stand-ins for the place, then puts each search's place in their positions: for every kind of actor,
    filter and place, that is exactly the SQL and the parameters the ORM compiles afresh."""
    from matching import search as module

    tree = Category.objects.create(key="tree_a", name_fr="A", name_en="A")
    Category.objects.create(key="tree_b", name_fr="B", name_en="B", parent=tree)
    with_two = make_member(firm)
    make_org(OrganisationKind.ASSOCIATION).memberships.create(user=with_two)
    actors = [Actor.for_user(u) for u in (seeker, make_member(firm), with_two, operator_user)]
    actors.append(Actor.for_api_key(make_api_key(firm)[0]))
    filters = [
        module.SearchFilters(),
        module.SearchFilters(category_id=tree.id),
        module.SearchFilters(q="chaise bois"),
        module.SearchFilters(min_quantity=Decimal("2.5")),
        module.SearchFilters(available_on=timezone.localdate() + timedelta(days=3)),
        module.SearchFilters(mode=OfferMode.LOAN),
        module.SearchFilters(tree.id, "table", Decimal("1"), timezone.localdate(), OfferMode.DONATION),
    ]
    rng = random.Random(12)
    module.STATEMENTS.clear()
    for actor in actors:
        for shape in filters:
            path = tree.path if shape.category_id else None
            for lat in (50.69, -33.9, 88.99, 89.5):  # 89.5: the walk is unbounded near the pole
                point = Point(rng.uniform(-180, 180), lat + rng.uniform(-0.01, 0.01), srid=4326)
                place = module._place(
                    point,
                    rng.choice([1.0, 550.5, 5000, 100_000]),
                    rng.randint(1, 200),
                    now=timezone.now() - timedelta(seconds=rng.randint(0, 10**6)),
                )
                fresh = module._hits(actor=actor, filters=shape, place=place, category_path=path)
                sql, params = fresh.query.sql_with_params()
                assert module._statement(actor=actor, filters=shape, place=place) == (sql, list(params))
    # Every shape was compiled once and then bound, never compiled again on the fallback path.
    shapes = module.STATEMENTS.shapes()
    assert len(shapes) == len({frozenset(a.organisation_ids) for a in actors}) * len(filters) * 2
    assert None not in shapes.values()


def test_a_moved_category_is_searched_by_its_new_place_in_the_tree(firm, seeker):
    """The compiled statement holds the category's path: a category moved under another parent after a
    search must not keep the old subtree's offers, and one deleted since is a 404."""
    tools = Category.objects.create(key="tools", name_fr="Outils", name_en="Tools")
    garden = Category.objects.create(key="garden", name_fr="Jardin", name_en="Garden")
    spade = Category.objects.create(key="spade", name_fr="Bêche", name_en="Spade", parent=tools)
    offer_at(firm, CELL_LAT, category=spade)
    client = client_for(seeker)
    assert search(client, category=tools.id).json()["count"] == 1
    spade.parent = garden
    spade.save()
    assert Category.objects.get(pk=spade.pk).path == "garden/spade"
    assert search(client, category=tools.id).json()["count"] == 0
    assert search(client, category=garden.id).json()["count"] == 1
    Offer.objects.all().delete()
    tools_id = tools.id
    tools.delete()
    assert search(client, category=tools_id).status_code == 404


def test_hits_read_from_the_cursor_are_what_the_orm_reads(firm, seeker):
    """offers_near reads the hit query's rows from the cursor, not through the ORM's row conversion: the
    same values of the same types, for approximate and exact locations, photos and every plain field."""
    from exchange.shape import OFFER_FIELDS
    from matching.search import HitCategory, HitOrganisation

    chairs = offer_at(
        firm, CELL_LAT, mass_per_unit_kg=Decimal("4.250"), mode=OfferMode.SALE, price_eur=Decimal("12.50")
    )
    offer_at(firm, CELL_LAT + 0.004, available_until=timezone.now() + timedelta(days=3), mode=OfferMode.LOAN)
    OfferPhoto.objects.create(
        offer=chairs, image="offers/a.jpg", width=4, height=3, content_type="image/jpeg", size_bytes=1
    )
    point = Point(CELL_LON, CELL_LAT, srid=4326)
    for actor in (Actor.for_user(seeker), Actor.for_user(make_member(firm))):
        rows = {row.id: row for row in offers_near_queryset(actor=actor, point=point, radius_m=5000)}
        hits = offers_near(actor=actor, point=point, radius_m=5000)
        assert len(hits) == len(rows) == 2
        for hit in hits:
            row = rows[hit.id]
            expected = {name: getattr(row, name) for name in OFFER_FIELDS}
            assert dict(hit.fields) == expected
            assert {name: type(value) for name, value in hit.fields.items()} == {
                name: type(value) for name, value in expected.items()
            }
            assert hit.organisation == HitOrganisation(
                row.organisation_id, row.organisation__name, row.organisation__kind
            )
            assert hit.category == HitCategory(row.category_id, row.category__key, row.category__name_fr)
            exact = row.exact_visible
            assert hit.location_is_approximate is (not exact)
            assert (hit.lon, hit.lat) == (
                (row.exact_lon, row.exact_lat) if exact else (row.public_lon, row.public_lat)
            )
            assert hit.distance_m == (row.exact_distance_m if exact else row.public_distance_m)
            assert hit.photo_count == row.photo_count == (1 if hit.id == chairs.id else 0)


def test_a_filter_that_equals_a_stand_in_is_searched_as_it_is(firm, seeker):
    """A caller's own value equal to one of the statement's stand-ins (here the text searched) is told
    apart by the second compile: the search compiles afresh rather than bind the point in its place."""
    from matching import search as module

    offer_at(firm, CELL_LAT, title=module._STAND_IN.origin)
    actor = Actor.for_user(seeker)
    point = Point(CELL_LON, CELL_LAT, srid=4326)
    module.STATEMENTS.clear()
    shape = module.SearchFilters(q=module._STAND_IN.origin)
    place = module._place(point, 5000, 50)
    fresh = module._hits(actor=actor, filters=shape, place=place).query.sql_with_params()
    assert module._statement(actor=actor, filters=shape, place=place) == (fresh[0], list(fresh[1]))
    assert list(module.STATEMENTS.shapes().values()) == [None]
    assert len(offers_near(actor=actor, point=point, radius_m=5000, q=module._STAND_IN.origin)) == 1
