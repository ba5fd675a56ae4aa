"""Reads of needs and matches, scoped to the actor, and the two matching queries: offers for a need
(ranked, on request) and needs covering an offer (when it is published)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import groupby
from operator import itemgetter
from typing import NamedTuple

from django.contrib.gis.db.models import PointField
from django.contrib.gis.db.models.functions import GeometryDistance
from django.db import connection, transaction
from django.db.models import BooleanField, F, FloatField, Func, Q, QuerySet, Value
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import NotFound
from exchange.models import Offer, OfferStatus
from inventory.models import Category
from inventory.selectors import category_subtree_q
from organisations.actors import Actor
from organisations.geo import point_ewkt

from .models import (
    Match,
    MatchAlertMode,
    MatchAlertPreference,
    Need,
    NeedCategory,
)
from .scoring import MatchScore, category_generations, score_offer

# A need's offers are scored among its nearest live candidates: enough for any sensible `limit`, and
# it keeps a 100 km need in the middle of the metropole from scoring thousands of lots per request.
NEED_MATCH_CANDIDATES = 500


def needs_visible_to(*, actor: Actor) -> QuerySet[Need]:
    qs = Need.objects.select_related("site").prefetch_related("categories")
    if actor.is_operator:
        return qs
    return qs.filter(organisation_id__in=actor.organisation_ids)


def needs_list(
    *, actor: Actor, status: str | None = None, updated_since: datetime | None = None
) -> QuerySet[Need]:
    """The actor's needs, filtered; `updated_since` is strict, as for offers."""
    qs = needs_visible_to(actor=actor)
    if status is not None:
        qs = qs.filter(status=status)
    if updated_since is not None:
        qs = qs.filter(updated_at__gt=updated_since)
    return qs


def need_get(*, actor: Actor, need_id: int) -> Need:
    """Fetch and authorise in one call: another organisation's need reads as absent."""
    need = needs_visible_to(actor=actor).filter(pk=need_id).first()
    if need is None:
        raise NotFound(_("No such need."))
    return need


def matches_visible_to(*, actor: Actor, need_id: int | None = None) -> QuerySet[Match]:
    qs = Match.objects.select_related("need", "offer__category", "offer__organisation")
    if not actor.is_operator:
        qs = qs.filter(organisation_id__in=actor.organisation_ids)
    if need_id is not None:
        qs = qs.filter(need_id=need_id)
    return qs


def match_alert_mode(*, organisation_id: int) -> str:
    mode = (
        MatchAlertPreference.objects.filter(organisation_id=organisation_id)
        .values_list("mode", flat=True)
        .first()
    )
    return mode or MatchAlertMode.IMMEDIATE


def match_alert_modes(*, organisation_ids: list[int]) -> dict[int, str]:
    """organisation id → alert mode, the default (immediate) for those that never chose."""
    chosen = dict(
        MatchAlertPreference.objects.filter(organisation_id__in=organisation_ids).values_list(
            "organisation_id", "mode"
        )
    )
    return {org_id: chosen.get(org_id, MatchAlertMode.IMMEDIATE) for org_id in organisation_ids}


def _sphere_dwithin(location, point, radius_m: float) -> Func:
    """ST_DWithin on the sphere, as the matching of published offers computes it (indexable)."""
    return Func(
        location,
        point,
        Value(float(radius_m)),
        Value(False),
        function="ST_DWithin",
        output_field=BooleanField(),
    )


@dataclass(frozen=True)
class RankedOffer:
    offer: Offer
    distance_m: float
    score: MatchScore


def live_offers_for_need(
    *, actor: Actor, need: Need, limit: int, now: datetime | None = None
) -> list[RankedOffer]:
    """Published offers with something left, whose approximate public point lies within the need's
    radius, in the need's categories or below them; best score first (nearest, then id, on ties)."""
    actor.require_member(need.organisation_id)
    now = now or timezone.now()
    paths = [category.path for category in need.categories.all()]
    point = Value(need.location, output_field=PointField(geography=True, srid=4326))
    candidates = (
        Offer.objects.filter(
            _sphere_dwithin(F("public_location"), point, need.radius_m),
            status=OfferStatus.PUBLISHED,
            remaining_quantity__gt=0,
            category__in=Category.objects.filter(category_subtree_q(paths)),
        )
        .filter(Q(available_until__isnull=True) | Q(available_until__gt=now))
        .exclude(organisation_id=need.organisation_id)
        .select_related("category", "organisation")
        .annotate(
            distance_m=Func(
                F("public_location"), point, Value(False), function="ST_Distance", output_field=FloatField()
            )
        )
        .order_by(GeometryDistance("public_location", need.location), "id")[:NEED_MATCH_CANDIDATES]
    )
    ranked = [
        RankedOffer(
            offer=offer,
            distance_m=offer.distance_m,
            score=score_offer(
                distance_m=offer.distance_m,
                radius_m=need.radius_m,
                generations=category_generations(offer_path=offer.category.path, need_paths=paths),
                quantity_wanted=need.quantity_wanted,
                wanted_unit=need.unit,
                remaining_quantity=offer.remaining_quantity,
                offer_unit=offer.unit,
                available_until=offer.available_until,
                published_at=offer.published_at,
                now=now,
            ),
        )
        for offer in candidates
    ]
    ranked.sort(key=lambda item: (-item.score.total, item.distance_m, item.offer.pk))
    return ranked[:limit]


