"""Checks every API response of the suite against the committed `openapi.yaml`: the documented status,
content type and body schema. A response the document does not describe fails the test."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator

SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"
# Response headers the schema promises on every answer it documents them for (Retry-After is not among
# them: a quota's 429 has none).
CHECKED_HEADERS = frozenset({"Location", "ETag"})


@cache
def spec() -> dict:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


@cache
def _path_patterns() -> list[tuple[re.Pattern, str]]:
    patterns = []
    for template in spec()["paths"]:
        regex = "^" + re.sub(r"\\\{[^}]+\\\}", r"[^/]+", re.escape(template)) + "$"
        patterns.append((re.compile(regex), template))
    # Literal paths before templated ones ("offers/search/" before "offers/{id}/").
    patterns.sort(key=lambda item: item[1].count("{"))
    return patterns


def operation_for(method: str, path: str) -> dict | None:
    for regex, template in _path_patterns():
        if regex.match(path):
            return spec()["paths"][template].get(method.lower())
    return None


def check_response(method: str, path: str, response) -> None:
    """Raises AssertionError when the response is not what openapi.yaml documents."""
    operation = operation_for(method, path)
    assert operation is not None, f"{method} {path} is not documented in openapi.yaml"
    status = str(response.status_code)
    responses = operation["responses"]
    documented = responses.get(status) or responses.get(status[0] + "XX")
    assert documented is not None, f"{method} {path} answered {status}, which openapi.yaml does not document"
    for header in CHECKED_HEADERS & set(documented.get("headers", {})):
        assert response.has_header(header), (
            f"{method} {path} {status}: no {header}, which openapi.yaml documents"
        )
    content = documented.get("content")
    if not content:
        return
    media_type = (response.get("Content-Type") or "").split(";")[0].strip()
    assert media_type in content, f"{method} {path} {status}: {media_type!r} is not among {sorted(content)}"
    schema = content[media_type].get("schema")
    if not schema or not media_type.endswith("json"):
        return
    body = json.loads(response.content or b"null")
    validator = Draft202012Validator({"allOf": [schema], "components": spec()["components"]})
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, f"{method} {path} {status} does not match openapi.yaml: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}" for e in errors[:5]
    )
