"""The one error shape: RFC 9457 problem details, `application/problem+json`.

    {"type": "urn:boucle:problem:validation_error", "title": "Invalid input", "status": 400,
     "detail": "…", "instance": "/api/v1/sites/", "code": "validation_error",
     "errors": [{"field": "location.lat", "code": "max_value", "message": "…"}]}

`errors` is present for validation failures; a problem may carry extra members (for example
`remaining_quantity` on a 409). Every 4xx/5xx of the API, Django's own included, comes out this way.
"""

from __future__ import annotations

import logging
import math
import sys
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, OperationalError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import set_rollback

from core import errors as domain

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
# A statement cancelled by the web's statement_timeout (BOUCLE_WEB_STATEMENT_TIMEOUT_MS) answers 503
# with this Retry-After: the same request may pass once the database is less busy.
QUERY_TIMEOUT_RETRY_AFTER_S = 10


class ProblemJSONRenderer(JSONRenderer):
    media_type = PROBLEM_CONTENT_TYPE


def _titles() -> dict[int, str]:
    return {
        400: _("Invalid input"),
        401: _("Authentication required"),
        403: _("Forbidden"),
        404: _("Not found"),
        405: _("Method not allowed"),
        406: _("Not acceptable"),
        409: _("Conflict"),
        412: _("Precondition failed"),
        413: _("Request body too large"),
        415: _("Unsupported media type"),
        422: _("Unprocessable request"),
        429: _("Too many requests"),
        500: _("Internal server error"),
        503: _("Service unavailable"),
    }


