"""Bounded work: a statement timeout on the web process's database connections, answered 503
`query_timeout` with Retry-After when it strikes, and time limits on every Celery task."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from urllib.parse import quote

import pytest
from django.db import connection, transaction
from django.http import HttpResponse
from django.test import Client
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from config import urls as project_urls
from config.celery import app as celery_app

from .test_infrastructure import BASE_DIR

pytestmark = pytest.mark.django_db


def _slow_statement() -> None:
    """A statement longer than the 50 ms this transaction allows: what the web's timeout cancels."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('statement_timeout', '50ms', true)")
        cursor.execute("SELECT pg_sleep(2)")


class _SlowApiView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def get(self, request):
        _slow_statement()
        return Response({"never": "here"})


def _slow_page(request):
    _slow_statement()
    return HttpResponse("never here")


urlpatterns = [path("slow-api/", _SlowApiView.as_view()), path("slow-page/", _slow_page)]
handler500 = project_urls.handler500


def _assert_query_timeout(response) -> None:
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"] == "10"
    body = response.json()
    assert (body["code"], body["type"], body["status"], body["retry_after_s"]) == (
        "query_timeout",
        "urn:boucle:problem:query_timeout",
        503,
        10,
    )


@pytest.mark.urls("tests.test_timeouts")
def test_a_cancelled_statement_in_an_api_view_is_a_503_problem():
    _assert_query_timeout(APIClient(HTTP_ACCEPT_LANGUAGE="en").get("/slow-api/"))
    with connection.cursor() as cursor:  # the connection is still good
        cursor.execute("SELECT 1")


@pytest.mark.urls("tests.test_timeouts")
def test_a_cancelled_statement_in_a_page_is_the_same_503_problem():
    response = Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE="en").get("/slow-page/")
    _assert_query_timeout(response)
    assert response.json()["detail"] == (
        "This request took too long to answer and was stopped. Try again later, or ask for less."
    )


def _python(code: str, **env: str) -> str:
    """Runs `code` in a fresh process with the test settings, against the test database."""
    database = connection.settings_dict
    password = f":{quote(database['PASSWORD'])}" if database["PASSWORD"] else ""
    credentials = quote(database["USER"]) + password
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": (
            f"postgres://{credentials}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}"
            f"/{quote(database['NAME'])}"
        ),
        **env,
    }
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_the_web_process_serves_requests_with_the_statement_timeout():
    """Before: statement_timeout was 0 on the web's connection."""
    shown = _python(
        """
        from config.wsgi import application
        from django.db import connection

        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/healthz", "SERVER_NAME": "localhost",
                   "SERVER_PORT": "80", "HTTP_HOST": "localhost", "wsgi.url_scheme": "http",
                   "wsgi.input": __import__("io").BytesIO()}
        statuses = []
        body = b"".join(application(environ, lambda status, headers: statuses.append(status)))
        assert statuses == ["200 OK"], (statuses, body)
        with connection.cursor() as cursor:  # the request's connection, kept open (CONN_MAX_AGE)
            cursor.execute("SHOW statement_timeout")
            print(cursor.fetchone()[0])
        """,
        BOUCLE_WEB_STATEMENT_TIMEOUT_MS="1234",
    )
    assert shown == "1234ms"


def test_commands_and_workers_keep_no_statement_timeout():
    shown = _python(
        """
        import django
        django.setup()
        from config.celery import app  # what a worker loads
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SHOW statement_timeout")
            print(cursor.fetchone()[0])
        """,
        BOUCLE_WEB_STATEMENT_TIMEOUT_MS="1234",
    )
    assert shown == "0"


def test_every_celery_task_has_time_limits(settings):
    """Before: none at all."""
    limits = (settings.CELERY_TASK_SOFT_TIME_LIMIT, settings.CELERY_TASK_TIME_LIMIT)
    assert limits == (300, 360) or "CELERY_TASK_SOFT_TIME_LIMIT" in os.environ  # the defaults
    assert (celery_app.conf.task_soft_time_limit, celery_app.conf.task_time_limit) == limits
    celery_app.loader.import_default_modules()
    long_ones = {
        "matching.tasks.send_match_digests",
        "impact.tasks.build_monthly_reports",
        "exchange.tasks.process_offer_import",
    }
    for name, task in celery_app.tasks.items():
        if name.startswith("celery."):
            continue
        expected = (max(1800, limits[0]), max(1860, limits[1])) if name in long_ones else limits
        assert (task.soft_time_limit, task.time_limit) == expected, name
    assert long_ones <= set(celery_app.tasks)


def test_the_task_time_limits_come_from_the_environment():
    shown = _python(
        """
        from config.celery import app
        app.loader.import_default_modules()
        reports = app.tasks["impact.tasks.build_monthly_reports"]
        print(app.conf.task_soft_time_limit, app.conf.task_time_limit, reports.soft_time_limit)
        """,
        CELERY_TASK_SOFT_TIME_LIMIT="42",
        CELERY_TASK_TIME_LIMIT="50",
    )
    assert shown == "42 50 1800"
