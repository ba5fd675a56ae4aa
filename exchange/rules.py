"""What may change in which status, and the derived quantities of an offer. Pure: no database access."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from inventory.models import MASS_UNITS_KG

from .models import Offer, OfferStatus

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

MAX_PHOTOS_PER_OFFER = 8


@dataclass(frozen=True)
class MassEstimate:
    mass_kg: Decimal | None
    is_estimated: bool


def implied_mass_per_unit_kg(unit: str) -> Decimal | None:
    """1 for kg, 1000 for t; None for units that are not a mass."""
    return MASS_UNITS_KG.get(unit)


def offer_mass_for(offer: Offer, quantity: Decimal) -> MassEstimate:
    """Mass of `quantity` units of the offer: declared (or implied) mass per unit first, else the
    category's typical mass when the offer counts in the category's own unit, else unknown."""
    if offer.mass_per_unit_kg is not None:
        return MassEstimate((quantity * offer.mass_per_unit_kg).quantize(Decimal("0.001")), False)
    category = offer.category
    if category.typical_mass_kg is not None and offer.unit == category.default_unit:
        return MassEstimate((quantity * category.typical_mass_kg).quantize(Decimal("0.001")), True)
    return MassEstimate(None, False)


def status_after_quantity_change(offer: Offer) -> str:
    """A live offer is exhausted exactly when nothing remains to reserve."""
    if offer.status in (OfferStatus.PUBLISHED, OfferStatus.EXHAUSTED):
        return OfferStatus.EXHAUSTED if offer.remaining_quantity == 0 else OfferStatus.PUBLISHED
    return offer.status
