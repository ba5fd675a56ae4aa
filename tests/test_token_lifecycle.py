"""The life of a person's tokens: rotation with reuse detection, logout, revocation (every reason goes
through organisations.services.user_revoke_tokens), removal from an organisation, the operator's
admin, the blacklist's upkeep, and two refreshes racing on real parallel connections."""

from __future__ import annotations

import threading
from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from api.authentication import token_pair
from core.errors import Conflict, NotFound, PermissionDenied
from core.models import DomainEvent
from organisations import services
from organisations.actors import Actor
from organisations.models import Membership, MembershipRole, OrganisationKind, User
from organisations.tokens import hash_token

from .conftest import CheckedClient, client_for, make_member, make_org, make_user

pytestmark = pytest.mark.django_db

PASSWORD = "lin-et-chanvre-1852"
ROUNDS = 5  # of the race below: the more rounds, the likelier the two requests truly overlap


def login(email: str, password: str = PASSWORD) -> dict:
    response = CheckedClient().post(
        "/api/v1/auth/token/", {"email": email, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def refresh(token: str):
    return CheckedClient().post("/api/v1/auth/token/refresh/", {"refresh": token}, format="json")


def logout(token: str, **extra):
    return CheckedClient().post("/api/v1/auth/logout/", {"refresh": token, **extra}, format="json")


def me(access: str):
    client = CheckedClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get("/api/v1/me/")


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code, body
    return body


def revocations(user: User) -> list[str]:
    return [
        event.payload["reason"]
        for event in DomainEvent.objects.filter(name="user.tokens_revoked", aggregate_id=user.pk).order_by(
            "id"
        )
    ]


@pytest.fixture
def amina(association) -> User:
    user = make_user("amina.diallo@example.org", password=PASSWORD, first_name="Amina")
    make_member(association, MembershipRole.MEMBER, user=user)
    return user


def test_refresh_tokens_rotate_and_are_blacklisted_by_simplejwt_itself():
    assert "rest_framework_simplejwt.token_blacklist" in settings.INSTALLED_APPS
    assert settings.SIMPLE_JWT["ROTATE_REFRESH_TOKENS"] is True
    assert settings.SIMPLE_JWT["BLACKLIST_AFTER_ROTATION"] is True
    assert settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"] == timedelta(minutes=30)
    # Rotating, so this is how long an unused app stays logged in, not how long a stolen token works.
    assert settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"] == timedelta(days=14)


def test_a_refresh_answers_the_next_pair_and_spends_the_token(amina):
    first = login(amina.email)
    response = refresh(first["refresh"])
    assert response.status_code == 200, response.content
    second = response.json()
    assert sorted(second) == ["access", "refresh"]
    assert second["refresh"] != first["refresh"]
    assert me(second["access"]).json()["email"] == "amina.diallo@example.org"

    claims = jwt.decode(first["refresh"], options={"verify_signature": False})
    assert claims["epoch"] == 0
    spent = OutstandingToken.objects.get(jti=claims["jti"])
    assert BlacklistedToken.objects.filter(token=spent).exists()
    assert spent.token == hash_token(first["refresh"])  # the record does not hold the token itself
    successor = jwt.decode(second["refresh"], options={"verify_signature": False})
    assert not BlacklistedToken.objects.filter(token__jti=successor["jti"]).exists()
    assert OutstandingToken.objects.filter(user=amina).count() == 2
    # The successor rotates in turn.
    assert refresh(second["refresh"]).status_code == 200


def test_a_refresh_token_used_twice_ends_every_session_of_the_account(amina):
    phone, tablet = login(amina.email), login(amina.email)
    rotated = refresh(phone["refresh"]).json()

    reused = CheckedClient().post(
        "/api/v1/auth/token/refresh/", {"refresh": phone["refresh"]}, format="json", HTTP_ACCEPT_LANGUAGE="en"
    )
    body = problem(reused, 401, "token_reused")
    assert body["detail"] == (
        "This token had already been used: every session of the account is ended. Log in again."
    )

    # Whoever held the rotated pair (the thief, or the phone) is out, and so is every other device.
    for access in (rotated["access"], tablet["access"], phone["access"]):
        problem(me(access), 401, "token_revoked")
    for token in (rotated["refresh"], tablet["refresh"]):
        problem(refresh(token), 401, "token_revoked")
    amina.refresh_from_db()
    assert amina.token_epoch == 1
    assert revocations(amina) == ["token_reused"]
    assert not OutstandingToken.objects.filter(user=amina, blacklistedtoken__isnull=True).exists()
    # Logging in again opens a session of the new epoch.
    again = login(amina.email)
    assert jwt.decode(again["access"], options={"verify_signature": False})["epoch"] == 1
    assert me(again["access"]).status_code == 200


def test_logout_spends_this_devices_token_only(amina):
    phone, tablet = login(amina.email), login(amina.email)
    response = logout(phone["refresh"])
    assert response.status_code == 204
    assert response.content == b""
    phone_jti = jwt.decode(phone["refresh"], options={"verify_signature": False})["jti"]
    assert BlacklistedToken.objects.filter(token__jti=phone_jti).exists()
    assert me(tablet["access"]).status_code == 200
    assert refresh(tablet["refresh"]).status_code == 200
    assert revocations(amina) == []


def test_a_logged_out_token_presented_again_counts_as_reuse(amina):
    phone, tablet = login(amina.email), login(amina.email)
    assert logout(phone["refresh"]).status_code == 204
    problem(refresh(phone["refresh"]), 401, "token_reused")
    problem(me(tablet["access"]), 401, "token_revoked")
    assert revocations(amina) == ["token_reused"]


def test_logging_out_twice_with_one_token_is_reuse_too(amina):
    phone = login(amina.email)
    assert logout(phone["refresh"]).status_code == 204
    problem(logout(phone["refresh"]), 401, "token_reused")
    assert revocations(amina) == ["token_reused"]


def test_logout_everywhere_ends_every_session(amina):
    phone, tablet = login(amina.email), login(amina.email)
    assert logout(phone["refresh"], everywhere=True).status_code == 204
    for pair in (phone, tablet):
        problem(me(pair["access"]), 401, "token_revoked")
    problem(refresh(tablet["refresh"]), 401, "token_revoked")
    event = DomainEvent.objects.get(name="user.tokens_revoked")
    assert (event.aggregate_id, event.actor, event.payload) == (
        amina.pk,
        f"user:{amina.pk}",
        {"reason": "logout_everywhere", "epoch": 1, "refresh_tokens": 2},
    )


def test_a_token_of_an_ended_session_logs_out_quietly_and_cannot_end_newer_ones(amina):
    old = login(amina.email)
    services.user_revoke_tokens(user=amina, reason="password_changed")
    new = login(amina.email)
    assert logout(old["refresh"], everywhere=True).status_code == 204
    assert me(new["access"]).status_code == 200
    assert revocations(amina) == ["password_changed"]


@pytest.mark.parametrize("route", ["/api/v1/auth/token/refresh/", "/api/v1/auth/logout/"])
def test_bad_refresh_tokens_are_401_problems(amina, route):
    client = CheckedClient()
    body = client.post(route, {}, format="json")
    assert body.status_code == 400
    assert [e["field"] for e in body.json()["errors"]] == ["refresh"]
    problem(client.post(route, {"refresh": "not-a-token"}, format="json"), 401, "token_not_valid")
    # An access token is not a refresh token.
    problem(
        client.post(route, {"refresh": login(amina.email)["access"]}, format="json"), 401, "token_not_valid"
    )
    # Well signed but never handed out (so never recorded): refused.
    forged = RefreshToken()
    forged["user_id"] = str(amina.pk)
    problem(client.post(route, {"refresh": str(forged)}, format="json"), 401, "token_not_valid")
    expired = RefreshToken.for_user(amina)
    expired.set_exp(lifetime=-timedelta(seconds=1))
    problem(client.post(route, {"refresh": str(expired)}, format="json"), 401, "token_not_valid")


def test_revocation_ends_access_tokens_whoever_signed_them(amina):
    """Tokens signed without an epoch claim (simplejwt's own RefreshToken.for_user, as tests use) read
    as epoch 0: good until the first revocation."""
    client = client_for(amina)
    assert client.get("/api/v1/me/").status_code == 200
    assert services.user_revoke_tokens(user=amina, reason="logout_everywhere") == 1
    problem(client.get("/api/v1/me/"), 401, "token_revoked")


def test_a_token_signed_in_the_same_second_as_a_revocation_is_judged_by_its_epoch(amina):
    """`iat` has whole seconds, so it cannot order a token against a revocation in the same second; the
    epoch can: a pair signed just before is refused and one signed just after works, deterministically."""
    for _attempt in range(5):
        before = token_pair(amina)
        services.user_revoke_tokens(user=amina, reason="logout_everywhere")
        after = token_pair(amina)
        iat = [jwt.decode(p["access"], options={"verify_signature": False})["iat"] for p in (before, after)]
        if iat[0] == iat[1]:
            break
    assert iat[0] == iat[1], "never managed to sign both in one second"
    problem(me(before["access"]), 401, "token_revoked")
    problem(refresh(before["refresh"]), 401, "token_revoked")
    assert me(after["access"]).status_code == 200
    assert refresh(after["refresh"]).status_code == 200


def test_an_inactive_person_cannot_refresh(amina):
    pair = login(amina.email)
    User.objects.filter(pk=amina.pk).update(is_active=False)
    problem(refresh(pair["refresh"]), 401, "no_active_account")
    problem(me(pair["access"]), 401, "user_inactive")


def test_an_unknown_revocation_reason_is_a_programming_error(amina):
    with pytest.raises(ValueError, match="unknown revocation reason"):
        services.user_revoke_tokens(user=amina, reason="because")
    amina.refresh_from_db()
    assert amina.token_epoch == 0


# ---------------------------------------------------------------------------------------------------
# Removal from an organisation
# ---------------------------------------------------------------------------------------------------


def test_removal_from_an_organisation_ends_the_sessions_at_once(association, amina):
    admin = make_member(association, MembershipRole.ADMIN)
    other = make_org(OrganisationKind.PROJECT, name="Jardin partagé du Beck")
    make_member(other, MembershipRole.MEMBER, user=amina)
    pair = login(amina.email)
    membership = Membership.objects.get(user=amina, organisation=association)

    services.membership_remove(actor=Actor.for_user(admin), membership_id=membership.pk)

    problem(me(pair["access"]), 401, "token_revoked")
    problem(refresh(pair["refresh"]), 401, "token_revoked")
    again = login(amina.email)
    assert [m["organisation"]["id"] for m in me(again["access"]).json()["memberships"]] == [other.pk]
    removed = DomainEvent.objects.get(name="membership.removed")
    assert (removed.actor, removed.organisation_id, removed.payload) == (
        f"user:{admin.pk}",
        association.pk,
        {"user_id": amina.pk, "role": "member"},
    )
    assert revocations(amina) == ["membership_removed"]


def test_who_may_remove_a_member(association, amina):
    membership = Membership.objects.get(user=amina, organisation=association)
    only_admin = make_member(association, MembershipRole.ADMIN)
    admin_membership = Membership.objects.get(user=only_admin)
    stranger = make_member(make_org(OrganisationKind.ASSOCIATION))
    operator = make_member(make_org(OrganisationKind.OPERATOR))

    with pytest.raises(NotFound):
        services.membership_remove(actor=Actor.for_user(stranger), membership_id=membership.pk)
    with pytest.raises(PermissionDenied):
        services.membership_remove(actor=Actor.for_user(amina), membership_id=admin_membership.pk)
    with pytest.raises(Conflict) as caught:
        services.membership_remove(actor=Actor.for_user(only_admin), membership_id=admin_membership.pk)
    assert caught.value.code == "last_admin"
    with pytest.raises(NotFound):
        services.membership_remove(actor=Actor.for_user(only_admin), membership_id=10**12)
    assert Membership.objects.filter(organisation=association).count() == 2
    assert revocations(amina) == revocations(only_admin) == []
    # The operator may, e.g. to take a departed administrator out.
    services.membership_remove(actor=Actor.for_user(operator), membership_id=admin_membership.pk)
    assert revocations(only_admin) == ["membership_removed"]


# ---------------------------------------------------------------------------------------------------
# The operator's admin
# ---------------------------------------------------------------------------------------------------


@pytest.fixture
def operator_admin(operator_org) -> Client:
    operator = make_member(
        operator_org, user=make_user("operateur@example.org", is_staff=True, is_superuser=True)
    )
    client = Client()
    client.force_login(operator)
    return client


def _formset(prefix: str, rows: list[dict]) -> dict:
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(len(rows)),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        data.update({f"{prefix}-{index}-{name}": value for name, value in row.items()})
    return data


def _user_change_form(user: User, **changes) -> dict:
    data = {
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "preferred_language": user.preferred_language,
        "is_active": "on",
        "date_joined_0": timezone.localtime(user.date_joined).strftime("%Y-%m-%d"),
        "date_joined_1": timezone.localtime(user.date_joined).strftime("%H:%M:%S"),
    }
    memberships = Membership.objects.filter(user=user).order_by("id")
    rows = [
        {"id": str(m.pk), "user": str(user.pk), "organisation": str(m.organisation_id), "role": m.role}
        for m in memberships
    ]
    data.update(_formset("memberships", rows))
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_an_operator_deactivating_a_person_ends_their_sessions(operator_admin, amina):
    pair = login(amina.email)
    response = operator_admin.post(
        f"/admin/organisations/user/{amina.pk}/change/", _user_change_form(amina, is_active=None)
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    amina.refresh_from_db()
    assert amina.is_active is False
    problem(me(pair["access"]), 401, "user_inactive")
    problem(refresh(pair["refresh"]), 401, "no_active_account")
    assert revocations(amina) == ["deactivated"]
    # Back to active, the old session stays ended.
    User.objects.filter(pk=amina.pk).update(is_active=True)
    problem(me(pair["access"]), 401, "token_revoked")
    problem(refresh(pair["refresh"]), 401, "token_revoked")


def test_removing_a_membership_in_the_admin_ends_the_members_sessions(operator_admin, association, amina):
    pair = login(amina.email)
    membership = Membership.objects.get(user=amina)
    form = _user_change_form(amina)
    form["memberships-0-DELETE"] = "on"
    response = operator_admin.post(f"/admin/organisations/user/{amina.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert not Membership.objects.filter(pk=membership.pk).exists()
    problem(me(pair["access"]), 401, "token_revoked")
    problem(refresh(pair["refresh"]), 401, "token_revoked")
    assert revocations(amina) == ["membership_removed"]


def test_an_operator_changing_a_password_in_the_admin_ends_the_sessions(operator_admin, amina):
    pair = login(amina.email)
    response = operator_admin.post(
        f"/admin/organisations/user/{amina.pk}/password/",
        {"password1": "nouveau-mot-2026!", "password2": "nouveau-mot-2026!", "usable_password": "true"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    problem(me(pair["access"]), 401, "token_revoked")
    problem(refresh(pair["refresh"]), 401, "token_revoked")
    assert revocations(amina) == ["password_changed"]
    # The operator's own dashboard/admin session is not theirs to lose.
    assert operator_admin.get("/admin/").status_code == 200


# ---------------------------------------------------------------------------------------------------
# Dashboard sessions follow the same epoch
# ---------------------------------------------------------------------------------------------------


def test_ending_every_session_ends_dashboard_sessions_too(operator_org):
    person = make_member(operator_org, user=make_user("analyste@example.org", password=PASSWORD))
    browser = Client()
    assert (
        browser.post("/dashboard/login/", {"username": person.email, "password": PASSWORD}).status_code == 302
    )
    assert browser.get("/dashboard/").status_code == 200
    services.user_revoke_tokens(user=person, reason="logout_everywhere")
    response = browser.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"].startswith("/dashboard/login/")


def test_before_any_revocation_the_session_hash_is_djangos_own(amina):
    """Sessions opened before epochs existed stay valid: epoch 0 keeps Django's value."""
    assert amina.get_session_auth_hash() == AbstractBaseUser.get_session_auth_hash(amina)
    services.user_revoke_tokens(user=amina, reason="logout_everywhere")
    assert amina.get_session_auth_hash() != AbstractBaseUser.get_session_auth_hash(amina)


# ---------------------------------------------------------------------------------------------------
# Upkeep of the blacklist
# ---------------------------------------------------------------------------------------------------


def test_the_beat_flushes_expired_tokens_and_their_blacklist_entries(amina):
    from organisations.tasks import flush_expired_tokens

    now = timezone.now()
    expired = OutstandingToken.objects.create(
        user=amina,
        jti="expired",
        token="…",
        created_at=now - timedelta(days=15),
        expires_at=now - timedelta(days=1),
    )
    BlacklistedToken.objects.create(token=expired)
    live_spent = OutstandingToken.objects.create(
        user=amina, jti="live", token="…", created_at=now, expires_at=now + timedelta(days=14)
    )
    BlacklistedToken.objects.create(token=live_spent)

    assert flush_expired_tokens.delay().get() == 2  # the token and its blacklist entry
    assert list(OutstandingToken.objects.values_list("jti", flat=True)) == ["live"]
    assert list(BlacklistedToken.objects.values_list("token__jti", flat=True)) == ["live"]
    entry = settings.CELERY_BEAT_SCHEDULE["organisations-flush-expired-tokens"]
    assert entry["task"] == flush_expired_tokens.name


# ---------------------------------------------------------------------------------------------------
# Two refreshes racing with one token
# ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_refreshes_racing_with_one_token_one_wins_and_the_reuse_is_caught():
    """Real parallel connections, released together, over several rounds: the token's row lock lets one
    refresh through; the other finds the token spent, which is reuse: every session ends, the winner's
    included (its successor was recorded under the lock, so the revocation finds it)."""
    user = make_user("amina.diallo@example.org", password=PASSWORD)
    make_member(make_org(OrganisationKind.ASSOCIATION), MembershipRole.MEMBER, user=user)
    for epoch in range(ROUNDS):
        pair = login(user.email)
        barrier = threading.Barrier(2)
        answers: list = []
        lock = threading.Lock()

        def race(pair=pair, barrier=barrier, answers=answers, lock=lock) -> None:
            try:
                barrier.wait()
                response = refresh(pair["refresh"])
                outcome = (response.status_code, response.json())
            except Exception as exc:  # whatever escaped is the failure to report
                outcome = ("raised", repr(exc))
            finally:
                connection.close()
            with lock:
                answers.append(outcome)

        threads = [threading.Thread(target=race) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

        assert sorted(str(status) for status, _body in answers) == ["200", "401"], answers
        (winner,) = [body for status, body in answers if status == 200]
        (loser,) = [body for status, body in answers if status == 401]
        assert loser["code"] == "token_reused"
        problem(me(winner["access"]), 401, "token_revoked")
        problem(refresh(winner["refresh"]), 401, "token_revoked")
        user.refresh_from_db()
        assert user.token_epoch == epoch + 1
        assert not OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True).exists()
    assert revocations(user) == ["token_reused"] * ROUNDS
