"""Registration, JWT login and refresh, me/. (Confirmation, non-disclosure and expiry of sign-ups:
test_registration.py; the life of tokens: test_token_lifecycle.py.)"""

import re
import secrets

import pytest
from django.core import mail

from core.models import DomainEvent
from organisations.models import Membership, MembershipRole, Organisation, User

from .conftest import (
    CheckedClient,
    client_for,
    client_for_key,
    make_api_key,
    make_member,
    make_org,
    make_user,
)
from .conftest import registration as signup_body
from .limits import fresh_counters, set_rates, still_window  # noqa: F401

pytestmark = pytest.mark.django_db

PASSWORD = "lin-et-chanvre-1852"


def registration(**overrides) -> dict:
    return signup_body(PASSWORD, **overrides)


def assert_problem(response, status: int, fields: list[str], code: str = "validation_error") -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    assert sorted({e["field"] for e in body.get("errors", [])}) == sorted(fields)
    return body


def assert_nothing_saved() -> None:
    assert User.objects.count() == 0
    assert Organisation.objects.count() == 0
    assert DomainEvent.objects.filter(name="organisation.registered").count() == 0


def test_register_then_confirm_creates_user_unverified_org_and_admin_membership(
    anon, django_capture_on_commit_callbacks, settings
):
    settings.BOUCLE_OPERATOR_EMAIL = "operateur@boucle.example"
    with django_capture_on_commit_callbacks(execute=True):
        response = anon.post("/api/v1/auth/register/", registration(), format="json")
    assert response.status_code == 202, response.content
    (confirmation,) = mail.outbox
    code = re.search(r"^  (\S{40,})$", confirmation.body, re.M).group(1)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = anon.post("/api/v1/auth/register/confirm/", {"token": code}, format="json")
    assert response.status_code == 200, response.content
    user = User.objects.get()
    organisation = Organisation.objects.get()
    assert user.email == "claire.lemaire@example.org"
    assert user.check_password(PASSWORD)
    assert (user.first_name, user.last_name, user.preferred_language) == ("Claire", "Lemaire", "fr")
    assert (organisation.name, organisation.kind, organisation.siret) == (
        "Menuiserie Lemaire",
        "company",
        "73282932000074",
    )
    assert organisation.verified_at is None
    assert organisation.website == "https://lemaire.example"
    assert list(Membership.objects.values_list("user_id", "organisation_id", "role")) == [
        (user.pk, organisation.pk, MembershipRole.ADMIN)
    ]
    assert response.json()["account"] == {
        "id": user.pk,
        "email": "claire.lemaire@example.org",
        "first_name": "Claire",
        "last_name": "Lemaire",
        "preferred_language": "fr",
        "notifications": "immediate",
        "is_operator": False,
        "memberships": [
            {
                "organisation": {
                    "id": organisation.pk,
                    "name": "Menuiserie Lemaire",
                    "kind": "company",
                    "verified": False,
                },
                "role": "admin",
            }
        ],
    }
    event = DomainEvent.objects.get(name="organisation.registered")
    assert (event.aggregate_id, event.organisation_id, event.actor) == (
        organisation.pk,
        organisation.pk,
        f"user:{user.pk}",
    )
    assert len(callbacks) == 1
    assert len(mail.outbox) == 2
    notice = mail.outbox[1]
    assert notice.to == ["operateur@boucle.example"]
    assert notice.subject == "[Boucle] Nouvelle organisation à vérifier : Menuiserie Lemaire"
    assert "SIRET : 73282932000074" in notice.body
    assert "claire.lemaire@example.org" in notice.body


