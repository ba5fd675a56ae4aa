"""Who may see which statistics, and the checked, resolved form of a statistics request.

Every stats selector starts with `stats_query_resolve(actor=..., params=...)`: it works out the actor's
scope (`stats_scope_for`), validates the period and time zone, and resolves the territory, category and
factor version filters. A territory outside the scope reads as absent (NotFound → 404)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from django.db.models import Q
from django.utils.translation import gettext as _

from core.errors import InvalidInput, NotFound
from inventory.models import Category, FactorVersion
from inventory.selectors import category_subtree_q
from organisations.actors import Actor
from organisations.models import Organisation, OrganisationKind
from territories.models import Territory, TerritoryKind

from .models import PublicAuthorityTerritory
from .rollups import ROLLUP_TIME_ZONE

MAX_PERIOD_DAYS = 5 * 365 + 2  # five years, leap days included
DEFAULT_TIME_ZONE = ROLLUP_TIME_ZONE


@dataclass(frozen=True)
class StatsScope:
    """What an actor may aggregate: everything (operator), the handovers in some territories (public
    authorities: those the operator linked them to), and those its own organisations took part in."""

    everything: bool = False
    territory_ids: frozenset[int] = frozenset()
    organisation_ids: frozenset[int] = frozenset()

    @property
    def is_authority(self) -> bool:
        return self.everything or bool(self.territory_ids)

    @property
    def rollups_allowed(self) -> bool:
        """Rollups know territories and kinds, not organisations."""
        return self.everything or not self.organisation_ids

    def sees_territory(self, territory_id: int) -> bool:
        return self.everything or territory_id in self.territory_ids or bool(self.organisation_ids)

    # The one home of what a scope lets through, written once and read as SQL (impact.sql, impact.market)
    # and as an ORM condition (the ledger export): every row when `everything`; else a row whose
    # territory is one of `territory_ids`, or in which one of `organisation_ids` took part (as any of the
    # `parties` columns: donor and recipient on the ledger, the donor on offers); else none.

    def _alternatives(self, parties: Sequence[str]) -> list[tuple[str, list[int]]]:
        if self.organisation_ids and not parties:
            raise ValueError("this source cannot be scoped to organisations")
        alternatives = [("territory", sorted(self.territory_ids))] if self.territory_ids else []
        if self.organisation_ids:
            alternatives += [(party, sorted(self.organisation_ids)) for party in parties]
        return alternatives

    def q(
        self, *, territory: str = "territory_id", parties: Sequence[str] = ("donor_id", "recipient_id")
    ) -> Q:
        """The scope as a condition on a model with those fields."""
        if self.everything:
            return Q()
        condition = Q(pk__in=[])
        for column, ids in self._alternatives(parties):
            condition |= Q(**{f"{territory if column == 'territory' else column}__in": ids})
        return condition

    def sql(
        self, *, territory: str, parties: Sequence[str] = (), territory_condition: str | None = None
    ) -> tuple[str, list]:
        """The scope as an SQL condition (text, params) on the given column expressions ("TRUE" when the
        scope sees everything). `territory_condition`, with one %s for the territory ids, replaces
        "`territory` = ANY(%s)" where the row has no territory column (a need: its point's territory)."""
        if self.everything:
            return "TRUE", []
        alternatives = self._alternatives(parties)
        if not alternatives:
            return "FALSE", []
        in_territories = territory_condition or f"{territory} = ANY(%s)"
        texts = [
            in_territories if column == "territory" else f"{column} = ANY(%s)"
            for column, _ids in alternatives
        ]
        return f"({' OR '.join(texts)})", [ids for _column, ids in alternatives]


def stats_scope_for(*, actor: Actor) -> StatsScope:
    """The one scoping rule of every statistic: operator → everything; a verified public authority →
    its linked territories; any other organisation (or an unverified authority) → its own handovers,
    as donor or recipient. A person in several organisations gets the union."""
    if actor.is_operator:
        return StatsScope(everything=True)
    organisation_ids = actor.organisation_ids
    if not organisation_ids:
        return StatsScope()
    authorities = set(
        Organisation.objects.filter(
            id__in=organisation_ids, kind=OrganisationKind.PUBLIC_AUTHORITY, verified_at__isnull=False
        ).values_list("id", flat=True)
    )
    territory_ids = (
        frozenset(
            PublicAuthorityTerritory.objects.filter(organisation_id__in=authorities).values_list(
                "territory_id", flat=True
            )
        )
        if authorities
        else frozenset()
    )
    return StatsScope(territory_ids=territory_ids, organisation_ids=frozenset(organisation_ids - authorities))


@dataclass(frozen=True)
class StatsParams:
    """A statistics request as a caller states it: dates are inclusive, in `tz`."""

    date_from: date
    date_to: date
    tz: str = DEFAULT_TIME_ZONE
    territory: str | None = None  # a territory code (59512) or id
    category: str | None = None  # a category key or id; includes its descendants
    donor_kind: str | None = None
    recipient_kind: str | None = None
    factor_version: str | None = None  # restate CO2e with this version instead of the stamped figures
    outlier: bool | None = None  # only the rows flagged outlier (True), or only the others (False)


@dataclass(frozen=True)
class StatsQuery:
    scope: StatsScope
    date_from: date
    date_to: date
    tz: ZoneInfo
    territory: Territory | None = None
    category: Category | None = None
    category_ids: tuple[int, ...] | None = None
    donor_kind: str | None = None
    recipient_kind: str | None = None
    factor_version: FactorVersion | None = None
    outlier: bool | None = None  # the outlier flag of the rows (None: every row); read from the ledger
    organisation_id: int | None = None  # only the handovers of this organisation (its impact page)
    prefer_rollups: bool = True  # False: read the ledger even where the rollups would do (tests, checks)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.date_from, time.min, tzinfo=self.tz)

    @property
    def end(self) -> datetime:
        """Exclusive: midnight after the last day."""
        return datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=self.tz)

    @property
    def uses_rollups(self) -> bool:
        return (
            self.prefer_rollups
            and self.tz.key == ROLLUP_TIME_ZONE
            and self.scope.rollups_allowed
            and self.organisation_id is None
            and self.factor_version is None
            and self.outlier is None
        )