class CoveringNeed(NamedTuple):
    """A need covering an offer. A tuple, not a frozen dataclass: thousands are built per offer in the
    densest areas, three times faster."""

    need_id: int
    organisation_id: int
    radius_m: int
    quantity_wanted: Decimal | None
    unit: str
    distance_m: float
    category_ids: list[int]


# Per category of the offer's lineage (the offer's and its ancestors', ids from its path), one index-only
# GiST scan on need_category (category, area): the open needs whose area — a box that contains the
# need's disc, computed by the database (migration 0004) — holds the offer's point; then the exact test
# against each need's radius. Every column read is in the index (copied from the need by a trigger): no
# other table is visited. Distances are great-circle on the sphere (within 0.5 % of the spheroid,
# several times cheaper). One row per need and category, ordered: needs_covering_offer groups them,
# cheaper than GROUP BY with an ordered array_agg, which sorts each need's categories apart.
_NO_JIT_NOR_PARALLEL = "SET LOCAL jit = off; SET LOCAL max_parallel_workers_per_gather = 0;"
_COVERING_NEEDS_SQL = f"""
SELECT a.need_id, a.organisation_id, a.radius_m, a.quantity_wanted, a.unit,
       ST_Distance(a.location, %(point)s::geography, false) AS distance_m, a.category_id
FROM unnest(%(category_ids)s::bigint[]) AS lineage(category_id)
CROSS JOIN LATERAL (
    SELECT * FROM {NeedCategory._meta.db_table} a
    WHERE a.is_open
      AND a.category_id = lineage.category_id
      AND a.area && box(point(%(point)s::geography::geometry))
      AND ST_DWithin(a.location, %(point)s::geography, a.radius_m, false)
      AND (a.deadline IS NULL OR a.deadline > %(now)s)
      AND a.organisation_id <> %(organisation_id)s
) a
ORDER BY a.need_id, a.category_id
"""


def category_lineage(*, category: Category) -> dict[int, str]:
    """The category and its ancestors, id → path, from its materialised path (one indexed query)."""
    keys = category.path.split("/")
    prefixes = ["/".join(keys[: i + 1]) for i in range(len(keys))]
    return dict(Category.objects.filter(path__in=prefixes).values_list("id", "path"))


def needs_covering_offer(
    *, offer: Offer, lineage: dict[int, str], now: datetime | None = None
) -> list[CoveringNeed]:
    """Open needs of other organisations whose area covers the offer's public point and that asked
    for its category or an ancestor of it, by need id. Served by the GiST index on the needs' areas:
    see benchmarks/bench_matching.py."""
    point = offer.public_location
    params: dict[str, str | int | datetime | list[int]] = {
        "point": point_ewkt(point.x, point.y),
        "now": now or timezone.now(),
        "organisation_id": offer.organisation_id,
        "category_ids": list(lineage),
    }
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        # PostGIS functions carry high costs: the planner would JIT-compile or parallelise this
        # millisecond query, spending more time on that than on the query. LOCAL: this transaction
        # only; sent with the query in one round trip (client-side binding), then skip to its rows.
        cursor.execute(_NO_JIT_NOR_PARALLEL + _COVERING_NEEDS_SQL, params)
        while cursor.description is None and cursor.nextset():
            pass
        rows = cursor.fetchall()
    # A need's rows (one per category of the lineage it asked for) carry the same copy of the need.
    covering = []
    for _need_id, group in groupby(rows, key=itemgetter(0)):
        need_rows = list(group)
        need_id, organisation_id, radius_m, quantity_wanted, unit, distance_m, _category = need_rows[0]
        category_ids = [row[6] for row in need_rows]
        covering.append(
            CoveringNeed(need_id, organisation_id, radius_m, quantity_wanted, unit, distance_m, category_ids)
        )
    return covering
