"""What every statistics answer shares: the header that says what was asked (period, time zone,
territory, category, factor version) and where the figures come from, and the units of the figures:
exact Decimals, kg with 3 decimals, tonnes with 6, shares with 4."""

from __future__ import annotations

from decimal import Decimal

from inventory.models import Category
from territories.models import Territory

from ..query import StatsQuery

SHARE = Decimal("0.0001")


def _kg(grams: int | Decimal | None) -> Decimal:
    return Decimal(int(grams or 0)).scaleb(-3)


def _tonnes(grams: int | Decimal | None) -> Decimal:
    return Decimal(int(grams or 0)).scaleb(-6)


def _share(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(SHARE) if whole else None


def _territory_ref(territory: Territory) -> dict:
    return {"id": territory.pk, "kind": territory.kind, "code": territory.code, "name": territory.name}


def _category_ref(category: Category) -> dict:
    return {"id": category.pk, "key": category.key, "path": category.path, "name": category.name}


def _header(query: StatsQuery) -> dict:
    return {
        "from": query.date_from,
        "to": query.date_to,
        "tz": query.tz.key,
        "territory": _territory_ref(query.territory) if query.territory is not None else None,
        "category": _category_ref(query.category) if query.category is not None else None,
        "factor_version": query.factor_version.code if query.factor_version else None,
        "computed_from": "rollups" if query.uses_rollups else "ledger",
    }
