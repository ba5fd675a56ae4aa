"""The statistics' cache keyed by data versions (impact.versions): a repeated read does no aggregate
work; every kind of write changes the answer as soon as it commits; a transaction that commits after a
concurrent one is never hidden, and two writers bumping versions in opposite orders never deadlock
(real parallel connections). Committed data: the cache is bypassed inside a caller's transaction, so
these tests commit (transaction=True)."""

from __future__ import annotations

import importlib
import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from claims.models import Handover
from impact.models import DataVersion, PublicAuthorityTerritory
from impact.query import StatsParams
from impact.selectors import stats_summary, stats_territories, stats_timeseries
from impact.versions import ALL_SOURCES, SOURCE_MODELS, versions_read
from inventory.models import Category, EmissionFactor, FactorVersion
from matching.models import Match
from organisations.actors import Actor
from organisations.models import MembershipRole, OrganisationKind
from territories.models import Territory

from .conftest import make_claim, make_ledger_row, make_member, make_need, make_offer, make_org, make_reversal
from .test_stats import build_ledger, paris

pytestmark = pytest.mark.django_db(transaction=True)

YEAR = StatsParams(date_from=date(2025, 1, 1), date_to=date(2025, 12, 31))
SYSTEM = Actor.for_system()


@pytest.fixture
def ledger(mel_territories, catalogue):
    return build_ledger(mel_territories, catalogue)


def _summary(params: StatsParams = YEAR, actor: Actor = SYSTEM) -> dict:
    return stats_summary(actor=actor, params=params)


def _bumps(source: str) -> int:
    return DataVersion.objects.get(source=source).bumps


def _open_year() -> StatsParams:
    today = timezone.localdate()
    return StatsParams(date_from=today - timedelta(days=364), date_to=today)


def _row(ledger, mass_kg: str = "5", **stamp) -> Handover:
    return make_ledger_row(
        ledger.firm_a,
        ledger.association,
        ledger.catalogue["wood"],
        mass_kg=mass_kg,
        collected_at=paris(2025, 9, 1, 12),
        **{"territory": ledger.territories["59512"], **stamp},
    )


def test_a_repeated_read_reads_only_the_versions(ledger):
    first = _summary()
    assert first["mass_kg"] == Decimal("645.500")
    for read in (
        lambda: _summary(),
        lambda: stats_timeseries(actor=SYSTEM, params=YEAR, interval="month", group_by="category"),
        lambda: stats_territories(actor=SYSTEM, params=YEAR),
    ):
        read()  # fills the cache
        with CaptureQueriesContext(connection) as queries:
            again = read()
        sql = [q["sql"] for q in queries.captured_queries]
        assert len(sql) == 1 and sql[0].startswith('SELECT source, token FROM "impact_dataversion"'), sql
        assert again == read()
    assert _summary() == first
    _row(ledger)
    with CaptureQueriesContext(connection) as queries:
        _summary()  # a miss: the versions again, first in the snapshot of the figures
    sql = [q["sql"] for q in queries.captured_queries]
    assert sql[1:3] == ["BEGIN", "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"], sql
    assert sql[3].startswith('SELECT source, token FROM "impact_dataversion"') and sql[-1] == "COMMIT"
    assert any("impact_monthlyrollup" in q for q in sql)


def test_while_the_period_is_open_a_hit_recomputes_only_the_loans(ledger):
    params = _open_year()
    first = _summary(params)
    with CaptureQueriesContext(connection) as queries:
        assert _summary(params) == first
    sql = [q["sql"] for q in queries.captured_queries]
    assert len(sql) == 2 and "impact_dataversion" in sql[0] and sql[1].startswith("WITH w AS"), sql


def test_the_cache_is_bypassed_inside_a_transaction_of_the_caller(ledger):
    _summary()
    with transaction.atomic():
        _row(ledger)
        assert _summary()["mass_kg"] == Decimal("650.500")  # its own write, not yet bumped
        transaction.set_rollback(True)
    assert _summary()["mass_kg"] == Decimal("645.500")