def _invalid(field_name: str, message: str, code: str = "invalid") -> InvalidInput:
    return InvalidInput(message, code=code, field_errors={field_name: [message]})


@cache
def time_zone_names() -> frozenset[str]:
    """The zones of the tz database. ZoneInfo() alone also opens what is not a zone: a directory
    (`Europe`: IsADirectoryError) or `localtime`, the server's own zone, which no client means."""
    return frozenset(available_timezones() - {"localtime"})


def time_zone_get(name: str) -> ZoneInfo:
    if name not in time_zone_names():
        raise _invalid("tz", _("Unknown time zone; use an IANA name such as Europe/Paris."))
    return ZoneInfo(name)


def period_check(date_from: date, date_to: date) -> None:
    if date_to < date_from:
        raise _invalid("to", _("The period ends before it starts."), "period_inverted")
    if (date_to - date_from).days + 1 > MAX_PERIOD_DAYS:
        raise _invalid("to", _("The period may not be longer than five years."), "period_too_long")


_KIND_ORDER: list[str] = [
    TerritoryKind.COMMUNE,
    TerritoryKind.DISTRICT,
    TerritoryKind.IRIS,
    TerritoryKind.EPCI,
]


def territory_resolve(reference: str | int) -> Territory:
    """A territory by code (a commune first when codes repeat across kinds), else by id."""
    reference = str(reference).strip()
    candidates = list(Territory.objects.filter(code=reference).defer("geometry"))
    if candidates:
        candidates.sort(
            key=lambda t: _KIND_ORDER.index(t.kind) if t.kind in _KIND_ORDER else len(_KIND_ORDER)
        )
        return candidates[0]
    if reference.isdigit():
        found = Territory.objects.filter(pk=int(reference)).defer("geometry").first()
        if found is not None:
            return found
    raise NotFound(_("No such territory."))


def category_resolve(reference: str | int) -> Category:
    reference = str(reference).strip()
    lookup = Q(key=reference) | (Q(pk=int(reference)) if reference.isdigit() else Q(pk__in=[]))
    category = Category.objects.filter(lookup).first()
    if category is None:
        raise NotFound(_("Unknown category."))
    return category


def category_and_descendant_ids(category: Category) -> tuple[int, ...]:
    return tuple(
        Category.objects.filter(category_subtree_q([category.path]))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def factor_version_resolve(code: str) -> FactorVersion:
    version = FactorVersion.objects.filter(code=code, published_at__isnull=False).first()
    if version is None:
        raise NotFound(_("No published factor version has this code."))
    return version


def stats_query_resolve(*, actor: Actor, params: StatsParams, scope: StatsScope | None = None) -> StatsQuery:
    """Check and resolve a request against the actor's scope. Raises InvalidInput (400) for a bad period
    or time zone, NotFound (404) for a category or factor version that does not exist, or a territory
    unknown or out of scope."""
    tz = time_zone_get(params.tz)
    period_check(params.date_from, params.date_to)
    for name, kind in (("donor_kind", params.donor_kind), ("recipient_kind", params.recipient_kind)):
        if kind is not None and kind not in OrganisationKind.values:
            raise _invalid(name, _("Unknown organisation kind."))
    scope = scope if scope is not None else stats_scope_for(actor=actor)
    territory = None
    if params.territory not in (None, ""):
        territory = territory_resolve(params.territory)
        if not scope.sees_territory(territory.pk):
            raise NotFound(_("No such territory."))
    category = category_resolve(params.category) if params.category not in (None, "") else None
    version = factor_version_resolve(params.factor_version) if params.factor_version else None
    return StatsQuery(
        scope=scope,
        date_from=params.date_from,
        date_to=params.date_to,
        tz=tz,
        territory=territory,
        category=category,
        category_ids=category_and_descendant_ids(category) if category else None,
        donor_kind=params.donor_kind,
        recipient_kind=params.recipient_kind,
        factor_version=version,
        outlier=params.outlier,
    )
