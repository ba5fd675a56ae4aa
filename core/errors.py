"""Domain errors. Services raise these; the HTTP layer maps each to a status code and the one error
shape (RFC 9457 problem details). The domain never speaks HTTP."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, message: str, *, code: str | None = None, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.extra = extra or {}


class NotFound(DomainError):
    """The object does not exist *or* is out of the caller's scope: both read the same."""

    code = "not_found"


class PermissionDenied(DomainError):
    """The caller can see the object but may not do this to it."""

    code = "permission_denied"


class InvalidInput(DomainError):
    """Input that passed the serializer but breaks a business rule. `field_errors` maps fields to messages."""

    code = "invalid"

    def __init__(self, message: str, *, field_errors: dict[str, list[str]] | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.field_errors = field_errors or {}


class Conflict(DomainError):
    """The request is valid but the current state of the object forbids it (409)."""

    code = "conflict"


class PreconditionFailed(DomainError):
    """The caller asked for the change only if the object was still as it last read it, and it is not
    (412, If-Match)."""

    code = "precondition_failed"


class LimitExceeded(DomainError):
    """A quota or rate limit (429)."""

    code = "limit_exceeded"
