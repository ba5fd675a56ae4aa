"""JSON bodies are read with the types the schema documents.

DRF converts what it is given: a CharField takes 0 as "0", an IntegerField "5" as 5, a BooleanField
"yes" as true, a DecimalField " 1_000 " as 1000. A client relying on that works by accident, and the
contract (openapi.yaml) says otherwise. api.inputs.validated refuses, as a 400 on the field
(`type_errors`, beside the serializer's own errors), a JSON value whose type is not the one
documented. Decimals are the one documented choice of two types: a decimal string, as the API
writes them, or a JSON number; `decimal_pattern` and `decimal_number_bounds` document the values the
DecimalField then accepts."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

EXPECTED_STRING = _("A string is required.")
EXPECTED_INTEGER = _("An integer is required.")
EXPECTED_NUMBER = _("A number is required.")
EXPECTED_BOOLEAN = _("true or false is required.")
EXPECTED_DECIMAL = _("A number is required, or a decimal string such as “2.5”.")
# The shape of a decimal string; its sign, size and places are the DecimalField's to check, with their
# own error codes (min_value, max_digits, max_decimal_places), as `decimal_pattern` documents them.
_DECIMAL_STRING = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")

_TEXT_FIELDS = (
    serializers.CharField,
    serializers.ChoiceField,
    serializers.DateField,
    serializers.DateTimeField,
    serializers.TimeField,
    serializers.DurationField,
    serializers.UUIDField,
)


def decimal_pattern(field: serializers.DecimalField) -> str:
    """The decimal strings `field` reads: digits, at most `max_whole_digits` of them before the point and
    `decimal_places` after it; no sign when the field refuses negatives, and no zero when its minimum is
    the smallest positive step (0.001 for three places)."""
    places = field.decimal_places or 0
    whole = field.max_whole_digits if field.max_whole_digits is not None else 30
    fraction = rf"(?:\.[0-9]{{1,{places}}})?" if places else ""
    minimum = field.min_value
    if minimum is not None and places and Decimal(minimum) == Decimal(1).scaleb(-places):
        # Positive: 1 or more (a few leading zeros allowed), or a fraction with a non-zero digit.
        below_one = "|".join(
            "0" * zeros + "[1-9]" + (f"[0-9]{{0,{places - 1 - zeros}}}" if zeros < places - 1 else "")
            for zeros in range(places)
        )
        return rf"^(?:0{{0,3}}[1-9][0-9]{{0,{whole - 1}}}{fraction}|0{{1,4}}\.(?:{below_one}))$"
    sign = "" if minimum is not None and minimum >= 0 else "-?"
    return rf"^{sign}[0-9]{{1,{whole}}}{fraction}$"


def decimal_number_bounds(field: serializers.DecimalField) -> dict[str, float]:
    if field.decimal_places is None or field.max_whole_digits is None:
        raise ValueError("the number bounds of a DecimalField need its max_digits and decimal_places")
    step = Decimal(1).scaleb(-field.decimal_places)
    largest = Decimal(10) ** field.max_whole_digits - step
    return {
        "minimum": float(field.min_value if field.min_value is not None else -largest),
        "maximum": float(field.max_value if field.max_value is not None else largest),
        "multipleOf": float(step),
    }


def type_errors(serializer: serializers.Serializer, data: Any) -> dict:
    """The errors, shaped as a serializer's, of every field of `data` whose JSON type `serializer` would
    only accept by converting it."""
    return _errors(serializer, data) or {}


def merged(errors: dict, more: dict) -> dict:
    """A serializer's errors with `more` laid over them, nested fields included: one answer names every
    field at fault, with its type error rather than what the conversion made of it."""
    result = dict(errors)
    for name, error in more.items():
        if isinstance(error, dict) and isinstance(result.get(name), dict):
            result[name] = merged(result[name], error)
        else:
            result[name] = error
    return result


def _errors(field: serializers.Field, value: Any) -> Any:
    if value is None:
        return None  # allow_null is the serializer's to judge
    if isinstance(field, serializers.Serializer):
        if not isinstance(value, dict):
            return None  # the serializer refuses it with its own message
        errors = {}
        for name, child in field.fields.items():
            if name in value and not child.read_only:
                error = _errors(child, value[name])
                if error:
                    errors[name] = error
        return errors or None
    if isinstance(field, serializers.ListField | serializers.ListSerializer):
        if not isinstance(value, list) or field.child is None:
            return None
        item_errors = {index: _errors(field.child, item) for index, item in enumerate(value)}
        return {index: error for index, error in item_errors.items() if error} or None
    message = _type_error(field, value)
    return [ErrorDetail(str(message), code="invalid")] if message else None


def _type_error(field: serializers.Field, value: Any):
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else EXPECTED_BOOLEAN
    if isinstance(field, serializers.IntegerField):
        integral = is_number and (isinstance(value, int) or value.is_integer())
        return None if integral else EXPECTED_INTEGER
    if isinstance(field, serializers.FloatField):
        return None if is_number else EXPECTED_NUMBER
    if isinstance(field, serializers.DecimalField):
        if is_number or (isinstance(value, str) and _DECIMAL_STRING.fullmatch(value)):
            return None
        return EXPECTED_DECIMAL
    if isinstance(field, _TEXT_FIELDS):
        return None if isinstance(value, str) else EXPECTED_STRING
    return None  # a field of its own (GeoJSON, files…) checks its input itself