def test_registration_language_defaults_to_accept_language(anon):
    body = registration()
    del body["preferred_language"]
    response = anon.post("/api/v1/auth/register/", body, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 202, response.content
    assert User.objects.get().preferred_language == "en"


@pytest.mark.parametrize(
    "organisation",
    [
        {"kind": "association", "siret": "", "rna": "W595012345"},
        {"kind": "association", "siret": "44306184100047", "rna": ""},
        {"kind": "project", "siret": "", "rna": ""},
    ],
)
def test_associations_and_projects_register_with_their_identifiers(anon, organisation):
    response = anon.post("/api/v1/auth/register/", registration(organisation=organisation), format="json")
    assert response.status_code == 202, response.content
    saved = Organisation.objects.get()
    assert (saved.kind, saved.siret, saved.rna) == (
        organisation["kind"],
        organisation["siret"],
        organisation["rna"],
    )


@pytest.mark.parametrize("kind", ["public_authority", "operator", "city"])
def test_public_authorities_and_operators_never_self_register(anon, kind):
    response = anon.post("/api/v1/auth/register/", registration(organisation={"kind": kind}), format="json")
    assert_problem(response, 400, ["organisation.kind"])
    assert_nothing_saved()


@pytest.mark.parametrize(
    ("organisation", "field", "message"),
    [
        ({"siret": ""}, "organisation.siret", "A company must give its SIRET."),
        ({"siret": "7328293200007"}, "organisation.siret", "A SIRET is 14 digits (e.g. 732 829 320 00074)."),
        (
            {"siret": "73282932000075"},
            "organisation.siret",
            "This SIRET fails its check digit; check for a typing error.",
        ),
        (
            {"kind": "association", "siret": "", "rna": ""},
            "organisation.rna",
            "An association must give its RNA number or its SIRET.",
        ),
        (
            {"kind": "association", "siret": "", "rna": "W5950"},
            "organisation.rna",
            "An RNA number is the letter W followed by 9 digits (e.g. W595012345).",
        ),
    ],
)
def test_malformed_or_missing_identifiers_are_field_errors(anon, organisation, field, message):
    body = registration(organisation=organisation)
    response = anon.post("/api/v1/auth/register/", body, format="json", HTTP_ACCEPT_LANGUAGE="en")
    body = assert_problem(response, 400, [field])
    assert [e["message"] for e in body["errors"]] == [message]
    assert_nothing_saved()


def test_weak_password_is_a_field_error(anon):
    response = anon.post("/api/v1/auth/register/", registration(password="123456"), format="json")
    body = assert_problem(response, 400, ["password"])
    assert len(body["errors"]) >= 2  # too short, too common, entirely numeric
    assert_nothing_saved()


def test_password_like_the_email_is_refused(anon):
    body = registration(email="lemaire.menuiserie@example.org", password="lemaire.menuiserie")
    assert_problem(anon.post("/api/v1/auth/register/", body, format="json"), 400, ["password"])


def test_an_address_with_an_account_in_another_case_is_not_disclosed(
    anon, django_capture_on_commit_callbacks
):
    """The answer used to be 400 "Un compte existe déjà pour cette adresse électronique.", to anyone."""
    make_user("claire.lemaire@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        response = anon.post("/api/v1/auth/register/", registration(), format="json")
    assert response.status_code == 202, response.content
    assert "compte existe" not in response.content.decode()
    assert User.objects.count() == 1
    assert Organisation.objects.count() == 0
    assert [m.to for m in mail.outbox] == [["claire.lemaire@example.org"]]  # its owner is told instead


def test_duplicate_siret_is_a_field_error(anon):
    make_org(siret="73282932000074")
    response = anon.post("/api/v1/auth/register/", registration(), format="json")
    assert_problem(response, 400, ["organisation.siret"])
    assert User.objects.count() == 0


def test_every_problem_is_reported_at_once(anon):
    make_user("claire.lemaire@example.org")
    body = registration(password="password", organisation={"siret": "12"})
    assert_problem(
        anon.post("/api/v1/auth/register/", body, format="json"),
        400,
        ["organisation.siret", "password"],  # and never whether the address has an account
    )


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["email", "first_name", "last_name", "organisation", "password"]),
        (registration(email="not-an-address"), ["email"]),
        (registration(email=12), ["email"]),
        (registration(password=["x"]), ["password"]),
        (registration(preferred_language="de"), ["preferred_language"]),
        ({**registration(), "organisation": "Menuiserie"}, ["organisation"]),
        (registration(organisation={"name": ""}), ["organisation.name"]),
        (registration(organisation={"website": "lemaire"}), ["organisation.website"]),
        (registration(organisation={"phone": "call me"}), ["organisation.phone"]),
        # JSON types as documented (api.json_types): a SIRET is a string of digits, not a number
        (registration(organisation={"siret": 73282932000074}), ["organisation.siret"]),
    ],
)
def test_bad_input_is_a_400_problem(anon, body, fields):
    response = anon.post("/api/v1/auth/register/", body, format="json")
    if not fields:
        assert response.status_code == 202, response.content
        return
    assert_problem(response, 400, fields)
    assert_nothing_saved()


def test_malformed_json_is_a_400_problem(anon):
    response = anon.post("/api/v1/auth/register/", "{not json", content_type="application/json")
    assert_problem(response, 400, [], code="malformed_request")


