"""Helpers for the tests of the rate limits and the login lockout, which count in the real Redis the whole
suite shares: each test starts and ends with no counter of either."""

from __future__ import annotations

import time

import pytest
import redis
from django.conf import settings
from django.core.cache import cache


def clear_counters() -> None:
    client = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    try:
        for prefix in ("throttle:", "login-guard:"):
            keys = list(client.scan_iter(match=cache.make_key(f"{prefix}*"), count=1000))
            if keys:
                client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def fresh_counters():
    clear_counters()
    yield
    clear_counters()


@pytest.fixture
def still_window(monkeypatch):
    """The throttles' clock stands still, so that no test straddles the end of a window by chance."""
    now = time.time()
    monkeypatch.setattr("api.throttling.clock", lambda: now)


def set_rates(settings, **scopes: str) -> None:
    """Those API rates for this test (pytest-django's `settings`), the suite's (high) ones for the others."""
    current = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**current, **scopes}}


def assert_too_many(response, code: str = "throttled", *, at_most_s: int | None = None) -> int:
    """A 429 problem with a Retry-After that agrees with its retry_after_s; returns the seconds."""
    assert response.status_code == 429, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["code"], body["type"]) == (429, code, f"urn:boucle:problem:{code}")
    retry_after_s = body["retry_after_s"]
    assert isinstance(retry_after_s, int) and retry_after_s >= 1
    assert response["Retry-After"] == str(retry_after_s)
    if at_most_s is not None:
        assert retry_after_s <= at_most_s
    return retry_after_s
