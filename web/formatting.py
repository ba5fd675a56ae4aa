"""Numbers as people read them in the active language: "1 234,5 t" in French, "1,234.5 t" in English.

Rounding is explicit (half up) because Django's number_format truncates Decimals."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.utils import formats

from core.i18n import english

NBSP = "\u00a0"
NARROW_NBSP = "\u202f"


def _rounded(value: Decimal | int | float, decimals: int) -> Decimal:
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def number(value: Decimal | int | float | None, decimals: int = 0) -> str:
    """A number with the language's decimal mark and digit grouping ("" for None)."""
    if value is None:
        return ""
    rounded = _rounded(value, decimals)
    if rounded == 0:
        rounded = abs(rounded)  # never "-0,0"
    return formats.number_format(rounded, decimals, use_l10n=True, force_grouping=True)


def tonnes_decimals(value: Decimal | int | float) -> int:
    """One decimal from a tonne up; below, three (to the kilogram) so small figures stay visible."""
    value = Decimal(str(value))
    if value == 0:
        return 0
    return 1 if abs(value) >= 1 else 3


def tonnes(value: Decimal | int | float | None, unit: str = "t") -> str:
    if value is None:
        return ""
    return f"{number(value, tonnes_decimals(value))}{NBSP}{unit}"


def tonnes_from_kg(value_kg: Decimal | int | float | None, unit: str = "t") -> str:
    if value_kg is None:
        return ""
    return tonnes(Decimal(str(value_kg)).scaleb(-3), unit)


def percent(share: Decimal | float | None) -> str:
    """A share (0.625) as a whole percentage: "63 %" in French (space before the sign), "63%" in English."""
    if share is None:
        return "–"
    value = number(Decimal(str(share)) * 100, 0)
    return f"{value}%" if english() else f"{value}{NARROW_NBSP}%"
