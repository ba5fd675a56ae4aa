"""How well an offer suits a need: a pure function (no database, no clock) so it is easy to reason about
and to test. The total is a weighted sum of five parts, each in [0, 1]:

- distance: 1 at the need's point, falling linearly to 0 at the edge of its radius;
- category: 1 for the very category the need asked for; an offer in a sub-category of it loses half per
  level between them, so the deeper (closer) the ancestor the need named, the better;
- quantity: share of the wanted quantity the offer can still cover (more than wanted is no penalty);
  neutral when the need wants no particular quantity or counts in another unit;
- urgency: rises as the offer's end of availability nears, so what would soon be wasted comes first;
  an offer with no end date counts like one beyond the horizon: neither promoted nor demoted;
- freshness: halves every week since publication.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

# Weights of the parts; they sum to 1 so the total stays in [0, 1]. Distance dominates: a lot that is
# close is the one an association can actually fetch.
WEIGHT_DISTANCE = 0.35
WEIGHT_CATEGORY = 0.25
WEIGHT_QUANTITY = 0.15
WEIGHT_URGENCY = 0.15
WEIGHT_FRESHNESS = 0.10
WEIGHTS = {
    "distance": WEIGHT_DISTANCE,
    "category": WEIGHT_CATEGORY,
    "quantity": WEIGHT_QUANTITY,
    "urgency": WEIGHT_URGENCY,
    "freshness": WEIGHT_FRESHNESS,
}

CATEGORY_FIT_PER_LEVEL = 0.5  # each level between the need's category and the offer's halves the fit
QUANTITY_NEUTRAL = 0.5  # no quantity wanted, or not comparable (different units)
URGENCY_HORIZON = timedelta(days=14)  # offers ending further away than this are not urgent
URGENCY_NONE = 0.0  # no end date: like an end beyond the horizon
FRESHNESS_HALF_LIFE = timedelta(days=7)

DECIMALS = 4  # parts and totals are rounded, so equal inputs give equal, comparable scores


@dataclass(frozen=True)
class MatchScore:
    total: float
    parts: dict[str, float]


def category_generations(*, offer_path: str, need_paths: list[str]) -> int | None:
    """Levels between the offer's category and the closest category the need named that is it or one
    of its ancestors (0 = exact); None when none of them covers the offer."""
    best: int | None = None
    offer_depth = offer_path.count("/")
    for path in need_paths:
        if offer_path == path or offer_path.startswith(path + "/"):
            generations = offer_depth - path.count("/")
            if best is None or generations < best:
                best = generations
    return best


def distance_fit(*, distance_m: float, radius_m: float) -> float:
    if radius_m <= 0:
        return 0.0
    return _clamp(1.0 - distance_m / radius_m)


def category_fit(*, generations: int | None) -> float:
    if generations is None or generations < 0:
        return 0.0
    return CATEGORY_FIT_PER_LEVEL**generations


def quantity_fit(
    *, quantity_wanted: Decimal | None, wanted_unit: str, remaining_quantity: Decimal, offer_unit: str
) -> float:
    if quantity_wanted is None or quantity_wanted <= 0 or wanted_unit != offer_unit:
        return QUANTITY_NEUTRAL
    return _clamp(float(remaining_quantity) / float(quantity_wanted))


def urgency(*, available_until: datetime | None, now: datetime) -> float:
    if available_until is None:
        return URGENCY_NONE
    left = (available_until - now) / URGENCY_HORIZON
    return _clamp(1.0 - left)


def freshness(*, published_at: datetime | None, now: datetime) -> float:
    if published_at is None:
        return 0.0
    age = max((now - published_at) / FRESHNESS_HALF_LIFE, 0.0)
    return 0.5**age


def score_offer(
    *,
    distance_m: float,
    radius_m: float,
    generations: int | None,
    quantity_wanted: Decimal | None,
    wanted_unit: str,
    remaining_quantity: Decimal,
    offer_unit: str,
    available_until: datetime | None,
    published_at: datetime | None,
    now: datetime,
) -> MatchScore:
    parts = {
        "distance": distance_fit(distance_m=distance_m, radius_m=radius_m),
        "category": category_fit(generations=generations),
        "quantity": quantity_fit(
            quantity_wanted=quantity_wanted,
            wanted_unit=wanted_unit,
            remaining_quantity=remaining_quantity,
            offer_unit=offer_unit,
        ),
        "urgency": urgency(available_until=available_until, now=now),
        "freshness": freshness(published_at=published_at, now=now),
    }
    parts = {name: round(value, DECIMALS) for name, value in parts.items()}
    total = round(sum(WEIGHTS[name] * value for name, value in parts.items()), DECIMALS)
    return MatchScore(total=total, parts=parts)


def _clamp(value: float) -> float:
    return min(max(value, 0.0), 1.0)
