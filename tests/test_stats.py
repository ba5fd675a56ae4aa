"""Statistics on a hand-built ledger: exact values, reversals, mixed mass methods, several factor
versions, time-zone bucket edges, CSV, conditional requests, bad parameters."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from claims.models import Claim
from core.errors import InvalidInput
from impact.models import PublicAuthorityTerritory
from impact.query import StatsParams, stats_query_resolve
from impact.selectors import GROUP_BYS, stats_summary, stats_timeseries, timeseries_for
from inventory.models import EmissionFactor, FactorVersion
from organisations.actors import Actor
from organisations.models import MembershipRole, Organisation, OrganisationKind

from .conftest import client_for, make_ledger_row, make_member, make_need, make_offer, make_org, make_reversal

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
YEAR = "from=2025-01-01&to=2025-12-31"


def paris(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


@dataclass
class Ledger:
    firm_a: Organisation
    firm_b: Organisation
    association: Organisation
    project: Organisation
    roubaix: Organisation
    mel: Organisation
    territories: dict
    catalogue: dict
    rows: list


def build_ledger(mel_territories, catalogue) -> Ledger:
    """Ten rows in 2025 (two are reversals) across Roubaix, Lille, Tourcoing and no territory; mass
    weighed, declared and estimated; stamped with factor versions 2026.1 and 2025.1."""
    version = FactorVersion.objects.create(
        code="2025.1", title="Older factors", published_at=paris(2025, 1, 1)
    )
    for key, basis, kgco2e in (
        ("mixed_household_reuse", "per_kg", "0.5100"),
        ("wood", "per_kg", "0.2500"),
        ("textiles", "per_kg", "6.5000"),
        ("wooden_chair", "per_item", "15.0000"),
    ):
        EmissionFactor.objects.create(
            version=version,
            category=catalogue[key],
            basis=basis,
            kgco2e=Decimal(kgco2e),
            source=f"2025 {key}",
            status="indicative",
        )
    firm_a = make_org(OrganisationKind.COMPANY, name="Ateliers du Meuble")
    firm_b = make_org(OrganisationKind.COMPANY, name="Textiles du Nord")
    association = make_org(OrganisationKind.ASSOCIATION, name="Repair Café Roubaix")
    project = make_org(OrganisationKind.PROJECT, name="Jardin partagé")
    roubaix = make_org(OrganisationKind.PUBLIC_AUTHORITY, name="Ville de Roubaix")
    mel = make_org(OrganisationKind.PUBLIC_AUTHORITY, name="Métropole Européenne de Lille")
    t = mel_territories
    PublicAuthorityTerritory.objects.create(organisation=roubaix, territory=t["59512"])
    PublicAuthorityTerritory.objects.bulk_create(
        [PublicAuthorityTerritory(organisation=mel, territory=territory) for territory in t.values()]
    )
    c = catalogue
    stamp_2026 = {"factor_version": "2026.1", "factor_source": "ADEME", "factor_status": "sourced"}
    row = make_ledger_row
    rows = [
        row(
            firm_a,
            association,
            c["wood"],
            mass_kg="100",
            collected_at=paris(2025, 1, 15, 10),
            territory=t["59512"],
            factor_kgco2e="0.31",
            **stamp_2026,
        ),
        row(
            firm_a,
            project,
            c["wooden_chair"],
            mass_kg="60",
            quantity=12,
            unit="piece",
            collected_at=paris(2025, 2, 3, 9),
            territory=t["59512"],
            mass_method="declared",
            factor_basis="per_item",
            factor_kgco2e="18.6",
            **stamp_2026,
        ),
        row(
            firm_b,
            association,
            c["textiles"],
            mass_kg="250.5",
            collected_at=paris(2025, 2, 20, 15),
            territory=t["59350"],
            mass_method="estimated",
            factor_version="2025.1",
            factor_kgco2e="6.5",
            factor_source="2025 textiles",
            factor_status="indicative",
        ),
        # 23:30 on 31 March in Paris (21:30 UTC): March. 00:30 on 1 April (22:30 UTC the day before): April.
        row(
            firm_b,
            project,
            c["wood"],
            mass_kg="40",
            collected_at=datetime(2025, 3, 31, 21, 30, tzinfo=UTC),
            territory=t["59350"],
            factor_kgco2e="0.31",
            **stamp_2026,
        ),
        row(
            firm_a,
            association,
            c["wood"],
            mass_kg="10",
            collected_at=datetime(2025, 3, 31, 22, 30, tzinfo=UTC),
            territory=t["59512"],
            factor_kgco2e="0.31",
            **stamp_2026,
        ),
        row(
            firm_a,
            association,
            c["sofa"],
            mass_kg="74",
            quantity=2,
            unit="piece",
            collected_at=paris(2025, 5, 10, 11),
            mass_method="estimated",
            factor_basis="per_item",
            factor_kgco2e="179.1",
            **stamp_2026,
        ),
        row(
            firm_a,
            project,
            c["wood"],
            mass_kg="20",
            collected_at=paris(2025, 6, 1, 8),
            territory=t["59512"],
            factor_kgco2e="0.31",
            **stamp_2026,
        ),
        row(
            firm_b,
            project,
            c["sofa"],
            mass_kg="111",
            quantity=2,
            unit="m3",
            collected_at=paris(2025, 7, 14, 16),
            territory=t["59599"],
            mass_method="declared",
            factor_basis="per_item",
            factor_kgco2e="179.1",
            co2e_avoided_kg=Decimal("537.300"),
            **stamp_2026,
        ),
    ]
    rows.append(make_reversal(rows[6]))
    # Outside the period: the year before and the year after.
    rows.append(
        row(
            firm_a,
            association,
            c["wood"],
            mass_kg="999",
            collected_at=paris(2024, 12, 31, 23, 59),
            territory=t["59512"],
            **stamp_2026,
        )
    )
    rows.append(
        row(
            firm_a,
            association,
            c["wood"],
            mass_kg="999",
            collected_at=paris(2026, 1, 1, 0, 0),
            territory=t["59512"],
            **stamp_2026,
        )
    )
    return Ledger(firm_a, firm_b, association, project, roubaix, mel, t, c, rows)


@pytest.fixture
def ledger(mel_territories, catalogue) -> Ledger:
    return build_ledger(mel_territories, catalogue)


@pytest.fixture
def operator(operator_user):
    return client_for(operator_user)


def test_summary_has_exact_values_for_the_operator(ledger, operator):
    body = operator.get(f"/api/v1/stats/summary/?{YEAR}").json()
    assert body["computed_from"] == "rollups"
    assert body["from"] == "2025-01-01" and body["to"] == "2025-12-31" and body["tz"] == "Europe/Paris"
    assert body["handovers"] == 7  # eight handovers, one reversed
    assert body["mass_kg"] == 645.5
    assert body["tonnes_diverted"] == 0.6455
    assert body["co2e_avoided_kg"] == 2793.45  # 31 + 223.2 + 1628.25 + 12.4 + 3.1 + 358.2 + 537.3
    assert (body["donors"], body["recipients"]) == (2, 2)
    assert (body["mass_weighed_kg"], body["mass_declared_kg"], body["mass_estimated_kg"]) == (
        150.0,
        171.0,
        324.5,
    )
    assert (body["share_weighed"], body["share_declared"], body["share_estimated"]) == (
        0.2324,
        0.2649,
        0.5027,
    )
    assert body["factor_versions"] == ["2025.1", "2026.1"]
    assert body["factors"][0] == {
        "factor_version": "2025.1",
        "basis": "per_kg",
        "kgco2e": 6.5,
        "source": "2025 textiles",
        "status": "indicative",
        "categories": ["textiles"],
    }
    assert {(f["factor_version"], tuple(f["categories"])) for f in body["factors"][1:]} == {
        ("2026.1", ("sofa",)),
        ("2026.1", ("wood",)),
        ("2026.1", ("wooden_chair",)),
    }


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"territory": "59512"},
        {"territory": "59350", "category": "wood"},
        {"category": "furniture"},
        {"donor_kind": "company", "recipient_kind": "project"},
        {"date_from": date(2025, 2, 10), "date_to": date(2025, 4, 1)},  # partial months at both edges
        {"date_from": date(2025, 3, 31), "date_to": date(2025, 3, 31)},
        {"date_from": date(2024, 12, 31), "date_to": date(2026, 1, 31)},
    ],
)
def test_rollups_and_ledger_give_the_same_figures(ledger, operator_user, params):
    actor = Actor.for_user(operator_user)
    stats = StatsParams(**{"date_from": date(2025, 1, 1), "date_to": date(2025, 12, 31), **params})
    from_rollups = stats_summary(actor=actor, params=stats)
    from_ledger = stats_summary(actor=actor, params=stats, prefer_rollups=False)
    assert (from_rollups.pop("computed_from"), from_ledger.pop("computed_from")) == ("rollups", "ledger")
    assert from_rollups == from_ledger
    for interval in ("day", "week", "month", "year"):
        for group_by in (None, "category", "territory", "donor_kind"):
            a = stats_timeseries(actor=actor, params=stats, interval=interval, group_by=group_by)
            b = stats_timeseries(
                actor=actor, params=stats, interval=interval, group_by=group_by, prefer_rollups=False
            )
            assert a["points"] == b["points"]


def test_partial_period_is_exact(ledger, operator):
    body = operator.get("/api/v1/stats/summary/?from=2025-02-10&to=2025-04-01").json()
    # textiles 250.5 (Feb 20), wood 40 (31 March, Paris), wood 10 (1 April, Paris)
    assert (body["handovers"], body["mass_kg"], body["co2e_avoided_kg"]) == (3, 300.5, 1643.75)
    assert (body["donors"], body["recipients"]) == (2, 2)


def test_restating_with_factor_versions(ledger, operator):
    stamped = operator.get(f"/api/v1/stats/summary/?{YEAR}").json()
    restated_2026 = operator.get(f"/api/v1/stats/summary/?{YEAR}&factor_version=2026.1").json()
    restated_2025 = operator.get(f"/api/v1/stats/summary/?{YEAR}&factor_version=2025.1").json()
    # 2026.1 restates only the textiles row stamped with 2025.1: 250.5 × 7 instead of × 6.5.
    assert restated_2026["co2e_avoided_kg"] == 2918.7
    # 2025.1: wood × 0.25, chairs 12 × 15, textiles × 6.5, sofas (no factor of their own nor of
    # furniture in 2025.1) by the fallback 0.51 per kg: 25 + 180 + 1628.25 + 10 + 2.5 + 37.74 + 56.61.
    assert restated_2025["co2e_avoided_kg"] == 1940.1
    for restated, code in ((restated_2026, "2026.1"), (restated_2025, "2025.1")):
        assert restated["factor_version"] == code
        assert restated["computed_from"] == "ledger"
        assert (restated["mass_kg"], restated["handovers"]) == (stamped["mass_kg"], stamped["handovers"])
        assert restated["factor_versions"] == ["2025.1", "2026.1"]  # what the rows were stamped with
        assert {f["factor_version"] for f in restated["factors"]} == {code}
    fallback = next(f for f in restated_2025["factors"] if "sofa" in f["categories"])
    assert (fallback["kgco2e"], fallback["source"]) == (0.51, "2025 mixed_household_reuse")
    # The stamped figures never change.
    assert operator.get(f"/api/v1/stats/summary/?{YEAR}").json()["co2e_avoided_kg"] == 2793.45
    monthly = operator.get(f"/api/v1/stats/timeseries/?{YEAR}&interval=month&factor_version=2025.1").json()
    assert sum(Decimal(str(p["co2e_kg"])) for p in monthly["points"]) == Decimal("1940.1")


def test_restating_with_the_current_version_reproduces_what_the_service_stamps(catalogue, operator, firm):
    from claims import services

    from .conftest import make_claim

    association = make_org(OrganisationKind.ASSOCIATION)
    system = Actor.for_system()
    lots = [
        (
            make_offer(firm, category=catalogue["sofa"], quantity=3, unit="piece"),
            {"mass_kg": Decimal("80.5")},
        ),
        (make_offer(firm, category=catalogue["wood"], quantity=40, unit="kg"), {}),
        (make_offer(firm, category=catalogue["laptop"], quantity=5, unit="piece", mass_per_unit_kg=2), {}),
        (
            make_offer(
                firm, category=catalogue["office_chair"], quantity=1, unit="pallet", mass_per_unit_kg=90
            ),
            {},
        ),
    ]
    for offer, weighed in lots:
        claim = make_claim(offer, association, quantity=offer.quantity, accept=True)
        services.handover_record(actor=system, claim_id=claim.pk, **weighed)
    today = timezone.localdate()
    period = f"from={today - timedelta(days=1)}&to={today + timedelta(days=1)}"
    stamped = operator.get(f"/api/v1/stats/summary/?{period}").json()
    restated = operator.get(f"/api/v1/stats/summary/?{period}&factor_version=2026.1").json()
    assert stamped["handovers"] == 4
    assert stamped["co2e_avoided_kg"] > 0
    assert restated["co2e_avoided_kg"] == stamped["co2e_avoided_kg"]


def test_monthly_timeseries_by_category_is_zero_filled(ledger, operator):
    body = operator.get(f"/api/v1/stats/timeseries/?{YEAR}&interval=month&group_by=category").json()
    assert body["buckets"] == [f"2025-{m:02d}-01" for m in range(1, 13)]
    assert body["groups"] == [
        {"key": "furniture", "label": "Mobilier"},
        {"key": "textiles", "label": "Textiles et habillement"},
        {"key": "wood", "label": "Bois"},
    ]
    assert len(body["points"]) == 36
    cells = {(p["bucket"], p["group"]): (p["handovers"], p["tonnes"], p["co2e_kg"]) for p in body["points"]}
    assert cells[("2025-01-01", "wood")] == (1, 0.1, 31.0)
    assert cells[("2025-02-01", "furniture")] == (1, 0.06, 223.2)
    assert cells[("2025-02-01", "textiles")] == (1, 0.2505, 1628.25)
    assert cells[("2025-03-01", "wood")] == (1, 0.04, 12.4)
    assert cells[("2025-04-01", "wood")] == (1, 0.01, 3.1)
    assert cells[("2025-06-01", "wood")] == (0, 0.0, 0.0)  # handed over and reversed
    assert cells[("2025-07-01", "furniture")] == (1, 0.111, 537.3)
    assert cells[("2025-08-01", "textiles")] == (0, 0.0, 0.0)


def test_drilling_into_a_category_groups_by_its_children(ledger, operator):
    body = operator.get(
        f"/api/v1/stats/timeseries/?{YEAR}&interval=year&group_by=category&category=furniture"
    ).json()
    assert [(p["group"], p["handovers"], p["tonnes"]) for p in body["points"]] == [
        ("sofa", 2, 0.185),
        ("wooden_chair", 1, 0.06),
    ]


def test_time_zone_decides_the_month_of_a_handover(ledger, operator):
    def march_april(tz: str) -> tuple:
        body = operator.get(
            f"/api/v1/stats/timeseries/?from=2025-03-01&to=2025-04-30&interval=month&category=wood&tz={tz}"
        ).json()
        return tuple((p["bucket"], p["tonnes"]) for p in body["points"])

    assert march_april("Europe/Paris") == (("2025-03-01", 0.04), ("2025-04-01", 0.01))
    assert march_april("UTC") == (("2025-03-01", 0.05), ("2025-04-01", 0.0))
    assert march_april("America/New_York") == (("2025-03-01", 0.05), ("2025-04-01", 0.0))


def test_weeks_start_on_monday_and_days_are_local(ledger, operator):
    weeks = operator.get("/api/v1/stats/timeseries/?from=2025-03-30&to=2025-04-06&interval=week").json()
    assert weeks["buckets"] == ["2025-03-24", "2025-03-31"]
    assert [(p["bucket"], p["handovers"]) for p in weeks["points"]] == [("2025-03-24", 0), ("2025-03-31", 2)]
    days = operator.get("/api/v1/stats/timeseries/?from=2025-03-31&to=2025-04-01&interval=day").json()
    assert [(p["bucket"], p["tonnes"]) for p in days["points"]] == [
        ("2025-03-31", 0.04),
        ("2025-04-01", 0.01),
    ]


def test_territories_are_a_geojson_choropleth(ledger, operator):
    response = operator.get(f"/api/v1/stats/territories/?{YEAR}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/geo+json"
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert len(body["features"]) == 95
    by_code = {f["properties"]["code"]: f for f in body["features"]}
    roubaix = by_code["59512"]
    assert roubaix["geometry"]["type"] == "MultiPolygon"
    assert {k: roubaix["properties"][k] for k in ("handovers", "mass_kg", "tonnes", "co2e_avoided_kg")} == {
        "handovers": 3,
        "mass_kg": 170.0,
        "tonnes": 0.17,
        "co2e_avoided_kg": 257.3,
    }
    assert by_code["59350"]["properties"]["mass_kg"] == 290.5
    assert by_code["59009"]["properties"]["handovers"] == 0


TIMESERIES_KEYS = [
    "bucket",
    "group",
    "label",
    "handovers",
    "tonnes",
    "co2e_kg",
    "outlier_handovers",
    "outlier_tonnes",
    "loans_made",
    "items_lent",
    "item_days_lent",
    "loans_returned",
    "loans_returned_on_time",
    "outcome_handovers",
    "outcomes_reported",
    "outcomes_share_reported",
    "people_reached",
    "young_people",
    "seniors",
    "volunteer_hours",
]


def _csv_rows(response) -> list[list[str]]:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.reader(io.StringIO(content.decode("utf-8"))))


def test_csv_headers_are_machine_keys_then_labels_on_request(ledger, operator):
    """The first row is the machine keys in every language; `labels=true` adds the labels row in the
    request's language (api.exports)."""
    url = f"/api/v1/stats/timeseries/?{YEAR}&interval=year&format=csv"
    french = operator.get(url)
    assert french.status_code == 200
    assert french["Content-Type"] == "text/csv; charset=utf-8"
    assert (
        french["Content-Disposition"] == 'attachment; filename="boucle-timeseries-2025-01-01_2025-12-31.csv"'
    )
    values = [
        "2025-01-01",
        "all",
        "Tous",
        "7",
        "0.645500",
        "2793.450",
        "0",
        "0.000000",
        "0",
        "0.000",
        "0.00",
        "0",
        "0",
        "7",
        "0",
        "0.0000",
        "0",
        "0",
        "0",
        "0.0",
    ]
    assert _csv_rows(french) == [TIMESERIES_KEYS, values]
    english = operator.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert _csv_rows(english)[0] == TIMESERIES_KEYS
    french_labels = _csv_rows(operator.get(url + "&labels=true"))
    assert french_labels == [
        TIMESERIES_KEYS,
        [
            "Période (premier jour)",
            "Groupe",
            "Libellé",
            "Remises (nettes des annulations)",
            "Tonnes détournées",
            "CO2e évité (kg)",
            "Remises aberrantes",
            "Tonnes des remises aberrantes",
            "Prêts consentis",
            "Quantité prêtée",
            "Jours-objets prêtés",
            "Prêts rendus",
            "Prêts rendus à temps",
            "Remises (tous modes)",
            "Remises dont l'usage est rapporté",
            "Part des remises rapportées",
            "Personnes touchées",
            "dont jeunes (moins de 26 ans)",
            "dont seniors (plus de 60 ans)",
            "Heures de bénévolat",
        ],
        values,
    ]
    english_labels = _csv_rows(operator.get(url + "&labels=true", HTTP_ACCEPT_LANGUAGE="en"))
    assert english_labels[0] == TIMESERIES_KEYS
    assert english_labels[1] == [
        "Bucket (first day)",
        "Group",
        "Label",
        "Handovers (net of reversals)",
        "Tonnes diverted",
        "CO2e avoided (kg)",
        "Outlier handovers",
        "Tonnes of outlier handovers",
        "Loans made",
        "Items lent",
        "Item-days lent",
        "Loans returned",
        "Loans returned on time",
        "Handovers (every mode)",
        "Handovers reported",
        "Share reported",
        "People reached",
        "of whom young people",
        "of whom seniors",
        "Volunteer hours",
    ]
    assert english_labels[2][:3] == ["2025-01-01", "all", "All"]
    assert _csv_rows(operator.get(url + "&labels=false")) == [TIMESERIES_KEYS, values]

    summary = operator.get(f"/api/v1/stats/summary/?{YEAR}", HTTP_ACCEPT="text/csv")
    table = _csv_rows(summary)
    assert table[0] == ["indicator", "label", "value"]
    assert ["co2e_avoided_kg", "CO2e évité (kg)", "2793.450"] in table
    assert ["factor_versions", "Versions des facteurs", "2025.1; 2026.1"] in table
    labelled = _csv_rows(operator.get(f"/api/v1/stats/summary/?{YEAR}&labels=true", HTTP_ACCEPT="text/csv"))
    assert labelled[:2] == [["indicator", "label", "value"], ["Indicateur", "Libellé", "Valeur"]]
    assert labelled[2:] == table[1:]
    english_summary = operator.get(
        f"/api/v1/stats/summary/?{YEAR}&labels=true", HTTP_ACCEPT="text/csv", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert _csv_rows(english_summary)[:2] == [
        ["indicator", "label", "value"],
        ["Indicator", "Label", "Value"],
    ]
    assert ["co2e_avoided_kg", "CO2e avoided (kg)", "2793.450"] in _csv_rows(english_summary)

    territories_url = f"/api/v1/stats/territories/?{YEAR}&format=csv"
    territories = _csv_rows(operator.get(territories_url))
    assert territories[0][:4] == ["id", "kind", "code", "name"]
    assert len(territories) == 96
    for language, names in (
        ("fr", ["Identifiant", "Type", "Code", "Nom"]),
        ("en", ["Id", "Kind", "Code", "Name"]),
    ):
        labelled = _csv_rows(operator.get(territories_url + "&labels=true", HTTP_ACCEPT_LANGUAGE=language))
        assert labelled[0] == territories[0] and labelled[1][:4] == names and len(labelled) == 97


@pytest.mark.parametrize("query", ["labels=yes", "labels=", "labels=true&labels=true"])
def test_labels_is_read_strictly(ledger, operator, query):
    for path in ("summary/?", "timeseries/?interval=year&", "territories/?", "ledger/?"):
        for fmt in ("&format=csv", "&format=json"):
            response = operator.get(f"/api/v1/stats/{path}{YEAR}&{query}{fmt}")
            assert response.status_code == 400, (path, fmt, response.content)
            assert response["Content-Type"] == "application/problem+json"
            assert [e["field"] for e in response.json()["errors"]] == ["labels"]


def test_the_labels_row_has_its_own_etag(ledger, operator):
    for path in ("summary/?", "ledger/?"):
        url = f"/api/v1/stats/{path}{YEAR}&format=csv"
        plain, labelled = operator.get(url), operator.get(url + "&labels=true")
        assert plain["ETag"] != labelled["ETag"]
        assert operator.get(url + "&labels=true", HTTP_IF_NONE_MATCH=labelled["ETag"]).status_code == 304
        assert operator.get(url + "&labels=true", HTTP_IF_NONE_MATCH=plain["ETag"]).status_code == 200


def test_conditional_requests_answer_304_until_the_ledger_moves(ledger, operator):
    url = f"/api/v1/stats/summary/?{YEAR}"
    first = operator.get(url)
    etag, last_modified = first["ETag"], first["Last-Modified"]
    assert etag and last_modified and first["Cache-Control"] == "private, no-cache"
    again = operator.get(url, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b""
    assert operator.get(url, HTTP_IF_MODIFIED_SINCE=last_modified).status_code == 304
    assert operator.get(url + "&category=wood", HTTP_IF_NONE_MATCH=etag).status_code == 200
    make_ledger_row(
        ledger.firm_a,
        ledger.association,
        ledger.catalogue["wood"],
        mass_kg="5",
        collected_at=paris(2025, 9, 1, 12),
        territory=ledger.territories["59512"],
    )
    changed = operator.get(url, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag and changed.json()["mass_kg"] == 650.5
    for path in ("timeseries/?interval=month&", "territories/?", "ledger/?", "ledger/?format=csv&"):
        response = operator.get(f"/api/v1/stats/{path}{YEAR}")
        assert response.status_code == 200
        assert (
            operator.get(f"/api/v1/stats/{path}{YEAR}", HTTP_IF_NONE_MATCH=response["ETag"]).status_code
            == 304
        )


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        ("from=2025-02-01&to=2025-01-01", "to", "period_inverted"),
        ("from=2019-01-01&to=2025-01-01", "to", "period_too_long"),
        ("from=2025-01-01&to=2025-13-01", "to", "validation_error"),
        ("tz=Mars/Olympus_Mons", "tz", "validation_error"),
        ("donor_kind=alien", "donor_kind", "validation_error"),
    ],
)
def test_bad_parameters_are_400_problems(ledger, operator, query, field, code):
    for path in ("summary/?", "timeseries/?interval=month&", "territories/?", "ledger/?"):
        response = operator.get(f"/api/v1/stats/{path}{query}")
        assert response.status_code == 400, (path, response.content)
        assert response["Content-Type"] == "application/problem+json"
        body = response.json()
        assert body["code"] == code
        assert [e["field"] for e in body["errors"]] == [field]


@pytest.mark.parametrize(
    ("query", "field"),
    [("interval=hour", "interval"), ("interval=month&group_by=colour", "group_by"), ("", "interval")],
)
def test_unknown_interval_or_grouping_is_400(operator, query, field):
    response = operator.get(f"/api/v1/stats/timeseries/?{query}")
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_too_many_points_is_400(ledger, operator, monkeypatch):
    # 1826 days × 4 territory groups
    monkeypatch.setattr("impact.selectors.timeseries.MAX_TIMESERIES_POINTS", 5000)
    response = operator.get(
        "/api/v1/stats/timeseries/?from=2021-01-01&to=2025-12-31&interval=day&group_by=territory"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "too_many_points"


def test_market_figures(ledger, operator, catalogue):
    firm, site_owner = ledger.firm_a, ledger.firm_a
    published = paris(2025, 3, 1, 9)
    wood = make_offer(firm, category=catalogue["wood"], quantity=100, unit="kg", published_at=published)
    chairs = make_offer(
        firm,
        category=catalogue["wooden_chair"],
        quantity=10,
        unit="piece",
        mass_per_unit_kg=Decimal("5"),
        published_at=published + timedelta(days=1),
    )
    make_offer(
        site_owner, category=catalogue["sofa"], quantity=1, unit="piece", published_at=paris(2024, 6, 1)
    )
    early = Claim.objects.create(offer=wood, organisation=ledger.association, quantity=30, status="collected")
    late = Claim.objects.create(
        offer=wood,
        organisation=ledger.project,
        quantity=50,
        status="accepted",
        location_revealed_at=paris(2025, 3, 25),
        pickup_deadline=paris(2025, 4, 1),
    )
    declined = Claim.objects.create(offer=chairs, organisation=ledger.project, quantity=10, status="declined")
    Claim.objects.filter(pk=early.pk).update(created_at=published + timedelta(hours=6))
    Claim.objects.filter(pk=late.pk).update(created_at=published + timedelta(days=8))
    Claim.objects.filter(pk=declined.pk).update(created_at=published + timedelta(days=1, hours=3))
    # Expired in the period with nothing taken: 30 kg of textiles, and 4 m3 of hand tools (mass unknown).
    until = {"available_from": paris(2025, 5, 1), "available_until": paris(2025, 6, 1)}
    make_offer(firm, category=catalogue["textiles"], quantity=30, unit="kg", status="expired", **until)
    make_offer(firm, category=catalogue["hand_tools"], quantity=4, unit="m3", status="expired", **until)
    taken = make_offer(firm, category=catalogue["wood"], quantity=5, unit="kg", status="expired", **until)
    Claim.objects.create(offer=taken, organisation=ledger.association, quantity=5, status="collected")
    from matching.models import Match, Need

    needs = [make_need(ledger.association, [catalogue["wood"]]) for _ in range(3)]
    needs.append(make_need(ledger.association, [catalogue["wood"]], status="fulfilled"))
    Need.objects.update(created_at=paris(2025, 6, 1))

    Match.objects.create(need=needs[0], offer=wood, organisation=ledger.association, score=0.9, distance_m=10)
    body = operator.get(f"/api/v1/stats/summary/?{YEAR}").json()
    figures = {
        k: body[k]
        for k in (
            "offers_published",
            "published_mass_kg",
            "published_mass_claimed_7d_share",
            "median_hours_to_first_claim",
            "offers_expired_untaken",
            "mass_wasted_kg",
            "offers_expired_mass_unknown",
            "open_needs_without_match",
        )
    }
    # Published: 100 kg of wood and 10 chairs × 5 kg. Within 7 days: 30 kg of wood (the declined claim and
    # the late one do not count). First claims: 6 h and 3 h after publication → median 4.5 h.
    assert figures == {
        "offers_published": 2,
        "published_mass_kg": 150.0,
        "published_mass_claimed_7d_share": 0.2,
        "median_hours_to_first_claim": 4.5,
        "offers_expired_untaken": 2,
        "mass_wasted_kg": 30.0,
        "offers_expired_mass_unknown": 1,
        "open_needs_without_match": 2,
    }
    roubaix = client_for(make_member(ledger.roubaix, MembershipRole.MEMBER))
    assert (
        roubaix.get(f"/api/v1/stats/summary/?{YEAR}").json()["offers_published"] == 0
    )  # sites have no territory


def test_anonymised_ledger(ledger, operator, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        response = operator.get(f"/api/v1/stats/ledger/?{YEAR}&limit=100")
    rows = response.json()["results"]
    assert len(rows) == 9
    assert set(rows[0]) == {
        "id",
        "collected_at",
        "category",
        "territory",
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
        "reverses",
        "corrects",
        "mode",
        "outlier",
        "mass_confirmed",
        "expected_mass_kg",
        "factor_items",
    }
    reversal = rows[0]
    assert (reversal["reverses"], reversal["mass_kg"], reversal["donor_kind"]) == (
        ledger.rows[6].pk,
        -20.0,
        "company",
    )
    streamed = operator.get(f"/api/v1/stats/ledger/?{YEAR}&format=csv", HTTP_ACCEPT_LANGUAGE="en")
    assert streamed["Content-Type"] == "text/csv; charset=utf-8"
    lines = list(csv.reader(io.StringIO(b"".join(streamed.streaming_content).decode())))
    assert lines[0][:3] == ["id", "collected_at", "category"]
    assert len(lines) == 10
    assert streamed["Content-Disposition"] == 'attachment; filename="boucle-ledger-2025-01-01_2025-12-31.csv"'
    for language, names in (("fr", ["Identifiant", "Collectée le"]), ("en", ["Id", "Collected at"])):
        labelled = operator.get(
            f"/api/v1/stats/ledger/?{YEAR}&format=csv&labels=true", HTTP_ACCEPT_LANGUAGE=language
        )
        labelled_lines = list(csv.reader(io.StringIO(b"".join(labelled.streaming_content).decode())))
        assert labelled_lines[0] == lines[0] and labelled_lines[1][:2] == names
        assert labelled_lines[2:] == lines[1:]
    assert b"Ateliers" not in operator.get(f"/api/v1/stats/ledger/?{YEAR}").content
    firm_member = client_for(make_member(ledger.firm_a))
    refused = firm_member.get(f"/api/v1/stats/ledger/?{YEAR}")
    assert (refused.status_code, refused.json()["code"]) == (403, "authority_only")


def test_organisation_impact(ledger, operator):
    member = client_for(make_member(ledger.firm_a, MembershipRole.MEMBER))
    url = f"/api/v1/organisations/{ledger.firm_a.pk}/impact/?{YEAR}"
    body = member.get(url).json()
    assert body["organisation"] == {"id": ledger.firm_a.pk, "name": "Ateliers du Meuble", "kind": "company"}
    # wood 100 + chairs 60 + wood 10 + sofas 74 (the 20 kg of June were reversed)
    assert body["given"] == {"handovers": 4, "mass_kg": 244.0, "co2e_avoided_kg": 615.5}
    assert body["received"] == {"handovers": 0, "mass_kg": 0.0, "co2e_avoided_kg": 0.0}
    assert body["total"] == body["given"]
    received = operator.get(f"/api/v1/organisations/{ledger.project.pk}/impact/?{YEAR}").json()["received"]
    assert received == {"handovers": 3, "mass_kg": 211.0, "co2e_avoided_kg": 772.9}
    answer = member.get(url + "&format=csv")
    assert answer["Content-Disposition"] == (
        f'attachment; filename="boucle-impact-{ledger.firm_a.pk}-2025-01-01_2025-12-31.csv"'
    )
    csv_rows = list(csv.reader(io.StringIO(answer.content.decode())))
    assert csv_rows[0] == ["side", "handovers", "mass_kg", "co2e_avoided_kg"]
    assert csv_rows[1] == ["given", "4", "244.000", "615.500"]
    labelled = list(csv.reader(io.StringIO(member.get(url + "&format=csv&labels=true").content.decode())))
    assert labelled[0] == csv_rows[0]
    assert labelled[1] == [
        "Sens (given : donné, received : reçu, total)",
        "Remises",
        "Masse (kg)",
        "CO2e évité (kg)",
    ]
    assert labelled[2:] == csv_rows[1:]
    for stranger in (
        make_member(ledger.firm_b),
        make_member(ledger.roubaix),
        make_member(ledger.association),
    ):
        assert client_for(stranger).get(url).status_code == 404
    assert member.get("/api/v1/organisations/999999/impact/").status_code == 404


@pytest.mark.parametrize("group_by", ["f.mass_g", "territory_id) FROM impact_dailyrollup --", "organisation"])
def test_timeseries_for_refuses_a_grouping_it_does_not_know_itself(ledger, operator_user, group_by):
    """The grouping goes into the SQL text: the selector that writes it checks it, not only its callers."""
    actor = Actor.for_user(operator_user)
    query = stats_query_resolve(
        actor=actor, params=StatsParams(date_from=date(2025, 1, 1), date_to=date(2025, 12, 31))
    )
    with pytest.raises(InvalidInput) as refused:
        timeseries_for(query, interval="month", group_by=group_by)
    assert refused.value.field_errors == {"group_by": ["Regroupement inconnu."]}


def test_timeseries_for_groups_by_every_grouping_the_api_offers(ledger, operator_user):
    actor = Actor.for_user(operator_user)
    query = stats_query_resolve(
        actor=actor, params=StatsParams(date_from=date(2025, 1, 1), date_to=date(2025, 12, 31))
    )
    for group_by in (None, *GROUP_BYS):
        assert timeseries_for(query, interval="year", group_by=group_by)["group_by"] == group_by
