"""The login lockout (config.login_guard, on django-axes) on its three doors, the API's `auth/token/`, the
dashboard's and the admin's login pages, counting in the real Redis: per account and address, per
account, per address; a shared connection does not lock out a whole association."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.management import call_command
from django.test import Client

from organisations.models import OrganisationKind

from .conftest import CheckedClient, make_member, make_org, make_user
from .limits import assert_too_many, fresh_counters  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_counters", "low_limits")]

PASSWORD = "correct-horse-battery-9"
WRONG = "wrong-horse-battery-0"
OFFICE = "192.0.2.50"  # an association's shared connection


@pytest.fixture
def low_limits(settings):
    settings.BOUCLE_LOGIN_FAILURES_ACCOUNT_IP = "3/15min"
    settings.BOUCLE_LOGIN_FAILURES_ACCOUNT = "5/h"
    settings.BOUCLE_LOGIN_FAILURES_IP = "8/h"


def api(email: str, password: str, address: str = OFFICE, **headers):
    body = {"email": email, "password": password}
    return CheckedClient(REMOTE_ADDR=address).post("/api/v1/auth/token/", body, format="json", **headers)


def dashboard(email: str, password: str, address: str = OFFICE, **headers):
    client = Client(REMOTE_ADDR=address, HTTP_ACCEPT_LANGUAGE="en")
    return client.post("/dashboard/login/", {"username": email, "password": password}, **headers)


def admin(email: str, password: str, address: str = OFFICE, **headers):
    client = Client(REMOTE_ADDR=address, HTTP_ACCEPT_LANGUAGE="en")
    return client.post("/admin/login/?next=/admin/", {"username": email, "password": password}, **headers)


# door → (what a wrong password answers, what the right one answers)
DOORS = {"api": (api, 401, 200), "dashboard": (dashboard, 200, 302), "admin": (admin, 200, 302)}


def person(email: str = "claire@example.org"):
    user = make_user(email, PASSWORD, is_staff=True)  # staff: the admin lets them in too
    return make_member(make_org(OrganisationKind.ASSOCIATION), user=user)


def assert_locked(door: str, response, *, at_most_s: int) -> int:
    if door == "api":
        return assert_too_many(response, "login_locked", at_most_s=at_most_s)
    assert response.status_code == 429, response.content
    assert "web/locked_out.html" in [template.name for template in response.templates]
    assert b"Too many login attempts" in response.content
    retry_after_s = int(response["Retry-After"])
    assert 1 <= retry_after_s <= at_most_s
    return retry_after_s


@pytest.mark.parametrize("door", DOORS)
def test_one_account_from_one_address_is_locked_after_its_failures(door):
    """Before: no limit on the dashboard and the admin, and the API's keyed on X-Forwarded-For."""
    login, wrong, right = DOORS[door]
    user = person()
    # Neither a new X-Forwarded-For each time nor the case of the address buys more attempts.
    statuses = [
        login(email, WRONG, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code
        for n, email in enumerate(["claire@example.org", "Claire@Example.org"])
    ]
    assert statuses == [wrong, wrong]
    assert_locked(door, login(user.email, WRONG, HTTP_X_FORWARDED_FOR="203.0.113.9"), at_most_s=900)
    # The right password is refused too while the lock holds, from any door.
    for other in DOORS:
        assert_locked(other, DOORS[other][0](user.email, PASSWORD), at_most_s=900)
    assert login(user.email, PASSWORD, address="198.51.100.7").status_code == right


def test_the_api_lockout_is_the_429_problem():
    person()
    for _ in range(2):
        api("claire@example.org", WRONG)
    response = api("claire@example.org", WRONG)
    retry_after_s = assert_too_many(response, "login_locked", at_most_s=900)
    assert retry_after_s == 900
    # French first: the default language of the API.
    assert response.json()["detail"] == (
        "Trop de tentatives de connexion échouées. Réessayez dans 900 secondes."
    )
    assert response.json()["instance"] == "/api/v1/auth/token/"


@pytest.mark.parametrize("door", DOORS)
def test_a_colleague_on_the_same_connection_still_logs_in(door):
    login, _wrong, right = DOORS[door]
    clumsy, colleague = person("clumsy@example.org"), person("colleague@example.org")
    for _ in range(3):
        login(clumsy.email, WRONG)
    assert_locked(door, login(clumsy.email, PASSWORD), at_most_s=900)
    assert login(colleague.email, PASSWORD).status_code == right


@pytest.mark.parametrize("door", DOORS)
def test_one_account_guessed_from_many_addresses_is_locked_everywhere(door, settings):
    settings.BOUCLE_TRUSTED_PROXIES = 1  # so each guess comes from an address of its own
    login, wrong, right = DOORS[door]
    user = person()
    statuses = [login(user.email, WRONG, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code for n in range(4)]
    assert statuses == [wrong] * 4
    assert_locked(door, login(user.email, WRONG, HTTP_X_FORWARDED_FOR="203.0.113.4"), at_most_s=3600)
    assert_locked(door, login(user.email, PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.99"), at_most_s=3600)
    # Another account from those addresses is not concerned.
    other = person("other@example.org")
    assert login(other.email, PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.1").status_code == right


@pytest.mark.parametrize("door", DOORS)
def test_one_address_trying_many_accounts_is_locked_for_all(door):
    login, wrong, right = DOORS[door]
    statuses = [login(f"guess{n}@example.org", WRONG).status_code for n in range(7)]
    assert statuses == [wrong] * 7
    assert_locked(door, login("guess7@example.org", WRONG), at_most_s=3600)
    user = person()
    assert_locked(door, login(user.email, PASSWORD), at_most_s=3600)
    assert login(user.email, PASSWORD, address="198.51.100.7").status_code == right


def test_unknown_and_existing_accounts_lock_alike():
    person()
    known = [api("claire@example.org", WRONG).status_code for _ in range(3)]
    unknown = [api("nobody@example.org", WRONG).status_code for _ in range(3)]
    assert known == unknown == [401, 401, 429]


def test_a_success_clears_the_account_counters_only():
    user, colleague = person(), person("colleague@example.org")
    for _ in range(2):
        assert api(user.email, WRONG).status_code == 401
    assert api(user.email, PASSWORD).status_code == 200
    # The account starts again: two more failures are still no lockout, the third is.
    assert [api(user.email, WRONG).status_code for _ in range(2)] == [401, 401]
    assert_too_many(api(user.email, WRONG), "login_locked")
    # The address has 5 failures; two guesses make 7, and a colleague's success clears none of them:
    assert [api(f"guess{n}@example.org", WRONG).status_code for n in range(2)] == [401, 401]
    assert api(colleague.email, PASSWORD).status_code == 200
    assert_too_many(api("guess2@example.org", WRONG), "login_locked", at_most_s=3600)  # the 8th


def test_the_lock_lifts_after_its_period(settings):
    settings.BOUCLE_LOGIN_FAILURES_ACCOUNT_IP = "2/2s"
    user = person()
    assert api(user.email, WRONG).status_code == 401
    retry_after_s = assert_too_many(api(user.email, WRONG), "login_locked", at_most_s=2)
    assert_too_many(api(user.email, PASSWORD), "login_locked", at_most_s=2)
    time.sleep(retry_after_s + 0.1)
    assert api(user.email, PASSWORD).status_code == 200


def test_the_operator_lifts_a_lock_with_the_axes_commands():
    user = person()
    for _ in range(3):
        api(user.email, WRONG)
    assert_too_many(api(user.email, PASSWORD), "login_locked")
    call_command("axes_reset_ip_username", OFFICE, user.email.upper())
    assert api(user.email, PASSWORD).status_code == 200


def test_parallel_guesses_cannot_all_pass_before_the_first_failure_counts(transactional_db):
    """Twenty wrong passwords at once for one account from one address: three are checked, as many as
    the limit, and the rest are refused without a password check."""
    user = person()
    barrier = threading.Barrier(20)
    statuses: list[int] = []

    def guess() -> None:
        client = CheckedClient(REMOTE_ADDR=OFFICE)
        barrier.wait()
        body = {"email": user.email, "password": WRONG}
        statuses.append(client.post("/api/v1/auth/token/", body, format="json").status_code)

    threads = [threading.Thread(target=guess) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [401, 401] + [429] * 18
    assert_too_many(api(user.email, PASSWORD), "login_locked", at_most_s=900)
