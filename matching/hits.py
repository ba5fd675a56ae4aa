"""A search hit: an offer as search shows it (matching.search builds them, api/endpoints/search.py writes
them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exchange.shape import OFFER_FIELDS


@dataclass(frozen=True, slots=True)
class HitOrganisation:
    id: int
    name: str
    kind: str


@dataclass(frozen=True, slots=True)
class HitCategory:
    id: int
    key: str
    name: str


@dataclass(frozen=True, slots=True)
class OfferHit:
    """An offer as search shows it: its plain fields, the location the actor may see, and the distance
    from it. A plain field reads as an attribute too (`hit.title`)."""

    id: int
    fields: Mapping[str, Any]  # the offer's plain fields (exchange/shape.py OFFER_FIELDS) and their values
    organisation: HitOrganisation
    category: HitCategory
    lon: float
    lat: float
    location_is_approximate: bool
    distance_m: float
    photo_count: int

    def __getattr__(self, name: str) -> Any:
        if name in OFFER_FIELDS:
            return self.fields[name]
        raise AttributeError(name)
