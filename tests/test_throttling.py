"""API rate limits in the real Redis: per person, per API key, per anonymous caller and per client address,
stricter budgets for search and statistics, 429 with Retry-After, and one client address for all of
them, behind the trusted proxies only (config.client_ip)."""

from __future__ import annotations

import logging
import threading
import time
from types import SimpleNamespace

import pytest
import yaml
from django.conf import settings as django_settings
from django.test import RequestFactory

from config.client_ip import ClientIPLogFilter, ClientIPMiddleware, address_bucket, client_ip_from_meta
from config.gunicorn import AccessLogger
from organisations.models import OrganisationKind

from .conftest import CheckedClient, client_for, client_for_key, make_api_key, make_member, make_org
from .limits import assert_too_many, fresh_counters, set_rates, still_window  # noqa: F401
from .openapi import spec
from .test_infrastructure import BASE_DIR, _command, _compose, _dockerfile_instructions

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_counters", "still_window")]

SEARCH = "/api/v1/offers/search/?lat=50.6916&lon=3.1746"


def _statuses(client, path: str, times: int, **extra) -> list[int]:
    return [client.get(path, **extra).status_code for _ in range(times)]


# --- the reproduction ---------------------------------------------------------------------------
def test_a_burst_of_300_searches_is_throttled_at_the_default_rates(settings):
    from config.settings import base

    set_rates(settings, **base.BOUCLE_RATES)  # the defaults a deployment runs with, not the suite's
    person = client_for(make_member(make_org(OrganisationKind.ASSOCIATION)))
    statuses = _statuses(person, SEARCH, 300)
    allowed = int(base.BOUCLE_RATES["search"].split("/")[0])
    assert statuses == [200] * allowed + [429] * (300 - allowed)
    assert_too_many(person.get(SEARCH), at_most_s=60)


