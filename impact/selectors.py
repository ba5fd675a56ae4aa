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
only the others."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.contrib.gis.db.models import MultiPolygonField
from django.contrib.gis.db.models.functions import AsGeoJSON
from django.db.models import Func, Max, Q, QuerySet
from django.utils.translation import gettext as _

from claims.models import Claim, Handover
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.i18n import localized
from exchange.models import Offer
from inventory.models import Category
from matching.models import Match, Need
from organisations.actors import Actor
from organisations.models import Organisation, OrganisationKind
from territories.models import Territory

from .factors import restatement_rules
from .lending import Window, add_loans, empty_loans, loan_figures, loan_totals
from .market import market_figures
from .models import FactorUsage, MonthlyReport
from .query import StatsParams, StatsQuery, StatsScope, stats_query_resolve, stats_scope_for
from .sql import Sql, distinct_parties, facts, fetch

INTERVALS = ("day", "week", "month", "year")
GROUP_BYS = ("category", "territory", "donor_kind", "recipient_kind")
MAX_TIMESERIES_POINTS = 40_000
METHODS = ("weighed", "declared", "estimated")
SHARE = Decimal("0.0001")


def _kg(grams: int | Decimal | None) -> Decimal:
    return Decimal(int(grams or 0)).scaleb(-3)


def _tonnes(grams: int | Decimal | None) -> Decimal:
    return Decimal(int(grams or 0)).scaleb(-6)


def _label(fr: str, en: str) -> str:
    """Data labels that must read the same whatever the translation catalogue holds."""
    return localized(fr, en)


def _share(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(SHARE) if whole else None


def _territory_ref(territory: Territory | None) -> dict | None:
    if territory is None:
        return None
    return {"id": territory.pk, "kind": territory.kind, "code": territory.code, "name": territory.name}


def _category_ref(category: Category | None) -> dict | None:
    if category is None:
        return None
    return {"id": category.pk, "key": category.key, "path": category.path, "name": category.name}


def _header(query: StatsQuery) -> dict:
    return {
        "from": query.date_from,
        "to": query.date_to,
        "tz": query.tz.key,
        "territory": _territory_ref(query.territory),
        "category": _category_ref(query.category),
        "factor_version": query.factor_version.code if query.factor_version else None,
        "computed_from": "rollups" if query.uses_rollups else "ledger",
    }


# ---------------------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------------------


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
    }


def stats_summary(*, actor: Actor, params: StatsParams, prefer_rollups: bool = True) -> dict:
    """The headline figures of a period: tonnes diverted, CO2e avoided, handovers (net of reversals),
    distinct donors and recipients (with net handovers above zero), mass and its share by method, the
    outliers among them, the factors used; the market figures of impact.market; the loan indicators of
    impact.lending (loans are in none of the other figures)."""
    query = replace(stats_query_resolve(actor=actor, params=params), prefer_rollups=prefer_rollups)
    return summary_for(query)


# ---------------------------------------------------------------------------------------------------
# Time series
# ---------------------------------------------------------------------------------------------------


def _bucket_start(day: date, interval: str) -> date:
    if interval == "week":
        return day - timedelta(days=day.weekday())  # weeks start on Monday
    if interval == "month":
        return day.replace(day=1)
    if interval == "year":
        return day.replace(month=1, day=1)
    return day


def _next_bucket(start: date, interval: str) -> date:
    if interval == "day":
        return start + timedelta(days=1)
    if interval == "week":
        return start + timedelta(days=7)
    if interval == "month":
        return (start + timedelta(days=32)).replace(day=1)
    return start.replace(year=start.year + 1)


def buckets_of(date_from: date, date_to: date, interval: str) -> list[date]:
    """Calendar-aligned bucket starts covering the period (the first may start before `date_from`)."""
    out, current = [], _bucket_start(date_from, interval)
    while current <= date_to:
        out.append(current)
        current = _next_bucket(current, interval)
    return out


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


