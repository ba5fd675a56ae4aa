"""Figures about the market rather than the ledger: offers published, offers that expired untaken (mass
wasted), how fast published mass is claimed, and needs left without a match. Read from exchange, claims
and matching with the same scope and filters as the ledger figures (offers and needs carry no recipient
kind, so `recipient_kind` filters needs only and `donor_kind` offers only)."""

from __future__ import annotations

from decimal import Decimal

from claims.models import Claim, ClaimStatus
from exchange.models import Offer, OfferStatus
from exchange.rules import mass_per_unit_sql
from inventory.models import Category
from matching.models import Match, Need, NeedCategory, NeedStatus
from organisations.models import Organisation, Site
from territories.models import Territory

from .query import StatsQuery
from .sql import Sql, fetch, table

CLAIM_WINDOW_DAYS = 7
TAKEN_STATUSES = [ClaimStatus.ACCEPTED.value, ClaimStatus.COLLECTED.value]

# Mass of one unit (exchange.rules, the one home of an offer's mass); NULL when unknown.
_MASS_PER_UNIT = mass_per_unit_sql("o", "c")


def _offer_where(query: StatsQuery) -> Sql:
    conditions, params = [], []
    if not query.scope.everything:
        text, scope_params = query.scope.sql(territory="s.territory_id", parties=("o.organisation_id",))
        conditions.append(text)
        params += scope_params
    if query.territory is not None:
        conditions.append("s.territory_id = %s")
        params.append(query.territory.pk)
    if query.category_ids is not None:
        conditions.append("o.category_id = ANY(%s)")
        params.append(list(query.category_ids))
    if query.donor_kind is not None:
        conditions.append("org.kind = %s")
        params.append(query.donor_kind)
    return Sql("".join(f" AND {c}" for c in conditions), params)


_OFFER_FROM = (
    f" FROM {table(Offer)} o JOIN {table(Category)} c ON c.id = o.category_id "
    f"JOIN {table(Site)} s ON s.id = o.site_id "
    f"JOIN {table(Organisation)} org ON org.id = o.organisation_id"
)


def _published(query: StatsQuery) -> dict:
    sql = (
        Sql(
            f"""WITH p AS (
              SELECT o.published_at, o.quantity, {_MASS_PER_UNIT} AS per_unit,
                (SELECT SUM(cl.quantity) FROM {table(Claim)} cl WHERE cl.offer_id = o.id
                   AND cl.status = ANY(%s)
                   AND cl.created_at < o.published_at + interval '{CLAIM_WINDOW_DAYS} days')
                   AS claimed_early,
                (SELECT MIN(cl.created_at) FROM {table(Claim)} cl WHERE cl.offer_id = o.id) AS first_claim
              {_OFFER_FROM}
              WHERE o.published_at >= %s AND o.published_at < %s""",
            [TAKEN_STATUSES, query.start, query.end],
        )
        + _offer_where(query)
        + Sql(
            """)
            SELECT count(*),
              SUM(round(quantity * per_unit, 3)),
              SUM(round(LEAST(COALESCE(claimed_early, 0), quantity) * per_unit, 3)),
              percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_claim - published_at))
            FROM p"""
        )
    )
    count, mass, claimed, median_s = fetch(sql)[0]
    share = (claimed / mass).quantize(Decimal("0.0001")) if mass else None
    return {
        "offers_published": count,
        "published_mass_kg": mass or Decimal("0.000"),
        "published_mass_claimed_7d_share": share,
        "median_hours_to_first_claim": round(Decimal(median_s) / 3600, 2) if median_s is not None else None,
    }


def _expired_untaken(query: StatsQuery) -> dict:
    sql = Sql(
        f"""SELECT count(*), SUM(round(o.quantity * {_MASS_PER_UNIT}, 3)),
              count(*) FILTER (WHERE {_MASS_PER_UNIT} IS NULL)
            {_OFFER_FROM}
            WHERE o.status = %s AND o.available_until >= %s AND o.available_until < %s
              AND NOT EXISTS (SELECT 1 FROM {table(Claim)} cl
                              WHERE cl.offer_id = o.id AND cl.status = ANY(%s))""",
        [OfferStatus.EXPIRED.value, query.start, query.end, TAKEN_STATUSES],
    ) + _offer_where(query)
    count, mass, unknown = fetch(sql)[0]
    return {
        "offers_expired_untaken": count,
        "mass_wasted_kg": mass or Decimal("0.000"),
        "offers_expired_mass_unknown": unknown,
    }


def _open_needs_without_match(query: StatsQuery) -> int:
    conditions, params = [], [NeedStatus.OPEN.value, query.end]
    covers = (
        f"EXISTS (SELECT 1 FROM {table(Territory)} t WHERE t.id = ANY(%s) "
        "AND ST_Covers(t.geometry, n.location::geometry))"
    )
    if not query.scope.everything:
        text, scope_params = query.scope.sql(
            territory="", territory_condition=covers, parties=("n.organisation_id",)
        )
        conditions.append(text)
        params += scope_params
    if query.territory is not None:
        conditions.append(covers)
        params.append([query.territory.pk])
    if query.category_ids is not None:
        conditions.append(
            f"EXISTS (SELECT 1 FROM {table(NeedCategory)} nc "
            "WHERE nc.need_id = n.id AND nc.category_id = ANY(%s))"
        )
        params.append(list(query.category_ids))
    if query.recipient_kind is not None:
        conditions.append("org.kind = %s")
        params.append(query.recipient_kind)
    sql = Sql(
        f"SELECT count(*) FROM {table(Need)} n "
        f"JOIN {table(Organisation)} org ON org.id = n.organisation_id "
        "WHERE n.status = %s AND n.created_at < %s "
        f"AND NOT EXISTS (SELECT 1 FROM {table(Match)} m WHERE m.need_id = n.id)"
        + "".join(f" AND {c}" for c in conditions),
        params,
    )
    return fetch(sql)[0][0]


def market_figures(query: StatsQuery) -> dict:
    """Offers published in the period (how much of their mass was claimed within 7 days of publication,
    median hours to the first claim), offers whose availability ended in the period with nothing
    accepted or collected (their whole mass counts as wasted), and needs created before the end of the
    period that are still open and never got a match (demand left unmet)."""
    return {
        **_published(query),
        **_expired_untaken(query),
        "open_needs_without_match": _open_needs_without_match(query),
    }