def problem_body(
    status_code: int,
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    errors: list[dict[str, str]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:boucle:problem:{code}",
        "title": _titles().get(status_code, _("Error")),
        "status": status_code,
        "detail": str(detail),
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    if extra:
        body.update({key: value for key, value in extra.items() if key not in body})
    return body


def problem_response(request, status_code: int, code: str, detail: str, **kwargs) -> JsonResponse:
    """A problem response outside DRF (Django handlers, middleware, plain views)."""
    body = problem_body(status_code, code, detail, instance=request.path if request else None, **kwargs)
    return JsonResponse(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE)


def flatten_errors(data: Any, prefix: str = "") -> list[dict[str, str]]:
    """DRF's nested error dict → a flat list of {field, code, message}; `field` is a dotted path."""
    out: list[dict[str, str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            name = "" if key in ("non_field_errors", "__all__") else str(key)
            out += flatten_errors(value, f"{prefix}.{name}".strip(".") if name else prefix)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            if isinstance(item, dict | list) and not isinstance(item, exceptions.ErrorDetail):
                out += flatten_errors(
                    item, f"{prefix}.{index}".strip(".") if isinstance(item, dict) else prefix
                )
            else:
                out += flatten_errors(item, prefix)
    else:
        code = getattr(data, "code", None) or "invalid"
        out.append({"field": prefix, "code": str(code), "message": str(data)})
    return out


def _field_errors_list(field_errors: dict[str, list[str]]) -> list[dict[str, str]]:
    return [
        {"field": field, "code": "invalid", "message": str(message)}
        for field, messages in field_errors.items()
        for message in messages
    ]


def _api_exception_code_and_detail(exc: exceptions.APIException) -> tuple[str, str]:
    """A DRF exception's (code, detail) as plain strings. Some libraries (simplejwt) raise with a dict
    detail such as {"detail": …, "code": …, "messages": [{"message": …}]}: its text is used, not its repr."""
    detail: Any = exc.detail
    code: Any = None
    if isinstance(detail, dict):
        code = detail.get("code")
        messages = detail.get("messages")
        if (
            isinstance(messages, list)
            and messages
            and isinstance(messages[0], dict)
            and "message" in messages[0]
        ):
            # e.g. "Token is expired" rather than "Given token not valid for any token type".
            detail = messages[0]["message"]
        else:
            detail = detail.get("detail", exc.default_detail)
    elif isinstance(detail, list):
        detail = " ".join(str(item) for item in detail) or exc.default_detail
    code = code or getattr(detail, "code", None) or exc.default_code
    return str(code), str(detail)


_DOMAIN_STATUS: list[tuple[type[domain.DomainError], int]] = [
    (domain.NotFound, status.HTTP_404_NOT_FOUND),
    (domain.PermissionDenied, status.HTTP_403_FORBIDDEN),
    (domain.InvalidInput, status.HTTP_400_BAD_REQUEST),
    (domain.Conflict, status.HTTP_409_CONFLICT),
    (domain.PreconditionFailed, status.HTTP_412_PRECONDITION_FAILED),
    (domain.LimitExceeded, status.HTTP_429_TOO_MANY_REQUESTS),
]


def _convert(exc: Exception) -> tuple[int, str, str, list[dict[str, str]] | None, dict[str, Any] | None]:
    """exception → (status, code, detail, errors, extra); raises back what it does not know."""
    if isinstance(exc, domain.DomainError):
        for cls, status_code in _DOMAIN_STATUS:
            if isinstance(exc, cls):
                errors = (
                    _field_errors_list(exc.field_errors) if isinstance(exc, domain.InvalidInput) else None
                )
                return status_code, exc.code, exc.message, errors, exc.extra
        return 400, exc.code, exc.message, None, exc.extra
    if isinstance(exc, exceptions.ValidationError):
        return 400, "validation_error", _("The request has invalid fields."), flatten_errors(exc.detail), None
    if isinstance(exc, exceptions.ParseError):
        code, detail = _api_exception_code_and_detail(exc)
        # DRF's generic code reads "malformed_request" here; a specific one (json_too_deep) is kept.
        return 400, "malformed_request" if code == "parse_error" else code, detail, None, None
    if isinstance(exc, DjangoValidationError):
        data = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
        errors = _field_errors_list(data)
        return 400, "validation_error", _("The request has invalid fields."), errors, None
    if isinstance(exc, RequestDataTooBig):
        return 413, "request_too_large", _("The request body is larger than this API accepts."), None, None
    if isinstance(exc, Http404):
        return 404, "not_found", _("No such object."), None, None
    if isinstance(exc, DjangoPermissionDenied):
        return 403, "permission_denied", _("You may not do this."), None, None
    if isinstance(exc, exceptions.Throttled):
        wait = max(1, math.ceil(exc.wait)) if exc.wait is not None else None  # type: ignore[attr-defined]  # set by Throttled.__init__; the stubs omit it
        return 429, "throttled", str(exc.detail), None, {"retry_after_s": wait} if wait is not None else None
    if is_statement_timeout(exc):
        return _query_timeout()
    if isinstance(exc, exceptions.APIException):
        code, detail = _api_exception_code_and_detail(exc)
        return exc.status_code, code, detail, None, None
    if isinstance(exc, IntegrityError):
        # Services check first; this is the safety net when a concurrent write won the race.
        logger.warning("integrity error surfaced to the API: %s", exc)
        return (
            409,
            "conflict",
            _("This conflicts with the current state of the data; reload and retry."),
            None,
            None,
        )
    if isinstance(exc, SuspiciousOperation):
        return 400, "bad_request", _("The request was refused."), None, None
    raise exc


def is_statement_timeout(exc: BaseException | None) -> bool:
    """PostgreSQL cancelled the statement (SQLSTATE 57014 query_canceled): the statement timeout."""
    return isinstance(exc, OperationalError) and getattr(exc.__cause__, "sqlstate", None) == "57014"


def _query_timeout() -> tuple[int, str, str, None, dict[str, Any]]:
    return (
        503,
        "query_timeout",
        _("This request took too long to answer and was stopped. Try again later, or ask for less."),
        None,
        {"retry_after_s": QUERY_TIMEOUT_RETRY_AFTER_S},
    )


def problem_of(exc: Exception) -> dict[str, Any]:
    """The problem body `exc` would be answered with on its own (no `instance`): for the one failed item
    of a batch, whose answer is not an error."""
    status_code, code, detail, errors, extra = _convert(exc)
    return problem_body(status_code, code, detail, errors=errors, extra=extra)


def problem_exception_handler(exc: Exception, context: dict) -> Response | None:
    request = context.get("request")
    try:
        status_code, code, detail, errors, extra = _convert(exc)
    except Exception:
        return None  # unknown: let Django's handler500 answer (also in the problem shape)
    set_rollback()
    body = problem_body(
        status_code, code, detail, instance=request.path if request else None, errors=errors, extra=extra
    )
    headers = {}
    # Set by DRF's APIView.handle_exception on a NotAuthenticated or AuthenticationFailed.
    auth_header = getattr(exc, "auth_header", None) if isinstance(exc, exceptions.APIException) else None
    if auth_header:
        headers["WWW-Authenticate"] = auth_header
    # A problem that says when to come back says it in the header too.
    retry_after = (extra or {}).get("retry_after_s") or getattr(exc, "wait", None)
    if retry_after:
        headers["Retry-After"] = str(math.ceil(retry_after))
    if request is not None:
        # Errors are JSON whatever was negotiated (CSV, GeoJSON…).
        request.accepted_renderer = ProblemJSONRenderer()
        request.accepted_media_type = PROBLEM_CONTENT_TYPE
    return Response(body, status=status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE)


# Django-level handlers (config.urls): URLs no view matched, and crashes.
def handler400(request, exception=None):
    return problem_response(request, 400, "bad_request", _("The request was refused."))


def handler403(request, exception=None):
    return problem_response(request, 403, "permission_denied", _("You may not do this."))


# Paths that are never a page for people: their errors are problems in every profile (api.middleware).
PROBLEM_ONLY_PREFIXES = ("/api/", "/healthz")


def handler404(request, exception=None):
    return problem_response(request, 404, "not_found", _("Nothing here."))


def handler500(request):
    # Django calls this while handling the exception: a statement cancelled outside DRF is the same 503
    # as inside it (web.errors makes a page of it for the dashboard and the admin).
    if is_statement_timeout(sys.exc_info()[1]):
        status_code, code, detail, _errors, extra = _query_timeout()
        response = problem_response(request, status_code, code, detail, extra=extra)
        response["Retry-After"] = str(QUERY_TIMEOUT_RETRY_AFTER_S)
        return response
    return problem_response(
        request, 500, "server_error", _("Something went wrong on our side; it was logged.")
    )
