"""Serializer fields shared across the API."""

from __future__ import annotations

import math

from django.contrib.gis.geos import Point
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

POINT_SCHEMA = {
    "type": "object",
    "description": "A GeoJSON Point (RFC 7946): coordinates are [longitude, latitude] in WGS 84.",
    "required": ["type", "coordinates"],
    "properties": {
        "type": {"type": "string", "enum": ["Point"]},
        "coordinates": {
            "type": "array",
            "items": {"type": "number"},
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
