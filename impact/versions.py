"""The statistics' cache, keyed by data versions: a repeated dashboard read does no aggregate work, and
never serves figures older than the committed data.

Versions. `impact_dataversion` (DataVersion) holds one row per source of the figures (SOURCE_MODELS): the
ledger (with its rollups, factor stamps and outcome reports), the claims (market figures and loan
returns), the market (offers, needs, their categories, matches) and the reference data (catalogue,
factor versions and factors, territories, organisations and sites, the territories of public
authorities). A DEFERRABLE INITIALLY DEFERRED constraint trigger on each source table (migrations
impact/0005 and 0006) gives the source a new
random token when a transaction that inserted, updated or deleted rows there commits — once per
transaction and source (a transaction-local flag) — and TRUNCATE does the same. The bump locks every
version row, in one order, so two writers never deadlock on them; it runs at commit, after the
transaction's own statements, so writers wait for each other only for the instant of a commit. Because a
bump waits for the previous bumper's commit, tokens follow commit order: a snapshot that reads a token
sees exactly the commits that token stands for. Timestamps and ids (`stats_last_modified`) are not such
a key: a transaction that took an earlier id or timestamp can commit later, and a cache keyed by them
would hide its rows for ever; sequences are not commit-ordered either. Tokens are random, not counters,
so a restored or recreated database never reuses a key of another state.

Reads. `figures_cached` reads the versions, resolves the request (scope, territory, category, factor
version) and looks its key up: a hit answers the state that was committed when the versions were read.
A miss opens one REPEATABLE READ, READ ONLY transaction whose first read is the versions again, so the
request is resolved and the figures computed in the snapshot the versions describe, and stores them
under that key. The key hashes the operation, the tokens of the sources it reads,
the resolved query (scope, period, time zone, filters, factor version, rollups or ledger), its other
arguments, the language and whether the period is still open (`FIGURES_FORMAT` changes with the shape of
the cached values). Figures that follow the clock (the item-days of loans still out) are recomputed on
every read of a period that has not ended. Inside a transaction of the caller's (its own writes would
be read without their bump), or while a version row is missing, figures are computed without the cache."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from django.core.cache import cache
from django.db import connection, models, transaction
from django.utils import timezone, translation

from claims.models import Claim, Handover
from exchange.models import Offer
from inventory.models import Category, EmissionFactor, FactorVersion
from matching.models import Match, Need, NeedCategory
from organisations.models import Organisation, Site
from territories.models import Territory

from .models import (
    DailyRollup,
    DataVersion,
    FactorUsage,
    MonthlyRollup,
    OutcomeReport,
    PartyMonthlyRollup,
    PublicAuthorityTerritory,
)
from .query import StatsQuery
from .sql import table

T = TypeVar("T")

# Source → the models whose tables bump it (migrations impact/0005 and 0006 hold a frozen copy of their
# tables).
SOURCE_MODELS: dict[str, tuple[type[models.Model], ...]] = {
    "ledger": (Handover, DailyRollup, MonthlyRollup, PartyMonthlyRollup, FactorUsage, OutcomeReport),
    "claims": (Claim,),
    "market": (Offer, Need, NeedCategory, Match),
    "reference": (
        Category,
        FactorVersion,
        EmissionFactor,
        Territory,
        Organisation,
        Site,
        PublicAuthorityTerritory,
    ),
}
LEDGER_SOURCES = ("ledger", "reference")
LOAN_SOURCES = ("ledger", "claims", "reference")
ALL_SOURCES = ("ledger", "claims", "market", "reference")

FIGURES_FORMAT = 1  # bump when the cached values change shape or meaning
TIMEOUT_S = 24 * 3600  # entries of older versions are never read again: they only need to expire


def versions_read(sources: Sequence[str]) -> dict[str, str] | None:
    """source → token of `sources`, or None while one is missing (a truncated version table)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT source, token FROM {table(DataVersion)} WHERE source = ANY(%s)", [list(sources)]
        )
        tokens = {source: str(token) for source, token in cursor.fetchall()}
    return tokens if len(tokens) == len(set(sources)) else None


def _query_key(query: StatsQuery) -> dict:
    return {
        "scope": [
            query.scope.everything,
            sorted(query.scope.territory_ids),
            sorted(query.scope.organisation_ids),
        ],
        "from": query.date_from.isoformat(),
        "to": query.date_to.isoformat(),
        "tz": query.tz.key,
        "territory": query.territory.pk if query.territory is not None else None,
        "category_ids": list(query.category_ids) if query.category_ids is not None else None,
        "donor_kind": query.donor_kind,
        "recipient_kind": query.recipient_kind,
        "factor_version": query.factor_version.pk if query.factor_version is not None else None,
        "outlier": query.outlier,
        "organisation": query.organisation_id,
        "rollups": query.uses_rollups,
    }


def cache_key(
    operation: str, tokens: dict[str, str], query: StatsQuery, arguments: dict, *, open_: bool
) -> str:
    """The cache key of figures: operation, versions, resolved query, other arguments, language, and
    whether the period was still open when they were computed."""
    parts = {
        "format": FIGURES_FORMAT,
        "operation": operation,
        "versions": tokens,
        "query": _query_key(query),
        "arguments": arguments,
        "language": translation.get_language(),
        "open": open_,
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
    return f"stats:{operation}:{digest}"


def period_open(query: StatsQuery, now: datetime | None = None) -> bool:
    """The period has not ended: figures that follow the clock may still move."""
    return query.end > (now or timezone.now())


def figures_cached(
    *,
    operation: str,
    sources: Sequence[str],
    resolve: Callable[[], StatsQuery],
    compute: Callable[[StatsQuery], T],
    arguments: dict | None = None,
    refresh: Callable[[StatsQuery, T], T] | None = None,
) -> T:
    """`compute(resolve())`, from the cache when the data of `sources` has not changed since (module
    docstring). `refresh(query, figures)` recomputes the parts that follow the clock while the period is
    open; `arguments` are the other inputs of `compute` (JSON-able)."""
    if connection.in_atomic_block:
        return compute(resolve())
    tokens = versions_read(sources)  # a hit answers the state committed when they were read
    if tokens is not None:
        query = resolve()
        open_ = period_open(query)
        figures = cache.get(cache_key(operation, tokens, query, arguments or {}, open_=open_))
        if figures is not None:
            return refresh(query, figures) if open_ and refresh is not None else figures
    with transaction.atomic():  # a miss: versions, request and figures in one snapshot
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        tokens = versions_read(sources)
        query = resolve()
        open_ = period_open(query)
        figures = compute(query)
        if tokens is not None:
            key = cache_key(operation, tokens, query, arguments or {}, open_=open_)
            cache.set(key, figures, TIMEOUT_S)
        return figures


__all__ = [
    "ALL_SOURCES",
    "LEDGER_SOURCES",
    "LOAN_SOURCES",
    "SOURCE_MODELS",
    "cache_key",
    "figures_cached",
    "period_open",
    "versions_read",
]
