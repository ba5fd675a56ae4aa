"""The groups of a time series and their labels: top-level categories (or the children of the filtered
category), territories, or the kinds of the parties. Data labels read the same whatever the translation
catalogue holds (core.i18n.localized)."""

from __future__ import annotations

from core.i18n import localized
from inventory.models import Category
from organisations.models import OrganisationKind
from territories.models import Territory

from ..query import StatsQuery


def _label(fr: str, en: str) -> str:
    """Data labels that must read the same whatever the translation catalogue holds."""
    return localized(fr, en)


def _category_groups(query: StatsQuery, category_ids: set[int]) -> dict[int, tuple[str, str]]:
    """category id → (key, label) of the level shown: top-level categories, or the children of the
    filtered category (rows of the filtered category itself keep its own key)."""
    level = query.category.depth + 1 if query.category is not None else 0
    categories = {c.key: c for c in Category.objects.all()}
    by_id = {c.pk: c for c in categories.values()}
    out = {}
    for category_id in category_ids:
        segments = by_id[category_id].path.split("/")
        shown = categories[segments[min(level, len(segments) - 1)]]
        out[category_id] = (shown.key, shown.name)
    return out


def _group_labels(query: StatsQuery, group_by: str | None, raw_keys: set) -> dict:
    """raw group value → (key, label)."""
    if group_by is None:
        return {None: ("all", _label("Tous", "All"))}
    if group_by == "category":
        return _category_groups(query, raw_keys)
    if group_by == "territory":
        territories = {
            t.pk: (t.code, t.name)
            for t in Territory.objects.filter(pk__in=raw_keys - {None}).defer("geometry")
        }
        return {
            k: territories.get(k, ("", _label("Hors territoire", "Outside any territory"))) for k in raw_keys
        }
    labels = dict(OrganisationKind.choices)
    return {k: (k, str(labels.get(k, k))) for k in raw_keys}
