"""Sites that count (issue 9): a site must lie in one of the loaded communes, or its handovers would count in
no territorial figure. Outside every commune it is refused (400 site_outside_territories on `location`),
with a hint and a `suggested_location` when latitude and longitude look swapped, unless the deployment
allows it (BOUCLE_ALLOW_SITES_OUTSIDE_TERRITORIES)."""

import pytest
from django.contrib.gis.geos import Point
from django.test import Client, override_settings

from core.errors import InvalidInput
from organisations import services
from organisations.actors import Actor
from organisations.models import MembershipRole, Site

from .conftest import ROUBAIX, client_for, make_member, make_site

pytestmark = pytest.mark.django_db

GRAND_PLACE = [3.1746, 50.6916]  # Grand-Place de Roubaix, [longitude, latitude]
PARIS = [2.3522, 48.8566]  # outside the MEL; swapped, [48.8566, 2.3522] is in the Gulf of Guinea
FAR_EAST = [120.0, 50.0]  # swapped, 120 is no latitude

OUTSIDE_EN = "This point is outside every territory of Boucle."
OUTSIDE_FR = "Ce point est en dehors de tous les territoires de Boucle."
CHECK_EN = "Check the coordinates: a site must lie within the territories Boucle covers."
CHECK_FR = "Vérifiez les coordonnées : un site doit se trouver dans les territoires que couvre Boucle."


def point(coordinates: list[float]) -> dict:
    return {"type": "Point", "coordinates": coordinates}


def swapped_en(coordinates: str, territory: str) -> str:
    return f"{OUTSIDE_EN} Latitude and longitude look swapped: {coordinates} falls in {territory}."


def swapped_fr(coordinates: str, territory: str) -> str:
    return (
        f"{OUTSIDE_FR} La latitude et la longitude semblent inversées : {coordinates} se trouve dans le "
        f"territoire « {territory} »."
    )


@pytest.fixture
def member(firm):
    return client_for(make_member(firm, MembershipRole.MEMBER))


def _create(client, coordinates, language="en"):
    return client.post(
        "/api/v1/sites/",
        {"name": "Cour", "location": point(coordinates)},
        format="json",
        HTTP_ACCEPT_LANGUAGE=language,
    )


def _assert_refused(response, message: str) -> dict:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "urn:boucle:problem:site_outside_territories"
    assert body["code"] == "site_outside_territories"
    assert body["status"] == 400
    assert body["detail"] == message
    assert body["errors"] == [{"field": "location", "code": "invalid", "message": message}]
    return body


# --- inside -----------------------------------------------------------------------------------------


def test_a_site_inside_a_commune_is_accepted_and_attached(mel_territories, member):
    response = _create(member, GRAND_PLACE)
    assert response.status_code == 201, response.content
    assert response.json()["location"] == point(GRAND_PLACE)
    assert response.json()["territory"]["code"] == "59512"
    assert Site.objects.get().territory == mel_territories["59512"]


# --- outside ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "message"),
    [("en", f"{OUTSIDE_EN} {CHECK_EN}"), ("fr", f"{OUTSIDE_FR} {CHECK_FR}")],
)
def test_a_site_outside_every_commune_is_refused(mel_territories, member, language, message):
    body = _assert_refused(_create(member, PARIS, language), message)
    assert "suggested_location" not in body
    assert Site.objects.count() == 0


def test_no_swap_is_suggested_when_the_longitude_is_no_latitude(mel_territories, member):
    body = _assert_refused(_create(member, FAR_EAST), f"{OUTSIDE_EN} {CHECK_EN}")
    assert "suggested_location" not in body
    assert Site.objects.count() == 0


# --- swapped ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", swapped_en("[3.1746, 50.6916]", "Roubaix")),
        ("fr", swapped_fr("[3.1746, 50.6916]", "Roubaix")),
    ],
)
def test_swapped_coordinates_get_the_hint_and_the_suggested_location(
    mel_territories, member, language, message
):
    body = _assert_refused(_create(member, [50.6916, 3.1746], language), message)
    # [longitude, latitude], as the API writes every point: the Grand-Place de Roubaix.
    assert body["suggested_location"] == point(GRAND_PLACE)
    assert Site.objects.count() == 0
    # The suggestion, sent back as it is, is accepted in Roubaix.
    accepted = member.post(
        "/api/v1/sites/", {"name": "Cour", "location": body["suggested_location"]}, format="json"
    )
    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["territory"]["name"] == "Roubaix"


def test_the_reported_swap_is_recognised(mel_territories, member):
    # The coordinates of the finding, as users typed them: latitude first.
    body = _assert_refused(_create(member, [50.69, 3.17]), swapped_en("[3.17, 50.69]", "Roubaix"))
    assert body["suggested_location"] == point([3.17, 50.69])


# --- allowed by the setting -------------------------------------------------------------------------


@override_settings(BOUCLE_ALLOW_SITES_OUTSIDE_TERRITORIES=True)
def test_the_setting_accepts_a_site_outside_with_no_territory(mel_territories, member):
    response = _create(member, PARIS)
    assert response.status_code == 201, response.content
    assert response.json()["territory"] is None
    assert response.json()["location"] == point(PARIS)
    assert Site.objects.get().territory is None


