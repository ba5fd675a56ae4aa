"""API keys: created by org admins, shown once, stored hashed, scoped, revocable, one organisation only."""

import re

import pytest

from core.models import DomainEvent
from organisations.models import ApiKey, MembershipRole, Site
from organisations.tokens import hash_token

from .conftest import client_for, client_for_key, make_api_key, make_member, make_org, make_site

pytestmark = pytest.mark.django_db

POINT = {"type": "Point", "coordinates": [3.1746, 50.6916]}


def test_admin_creates_a_key_shown_once(firm):
    admin = make_member(firm)
    client = client_for(admin)
    response = client.post(
        "/api/v1/api-keys/", {"name": "ERP stock", "scopes": ["write", "read", "read"]}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    key = ApiKey.objects.get()
    assert re.fullmatch(r"bk_[0-9a-f]{12}_[A-Za-z0-9_\-]{43}", body["key"])
    assert body["prefix"] == f"bk_{key.prefix}" == body["key"][:15]
    assert (body["organisation"], body["name"], body["scopes"]) == (firm.pk, "ERP stock", ["read", "write"])
    assert (body["last_used_at"], body["revoked_at"]) == (None, None)
    assert key.key_hash == hash_token(body["key"])
    assert body["key"] not in str(ApiKey.objects.values().get())
    assert key.created_by == admin
    assert DomainEvent.objects.get(name="api_key.created").payload == {
        "prefix": key.prefix,
        "scopes": ["read", "write"],
    }

    listed = client.get("/api/v1/api-keys/").json()["results"]
    assert [k["id"] for k in listed] == [key.pk]
    assert "key" not in listed[0]


def test_key_authenticates_and_records_last_use(firm):
    key, raw = make_api_key(firm)
    site = make_site(firm)
    response = client_for_key(raw).get(f"/api/v1/sites/{site.pk}/")
    assert response.status_code == 200
    key.refresh_from_db()
    assert key.last_used_at is not None
    admin = firm.memberships.get().user
    assert client_for(admin).get("/api/v1/api-keys/").json()["results"][0]["last_used_at"] is not None


def test_revoked_key_is_refused(firm):
    key, raw = make_api_key(firm)
    admin_client = client_for(firm.memberships.get().user)
    assert admin_client.delete(f"/api/v1/api-keys/{key.pk}/").status_code == 204
    key.refresh_from_db()
    revoked_at = key.revoked_at
    assert revoked_at is not None
    response = client_for_key(raw).get("/api/v1/sites/")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    # Revoking again is a no-op.
    assert admin_client.delete(f"/api/v1/api-keys/{key.pk}/").status_code == 204
    key.refresh_from_db()
    assert key.revoked_at == revoked_at
    assert DomainEvent.objects.filter(name="api_key.revoked").count() == 1


def test_unknown_key_is_401(firm):
    assert client_for_key("bk_000000000000_nope").get("/api/v1/sites/").status_code == 401


def test_key_never_acts_for_another_organisation(firm, association):
    _key, raw = make_api_key(firm)
    other_site = make_site(association, name="Dépôt de l'association")
    client = client_for_key(raw)
    assert client.get(f"/api/v1/sites/{other_site.pk}/").status_code == 404
    assert client.patch(f"/api/v1/sites/{other_site.pk}/", {"name": "x"}, format="json").status_code == 404
    created = client.post(
        "/api/v1/sites/", {"organisation": association.pk, "name": "Intrus", "location": POINT}, format="json"
    )
    assert created.status_code == 404
    assert client.get(f"/api/v1/organisations/{association.pk}/").status_code == 404
    assert client.get("/api/v1/sites/").json()["results"] == []
    assert not Site.objects.filter(name="Intrus").exists()
    # Its own organisation is the default.
    own = client.post("/api/v1/sites/", {"name": "Cour", "location": POINT}, format="json")
    assert own.status_code == 201
    assert own.json()["organisation"] == firm.pk


def test_read_only_key_gets_403_on_writes(firm):
    _key, raw = make_api_key(firm, scopes=("read",))
    client = client_for_key(raw)
    site = make_site(firm)
    assert client.get("/api/v1/sites/").status_code == 200
    response = client.post("/api/v1/sites/", {"name": "Cour", "location": POINT}, format="json")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"] == "Cette clé d’API n’a pas le droit d’écriture."
    assert client.delete(f"/api/v1/sites/{site.pk}/").status_code == 403
    assert Site.objects.filter(pk=site.pk).exists()


def test_keys_cannot_manage_keys(firm):
    key, raw = make_api_key(firm)
    client = client_for_key(raw)
    assert (
        client.post("/api/v1/api-keys/", {"name": "x", "scopes": ["read"]}, format="json").status_code == 403
    )
    assert client.get("/api/v1/api-keys/").json()["results"] == []
    assert client.delete(f"/api/v1/api-keys/{key.pk}/").status_code == 403
    assert ApiKey.objects.count() == 1


def test_only_admins_manage_keys(firm):
    key, _raw = make_api_key(firm)
    member = client_for(make_member(firm, MembershipRole.MEMBER))
    response = member.post("/api/v1/api-keys/", {"name": "x", "scopes": ["read"]}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert member.delete(f"/api/v1/api-keys/{key.pk}/").status_code == 403
    assert member.get("/api/v1/api-keys/").json()["results"] == []
    assert member.get(f"/api/v1/api-keys/?organisation={firm.pk}").status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None


def test_another_organisation_gets_404(firm):
    key, _raw = make_api_key(firm)
    stranger = client_for(make_member(make_org()))
    assert stranger.delete(f"/api/v1/api-keys/{key.pk}/").status_code == 404
    assert stranger.get(f"/api/v1/api-keys/?organisation={firm.pk}").status_code == 404
    created = stranger.post(
        "/api/v1/api-keys/", {"organisation": firm.pk, "name": "x", "scopes": ["read"]}, format="json"
    )
    assert created.status_code == 404
    assert stranger.get("/api/v1/api-keys/").json()["results"] == []
    assert ApiKey.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["name", "scopes"]),
        ({"name": "x", "scopes": []}, ["scopes"]),
        ({"name": "x", "scopes": ["admin"]}, ["scopes.0"]),
        ({"name": "x", "scopes": "read"}, ["scopes"]),
        ({"name": "", "scopes": ["read"]}, ["name"]),
        ({"name": "x", "scopes": ["read"], "organisation": "mine"}, ["organisation"]),
    ],
)
def test_bad_key_input(firm, body, fields):
    response = client_for(make_member(firm)).post("/api/v1/api-keys/", body, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert sorted({e["field"] for e in response.json()["errors"]}) == fields
    assert ApiKey.objects.count() == 0


def test_several_organisations_must_say_which(firm, association):
    admin = make_member(firm)
    make_member(association, user=admin)
    client = client_for(admin)
    response = client.post("/api/v1/api-keys/", {"name": "x", "scopes": ["read"]}, format="json")
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["organisation"]
    chosen = client.post(
        "/api/v1/api-keys/", {"organisation": association.pk, "name": "x", "scopes": ["read"]}, format="json"
    )
    assert chosen.json()["organisation"] == association.pk
    assert [
        k["organisation"] for k in client.get(f"/api/v1/api-keys/?organisation={firm.pk}").json()["results"]
    ] == []


def test_list_query_budget(firm, django_assert_max_num_queries):
    admin = make_member(firm)
    for _ in range(5):
        make_api_key(firm)
    client = client_for(admin)  # issuing the token records it (token blacklist): not part of the list
    with django_assert_max_num_queries(3):
        response = client.get("/api/v1/api-keys/")
    assert len(response.json()["results"]) == 5
