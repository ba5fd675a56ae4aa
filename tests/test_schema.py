"""openapi.yaml: generated, committed, valid, consistent; served at /api/schema/ and /api/docs/ offline."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
import yaml
from django.test import Client, override_settings
from django.urls import path as route
from django.urls import resolve
from drf_spectacular.settings import spectacular_settings
from openapi_spec_validator import OpenAPIV31SpecValidator
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from api.schema import BoucleSchemaGenerator

from .openapi import SPEC_PATH, spec

BASE_DIR = Path(__file__).resolve().parent.parent
PROBLEM_CONTENT = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[subprocess.CompletedProcess, bytes]:
    """`manage.py spectacular --validate --fail-on-warn` in a fresh process, as `make schema` runs it."""
    target = tmp_path_factory.mktemp("schema") / "openapi.yaml"
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--file", str(target), "--validate", "--fail-on-warn"],
        cwd=BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result, target.read_bytes() if target.exists() else b""


def _operations(document: dict | None = None):
    for path, item in (document or spec())["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


@pytest.fixture(scope="module")
def fresh(generated) -> dict:
    """The schema as the code makes it now, routes not yet in the committed file included."""
    _result, schema = generated
    assert schema, "the schema could not be generated"
    return yaml.safe_load(schema)


def test_schema_generates_without_warnings_or_errors_and_validates(generated):
    result, _schema = generated
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert not re.search(r"\b(Warning|Error) #\d", output), output


def test_committed_schema_matches_the_code(generated):
    _result, schema = generated
    assert schema, "the schema could not be generated"
    assert schema == SPEC_PATH.read_bytes(), "openapi.yaml is out of date: run `make schema` and commit it"


def test_every_operation_has_a_unique_operation_id():
    ids = [operation.get("operationId") for _path, _method, operation in _operations()]
    assert None not in ids
    duplicates = [name for name, count in Counter(ids).items() if count > 1]
    assert not duplicates, duplicates


def test_every_error_response_is_the_problem_shape():
    for path, method, operation in _operations():
        responses = operation["responses"]
        assert "4XX" in responses and "5XX" in responses, (method, path)
        for status, response in responses.items():
            if status[0] in "45":
                assert response.get("content") == PROBLEM_CONTENT, (method, path, status)
            else:
                assert "application/problem+json" not in response.get("content", {}), (method, path, status)


def test_problem_component_and_description_document_the_error_shape():
    problem = spec()["components"]["schemas"]["Problem"]
    assert problem["required"] == ["type", "title", "status", "detail", "code"]
    assert set(problem["properties"]) == {
        "type", "title", "status", "detail", "code", "instance", "errors", "retry_after_s"
    }  # fmt: skip
    assert problem["properties"]["errors"]["items"]["required"] == ["field", "code", "message"]
    description = spec()["info"]["description"]
    assert "application/problem+json" in description and "RFC 9457" in description


def test_security_schemes_are_bearer_jwt_and_api_key():
    schemes = spec()["components"]["securitySchemes"]
    assert schemes["Bearer"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert (schemes["ApiKey"]["type"], schemes["ApiKey"]["in"], schemes["ApiKey"]["name"]) == (
        "apiKey",
        "header",
        "Authorization",
    )


@pytest.mark.django_db
def test_schema_endpoint_serves_the_committed_document():
    response = Client().get("/api/schema/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert yaml.safe_load(response.content) == spec()


@pytest.mark.django_db
def test_schema_endpoint_serves_french_on_request():
    french = yaml.safe_load(Client().get("/api/schema/?lang=fr").content)
    cursor = next(p for p in french["paths"]["/api/v1/sites/"]["get"]["parameters"] if p["name"] == "cursor")
    assert cursor["description"] == "La valeur du curseur de pagination."


@pytest.mark.django_db
@override_settings(WHITENOISE_USE_FINDERS=True, WHITENOISE_AUTOREFRESH=True)
def test_swagger_ui_works_offline():
    client = Client()  # a new client loads the middleware with the overridden settings
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"https?://", html), "the docs page must not reference another host"
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(assets) >= 3
    # The init script is a file of its own (no inline script: config.security), and names the schema.
    assert "/api/docs/?script=" in assets
    init_script = client.get("/api/docs/?script=").content.decode()
    assert not re.search(r"https?://", init_script)
    schema_url = re.search(r'url: "([^"]+)"', init_script).group(1)
    assert schema_url == "/api/schema/"
    for url in [*assets, schema_url]:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        body = b"".join(asset.streaming_content) if asset.streaming else asset.content
        assert body, url
    assert any(url.endswith("swagger-ui-bundle.js") for url in assets)


# ---- a contract a generated client can use (issue 10) --------------------------------------------------


def _spec_errors(document: dict) -> list[str]:
    errors = OpenAPIV31SpecValidator(document).iter_errors()
    return [f"{'/'.join(map(str, error.absolute_path)) or '<document>'}: {error.message}" for error in errors]


def test_committed_and_generated_schemas_pass_openapi_spec_validator(fresh):
    for name, document in [("openapi.yaml", spec()), ("the generated schema", fresh)]:
        errors = _spec_errors(document)
        assert not errors, f"{name} is not valid OpenAPI 3.1:\n" + "\n".join(errors[:20])


def test_openapi_spec_validator_reports_what_drf_spectacular_used_to_write():
    # The blank default that drf-spectacular put inside the pattern branch of a oneOf (api.schema).
    broken = copy.deepcopy(spec())
    broken["components"]["schemas"]["Problem"]["properties"]["code"] = {
        "oneOf": [{"type": "string", "pattern": r"\S", "default": ""}, {"type": "string", "maxLength": 0}]
    }
    assert any("does not match" in error for error in _spec_errors(broken))


def test_every_operation_has_a_short_summary(fresh):
    for path, method, operation in _operations(fresh):
        summary = operation.get("summary", "")
        where = f"{method.upper()} {path}"
        assert summary, f"{where} has no summary: extend_schema(summary=…) or a docstring's first line"
        assert len(summary) <= 100 and "\n" not in summary and not summary.endswith("."), (where, summary)
        assert summary != operation.get("description"), where


def _view_of(path: str, operation: dict):
    """The view that serves an operation's path, with a placeholder for each path parameter."""
    placeholders = {
        parameter["name"]: str(uuid.uuid4()) if parameter["schema"].get("format") == "uuid" else "1"
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path"
    }
    url = re.sub(r"\{(\w+)\}", lambda match: placeholders[match.group(1)], path)
    callback = resolve(url).func
    return url, callback.cls(**callback.initkwargs)


