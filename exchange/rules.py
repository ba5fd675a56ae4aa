"""What may change in which status, and the derived quantities of an offer (its mass has its one home
here), and the rules of its valuation for a tax receipt. Pure: no database access."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext as _

from inventory.models import MASS_UNITS_KG, Category

from .models import Offer, OfferMode, OfferStatus, ValuationBasis

GRAM = Decimal("0.001")
# Quantities are kept to the thousandth of their unit (the columns have three decimals).
QUANTITY_STEP = Decimal("0.001")

# Statuses in which people other than the owner may see an offer: it has been public once.
PUBLIC_STATUSES = (OfferStatus.PUBLISHED, OfferStatus.EXHAUSTED, OfferStatus.CLOSED, OfferStatus.EXPIRED)
# Statuses in which the owner may still edit it (and add or remove photos).
EDITABLE_STATUSES = (OfferStatus.DRAFT, OfferStatus.PUBLISHED, OfferStatus.EXHAUSTED)
# Fields fixed once the offer has been published: claims, matches and the ledger rely on them.
FROZEN_AFTER_PUBLISH = ("site", "category", "unit", "mode")
EDITABLE_FIELDS = (
    "site",
    "category",
    "title",
    "description",
    "quantity",
    "unit",
    "mass_per_unit_kg",
    "condition",
    "mode",
    "price_eur",
    "available_from",
    "available_until",
    "pickup_instructions",
    "external_ref",
    "auto_accept_claims",
)

# The donor's valuation for a tax receipt: written by the offer services and the bulk path (keyword
# arguments), not among EDITABLE_FIELDS (the CSV imports read those and do not take it).
VALUATION_FIELDS = ("unit_value_eur", "valuation_basis", "near_use_by")

MAX_PHOTOS_PER_OFFER = 8


@dataclass(frozen=True)
class MassEstimate:
    mass_kg: Decimal | None
    is_estimated: bool


def implied_mass_per_unit_kg(unit: str) -> Decimal | None:
    """1 for kg, 1000 for t; None for units that are not a mass."""
    return MASS_UNITS_KG.get(unit)


def offer_mass_per_unit_kg(offer: Offer) -> MassEstimate:
    """The one home of an offer's mass (mass_sql below is its SQL twin): the mass of one unit is the
    donor's declared mass per unit, else the mass its unit implies (1 for kg, 1000 for t), else the
    category's typical mass when the offer counts in the category's own unit (an estimate), else
    unknown."""
    declared = offer.mass_per_unit_kg
    if declared is None:
        declared = MASS_UNITS_KG.get(offer.unit)
    if declared is not None:
        return MassEstimate(declared, False)
    category = offer.category
    if category.typical_mass_kg is not None and offer.unit == category.default_unit:
        return MassEstimate(category.typical_mass_kg, True)
    return MassEstimate(None, False)


def mass_kg_rounded(value: Decimal) -> Decimal:
    """A mass to the gram, half up (as PostgreSQL's round(numeric, 3) does)."""
    return value.quantize(GRAM, rounding=ROUND_HALF_UP)


def offer_mass_for(offer: Offer, quantity: Decimal) -> MassEstimate:
    """Mass of `quantity` units of the offer (offer_mass_per_unit_kg), to the gram, half up."""
    per_unit = offer_mass_per_unit_kg(offer)
    if per_unit.mass_kg is None:
        return per_unit
    return MassEstimate(mass_kg_rounded(quantity * per_unit.mass_kg), per_unit.is_estimated)


def mass_per_unit_sql(offer: str, category: str) -> str:
    """offer_mass_per_unit_kg as an SQL expression over the aliases of an Offer row and its Category row,
    with column names from the models and units from MASS_UNITS_KG; NULL when unknown."""
    declared = Offer._meta.get_field("mass_per_unit_kg").column
    unit = f"{offer}.{Offer._meta.get_field('unit').column}"
    typical = Category._meta.get_field("typical_mass_kg").column
    default_unit = Category._meta.get_field("default_unit").column
    if not all(str(code).isalpha() for code in MASS_UNITS_KG):  # written into the SQL text below
        raise ValueError("mass unit codes must be plain words")
    implied = " ".join(f"WHEN '{code}' THEN {kg}" for code, kg in MASS_UNITS_KG.items())
    return (
        f"COALESCE({offer}.{declared}, CASE {unit} {implied} END, "
        f"CASE WHEN {unit} = {category}.{default_unit} THEN {category}.{typical} END)"
    )


def quantity_text(value: Decimal) -> str:
    """A quantity as messages and error details write it: to the thousandth."""
    return str(value.quantize(QUANTITY_STEP))


def valuation_errors(offer: Offer) -> dict[str, list[str]]:
    """The rules of an offer's valuation (the database's CHECKs, by field): a unit value and its basis
    together, the value above zero, and only on a donation (a sale price is never a valuation)."""
    value, basis = offer.unit_value_eur, offer.valuation_basis
    errors: dict[str, list[str]] = {}
    if basis and basis not in ValuationBasis.values:
        errors["valuation_basis"] = [_("Unknown valuation basis.")]
    elif value is not None and not basis:
        errors["valuation_basis"] = [_("Say how the unit value was found: stock value or cost price.")]
    elif basis and value is None:
        errors["unit_value_eur"] = [_("A valuation basis needs the unit value it applies to.")]
    if value is not None and value <= 0:
        errors["unit_value_eur"] = [_("The unit value must be greater than zero.")]
    elif value is not None and offer.mode != OfferMode.DONATION:
        errors["unit_value_eur"] = [_("Only a donation carries a valuation; a sale price is never one.")]
    return errors
