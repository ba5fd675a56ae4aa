"""Needs CRUD, its authorization matrix, bad input, and the match-alert preference."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone

from core.models import DomainEvent
from inventory.models import Category
from matching.models import Match, MatchAlertPreference, Need, NeedStatus
from organisations.models import MembershipRole, OrganisationKind

from .conftest import (
    client_for,
    client_for_key,
    make_api_key,
    make_member,
    make_need,
    make_offer,
    make_org,
    make_site,
)

pytestmark = pytest.mark.django_db

POINT = {"type": "Point", "coordinates": [3.1746, 50.6916]}
TOURCOING = Point(3.1606, 50.7236, srid=4326)


def _category(key: str, parent: Category | None = None, unit: str = "piece") -> Category:
    return Category.objects.create(key=key, parent=parent, name_fr=key, name_en=key, default_unit=unit)


@pytest.fixture
def tree() -> SimpleNamespace:
    furniture = _category("t-furniture")
    office = _category("t-office-furniture", furniture)
    wood = _category("t-wood", unit="kg")
    return SimpleNamespace(furniture=furniture, office=office, wood=wood)


def _body(tree, **overrides) -> dict:
    body = {
        "title": "Tables pour l'atelier",
        "categories": [tree.furniture.id],
        "location": POINT,
        "radius_m": 8000,
    }
    body.update(overrides)
    return body


def test_member_creates_reads_and_lists_a_need(association, tree):
    member = make_member(association, MembershipRole.MEMBER)
    client = client_for(member)
    deadline = (timezone.now() + dt.timedelta(days=30)).replace(microsecond=0)
    response = client.post(
        "/api/v1/needs/",
        _body(
            tree,
            categories=[tree.office.id, tree.furniture.id, tree.office.id],
            quantity_wanted="12",
            unit="piece",
            description="Pour l'atelier vélo",
            deadline=deadline.isoformat(),
        ),
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    need = Need.objects.get()
    assert body == {
        "id": need.id,
        "organisation": association.id,
        "title": "Tables pour l'atelier",
        "description": "Pour l'atelier vélo",
        "categories": [
            {"id": tree.furniture.id, "key": "t-furniture", "path": "t-furniture", "name": "t-furniture"},
            {
                "id": tree.office.id,
                "key": "t-office-furniture",
                "path": "t-furniture/t-office-furniture",
                "name": "t-office-furniture",
            },
        ],
        "quantity_wanted": "12.000",
        "unit": "piece",
        "site": None,
        "location": POINT,
        "radius_m": 8000,
        "deadline": body["deadline"],
        "status": "open",
        "created_by": member.id,
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
    }
    assert dt.datetime.fromisoformat(body["deadline"]) == deadline
    assert client.get(f"/api/v1/needs/{need.id}/").json() == body
    assert [n["id"] for n in client.get("/api/v1/needs/").json()["results"]] == [need.id]
    assert DomainEvent.objects.filter(name="need.created", aggregate_id=need.id).count() == 1


def test_need_at_a_site_takes_the_site_location(association, tree):
    site = make_site(association, TOURCOING)
    client = client_for(make_member(association))
    body = _body(tree, site=site.id)
    del body["location"]
    response = client.post("/api/v1/needs/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["site"] == site.id
    assert response.json()["location"] == {"type": "Point", "coordinates": [3.1606, 50.7236]}
    assert response.json()["unit"] is None and response.json()["quantity_wanted"] is None


def test_api_key_with_write_scope_posts_a_need_and_read_key_cannot(association, tree):
    _key, raw = make_api_key(association)
    response = client_for_key(raw).post("/api/v1/needs/", _body(tree), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["created_by"] is None
    _key, raw_read = make_api_key(association, scopes=("read",))
    reader = client_for_key(raw_read)
    response = reader.post("/api/v1/needs/", _body(tree), format="json")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert Need.objects.count() == 1
    assert [n["id"] for n in reader.get("/api/v1/needs/").json()["results"]] == [Need.objects.get().id]


def test_project_posts_needs_but_a_company_gets_403(firm, tree):
    project = make_org(OrganisationKind.PROJECT, name="Jeunes bâtisseurs")
    assert (
        client_for(make_member(project)).post("/api/v1/needs/", _body(tree), format="json").status_code == 201
    )
    response = client_for(make_member(firm)).post("/api/v1/needs/", _body(tree), format="json")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "recipients_only"
    assert Need.objects.filter(organisation=firm).count() == 0


def test_member_of_several_organisations_says_which(association, tree):
    user = make_member(association)
    other = make_org(OrganisationKind.ASSOCIATION)
    make_member(other, user=user)
    client = client_for(user)
    response = client.post("/api/v1/needs/", _body(tree), format="json")
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["organisation"]
    response = client.post("/api/v1/needs/", _body(tree, organisation=other.id), format="json")
    assert response.status_code == 201
    assert response.json()["organisation"] == other.id


def _bad_inputs(tree, foreign_site_id):
    past = (timezone.now() - dt.timedelta(hours=1)).isoformat()
    return [
        (_body(tree, radius_m=100_001), ["radius_m"]),
        (_body(tree, radius_m=0), ["radius_m"]),
        (_body(tree, categories=[]), ["categories"]),
        (_body(tree, categories=[999_999]), ["categories"]),
        (_body(tree, quantity_wanted="0", unit="piece"), ["quantity_wanted"]),
        (_body(tree, quantity_wanted="-3", unit="piece"), ["quantity_wanted"]),
        (_body(tree, quantity_wanted="3"), ["unit"]),
        (_body(tree, unit="kg"), ["quantity_wanted"]),
        (_body(tree, deadline=past), ["deadline"]),
        (_body(tree, location={"type": "Point", "coordinates": [3.17, 95]}), ["location"]),
        ({k: v for k, v in _body(tree).items() if k != "location"}, ["location"]),
        ({**{k: v for k, v in _body(tree).items() if k != "location"}, "site": foreign_site_id}, ["site"]),
        (_body(tree, site=foreign_site_id), ["site"]),
        (_body(tree, title=""), ["title"]),
    ]


def test_bad_input_is_a_400_problem_and_saves_nothing(association, firm, tree):
    client = client_for(make_member(association))
    foreign_site = make_site(firm)
    for body, fields in _bad_inputs(tree, foreign_site.id):
        response = client.post("/api/v1/needs/", body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert response["Content-Type"] == "application/problem+json"
        problem = response.json()
        assert problem["code"] == "validation_error"
        assert sorted({e["field"] for e in problem["errors"]}) == fields, (body, problem)
    assert Need.objects.count() == 0
    assert DomainEvent.objects.filter(aggregate_type="need").count() == 0


def test_inactive_category_is_unknown(association, tree):
    tree.wood.is_active = False
    tree.wood.save()
    response = client_for(make_member(association)).post(
        "/api/v1/needs/", _body(tree, categories=[tree.wood.id]), format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "categories"


def test_patch_changes_fields_categories_place_and_status(association, tree):
    client = client_for(make_member(association))
    need = make_need(association, [tree.furniture])
    site = make_site(association, TOURCOING)
    response = client.patch(
        f"/api/v1/needs/{need.id}/",
        {"title": "Bois de palette", "categories": [tree.wood.id], "radius_m": 2500, "site": site.id},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["title"], body["radius_m"], body["site"]) == ("Bois de palette", 2500, site.id)
    assert [c["id"] for c in body["categories"]] == [tree.wood.id]
    assert body["location"] == {"type": "Point", "coordinates": [3.1606, 50.7236]}
    response = client.patch(f"/api/v1/needs/{need.id}/", {"location": POINT}, format="json")
    assert (response.json()["site"], response.json()["location"]) == (None, POINT)

    assert (
        client.patch(f"/api/v1/needs/{need.id}/", {"status": "fulfilled"}, format="json").json()["status"]
        == "fulfilled"
    )
    assert client.get("/api/v1/needs/?status=open").json()["results"] == []
    assert [n["id"] for n in client.get("/api/v1/needs/?status=fulfilled").json()["results"]] == [need.id]
    assert (
        client.patch(f"/api/v1/needs/{need.id}/", {"status": "open"}, format="json").json()["status"]
        == "open"
    )
    event = DomainEvent.objects.filter(name="need.updated").order_by("id").first()
    assert event.payload == {
        "status": "open",
        "fields": ["categories", "radius_m", "site", "title"],
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "expired"}, "status"),
        ({"radius_m": 200_000}, "radius_m"),
        ({"quantity_wanted": "5"}, "unit"),
        ({"categories": [424242]}, "categories"),
        ({"deadline": "2001-01-01T00:00:00Z"}, "deadline"),
    ],
)
def test_bad_patch_is_a_400_problem_and_changes_nothing(association, tree, body, field):
    need = make_need(association, [tree.furniture], title="Avant")
    response = client_for(make_member(association)).patch(f"/api/v1/needs/{need.id}/", body, format="json")
    assert response.status_code == 400, response.content
    assert [e["field"] for e in response.json()["errors"]] == [field]
    need.refresh_from_db()
    assert (need.title, need.status, need.radius_m, need.quantity_wanted) == ("Avant", "open", 5000, None)
    assert list(need.categories.all()) == [tree.furniture]


def test_an_expired_need_reopens_only_with_a_deadline_ahead(association, tree):
    need = make_need(
        association,
        [tree.furniture],
        status=NeedStatus.EXPIRED,
        deadline=timezone.now() - dt.timedelta(days=1),
    )
    client = client_for(make_member(association))
    response = client.patch(f"/api/v1/needs/{need.id}/", {"status": "open"}, format="json")
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["deadline"]
    ahead = (timezone.now() + dt.timedelta(days=5)).isoformat()
    response = client.patch(f"/api/v1/needs/{need.id}/", {"status": "open", "deadline": ahead}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "open"


def test_delete_removes_the_need_and_its_matches(association, firm, tree):
    need = make_need(association, [tree.furniture])
    offer = make_offer(firm, category=tree.furniture)
    Match.objects.create(need=need, offer=offer, organisation=association, score=0.5, parts={}, distance_m=10)
    response = client_for(make_member(association)).delete(f"/api/v1/needs/{need.id}/")
    assert response.status_code == 204
    assert not Need.objects.exists()
    assert not Match.objects.exists()
    assert DomainEvent.objects.filter(name="need.deleted", aggregate_id=need.id).count() == 1


def _caller(kind: str, owner, other_association, firm):
    if kind == "owner_member":
        return client_for(make_member(owner, MembershipRole.MEMBER))
    if kind == "owner_key":
        return client_for_key(make_api_key(owner)[1])
    if kind == "other_association":
        return client_for(make_member(other_association))
    if kind == "other_association_key":
        return client_for_key(make_api_key(other_association)[1])
    if kind == "company":
        return client_for(make_member(firm))
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "visible"),
    [
        ("owner_member", True),
        ("owner_key", True),
        ("other_association", False),
        ("other_association_key", False),
        ("company", False),
    ],
)
def test_authorization_matrix_on_every_need_route(association, firm, tree, kind, visible):
    other_association = make_org(OrganisationKind.ASSOCIATION)
    need = make_need(association, [tree.furniture], title="Chaises")
    client = _caller(kind, association, other_association, firm)
    expected = 200 if visible else 404
    assert client.get(f"/api/v1/needs/{need.id}/").status_code == expected
    assert client.get(f"/api/v1/needs/{need.id}/matches/").status_code == expected
    assert [n["id"] for n in client.get("/api/v1/needs/").json()["results"]] == ([need.id] if visible else [])
    response = client.patch(f"/api/v1/needs/{need.id}/", {"title": "À moi"}, format="json")
    assert response.status_code == expected
    need.refresh_from_db()
    assert need.title == ("À moi" if visible else "Chaises")
    if not visible:
        assert response.json()["code"] == "not_found"
        assert client.delete(f"/api/v1/needs/{need.id}/").status_code == 404
        assert Need.objects.filter(pk=need.pk).exists()
    else:
        assert client.delete(f"/api/v1/needs/{need.id}/").status_code == 204


def test_operator_sees_every_need(association, tree, operator_user):
    need = make_need(association, [tree.furniture])
    assert client_for(operator_user).get(f"/api/v1/needs/{need.id}/").status_code == 200


def test_list_keeps_a_query_budget(association, tree, django_assert_max_num_queries):
    client = client_for(make_member(association))
    for _ in range(12):
        make_need(association, [tree.furniture, tree.wood])
    with django_assert_max_num_queries(5):
        response = client.get("/api/v1/needs/")
    assert len(response.json()["results"]) == 12


def test_list_rejects_an_unknown_status(association):
    response = client_for(make_member(association)).get("/api/v1/needs/?status=lost")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "status"


# Match alerts preference -------------------------------------------------------------------------


def test_admin_chooses_how_the_organisation_hears_of_matches(association):
    client = client_for(make_member(association, MembershipRole.ADMIN))
    url = f"/api/v1/organisations/{association.id}/match-alerts/"
    assert client.get(url).json() == {"organisation": association.id, "mode": "immediate"}
    response = client.put(url, {"mode": "daily"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"organisation": association.id, "mode": "daily"}
    assert client.get(url).json()["mode"] == "daily"
    assert client.put(url, {"mode": "off"}, format="json").json()["mode"] == "off"
    assert MatchAlertPreference.objects.get(organisation=association).mode == "off"


def test_match_alerts_authorization_and_bad_input(association):
    url = f"/api/v1/organisations/{association.id}/match-alerts/"
    member = client_for(make_member(association, MembershipRole.MEMBER))
    assert member.get(url).status_code == 200
    response = member.put(url, {"mode": "daily"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    key = client_for_key(make_api_key(association)[1])
    assert key.put(url, {"mode": "daily"}, format="json").status_code == 403
    stranger = client_for(make_member(make_org(OrganisationKind.ASSOCIATION)))
    assert stranger.get(url).status_code == 404
    assert stranger.put(url, {"mode": "off"}, format="json").status_code == 404
    admin = client_for(make_member(association, MembershipRole.ADMIN))
    response = admin.put(url, {"mode": "weekly"}, format="json")
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["mode"]
    assert not MatchAlertPreference.objects.exists()


def test_moving_a_site_moves_the_needs_placed_there(association, tree):
    from matching.models import NeedCategory

    site = make_site(association)
    need = make_need(association, [tree.furniture], point=site.location, site=site)
    elsewhere = make_need(association, [tree.wood])
    response = client_for(make_member(association)).patch(
        f"/api/v1/sites/{site.id}/",
        {"location": {"type": "Point", "coordinates": [3.1606, 50.7236]}},
        format="json",
    )
    assert response.status_code == 200, response.content
    need.refresh_from_db()
    assert need.location.coords == (3.1606, 50.7236)
    # The matching table's copy follows (database trigger), so matching sees the new place.
    assert list(NeedCategory.objects.filter(need=need).values_list("location", flat=True)) == [need.location]
    elsewhere.refresh_from_db()
    assert elsewhere.location.coords == (3.1746, 50.6916)