@override_settings(BOUCLE_ALLOW_SITES_OUTSIDE_TERRITORIES=True)
def test_the_setting_still_attaches_a_site_inside(mel_territories, member):
    response = _create(member, GRAND_PLACE)
    assert response.status_code == 201, response.content
    assert response.json()["territory"]["code"] == "59512"


def test_before_any_commune_is_loaded_there_is_nothing_to_check_against(member):
    response = _create(member, PARIS)
    assert response.status_code == 201, response.content
    assert response.json()["territory"] is None


# --- moving a site ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("coordinates", "language", "message"),
    [
        (PARIS, "en", f"{OUTSIDE_EN} {CHECK_EN}"),
        (PARIS, "fr", f"{OUTSIDE_FR} {CHECK_FR}"),
        ([50.6370, 3.0630], "en", swapped_en("[3.063, 50.637]", "Lille")),
    ],
)
def test_moving_a_site_outside_is_refused_the_same(
    mel_territories, firm, member, coordinates, language, message
):
    site = services.site_create(
        actor=Actor.for_system(), organisation_id=firm.pk, name="Cour", location=ROUBAIX
    )
    response = member.patch(
        f"/api/v1/sites/{site.pk}/",
        {"name": "Ailleurs", "location": point(coordinates)},
        format="json",
        HTTP_ACCEPT_LANGUAGE=language,
    )
    body = _assert_refused(response, message)
    if coordinates == PARIS:
        assert "suggested_location" not in body
    else:
        assert body["suggested_location"] == point([3.063, 50.637])
    site.refresh_from_db()
    assert (site.name, site.location.coords, site.territory) == (
        "Cour",
        ROUBAIX.coords,
        mel_territories["59512"],
    )


def test_moving_a_site_inside_takes_the_new_commune(mel_territories, firm, member):
    site = services.site_create(
        actor=Actor.for_system(), organisation_id=firm.pk, name="Cour", location=ROUBAIX
    )
    response = member.patch(
        f"/api/v1/sites/{site.pk}/", {"location": point([3.0630, 50.6370])}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["territory"]["code"] == "59350"
    site.refresh_from_db()
    assert site.territory == mel_territories["59350"]


def test_a_site_already_outside_may_still_be_edited_without_moving(mel_territories, firm, member):
    # Stored before the rule (or while the setting allowed it): renaming it, or sending its own point
    # back, is no move and is not refused.
    site = make_site(firm, Point(*PARIS, srid=4326))
    response = member.patch(
        f"/api/v1/sites/{site.pk}/", {"name": "Renommé", "location": point(PARIS)}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["territory"] is None
    site.refresh_from_db()
    assert site.name == "Renommé"


# --- the services, for every caller (admin, demo, commands) -----------------------------------------


def test_the_service_raises_the_domain_error(mel_territories, firm):
    with pytest.raises(InvalidInput) as raised:
        services.site_create(
            actor=Actor.for_system(),
            organisation_id=firm.pk,
            name="Cour",
            location=Point(50.6916, 3.1746, srid=4326),
        )
    assert raised.value.code == "site_outside_territories"
    assert raised.value.field_errors == {"location": [raised.value.message]}
    assert raised.value.extra == {"suggested_location": point(GRAND_PLACE)}
    assert Site.objects.count() == 0


# --- the admin --------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(operator_user) -> Client:
    operator_user.is_staff = True
    operator_user.is_superuser = True
    operator_user.save()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(operator_user)
    return client


def _admin_data(firm, latitude: str, longitude: str) -> dict:
    return {
        "organisation": firm.pk,
        "name": "Cour de chargement",
        "address": "",
        "latitude": latitude,
        "longitude": longitude,
        "opening_notes": "",
    }


@pytest.mark.parametrize(
    ("latitude", "longitude", "message"),
    [
        ("48.8566", "2.3522", f"{OUTSIDE_EN} {CHECK_EN}"),
        ("3.1746", "50.6916", swapped_en("[3.1746, 50.6916]", "Roubaix")),
    ],
)
def test_the_admin_site_form_refuses_a_point_outside(
    mel_territories, admin_client, firm, latitude, longitude, message
):
    response = admin_client.post("/admin/organisations/site/add/", _admin_data(firm, latitude, longitude))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors == {"__all__": [message]}
    assert Site.objects.count() == 0


def test_the_admin_site_form_refuses_moving_outside(mel_territories, admin_client, firm):
    site = services.site_create(
        actor=Actor.for_system(), organisation_id=firm.pk, name="Cour", location=ROUBAIX
    )
    response = admin_client.post(
        f"/admin/organisations/site/{site.pk}/change/", _admin_data(firm, "48.8566", "2.3522")
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"__all__": [f"{OUTSIDE_EN} {CHECK_EN}"]}
    site.refresh_from_db()
    assert site.location.coords == ROUBAIX.coords


def test_the_admin_accepts_a_point_inside(mel_territories, admin_client, firm):
    response = admin_client.post("/admin/organisations/site/add/", _admin_data(firm, "50.6916", "3.1746"))
    assert response.status_code == 302, (
        response.context["adminform"].form.errors if response.context else None
    )
    assert Site.objects.get().territory == mel_territories["59512"]