# The only SQL a grouping may put into the timeseries query: one column of impact.sql.facts per name.
_GROUP_COLUMNS = {
    None: "NULL",
    "category": "f.category_id",
    "territory": "f.territory_id",
    "donor_kind": "f.donor_kind",
    "recipient_kind": "f.recipient_kind",
}


def stats_timeseries(
    *,
    actor: Actor,
    params: StatsParams,
    interval: str,
    group_by: str | None = None,
    prefer_rollups: bool = True,
) -> dict:
    """Tonnes, CO2e and handovers per calendar bucket (day, week from Monday, month, year) in the
    caller's time zone, per group, with the outliers among them and the loan indicators of the bucket;
    every bucket of the period and every group present, zero-filled."""
    if interval not in INTERVALS:
        raise InvalidInput(_("Unknown interval."), field_errors={"interval": [_("Unknown interval.")]})
    if group_by is not None and group_by not in GROUP_BYS:
        raise InvalidInput(_("Unknown grouping."), field_errors={"group_by": [_("Unknown grouping.")]})
    query = replace(stats_query_resolve(actor=actor, params=params), prefer_rollups=prefer_rollups)
    return timeseries_for(query, interval=interval, group_by=group_by)


def _windows(query: StatsQuery, buckets: list[date], interval: str) -> list[Window]:
    """Each bucket as [start, end) instants in the query's zone, clipped to the period."""
    out = []
    for bucket in buckets:
        start = datetime.combine(bucket, datetime.min.time(), tzinfo=query.tz)
        end = datetime.combine(_next_bucket(bucket, interval), datetime.min.time(), tzinfo=query.tz)
        out.append((bucket, max(start, query.start), min(end, query.end)))
    return out


def timeseries_for(query: StatsQuery, *, interval: str, group_by: str | None) -> dict:
    if group_by not in _GROUP_COLUMNS:
        raise InvalidInput(_("Unknown grouping."), field_errors={"group_by": [_("Unknown grouping.")]})
    column = _GROUP_COLUMNS[group_by]
    source = facts(query, months=interval in ("month", "year"))
    rows = fetch(
        Sql(
            f"SELECT date_trunc(%s, f.t)::date, {column}, "
            "SUM(f.handovers), SUM(f.mass_g), SUM(f.co2e_g), SUM(f.outliers), SUM(f.outlier_g) FROM (",
            [interval],
        )
        + source
        + Sql(") f GROUP BY 1, 2")
    )
    buckets = buckets_of(query.date_from, query.date_to, interval)
    loans = (
        loan_figures(query, _windows(query, buckets, interval), group_column=column.replace("f.", "h."))
        if len(buckets) <= MAX_TIMESERIES_POINTS
        else {}
    )
    labels = _group_labels(query, group_by, {row[1] for row in rows} | {raw for _b, raw in loans})
    groups = sorted(set(labels.values()))
    if len(buckets) * max(len(groups), 1) > MAX_TIMESERIES_POINTS:
        message = _("Too many points: choose a coarser interval or a shorter period.")
        raise InvalidInput(message, code="too_many_points", field_errors={"interval": [message]})
    sums: dict[tuple[date, str], list[int]] = {}
    for bucket, raw, *values in rows:
        cell = sums.setdefault((bucket, labels[raw][0]), [0] * 5)
        for i, value in enumerate(values):
            cell[i] += int(value)
    lent: dict[tuple[date, str], dict] = {}
    for (bucket, raw), figures in loans.items():
        add_loans(lent.setdefault((bucket, labels[raw][0]), empty_loans()), figures)
    points = []
    for bucket in buckets:
        for key, label in groups:
            handovers, mass_g, co2e_g, outliers, outlier_g = sums.get((bucket, key), (0,) * 5)
            points.append(
                {
                    "bucket": bucket,
                    "group": key,
                    "label": label,
                    "handovers": handovers,
                    "tonnes": _tonnes(mass_g),
                    "co2e_kg": _kg(co2e_g),
                    "outliers": {"handovers": outliers, "tonnes": _tonnes(outlier_g)},
                    "loans": lent.get((bucket, key)) or empty_loans(),
                }
            )
    return {
        **_header(query),
        "interval": interval,
        "group_by": group_by,
        "buckets": buckets,
        "groups": [{"key": key, "label": label} for key, label in groups],
        "points": points,
    }


