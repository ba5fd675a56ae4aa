"""The offer's read shape over HTTP, declared once.

exchange/shape.py names the offer's plain public fields (`OFFER_FIELDS`); `OfferPlainOut` turns them into
serializer fields generated from the model's own columns (type, decimals, choices, nullability, help
text), so that every response showing an offer writes them alike: the offer's detail and lists
(api/endpoints/offers/output.py), search hits in JSON and GeoJSON (api/endpoints/search.py), a need's matches
(api/endpoints/matches.py) and the documented webhook payload (api/endpoints/webhooks.py). A plain field
added to OFFER_FIELDS appears in all of them, and in the schema, with no other change.

Each reader subclasses OfferPlainOut and declares its own fields beside them (who may see what, relations,
computed values stay the reader's).
`offer_plain_converters()` gives the same fields' conversions for the hand-written fast paths (search).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from decimal import Decimal, getcontext
from functools import cache, partial
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from exchange.models import Offer
from exchange.shape import OFFER_FIELDS


def _output_field(name: str) -> serializers.Field:
    """The serializer field writing the offer's column `name`: its type, decimals, choices, nullability
    and help text, from the model."""
    column = Offer._meta.get_field(name)
    if not isinstance(column, models.Field):
        raise TypeError(f"Offer.{name} is a relation, not a plain field.")
    kwargs: dict[str, Any] = {}
    if column.help_text:
        kwargs["help_text"] = column.help_text
    if column.null:
        kwargs["allow_null"] = True
    if column.choices:
        return serializers.ChoiceField(choices=column.choices, **kwargs)
    if isinstance(column, models.DecimalField):
        return serializers.DecimalField(
            max_digits=column.max_digits, decimal_places=column.decimal_places, **kwargs
        )
    if isinstance(column, models.DateTimeField):
        return serializers.DateTimeField(**kwargs)
    if isinstance(column, models.BooleanField):
        return serializers.BooleanField(**kwargs)
    if isinstance(column, models.IntegerField):
        return serializers.IntegerField(**kwargs)
    if isinstance(column, models.CharField | models.TextField):
        return serializers.CharField(**kwargs)
    raise TypeError(f"api/shapes.py has no output field for Offer.{name} ({type(column).__name__}): add one.")


class OfferPlainOut(serializers.Serializer):
    """The offer's plain public fields, as the model defines them (added below, before any reader
    subclasses this)."""


# The serializer metaclass has run: the generated fields join the declared ones, which subclasses inherit.
OfferPlainOut._declared_fields.update({name: _output_field(name) for name in OFFER_FIELDS})


def _same(value: Any) -> Any:
    return value


def _nullable(field: serializers.Field, value: Any) -> Any:
    return None if value is None else field.to_representation(value)


def _decimal_converter(field: serializers.DecimalField) -> Callable[[Any], Any]:
    """DecimalField.to_representation for its plain case (a string with `decimal_places`, no
    localisation), with the exponent and the context it builds at each call built once."""
    coerce = getattr(field, "coerce_to_string", api_settings.COERCE_DECIMAL_TO_STRING)
    if field.decimal_places is None or field.localize or field.normalize_output or not coerce:
        return partial(_nullable, field)
    exponent = Decimal(".1") ** field.decimal_places
    context = getcontext().copy()
    if field.max_digits is not None:
        context.prec = field.max_digits

    def convert(value: Any) -> str | None:
        if not isinstance(value, Decimal):
            return _nullable(field, value)
        return f"{value.quantize(exponent, rounding=field.rounding, context=context):f}"

    return convert


def _datetime_converter(field: serializers.DateTimeField, zone: tzinfo | None) -> Callable[[Any], Any]:
    """DateTimeField.to_representation in ISO 8601 for an aware datetime, in the time zone read once
    (`zone`: reading the current one costs more than the conversion)."""
    output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
    if (
        zone is None
        or hasattr(field, "timezone")
        or output_format is None
        or output_format.lower() != ISO_8601
    ):
        return partial(_nullable, field)

    def convert(value: Any) -> str | None:
        if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
            return _nullable(field, value)
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return convert


@cache
def _plain_fields() -> dict[str, serializers.Field]:
    fields = OfferPlainOut().fields
    return {name: fields[name] for name in OFFER_FIELDS}


def offer_plain_converters() -> dict[str, Callable[[Any], Any]]:
    """For each field of OFFER_FIELDS, its generated field's conversion (null kept as null): choices and
    text pass through as they are, decimals and datetimes are converted as their field does, in the
    current time zone as it is now: call this once per response (tests/test_read_shape.py compares them
    with the fields)."""
    zone = timezone.get_current_timezone() if settings.USE_TZ else None
    converters: dict[str, Callable[[Any], Any]] = {}
    for name, field in _plain_fields().items():
        if isinstance(field, serializers.ChoiceField | serializers.CharField):
            converters[name] = _same
        elif isinstance(field, serializers.DecimalField):
            converters[name] = _decimal_converter(field)
        elif isinstance(field, serializers.DateTimeField):
            converters[name] = _datetime_converter(field, zone)
        else:
            converters[name] = partial(_nullable, field)
    return converters
