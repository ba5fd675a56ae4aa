"""OpenAPI generation (drf-spectacular): authentication schemes, the one error shape, the
Idempotency-Key header, and a schema whose text does not depend on the server's language."""

from __future__ import annotations

from django.utils import translation
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

# The committed openapi.yaml must come out the same on every machine, whether or not the French
# catalogue is compiled: it is written in English, the language of its descriptions. `/api/schema/?lang=fr`
# still serves a French rendering of whatever is translated.
SCHEMA_LANGUAGE = "en"

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    name="Idempotency-Key",
    type=OpenApiTypes.STR,
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


class BoucleAutoSchema(AutoSchema):
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


def add_problem_responses(result, generator, request, public):
    """Adds the Problem component and documents it as the 4XX/5XX answer of every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    problem = {
        "description": "Error (RFC 9457 problem details)",
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for code, response in list(responses.items()):
                if code.startswith(("4", "5")) and "content" not in response:
                    responses[code] = {
                        **problem,
                        "description": response.get("description") or problem["description"],
                    }
            responses.setdefault("4XX", problem)
            responses.setdefault("5XX", problem)
    return result
