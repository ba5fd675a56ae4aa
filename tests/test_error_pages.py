"""Django's own answers: an unknown URL under /api/ or /healthz is the problem 404 in the development
profile too (issue 8, item 10); a crash in the production profile shows no traceback, no exception and no
debug page, on the API (a problem) and on the dashboard (a page), and is logged."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection, transaction
from django.test import Client, override_settings
from jsonschema import Draft202012Validator

from organisations.models import MembershipRole

from .conftest import make_member, make_org
from .openapi import spec

pytestmark = pytest.mark.django_db

BASE_DIR = Path(__file__).resolve().parent.parent
# What the crashing views of tests/error_urls.py put in their exception. That URLconf is not imported
# here: it imports config.urls, whose routes depend on DEBUG when first imported.
SECRET_IN_EXCEPTION = "s3cr3t-password-4711"
PROFILES = pytest.mark.parametrize("debug", [False, True], ids=["production-profile", "development-profile"])


def assert_problem(response, status: int, code: str) -> dict:
    # As tests/test_errors.py checks, without importing it: it imports config.urls (see above).
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    problem = {"$ref": "#/components/schemas/Problem", "components": spec()["components"]}
    assert not list(Draft202012Validator(problem).iter_errors(body)), body
    assert (body["status"], body["code"], body["type"]) == (status, code, f"urn:boucle:problem:{code}")
    return body


def assert_nothing_of_the_crash(text: str) -> None:
    assert SECRET_IN_EXCEPTION not in text
    assert "RuntimeError" not in text and "Traceback" not in text and "error_urls" not in text
    assert "DEBUG = True" not in text and "Django" not in text and "Request Method" not in text


# --- unknown URLs -------------------------------------------------------------------------------------
@PROFILES
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/no-such-route/"),
        ("get", "/api/nope"),
        ("get", "/api/v1/sites/123/extra/"),
        ("post", "/api/v1/no-such-route/"),
        ("delete", "/api/v2/offers/1/"),
        ("get", "/healthz/extra"),
    ],
)
def test_an_unknown_api_url_is_the_problem_404_in_both_profiles(debug, method, path):
    with override_settings(DEBUG=debug):
        response = getattr(Client(), method)(path, HTTP_ACCEPT_LANGUAGE="en")
    body = assert_problem(response, 404, "not_found")
    assert (body["title"], body["detail"], body["instance"]) == ("Not found", "Nothing here.", path)
    assert "<html" not in response.content.decode().lower()


@PROFILES
def test_a_missing_slash_still_redirects_in_both_profiles(debug):
    with override_settings(DEBUG=debug):
        response = Client().get("/api/v1/offers?status=published")
    assert (response.status_code, response["Location"]) == (301, "/api/v1/offers/?status=published")


def test_the_dashboard_keeps_django_s_page_for_developers():
    with override_settings(DEBUG=True):
        response = Client().get("/dashboard/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert "Page not found" in response.content.decode()


# --- crashes in the production profile ------------------------------------------------------------------
PRODUCTION_REQUESTS = """
import json, sys
from io import BytesIO
from wsgiref.util import setup_testing_defaults

from config.wsgi import application  # the real WSGI entry point, with DJANGO_SETTINGS_MODULE's settings
from django.conf import settings
from django.test.utils import override_settings

answers = {"debug": settings.DEBUG, "propagate": settings.DEBUG_PROPAGATE_EXCEPTIONS}
with override_settings(ROOT_URLCONF="tests.error_urls"):
    for path in sys.argv[1:]:
        environ = {
            "PATH_INFO": path, "HTTP_HOST": "boucle.example.org", "SERVER_NAME": "boucle.example.org",
            "HTTP_X_FORWARDED_PROTO": "https", "HTTP_ACCEPT_LANGUAGE": "en", "wsgi.input": BytesIO(),
        }
        setup_testing_defaults(environ)
        started = {}
        body = b"".join(application(environ, lambda status, headers, exc_info=None: started.update(
            status=status, headers=dict(headers))))
        answers[path] = {**started, "body": body.decode()}
