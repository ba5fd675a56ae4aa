"""Business rules written once: each has one home (docs/architecture.md) and the other modules call it.
These checks find the rule's tell-tale text anywhere else in the project's code (tests and migrations
aside), so a second copy fails the suite instead of drifting."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_module_size import ROOT, _modules

# (what the rule's own text looks like, the module(s) allowed to hold it)
RULES = {
    "the request's language": ('.startswith("en")', {"core/i18n.py"}),
    "a category and its descendants": (
        'path__startswith": f"{path}/"',
        {"inventory/selectors.py"},
    ),
    "what a statistics scope lets through": ('else f"{column} = ANY(%s)"', {"impact/query.py"}),
    "an offer's mass per unit, in SQL": ("THEN {category}.{typical}", {"exchange/rules.py"}),
    "an offer's stock moves (remaining, reserved, collected)": (
        'reserved_quantity=F("reserved_quantity")',
        {"exchange/lifecycle.py"},
    ),
    "an offer's status changes": (".status = OfferStatus.", {"exchange/lifecycle.py"}),
    "a live offer is exhausted when nothing remains": (
        "then=Value(OfferStatus.EXHAUSTED)",
        {"exchange/lifecycle.py"},
    ),
}


def _holders(text: str) -> set[str]:
    return {str(path.relative_to(ROOT)) for path in _modules() if text in Path(path).read_text()}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_the_rule_has_one_home(rule):
    text, homes = RULES[rule]
    assert _holders(text) == homes


def test_no_second_copy_of_the_old_forms():
    assert _holders('(translation.get_language() or "fr")') == {"core/i18n.py"}
    assert _holders('category__path__startswith=f"') == set()
    assert _holders("CASE o.unit WHEN 'kg'") == set()
    assert _holders(".territory_id = ANY(%s)") == set()
    # Claims ask the offer's life cycle for stock; they no longer write it.
    assert _holders("def _take(") == set()
    assert _holders("def _give_back(") == set()
    # The organisations layer announces a site's move; it writes no offer or need itself.
    assert _holders("site.offers.update(") == set()
    assert _holders("site.needs.update(") == set()
    assert _holders("site_moved.send(") == {"organisations/services/sites.py"}