@pytest.mark.django_db
def test_security_is_empty_exactly_where_anonymous_callers_are_let_in(fresh):
    """Asked without credentials, an operation that declares security answers 401, and one declaring
    `security: []` does not (its answer may be a 400 for the empty body)."""
    schemes = set(fresh["components"]["securitySchemes"])
    client = Client()
    public = []
    for path, method, operation in _operations(fresh):
        where = f"{method.upper()} {path}"
        assert "security" in operation, f"{where} declares no security"
        url, _view = _view_of(path, operation)
        body = {"data": b"{}", "content_type": "application/json"} if "requestBody" in operation else {}
        response = client.generic(method.upper(), url, **body)
        if operation["security"] == []:
            public.append(operation["operationId"])
            assert response.status_code != 401, (where, response.content)
        else:
            assert response.status_code == 401, (where, response.status_code, response.content)
            for requirement in operation["security"]:
                assert requirement and set(requirement) <= schemes, (where, operation["security"])
    assert {
        "health", "auth_register", "auth_register_confirm", "auth_token", "auth_token_refresh", "auth_logout",
        "auth_password_reset", "auth_password_reset_confirm", "auth_invitations_accept", "categories_tree",
        "territories_list",
    } <= set(public)  # fmt: skip


def _expected_error_statuses(path: str, method: str, operation: dict) -> set[str]:
    """What an operation can answer by what it takes, as the view serves it."""
    _url, view = _view_of(path, operation)
    parameters = {(parameter["in"], parameter["name"]) for parameter in operation.get("parameters", [])}
    where = {location for location, _name in parameters}
    expected = set()
    if "requestBody" in operation:
        expected |= {"400", "413", "415"}
    if where & {"query", "path"}:
        expected.add("400")
    if "path" in where:
        expected.add("404")
    if operation["security"]:
        expected |= {"401", "403"}
    if view.get_authenticators():
        expected.add("401")  # credentials sent where they are optional can be refused
    if view.get_throttles():
        expected.add("429")
    if ("header", "Idempotency-Key") in parameters:
        expected |= {"409", "422"}
    if ("header", "If-Match") in parameters:
        expected.add("412")
    return expected


def test_every_operation_documents_the_error_statuses_it_can_answer(fresh):
    for path, method, operation in _operations(fresh):
        missing = _expected_error_statuses(path, method, operation) - set(operation["responses"])
        assert not missing, f"{method.upper()} {path} does not document {sorted(missing)}"


def test_routes_with_a_special_error_document_it():
    operations = {operation["operationId"]: operation for _path, _method, operation in _operations()}
    assert "412" in operations["offers_update"]["responses"]
    assert "409" in operations["claims_accept"]["responses"]
    assert "503" in operations["health"]["responses"]
    assert "429" not in operations["health"]["responses"]  # probes are never throttled
    for public in ["auth_token", "auth_token_refresh", "auth_logout", "categories_tree"]:
        responses = operations[public]["responses"]
        assert "401" in responses and "403" not in responses, public


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/categories/", "/api/v1/territories/"])
def test_credentials_sent_to_a_public_route_are_still_checked(path):
    """Why a route with `security: []` can document 401: a bad token is refused, not ignored."""
    anonymous = Client().get(path)
    refused = Client().get(path, HTTP_AUTHORIZATION="Bearer not-a-token")
    assert anonymous.status_code == 200
    assert (refused.status_code, refused.json()["code"]) == (401, "token_not_valid")


class _DocumentedView(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        """Read the thing

        What follows the first paragraph is the description."""

    def post(self, request):
        pass


def test_a_new_route_gets_its_summary_from_its_docstring_and_security_from_its_permissions(monkeypatch):
    """The central rules of api.schema, on a route the project does not have (without the hooks, which
    expect the project's routes)."""
    generator = BoucleSchemaGenerator(patterns=[route("api/v1/thing/", _DocumentedView.as_view())])
    monkeypatch.setattr(spectacular_settings, "POSTPROCESSING_HOOKS", [])
    schema = generator.get_schema(request=None, public=True)
    get, post = (schema["paths"]["/api/v1/thing/"][method] for method in ("get", "post"))
    assert (get["summary"], get["description"]) == (
        "Read the thing",
        "What follows the first paragraph is the description.",
    )
    assert "summary" not in post and "description" not in post  # test_every_operation_has_… fails it
    assert get["security"] == post["security"] == []
