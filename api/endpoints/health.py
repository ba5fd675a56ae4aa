"""GET /healthz: 200 when PostgreSQL and Redis answer, 503 naming what is down (problem shape).

The endpoint is public, so the body only says which dependency is down; the reason (which may name
hosts and users) goes to the log."""

from __future__ import annotations

import logging

import redis
from django.conf import settings
from django.db import connection
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from ..errors import PROBLEM_CONTENT_TYPE, problem_body

logger = logging.getLogger(__name__)

CHECKS = ("database", "redis")


def check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT postgis_version()")
            cursor.fetchone()
    except Exception as exc:  # any failure means "down"; the reason is logged
        return f"{type(exc).__name__}: {exc}".strip()[:300]
    return None


def check_redis() -> str | None:
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()[:300]
    return None


class HealthView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    # Probes must never read a spent budget as "down"; the answer costs two pings.
    throttle_classes: list = []

    @extend_schema(
        operation_id="health",
        summary="Liveness and readiness: database and Redis",
        responses={
            200: inline_serializer(
                "HealthOut",
                {
                    "status": serializers.ChoiceField(choices=["ok"]),
                    "checks": serializers.DictField(
                        child=serializers.ChoiceField(choices=["ok", "down"]),
                        help_text="Each dependency (`database`, `redis`) → `ok` or `down`.",
                    ),
                },
            ),
            503: OpenApiResponse(
                description="A dependency is down: `checks` names it (problem shape, code "
                "`service_unavailable`)."
            ),
        },
    )
    def get(self, request):
        failures = {
            name: error
            for name, error in zip(CHECKS, (check_database(), check_redis()), strict=True)
            if error
        }
        checks = {name: "down" if name in failures else "ok" for name in CHECKS}
        if not failures:
            return Response({"status": "ok", "checks": checks})
        for name, error in failures.items():
            logger.error("health: %s is down: %s", name, error)
        body = problem_body(
            503,
            "service_unavailable",
            _("Down: %(names)s.") % {"names": ", ".join(sorted(failures))},
            instance=request.path,
            extra={"checks": checks},
        )
        return Response(body, status=503, content_type=PROBLEM_CONTENT_TYPE)
