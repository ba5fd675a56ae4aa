"""The rollups always equal a direct aggregation of the ledger — after any series of handovers and
reversals, loans and outliers among them, inserted one by one or in bulk — and `rebuild_rollups`
recomputes the same tables. Loans are in no rollup; outliers are summed apart as well."""

from __future__ import annotations

import io
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.core.management import call_command
from django.db import connection

from claims.models import Handover
from impact.models import DailyRollup, FactorUsage, MonthlyRollup, PartyMonthlyRollup
from impact.rollups import rollup_statements
from inventory.models import Category
from organisations.models import OrganisationKind
from territories.models import Territory

from .conftest import make_ledger_row, make_org, make_reversal

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
SUMS = ("handovers", "mass_g", "co2e_g", "weighed_g", "declared_g", "estimated_g", "outliers", "outlier_g")


def square(x: float, y: float) -> MultiPolygon:
    return MultiPolygon(Polygon(((x, y), (x + 0.01, y), (x + 0.01, y + 0.01), (x, y + 0.01), (x, y))))


def make_territory(code: str, name: str, x: float = 3.1) -> Territory:
    return Territory.objects.create(kind="commune", code=code, name=name, geometry=square(x, 50.6))


def expected_rollups() -> dict[str, dict]:
    """The rollups recomputed in Python from the ledger rows (days and months of Europe/Paris), loans
    left out."""
    daily, monthly, party = defaultdict(lambda: [0] * 8), defaultdict(lambda: [0] * 8), defaultdict(int)
    usage = set()
    for h in Handover.objects.exclude(mode="loan"):
        day = h.collected_at.astimezone(PARIS).date()
        key = (h.category_id, h.territory_id, h.donor_kind, h.recipient_kind)
        grams = int(h.mass_kg * 1000)
        n = 1 if h.reverses_id is None else -1
        values = [n, grams, int(h.co2e_avoided_kg * 1000)]
        values += [grams if h.mass_method == method else 0 for method in ("weighed", "declared", "estimated")]
        values += [n if h.outlier else 0, grams if h.outlier else 0]
        for table, start in ((daily, day), (monthly, day.replace(day=1))):
            cell = table[(start, *key, h.factor_version)]
            for i, value in enumerate(values):
                cell[i] += value
        for role, organisation_id in (("donor", h.donor_id), ("recipient", h.recipient_id)):
            party[(day.replace(day=1), role, organisation_id, *key[1:])] += n
        usage.add(
            (
                h.factor_version,
                h.category_id,
                h.factor_basis,
                h.factor_kgco2e,
                h.factor_status,
                h.factor_source,
            )
        )
    return {
        "daily": {k: tuple(v) for k, v in daily.items()},
        "monthly": {k: tuple(v) for k, v in monthly.items()},
        "party": dict(party),
        "usage": usage,
    }


def stored_rollups() -> dict[str, dict]:
    key = ("category_id", "territory_id", "donor_kind", "recipient_kind")
    return {
        "daily": {
            (r["day"], *(r[k] for k in key), r["factor_version"]): tuple(r[s] for s in SUMS)
            for r in DailyRollup.objects.values()
        },
        "monthly": {
            (r["month"], *(r[k] for k in key), r["factor_version"]): tuple(r[s] for s in SUMS)
            for r in MonthlyRollup.objects.values()
        },
        "party": {
            (r["month"], r["role"], r["organisation_id"], *(r[k] for k in key[1:])): r["handovers"]
            for r in PartyMonthlyRollup.objects.values()
        },
        "usage": {
            (
                u.factor_version,
                u.category_id,
                u.factor_basis,
                u.factor_kgco2e,
                u.factor_status,
                u.factor_source,
            )
            for u in FactorUsage.objects.all()
        },
    }


