"""Geo search: `GET offers/search/`, published offers near a point, nearest first, as JSON or GeoJSON."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.contrib.gis.geos import Point
from django.urls import path
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from exchange.models import OfferMode
from matching.search import MAX_LIMIT, MAX_RADIUS_M, OfferHit, offers_near
from organisations.models import OrganisationKind

from .. import json_types
from ..actors import actor_of
from ..fields import (
    POINT_SCHEMA,
    BoundedDateField,
    FeatureCollectionTypeField,
    FeatureTypeField,
    PointGeometryField,
)
from ..inputs import validated_query
from ..renderers import GeoJSONRenderer
from ..shapes import OfferPlainOut, offer_plain_converters

MAX_RADIUS_KM = MAX_RADIUS_M // 1000
DEFAULT_RADIUS_KM = 10


@extend_schema_field(
    {
        "type": "number",
        "format": "double",
        "exclusiveMinimum": 0,
        "maximum": MAX_RADIUS_KM,
        "default": DEFAULT_RADIUS_KM,
    }
)
class RadiusKmField(serializers.FloatField):
    """A search radius in km, 0 < r ≤ MAX_RADIUS_KM: the bounds offers_near enforces, documented as such
    (OpenAPI has an exclusive minimum; DRF's FloatField does not)."""


# A positive quantity as written in a query string: the decimal strings of the JSON bodies
# (api.json_types), which the field checks itself: DRF alone would also read "1e3", " 5" or "-0".
POSITIVE_QUANTITY_PATTERN = json_types.decimal_pattern(
    serializers.DecimalField(max_digits=14, decimal_places=3, min_value=Decimal("0.001"))
)


@extend_schema_field({"type": "string", "format": "decimal", "pattern": POSITIVE_QUANTITY_PATTERN})
class PositiveQuantityField(serializers.DecimalField):
    default_error_messages = {"not_positive": _("A positive quantity is required, such as 2 or 0.5.")}

    def __init__(self, **kwargs):
        super().__init__(max_digits=14, decimal_places=3, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str) or not re.fullmatch(POSITIVE_QUANTITY_PATTERN, data):
            self.fail("not_positive")
        return super().to_internal_value(data)


class OfferSearchIn(serializers.Serializer):
    lat = serializers.FloatField(min_value=-90, max_value=90, help_text="Latitude, WGS 84 degrees.")
    lon = serializers.FloatField(min_value=-180, max_value=180, help_text="Longitude, WGS 84 degrees.")
    radius_km = RadiusKmField(
        required=False,
        default=DEFAULT_RADIUS_KM,
        max_value=MAX_RADIUS_KM,
        help_text=f"Search radius, km (0 < r ≤ {MAX_RADIUS_KM}).",
    )
    category = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="A category id, its descendants included; 404 when none has it.",
    )
    q = serializers.CharField(
        required=False,
        max_length=200,
        allow_blank=True,
        help_text="Full text in title and description, French-aware (accents, plurals); web-search syntax.",
    )
    min_quantity = PositiveQuantityField(required=False, help_text="At least this much left (> 0).")
    available_on = BoundedDateField(
        required=False, help_text="Available at some time that day (local time); default: now."
    )
    mode = serializers.ChoiceField(choices=OfferMode.choices, required=False)
    limit = serializers.IntegerField(required=False, default=50, min_value=1, max_value=MAX_LIMIT)

    def validate_radius_km(self, value: float) -> float:
        if value <= 0:
            raise serializers.ValidationError(_("The radius must be greater than 0."), code="min_value")
        return value


class OfferSearchCategoryOut(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    name = serializers.CharField()


class OfferSearchOrganisationOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=OrganisationKind.choices)


