"""The one error shape: every 4xx/5xx under /api/ is application/problem+json matching `Problem`."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import IntegrityError
from django.http import HttpResponse
from django.test import override_settings
from django.urls import path
from jsonschema import Draft202012Validator
from rest_framework import exceptions, serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.permissions import AllowAny
from rest_framework.test import APIClient
from rest_framework.views import APIView
from rest_framework_simplejwt.tokens import AccessToken

from api.errors import flatten_errors
from api.inputs import validated
from config.urls import urlpatterns as project_urlpatterns
from core.errors import Conflict, InvalidInput, LimitExceeded, NotFound, PermissionDenied

from .conftest import client_for, make_member
from .openapi import spec

pytestmark = pytest.mark.django_db

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_IN_EXCEPTION = "s3cr3t-4711"


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    validator = Draft202012Validator(
        {"$ref": "#/components/schemas/Problem", "components": spec()["components"]}
    )
    assert not list(validator.iter_errors(body)), body
    assert (body["status"], body["code"], body["type"]) == (status, code, f"urn:boucle:problem:{code}")
    return body


# --- a test-only URLconf: the project's routes plus views that fail in the ways the API can fail ---
class _AddressIn(serializers.Serializer):
    postcode = serializers.CharField(max_length=5)


class _ItemIn(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=1)


class _NestedIn(serializers.Serializer):
    address = _AddressIn()
    items = _ItemIn(many=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=3))


class _ValidateView(APIView):
    permission_classes = [AllowAny]

    def post(self, request):
        validated(_NestedIn, request)
        return HttpResponse(status=204)


_RAISED = {
    "crash": lambda: RuntimeError(f"database password is {SECRET_IN_EXCEPTION}"),
    "conflict": lambda: Conflict(
        "Only 3 left.", code="insufficient_quantity", extra={"remaining_quantity": 3}
    ),
    "invalid": lambda: InvalidInput("Bad.", field_errors={"quantity": ["Too many.", "Not a multiple."]}),
    "not-found": lambda: NotFound("No such offer."),
    "forbidden": lambda: PermissionDenied("Admins only.", code="admin_required"),
    "limit": lambda: LimitExceeded("Too many open claims.", code="open_claims_limit"),
    "integrity": lambda: IntegrityError("duplicate key value violates unique constraint"),
    "throttled": lambda: exceptions.Throttled(wait=6.2),
}


class _RaiseView(APIView):
    permission_classes = [AllowAny]

    def get(self, request, kind: str):
        raise _RAISED[kind]()


def _plain_django_crash(request):
    raise ValueError(f"token {SECRET_IN_EXCEPTION}")


urlpatterns = [
    *project_urlpatterns,
    path("api/v1/test/validate/", _ValidateView.as_view()),
    path("api/v1/test/raise/<str:kind>/", _RaiseView.as_view()),
    path("api/v1/test/plain-crash/", _plain_django_crash),
]
handler404 = "api.errors.handler404"
handler500 = "api.errors.handler500"
with_test_urls = override_settings(ROOT_URLCONF="tests.test_errors")


@pytest.fixture
def member(firm):
    return client_for(make_member(firm))


# --- Django and DRF failures --------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["/api/v1/nope/", "/api/nope", "/api/v1/sites/123/extra/"])
def test_unknown_url_is_a_404_problem(url):
    body = assert_problem(APIClient().get(url, HTTP_ACCEPT_LANGUAGE="en"), 404, "not_found")
    assert body["instance"] == url
    assert body["title"] == "Not found"


def test_wrong_method_is_a_405_problem(member):
    member.check_schema = False  # PUT is, rightly, not in openapi.yaml
    response = member.put("/api/v1/sites/", {}, format="json", HTTP_ACCEPT_LANGUAGE="en")
    body = assert_problem(response, 405, "method_not_allowed")
    assert body["detail"] == 'Method "PUT" not allowed.'
    assert response["Allow"] == "GET, POST, HEAD, OPTIONS"


def test_unacceptable_media_type_is_a_406_problem(member):
    response = member.get("/api/v1/sites/", HTTP_ACCEPT="text/html")
    assert_problem(response, 406, "not_acceptable")


def test_disallowed_host_is_a_400_problem():
    response = APIClient().get("/api/v1/sites/", HTTP_HOST="evil.example")
    assert assert_problem(response, 400, "bad_request")["instance"] == "/api/v1/sites/"


def test_malformed_json_is_a_400_problem(member):
    response = member.generic("POST", "/api/v1/sites/", b'{"name": ', content_type="application/json")
    body = assert_problem(response, 400, "malformed_request")
    assert "errors" not in body


def test_unsupported_media_type_is_a_415_problem(member):
    response = member.generic("POST", "/api/v1/sites/", b"name=x", content_type="text/plain")
    assert_problem(response, 415, "unsupported_media_type")


def test_unauthenticated_is_a_401_problem_with_www_authenticate():
    response = APIClient().get("/api/v1/sites/", HTTP_ACCEPT_LANGUAGE="en")
    body = assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="boucle"'
    assert body["title"] == "Authentication required"
    assert body["instance"] == "/api/v1/sites/"


@pytest.mark.parametrize(
    ("authorization", "code", "detail"),
    [
        ("Bearer not-a-jwt", "token_not_valid", "Token is invalid"),
        (
            "Bearer",
            "bad_authorization_header",
            "Authorization header must contain two space-delimited values",
        ),
        ("Api-Key unknown-key", "authentication_failed", "This API key is unknown or revoked."),
    ],
)
def test_invalid_credentials_are_a_401_problem(authorization, code, detail):
    response = APIClient().get("/api/v1/sites/", HTTP_AUTHORIZATION=authorization, HTTP_ACCEPT_LANGUAGE="en")
    body = assert_problem(response, 401, code)
    assert body["detail"] == detail
    assert response["WWW-Authenticate"] == 'Bearer realm="boucle"'


def test_expired_jwt_is_a_401_problem_saying_so(firm):
    token = AccessToken.for_user(make_member(firm))
    token.set_exp(lifetime=-timedelta(minutes=1))
    response = APIClient().get(
        "/api/v1/sites/", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT_LANGUAGE="en"
    )
    body = assert_problem(response, 401, "token_not_valid")
    assert body["detail"] == "Token is expired"
    assert "{" not in body["detail"]


@override_settings(BOUCLE_MAX_REQUEST_BYTES=1024)
def test_oversized_json_body_is_a_413_problem(member):
    response = member.post("/api/v1/sites/", {"name": "x" * 2000}, format="json", HTTP_ACCEPT_LANGUAGE="en")
    body = assert_problem(response, 413, "request_too_large")
    assert body["max_bytes"] == 1024
    assert body["title"] == "Request body too large"


@override_settings(BOUCLE_MAX_REQUEST_BYTES=1024)
def test_oversized_upload_is_a_413_problem(member):
    from django.core.files.uploadedfile import SimpleUploadedFile

    photo = SimpleUploadedFile("lot.jpg", b"\xff" * 4096, content_type="image/jpeg")
    response = member.post("/api/v1/sites/", {"name": "x", "photo": photo}, format="multipart")
    assert assert_problem(response, 413, "request_too_large")["max_bytes"] == 1024


def test_invalid_content_length_is_a_400_problem(member):
    response = member.generic(
        "POST", "/api/v1/sites/", b"{}", content_type="application/json", CONTENT_LENGTH="-1"
    )
    assert_problem(response, 400, "bad_request")


# --- crashes and domain errors, through a test-only URLconf --------------------------------------------
@with_test_urls
@pytest.mark.parametrize("url", ["/api/v1/test/raise/crash/", "/api/v1/test/plain-crash/"])
def test_crash_is_a_500_problem_without_a_traceback(url):
    response = APIClient(raise_request_exception=False).get(url)
    body = assert_problem(response, 500, "server_error")
    text = response.content.decode()
    assert SECRET_IN_EXCEPTION not in text
    assert "Traceback" not in text and "Error(" not in text
    assert body["instance"] == url


@with_test_urls
@pytest.mark.parametrize(
    ("kind", "status", "code", "extra"),
    [
        ("conflict", 409, "insufficient_quantity", {"remaining_quantity": 3}),
        ("not-found", 404, "not_found", {}),
        ("forbidden", 403, "admin_required", {}),
        ("limit", 429, "open_claims_limit", {}),
        ("integrity", 409, "conflict", {}),
        ("throttled", 429, "throttled", {"retry_after_s": 7}),
    ],
)
def test_domain_and_database_errors_map_to_problems(kind, status, code, extra):
    response = APIClient().get(f"/api/v1/test/raise/{kind}/")
    body = assert_problem(response, status, code)
    assert {key: body[key] for key in extra} == extra
    if kind == "throttled":
        assert response["Retry-After"] == "7"
    assert "duplicate key" not in body["detail"]


@with_test_urls
def test_domain_field_errors_are_listed():
    body = assert_problem(APIClient().get("/api/v1/test/raise/invalid/"), 400, "invalid")
    assert body["errors"] == [
        {"field": "quantity", "code": "invalid", "message": "Too many."},
        {"field": "quantity", "code": "invalid", "message": "Not a multiple."},
    ]


@with_test_urls
def test_nested_and_list_field_errors_are_flattened_to_dotted_paths():
    payload = {
        "address": {"postcode": "1234567"},
        "items": [{"quantity": 2}, {"quantity": 0}],
        "tags": ["ok", "much-too-long"],
    }
    response = APIClient().post("/api/v1/test/validate/", payload, format="json", HTTP_ACCEPT_LANGUAGE="en")
    body = assert_problem(response, 400, "validation_error")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [
        ("address.postcode", "max_length"),
        ("items.1.quantity", "min_value"),
        ("tags.1", "max_length"),
    ]
    assert body["errors"][1]["message"] == "Ensure this value is greater than or equal to 1."


@with_test_urls
def test_missing_nested_fields_are_reported_by_path():
    response = APIClient().post("/api/v1/test/validate/", {"address": {}, "items": [{}]}, format="json")
    body = assert_problem(response, 400, "validation_error")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [
        ("address.postcode", "required"),
        ("items.0.quantity", "required"),
        ("tags", "required"),
    ]


def test_flatten_errors_handles_non_field_errors_and_nesting():
    detail = {
        "non_field_errors": [ErrorDetail("Dates are reversed.", code="invalid")],
        "lines": [{}, {"mass_kg": [ErrorDetail("Too heavy.", code="max_value")]}],
        "site": {"location": [ErrorDetail("Expected a point.", code="invalid")]},
        "codes": {"2": [ErrorDetail("Unknown.", code="invalid_choice")]},
    }
    assert flatten_errors(detail) == [
        {"field": "", "code": "invalid", "message": "Dates are reversed."},
        {"field": "lines.1.mass_kg", "code": "max_value", "message": "Too heavy."},
        {"field": "site.location", "code": "invalid", "message": "Expected a point."},
        {"field": "codes.2", "code": "invalid_choice", "message": "Unknown."},
    ]


# --- language ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("language", "title"),
    [("en", "Authentication required"), ("fr", "Authentification requise"), ("", "Authentification requise")],
)
def test_title_follows_accept_language_french_by_default(language, title):
    extra = {"HTTP_ACCEPT_LANGUAGE": language} if language else {}
    response = APIClient().get("/api/v1/sites/", **extra)
    assert assert_problem(response, 401, "not_authenticated")["title"] == title


@pytest.mark.parametrize(
    ("language", "title", "detail"),
    [
        ("en", "Request body too large", "The request body is larger than this API accepts."),
        (
            "fr",
            "Corps de requête trop volumineux",
            "Le corps de la requête dépasse la taille acceptée par l’API.",
        ),
    ],
)
@override_settings(BOUCLE_MAX_REQUEST_BYTES=10)
def test_errors_raised_before_the_locale_middleware_are_translated_too(member, language, title, detail):
    # Ask the other language first: the thread must not keep it for the next answer.
    other = "fr" if language == "en" else "en"
    member.post("/api/v1/sites/", {"name": "x" * 20}, format="json", HTTP_ACCEPT_LANGUAGE=other)
    response = member.post("/api/v1/sites/", {"name": "x" * 20}, format="json", HTTP_ACCEPT_LANGUAGE=language)
    body = assert_problem(response, 413, "request_too_large")
    assert (body["title"], body["detail"]) == (title, detail)


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="gettext is installed by make test's provisioning")
def test_french_catalogue_is_complete():
    po = BASE_DIR / "locale" / "fr" / "LC_MESSAGES" / "django.po"
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(po)],
        capture_output=True,
        text=True,
        env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, result.stderr


def test_french_catalogue_is_compiled_and_up_to_date():
    po = BASE_DIR / "locale" / "fr" / "LC_MESSAGES" / "django.po"
    mo = po.with_suffix(".mo")
    assert mo.is_file() and mo.stat().st_mtime >= po.stat().st_mtime, (
        "compile the translations: .venv/bin/python manage.py compilemessages --ignore=.venv --ignore=.local "
        "(make run and make test do it)"
    )
