"""Loans and outliers in the statistics (issue 9): a loan never adds tonnage, CO2e, handovers or parties,
and has its own indicators (loans made, items lent, item-days lent, returned, returned on time); rows
flagged `outlier` are counted, filterable and listed; the rollups and the ledger give the same figures."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from claims import loans, services
from claims.models import Claim, Handover
from impact.models import PublicAuthorityTerritory
from impact.query import StatsParams
from impact.selectors import organisation_impact, stats_summary, stats_timeseries
from organisations.actors import Actor
from organisations.models import MembershipRole, OrganisationKind

from .conftest import (
    client_for,
    make_claim,
    make_ledger_row,
    make_member,
    make_offer,
    make_org,
    make_reversal,
    make_site,
)

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
PERIOD = "from=2025-05-01&to=2025-06-30"


def paris(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def params(date_from: date = date(2025, 5, 1), date_to: date = date(2025, 6, 30), **extra) -> StatsParams:
    return StatsParams(date_from=date_from, date_to=date_to, **extra)


def loan_row(donor, recipient, category, *, quantity, collected_at, territory, due=None, returned=None):
    """A loan handover through the ORM (0 kg CO2e, as the CHECK demands), its claim due and returned."""
    row = make_ledger_row(
        donor,
        recipient,
        category,
        mass_kg=Decimal(quantity) * 10,
        quantity=quantity,
        unit="piece",
        collected_at=collected_at,
        territory=territory,
        factor_basis="per_item",
        mode="loan",
        co2e_avoided_kg=Decimal("0.000"),
    )
    if due is not None:
        values = {"loan_due_at": due}
        if returned is not None:
            values |= {"returned_at": returned, "return_condition": "as_lent"}
        Claim.objects.filter(pk=row.claim_id).update(**values)
    return row


def loans_of(summary: dict) -> tuple:
    figures = summary["loans"]
    return (
        figures["made"],
        figures["items_lent"],
        figures["item_days_lent"],
        figures["returned"],
        figures["returned_on_time"],
        figures["returned_on_time_share"],
    )


def same_figures_both_ways(actor: Actor, stats: StatsParams) -> dict:
    """The summary and every time series from the rollups equal those from the ledger."""
    from_rollups = stats_summary(actor=actor, params=stats)
    from_ledger = stats_summary(actor=actor, params=stats, prefer_rollups=False)
    assert from_rollups.pop("computed_from") == "rollups"
    assert from_ledger.pop("computed_from") == "ledger"
    assert from_rollups == from_ledger
    for interval in ("day", "week", "month", "year"):
        for group_by in (None, "category", "territory", "recipient_kind"):
            series = [
                stats_timeseries(
                    actor=actor, params=stats, interval=interval, group_by=group_by, prefer_rollups=prefer
                )
                for prefer in (True, False)
            ]
            series[0].pop("computed_from"), series[1].pop("computed_from")
            assert series[0] == series[1], (interval, group_by)
    return from_rollups


# ---------------------------------------------------------------------------------------------------
# Loans through the services
# ---------------------------------------------------------------------------------------------------


def test_a_loan_never_changes_tonnes_co2e_handovers_or_parties(mel_territories, catalogue):
    roubaix = mel_territories["59512"]
    lender = make_org(OrganisationKind.COMPANY, name="Matériel partagé")
    site = make_site(lender)
    site.territory = roubaix
    site.save()
    borrower = make_org(OrganisationKind.ASSOCIATION, name="Les Amis du Quartier")
    taker = make_org(OrganisationKind.PROJECT, name="Jardin partagé")
    wood = catalogue["wood"]
    system = Actor.for_system()
    lender_actor = Actor.for_user(make_member(lender))

    donation = make_offer(lender, site=site, category=wood, quantity=10, unit="kg")
    donated = services.handover_record(actor=system, claim_id=make_claim(donation, taker, 10, accept=True).pk)
    today = donated.collected_at.astimezone(PARIS).date()
    stats = params(today - timedelta(days=30), today)
    before = stats_summary(actor=system, params=stats)
    assert (before["handovers"], before["mass_kg"], before["recipients"]) == (1, Decimal("10.000"), 1)
    assert before["co2e_avoided_kg"] == donated.co2e_avoided_kg > 0

    offer = make_offer(lender, site=site, category=wood, quantity=20, unit="kg", mode="loan")
    claim = make_claim(offer, borrower, 20, accept=True)
    assert claim.loan_due_at is not None
    lent = services.handover_record(actor=system, claim_id=claim.pk)
    assert (lent.mode, lent.mass_kg, lent.co2e_avoided_kg) == ("loan", Decimal("20.000"), Decimal("0.000"))

    during = same_figures_both_ways(system, stats)
    for key in ("handovers", "mass_kg", "tonnes_diverted", "co2e_avoided_kg", "donors", "recipients"):
        assert during[key] == before[key], key
    assert during["factors"] == before["factors"]
    assert loans_of(during)[:2] == (1, Decimal("20.000"))
    assert during["loans"]["returned"] == 0

    loans.claim_return(actor=lender_actor, claim_id=claim.pk, condition="as_lent")
    after = same_figures_both_ways(system, stats)
    for key in ("handovers", "mass_kg", "tonnes_diverted", "co2e_avoided_kg", "donors", "recipients"):
        assert after[key] == before[key], key
    made, items, _days, returned, on_time, share = loans_of(after)
    assert (made, items, returned, on_time, share) == (1, Decimal("20.000"), 1, 1, Decimal("1.0000"))

    # The borrower's own impact page: nothing received; the loan is still in its loan indicators.
    impact = organisation_impact(actor=system, organisation_id=borrower.pk, params=stats)
    assert impact["total"] == {
        "handovers": 0,
        "mass_kg": Decimal("0.000"),
        "co2e_avoided_kg": Decimal("0.000"),
    }
    mine = stats_summary(actor=Actor.for_user(make_member(borrower)), params=stats)
    assert (mine["handovers"], mine["mass_kg"], mine["loans"]["made"]) == (0, Decimal("0.000"), 1)

    # The choropleth: Roubaix holds the donation only.
    operator = client_for(make_member(make_org(OrganisationKind.OPERATOR)))
    url = f"/api/v1/stats/territories/?from={stats.date_from}&to={stats.date_to}&territory=59512"
    properties = operator.get(url).json()["features"][0]["properties"]
    assert (properties["handovers"], properties["mass_kg"]) == (1, 10.0)
    # The ledger lists the loan row, marked as such.
    listed = operator.get(f"/api/v1/stats/ledger/?from={stats.date_from}&to={stats.date_to}").json()
    by_id = {row["id"]: row for row in listed["results"]}
    assert (by_id[lent.pk]["mode"], by_id[lent.pk]["co2e_avoided_kg"]) == ("loan", 0.0)
    assert by_id[donated.pk]["mode"] == "donation"


# ---------------------------------------------------------------------------------------------------
# Loan indicators on a known scenario
# ---------------------------------------------------------------------------------------------------


@pytest.fixture
def lending(mel_territories, catalogue):
    """Loans in May and June 2025 (no DST change), in Roubaix unless said:
    A 3 items 10 → 15 May, due 20 May (on time): 15 item-days in May;
    B 2 items 25 May → 5 June 12:00, due 1 June (late): 14 item-days in May, 9 in June;
    C 1 item from 10 June, never returned: 21 item-days up to the end of June;
    D 4 items on 12 May, reversed (nothing), its claim "returned" on 13 May: not a loan any more;
    E 5 items in Lille, 1 → 2 May, due 3 May (on time): 5 item-days.
    And one donation of 100 kg in Roubaix in May."""
    t = mel_territories
    lender = make_org(OrganisationKind.COMPANY, name="Ludothèque")
    borrower = make_org(OrganisationKind.ASSOCIATION, name="Centre social")
    chair = catalogue["wooden_chair"]
    rows = {
        "A": loan_row(
            lender, borrower, chair, quantity=3, collected_at=paris(2025, 5, 10), territory=t["59512"],
            due=paris(2025, 5, 20), returned=paris(2025, 5, 15),
        ),
        "B": loan_row(
            lender, borrower, chair, quantity=2, collected_at=paris(2025, 5, 25), territory=t["59512"],
            due=paris(2025, 6, 1), returned=paris(2025, 6, 5, 12),
        ),
        "C": loan_row(
            lender, borrower, chair, quantity=1, collected_at=paris(2025, 6, 10), territory=t["59512"],
            due=paris(2025, 6, 20),
        ),
        "D": loan_row(
            lender, borrower, chair, quantity=4, collected_at=paris(2025, 5, 12), territory=t["59512"],
            due=paris(2025, 5, 20), returned=paris(2025, 5, 13),
        ),
        "E": loan_row(
            lender, borrower, chair, quantity=5, collected_at=paris(2025, 5, 1), territory=t["59350"],
            due=paris(2025, 5, 3), returned=paris(2025, 5, 2),
        ),
    }  # fmt: skip
    rows["D-reversal"] = make_reversal(rows["D"])
    rows["donation"] = make_ledger_row(
        lender,
        borrower,
        catalogue["wood"],
        mass_kg="100",
        collected_at=paris(2025, 5, 5),
        territory=t["59512"],
    )
    city = make_org(OrganisationKind.PUBLIC_AUTHORITY, name="Ville de Roubaix")
    PublicAuthorityTerritory.objects.create(organisation=city, territory=t["59512"])
    return {"rows": rows, "city": city, "lender": lender, "borrower": borrower}


def test_loan_indicators_of_the_period(lending):
    operator = Actor.for_user(make_member(make_org(OrganisationKind.OPERATOR)))
    summary = same_figures_both_ways(operator, params())
    assert (summary["handovers"], summary["mass_kg"], summary["co2e_avoided_kg"]) == (
        1,
        Decimal("100.000"),
        Decimal("100.000"),
    )
    assert loans_of(summary) == (4, Decimal("11.000"), Decimal("64.00"), 3, 2, Decimal("0.6667"))
    city = Actor.for_user(make_member(lending["city"], MembershipRole.MEMBER))
    assert loans_of(stats_summary(actor=city, params=params())) == (
        3,
        Decimal("6.000"),
        Decimal("59.00"),
        2,
        1,
        Decimal("0.5000"),
    )
    # Part of a period: item-days within it only (B 25 May → 5 June 12:00, C 10 → 11 June).
    part = stats_summary(actor=operator, params=params(date(2025, 5, 20), date(2025, 6, 10)))
    assert loans_of(part) == (2, Decimal("3.000"), Decimal("24.00"), 1, 0, Decimal("0.0000"))
    # The borrower sees its own loans; another organisation none.
    borrower = Actor.for_user(make_member(lending["borrower"]))
    assert stats_summary(actor=borrower, params=params())["loans"]["made"] == 4
    stranger = Actor.for_user(make_member(make_org(OrganisationKind.COMPANY)))
    assert loans_of(stats_summary(actor=stranger, params=params())) == (
        0,
        Decimal("0.000"),
        Decimal("0.00"),
        0,
        0,
        None,
    )


def test_loan_indicators_per_bucket(lending):
    operator = Actor.for_user(make_member(make_org(OrganisationKind.OPERATOR)))
    series = stats_timeseries(actor=operator, params=params(), interval="month")
    may, june = (point["loans"] for point in series["points"])
    assert may == {
        "made": 3,
        "items_lent": Decimal("10.000"),
        "item_days_lent": Decimal("34.00"),
        "returned": 2,
        "returned_on_time": 2,
        "returned_on_time_share": Decimal("1.0000"),
    }
    assert june == {
        "made": 1,
        "items_lent": Decimal("1.000"),
        "item_days_lent": Decimal("30.00"),
        "returned": 1,
        "returned_on_time": 0,
        "returned_on_time_share": Decimal("0.0000"),
    }
    assert [p["tonnes"] for p in series["points"]] == [Decimal("0.100000"), Decimal("0.000000")]
    # Grouped by territory: Lille appears for its loan alone, with no tonnage.
    by_territory = stats_timeseries(actor=operator, params=params(), interval="month", group_by="territory")
    lille_may = next(p for p in by_territory["points"] if p["group"] == "59350" and p["bucket"].month == 5)
    assert (lille_may["tonnes"], lille_may["loans"]["made"], lille_may["loans"]["item_days_lent"]) == (
        Decimal("0.000000"),
        1,
        Decimal("5.00"),
    )
    days = stats_timeseries(actor=operator, params=params(), interval="day")["points"]
    assert sum(p["loans"]["item_days_lent"] for p in days) == Decimal("64.00")
    assert sum(p["loans"]["made"] for p in days) == 4


def test_loan_indicators_in_the_api_and_csv(lending, operator_user):
    api = client_for(operator_user)
    body = api.get(f"/api/v1/stats/summary/?{PERIOD}").json()
    assert body["loans"] == {
        "made": 4,
        "items_lent": 11.0,
        "item_days_lent": 64.0,
        "returned": 3,
        "returned_on_time": 2,
        "returned_on_time_share": 0.6667,
    }
    french = list(
        csv.reader(io.StringIO(api.get(f"/api/v1/stats/summary/?{PERIOD}&format=csv").content.decode()))
    )
    assert ["loans.made", "Prêts consentis", "4"] in french
    assert ["loans.item_days_lent", "Jours-objets prêtés", "64.00"] in french
    assert ["loans.returned_on_time_share", "Part des prêts rendus à temps", "0.6667"] in french
    english = api.get(f"/api/v1/stats/summary/?{PERIOD}&format=csv", HTTP_ACCEPT_LANGUAGE="en")
    assert ["loans.returned_on_time", "Loans returned on time", "2"] in list(
        csv.reader(io.StringIO(english.content.decode()))
    )
    series = api.get(
        f"/api/v1/stats/timeseries/?{PERIOD}&interval=month&format=csv", HTTP_ACCEPT_LANGUAGE="en"
    )
    table = list(csv.DictReader(io.StringIO(series.content.decode())))
    assert [
        (r["bucket"], r["loans_made"], r["item_days_lent"], r["loans_returned_on_time"]) for r in table
    ] == [
        ("2025-05-01", "3", "34.00", "2"),
        ("2025-06-01", "1", "30.00", "0"),
    ]


# ---------------------------------------------------------------------------------------------------
# Outliers
# ---------------------------------------------------------------------------------------------------


@pytest.fixture
def outliers(mel_territories, catalogue):
    """Donations in Roubaix: R1 100 kg outlier (5 May), R2 40 kg (6 May), R3 60 kg outlier (2 June)
    reversed, R4 25 kg outlier (3 June); and a 500 kg outlier loan, which is not diverted."""
    t, wood = mel_territories, catalogue["wood"]
    firm = make_org(OrganisationKind.COMPANY)
    association = make_org(OrganisationKind.ASSOCIATION)
    flagged = {"outlier": True, "mass_confirmed": True}

    def row(mass, when, **extra):
        return make_ledger_row(
            firm, association, wood, mass_kg=mass, collected_at=when, territory=t["59512"], **extra
        )

    rows = {
        "R1": row("100", paris(2025, 5, 5), expected_mass_kg=Decimal("10.000"), **flagged),
        "R2": row("40", paris(2025, 5, 6)),
        "R3": row("60", paris(2025, 6, 2), **flagged),
        "R4": row("25", paris(2025, 6, 3), **flagged),
        "loan": row("500", paris(2025, 6, 4), mode="loan", co2e_avoided_kg=Decimal("0.000"), **flagged),
    }
    rows["R3-reversal"] = make_reversal(rows["R3"])
    return rows


def test_outliers_are_counted_with_their_share_of_the_tonnage(outliers, operator_user):
    operator = Actor.for_user(operator_user)
    summary = same_figures_both_ways(operator, params())
    assert (summary["handovers"], summary["mass_kg"]) == (3, Decimal("165.000"))
    assert summary["outliers"] == {
        "handovers": 2,
        "mass_kg": Decimal("125.000"),
        "tonnes": Decimal("0.125000"),
        "share_of_tonnage": Decimal("0.7576"),
    }
    points = stats_timeseries(actor=operator, params=params(), interval="month")["points"]
    assert [p["outliers"] for p in points] == [
        {"handovers": 1, "tonnes": Decimal("0.100000")},
        {"handovers": 1, "tonnes": Decimal("0.025000")},
    ]
    nothing = stats_summary(actor=operator, params=params(date(2025, 1, 1), date(2025, 1, 31)))
    assert nothing["outliers"] == {
        "handovers": 0,
        "mass_kg": Decimal("0.000"),
        "tonnes": Decimal("0.000000"),
        "share_of_tonnage": None,
    }


def test_the_outlier_filter_keeps_only_them_or_only_the_others(outliers, operator_user):
    operator = Actor.for_user(operator_user)
    only = stats_summary(actor=operator, params=params(outlier=True))
    assert (only["computed_from"], only["handovers"], only["mass_kg"], only["donors"]) == (
        "ledger",
        2,
        Decimal("125.000"),
        1,
    )
    assert only["outliers"]["share_of_tonnage"] == Decimal("1.0000")
    others = stats_summary(actor=operator, params=params(outlier=False))
    assert (others["handovers"], others["mass_kg"], others["outliers"]["handovers"]) == (
        1,
        Decimal("40.000"),
        0,
    )
    series = stats_timeseries(actor=operator, params=params(outlier=True), interval="month")
    assert [p["tonnes"] for p in series["points"]] == [Decimal("0.100000"), Decimal("0.025000")]
    assert series["computed_from"] == "ledger"

    api = client_for(operator_user)
    body = api.get(f"/api/v1/stats/summary/?{PERIOD}&outlier=true").json()
    assert (body["handovers"], body["mass_kg"]) == (2, 125.0)
    assert api.get(f"/api/v1/stats/summary/?{PERIOD}&outlier=false").json()["handovers"] == 1
    assert (
        api.get(f"/api/v1/stats/timeseries/?{PERIOD}&interval=year&outlier=true").json()["points"][0][
            "handovers"
        ]
        == 2
    )


@pytest.mark.parametrize("value", ["yes", "1", "True", "TRUE"])
@pytest.mark.parametrize("route", ["summary", "timeseries", "ledger"])
def test_the_outlier_filter_is_strict(outliers, operator_user, route, value):
    api = client_for(operator_user)
    extra = "&interval=month" if route == "timeseries" else ""
    messages = (
        ("en", f'"{value}" is not a valid choice.'),
        ("fr", f"«\u00a0{value}\u00a0» n'est pas un choix valide."),
    )
    for language, message in messages:
        response = api.get(
            f"/api/v1/stats/{route}/?{PERIOD}{extra}&outlier={value}", HTTP_ACCEPT_LANGUAGE=language
        )
        assert response.status_code == 400
        body = response.json()
        assert (body["code"], body["errors"]) == (
            "validation_error",
            [{"field": "outlier", "code": "invalid_choice", "message": message}],
        )


def test_the_outlier_filter_is_given_once(outliers, operator_user):
    response = client_for(operator_user).get(f"/api/v1/stats/summary/?{PERIOD}&outlier=true&outlier=false")
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["outlier"]


def test_the_ledger_lists_and_filters_outliers(outliers, operator_user):
    api = client_for(operator_user)
    listed = api.get(f"/api/v1/stats/ledger/?{PERIOD}&outlier=true").json()["results"]
    expected = {outliers[k].pk for k in ("R1", "R3", "R3-reversal", "R4", "loan")}
    assert {row["id"] for row in listed} == expected
    r1 = next(row for row in listed if row["id"] == outliers["R1"].pk)
    assert {k: r1[k] for k in ("outlier", "mass_confirmed", "expected_mass_kg", "mode", "corrects")} == {
        "outlier": True,
        "mass_confirmed": True,
        "expected_mass_kg": 10.0,
        "mode": "donation",
        "corrects": None,
    }
    others = api.get(f"/api/v1/stats/ledger/?{PERIOD}&outlier=false").json()["results"]
    assert [row["id"] for row in others] == [outliers["R2"].pk]
    streamed = api.get(f"/api/v1/stats/ledger/?{PERIOD}&outlier=true&format=csv", HTTP_ACCEPT_LANGUAGE="en")
    lines = list(csv.DictReader(io.StringIO(b"".join(streamed.streaming_content).decode())))
    assert sorted(int(line["id"]) for line in lines) == sorted(expected)
    assert {line["outlier"] for line in lines} == {"true"}
    assert {line["mode"] for line in lines} == {"donation", "loan"}
    first = list(
        csv.reader(
            io.StringIO(
                b"".join(api.get(f"/api/v1/stats/ledger/?{PERIOD}&format=csv").streaming_content).decode()
            )
        )
    )[0]
    assert first[-6:] == [
        "corrects",
        "mode",
        "outlier",
        "mass_confirmed",
        "expected_mass_kg",
        "factor_items",
    ]
    labelled = b"".join(api.get(f"/api/v1/stats/ledger/?{PERIOD}&format=csv&labels=true").streaming_content)
    assert list(csv.reader(io.StringIO(labelled.decode())))[1][-6:] == [
        "Corrige la ligne",
        "Mode",
        "Aberrante",
        "Masse confirmée",
        "Masse attendue (kg)",
        "Objets du facteur",
    ]


def test_a_confirmed_outlier_recorded_through_the_service_is_counted(mel_territories, catalogue):
    lender = make_org(OrganisationKind.COMPANY)
    site = make_site(lender)
    site.territory = mel_territories["59512"]
    site.save()
    offer = make_offer(lender, site=site, category=catalogue["wood"], quantity=10, unit="kg")
    claim = make_claim(offer, quantity=10, accept=True)
    row = services.handover_record(
        actor=Actor.for_system(), claim_id=claim.pk, mass_kg=Decimal("100"), mass_confirmed=True
    )
    assert (row.outlier, row.mass_confirmed, row.expected_mass_kg) == (True, True, Decimal("10.000"))
    today = row.collected_at.astimezone(PARIS).date()
    summary = same_figures_both_ways(Actor.for_system(), params(today, today))
    assert summary["outliers"] == {
        "handovers": 1,
        "mass_kg": Decimal("100.000"),
        "tonnes": Decimal("0.100000"),
        "share_of_tonnage": Decimal("1.0000"),
    }
    services.handover_reverse(actor=Actor.for_system(), handover_id=row.pk, reason="misweighed")
    assert Handover.objects.filter(reverses=row).get().outlier is True
    after = same_figures_both_ways(Actor.for_system(), params(today, today))
    assert (after["handovers"], after["outliers"]["handovers"], after["outliers"]["mass_kg"]) == (
        0,
        0,
        Decimal("0.000"),
    )


# ---------------------------------------------------------------------------------------------------
# The dashboard
# ---------------------------------------------------------------------------------------------------


def session_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def figures(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-figure="([a-z_.]+)" data-value="([^"]*)"', html))


def test_the_dashboard_shows_outliers_and_loans(outliers, lending, operator_user):
    html = session_for(operator_user).get(f"/dashboard/?{PERIOD}&lang=en").content.decode()
    shown = figures(html)
    assert {k: shown[k] for k in ("tonnes_diverted", "outliers.handovers", "outliers.mass_kg")} == {
        "tonnes_diverted": "0.265000",
        "outliers.handovers": "2",
        "outliers.mass_kg": "125.000",
    }
    assert shown["outliers.share_of_tonnage"] == "0.4717"
    # The lending fixture's loans, and the outliers fixture's loan of 500 kg still out from 4 June.
    assert (shown["loans.made"], shown["loans.item_days_lent"], shown["loans.returned_on_time_share"]) == (
        "5",
        "13564.00",
        "0.6667",
    )
    assert "Confirmed outliers" in html and "item-days lent" in html and 'id="loans-chart"' in html
    link = re.search(r'data-table="outliers" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert link == f"/dashboard/export/ledger/?{PERIOD}&outlier=true&format=csv&labels=true&lang=en"
    download = session_for(operator_user).get(link)
    assert download.status_code == 200
    labels, *lines = csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode()))
    assert (labels["id"], labels["outlier"]) == ("Id", "Outlier")  # people read the labels row
    assert {line["outlier"] for line in lines} == {"true"}
    assert len(lines) == 5

    french = session_for(operator_user).get(f"/dashboard/?{PERIOD}&lang=fr").content.decode()
    assert "Valeurs aberrantes confirmées" in french and "jours-objets prêtés" in french  # after the PO merge


def test_an_organisation_sees_no_link_to_the_anonymised_ledger(outliers):
    firm = Handover.objects.get(pk=outliers["R1"].pk).donor
    client = session_for(make_member(firm))
    html = client.get(f"/dashboard/?{PERIOD}").content.decode()
    assert figures(html)["outliers.handovers"] == "2"
    assert 'data-table="outliers"' not in html
    assert client.get(f"/dashboard/export/ledger/?{PERIOD}&outlier=true&format=csv").status_code == 403