def test_ledger_writes_change_the_answer_at_commit(ledger):
    assert _summary()["handovers"] == 7
    row = _row(ledger)  # recorded
    assert (_summary()["handovers"], _summary()["mass_kg"]) == (8, Decimal("650.500"))
    make_reversal(row)  # reversed
    assert (_summary()["handovers"], _summary()["mass_kg"]) == (7, Decimal("645.500"))
    Handover.objects.create(  # corrected: the reversed row restated with another mass
        **{
            f.attname: getattr(row, f.attname)
            for f in Handover._meta.concrete_fields
            if not f.primary_key and f.attname not in ("reverses_id", "corrects_id")
        }
        | {"mass_kg": Decimal("7"), "corrects_id": row.pk, "claim_id": row.claim_id}
    )
    assert (_summary()["handovers"], _summary()["mass_kg"]) == (8, Decimal("652.500"))
    assert stats_territories(actor=SYSTEM, params=YEAR)["territories"]


def test_market_writes_change_the_answer_at_commit(ledger):
    params = _open_year()
    before = _summary(params)
    offer = make_offer(ledger.firm_a, quantity=4, unit="kg")  # published now
    after_offer = _summary(params)
    assert after_offer["offers_published"] == before["offers_published"] + 1
    make_claim(offer, ledger.association, quantity=1, accept=True)
    claimed = _summary(params)["published_mass_claimed_7d_share"]  # claim
    assert claimed > after_offer["published_mass_claimed_7d_share"]
    need = make_need(ledger.association, [ledger.catalogue["wood"]])
    with_need = _summary(params)["open_needs_without_match"]
    assert with_need == before["open_needs_without_match"] + 1  # need
    Match.objects.create(need=need, offer=offer, organisation=ledger.association, score=1, distance_m=10)
    assert _summary(params)["open_needs_without_match"] == with_need - 1  # match


def test_reference_writes_change_the_answer_at_commit(ledger):
    restated = StatsParams(date_from=YEAR.date_from, date_to=YEAR.date_to, factor_version="2025.1")
    co2e = _summary(restated)["co2e_avoided_kg"]
    EmissionFactor.objects.create(  # factors: the sofas of 2025.1 no longer fall back to another's
        version=FactorVersion.objects.get(code="2025.1"),
        category=ledger.catalogue["sofa"],
        basis="per_kg",
        kgco2e=Decimal("9.0000"),
        source="2025 sofa",
        status="indicative",
    )
    assert _summary(restated)["co2e_avoided_kg"] != co2e
    filtered = StatsParams(date_from=YEAR.date_from, date_to=YEAR.date_to, category="wood", territory="59512")
    header = _summary(filtered)
    Category.objects.filter(key="wood").update(name_en="Timber", name_fr="Bois d'œuvre")  # categories
    Territory.objects.filter(pk=ledger.territories["59512"].pk).update(name="Roubaix (59)")  # territories
    renamed = _summary(filtered)
    assert renamed["category"]["name"] != header["category"]["name"]
    assert (header["territory"]["name"], renamed["territory"]["name"]) == ("Roubaix", "Roubaix (59)")


def test_a_new_territory_of_an_authority_changes_its_answer(ledger):
    authority = make_org(OrganisationKind.PUBLIC_AUTHORITY)
    actor = Actor.for_user(make_member(authority, MembershipRole.ADMIN))
    PublicAuthorityTerritory.objects.create(organisation=authority, territory=ledger.territories["59512"])
    roubaix = _summary(actor=actor)["handovers"]
    PublicAuthorityTerritory.objects.create(organisation=authority, territory=ledger.territories["59350"])
    assert _summary(actor=actor)["handovers"] > roubaix  # scope


def test_one_bump_per_transaction_and_source_and_none_for_a_rolled_back_savepoint(ledger):
    before = {source: _bumps(source) for source in ALL_SOURCES}
    with transaction.atomic():  # two rows with their sites, offers, claims and rollups
        _row(ledger)
        _row(ledger, mass_kg="3")
    assert {source: _bumps(source) - before[source] for source in ALL_SOURCES} == dict.fromkeys(
        ALL_SOURCES, 1
    )
    market = _bumps("market")
    with transaction.atomic():
        try:
            with transaction.atomic():
                make_need(ledger.association, [ledger.catalogue["wood"]])
                connection.cursor().execute("SET CONSTRAINTS ALL IMMEDIATE")  # the bump runs here
                raise RuntimeError
        except RuntimeError:
            pass
    assert _bumps("market") == market  # rolled back with the need
    assert versions_read(ALL_SOURCES) is not None