print(json.dumps(answers))
"""


@pytest.fixture(scope="module")
def production_crashes():
    """Each crashing URL requested once through config.wsgi.application in a fresh process run with
    config.settings.production (DEBUG off, as deployed); its answers, and what it logged."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "boucle.example.org",
        **{name: os.environ[name] for name in ("DATABASE_URL", "REDIS_URL") if name in os.environ},
    }
    paths = ["/api/v1/test/crash/", "/api/v1/test/plain-crash/", "/dashboard/test/crash/"]
    result = subprocess.run(
        [sys.executable, "-c", PRODUCTION_REQUESTS, *paths],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


@pytest.mark.parametrize("path", ["/api/v1/test/crash/", "/api/v1/test/plain-crash/"])
def test_an_api_crash_in_production_is_a_generic_problem_500_and_is_logged(production_crashes, path):
    answers, log = production_crashes
    assert (answers["debug"], answers["propagate"]) == (False, False)
    answer = answers[path]
    assert answer["status"] == "500 Internal Server Error"
    assert answer["headers"]["Content-Type"] == "application/problem+json"
    assert json.loads(answer["body"]) == {
        "type": "urn:boucle:problem:server_error",
        "title": "Internal server error",
        "status": 500,
        "detail": "Something went wrong on our side; it was logged.",
        "code": "server_error",
        "instance": path,
    }
    assert_nothing_of_the_crash(answer["body"])
    # Logged, with the traceback and the message, where the operator reads it (not in the answer).
    assert re.search(rf"^.* ERROR django\.request .*Internal Server Error: {re.escape(path)}$", log, re.M)
    assert f"RuntimeError: database password is {SECRET_IN_EXCEPTION}" in log


def test_a_dashboard_crash_in_production_is_a_generic_page_and_is_logged(production_crashes):
    answers, log = production_crashes
    answer = answers["/dashboard/test/crash/"]
    assert answer["status"] == "500 Internal Server Error"
    assert answer["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert answer["headers"]["Content-Security-Policy"].startswith("default-src 'self'; script-src 'self';")
    assert "<h1>Something went wrong</h1>" in answer["body"]
    assert '<a class="button" href="/dashboard/">' in answer["body"]
    assert_nothing_of_the_crash(answer["body"])
    assert re.search(r"^.* ERROR django\.request .*Internal Server Error: /dashboard/test/crash/$", log, re.M)


def wsgi_get(path: str, *, cookies: dict[str, str]) -> tuple[str, dict[str, str], str]:
    environ = {
        "PATH_INFO": path,
        "HTTP_HOST": "localhost",
        "HTTP_ACCEPT_LANGUAGE": "en",
        "HTTP_COOKIE": "; ".join(f"{name}={value}" for name, value in cookies.items()),
        "wsgi.input": io.BytesIO(),
    }
    setup_testing_defaults(environ)
    started = {}

    def start_response(status, headers, exc_info=None):
        started.update(status=status, headers=dict(headers))

    # As Django's test client does: the test's connection (and its transaction) must outlive the request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        body = b"".join(WSGIHandler()(environ, start_response)).decode()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return started["status"], started["headers"], body


@override_settings(DEBUG=False, DEBUG_PROPAGATE_EXCEPTIONS=False)
def test_the_real_dashboard_crashing_shows_a_generic_page(monkeypatch, caplog):
    """The dashboard view itself, logged in, through Django's WSGI handler: its selector fails."""

    def failing_selector(**kwargs):
        raise RuntimeError(f"database password is {SECRET_IN_EXCEPTION}")

    monkeypatch.setattr("web.views.stats_summary", failing_selector)
    client = Client()
    client.force_login(make_member(make_org("public_authority"), MembershipRole.MEMBER))
    with caplog.at_level(logging.ERROR, logger="django.request"):
        status, headers, body = wsgi_get(
            "/dashboard/", cookies={name: morsel.value for name, morsel in client.cookies.items()}
        )
    assert status == "500 Internal Server Error"
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<h1>Something went wrong</h1>" in body
    assert_nothing_of_the_crash(body)
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage() == "Internal Server Error: /dashboard/"
    assert str(record.exc_info[1]) == f"database password is {SECRET_IN_EXCEPTION}"


@override_settings(DEBUG=False, DEBUG_PROPAGATE_EXCEPTIONS=False)
def test_a_dashboard_query_cancelled_by_the_statement_timeout_is_a_503_page(monkeypatch):
    """api.errors decides the status (503 and Retry-After for a cancelled statement); the page keeps it."""

    def slow_selector(**kwargs):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', '50ms', true)")
            cursor.execute("SELECT pg_sleep(2)")

    monkeypatch.setattr("web.views.stats_summary", slow_selector)
    client = Client()
    client.force_login(make_member(make_org("public_authority"), MembershipRole.MEMBER))
    status, headers, body = wsgi_get(
        "/dashboard/", cookies={name: morsel.value for name, morsel in client.cookies.items()}
    )
    assert status == "503 Service Unavailable"
    assert (headers["Content-Type"], headers["Retry-After"]) == ("text/html; charset=utf-8", "10")
    assert "<h1>Something went wrong</h1>" in body
    assert "pg_sleep" not in body and "57014" not in body
    assert_nothing_of_the_crash(body)
