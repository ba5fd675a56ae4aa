"""Restating CO2e with a named factor version. The stamped figures on the ledger never change; this
computes what they would have been, row by row, with the rules claims.ledger stamps new rows with:

  - the category's factor in the version, else its nearest ancestor's, else the fallback category's;
  - per_kg: mass × factor;
  - per_item: quantity × factor when the row counts pieces, else mass ÷ the typical mass of one item
    (the category's or the factor's category's, when it counts pieces), else the nearest per_kg factor
    up the tree (fallback included) × mass, else 0;
  - no factor: 0.
Each row is rounded to the gram, as the stamp is. Per-item factors need the row's quantity and unit,
which rollups do not keep: restatements read the ledger rows."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from inventory.models import Category, EmissionFactor, FactorBasis, FactorVersion, Unit
from inventory.selectors import FALLBACK_CATEGORY_KEY


@dataclass(frozen=True)
class RestatementRule:
    category_id: int
    mode: str  # "kg", "item" or "none"
    factor: EmissionFactor | None = None
    item_mass_kg: Decimal | None = None
    per_kg_factor: EmissionFactor | None = None  # per_item rows that count no pieces and have no item mass

    @property
    def kgco2e(self) -> Decimal | None:
        return self.factor.kgco2e if self.factor else None

    @property
    def per_kg_kgco2e(self) -> Decimal | None:
        return self.per_kg_factor.kgco2e if self.per_kg_factor else None


def _item_mass_kg(*categories: Category | None) -> Decimal | None:
    for category in categories:
        if (
            category is not None
            and category.typical_mass_kg is not None
            and category.default_unit == Unit.PIECE
        ):
            return category.typical_mass_kg
    return None


def restatement_rules(version: FactorVersion) -> dict[int, RestatementRule]:
    """category id → how to restate its rows with `version`. Two queries, whatever the catalogue."""
    categories = list(Category.objects.only("id", "key", "path", "typical_mass_kg", "default_unit"))
    by_key = {c.key: c for c in categories}
    factors = {
        f.category.key: f
        for f in EmissionFactor.objects.filter(version=version).select_related("category", "version")
    }
    rules: dict[int, RestatementRule] = {}
    for category in categories:
        lineage = [*reversed(category.path.split("/")), FALLBACK_CATEGORY_KEY]
        key = next((k for k in lineage if k in factors), None)
        if key is None:
            rules[category.pk] = RestatementRule(category_id=category.pk, mode="none")
            continue
        factor = factors[key]
        if factor.basis == FactorBasis.PER_KG:
            rules[category.pk] = RestatementRule(category_id=category.pk, mode="kg", factor=factor)
            continue
        per_kg_key = next(
            (k for k in lineage if k in factors and factors[k].basis == FactorBasis.PER_KG), None
        )
        rules[category.pk] = RestatementRule(
            category_id=category.pk,
            mode="item",
            factor=factor,
            item_mass_kg=_item_mass_kg(category, by_key.get(key)),
            per_kg_factor=factors[per_kg_key] if per_kg_key else None,
        )
    return rules


def restated_co2e_sql(rules: dict[int, RestatementRule], alias: str = "h") -> tuple[str, str, list]:
    """(join clause, expression, params): the join brings each row's rule, the expression gives the
    row's restated CO2e in kg, rounded to the gram."""
    if not rules:
        return "", "0::numeric", []
    values = ", ".join(["(%s::bigint, %s::text, %s::numeric, %s::numeric, %s::numeric)"] * len(rules))
    params: list = []
    for rule in rules.values():
        params += [rule.category_id, rule.mode, rule.kgco2e, rule.item_mass_kg, rule.per_kg_kgco2e]
    join = (
        f"LEFT JOIN (VALUES {values}) AS rr(category_id, mode, k, item_mass, k_kg) "
        f"ON rr.category_id = {alias}.category_id"
    )
    expression = f"""CASE rr.mode
        WHEN 'kg' THEN round({alias}.mass_kg * rr.k, 3)
        WHEN 'item' THEN CASE
            WHEN {alias}.unit = '{Unit.PIECE.value}' THEN round({alias}.quantity * rr.k, 3)
            WHEN rr.item_mass IS NOT NULL THEN round({alias}.mass_kg / rr.item_mass * rr.k, 3)
            WHEN rr.k_kg IS NOT NULL THEN round({alias}.mass_kg * rr.k_kg, 3)
            ELSE 0 END
        ELSE 0 END"""
    return join, expression, params
