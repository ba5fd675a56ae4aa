"""GET /healthz: 200 when PostgreSQL and Redis answer, 503 naming what is down (problem shape)."""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import connection
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from ..errors import PROBLEM_CONTENT_TYPE, problem_body


def check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT postgis_version()")
            cursor.fetchone()
    except Exception as exc:  # any failure means "down"; the reason is reported
        return f"{type(exc).__name__}: {exc}".strip()[:300]
    return None


def check_redis() -> str | None:
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        client.close()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()[:300]
    return None


class HealthView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="health",
        summary="Liveness and readiness: database and Redis",
        responses={
            200: inline_serializer(
                "HealthOut",
                {
                    "status": serializers.ChoiceField(choices=["ok"]),
                    "checks": serializers.DictField(child=serializers.CharField()),
                },
            ),
            503: OpenApiResponse(description="A dependency is down; `checks` names it (problem shape)."),
        },
    )
    def get(self, request):
        failures = {
            name: error for name, error in (("database", check_database()), ("redis", check_redis())) if error
        }
        checks = {
            name: ("down: " + failures[name]) if name in failures else "ok" for name in ("database", "redis")
        }
        if not failures:
            return Response({"status": "ok", "checks": checks})
        body = problem_body(
            503,
            "service_unavailable",
            "Down: " + ", ".join(sorted(failures)) + ".",
            instance=request.path,
            extra={"checks": checks},
        )
        return Response(body, status=503, content_type=PROBLEM_CONTENT_TYPE)