# ---------------------------------------------------------------------------------------------------
# Territories (choropleth)
# ---------------------------------------------------------------------------------------------------


class _ForcePolygonCCW(Func):
    function = "ST_ForcePolygonCCW"  # RFC 7946 §3.1.6: exterior rings counterclockwise
    output_field = MultiPolygonField(srid=4326)


def territories_for(query: StatsQuery, *, with_geometry: bool = True) -> list[dict]:
    rows = fetch(
        Sql("SELECT f.territory_id, SUM(f.handovers), SUM(f.mass_g), SUM(f.co2e_g) FROM (")
        + facts(query)
        + Sql(") f WHERE f.territory_id IS NOT NULL GROUP BY 1")
    )
    sums = {territory_id: (int(h), int(m), int(c)) for territory_id, h, m, c in rows}
    scope = query.scope
    territories = Territory.objects.defer("geometry", "properties").order_by("code", "id")
    if query.territory is not None:
        territories = territories.filter(pk=query.territory.pk)
    elif not scope.everything:
        territories = territories.filter(pk__in=set(scope.territory_ids) | set(sums))
    if with_geometry:
        territories = territories.annotate(geojson=AsGeoJSON(_ForcePolygonCCW("geometry"), precision=6))
    out = []
    for territory in territories:
        handovers, mass_g, co2e_g = sums.get(territory.pk, (0, 0, 0))
        item = {
            **_territory_ref(territory),
            "population": territory.population,
            "handovers": handovers,
            "mass_kg": _kg(mass_g),
            "tonnes": _tonnes(mass_g),
            "co2e_avoided_kg": _kg(co2e_g),
            "kg_per_inhabitant": (_kg(mass_g) / territory.population).quantize(Decimal("0.001"))
            if territory.population
            else None,
        }
        if with_geometry:
            item["geometry"] = json.loads(territory.geojson)
        out.append(item)
    return out


def stats_territories(*, actor: Actor, params: StatsParams, with_geometry: bool = True) -> dict:
    """The territories in the caller's scope (an organisation: those where it took part in handovers)
    with their figures for the period: ready for a choropleth."""
    query = stats_query_resolve(actor=actor, params=params)
    return {**_header(query), "territories": territories_for(query, with_geometry=with_geometry)}


# ---------------------------------------------------------------------------------------------------
# Anonymised ledger
# ---------------------------------------------------------------------------------------------------

LEDGER_FIELDS = (
    "id",
    "collected_at",
    "category__key",
    "territory__code",
    "donor_kind",
    "recipient_kind",
    "quantity",
    "unit",
    "mass_kg",
    "mass_method",
    "factor_version",
    "factor_basis",
    "factor_kgco2e",
    "factor_status",
    "co2e_avoided_kg",
    "reverses_id",
    "corrects_id",
    "mode",
    "outlier",
    "mass_confirmed",
    "expected_mass_kg",
    "factor_items",
)


def _ledger_q(query: StatsQuery) -> Q:
    """The scope and filters of impact.sql._where, for the ORM."""
    condition = Q(collected_at__gte=query.start, collected_at__lt=query.end)
    condition &= query.scope.q(territory="territory_id", parties=("donor_id", "recipient_id"))
    if query.territory is not None:
        condition &= Q(territory_id=query.territory.pk)
    if query.category_ids is not None:
        condition &= Q(category_id__in=query.category_ids)
    if query.donor_kind is not None:
        condition &= Q(donor_kind=query.donor_kind)
    if query.recipient_kind is not None:
        condition &= Q(recipient_kind=query.recipient_kind)
    if query.outlier is not None:
        condition &= Q(outlier=query.outlier)
    return condition


