"""The API's JSON parser: DRF's, bounded.

Python's json module recurses once per nested array or object, so a body of a thousand `[` raised
RecursionError (a 500) before any view or authentication ran. The nesting is measured first, with a
flat scan that does not recurse, and refused past BOUCLE_MAX_JSON_DEPTH (400 `json_too_deep`).

Numbers must fit an IEEE 754 double (RFC 8259 §6: larger ones are not interoperable): NaN, Infinity,
`1e999` and integers beyond ±1.8e308 are refused (400 `malformed_request`) instead of reaching fields
that would turn them into inf or raise OverflowError."""

from __future__ import annotations

import json
import math
import re
import sys

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding  # type: ignore[attr-defined]  # missing from the stubs

# A JSON string (an unterminated one runs to the end: json fails there anyway), then runs of anything
# that is not a bracket. What is left once both are removed is the bracket skeleton of the document.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_OPENING = frozenset("[{")


def json_nesting_exceeds(text: str, limit: int) -> bool:
    """Whether `text` opens more than `limit` arrays/objects inside one another at some point.

    Exact for the part of the document that is valid JSON, which is all json.loads ever descends
    into; past a syntax error the count may be off, and json.loads refuses the body anyway."""
    skeleton = _NOT_BRACKETS.sub("", _STRING.sub("", text))
    if skeleton.count("[") + skeleton.count("{") <= limit:
        return False
    depth = 0
    for bracket in skeleton:
        if bracket in _OPENING:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


class _NotInteroperable(ValueError):
    pass


def _refuse_constant(name: str):
    raise _NotInteroperable(name)


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _NotInteroperable(literal)
    return value


_MAX_DOUBLE_INT = int(sys.float_info.max)
_MAX_DOUBLE_INT_DIGITS = len(str(_MAX_DOUBLE_INT))


def _double_sized_int(literal: str) -> int:
    # The length first: int() of thousands of digits is slow, and refused past 4300 anyway.
    if len(literal.lstrip("-")) > _MAX_DOUBLE_INT_DIGITS:
        raise _NotInteroperable(literal)
    value = int(literal)
    # Compared as ints: converting to float is what raises OverflowError in the fields.
    if abs(value) > _MAX_DOUBLE_INT:
        raise _NotInteroperable(literal)
    return value


def _abbreviated(literal: str) -> str:
    return literal if len(literal) <= 24 else f"{literal[:20]}…"


class BoundedJSONParser(JSONParser):
    """DRF's JSONParser with a nesting limit and numbers restricted to what a double holds."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            text = stream.read().decode(get_encoding(parser_context or {}))
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(_("The body is not valid JSON: %(reason)s.") % {"reason": exc}) from exc
        limit = settings.BOUCLE_MAX_JSON_DEPTH
        if json_nesting_exceeds(text, limit):
            message = _("The JSON body nests arrays and objects more than %(limit)d levels deep.")
            raise ParseError(message % {"limit": limit}, code="json_too_deep")
        try:
            return json.loads(
                text,
                parse_constant=_refuse_constant,
                parse_float=_finite_float,
                parse_int=_double_sized_int,
            )
        except _NotInteroperable as exc:
            raise ParseError(
                _(
                    "The JSON body has a number that does not fit a double-precision float (%(number)s): "
                    "NaN, Infinity and numbers beyond ±1.8e308 are refused."
                )
                % {"number": _abbreviated(str(exc))}
            ) from exc
        except ValueError as exc:
            raise ParseError(_("The body is not valid JSON: %(reason)s.") % {"reason": exc}) from exc
