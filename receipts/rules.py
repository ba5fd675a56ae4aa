"""The figures of a receipt, pure (no database): a line's value, the reference, and the arithmetic of
article 238 bis CGI shown to a donor as information, not advice.

238 bis, for a company: a reduction of 60 % of its gifts up to €2,000,000 and 40 % above, the gifts
being taken within a ceiling of €20,000 or 0.5 % of the turnover excluding tax when that is higher; what
goes over the ceiling is carried over to the five following years. (Food-aid associations that supply
meals to people in difficulty keep 60 % above €2 M: not modelled here.)"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
RATE = Decimal("0.60")
RATE_ABOVE = Decimal("0.40")
RATE_THRESHOLD_EUR = Decimal("2000000")
CEILING_EUR = Decimal("20000")
CEILING_TURNOVER_SHARE = Decimal("0.005")
CARRY_OVER_YEARS = 5


def euros(value: Decimal) -> Decimal:
    """An amount to the cent, half up."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def line_value(quantity: Decimal, unit_value_eur: Decimal) -> Decimal:
    """The value of a ledger row on a receipt: its quantity × its stamped unit value, to the cent."""
    return euros(quantity * unit_value_eur)


def receipt_reference(year: int, number: int) -> str:
    return f"{year}-{number:06d}"


@dataclass(frozen=True)
class Reduction238Bis:
    total_eur: Decimal
    turnover_eur: Decimal | None
    ceiling_eur: Decimal
    eligible_eur: Decimal  # the gifts taken this year (within the ceiling)
    reduction_eur: Decimal
    carried_over_eur: Decimal  # over the ceiling: carried to the next CARRY_OVER_YEARS years
    carry_over_years: int = CARRY_OVER_YEARS


def reduction_238_bis(total_eur: Decimal, turnover_eur: Decimal | None = None) -> Reduction238Bis:
    """The 238 bis arithmetic on a year's gifts (module docstring); `turnover_eur` excluding tax, when
    known (without it the ceiling is €20,000)."""
    ceiling = CEILING_EUR
    if turnover_eur is not None:
        ceiling = max(ceiling, euros(turnover_eur * CEILING_TURNOVER_SHARE))
    eligible = min(total_eur, ceiling)
    reduction = RATE * min(eligible, RATE_THRESHOLD_EUR) + RATE_ABOVE * max(
        eligible - RATE_THRESHOLD_EUR, Decimal("0")
    )
    return Reduction238Bis(
        total_eur=total_eur,
        turnover_eur=turnover_eur,
        ceiling_eur=euros(ceiling),
        eligible_eur=eligible,
        reduction_eur=euros(reduction),
        carried_over_eur=total_eur - eligible,
    )
