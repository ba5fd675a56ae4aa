"""Content negotiation with `?format=` held to the rules of every other query parameter.

DRF reads `?format=` leniently: an empty value is ignored, the last of repeated values wins, and an
unknown one answers 404 as if the list did not exist. Where an operation offers several formats (the
schema then documents `format` with their names), the parameter is validated like any other: once,
one of those names, else a 400 problem naming `format`.

A valid `?format=` wins over the `Accept` header: a URL names what it answers, and GIS clients (GDAL,
QGIS) open `…?format=geojson` sending `Accept: text/plain, application/json`, which DRF answered 406."""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework import serializers
from rest_framework.negotiation import DefaultContentNegotiation

from .inputs import single_query_value


class StrictContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        parameter = self.settings.URL_FORMAT_OVERRIDE
        formats = sorted({renderer.format for renderer in renderers})
        if parameter and not format_suffix and len(formats) > 1:
            value = single_query_value(request, parameter)
            if value is not None and value not in formats:
                message = _("Unknown format; use one of: {formats}.").format(formats=", ".join(formats))
                raise serializers.ValidationError(
                    {parameter: [serializers.ErrorDetail(message, code="invalid_choice")]}
                )
            if value is not None:
                renderer = next(renderer for renderer in renderers if renderer.format == value)
                return renderer, renderer.media_type
        return super().select_renderer(request, renderers, format_suffix)
