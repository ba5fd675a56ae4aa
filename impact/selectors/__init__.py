"""Statistics reads. Every selector takes the actor and resolves the request through one scoping rule
(`impact.query.stats_query_resolve` → `stats_scope_for`), then returns plain dicts and lists that the
API, the dashboard page and the monthly reports render as they like.

Ledger figures come from the rollups when the request allows it (Europe/Paris days, scope and filters
the rollups know: territory, category, kinds) and from the ledger rows otherwise (another time zone,
an organisation's own figures, a restatement with another factor version). Both give the same numbers.
Masses and CO2e are exact Decimals (kg with 3 decimals, tonnes with 6).

Only rows that count as diverted make tonnage, CO2e and handover figures (impact.diverted: loans do not);
loans have their own indicators (impact.lending), under `loans`. Rows flagged `outlier` (a confirmed mass
outside the plausible bounds) are counted under `outliers`, and `outlier=true|false` keeps only them or
only the others.

The parts: `summary` (the headline figures), `timeseries` (per bucket and group, with the group labels
of `labels`), `territories` (the choropleth), `ledger` (the anonymised rows), `organisation` (one
organisation's impact), `reports` (monthly reports, freshness); `common` holds the header and units."""

from __future__ import annotations

from ..query import StatsParams, stats_scope_for
from .ledger import LEDGER_FIELDS, stats_ledger
from .organisation import organisation_impact
from .reports import report_get, reports_visible_to, stats_last_modified
from .summary import ledger_totals, stats_summary, summary_for
from .territories import stats_territories, territories_for
from .timeseries import (
    GROUP_BYS,
    INTERVALS,
    MAX_TIMESERIES_POINTS,
    buckets_of,
    stats_timeseries,
    timeseries_for,
)

__all__ = [
    "GROUP_BYS",
    "INTERVALS",
    "LEDGER_FIELDS",
    "MAX_TIMESERIES_POINTS",
    "StatsParams",
    "buckets_of",
    "ledger_totals",
    "organisation_impact",
    "report_get",
    "reports_visible_to",
    "stats_last_modified",
    "stats_ledger",
    "stats_scope_for",
    "stats_summary",
    "stats_territories",
    "stats_timeseries",
    "summary_for",
    "territories_for",
    "timeseries_for",
]
