"""The offer's read shape: its public plain fields, named once.

Search reads them as values (matching/search.py: HIT_VALUES and the hit it builds) and the search
serializer writes them out (api/endpoints/search.py). A plain field added to Offer and shown in search
results is added here, to the hit dataclass and to the search serializer's declared fields."""

from __future__ import annotations

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
