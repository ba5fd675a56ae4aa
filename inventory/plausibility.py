"""What a unit of a category may plausibly weigh, and what a quantity must look like in its unit. The one
home of these rules: offers (exchange.services) and handovers (claims.ledger) call them.

Mass of one unit, first that applies:
  1. the range the operator set on the category (admin: least and greatest plausible mass);
  2. from the category's typical mass, when the lot counts in the category's own unit: a quarter of it
     to four times it (a sofa of 40 kg: 10 to 160 kg);
  3. the physical bounds of the unit (below), whatever the category.
kg and t need none: their mass per unit is implied.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext as _

from core.errors import InvalidInput

from .models import MASS_UNITS_KG, Category, Unit

# Units counted in whole numbers.
COUNTED_UNITS = (Unit.PIECE, Unit.PALLET)
# From the typical mass: [typical ÷ spread, typical × spread].
TYPICAL_SPREAD = Decimal("4")
# Physical bounds of one unit, in kg: the heaviest of anything a local exchange hands over (a piece: a
# loaded truck's payload; a pallet: a heavy-duty pallet's rated load; a cubic metre: denser than steel; a
# litre: denser than mercury) and the lightest that still makes sense.
UNIT_BOUNDS_KG: dict[str, tuple[Decimal, Decimal]] = {
    Unit.PIECE: (Decimal("0.001"), Decimal("40000")),
    Unit.PALLET: (Decimal("1"), Decimal("2500")),
    Unit.METRE: (Decimal("0.001"), Decimal("1000")),
    Unit.SQUARE_METRE: (Decimal("0.01"), Decimal("1000")),
    Unit.CUBIC_METRE: (Decimal("1"), Decimal("8000")),
    Unit.LITRE: (Decimal("0.5"), Decimal("20")),
}


class RangeBasis:
    CATEGORY = "category"  # set by the operator
    TYPICAL = "typical"  # from the category's typical mass
    UNIT = "unit"  # physical bounds of the unit


RANGE_BASIS_CHOICES = [(RangeBasis.CATEGORY,) * 2, (RangeBasis.TYPICAL,) * 2, (RangeBasis.UNIT,) * 2]


@dataclass(frozen=True)
class MassRange:
    min_kg: Decimal
    max_kg: Decimal
    basis: str

    def holds(self, mass_per_unit_kg: Decimal) -> bool:
        return self.min_kg <= mass_per_unit_kg <= self.max_kg

    def times(self, quantity: Decimal) -> MassRange:
        return MassRange(_kg(self.min_kg * quantity), _kg(self.max_kg * quantity), self.basis)


def _kg(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.001"))


def plausible_mass_range(category: Category, unit: str) -> MassRange | None:
    """The plausible mass of one `unit` of `category` (module docstring); None for kg and t."""
    if unit in MASS_UNITS_KG:
        return None
    if unit == category.default_unit:
        if category.mass_min_kg is not None and category.mass_max_kg is not None:
            return MassRange(category.mass_min_kg, category.mass_max_kg, RangeBasis.CATEGORY)
        if category.typical_mass_kg is not None:
            typical = category.typical_mass_kg
            return MassRange(_kg(typical / TYPICAL_SPREAD), _kg(typical * TYPICAL_SPREAD), RangeBasis.TYPICAL)
    low, high = UNIT_BOUNDS_KG[unit]
    return MassRange(low, high, RangeBasis.UNIT)


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def mass_per_unit_check(category: Category, unit: str, mass_per_unit_kg: Decimal) -> str | None:
    """The message refusing a declared mass per unit outside its plausible range, or None when it is
    plausible."""
    found = plausible_mass_range(category, unit)
    if found is None or found.holds(mass_per_unit_kg):
        return None
    return _(
        "In %(category)s, the plausible mass per %(unit)s is %(low)s to %(high)s kg, not %(mass)s kg."
    ) % {
        "unit": Unit(unit).label,
        "category": category.name,
        "low": _text(found.min_kg),
        "high": _text(found.max_kg),
        "mass": _text(mass_per_unit_kg),
    }


def quantity_check(quantity: Decimal, unit: str, *, field: str = "quantity") -> Decimal:
    """A positive quantity, whole for units counted in whole numbers; else 400 on `field`."""
    if quantity <= 0:
        message = _("The quantity must be greater than zero.")
        raise InvalidInput(message, field_errors={field: [message]})
    if unit in COUNTED_UNITS and quantity != quantity.to_integral_value():
        message = _("This lot is counted in whole units.")
        raise InvalidInput(message, field_errors={field: [message]})
    return quantity
