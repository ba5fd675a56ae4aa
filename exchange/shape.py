"""The offer's read shape: its public plain fields, named once.

Every read of an offer derives its plain fields from OFFER_FIELDS: search reads them as values
(matching/search.py: HIT_VALUES, and the hit carries them as they are), the API's serializers are
generated from the model's columns for these names (api/shapes.py: the offer's detail and lists, search
hits in JSON and GeoJSON, a need's matches, the documented webhook payload), and the webhook payload
carries `offer_plain_values` (integrations/messages.py). A plain field of Offer added here appears in all
of them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Offer

# Offer's own columns, copied as they are (no relation, no rule deciding who sees them).
OFFER_FIELDS: tuple[str, ...] = (
    "title",
    "quantity",
    "unit",
    "remaining_quantity",
    "mass_per_unit_kg",
    "condition",
    "mode",
    "price_eur",
    "available_from",
    "available_until",
)


def offer_plain_values(offer: Offer) -> dict[str, Any]:
    """The offer's plain fields and their values, as Python values."""
    return {name: getattr(offer, name) for name in OFFER_FIELDS}
