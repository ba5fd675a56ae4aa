import pytest

from organisations.models import MembershipRole, Site

from .conftest import client_for, make_member, make_org, make_site

pytestmark = pytest.mark.django_db

POINT = {"type": "Point", "coordinates": [3.1746, 50.6916]}


def test_member_creates_and_reads_a_site(firm):
    client = client_for(make_member(firm, MembershipRole.MEMBER))
    response = client.post("/api/v1/sites/", {"name": "Cour de chargement", "location": POINT}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["organisation"] == firm.id
    assert body["location"] == POINT
    listed = client.get("/api/v1/sites/").json()
    assert [s["id"] for s in listed["results"]] == [body["id"]]


@pytest.mark.parametrize(
    ("location", "field"),
    [
        ({"type": "Point", "coordinates": [3.17, 91]}, "location"),
        ({"type": "Point", "coordinates": [-181, 50]}, "location"),
        ({"type": "Point", "coordinates": ["x", 50]}, "location"),
        ({"lat": 50, "lon": 3}, "location"),
    ],
)
def test_bad_coordinates_are_a_400_problem(firm, location, field):
    client = client_for(make_member(firm))
    response = client.post("/api/v1/sites/", {"name": "X", "location": location}, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "validation_error"
    assert [e["field"] for e in body["errors"]] == [field]
    assert Site.objects.count() == 0


def test_other_organisation_gets_404_on_every_site_route(firm):
    site = make_site(firm)
    stranger = client_for(make_member(make_org()))
    assert stranger.get(f"/api/v1/sites/{site.id}/").status_code == 404
    assert stranger.patch(f"/api/v1/sites/{site.id}/", {"name": "mine"}, format="json").status_code == 404
    assert stranger.delete(f"/api/v1/sites/{site.id}/").status_code == 404
    assert stranger.get("/api/v1/sites/").json()["results"] == []
    site.refresh_from_db()
    assert site.name == "Dépôt"
