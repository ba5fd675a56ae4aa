"""Ranked offers for a need, recorded matches, and alerts through the outbox (eager Celery)."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.contrib.gis.geos import Point
from django.core import mail
from django.db import connection
from django.utils import timezone

from core.events import event_record
from core.models import EventConsumption
from exchange import services as offer_services
from exchange.models import OfferStatus
from inventory.models import Category
from matching import selectors, tasks
from matching.models import Match, MatchAlertMode, MatchAlertPreference, NeedCategory, NeedStatus
from matching.services import matches_record_for_offer, need_create, need_update
from organisations.actors import Actor
from organisations.geo import GRID_LAT_DEG, GRID_LON_DEG
from organisations.models import MembershipRole, OrganisationKind

from .conftest import client_for, make_member, make_need, make_offer, make_org, make_site, make_user

pytestmark = pytest.mark.django_db

# Points at the centre of a grid cell are their own public (approximate) point, so distances are known:
# one cell north is 0.005° of latitude, about 556 m here.
LON_CELL, LAT_CELL = 407, 10138  # Roubaix
CELL_M = 556


def cell(north: int = 0, east: int = 0) -> Point:
    return Point(
        round((LON_CELL + east + 0.5) * GRID_LON_DEG, 6),
        round((LAT_CELL + north + 0.5) * GRID_LAT_DEG, 6),
        srid=4326,
    )


def _category(
    key: str, parent: Category | None = None, unit: str = "piece", name_fr: str = "", name_en: str = ""
):
    return Category.objects.create(
        key=key, parent=parent, name_fr=name_fr or key, name_en=name_en or key, default_unit=unit
    )


@pytest.fixture
def tree() -> SimpleNamespace:
    furniture = _category("t-furniture", name_fr="Mobilier", name_en="Furniture")
    office = _category("t-office", furniture, name_fr="Mobilier de bureau", name_en="Office furniture")
    chair = _category("t-chair", office, name_fr="Chaise de bureau", name_en="Office chair")
    sofa = _category("t-sofa", furniture)
    wood = _category("t-wood", unit="kg")
    return SimpleNamespace(furniture=furniture, office=office, chair=chair, sofa=sofa, wood=wood)


def _offer_at(firm, north: int, category, **extra):
    return make_offer(firm, site=make_site(firm, cell(north)), category=category, **extra)


# Ranked live offers for a need ---------------------------------------------------------------------


def test_need_matches_are_ranked_by_score_with_their_parts(association, firm, tree):
    need = make_need(association, [tree.office], point=cell(), radius_m=5000)
    now = timezone.now()
    mid_exact = _offer_at(firm, 3, tree.office)
    urgent_child = _offer_at(firm, 4, tree.chair, available_until=now + dt.timedelta(days=1))
    near_child = _offer_at(firm, 2, tree.chair)
    # None of these may appear:
    _offer_at(firm, 1, tree.sofa)  # a sibling category, not below the need's
    _offer_at(firm, 10, tree.office)  # 5.6 km: outside the radius
    _offer_at(association, 0, tree.office)  # the need's own organisation
    _offer_at(firm, 1, tree.office, status=OfferStatus.DRAFT)
    _offer_at(firm, 1, tree.office, status=OfferStatus.WITHDRAWN)
    _offer_at(firm, 1, tree.office, remaining_quantity=Decimal("0"))
    _offer_at(
        firm,
        1,
        tree.office,
        available_from=now - dt.timedelta(days=2),
        available_until=now - dt.timedelta(hours=1),
    )

    client = client_for(make_member(association))
    response = client.get(f"/api/v1/needs/{need.id}/matches/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 3
    assert [r["offer"]["id"] for r in body["results"]] == [mid_exact.id, urgent_child.id, near_child.id]
    first, second, third = body["results"]
    for result, cells in ((first, 3), (second, 4), (third, 2)):
        assert abs(result["distance_m"] - cells * CELL_M) < 5
        assert result["parts"]["distance"] == pytest.approx(1 - result["distance_m"] / 5000, abs=1e-4)
        assert result["offer"]["location"]["coordinates"] == [cell(cells).x, cell(cells).y]
    assert {k: v for k, v in first["parts"].items() if k != "distance"} == {
        "category": 1.0,
        "quantity": 0.5,
        "urgency": 0.0,
        "freshness": 1.0,
    }
    assert {k: v for k, v in second["parts"].items() if k != "distance"} == {
        "category": 0.5,
        "quantity": 0.5,
        "urgency": pytest.approx(0.9286, abs=1e-4),
        "freshness": 1.0,
    }
    assert third["parts"]["category"] == 0.5 and third["parts"]["urgency"] == 0.0
    assert first["score"] == pytest.approx(
        0.35 * first["parts"]["distance"] + 0.25 + 0.15 * 0.5 + 0.10, abs=1e-4
    )
    assert first["score"] > second["score"] > third["score"]
    assert first["offer"]["category"] == {
        "id": tree.office.id,
        "key": "t-office",
        "path": "t-furniture/t-office",
        "name": "Mobilier de bureau",
    }
    assert first["offer"]["organisation"] == {"id": firm.id, "name": firm.name}

    limited = client.get(f"/api/v1/needs/{need.id}/matches/?limit=1").json()
    assert [r["offer"]["id"] for r in limited["results"]] == [mid_exact.id]
    assert client.get(f"/api/v1/needs/{need.id}/matches/?limit=0").status_code == 400
    assert client.get(f"/api/v1/needs/{need.id}/matches/?limit=101").status_code == 400


def test_quantity_wanted_ranks_the_lot_that_covers_it_first(association, firm, tree):
    need = make_need(
        association, [tree.office], point=cell(), radius_m=5000, quantity_wanted=Decimal("10"), unit="piece"
    )
    small = _offer_at(firm, 1, tree.office, quantity=2)
    enough = _offer_at(firm, 1, tree.office, quantity=30)
    ranked = selectors.live_offers_for_need(
        actor=Actor.for_user(make_member(association)), need=need, limit=5
    )
    assert [r.offer.id for r in ranked] == [enough.id, small.id]
    assert [r.score.parts["quantity"] for r in ranked] == [1.0, 0.2]


def test_need_matches_keep_a_query_budget(association, firm, tree, django_assert_max_num_queries):
    need = make_need(association, [tree.furniture], point=cell(), radius_m=8000)
    for north in range(8):
        _offer_at(firm, north, tree.chair)
    client = client_for(make_member(association))
    with django_assert_max_num_queries(7):
        response = client.get(f"/api/v1/needs/{need.id}/matches/?limit=50")
    assert response.json()["count"] == 8


# Recorded matches ----------------------------------------------------------------------------------


def test_matches_list_shows_the_callers_matches_newest_first(
    association, firm, tree, django_assert_max_num_queries
):
    need_a = make_need(association, [tree.furniture])
    need_b = make_need(association, [tree.office])
    other = make_org(OrganisationKind.ASSOCIATION)
    foreign_need = make_need(other, [tree.furniture])
    offers = [_offer_at(firm, n, tree.chair) for n in range(3)]
    parts = {"distance": 1.0, "category": 0.25, "quantity": 0.5, "urgency": 0.0, "freshness": 1.0}
    m1 = Match.objects.create(
        need=need_a, offer=offers[0], organisation=association, score=0.6, parts=parts, distance_m=12
    )
    m2 = Match.objects.create(
        need=need_b, offer=offers[1], organisation=association, score=0.7, parts=parts, distance_m=34
    )
    m3 = Match.objects.create(
        need=need_a, offer=offers[2], organisation=association, score=0.5, parts=parts, distance_m=56
    )
    Match.objects.create(
        need=foreign_need, offer=offers[0], organisation=other, score=0.9, parts=parts, distance_m=1
    )

    client = client_for(make_member(association))
    with django_assert_max_num_queries(5):
        body = client.get("/api/v1/matches/").json()
    assert [m["id"] for m in body["results"]] == [m3.id, m2.id, m1.id]
    assert body["results"][0] == {
        "id": m3.id,
        "need": {"id": need_a.id, "title": need_a.title},
        "offer": body["results"][0]["offer"],
        "score": 0.5,
        "parts": parts,
        "distance_m": 56,
        "created_at": body["results"][0]["created_at"],
        "notified_at": None,
    }
    assert body["results"][0]["offer"]["id"] == offers[2].id
    assert [m["id"] for m in client.get(f"/api/v1/matches/?need={need_a.id}").json()["results"]] == [
        m3.id,
        m1.id,
    ]
    assert client.get(f"/api/v1/matches/?need={foreign_need.id}").json()["results"] == []
    assert client.get("/api/v1/matches/?need=x").status_code == 400
    page = client.get("/api/v1/matches/?limit=2").json()
    assert [m["id"] for m in page["results"]] == [m3.id, m2.id]
    assert [m["id"] for m in client.get(page["next"]).json()["results"]] == [m1.id]
    assert client_for(make_member(firm)).get("/api/v1/matches/").json()["results"] == []


# Alerts through the outbox -------------------------------------------------------------------------


@pytest.fixture
def scene(firm, tree):
    """Three associations around a firm's yard, each with one need that covers the yard, in each alert
    mode; plus needs that must not hear of the offer."""
    near = cell()
    a1 = make_org(OrganisationKind.ASSOCIATION, name="Repair Café")
    a1_fr = make_member(
        a1, MembershipRole.ADMIN, user=make_user("admin-fr@a1.example", preferred_language="fr")
    )
    a1_en = make_member(
        a1, MembershipRole.ADMIN, user=make_user("admin-en@a1.example", preferred_language="en")
    )
    make_member(a1, MembershipRole.MEMBER, user=make_user("member@a1.example"))
    a2 = make_org(OrganisationKind.PROJECT, name="Jeunes bâtisseurs")
    a2_admin = make_member(a2, MembershipRole.ADMIN, user=make_user("admin@a2.example"))
    MatchAlertPreference.objects.create(organisation=a2, mode=MatchAlertMode.DAILY)
    a3 = make_org(OrganisationKind.ASSOCIATION, name="Silencieux")
    make_member(a3, MembershipRole.ADMIN, user=make_user("admin@a3.example"))
    MatchAlertPreference.objects.create(organisation=a3, mode=MatchAlertMode.OFF)

    covering = {
        "a1": make_need(a1, [tree.furniture], point=near, radius_m=5000, title="Des meubles"),  # ancestor
        "a2": make_need(a2, [tree.chair, tree.wood], point=near, radius_m=3000, title="Chaises"),  # exact
        "a3": make_need(a3, [tree.office], point=near, radius_m=3000, title="Bureau"),
    }
    make_need(a1, [tree.chair], point=cell(north=-6), radius_m=1000)  # too far for its radius
    make_need(a1, [tree.wood], point=near, radius_m=5000)  # another category
    make_need(a1, [tree.sofa], point=near, radius_m=5000)  # a sibling category
    make_need(a1, [tree.chair], point=near, radius_m=5000, status=NeedStatus.CLOSED)
    make_need(a1, [tree.chair], point=near, radius_m=5000, deadline=timezone.now() - dt.timedelta(minutes=1))
    make_need(firm, [tree.chair], point=near, radius_m=5000)  # the offering organisation's own
    firm_admin = make_member(firm, MembershipRole.ADMIN)
    site = make_site(firm, cell(north=2))
    return SimpleNamespace(
        a1=a1,
        a2=a2,
        a3=a3,
        a1_fr=a1_fr,
        a1_en=a1_en,
        a2_admin=a2_admin,
        covering=covering,
        firm_actor=Actor.for_user(firm_admin),
        site=site,
    )


def _publish(scene, tree, capture, title="Fauteuils de bureau"):
    with capture(execute=True):
        return offer_services.offer_create(
            actor=scene.firm_actor,
            site=scene.site.pk,
            category=tree.chair.pk,
            title=title,
            quantity=Decimal("12"),
            unit="piece",
            condition="good",
            publish=True,
        )


def test_publishing_an_offer_records_matches_and_alerts_immediately(
    scene, tree, django_capture_on_commit_callbacks
):
    offer = _publish(scene, tree, django_capture_on_commit_callbacks)

    matches = {m.need_id: m for m in Match.objects.filter(offer=offer)}
    assert set(matches) == {n.id for n in scene.covering.values()}
    assert {m.organisation_id for m in matches.values()} == {scene.a1.id, scene.a2.id, scene.a3.id}
    a1_match = matches[scene.covering["a1"].id]
    assert a1_match.parts["category"] == 0.25  # the need named the grandparent
    assert matches[scene.covering["a2"].id].parts["category"] == 1.0
    assert abs(a1_match.distance_m - 2 * CELL_M) < 5

    # Immediate: one e-mail per administrator of A1, in their language; the plain member gets none.
    assert sorted(m.to for m in mail.outbox) == [["admin-en@a1.example"], ["admin-fr@a1.example"]]
    by_to = {m.to[0]: m for m in mail.outbox}
    assert (
        by_to["admin-fr@a1.example"].subject == "[Boucle] Une offre pour votre besoin : Fauteuils de bureau"
    )
    assert by_to["admin-en@a1.example"].subject == "[Boucle] An offer for your need: Fauteuils de bureau"
    assert "« Des meubles »" in by_to["admin-fr@a1.example"].body
    assert "Chaise de bureau" in by_to["admin-fr@a1.example"].body
    assert '"Des meubles"' in by_to["admin-en@a1.example"].body
    assert "Office chair" in by_to["admin-en@a1.example"].body
    # The unit by its label, in the reader's language.
    assert "quantité : 12 (unité : pièce)" in by_to["admin-fr@a1.example"].body
    assert "quantity: 12 (unit: piece)" in by_to["admin-en@a1.example"].body
    assert f"GET /api/v1/offers/{offer.id}/" in by_to["admin-en@a1.example"].body
    a1_match.refresh_from_db()
    assert a1_match.notified_at is not None
    assert matches[scene.covering["a2"].id].notified_at is None  # daily
    assert matches[scene.covering["a3"].id].notified_at is None  # off

    # Nothing twice: the same event again, the sweep, and the service itself.
    event_id = EventConsumption.objects.get(consumer=tasks.ALERTS_CONSUMER).event_id
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.match_published_offer.apply(kwargs={"event_id": event_id}).get() is False
        assert tasks.sweep_published_offers.apply().get() == 0
        offer.refresh_from_db()
        assert matches_record_for_offer(offer=offer) == []
    assert Match.objects.filter(offer=offer).count() == 3
    assert len(mail.outbox) == 2

    # The daily digest tells A2 once; A3 chose silence.
    mail.outbox.clear()
    assert tasks.send_match_digests.apply().get() == 1
    assert [m.to for m in mail.outbox] == [["admin@a2.example"]]
    assert mail.outbox[0].subject == "[Boucle] 1 correspondance pour vos besoins"
    assert "« Chaises »" in mail.outbox[0].body and "Fauteuils de bureau" in mail.outbox[0].body
    assert tasks.send_match_digests.apply().get() == 0
    assert len(mail.outbox) == 1
    assert Match.objects.get(need=scene.covering["a2"]).notified_at is not None
    assert Match.objects.get(need=scene.covering["a3"]).notified_at is None


def test_one_alert_lists_every_need_of_the_organisation_an_offer_matches(
    scene, tree, django_capture_on_commit_callbacks
):
    make_need(scene.a1, [tree.chair], point=cell(), radius_m=4000, title="Sièges")
    _publish(scene, tree, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 2
    fr = next(m for m in mail.outbox if m.to == ["admin-fr@a1.example"])
    assert fr.subject == "[Boucle] Une offre pour vos besoins : Fauteuils de bureau"
    assert "« Sièges »" in fr.body and "« Des meubles »" in fr.body


def test_sweep_consumes_events_the_worker_missed(scene, tree, firm, django_capture_on_commit_callbacks):
    offer = make_offer(firm, site=scene.site, category=tree.chair)
    # Recorded in the test's transaction without capturing: the subscriber never ran (worker down).
    event_record(
        name="offer.published", aggregate_type="offer", aggregate_id=offer.id, organisation_id=firm.id
    )
    assert not Match.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.sweep_published_offers.apply().get() == 1
    assert Match.objects.filter(offer=offer).count() == 3
    assert sorted(m.to[0] for m in mail.outbox) == ["admin-en@a1.example", "admin-fr@a1.example"]
    assert tasks.sweep_published_offers.apply().get() == 0


def test_an_offer_no_longer_published_records_nothing(scene, tree, firm):
    offer = make_offer(firm, site=scene.site, category=tree.chair, status=OfferStatus.WITHDRAWN)
    event = event_record(name="offer.published", aggregate_type="offer", aggregate_id=offer.id)
    assert tasks.match_published_offer.apply(kwargs={"event_id": event.id}).get() is True
    assert not Match.objects.exists()


def test_digest_catches_immediate_alerts_that_never_went_out(scene, tree, firm):
    offer = make_offer(firm, site=scene.site, category=tree.chair)
    matches_record_for_offer(offer=offer)  # in the test transaction: the alert tasks never run
    assert len(mail.outbox) == 0
    assert tasks.send_match_digests.apply().get() == 1  # A2 (daily); A1's are too recent
    assert [m.to for m in mail.outbox] == [["admin@a2.example"]]
    Match.objects.filter(organisation=scene.a1).update(created_at=timezone.now() - dt.timedelta(hours=2))
    mail.outbox.clear()
    assert tasks.send_match_digests.apply().get() == 1
    assert sorted(m.to[0] for m in mail.outbox) == ["admin-en@a1.example", "admin-fr@a1.example"]
    assert {m.subject for m in mail.outbox} == {
        "[Boucle] 1 correspondance pour vos besoins",
        "[Boucle] 1 new match for your needs",
    }


def test_organisation_without_admin_is_told_at_its_contact_address(firm, tree):
    lonely = make_org(OrganisationKind.ASSOCIATION, email="contact@lonely.example")
    make_need(lonely, [tree.chair], point=cell(), radius_m=5000)
    offer = _offer_at(firm, 1, tree.chair)
    new = matches_record_for_offer(offer=offer)
    assert tasks.send_match_alert.apply(kwargs={"organisation_id": lonely.id, "match_ids": new}).get() == 1
    assert [m.to for m in mail.outbox] == [["contact@lonely.example"]]
    assert tasks.send_match_alert.apply(kwargs={"organisation_id": lonely.id, "match_ids": new}).get() == 0


def test_needs_expire_when_their_deadline_passes(association, tree):
    due = make_need(association, [tree.chair], deadline=timezone.now() - dt.timedelta(seconds=1))
    later = make_need(association, [tree.chair], deadline=timezone.now() + dt.timedelta(days=1))
    assert tasks.expire_needs.apply().get() == 1
    due.refresh_from_db()
    later.refresh_from_db()
    assert (due.status, later.status) == (NeedStatus.EXPIRED, NeedStatus.OPEN)
    assert list(NeedCategory.objects.filter(need=due).values_list("is_open", flat=True)) == [False]


def test_the_copies_matching_reads_follow_every_change_of_the_need(association, firm, tree):
    actor = Actor.for_user(make_member(association))
    need = need_create(
        actor=actor,
        title="Chaises",
        categories=[tree.chair.id, tree.office.id],
        location=cell(),
        radius_m=800,
    )
    offer = _offer_at(firm, 2, tree.chair)  # about 1.1 km away
    lineage = selectors.category_lineage(category=offer.category)
    assert selectors.needs_covering_offer(offer=offer, lineage=lineage) == []
    need_update(actor=actor, need=need, radius_m=2000, quantity_wanted=Decimal("4"), unit="piece")
    rows = selectors.needs_covering_offer(offer=offer, lineage=lineage)
    assert [(r.need_id, r.radius_m, r.quantity_wanted, r.unit, r.category_ids) for r in rows] == [
        (need.id, 2000, Decimal("4.000"), "piece", sorted([tree.office.id, tree.chair.id]))
    ]
    assert abs(rows[0].distance_m - 2 * CELL_M) < 5
    need_update(actor=actor, need=need, location=cell(north=8))  # moved 3.3 km away
    assert selectors.needs_covering_offer(offer=offer, lineage=lineage) == []
    need_update(actor=actor, need=need, location=cell(), categories=[tree.wood.id])
    assert selectors.needs_covering_offer(offer=offer, lineage=lineage) == []
    need_update(actor=actor, need=need, categories=[tree.furniture.id], status=NeedStatus.CLOSED)
    assert selectors.needs_covering_offer(offer=offer, lineage=lineage) == []
    need_update(actor=actor, need=need, status=NeedStatus.OPEN)
    assert [r.need_id for r in selectors.needs_covering_offer(offer=offer, lineage=lineage)] == [need.id]
    assert list(NeedCategory.objects.filter(need=need).values_list("category_id", "radius_m", "is_open")) == [
        (tree.furniture.id, 2000, True)
    ]


# The covering-needs query's plan and its equivalence with the previous query: test_matching_area.py.


@pytest.mark.django_db(transaction=True)
def test_concurrent_recording_tells_each_need_once(firm, tree):
    associations = [make_org(OrganisationKind.ASSOCIATION) for _ in range(3)]
    for org in associations:
        make_member(org, MembershipRole.ADMIN)
        make_need(org, [tree.office], point=cell(), radius_m=5000)
    offer = _offer_at(firm, 1, tree.chair)
    barrier = threading.Barrier(2)
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(matches_record_for_offer(offer=offer))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    created = sorted(results[0] + results[1])
    assert created == sorted(Match.objects.filter(offer=offer).values_list("id", flat=True))
    assert len(created) == 3
    assert len(mail.outbox) == 3  # one per organisation, each once
