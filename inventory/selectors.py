"""Reads of the catalogue. The catalogue is public reference data, so these selectors take no actor."""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import NotFound

from .models import Category, EmissionFactor, FactorVersion


def category_subtree_q(paths: list[str], prefix: str = "") -> Q:
    """The one home of "this category and its descendants": categories whose path is one of `paths` or
    below one of them (an indexed prefix match on the materialised path). `prefix` reaches the category
    from another model ("category__" on offers, needs and ledger rows)."""
    subtrees = [
        Q(**{f"{prefix}path": path}) | Q(**{f"{prefix}path__startswith": f"{path}/"}) for path in paths
    ]
    return functools.reduce(operator.or_, subtrees) if subtrees else Q(pk__in=[])


# The catalogue's default: a category whose branch has no factor of its own falls back to this one
# (WRAP's net figure for mixed reused goods), so that every handover can be given a CO2e figure.
FALLBACK_CATEGORY_KEY = "mixed_household_reuse"


@dataclass(frozen=True)
class ResolvedFactor:
    """The factor that applies to a category, and the category it was defined on (itself, its nearest
    ancestor with a factor, or the fallback category)."""

    factor: EmissionFactor
    category: Category

    def inherited_by(self, category: Category) -> bool:
        return self.category.pk != category.pk


def current_factor_version() -> FactorVersion | None:
    """The latest published factor version: the one new handovers are stamped with."""
    return (
        FactorVersion.objects.filter(published_at__isnull=False, published_at__lte=timezone.now())
        .order_by("-published_at", "-id")
        .first()
    )


def factor_version_get(*, code: str) -> FactorVersion:
    version = FactorVersion.objects.filter(code=code, published_at__isnull=False).first()
    if version is None:
        raise NotFound(_("No published factor version %(code)s.") % {"code": code})
    return version


def _version_or_current(version: FactorVersion | str | None) -> FactorVersion | None:
    if isinstance(version, FactorVersion):
        return version
    if isinstance(version, str):
        return factor_version_get(code=version)
    return current_factor_version()


def factor_for(category: Category, version: FactorVersion | str | None = None) -> ResolvedFactor | None:
    """The factor of `category` in `version` (default: the current one), resolved up the tree: its own,
    else its nearest ancestor's, else the fallback category's. None when the version has none of them.
    One query (two when the current version must be looked up)."""
    version = _version_or_current(version)
    if version is None:
        return None
    keys = category.path.split("/")
    found = {
        factor.category.key: factor
        for factor in EmissionFactor.objects.filter(
            version=version, category__key__in=[*keys, FALLBACK_CATEGORY_KEY]
        ).select_related("category", "version")
    }
    for key in [*reversed(keys), FALLBACK_CATEGORY_KEY]:
        if key in found:
            return ResolvedFactor(factor=found[key], category=found[key].category)
    return None


def categories_active() -> QuerySet[Category]:
    return Category.objects.filter(is_active=True).order_by("path")


def categories_tree(*, version: FactorVersion | str | None = None) -> list[Category]:
    """The active catalogue as a tree: root categories, each with `tree_children` (ordered) and
    `resolved_factor` (a ResolvedFactor or None) set. Three queries whatever the size of the tree.
    A category below an inactive one is left out with its branch."""
    version = _version_or_current(version)
    categories = list(categories_active())
    by_id = {c.pk: c for c in categories}
    factors: dict[int, EmissionFactor] = {}
    if version is not None:
        for factor in EmissionFactor.objects.filter(version=version, category_id__in=by_id):
            factor.version = version
            factors[factor.category_id] = factor
    fallback = next((c for c in categories if c.key == FALLBACK_CATEGORY_KEY), None)
    fallback_factor = factors.get(fallback.pk) if fallback else None

    roots: list[Category] = []
    for category in sorted(categories, key=lambda c: c.depth):  # parents before their children
        category.tree_children = []
        parent = by_id.get(category.parent_id) if category.parent_id else None
        if category.parent_id and parent is None:
            continue  # under an inactive category
        if parent is not None and not hasattr(parent, "resolved_factor"):
            continue
        own = factors.get(category.pk)
        if own is not None:
            category.resolved_factor = ResolvedFactor(factor=own, category=category)
        elif parent is not None and parent.resolved_factor is not None:
            category.resolved_factor = parent.resolved_factor
        elif fallback is not None and fallback_factor is not None:
            category.resolved_factor = ResolvedFactor(factor=fallback_factor, category=fallback)
        else:
            category.resolved_factor = None
        (parent.tree_children if parent is not None else roots).append(category)
    _sort(roots)
    return roots


def _sort(nodes: list[Category]) -> None:
    nodes.sort(key=lambda c: (c.sort_order, c.key))
    for node in nodes:
        _sort(node.tree_children)
