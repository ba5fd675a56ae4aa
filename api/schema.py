"""OpenAPI generation (drf-spectacular): authentication schemes (`security: []` on the routes anyone may
call), a summary on every operation, the one error shape and the error statuses each operation can answer,
the Idempotency-Key header, and a schema whose text does not depend on the server's language.

Long because every hook drf-spectacular calls (authentication extensions, the problem responses,
the pre- and post-processing hooks) must be registered from one module that the settings name."""

from __future__ import annotations

import re

from django.utils import translation
from drf_spectacular.drainage import has_override
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import append_meta, get_doc
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from impact.query import time_zone_names

from . import created, idempotency, json_types
from .permissions import allows_anonymous
from .throttling import rate_limit_scopes

# The committed openapi.yaml must come out the same on every machine, whether or not the French
# catalogue is compiled: it is written in English, the language of its descriptions. `/api/schema/?lang=fr`
# still serves a French rendering of whatever is translated.
SCHEMA_LANGUAGE = "en"

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    name=idempotency.HEADER,
    # What api.idempotency.parse_key accepts, from the same constants.
    type={
        "type": "string",
        "minLength": 1,
        "maxLength": idempotency.KEY_MAX_LENGTH,
        "pattern": idempotency.KEY_PATTERN,
    },
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Makes a retry safe: 1 to 255 printable ASCII characters, unique per request (a UUID is fine), "
        "scoped to your organisation and kept 24 hours. The first answer is stored and replayed, with "
        "the header `Idempotent-Replayed: true`, for the same key and body; the same key with another "
        "body answers 422 (`idempotency_key_reused`), and while the first request is still running, "
        "409 (`idempotency_in_progress`, with Retry-After). Server errors and 408/409/423/425/429 "
        "answers are not stored: retrying with the same key runs the request again."
    ),
)

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details. Every 4xx and 5xx answer of the API has this shape.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {
            "type": "string",
            "description": "urn:boucle:problem:<code>",
            "example": "urn:boucle:problem:not_found",
        },
        "title": {"type": "string", "description": "Short summary of the status, in the request's language."},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "What went wrong, for a person."},
        "code": {"type": "string", "description": "Stable machine-readable code."},
        "instance": {"type": "string", "description": "The path that was requested."},
        "retry_after_s": {
            "type": "integer",
            "minimum": 1,
            "description": "On a 429 or 503 that waiting lifts: seconds to wait, as in Retry-After.",
        },
        "errors": {
            "type": "array",
            "description": "Field errors, for validation problems.",
            "items": {
                "type": "object",
                "required": ["field", "code", "message"],
                "properties": {
                    "field": {
                        "type": "string",
                        "description": "Dotted path of the field; empty for the whole body.",
                    },
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}


class BoucleSchemaGenerator(SchemaGenerator):
    def get_schema(self, request=None, public=False):
        if request is not None and request.GET.get("lang"):
            return super().get_schema(request, public)
        with translation.override(SCHEMA_LANGUAGE):
            return super().get_schema(request, public)


RETRY_AFTER_HEADER = {
    "description": "Seconds to wait before trying again (also the problem's `retry_after_s`).",
    "schema": {"type": "integer", "minimum": 1},
}

_SCOPE_TEXT = {
    "ip": "per client address",
    "anon": "per anonymous caller (by address)",
    "user": "per person",
    "api_key": "per API key",
    "search": "for searches, per caller",
    "stats": "for statistics, per caller",
    "auth": "for the auth routes, per client address",
}


def _too_many_requests(scopes: list[str]) -> dict:
    budgets = "; ".join(_SCOPE_TEXT.get(scope, f"`{scope}`") for scope in scopes)
    text = f"Too many requests (`throttled`): a rate limit is spent ({budgets}). Wait `Retry-After` seconds."
    if "auth" in scopes:
        text += " Logging in also answers `login_locked` after repeated failures, until `Retry-After`."
    return {"description": text, "headers": {"Retry-After": RETRY_AFTER_HEADER}}


# The addresses Django's EmailValidator accepts, written as a pattern (it also takes quoted local parts,
# bracketed IP addresses and internationalised domains; no client of Boucle needs to be told so): a dot-
# atom, then labels of letters, digits and inner hyphens, and a top-level domain of 2 to 63 letters.
EMAIL_PATTERN = (
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


class BoucleAutoSchema(AutoSchema):
    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        if (
            direction == "request"
            and isinstance(field, serializers.DecimalField)
            and not has_override(field, "field")
        ):
            # What api.json_types lets through: a decimal string or a number, both within the field.
            pattern = json_types.decimal_pattern(field)
            schema = {
                "anyOf": [
                    {"type": "string", "format": "decimal", "pattern": pattern},
                    {"type": "number", **json_types.decimal_number_bounds(field)},
                ]
            }
            return append_meta(schema, self._get_serializer_field_meta(field, direction))
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if isinstance(field, serializers.EmailField) and direction == "request":
            schema["pattern"] = EMAIL_PATTERN
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and field.trim_whitespace
            and not field.allow_blank
            and not has_override(field, "field")
            and "pattern" not in schema
        ):
            # DRF trims a string before it checks it is not blank: "  " is refused like "". At least one
            # character that is not whitespace (as Python's str.isspace reads it, like DRF's strip).
            schema["pattern"] = r"\S"
        return schema

    def _insert_field_validators(self, field, schema):
        super()._insert_field_validators(field, schema)
        variants = schema.get("oneOf", [])
        if variants and "default" in variants[0]:
            # drf-spectacular wraps a blank-allowing field with a pattern in oneOf [pattern, empty] but
            # leaves its default (usually "") in the first branch, where the pattern refuses it: an
            # invalid schema (openapi-spec-validator). The default belongs to the field as a whole.
            schema["default"] = variants[0].pop("default")
        if len(variants) == 2 and variants[1] == {"type": "string", "maxLength": 0}:
            # oneOf needs exactly one branch to match: "" must not also pass the first (a `uri` format
            # that a validator does not assert would let it).
            variants[0].setdefault("minLength", 1)
        if isinstance(field, serializers.EmailField):
            # JSON Schema's `email` format and Django's validator disagree at the edges (each accepts
            # addresses the other refuses): EMAIL_PATTERN states Django's rule, which decides.
            for variant in [schema, *schema.get("oneOf", [])]:
                if variant.get("format") == "email":
                    del variant["format"]

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        if allows_anonymous(self.view):
            operation.setdefault("security", [])  # drf-spectacular leaves out an empty list
            if self.view.get_authenticators():
                operation["responses"].setdefault("401", {"description": OPTIONAL_CREDENTIALS_REFUSED})
        scopes = rate_limit_scopes(self.view)
        if scopes:
            operation["responses"].setdefault("429", _too_many_requests(scopes))
        return operation

    def get_auth(self):
        # A route anyone may call requires nothing, even where it reads credentials when they are sent
        # (accepting an invitation): OpenAPI's optional form, [{...}, {}], makes generated clients demand
        # credentials, which a newcomer does not have. Its description says what credentials change.
        if allows_anonymous(self.view):
            return []
        return super().get_auth()

    def _handler_doc(self) -> str:
        handler = getattr(self.view, getattr(self.view, "action", None) or self.method.lower(), None)
        return get_doc(handler) if handler is not None else ""

    def get_summary(self):
        # Without extend_schema(summary=…): the first paragraph of the handler's docstring, on one line.
        return " ".join(self._handler_doc().partition("\n\n")[0].split()) or None

    def get_description(self):
        description = super().get_description()
        handler_doc = self._handler_doc()
        if handler_doc and description == handler_doc:
            first, _, rest = handler_doc.partition("\n\n")
            # The first paragraph went to the summary: the description is what follows it.
            return rest if self.get_summary() == " ".join(first.split()) else description
        if description and not handler_doc and not vars(self.view.__class__).get("__doc__"):
            # An inherited class docstring (a mixin's, a library's) speaks of the code, not of this route.
            return ""
        return description

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        handler = getattr(self.view, self.method.lower(), None)
        if getattr(handler, "idempotent", False):  # set by api.idempotency.idempotent
            parameters.append(IDEMPOTENCY_KEY_PARAMETER)
        return parameters


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "An organisation's key for its stock system: `Authorization: Api-Key <key>`.",
        }


class BearerJWTScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.BearerJWTAuthentication"
    name = "Bearer"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


OPTIONAL_CREDENTIALS_REFUSED = (
    "The token or key sent is invalid, expired or revoked. Credentials are optional here: send none to call "
    "anonymously."
)

# The error statuses an operation can answer, by what it takes: each with the Problem body. 4XX stays as
# the catch-all (405 for a method a path lacks, 406 for an Accept it cannot meet…).
ERROR_STATUSES = {
    "400": "Invalid input: `errors` names each parameter or field at fault.",
    "401": "Not authenticated, or the token or key is invalid, expired or revoked.",
    "403": "Authenticated, but not allowed to do this (`code` says why).",
    "404": "Not found, or not yours: another organisation's object reads as absent; so does an id, key or "
    "code of the request that names nothing.",
    "409": "Conflicts with the current state of the data (`code` says how), or the first request with "
    "this Idempotency-Key is still running (Retry-After).",
    "413": "The body is larger than this API accepts (`max_bytes`).",
    "415": "The body's Content-Type is not one this operation reads.",
    "422": "This Idempotency-Key was used for another request (`idempotency_key_reused`).",
}


def _error_statuses(method: str, operation: dict) -> list[str]:
    """The statuses that follow from what the operation takes; others it documents itself (in its
    description, or as a response of its own), and 4XX covers the rest."""
    parameters = operation.get("parameters", [])
    body = "requestBody" in operation
    security = operation.get("security")
    authenticated = bool(security and {} not in security)
    on_object = any(p["in"] == "path" for p in parameters)
    idempotent = any(p["in"] == "header" and p["name"] == idempotency.HEADER for p in parameters)
    statuses = {
        "400": body or bool(parameters),
        "401": authenticated,
        "403": authenticated,
        "404": on_object or (method == "get" and any(p["in"] == "query" for p in parameters)),
        "409": idempotent or (on_object and method != "get"),
        "413": body,
        "415": body,
        "422": idempotent,
    }
    return [status for status, applies in statuses.items() if applies]


def _status_order(item: tuple[str, dict]) -> tuple[bool, str]:
    return "X" in item[0], item[0]  # the wildcards last


def add_problem_responses(result, generator, request, public):
    """Adds the Problem component and documents it as the answer of every error status an operation can
    give (ERROR_STATUSES), and as the 4XX/5XX answer of every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    problem = {
        "description": "Error (RFC 9457 problem details)",
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status_code in _error_statuses(method, operation):
                responses.setdefault(status_code, {"description": ERROR_STATUSES[status_code]})
            for code, response in list(responses.items()):
                if code.startswith(("4", "5")) and "content" not in response:
                    responses[code] = {
                        **response,
                        **problem,
                        "description": response.get("description") or problem["description"],
                    }
            responses.setdefault("4XX", problem)
            responses.setdefault("5XX", problem)
            operation["responses"] = dict(sorted(responses.items(), key=_status_order))
    return result


# OpenAPI links: where the id an answer carries can be used next. Clients read them as documentation;
# Schemathesis follows them in its stateful phase (create an offer, then publish, withdraw or read it).
# Each entry: (operation, status) of the answer → [(operation it feeds, {parameter: runtime expression})].
_ID = "$response.body#/id"


def _feeds(parameters: dict[str, str], *targets: str) -> list[tuple[str, dict[str, str]]]:
    return [(target, parameters) for target in targets]


LINKS: dict[tuple[str, str], list[tuple[str, dict[str, str]]]] = {
    ("offers_create", "201"): _feeds(
        {"offer_id": _ID},
        "offers_retrieve", "offers_update", "offers_publish", "offers_withdraw", "offers_close",
        "offers_photos_create",
    ),
    ("offers_photos_create", "201"): _feeds(
        {"offer_id": "$request.path.offer_id", "photo_id": _ID},
        "offers_photos_retrieve", "offers_photos_destroy",
    ),
    ("claims_create", "201"): _feeds(
        {"claim_id": _ID},
        "claims_retrieve", "claims_accept", "claims_decline", "claims_cancel", "claims_handover",
        "claims_return",
    ),
    ("claims_accept", "200"): _feeds({"claim_id": _ID}, "claims_cancel", "claims_handover", "claims_return"),
    ("claims_handover", "201"): _feeds(
        {"handover_id": _ID},
        "handovers_retrieve", "handovers_confirm", "handovers_dispute", "handovers_reverse",
    ),
    ("offer_imports_create", "202"): _feeds({"import_id": _ID}, "offer_imports_retrieve"),
    ("import_mappings_create", "201"): _feeds(
        {"mapping_id": _ID}, "import_mappings_retrieve", "import_mappings_update", "import_mappings_destroy"
    ),
    ("needs_create", "201"): _feeds(
        {"need_id": _ID}, "needs_retrieve", "needs_update", "needs_matches", "needs_destroy"
    ),
    ("sites_create", "201"): _feeds({"site_id": _ID}, "sites_retrieve", "sites_update", "sites_destroy"),
    ("api_keys_create", "201"): _feeds({"api_key_id": _ID}, "api_keys_revoke"),
    ("me_retrieve", "200"): _feeds(
        {"organisation_id": "$response.body#/memberships/0/organisation/id"},
        "organisations_retrieve", "organisations_update", "organisations_impact",
        "organisations_invitations_list", "organisations_invitations_create",
        "match_alerts_retrieve", "match_alerts_update",
    ),
}  # fmt: skip


def add_links(result, generator, request, public):
    """Adds LINKS to the answers they start from; a link to or from an operation the schema lacks is a
    mistake in LINKS, and fails the generation."""
    operations = {
        operation["operationId"]: operation
        for path_item in result.get("paths", {}).values()
        for operation in path_item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    for (source, status_code), targets in LINKS.items():
        response = operations[source]["responses"][status_code]
        links = response.setdefault("links", {})
        for target, parameters in targets:
            assert target in operations, f"LINKS: no operation {target}"
            links[target] = {"operationId": target, "parameters": parameters}
    return result


def _enum_member_name(zone: str) -> str:
    """`Etc/GMT-1` → `ETC_GMT_MINUS_1`: a name a generated client can give each zone, distinct for every
    zone (left to itself, openapi-python-client makes `GMT0` of both `GMT+0` and `GMT-0`)."""
    spelled = re.sub(r"-(?=\d)", "_MINUS_", zone.replace("+", "_PLUS_"))
    return re.sub(r"[^A-Za-z0-9]+", "_", spelled).strip("_").upper()


def add_time_zone_component(result, generator, request, public):
    """The `TimeZone` component of api.fields.TimeZoneField: the zones impact.query.time_zone_get knows,
    as an enum, since a name that merely looks like one (`Europe`, `A0`) is refused; with the names of
    its members for generated clients (`x-enum-varnames`)."""
    zones = sorted(time_zone_names())
    names = [_enum_member_name(zone) for zone in zones]
    assert len(set(names)) == len(names), "two time zones share a member name"
    result.setdefault("components", {}).setdefault("schemas", {})["TimeZone"] = {
        "type": "string",
        "description": "An IANA time zone name, as the tz database has it.",
        "enum": zones,
        "x-enum-varnames": names,
        "example": "Europe/Paris",
    }
    return result


def add_location_headers(result, generator, request, public):
    """Documents `Location` on every 201 answer (api.created), except where the created resource has no
    URL of its own (api.created.CREATED_WITHOUT_LOCATION)."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "201" not in operation.get("responses", {}):
                continue
            if operation["operationId"] not in created.CREATED_WITHOUT_LOCATION:
                operation["responses"]["201"].setdefault("headers", {})["Location"] = created.LOCATION_HEADER
    return result
