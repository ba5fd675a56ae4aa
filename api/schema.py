"""OpenAPI generation (drf-spectacular): authentication schemes and the one error shape."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema

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


class BoucleAutoSchema(AutoSchema):
    pass


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
