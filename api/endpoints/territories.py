"""Territories: `GET territories/`, the named polygons statistics are grouped by. Public.

JSON (without geometry) by default; a GeoJSON FeatureCollection (RFC 7946) with
`Accept: application/geo+json` or `?format=geojson`."""

from __future__ import annotations

import json

from django.contrib.gis.db.models import MultiPolygonField
from django.contrib.gis.db.models.functions import AsGeoJSON
from django.db.models import Func
from django.urls import path
from django.utils.cache import patch_vary_headers
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from territories import selectors
from territories.models import Territory, TerritoryKind

from ..fields import FeatureCollectionTypeField, FeatureTypeField, MultiPolygonGeometryField
from ..inputs import validated_query
from ..pagination import CursorPage
from ..renderers import GeoJSONRenderer

GEOJSON_COORDINATE_DECIMALS = 6  # ~0.1 m: finer than the simplified boundaries themselves


class TerritoryPage(CursorPage):
    """Territory lists are reference data read whole: one page holds up to 500 (the 95 MEL communes
    come in one page by default). Ordered by code."""

    page_size = 500
    ordering = ("code", "id")


class TerritoryOut(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=TerritoryKind.choices)

    class Meta:
        model = Territory
        fields = ["id", "kind", "code", "name", "population"]


class TerritoryListIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=TerritoryKind.choices, required=False)
    code = serializers.RegexField(
        # Codes are printable ASCII (INSEE 59512, IRIS 595120101…), up to 32 characters each.
        r"^[\x21-\x2b\x2d-\x7e]{1,32}(?:,[\x21-\x2b\x2d-\x7e]{1,32})*$",
        required=False,
        max_length=2000,
        help_text="One code, or several separated by commas (59512,59350).",
    )


class TerritoryFeatureOut(serializers.Serializer):
    type = FeatureTypeField()
    id = serializers.IntegerField()
    geometry = MultiPolygonGeometryField()
    properties = TerritoryOut()


class TerritoryFeatureCollectionOut(serializers.Serializer):
    type = FeatureCollectionTypeField()
    features = TerritoryFeatureOut(many=True)
    next = serializers.URLField(allow_null=True, help_text="Next page (foreign member), or null.")
    previous = serializers.URLField(allow_null=True, help_text="Previous page (foreign member), or null.")


class _ForcePolygonCCW(Func):
    function = "ST_ForcePolygonCCW"  # RFC 7946 §3.1.6: exterior rings counterclockwise
    output_field = MultiPolygonField(srid=4326)


class TerritoryListView(GenericAPIView):
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer, GeoJSONRenderer]
    pagination_class = TerritoryPage
    serializer_class = TerritoryOut

    @extend_schema(
        operation_id="territories_list",
        summary="Territories (communes, districts…)",
        description=(
            "Territories by code, filtered by `kind` and `code`. JSON without geometry by default; a "
            "GeoJSON FeatureCollection (RFC 7946) with `Accept: application/geo+json` or "
            "`?format=geojson`. Cursor-paginated, up to 500 a page (`limit`); the GeoJSON form carries "
            "`next`/`previous` as foreign members. Public."
        ),
        parameters=[TerritoryListIn],
        responses={
            (200, "application/json"): TerritoryOut(many=True),
            (200, "application/geo+json"): OpenApiResponse(
                response=TerritoryFeatureCollectionOut,
                description="GeoJSON FeatureCollection of the page's territories, with their boundaries.",
            ),
        },
    )
    def get(self, request):
        params = validated_query(TerritoryListIn, request)
        codes = params["code"].split(",") if "code" in params else None
        queryset = selectors.territories_list(kind=params.get("kind"), codes=codes)
        paginator = self.paginator
        if request.accepted_renderer.media_type == GeoJSONRenderer.media_type:
            queryset = queryset.defer("geometry", "properties").annotate(
                geojson=AsGeoJSON(_ForcePolygonCCW("geometry"), precision=GEOJSON_COORDINATE_DECIMALS)
            )
            page = paginator.paginate_queryset(queryset, request, view=self)
            response = Response(
                {
                    "type": "FeatureCollection",
                    "features": [
                        {
                            "type": "Feature",
                            "id": territory.pk,
                            "geometry": json.loads(territory.geojson),
                            "properties": TerritoryOut(territory).data,
                        }
                        for territory in page
                    ],
                    "next": paginator.get_next_link(),
                    "previous": paginator.get_previous_link(),
                }
            )
        else:
            page = paginator.paginate_queryset(queryset.defer("geometry", "properties"), request, view=self)
            response = paginator.get_paginated_response(TerritoryOut(page, many=True).data)
        patch_vary_headers(response, ["Accept"])
        return response


urlpatterns = [
    path("territories/", TerritoryListView.as_view(), name="territories"),
]