def test_x_forwarded_for_does_not_buy_a_new_login_budget(settings, anon):
    """Before: DRF keyed the auth throttle on the client's own X-Forwarded-For (NUM_PROXIES unset)."""
    set_rates(settings, auth="5/min")
    body = {"email": "nobody@example.org", "password": "wrong-password-00"}
    forwarded = [f"203.0.113.{n}" for n in range(6)]
    statuses = [
        anon.post("/api/v1/auth/token/", body, format="json", HTTP_X_FORWARDED_FOR=address).status_code
        for address in forwarded
    ]
    assert statuses == [401] * 5 + [429]
    response = anon.post("/api/v1/auth/token/", body, format="json", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert_too_many(response, at_most_s=60)
    # The other auth routes share the address's budget.
    assert_too_many(anon.post("/api/v1/auth/token/refresh/", {"refresh": "x"}, format="json"))


# --- budgets -----------------------------------------------------------------------------------------
def test_a_person_has_a_budget_of_their_own(settings):
    set_rates(settings, user="3/min")
    organisation = make_org(OrganisationKind.ASSOCIATION)
    first, colleague = client_for(make_member(organisation)), client_for(make_member(organisation))
    assert _statuses(first, "/api/v1/me/", 4) == [200, 200, 200, 429]
    retry_after_s = assert_too_many(first.get("/api/v1/me/"), at_most_s=60)
    assert retry_after_s <= 60
    assert _statuses(colleague, "/api/v1/me/", 3) == [200, 200, 200]


def test_an_api_key_has_a_budget_of_its_own_apart_from_people(settings):
    set_rates(settings, api_key="3/min", user="3/min")
    firm = make_org(OrganisationKind.COMPANY)
    _key, raw = make_api_key(firm, scopes=("read",))
    _other, other_raw = make_api_key(firm, scopes=("read",))
    key = client_for_key(raw)
    assert _statuses(key, "/api/v1/sites/", 4) == [200, 200, 200, 429]
    assert _statuses(client_for_key(other_raw), "/api/v1/sites/", 1) == [200]
    assert _statuses(client_for(make_member(firm)), "/api/v1/sites/", 1) == [200]


def test_one_machine_cycling_api_keys_meets_its_address_ceiling(settings):
    set_rates(settings, ip="5/min", api_key="1000/min")
    firm = make_org(OrganisationKind.COMPANY)
    keys = [make_api_key(firm, scopes=("read",))[1] for _ in range(6)]
    statuses = [client_for_key(raw).get("/api/v1/sites/").status_code for raw in keys]
    assert statuses == [200] * 5 + [429]
    elsewhere = client_for_key(keys[0])
    assert elsewhere.get("/api/v1/sites/", REMOTE_ADDR="192.0.2.44").status_code == 200


def test_anonymous_callers_share_their_address_budget(settings):
    set_rates(settings, anon="2/min")
    here, there = CheckedClient(REMOTE_ADDR="192.0.2.10"), CheckedClient(REMOTE_ADDR="192.0.2.11")
    assert _statuses(here, "/api/v1/categories/", 3, HTTP_X_FORWARDED_FOR="1.2.3.4") == [200, 200, 429]
    assert _statuses(there, "/api/v1/categories/", 2) == [200, 200]
    # A logged-in person on the same address spends their own budget, not the anonymous one.
    person = client_for(make_member(make_org(OrganisationKind.ASSOCIATION)))
    assert person.get("/api/v1/categories/", REMOTE_ADDR="192.0.2.10").status_code == 200


def test_an_ipv6_subscriber_is_one_address_for_its_whole_64(settings):
    set_rates(settings, anon="2/min")
    statuses = [
        CheckedClient(REMOTE_ADDR=f"2001:db8:1:2::{n}").get("/api/v1/categories/").status_code
        for n in (1, 2, 3)
    ]
    assert statuses == [200, 200, 429]
    assert CheckedClient(REMOTE_ADDR="2001:db8:1:3::1").get("/api/v1/categories/").status_code == 200


def test_search_and_statistics_have_stricter_budgets_on_top(settings):
    set_rates(settings, search="2/min", stats="2/min", user="100/min")
    city = make_org(OrganisationKind.PUBLIC_AUTHORITY)
    person = client_for(make_member(make_org(OrganisationKind.ASSOCIATION)))
    assert _statuses(person, SEARCH, 3) == [200, 200, 429]
    assert person.get("/api/v1/me/").status_code == 200  # the general budget is not spent
    analyst = client_for(make_member(city))
    assert _statuses(analyst, "/api/v1/stats/summary/", 2) == [200, 200]
    # One statistics budget for all of them.
    assert_too_many(analyst.get("/api/v1/stats/timeseries/"), at_most_s=60)
    assert analyst.get(SEARCH).status_code == 200


def test_the_openapi_document_has_a_budget_of_its_own(settings):
    """Writing it costs about a second of CPU, and anyone may ask for it."""
    set_rates(settings, schema="2/min")
    client = CheckedClient(REMOTE_ADDR="192.0.2.20")
    assert _statuses(client, "/api/schema/", 2) == [200, 200]
    assert_too_many(client.get("/api/schema/"), at_most_s=60)
    assert CheckedClient(REMOTE_ADDR="192.0.2.21").get("/api/schema/").status_code == 200


def test_the_health_probe_is_never_throttled(settings):
    set_rates(settings, ip="1/min", anon="1/min")
    client = CheckedClient()
    assert {client.get("/healthz").status_code for _ in range(3)} == {200}


def test_retry_after_tells_the_truth(settings, monkeypatch):
    set_rates(settings, user="2/min")
    now = [time.time()]
    monkeypatch.setattr("api.throttling.clock", lambda: now[0])
    person = client_for(make_member(make_org(OrganisationKind.ASSOCIATION)))
    assert _statuses(person, "/api/v1/me/", 2) == [200, 200]
    retry_after_s = assert_too_many(person.get("/api/v1/me/"), at_most_s=60)
    now[0] += retry_after_s - 1
    assert_too_many(person.get("/api/v1/me/"), at_most_s=1)  # a second early: still spent
    now[0] += 1
    assert _statuses(person, "/api/v1/me/", 3) == [200, 200, 429]  # a new window, a full budget


def test_a_search_spends_its_three_budgets_in_one_redis_round_trip(settings, monkeypatch):
    """Before: each budget was two or three round trips of its own (Django's cache incr(), which checks
    that the key exists first, add() or touch()): six for a search, on the hottest path."""
    import config.rates

    set_rates(settings, ip="100/min", user="100/min", search="2/min")
    person = client_for(make_member(make_org(OrganisationKind.ASSOCIATION)))
    client = config.rates._client()
    round_trips: list[list[str]] = []
    real_execute = client.pipeline().__class__.execute

    def counted(pipeline, *args, **kwargs):
        round_trips.append([str(command[0][0]) for command in pipeline.command_stack])
        return real_execute(pipeline, *args, **kwargs)

    monkeypatch.setattr(client.pipeline().__class__, "execute", counted)
    assert _statuses(person, SEARCH, 3) == [200, 200, 429]
    assert round_trips == [["INCRBY", "EXPIRE"] * 3] * 3  # one pipeline (MULTI/EXEC) per request
    keys = list(client.scan_iter(match=django_settings.CACHES["default"]["KEY_PREFIX"] + ":1:throttle:*"))
    assert sorted(key.decode().split(":")[3] for key in keys) == ["ip", "search", "user"]
    for key in keys:
        assert int(client.get(key)) == 3
        assert 60 < client.ttl(key) <= 120  # two periods from the first hit, not extended by the others


def test_concurrent_requests_are_all_counted(transactional_db, settings):
    """The counter is Redis' INCR: 20 requests at once against a budget of 10 pass exactly 10."""
    set_rates(settings, user="10/min")
    user = make_member(make_org(OrganisationKind.ASSOCIATION))
    barrier = threading.Barrier(20)
    statuses: list[int] = []

    def call() -> None:
        client = client_for(user)
        barrier.wait()
        statuses.append(client.get("/api/v1/me/").status_code)

    threads = [threading.Thread(target=call) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 10 + [429] * 10


def test_every_operation_documents_its_429_with_retry_after():
    operations = [
        (path, method, operation)
        for path, item in spec()["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "responses" in operation
    ]
    assert operations
    for path, method, operation in operations:
        response = operation["responses"].get("429")
        if path == "/healthz":
            assert response is None
            continue
        assert response, f"{method} {path} does not document 429"
        assert response["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}
        assert response["content"]["application/problem+json"]
    token = spec()["paths"]["/api/v1/auth/token/"]["post"]["responses"]["429"]["description"]
    assert "`login_locked`" in token and "per client address" in token
    search = spec()["paths"]["/api/v1/offers/search/"]["get"]["responses"]["429"]["description"]
    assert "for searches, per caller" in search
    assert spec()["components"]["schemas"]["Problem"]["properties"]["retry_after_s"]["minimum"] == 1


def test_a_rate_that_is_not_one_stops_the_settings(monkeypatch):
    from config.env import env_rate

    monkeypatch.setenv("BOUCLE_RATE_USER", "300 per minute")
    with pytest.raises(RuntimeError, match="BOUCLE_RATE_USER: not a rate"):
        env_rate("BOUCLE_RATE_USER", "300/min")


# --- one client address (config.client_ip) -----------------------------------------------------------
@pytest.mark.parametrize(
    ("forwarded", "proxies", "expected"),
    [
        (None, 0, "192.0.2.1"),
        ("203.0.113.9", 0, "192.0.2.1"),  # no proxy trusted: the header is the client's own claim
        ("203.0.113.9", 1, "203.0.113.9"),
        ("10.0.0.66, 203.0.113.9", 1, "203.0.113.9"),  # what the client wrote itself is on the left
        ("10.0.0.66, 203.0.113.9, 198.51.100.2", 2, "203.0.113.9"),
        ("203.0.113.9", 2, "203.0.113.9"),  # came through the inner proxy only
        (None, 1, "192.0.2.1"),  # straight to the application (a probe)
        ("203.0.113.9:5678", 1, "203.0.113.9"),
        ("[2001:db8::7]:443", 1, "2001:db8::7"),
        ("2001:DB8:0::7", 1, "2001:db8::7"),
        ("not-an-address", 1, "192.0.2.1"),
    ],
)
def test_the_client_address_behind_trusted_proxies(forwarded, proxies, expected):
    meta = {"REMOTE_ADDR": "192.0.2.1", **({"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {})}
    assert client_ip_from_meta(meta, trusted_proxies=proxies) == expected


def test_per_address_limits_count_ipv6_by_its_64():
    assert address_bucket("2001:db8:1:2::7") == "2001:db8:1:2::/64"
    assert address_bucket("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_bucket("192.0.2.1") == "192.0.2.1"


def test_with_one_trusted_proxy_the_address_it_saw_is_the_client(settings, anon):
    settings.BOUCLE_TRUSTED_PROXIES = 1
    set_rates(settings, auth="2/min")
    body = {"email": "nobody@example.org", "password": "wrong-password-00"}

    def login(forwarded: str) -> int:
        return anon.post(
            "/api/v1/auth/token/", body, format="json", HTTP_X_FORWARDED_FOR=forwarded
        ).status_code

    assert [login("1.1.1.1, 203.0.113.5"), login("2.2.2.2, 203.0.113.5")] == [401, 401]
    assert login("3.3.3.3, 203.0.113.5") == 429
    assert login("203.0.113.6") == 401


def test_log_lines_of_a_request_carry_the_client_address(settings):
    settings.BOUCLE_TRUSTED_PROXIES = 1
    seen = {}

    def view(request):
        record = logging.LogRecord("boucle", logging.WARNING, __file__, 1, "something", None, None)
        ClientIPLogFilter().filter(record)
        seen["client_ip"] = record.client_ip
        return SimpleNamespace()

    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.8")
    ClientIPMiddleware(view)(request)
    assert seen == {"client_ip": "203.0.113.8"}
    outside = logging.LogRecord("boucle", logging.INFO, __file__, 1, "startup", None, None)
    ClientIPLogFilter().filter(outside)
    assert outside.client_ip == "-"
    # Django's own "Not Found: …" lines come after the middleware, with the request attached.
    after = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "Not Found", None, None)
    after.request = request
    ClientIPLogFilter().filter(after)
    assert after.client_ip == "203.0.113.8"
    console = django_settings.LOGGING["handlers"]["console"]
    assert console["filters"] == ["client_ip"]
    assert "%(client_ip)s" in django_settings.LOGGING["formatters"][console["formatter"]]["format"]


def test_the_gunicorn_access_log_names_the_client_behind_the_proxies(settings):
    from gunicorn.config import Config

    settings.BOUCLE_TRUSTED_PROXIES = 1
    environ = {
        "REMOTE_ADDR": "10.0.0.2",
        "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.8",
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/api/v1/me/",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    response = SimpleNamespace(status="200 OK", headers=[], sent=10)
    request = SimpleNamespace(headers=[])
    duration = SimpleNamespace(seconds=0, microseconds=1000)
    atoms = AccessLogger(Config()).atoms(response, request, environ, duration)
    assert atoms["h"] == "203.0.113.8"


def test_every_gunicorn_command_uses_that_access_log():
    run = (BASE_DIR / "scripts" / "run.sh").read_text(encoding="utf-8").replace("\\\n", " ")
    gunicorn_line = next(line for line in run.splitlines() if "gunicorn config.wsgi" in line)
    cmd = next(rest for keyword, rest in _dockerfile_instructions() if keyword == "CMD")
    for command in (gunicorn_line.split(), yaml.safe_load(cmd), _command(_compose()["services"]["web"])):
        assert command[command.index("--logger-class") + 1] == "config.gunicorn.AccessLogger", command


def test_compose_trusts_its_one_reverse_proxy():
    environment = _compose()["x-boucle"]["environment"]
    assert environment["BOUCLE_TRUSTED_PROXIES"] == "${BOUCLE_TRUSTED_PROXIES:-1}"
    assert django_settings.REST_FRAMEWORK["NUM_PROXIES"] == django_settings.BOUCLE_TRUSTED_PROXIES
