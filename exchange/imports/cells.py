"""Cells to offer values, by the type of the offer field they fill."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from inventory.models import Category, Unit

from ..models import (
    Offer,
)
from .limits import CHOICES, FALSE_WORDS, TRUE_WORDS, _text

# ---- cells to offer values --------------------------------------------------------------------------


def _key(header: str) -> str:
    return " ".join(header.split()).casefold()


class CellRefused(ValueError):
    pass


def _decimal(value: Any, model_field: models.DecimalField) -> Decimal:
    places = model_field.decimal_places
    if isinstance(value, bool):
        raise CellRefused(_("A number is expected."))
    if isinstance(value, float | int | Decimal):
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    else:
        raw = _text(value).replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
        if "," in raw and "." in raw:
            raise CellRefused(_("Write the number with one decimal separator, a comma or a point."))
        try:
            number = Decimal(raw.replace(",", "."))
        except InvalidOperation:
            raise CellRefused(_("A number is expected.")) from None
    if not number.is_finite():
        raise CellRefused(_("A number is expected."))
    if abs(number) >= Decimal(10) ** (model_field.max_digits - places):
        raise CellRefused(_("This number is too large."))
    rounded = number.quantize(Decimal(1).scaleb(-places))
    if isinstance(value, float) and abs(number - rounded) < Decimal("1e-9"):
        number = rounded  # a spreadsheet's binary fraction (0.1 + 0.2 = 0.30000000000000004)
    if number != rounded:
        raise CellRefused(_("At most %(places)s decimal places.") % {"places": places})
    return number


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise CellRefused(_("A whole number is expected."))
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = _text(value)
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise CellRefused(_("A whole number is expected."))
    return int(text)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = _text(value).casefold()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise CellRefused(_("Expected true or false (oui or non)."))


def _moment(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    else:
        text = _text(value)
        parsed: dt.datetime | None = None
        try:
            parsed = parse_datetime(text)
            if parsed is None and (day := parse_date(text)) is not None:
                parsed = dt.datetime.combine(day, dt.time())
        except ValueError:
            parsed = None
        if parsed is None:
            for pattern in ("%d/%m/%Y %H:%M", "%d/%m/%Y"):
                try:
                    parsed = dt.datetime.strptime(text, pattern)
                    break
                except ValueError:
                    continue
        if parsed is None:
            raise CellRefused(_("A date is expected: 2026-12-31, 2026-12-31T18:00 or 31/12/2026."))
        moment = parsed
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _choice(value: Any, allowed: Sequence[str]) -> str:
    word = _text(value).casefold()
    if word not in allowed:
        raise CellRefused(_("Expected one of: %(choices)s.") % {"choices": ", ".join(allowed)})
    return word


class CellConverter:
    """Cell → the value an offer field takes (what the services are given). Categories may be named by
    their key as well as by their id."""

    def __init__(self) -> None:
        self._categories: dict[str, int | None] = {}

    def convert(self, name: str, value: Any) -> Any:
        if name in CHOICES:
            return _choice(value, CHOICES[name])
        if name == "unit":
            return _choice(value, Unit.values)
        if name == "site":
            return _integer(value)
        if name == "category":
            return self._category(value)
        model_field = Offer._meta.get_field(name)
        if isinstance(model_field, models.DecimalField):
            return _decimal(value, model_field)
        if isinstance(model_field, models.BooleanField):
            return _boolean(value)
        if isinstance(model_field, models.DateTimeField):
            return _moment(value)
        text = _text(value)
        limit = model_field.max_length if isinstance(model_field, models.Field) else None
        if limit is not None and len(text) > limit:
            raise CellRefused(_("At most %(max)s characters.") % {"max": limit})
        return text

    def _category(self, value: Any) -> int:
        try:
            return _integer(value)
        except CellRefused:
            pass
        key = _text(value)
        if key not in self._categories:
            self._categories[key] = Category.objects.filter(key=key).values_list("pk", flat=True).first()
        found = self._categories[key]
        if found is None:
            raise CellRefused(_("No such category."))
        return found
