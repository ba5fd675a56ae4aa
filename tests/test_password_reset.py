"""Passwords: a reset by e-mail that tells nobody which addresses have accounts, and a change for a
logged-in person. Both end every session: tokens on every device, and dashboard sessions."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.test import Client
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from core.models import DomainEvent
from organisations.models import MembershipRole, User

from .conftest import CheckedClient, client_for_key, make_api_key, make_member, make_user

pytestmark = pytest.mark.django_db

PASSWORD = "lin-et-chanvre-1852"
NEW_PASSWORD = "chanvre-et-lin-2026"
ACCEPTED_EN = {"detail": "If an account uses this address, a reset code is on its way to it."}


@pytest.fixture
def amina(operator_org) -> User:
    # A member of the operator's organisation, so that she may open the dashboard too.
    user = make_user("amina.diallo@example.org", password=PASSWORD, first_name="Amina")
    make_member(operator_org, MembershipRole.MEMBER, user=user)
    return user


def login(email: str, password: str = PASSWORD) -> dict:
    response = CheckedClient().post(
        "/api/v1/auth/token/", {"email": email, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def bearer(access: str) -> CheckedClient:
    client = CheckedClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def dashboard_session(email: str, password: str = PASSWORD) -> Client:
    browser = Client()
    assert browser.post("/dashboard/login/", {"username": email, "password": password}).status_code == 302
    assert browser.get("/dashboard/").status_code == 200
    return browser


def assert_logged_out_of_the_dashboard(browser: Client) -> None:
    response = browser.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"].startswith("/dashboard/login/")


def ask_reset(email: str, capture, language: str = "en"):
    with capture(execute=True):
        return CheckedClient().post(
            "/api/v1/auth/password/reset/", {"email": email}, format="json", HTTP_ACCEPT_LANGUAGE=language
        )


def reset_code(message) -> tuple[str, str]:
    uid = re.search(r"^  (?:identifiant :|id:) (\S+)$", message.body, re.M).group(1)
    token = re.search(r"^  code ?: (\S+)$", message.body, re.M).group(1)
    return uid, token


def confirm_reset(uid: str, token: str, new_password: str = NEW_PASSWORD):
    return CheckedClient().post(
        "/api/v1/auth/password/reset/confirm/",
        {"uid": uid, "token": token, "new_password": new_password},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )


def revocations(user: User) -> list[str]:
    events = DomainEvent.objects.filter(name="user.tokens_revoked", aggregate_id=user.pk).order_by("id")
    return [event.payload["reason"] for event in events]


# ---------------------------------------------------------------------------------------------------
# Reset by e-mail
# ---------------------------------------------------------------------------------------------------


def test_a_reset_request_answers_alike_for_every_address(amina, django_capture_on_commit_callbacks):
    make_user("parti@example.org", is_active=False)
    answers = [
        ask_reset(email, django_capture_on_commit_callbacks)
        for email in ("Amina.Diallo@example.org", "nobody@example.org", "parti@example.org")
    ]
    assert {(a.status_code, a["Content-Type"], a.content) for a in answers} == {
        (202, "application/json", answers[0].content)
    }
    assert answers[0].json() == ACCEPTED_EN
    (message,) = mail.outbox  # only the active account gets one
    assert message.to == ["amina.diallo@example.org"]
    assert message.subject == "[Boucle] Réinitialisation de votre mot de passe"  # her language, French
    assert "valable 60 minutes et une seule fois" in message.body
    assert "POST /api/v1/auth/password/reset/confirm/" in message.body
    uid, token = reset_code(message)
    assert uid == urlsafe_base64_encode(force_bytes(amina.pk))
    assert default_token_generator.check_token(amina, token)
    assert DomainEvent.objects.get(name="user.password_reset_requested").aggregate_id == amina.pk


def test_the_reset_email_is_in_the_persons_language(django_capture_on_commit_callbacks):
    make_user("nadia@example.org", preferred_language="en")
    ask_reset("nadia@example.org", django_capture_on_commit_callbacks, language="fr")
    (message,) = mail.outbox
    assert message.subject == "[Boucle] Resetting your password"
    assert "valid for 60 minutes and once only" in message.body
    assert reset_code(message)[0] == urlsafe_base64_encode(force_bytes(User.objects.get().pk))


def test_an_unconfirmed_sign_up_gets_no_reset_code(django_capture_on_commit_callbacks):
    body = {
        "email": "claire@example.org",
        "password": PASSWORD,
        "first_name": "Claire",
        "last_name": "Lemaire",
        "organisation": {"name": "Projet", "kind": "project"},
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert CheckedClient().post("/api/v1/auth/register/", body, format="json").status_code == 202
    mail.outbox.clear()
    assert ask_reset("claire@example.org", django_capture_on_commit_callbacks).json() == ACCEPTED_EN
    assert mail.outbox == []


def test_the_code_sets_the_password_and_ends_every_session(amina, django_capture_on_commit_callbacks):
    phone = login(amina.email)
    browser = dashboard_session(amina.email)
    ask_reset(amina.email, django_capture_on_commit_callbacks)
    uid, token = reset_code(mail.outbox[0])

    response = confirm_reset(uid, token)

    assert response.status_code == 204, response.content
    assert response.content == b""
    amina.refresh_from_db()
    assert amina.check_password(NEW_PASSWORD)
    assert bearer(phone["access"]).get("/api/v1/me/").json()["code"] == "token_revoked"
    refreshed = CheckedClient().post(
        "/api/v1/auth/token/refresh/", {"refresh": phone["refresh"]}, format="json"
    )
    assert (refreshed.status_code, refreshed.json()["code"]) == (401, "token_revoked")
    assert_logged_out_of_the_dashboard(browser)
    assert revocations(amina) == ["password_reset"]
    assert login(amina.email, NEW_PASSWORD)["access"]
    # The code was made from the old password: it works once.
    again = confirm_reset(uid, token, "encore-un-autre-2026")
    assert (again.status_code, again.json()["code"]) == (400, "reset_token_invalid")
    amina.refresh_from_db()
    assert amina.check_password(NEW_PASSWORD)


def test_bad_or_expired_codes_are_refused(amina):
    uid = urlsafe_base64_encode(force_bytes(amina.pk))
    token = default_token_generator.make_token(amina)
    # A code from 61 minutes ago (PASSWORD_RESET_TIMEOUT is an hour).
    generator = default_token_generator
    expired = generator._make_token_with_timestamp(
        amina, generator._num_seconds(generator._now()) - 61 * 60, generator.secret
    )
    other = make_user("other@example.org")
    for bad_uid, bad_token in [
        (uid, expired),
        (uid, token[:-1] + ("0" if token[-1] != "0" else "1")),
        (uid, "nonsense"),
        (urlsafe_base64_encode(force_bytes(other.pk)), token),  # someone else's id
        ("!!!", token),
        (urlsafe_base64_encode(b"not-a-number"), token),
        (urlsafe_base64_encode(force_bytes(2**70)), token),
        (urlsafe_base64_encode(force_bytes(-4)), token),
    ]:
        response = confirm_reset(bad_uid, bad_token)
        assert response.status_code == 400, (bad_uid, bad_token, response.content)
        body = response.json()
        assert body["code"] == "reset_token_invalid"
        assert body["errors"] == [
            {
                "field": "token",
                "code": "invalid",
                "message": "This reset code is not valid, or has expired; ask for a new one.",
            }
        ]
    amina.refresh_from_db()
    assert amina.check_password(PASSWORD)
    assert revocations(amina) == []


def test_a_weak_new_password_is_a_field_error_and_the_code_stays_good(amina):
    uid = urlsafe_base64_encode(force_bytes(amina.pk))
    token = default_token_generator.make_token(amina)
    weak = confirm_reset(uid, token, "12345678")
    assert weak.status_code == 400
    assert weak.json()["code"] == "validation_error"
    assert {e["field"] for e in weak.json()["errors"]} == {"new_password"}
    assert "This password is too short. It must contain at least 10 characters." in [
        e["message"] for e in weak.json()["errors"]
    ]
    assert confirm_reset(uid, token).status_code == 204


def test_reset_input_errors():
    client = CheckedClient()
    response = client.post("/api/v1/auth/password/reset/", {"email": "not-an-address"}, format="json")
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["email"]
    response = client.post("/api/v1/auth/password/reset/confirm/", {}, format="json")
    assert response.status_code == 400
    assert sorted(e["field"] for e in response.json()["errors"]) == ["new_password", "token", "uid"]


# ---------------------------------------------------------------------------------------------------
# Change, logged in
# ---------------------------------------------------------------------------------------------------


def change(access: str, current: str, new: str):
    return bearer(access).post(
        "/api/v1/auth/password/change/",
        {"current_password": current, "new_password": new},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )


def test_a_password_change_ends_every_session_and_keeps_this_device_in(amina):
    phone, tablet = login(amina.email), login(amina.email)
    browser = dashboard_session(amina.email)

    response = change(phone["access"], PASSWORD, NEW_PASSWORD)

    assert response.status_code == 200, response.content
    fresh = response.json()
    assert sorted(fresh) == ["access", "refresh"]
    assert bearer(fresh["access"]).get("/api/v1/me/").status_code == 200
    for pair in (phone, tablet):
        assert bearer(pair["access"]).get("/api/v1/me/").json()["code"] == "token_revoked"
        answer = CheckedClient().post(
            "/api/v1/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json"
        )
        assert answer.json()["code"] == "token_revoked"
    assert (
        CheckedClient()
        .post("/api/v1/auth/token/refresh/", {"refresh": fresh["refresh"]}, format="json")
        .status_code
        == 200
    )
    assert_logged_out_of_the_dashboard(browser)
    amina.refresh_from_db()
    assert amina.check_password(NEW_PASSWORD)
    event = DomainEvent.objects.get(name="user.tokens_revoked")
    assert (event.actor, event.payload["reason"]) == (f"user:{amina.pk}", "password_changed")
    wrong = CheckedClient().post(
        "/api/v1/auth/token/", {"email": amina.email, "password": PASSWORD}, format="json"
    )
    assert wrong.status_code == 401


def test_a_wrong_current_password_or_a_weak_new_one_changes_nothing(amina):
    phone = login(amina.email)
    response = change(phone["access"], "not-my-password", "123")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    errors = response.json()["errors"]
    assert {e["field"] for e in errors} == {"current_password", "new_password"}
    assert {
        "field": "current_password",
        "code": "invalid",
        "message": "This is not your current password.",
    } in errors
    amina.refresh_from_db()
    assert amina.check_password(PASSWORD)
    assert bearer(phone["access"]).get("/api/v1/me/").status_code == 200
    assert revocations(amina) == []


def test_a_password_change_is_for_people_logged_in(amina, firm):
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    anonymous = CheckedClient().post("/api/v1/auth/password/change/", body, format="json")
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "not_authenticated")
    _key, raw = make_api_key(firm)
    keyed = client_for_key(raw).post("/api/v1/auth/password/change/", body, format="json")
    assert (keyed.status_code, keyed.json()["code"]) == (403, "permission_denied")
    missing = bearer(login(amina.email)["access"]).post("/api/v1/auth/password/change/", {}, format="json")
    assert missing.status_code == 400
    assert sorted(e["field"] for e in missing.json()["errors"]) == ["current_password", "new_password"]
