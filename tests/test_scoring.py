"""The scoring function is pure: exact values, bounds, and monotonicity in every part."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matching import scoring
from matching.scoring import category_generations, score_offer

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def _score(**overrides):
    values = {
        "distance_m": 1000.0,
        "radius_m": 4000.0,
        "generations": 1,
        "quantity_wanted": Decimal("10"),
        "wanted_unit": "piece",
        "remaining_quantity": Decimal("5"),
        "offer_unit": "piece",
        "available_until": NOW + 7 * DAY,
        "published_at": NOW - 7 * DAY,
        "now": NOW,
    }
    values.update(overrides)
    return score_offer(**values)


def test_weights_sum_to_one():
    assert sum(scoring.WEIGHTS.values()) == pytest.approx(1.0)
    assert scoring.WEIGHTS == {
        "distance": 0.35,
        "category": 0.25,
        "quantity": 0.15,
        "urgency": 0.15,
        "freshness": 0.10,
    }


def test_exact_total_and_parts():
    result = _score()
    assert result.parts == {
        "distance": 0.75,
        "category": 0.5,
        "quantity": 0.5,
        "urgency": 0.5,
        "freshness": 0.5,
    }
    # 0.35·0.75 + 0.25·0.5 + 0.15·0.5 + 0.15·0.5 + 0.10·0.5
    assert result.total == 0.5875


def test_best_and_worst_possible_scores():
    best = _score(
        distance_m=0.0, generations=0, remaining_quantity=Decimal("10"), available_until=NOW, published_at=NOW
    )
    assert best.total == 1.0
    assert best.parts == {"distance": 1.0, "category": 1.0, "quantity": 1.0, "urgency": 1.0, "freshness": 1.0}
    worst = _score(
        distance_m=4000.0,
        generations=None,
        remaining_quantity=Decimal("0"),
        available_until=None,
        published_at=None,
    )
    assert worst.total == 0.0


@pytest.mark.parametrize(
    ("distance_m", "expected"), [(0, 1.0), (1000, 0.75), (2000, 0.5), (4000, 0.0), (9000, 0.0)]
)
def test_distance_decays_linearly_to_the_edge_of_the_radius(distance_m, expected):
    assert scoring.distance_fit(distance_m=distance_m, radius_m=4000) == expected


@pytest.mark.parametrize(
    ("need_paths", "expected"),
    [
        (["furniture/office/chair"], 0),
        (["furniture/office"], 1),
        (["furniture"], 2),
        (["furniture", "furniture/office"], 1),  # the closest ancestor named counts
        (["furniture/off"], None),  # a prefix of a key is not an ancestor
        (["wood"], None),
        (["furniture/office/chair/gaming"], None),  # a descendant of the offer's category does not cover it
    ],
)
def test_category_generations(need_paths, expected):
    assert category_generations(offer_path="furniture/office/chair", need_paths=need_paths) == expected


@pytest.mark.parametrize(
    ("generations", "expected"), [(0, 1.0), (1, 0.5), (2, 0.25), (3, 0.125), (None, 0.0)]
)
def test_category_fit_exact_beats_deep_ancestor_beats_shallow_one(generations, expected):
    assert scoring.category_fit(generations=generations) == expected


@pytest.mark.parametrize(
    ("wanted", "wanted_unit", "remaining", "offer_unit", "expected"),
    [
        (None, "", "3", "piece", 0.5),  # nothing particular wanted: neutral
        ("10", "piece", "5", "piece", 0.5),
        ("10", "piece", "10", "piece", 1.0),
        ("10", "piece", "40", "piece", 1.0),  # more than wanted is no penalty
        ("10", "piece", "2.5", "piece", 0.25),
        ("10", "kg", "5", "piece", 0.5),  # different units: not comparable, neutral
    ],
)
def test_quantity_fit(wanted, wanted_unit, remaining, offer_unit, expected):
    assert (
        scoring.quantity_fit(
            quantity_wanted=Decimal(wanted) if wanted else None,
            wanted_unit=wanted_unit,
            remaining_quantity=Decimal(remaining),
            offer_unit=offer_unit,
        )
        == expected
    )


@pytest.mark.parametrize(
    ("until", "expected"),
    [(NOW, 1.0), (NOW + 3.5 * DAY, 0.75), (NOW + 7 * DAY, 0.5), (NOW + 14 * DAY, 0.0), (NOW + 60 * DAY, 0.0)],
)
def test_urgency_rises_as_the_end_nears(until, expected):
    assert scoring.urgency(available_until=until, now=NOW) == expected


def test_no_end_date_counts_like_a_distant_one():
    assert scoring.urgency(available_until=None, now=NOW) == scoring.urgency(
        available_until=NOW + 90 * DAY, now=NOW
    )


@pytest.mark.parametrize(
    ("published", "expected"),
    [(NOW, 1.0), (NOW - 7 * DAY, 0.5), (NOW - 14 * DAY, 0.25), (NOW + DAY, 1.0), (None, 0.0)],
)
def test_freshness_halves_every_week(published, expected):
    assert scoring.freshness(published_at=published, now=NOW) == expected


# Monotonicity: better in one part, everything else equal, never scores lower.
radii = st.integers(min_value=1, max_value=100_000)
fractions = st.floats(min_value=0, max_value=1.5, allow_nan=False)
quantities = st.decimals(min_value=Decimal("0"), max_value=Decimal("10000"), places=3)
days = st.floats(min_value=-30, max_value=60, allow_nan=False)


@given(radius=radii, a=fractions, b=fractions)
def test_closer_never_scores_lower(radius, a, b):
    near, far = sorted((a * radius, b * radius))
    assert _score(distance_m=near, radius_m=radius).total >= _score(distance_m=far, radius_m=radius).total


@given(a=st.integers(min_value=0, max_value=8), b=st.integers(min_value=0, max_value=8))
def test_closer_category_never_scores_lower(a, b):
    close, distant = sorted((a, b))
    assert _score(generations=close).total >= _score(generations=distant).total
    assert _score(generations=distant).total >= _score(generations=None).total


@given(
    wanted=st.decimals(min_value=Decimal("0.001"), max_value=Decimal("1000"), places=3),
    a=quantities,
    b=quantities,
)
def test_more_remaining_never_scores_lower(wanted, a, b):
    less, more = sorted((a, b))
    assert (
        _score(quantity_wanted=wanted, remaining_quantity=more).total
        >= _score(quantity_wanted=wanted, remaining_quantity=less).total
    )


@given(a=days, b=days)
def test_sooner_end_never_scores_lower(a, b):
    soon, late = sorted((a, b))
    assert _score(available_until=NOW + soon * DAY).total >= _score(available_until=NOW + late * DAY).total


@given(a=days, b=days)
def test_more_recent_never_scores_lower(a, b):
    older, newer = sorted((a, b))
    assert _score(published_at=NOW + newer * DAY).total >= _score(published_at=NOW + older * DAY).total


@given(
    distance=st.floats(min_value=0, max_value=200_000, allow_nan=False),
    radius=radii,
    generations=st.one_of(st.none(), st.integers(min_value=0, max_value=6)),
    wanted=st.one_of(st.none(), st.decimals(min_value=Decimal("0.001"), max_value=Decimal("1000"), places=3)),
    remaining=quantities,
    until=st.one_of(st.none(), days),
    published=st.one_of(st.none(), days),
)
def test_total_and_parts_stay_in_the_unit_interval(
    distance, radius, generations, wanted, remaining, until, published
):
    result = _score(
        distance_m=distance,
        radius_m=radius,
        generations=generations,
        quantity_wanted=wanted,
        remaining_quantity=remaining,
        available_until=None if until is None else NOW + until * DAY,
        published_at=None if published is None else NOW + published * DAY,
    )
    assert 0.0 <= result.total <= 1.0
    assert set(result.parts) == set(scoring.WEIGHTS)
    assert all(0.0 <= value <= 1.0 for value in result.parts.values())
