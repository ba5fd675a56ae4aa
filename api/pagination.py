"""Cursor pagination, with cursors that are checked before they reach the database.

DRF decodes a cursor leniently (non-base64 characters dropped, unknown keys ignored, the offset
clamped) and hands its position to the ORM unchecked: `p=abc` on a list ordered by id raised
ValueError, a 500. Here a cursor must decode strictly and its position must parse as the type of the
list's ordering field; anything else is a 400 `invalid_cursor`. A 400 rather than DRF's 404: the list
exists, it is the parameter that is malformed, and a client must not read a 404 as "gone"."""

from __future__ import annotations

import binascii
from base64 import b64decode
from datetime import datetime
from urllib import parse

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.exceptions import APIException
from rest_framework.pagination import Cursor, CursorPagination

from .fields import date_in_input_range
from .inputs import single_query_value


class InvalidCursor(APIException):
    status_code = 400
    default_code = "invalid_cursor"
    default_detail = _("This cursor is not valid for this list: follow the next and previous links as given.")


_CURSOR_KEYS = frozenset({"o", "r", "p"})


class CursorPage(CursorPagination):
    """One pagination style for lists: opaque cursors, stable under inserts (good for syncing)."""

    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500
    ordering: str | list[str] | tuple[str, ...] = "-id"

    page_size_query_description = f"Rows per page, 1 to {max_page_size} (default {page_size})."

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.cursor_query_param:
                parameter["schema"] = {"type": "string", "minLength": 4, "pattern": "^[A-Za-z0-9+/]+={0,2}$"}
            elif parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_page_size,
                    "default": self.page_size,
                }
        return parameters

    def get_page_size(self, request) -> int:
        """`limit`, strictly: DRF falls back to the default page size for `limit=0` or `limit=null`, and
        silently caps a larger one; a client asking for what it cannot have gets a 400 naming it."""
        raw = single_query_value(request, self.page_size_query_param)
        if raw is None:
            return self.page_size
        field = serializers.IntegerField(min_value=1, max_value=self.max_page_size)
        try:
            return field.run_validation(raw)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({self.page_size_query_param: exc.detail}) from exc

    def check_query(self, queryset, request) -> None:
        """`limit` and `cursor` checked as a page would check them, for a view that answers the whole
        selection at once (a CSV export): a bad one is the same 400, never silently ignored."""
        self._queryset = queryset
        self.get_page_size(request)
        self.decode_cursor(request)

    def paginate_queryset(self, queryset, request, view=None):
        self._queryset = queryset  # decode_cursor checks the position against its ordering field
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request) -> Cursor | None:
        encoded = single_query_value(request, self.cursor_query_param)
        if encoded is None:
            return None
        try:
            querystring = b64decode(encoded.encode("ascii"), validate=True).decode("ascii")
            pairs = parse.parse_qsl(querystring, keep_blank_values=True, strict_parsing=True)
        except (UnicodeError, binascii.Error, ValueError) as exc:
            raise InvalidCursor() from exc
        tokens = dict(pairs)
        if not tokens or len(tokens) != len(pairs) or not tokens.keys() <= _CURSOR_KEYS:
            raise InvalidCursor()
        offset, reverse = tokens.get("o", "0"), tokens.get("r", "0")
        # The offset counts rows sharing one position: never past DRF's cutoff in a cursor it issued.
        if not (offset.isascii() and offset.isdigit() and int(offset) <= self.offset_cutoff):
            raise InvalidCursor()
        if reverse not in ("0", "1"):
            raise InvalidCursor()
        position = tokens.get("p")
        if position is not None and not self._position_valid(position):
            raise InvalidCursor()
        return Cursor(offset=int(offset), reverse=reverse == "1", position=position)  # type: ignore[arg-type]  # DRF's positions are text; the stubs say int

    def _position_valid(self, position: str) -> bool:
        """Whether `position` reads as a value of the first ordering field, as DRF wrote it there."""
        if "\x00" in position:  # PostgreSQL text cannot hold NUL
            return False
        field = _model_field(self._queryset, self.ordering[0].lstrip("-"))
        try:
            value = field.to_python(position)
            field.run_validators(value)
        except DjangoValidationError:
            return False
        if isinstance(value, datetime):
            return date_in_input_range(value.date())
        return value is not None

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return _paginated_schema(schema)


class SyncCursorPage(CursorPage):
    """For clients that sync: oldest change first, so `updated_since` + `next` walks every change."""

    ordering = ("updated_at", "id")


def _nullable_uri() -> dict:
    return {"type": ["string", "null"], "format": "uri"}


def _paginated_schema(schema: dict) -> dict:
    return {
        "type": "object",
        "required": ["next", "previous", "results"],
        "properties": {"next": _nullable_uri(), "previous": _nullable_uri(), "results": schema},
    }


def _model_field(queryset, name: str) -> models.Field:
    try:
        return queryset.model._meta.get_field(name)
    except FieldDoesNotExist:
        return queryset.query.annotations[name].output_field