def stats_ledger(*, actor: Actor, params: StatsParams) -> QuerySet:
    """Ledger rows in scope without people or organisations: each row names the kinds of the parties,
    never who they are, nor who recorded it, nor its note. For the operator and public authorities.
    Every row is listed, loans included (`mode` says which rows count as diverted)."""
    scope = stats_scope_for(actor=actor)
    if not scope.is_authority:
        raise PermissionDenied(
            _("The anonymised ledger is for public authorities and the operator."), code="authority_only"
        )
    query = stats_query_resolve(actor=actor, params=params, scope=scope)
    return Handover.objects.filter(_ledger_q(query)).values(*LEDGER_FIELDS)


# ---------------------------------------------------------------------------------------------------
# One organisation's impact
# ---------------------------------------------------------------------------------------------------


def organisation_impact(*, actor: Actor, organisation_id: int, params: StatsParams) -> dict:
    """What an organisation gave and received in the period (kg, CO2e, handovers net of reversals).
    Its members and the operator only; anyone else reads it as absent."""
    actor.require_member(organisation_id)
    organisation = Organisation.objects.filter(pk=organisation_id).first()
    if organisation is None:
        raise NotFound(_("No such organisation."))
    query = stats_query_resolve(actor=actor, params=params, scope=StatsScope(everything=True))
    query = replace(query, organisation_id=organisation_id)
    rows = fetch(
        Sql(
            "SELECT f.donor_id = %s, SUM(f.handovers), SUM(f.mass_g), SUM(f.co2e_g) FROM (", [organisation_id]
        )
        + facts(query, with_parties=True)
        + Sql(") f GROUP BY 1")
    )
    sides = {given: (int(h), int(m), int(c)) for given, h, m, c in rows}

    def side(values: tuple[int, int, int]) -> dict:
        return {"handovers": values[0], "mass_kg": _kg(values[1]), "co2e_avoided_kg": _kg(values[2])}

    given, received = sides.get(True, (0, 0, 0)), sides.get(False, (0, 0, 0))
    header = _header(query)
    header.pop("computed_from")
    return {
        **header,
        "organisation": {"id": organisation.pk, "name": organisation.name, "kind": organisation.kind},
        "given": side(given),
        "received": side(received),
        "total": side(tuple(a + b for a, b in zip(given, received, strict=True))),
    }


# ---------------------------------------------------------------------------------------------------
# Monthly reports, freshness
# ---------------------------------------------------------------------------------------------------


def reports_visible_to(*, actor: Actor) -> QuerySet[MonthlyReport]:
    """Reports of the territories in scope; the all-territories report to those who see them all."""
    scope = stats_scope_for(actor=actor)
    reports = MonthlyReport.objects.select_related("territory")
    if scope.everything:
        return reports
    if not scope.territory_ids:
        return reports.none()
    visible = Q(territory_id__in=scope.territory_ids)
    if not Territory.objects.exclude(pk__in=scope.territory_ids).exists():
        visible |= Q(territory__isnull=True)
    return reports.filter(visible)


def report_get(*, actor: Actor, report_id: int) -> MonthlyReport:
    report = reports_visible_to(actor=actor).filter(pk=report_id).first()
    if report is None:
        raise NotFound(_("No such report."))
    return report


def stats_last_modified(*, market: bool = False, loans: bool = False) -> datetime | None:
    """When the data behind the figures last changed: the latest ledger row; with `loans` the latest
    change to a claim (a loan's return), with `market` also to offers, needs and matches."""
    latest = Handover.objects.order_by("-id").values_list("recorded_at", flat=True).first()
    moments = [latest]
    if loans and not market:
        moments.append(Claim.objects.aggregate(m=Max("updated_at"))["m"])
    if market:
        moments += [
            Offer.objects.aggregate(m=Max("updated_at"))["m"],
            Claim.objects.aggregate(m=Max("updated_at"))["m"],
            Need.objects.aggregate(m=Max("updated_at"))["m"],
            Match.objects.order_by("-id").values_list("created_at", flat=True).first(),
        ]
    moments = [m for m in moments if m is not None]
    return max(moments) if moments else None


__all__ = [
    "GROUP_BYS",
    "INTERVALS",
    "StatsParams",
    "buckets_of",
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