class OfferSearchPropertiesOut(OfferPlainOut):
    """One hit, without its location (which GeoJSON carries as the feature's geometry). Its plain
    fields are the offer's read shape (api/shapes.py)."""

    id = serializers.IntegerField()
    category = OfferSearchCategoryOut()
    organisation = OfferSearchOrganisationOut()
    location_is_approximate = serializers.BooleanField(
        help_text="True: the centre of a ~550 m grid cell around the site, the same on every request. "
        "The exact site is shown to the offering organisation and to a recipient whose claim reveals it "
        "(see the claim's `location_revealed_at`)."
    )
    distance_m = serializers.SerializerMethodField(
        help_text="Great-circle distance (sphere) from the query point to `location`, metres."
    )
    photo_count = serializers.IntegerField()

    @cached_property
    def _plain_converters(self) -> dict[str, Callable[[Any], Any]]:
        """Once per response (this serializer writes every hit of a list): api.shapes reads the time
        zone when it makes them."""
        return offer_plain_converters()

    @extend_schema_field(serializers.FloatField())
    def get_distance_m(self, hit: OfferHit) -> float:
        return round(hit.distance_m, 1)

    def to_representation(self, hit: OfferHit) -> dict:
        """What the declared fields give (tests/test_search.py compares the two), without the generic
        field walk: this runs for up to 200 hits per search and the walk costs several milliseconds.
        The offer's plain fields (api/shapes.py) go through their generated field's conversion."""
        organisation, category = hit.organisation, hit.category
        own = {
            "id": hit.id,
            "category": {"id": category.id, "key": category.key, "name": category.name},
            "organisation": {"id": organisation.id, "name": organisation.name, "kind": organisation.kind},
            "location_is_approximate": hit.location_is_approximate,
            "distance_m": round(hit.distance_m, 1),
            "photo_count": hit.photo_count,
        }
        plain = self._plain_converters
        return {
            name: plain[name](hit.fields[name]) if name in plain else own[name] for name in _PROPERTY_ORDER
        }


_PROPERTY_ORDER = tuple(OfferSearchPropertiesOut._declared_fields)


def _point(hit: OfferHit) -> dict:
    return {"type": "Point", "coordinates": [round(hit.lon, 7), round(hit.lat, 7)]}


@extend_schema_field(POINT_SCHEMA)
class _LocationField(serializers.Field):
    def to_representation(self, hit: OfferHit) -> dict:
        return _point(hit)


class OfferSearchHitOut(OfferSearchPropertiesOut):
    location = _LocationField(source="*")

    def to_representation(self, hit: OfferHit) -> dict:
        return {**super().to_representation(hit), "location": _point(hit)}


class OfferSearchOut(serializers.Serializer):
    count = serializers.IntegerField(help_text="Number of results (at most `limit`).")
    results = OfferSearchHitOut(many=True)


# Documentation of the GeoJSON body (RFC 7946); the view builds it from the hits directly.
class OfferSearchFeatureOut(serializers.Serializer):
    type = FeatureTypeField()
    id = serializers.IntegerField()
    geometry = PointGeometryField()
    properties = OfferSearchPropertiesOut()


class OfferSearchFeatureCollectionOut(serializers.Serializer):
    type = FeatureCollectionTypeField()
    features = OfferSearchFeatureOut(many=True)


def _feature_collection(hits: list[OfferHit], properties: list[dict]) -> dict:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": props["id"],
                "geometry": _point(hit),
                "properties": props,
            }
            for hit, props in zip(hits, properties, strict=True)
        ],
    }


class OfferSearchView(APIView):
    renderer_classes = [JSONRenderer, GeoJSONRenderer]
    throttle_scope = "search"  # a budget of its own per caller (api.throttling)

    @extend_schema(
        operation_id="offers_search",
        summary="Published offers near a point, nearest first",
        description=(
            "Published offers with something left and available now (or on `available_on`) whose "
            "location lies within `radius_km` of the point, nearest first. `location` is approximate "
            "(a stable ~550 m grid-cell centre) except for the offering organisation and a recipient "
            "whose claim reveals it (see the claim's `location_revealed_at`), and `distance_m` is measured "
            "from the location shown. "
            "JSON by default; a GeoJSON FeatureCollection (RFC 7946, coordinates [lon, lat]) with "
            "`Accept: application/geo+json` or `?format=geojson`."
        ),
        parameters=[OfferSearchIn],
        responses={
            (200, "application/json"): OfferSearchOut,
            (200, "application/geo+json"): OpenApiResponse(
                response=OfferSearchFeatureCollectionOut,
                description="GeoJSON FeatureCollection; each feature's properties carry `distance_m`.",
            ),
        },
    )
    def get(self, request):
        params = validated_query(OfferSearchIn, request)
        hits = offers_near(
            actor=actor_of(request),
            point=Point(params["lon"], params["lat"], srid=4326),
            radius_m=params["radius_km"] * 1000,
            category_id=params.get("category"),
            q=params.get("q") or None,
            min_quantity=params.get("min_quantity"),
            available_on=params.get("available_on"),
            mode=params.get("mode"),
            limit=params["limit"],
        )
        if request.accepted_renderer.media_type == GeoJSONRenderer.media_type:
            body = _feature_collection(hits, OfferSearchPropertiesOut(hits, many=True).data)
        else:
            body = {"count": len(hits), "results": OfferSearchHitOut(hits, many=True).data}
        response = Response(body)
        patch_vary_headers(response, ["Accept"])
        return response


urlpatterns = [
    path("offers/search/", OfferSearchView.as_view(), name="offers-search"),
]
