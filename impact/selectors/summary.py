"""The headline figures of a period (`stats_summary`): handovers, tonnes diverted, CO2e avoided, mass
by method and its shares, the outliers among them and the factors the CO2e figures used; with the
distinct donors and recipients (impact.sql), the market figures (impact.market), the loan
indicators (impact.lending) and the social indicators (impact.outcome_figures)."""

from __future__ import annotations

from dataclasses import replace

from inventory.models import Category
from organisations.actors import Actor

from ..factors import restatement_rules
from ..lending import loan_totals
from ..market import market_figures
from ..models import FactorUsage
from ..outcome_figures import outcome_totals
from ..query import StatsParams, StatsQuery, stats_query_resolve
from ..sql import Sql, distinct_parties, facts, fetch
from ..versions import ALL_SOURCES, figures_cached
from .common import _header, _kg, _share, _tonnes

METHODS = ("weighed", "declared", "estimated")


def _factors_used(query: StatsQuery, pairs: set[tuple[str, int]]) -> list[dict]:
    """The factors behind the CO2e figures, grouped by (version, basis, factor, source, status), each
    with the categories it was applied to."""
    keys = dict(Category.objects.filter(pk__in={c for _v, c in pairs}).values_list("pk", "key"))
    grouped: dict[tuple, set[str]] = {}
    if query.factor_version is not None:
        rules = restatement_rules(query.factor_version)
        for _version, category_id in pairs:
            rule = rules.get(category_id)
            for factor in (rule.factor, rule.per_kg_factor) if rule else ():
                if factor is not None:
                    group = (
                        query.factor_version.code,
                        factor.basis,
                        factor.kgco2e,
                        factor.source,
                        factor.status,
                    )
                    grouped.setdefault(group, set()).add(keys[category_id])
    else:
        usages = FactorUsage.objects.filter(
            factor_version__in={v for v, _c in pairs}, category_id__in={c for _v, c in pairs}
        )
        for usage in usages:
            if (usage.factor_version, usage.category_id) in pairs:
                group = (
                    usage.factor_version,
                    usage.factor_basis,
                    usage.factor_kgco2e,
                    usage.factor_source,
                    usage.factor_status,
                )
                grouped.setdefault(group, set()).add(keys[usage.category_id])
    return [
        {
            "factor_version": version,
            "basis": basis,
            "kgco2e": kgco2e,
            "source": source,
            "status": status,
            "categories": sorted(categories),
        }
        for (version, basis, kgco2e, source, status), categories in sorted(
            grouped.items(), key=lambda item: (item[0][0], sorted(item[1]), item[0][3])
        )
    ]


def ledger_totals(query: StatsQuery) -> dict:
    """Handovers, mass, CO2e and mass by method of the query, with the factors they used."""
    rows = fetch(
        Sql(
            "SELECT f.factor_version, f.category_id, SUM(f.handovers), SUM(f.mass_g), SUM(f.co2e_g), "
            "SUM(f.weighed_g), SUM(f.declared_g), SUM(f.estimated_g), SUM(f.outliers), SUM(f.outlier_g) "
            "FROM ("
        )
        + facts(query)
        + Sql(") f GROUP BY 1, 2")
    )
    sums = [sum(int(row[i] or 0) for row in rows) for i in range(2, 10)]
    handovers, mass_g, co2e_g, *by_method, outliers, outlier_g = sums
    totals = {
        "handovers": handovers,
        "mass_kg": _kg(mass_g),
        "tonnes_diverted": _tonnes(mass_g),
        "co2e_avoided_kg": _kg(co2e_g),
    }
    for method, grams in zip(METHODS, by_method, strict=True):
        totals[f"mass_{method}_kg"] = _kg(grams)
        totals[f"share_{method}"] = _share(grams, mass_g)
    pairs = {(row[0], row[1]) for row in rows}
    totals["outliers"] = _outliers(outliers, outlier_g, mass_g)
    totals["factor_versions"] = sorted({version for version, _c in pairs})
    totals["factors"] = _factors_used(query, pairs)
    return totals


def _outliers(handovers: int, outlier_g: int, mass_g: int) -> dict:
    """The rows flagged outlier among the figures: net count, mass, and their share of the tonnage."""
    return {
        "handovers": handovers,
        "mass_kg": _kg(outlier_g),
        "tonnes": _tonnes(outlier_g),
        "share_of_tonnage": _share(outlier_g, mass_g),
    }


def summary_for(query: StatsQuery) -> dict:
    return {
        **_header(query),
        **ledger_totals(query),
        **distinct_parties(query),
        **market_figures(query),
        "loans": loan_totals(query),
        "outcomes": outcome_totals(query),
    }


def stats_summary(*, actor: Actor, params: StatsParams, prefer_rollups: bool = True) -> dict:
    """The headline figures of a period: tonnes diverted, CO2e avoided, handovers (net of reversals),
    distinct donors and recipients (with net handovers above zero), mass and its share by method, the
    outliers among them, the factors used; the market figures of impact.market; the loan indicators of
    impact.lending (loans are in none of the other figures); the social indicators of
    impact.outcome_figures. Cached by data version (impact.versions);
    the loans' item-days follow the clock, so they are recomputed while the period is open."""
    return figures_cached(
        operation="summary",
        sources=ALL_SOURCES,
        resolve=lambda: replace(
            stats_query_resolve(actor=actor, params=params), prefer_rollups=prefer_rollups
        ),
        compute=summary_for,
        refresh=lambda query, figures: {**figures, "loans": loan_totals(query)},
    )