def test_login_refresh_and_me(anon):
    user = make_user("amina.diallo@example.org", password=PASSWORD, first_name="Amina")
    association = make_org("association", name="Repair Café Roubaix")
    make_member(association, MembershipRole.MEMBER, user=user)
    response = anon.post(
        "/api/v1/auth/token/", {"email": "Amina.Diallo@EXAMPLE.org", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    tokens = response.json()
    assert sorted(tokens) == ["access", "refresh"]

    client = CheckedClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    me = client.get("/api/v1/me/")
    assert me.status_code == 200
    assert me.json()["memberships"] == [
        {
            "organisation": {
                "id": association.pk,
                "name": "Repair Café Roubaix",
                "kind": "association",
                "verified": True,
            },
            "role": "member",
        }
    ]
    assert me.json()["is_operator"] is False

    refreshed = anon.post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 200
    assert sorted(refreshed.json()) == ["access", "refresh"]  # rotated: the next refresh token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access']}")
    assert client.get("/api/v1/me/").json()["email"] == "amina.diallo@example.org"


@pytest.mark.parametrize(
    "body",
    [
        {"email": "amina.diallo@example.org", "password": "wrong-password-00"},
        {"email": "nobody@example.org", "password": PASSWORD},
    ],
)
def test_bad_credentials_are_401_problems(anon, body):
    make_user("amina.diallo@example.org", password=PASSWORD)
    response = anon.post("/api/v1/auth/token/", body, format="json")
    assert_problem(response, 401, [], code="no_active_account")


def test_inactive_user_cannot_log_in(anon):
    make_user("amina.diallo@example.org", password=PASSWORD, is_active=False)
    response = anon.post(
        "/api/v1/auth/token/", {"email": "amina.diallo@example.org", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 401


def test_token_input_errors(anon):
    assert_problem(anon.post("/api/v1/auth/token/", {}, format="json"), 400, ["email", "password"])
    response = anon.post("/api/v1/auth/token/refresh/", {"refresh": "not-a-token"}, format="json")
    assert_problem(response, 401, [], code="token_not_valid")


def test_me_requires_a_person(firm):
    _key, raw = make_api_key(firm)
    response = client_for_key(raw).get("/api/v1/me/")
    assert_problem(response, 403, [], code="permission_denied")
    assert_problem(CheckedClient().get("/api/v1/me/"), 401, [], code="not_authenticated")


def test_operator_sees_is_operator(operator_user):
    assert client_for(operator_user).get("/api/v1/me/").json()["is_operator"] is True


def test_me_update(firm):
    user = make_member(firm)
    client = client_for(user)
    response = client.patch(
        "/api/v1/me/", {"first_name": "Jeanne", "preferred_language": "en"}, format="json"
    )
    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert (user.first_name, user.preferred_language) == ("Jeanne", "en")
    assert_problem(
        client.patch("/api/v1/me/", {"preferred_language": "nl"}, format="json"), 400, ["preferred_language"]
    )
    assert_problem(client.patch("/api/v1/me/", {"first_name": ""}, format="json"), 400, ["first_name"])


@pytest.mark.usefixtures("fresh_counters", "still_window")
def test_auth_endpoints_are_throttled(settings):
    set_rates(settings, auth="3/min")  # more: tests/test_throttling.py
    address = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    client = CheckedClient(REMOTE_ADDR=address)
    body = {"email": "nobody@example.org", "password": "wrong-password-00"}
    statuses = [client.post("/api/v1/auth/token/", body, format="json").status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    response = client.post("/api/v1/auth/register/", {}, format="json")
    problem = assert_problem(response, 429, [], code="throttled")
    assert problem["retry_after_s"] > 0
    assert int(response["Retry-After"]) > 0


def test_unique_index_violations_become_field_errors():
    """The database's unique indexes back the checks; losing a race to one reads like the check."""
    from core.errors import InvalidInput
    from organisations.services import _save_or_field_error

    make_user("claire@example.org")
    make_org(siret="73282932000074")
    with pytest.raises(InvalidInput) as caught:
        _save_or_field_error(User(email="CLAIRE@example.org"))
    assert (caught.value.code, list(caught.value.field_errors)) == ("validation_error", ["email"])
    with pytest.raises(InvalidInput) as caught:
        _save_or_field_error(
            Organisation(name="Copie", kind="company", siret="73282932000074"), prefix="organisation."
        )
    assert list(caught.value.field_errors) == ["organisation.siret"]
