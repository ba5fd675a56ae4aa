"""GET /healthz against the real PostgreSQL and Redis, and against ports where nothing listens."""

from __future__ import annotations

import socket

import pytest
from django.db import connections
from django.test import override_settings
from rest_framework.test import APIClient

from api.endpoints import health

from .openapi import check_response

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def database_down(monkeypatch):
    """The check's connection points at a closed port: psycopg really fails to connect."""
    default = connections["default"]
    settings_dict = {**default.settings_dict, "HOST": "127.0.0.1", "PORT": str(_closed_port())}
    broken = type(default)(settings_dict, alias="health-check-broken")
    monkeypatch.setattr(health, "connection", broken)
    yield
    broken.close()


def _get(language: str = "en"):
    response = APIClient().get("/healthz", HTTP_ACCEPT_LANGUAGE=language)
    check_response("GET", "/healthz", response)  # every answer must be the documented one
    return response


def test_ok_when_database_and_redis_answer():
    response = _get()
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_503_problem_naming_redis_when_redis_is_down():
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{_closed_port()}/0"):
        response = _get()
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:boucle:problem:service_unavailable",
        "title": "Service unavailable",
        "status": 503,
        "detail": "Down: redis.",
        "code": "service_unavailable",
        "instance": "/healthz",
        "checks": {"database": "ok", "redis": "down"},
    }


def test_503_problem_naming_the_database_when_it_is_down(database_down):
    response = _get()
    assert response.status_code == 503
    body = response.json()
    assert (body["code"], body["detail"]) == ("service_unavailable", "Down: database.")
    assert body["checks"] == {"database": "down", "redis": "ok"}
    # The reason (hosts, users) goes to the log, not to this public answer.
    assert "refused" not in response.content.decode().lower()
    assert "127.0.0.1" not in response.content.decode()


def test_503_names_both_in_french_by_default(database_down):
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{_closed_port()}/0"):
        response = APIClient().get("/healthz")
    check_response("GET", "/healthz", response)
    body = response.json()
    assert (body["title"], body["detail"]) == ("Service indisponible", "Indisponible : database, redis.")
    assert body["checks"] == {"database": "down", "redis": "down"}


def test_health_needs_no_credentials_and_ignores_bad_ones():
    response = APIClient().get("/healthz", HTTP_AUTHORIZATION="Bearer not-a-token")
    assert response.status_code == 200
