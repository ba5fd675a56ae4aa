"""Renderers beyond plain JSON, shared by every endpoint that offers them."""

from __future__ import annotations

from rest_framework.renderers import JSONRenderer

GEOJSON_MEDIA_TYPE = "application/geo+json"


class GeoJSONRenderer(JSONRenderer):
    """GeoJSON (RFC 7946), chosen with `Accept: application/geo+json` or `?format=geojson`. The view
    builds the Feature or FeatureCollection (it knows which field is the geometry); this renderer only
    encodes it under the registered media type. Errors stay problem+json (api.errors)."""

    media_type = GEOJSON_MEDIA_TYPE
    format = "geojson"
