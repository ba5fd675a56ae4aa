"""What a ledger row stamps, fixed forever: the mass and how it was known, the CO2e factor used and the
CO2e avoided. Reads the catalogue; writes nothing.

Mass, first that applies:
  1. weighed at the handover (`mass_kg` given);
  2. declared: the offer's mass per unit × quantity (implied for kg and t);
  3. estimated: the category's typical mass × quantity, when the offer counts in the category's unit.
  Otherwise the handover is refused: the caller must weigh.

CO2e avoided, with the factor `inventory.selectors.factor_for` resolves (the category's own, else its
nearest ancestor's, else the catalogue's fallback), in the current factor version:
  - per_kg factor: mass × factor;
  - per_item factor: items × factor, where items is the quantity when the offer counts pieces, else
    mass ÷ the typical mass of one item (the category's, or the factor's category's, when that
    category counts pieces); when no item count can be derived, the nearest per_kg factor up the tree
    (fallback category included) is used instead, and stamped: mass × that factor;
  - no factor at all: the row is kept (its mass counts) with factor 0 and status `missing`.
The row stamps the basis used and, for a per-item factor, the number of items it was applied to
(`factor_items`); the tonnage is always the mass, weighed when it was weighed.

A loan (offer mode `loan`) avoids nothing: the equipment comes back, so its row stamps the factor but
0 kg CO2e, and statistics leave loans out of tonnage (impact).

Plausibility of a weighed mass. Against what was declared or estimated for the quantity handed over
(`expected_mass_kg`), a weighed mass under 1/MASS_RATIO or over MASS_RATIO times it is implausible;
when nothing was declared or estimated, against the plausible mass per unit
(inventory.plausibility) times the quantity. An implausible mass is refused (400 `mass_implausible`,
naming the bounds) unless the recording party confirms it (`mass_confirmed`): then the row is kept and
flagged `outlier`, and statistics count and list such rows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext as _

from core.errors import InvalidInput
from exchange.models import Offer, OfferMode
from exchange.rules import offer_mass_for
from inventory.models import Category, EmissionFactor, FactorBasis, Unit
from inventory.plausibility import plausible_mass_range
from inventory.selectors import FALLBACK_CATEGORY_KEY, current_factor_version, factor_for

from .models import MassMethod

MILLI = Decimal("0.001")
MISSING_FACTOR_STATUS = "missing"
# A weighed mass within [expected ÷ MASS_RATIO, expected × MASS_RATIO] is plausible.
MASS_RATIO = Decimal("2")


def _kg(value: Decimal) -> Decimal:
    return value.quantize(MILLI, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class LedgerFigures:
    mass_kg: Decimal
    mass_method: str
    factor_version: str
    factor_basis: str
    factor_kgco2e: Decimal
    factor_source: str
    factor_status: str
    co2e_avoided_kg: Decimal
    factor_items: Decimal | None = None
    expected_mass_kg: Decimal | None = None
    mass_confirmed: bool = False
    outlier: bool = False
    mode: str = "donation"


def mass_of(offer: Offer, quantity: Decimal) -> tuple[Decimal, str] | None:
    """(mass_kg, method) of `quantity` units of the offer without weighing, or None when unknown: the
    offer's mass as exchange.rules computes it, declared unless it comes from the category's typical
    mass."""
    estimate = offer_mass_for(offer, quantity)
    if estimate.mass_kg is None:
        return None
    return estimate.mass_kg, MassMethod.ESTIMATED if estimate.is_estimated else MassMethod.DECLARED


def _item_mass_kg(*categories: Category) -> Decimal | None:
    for category in categories:
        if category.typical_mass_kg is not None and category.default_unit == Unit.PIECE:
            return category.typical_mass_kg
    return None


def _nearest_per_kg_factor(category: Category, version_id: int) -> EmissionFactor | None:
    keys = category.path.split("/")
    found = {
        factor.category.key: factor
        for factor in EmissionFactor.objects.filter(
            version_id=version_id, basis=FactorBasis.PER_KG, category__key__in=[*keys, FALLBACK_CATEGORY_KEY]
        ).select_related("category", "version")
    }
    return next((found[key] for key in [*reversed(keys), FALLBACK_CATEGORY_KEY] if key in found), None)


def _stamp(
    factor: EmissionFactor, mass_kg: Decimal, method: str, co2e: Decimal, items: Decimal | None = None
) -> LedgerFigures:
    return LedgerFigures(
        mass_kg=mass_kg,
        mass_method=method,
        factor_version=factor.version.code,
        factor_basis=factor.basis,
        factor_kgco2e=factor.kgco2e,
        factor_source=factor.source,
        factor_status=factor.status,
        co2e_avoided_kg=_kg(co2e),
        factor_items=_kg(items) if items is not None else None,
    )


def _plausible_bounds(
    offer: Offer, quantity: Decimal, expected: Decimal | None
) -> tuple[Decimal, Decimal] | None:
    if expected is not None:
        return _kg(expected / MASS_RATIO), _kg(expected * MASS_RATIO)
    per_unit = plausible_mass_range(offer.category, offer.unit)
    if per_unit is None:  # pragma: no cover - kg and t always have an expected mass
        return None
    total = per_unit.times(quantity)
    return total.min_kg, total.max_kg


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def weighed_mass_check(
    *, offer: Offer, quantity: Decimal, mass_kg: Decimal, mass_confirmed: bool
) -> tuple[Decimal | None, bool]:
    """(expected mass, outlier) of a weighed mass, or 400 `mass_implausible` (module docstring)."""
    known = mass_of(offer, quantity)
    expected = known[0] if known else None
    bounds = _plausible_bounds(offer, quantity, expected)
    if bounds is None or bounds[0] <= mass_kg <= bounds[1]:
        return expected, False
    if mass_confirmed:
        return expected, True
    low, high = bounds
    message = _(
        "%(mass)s kg is implausible for %(quantity)s %(unit)s: between %(low)s and %(high)s kg was "
        "expected. Check the weighing, or send mass_confirmed: true to keep this mass."
    ) % {
        "mass": _text(mass_kg),
        "quantity": _text(quantity),
        "unit": offer.unit,
        "low": _text(low),
        "high": _text(high),
    }
    raise InvalidInput(
        message,
        code="mass_implausible",
        field_errors={"mass_kg": [message]},
        extra={
            "expected_mass_kg": str(expected) if expected is not None else None,
            "plausible_min_kg": str(low),
            "plausible_max_kg": str(high),
        },
    )


def ledger_figures(
    *,
    offer: Offer,
    quantity: Decimal,
    weighed_mass_kg: Decimal | None = None,
    mass_confirmed: bool = False,
) -> LedgerFigures:
    """The figures of a handover of `quantity` units of `offer` (see the module docstring)."""
    expected, outlier = None, False
    method: str
    if weighed_mass_kg is not None:
        mass_kg, method = _kg(weighed_mass_kg), MassMethod.WEIGHED
        expected, outlier = weighed_mass_check(
            offer=offer, quantity=quantity, mass_kg=mass_kg, mass_confirmed=mass_confirmed
        )
    else:
        known = mass_of(offer, quantity)
        if known is None:
            message = _("The mass of this lot is unknown: weigh it and give mass_kg.")
            raise InvalidInput(message, code="mass_required", field_errors={"mass_kg": [message]})
        mass_kg, method = known
        expected = mass_kg
    figures = _co2e_figures(offer=offer, quantity=quantity, mass_kg=mass_kg, method=method)
    loan = offer.mode == OfferMode.LOAN
    return replace(
        figures,
        expected_mass_kg=expected,
        mass_confirmed=mass_confirmed,
        outlier=outlier,
        mode=offer.mode,
        co2e_avoided_kg=Decimal("0.000") if loan else figures.co2e_avoided_kg,
    )


def _co2e_figures(*, offer: Offer, quantity: Decimal, mass_kg: Decimal, method: str) -> LedgerFigures:
    category = offer.category
    resolved = factor_for(category)
    if resolved is None:
        version = current_factor_version()
        return LedgerFigures(
            mass_kg=mass_kg,
            mass_method=method,
            factor_version=version.code if version else "",
            factor_basis=FactorBasis.PER_KG,
            factor_kgco2e=Decimal("0"),
            factor_source="",
            factor_status=MISSING_FACTOR_STATUS,
            co2e_avoided_kg=Decimal("0.000"),
        )
    factor = resolved.factor
    if factor.basis == FactorBasis.PER_KG:
        return _stamp(factor, mass_kg, method, mass_kg * factor.kgco2e)

    if offer.unit == Unit.PIECE:
        return _stamp(factor, mass_kg, method, quantity * factor.kgco2e, items=quantity)
    item_mass = _item_mass_kg(category, resolved.category)
    if item_mass is not None:
        items = mass_kg / item_mass
        return _stamp(factor, mass_kg, method, items * factor.kgco2e, items=items)
    per_kg = _nearest_per_kg_factor(category, factor.version_id)
    if per_kg is not None:
        return _stamp(per_kg, mass_kg, method, mass_kg * per_kg.kgco2e)
    return LedgerFigures(
        mass_kg=mass_kg,
        mass_method=method,
        factor_version=factor.version.code,
        factor_basis=FactorBasis.PER_KG,
        factor_kgco2e=Decimal("0"),
        factor_source="",
        factor_status=MISSING_FACTOR_STATUS,
        co2e_avoided_kg=Decimal("0.000"),
    )
