"""Serializer fields shared across the API."""

from __future__ import annotations

import contextlib
import math
from datetime import date, datetime
from typing import TypedDict

from django.contrib.gis.geos import Point
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.errors import InvalidInput
from impact.query import time_zone_get


class DecimalPlaces(TypedDict):
    """The digits of a DecimalField, spread into it (`DecimalField(**QUANTITY)`)."""

    max_digits: int
    decimal_places: int


QUANTITY = DecimalPlaces(max_digits=14, decimal_places=3)  # the column of Offer.quantity and its kin
LEDGER_DECIMAL = DecimalPlaces(max_digits=16, decimal_places=3)  # the ledger's masses and CO2e

POINT_SCHEMA = {
    "type": "object",
    "description": "A GeoJSON Point (RFC 7946): coordinates are [longitude, latitude] in WGS 84.",
    "required": ["type", "coordinates"],
    "properties": {
        "type": {"type": "string", "enum": ["Point"]},
        "coordinates": {
            "type": "array",
            # The bounds GeoJSONPointField checks: longitude, then latitude.
            "prefixItems": [
                {"type": "number", "minimum": -180, "maximum": 180},
                {"type": "number", "minimum": -90, "maximum": 90},
            ],
            "minItems": 2,
            "maxItems": 2,
            "example": [3.1746, 50.6916],
        },
    },
}


@extend_schema_field(POINT_SCHEMA)
class GeoJSONPointField(serializers.Field):
    default_error_messages = {
        "invalid": _('Expected a GeoJSON Point: {{"type": "Point", "coordinates": [longitude, latitude]}}.'),
        "longitude": _("Longitude must be between -180 and 180."),
        "latitude": _("Latitude must be between -90 and 90."),
    }

    def to_internal_value(self, data) -> Point:
        if not isinstance(data, dict) or data.get("type") != "Point":
            self.fail("invalid")
        coordinates = data.get("coordinates")
        if (
            not isinstance(coordinates, list)
            or len(coordinates) != 2
            or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in coordinates)
            or not all(math.isfinite(c) for c in coordinates)
        ):
            self.fail("invalid")
        lon, lat = (float(c) for c in coordinates)
        if not -180 <= lon <= 180:
            self.fail("longitude")
        if not -90 <= lat <= 90:
            self.fail("latitude")
        return Point(lon, lat, srid=4326)

    def to_representation(self, value: Point) -> dict:
        return {"type": "Point", "coordinates": [round(value.x, 7), round(value.y, 7)]}


MULTIPOLYGON_SCHEMA = {
    "type": "object",
    "description": "A GeoJSON MultiPolygon (RFC 7946): [longitude, latitude] in WGS 84, exterior rings "
    "counterclockwise.",
    "required": ["type", "coordinates"],
    "properties": {
        "type": {"type": "string", "enum": ["MultiPolygon"]},
        "coordinates": {
            "type": "array",
            "items": {
                "type": "array",
                "items": {
                    "type": "array",
                    "items": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
                },
            },
        },
    },
}


# Output-only fields of GeoJSON documents (RFC 7946), typed for the OpenAPI schema.
@extend_schema_field({"type": "string", "const": "Feature"})
class FeatureTypeField(serializers.CharField):
    pass


@extend_schema_field({"type": "string", "const": "FeatureCollection"})
class FeatureCollectionTypeField(serializers.CharField):
    pass


@extend_schema_field(POINT_SCHEMA)
class PointGeometryField(serializers.JSONField):
    pass


@extend_schema_field(MULTIPOLYGON_SCHEMA)
class MultiPolygonGeometryField(serializers.JSONField):
    pass


# ---- dates, date-times and time zones of the input ----------------------------------------------
#
# Every date or date-time a client sends goes through one of the fields below. The range is far wider
# than any real period, offer or deadline of the exchange, yet keeps clear of the ends of Python's
# calendar (year 9999 + one day overflowed, a 500) and of the centuries before time zones were
# standard (year 1 in Europe/Paris reads +00:09:21, which is not RFC 3339).
EARLIEST_INPUT_DATE = date(2000, 1, 1)
LATEST_INPUT_DATE = date(2100, 12, 31)
# The same range for OpenAPI, which has no minimum for strings: the year as written.
_INPUT_YEAR_PATTERN = "^(?:20[0-9]{2}|2100)-"
_INPUT_RANGE_TEXT = f"From {EARLIEST_INPUT_DATE} to {LATEST_INPUT_DATE}."
DATE_OUT_OF_RANGE = _("Dates must lie between {earliest} and {latest}.")


def date_in_input_range(day: date) -> bool:
    return EARLIEST_INPUT_DATE <= day <= LATEST_INPUT_DATE


def date_out_of_range_message() -> str:
    return DATE_OUT_OF_RANGE.format(earliest=EARLIEST_INPUT_DATE, latest=LATEST_INPUT_DATE)


def _with_range(help_text) -> str:
    return f"{help_text} {_INPUT_RANGE_TEXT}" if help_text else _INPUT_RANGE_TEXT


class _InputRange(serializers.Field):
    """Mixed in before a date or date-time field. A Field itself so that `fail` is known to be there; the
    method resolution order is the same as for a plain mixin."""

    default_error_messages = {"out_of_range": DATE_OUT_OF_RANGE}

    def __init__(self, *args, help_text=None, **kwargs):
        super().__init__(*args, help_text=_with_range(help_text), **kwargs)

    def _check_range(self, day: date) -> None:
        if not date_in_input_range(day):
            self.fail("out_of_range", earliest=EARLIEST_INPUT_DATE, latest=LATEST_INPUT_DATE)


@extend_schema_field({"type": "string", "format": "date", "pattern": _INPUT_YEAR_PATTERN})
class BoundedDateField(_InputRange, serializers.DateField):
    """An ISO date from EARLIEST_INPUT_DATE to LATEST_INPUT_DATE."""

    def to_internal_value(self, value) -> date:
        day = super().to_internal_value(value)
        self._check_range(day)
        return day


@extend_schema_field({"type": "string", "format": "date-time", "pattern": _INPUT_YEAR_PATTERN})
class BoundedDateTimeField(_InputRange, serializers.DateTimeField):
    """An ISO 8601 date-time whose date, as written (before any change of time zone), lies from
    EARLIEST_INPUT_DATE to LATEST_INPUT_DATE: what the schema's pattern says, and checked before the
    conversion to the server's zone that overflowed past year 9999."""

    def to_internal_value(self, value) -> datetime:
        written = value
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                written = parse_datetime(value)
        if isinstance(written, datetime):
            self._check_range(written.date())
        return super().to_internal_value(value)


# The names time_zone_get accepts, listed once in the schema (api.schema.add_time_zone_component).
@extend_schema_field({"$ref": "#/components/schemas/TimeZone"})
class TimeZoneField(serializers.CharField):
    """An IANA time zone name (Europe/Paris, America/Cayenne); the domain decides which names exist
    (impact.query.time_zone_get: the zones of the tz database, not its directories)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 64)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> str:
        name = super().to_internal_value(data)
        try:
            time_zone_get(name)
        except InvalidInput as exc:
            raise serializers.ValidationError(exc.message, code="unknown_time_zone") from exc
        return name
