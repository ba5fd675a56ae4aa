"""openapi.yaml: generated, committed, valid, consistent; served at /api/schema/ and /api/docs/ offline."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from django.test import Client, override_settings

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


def _operations():
    for path, item in spec()["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


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