def random_ledger(seed: int, rows: int = 60) -> None:
    """Random handovers and reversals around month ends and the DST changes of Europe/Paris, with every
    mass method, two factor versions, a missing territory, donors and recipients of several kinds."""
    rng = random.Random(seed)
    donors = [make_org(OrganisationKind.COMPANY), make_org(OrganisationKind.PROJECT)]
    recipients = [make_org(OrganisationKind.ASSOCIATION), make_org(OrganisationKind.PROJECT)]
    root = Category.objects.create(key=f"furniture-{seed}", name_fr="Mobilier", name_en="Furniture")
    categories = [
        root,
        Category.objects.create(key=f"chair-{seed}", parent=root, name_fr="Chaise", name_en="Chair"),
        Category.objects.create(key=f"wood-{seed}", name_fr="Bois", name_en="Wood"),
    ]
    territories = [make_territory(f"59{seed:03d}", "Roubaix"), make_territory(f"58{seed:03d}", "Lille"), None]
    edges = [
        datetime(2025, 3, 31, 21, 30, tzinfo=UTC),  # 23:30 on 31 March in Paris
        datetime(2025, 3, 31, 22, 30, tzinfo=UTC),  # 00:30 on 1 April in Paris
        datetime(2025, 3, 30, 0, 59, tzinfo=UTC),  # just before the spring DST change
        datetime(2025, 10, 26, 0, 30, tzinfo=UTC),  # the repeated hour in October
        datetime(2025, 12, 31, 23, 0, tzinfo=UTC),  # midnight, New Year in Paris
    ]
    made: list[Handover] = []
    for _ in range(rows):
        if made and rng.random() < 0.25:
            reversed_ids = {h.reverses_id for h in made}
            candidates = [h for h in made if h.reverses_id is None and h.pk not in reversed_ids]
            if candidates:
                made.append(make_reversal(rng.choice(candidates)))
                continue
        when = rng.choice(edges) + timedelta(minutes=rng.choice([0, 0, 1, -1, 600]))
        basis = rng.choice(["per_kg", "per_item"])
        mode = rng.choice(["donation", "donation", "sale", "loan"])
        outlier = rng.random() < 0.3
        extra = {"co2e_avoided_kg": Decimal("0.000")} if mode == "loan" else {}
        made.append(
            make_ledger_row(
                rng.choice(donors),
                rng.choice(recipients),
                rng.choice(categories),
                mass_kg=Decimal(rng.randint(1, 500_000)) / 1000,
                quantity=rng.randint(1, 20),
                collected_at=when,
                territory=rng.choice(territories),
                mass_method=rng.choice(["weighed", "declared", "estimated"]),
                factor_version=rng.choice(["2025.1", "2026.1"]),
                factor_basis=basis,
                factor_kgco2e=rng.choice(["0.3100", "1.8300", "18.6000"]),
                factor_source=rng.choice(["ADEME Base Carbone", "WRAP (2011)"]),
                mode=mode,
                outlier=outlier,
                mass_confirmed=outlier,
                **extra,
            )
        )


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_rollups_equal_a_direct_aggregation_of_the_ledger(seed):
    random_ledger(seed)
    assert Handover.objects.filter(reverses__isnull=False).exists()
    assert Handover.objects.filter(mode="loan").exists()
    assert Handover.objects.filter(outlier=True, reverses__isnull=False).exists()
    expected = expected_rollups()
    assert stored_rollups() == expected
    call_command("rebuild_rollups", stdout=io.StringIO())
    assert stored_rollups() == expected
    call_command("rebuild_rollups", stdout=io.StringIO())  # idempotent
    assert stored_rollups() == expected


def test_a_bulk_insert_is_rolled_up_by_one_statement():
    random_ledger(7, rows=10)
    template = Handover.objects.filter(reverses__isnull=True).first()
    copies = []
    for hours in range(0, 96, 7):
        when = template.collected_at + timedelta(hours=hours)
        loan, outlier = hours % 3 == 0, hours % 2 == 0
        copies.append(
            make_ledger_row(
                template.donor,
                template.recipient,
                template.category,
                mass_kg="1.5",
                collected_at=when,
                mode="loan" if loan else "donation",
                outlier=outlier,
                mass_confirmed=outlier,
                **({"co2e_avoided_kg": Decimal("0.000")} if loan else {}),
            )
        )
    # A multi-row INSERT … SELECT, as a bulk load would do: one statement, many rows.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO claims_handover (claim_id, reverses_id, offer_id, donor_id, donor_kind, "
            "recipient_id, recipient_kind, category_id, territory_id, quantity, unit, mass_kg, mass_method, "
            "factor_version, "
            "factor_basis, factor_kgco2e, factor_source, factor_status, co2e_avoided_kg, collected_at, "
            "recorded_at, recorded_by, note, mode, outlier, mass_confirmed) "
            "SELECT claim_id, id, offer_id, donor_id, donor_kind, recipient_id, recipient_kind, category_id, "
            "territory_id, -quantity, unit, -mass_kg, mass_method, factor_version, factor_basis, "
            "factor_kgco2e, "
            "factor_source, factor_status, -co2e_avoided_kg, collected_at, now(), 'system', '', mode, "
            "outlier, mass_confirmed "
            "FROM claims_handover WHERE id = ANY(%s)",
            [[row.pk for row in copies]],
        )
    assert stored_rollups() == expected_rollups()


def test_rebuild_reports_its_counts():
    random_ledger(9, rows=5)
    out = io.StringIO()
    call_command("rebuild_rollups", stdout=out)
    assert f"{DailyRollup.objects.count()} daily" in out.getvalue()


def test_the_trigger_runs_the_statements_of_rollup_statements():
    """The trigger function (a frozen copy in migration impact/0004) is what impact.rollups states,
    the loan rule and the outlier sums included."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = 'impact_rollup_ledger_insert'")
        source = " ".join(cursor.fetchone()[0].split())
    for statement in rollup_statements("new_rows"):
        assert " ".join(statement.split()) in source
    assert source.count("WHERE h.mode <> 'loan'") == 5