def _in_thread(target, errors: list) -> threading.Thread:
    def run():
        try:
            target()
        except BaseException as error:  # reported by the test
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_transaction_that_commits_later_is_never_hidden(ledger):
    assert _summary()["mass_kg"] == Decimal("645.500")
    wrote, release = threading.Event(), threading.Event()
    errors: list = []

    def early_starter():  # takes the earlier id and timestamp, commits last
        with transaction.atomic():
            # Another day, category and territory than the other writer's: no rollup row in common.
            make_ledger_row(
                ledger.firm_a,
                ledger.association,
                ledger.catalogue["textiles"],
                mass_kg="100",
                collected_at=paris(2025, 10, 2, 12),
                territory=ledger.territories["59350"],
            )
            wrote.set()
            assert release.wait(30)

    slow = _in_thread(early_starter, errors)
    assert wrote.wait(30)
    fast = _in_thread(lambda: _row(ledger, mass_kg="10"), errors)
    fast.join(30)
    assert not fast.is_alive()
    assert _summary()["mass_kg"] == Decimal("655.500")  # the later id, committed first: cached
    release.set()
    slow.join(30)
    assert not errors
    assert _summary()["mass_kg"] == Decimal("755.500")  # both
    late, early = Handover.objects.order_by("-id")[:2]
    assert (early.mass_kg, late.mass_kg) == (Decimal("100.000"), Decimal("10.000"))  # ids: not commit order


def test_writers_bumping_in_opposite_orders_do_not_deadlock(ledger):
    offer = make_offer(ledger.firm_b, quantity=3)
    barrier = threading.Barrier(2, timeout=30)
    errors: list = []
    ledger_bumps, market_bumps = _bumps("ledger"), _bumps("market")

    # Sites (reference) then offers (market) for the one, offers then sites for the other: their
    # bumps come in opposite orders. Rows of other days, categories and territories: no rollup row in
    # common.
    def reference_then_market():
        with transaction.atomic():
            _row(ledger)
            make_offer(ledger.firm_b, quantity=1)
            barrier.wait()

    def market_then_reference():
        with transaction.atomic():
            make_offer(ledger.firm_b, site=offer.site, quantity=1)
            make_ledger_row(
                ledger.firm_b,
                ledger.project,
                ledger.catalogue["textiles"],
                mass_kg="2",
                collected_at=paris(2025, 10, 2, 12),
                territory=ledger.territories["59350"],
            )
            barrier.wait()

    threads = [_in_thread(reference_then_market, errors), _in_thread(market_then_reference, errors)]
    for thread in threads:
        thread.join(60)
    assert not errors and not any(thread.is_alive() for thread in threads)
    assert (_bumps("ledger"), _bumps("market")) == (ledger_bumps + 2, market_bumps + 2)
    assert _summary()["mass_kg"] == Decimal("652.500")


def test_every_source_table_has_its_triggers_as_the_migration_froze_them():
    frozen = dict(importlib.import_module("impact.migrations.0005_data_versions").SOURCE_TABLES)
    for source, tables in importlib.import_module(
        "impact.migrations.0006_outcome_reports"
    ).SOURCE_TABLES_ADDED.items():
        frozen[source] = (*frozen[source], *tables)
    assert {
        source: tuple(model._meta.db_table for model in models) for source, models in SOURCE_MODELS.items()
    } == frozen
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, t.tgname, t.tgdeferrable, t.tginitdeferred FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid WHERE t.tgname LIKE 'impact_version_%%'"
        )
        triggers = {(table, name): deferred for table, name, *deferred in cursor.fetchall()}
    for tables in frozen.values():
        for table in tables:
            assert triggers[(table, f"impact_version_{table}")] == [True, True]
            assert triggers[(table, f"impact_version_{table}_truncate")] == [False, False]
