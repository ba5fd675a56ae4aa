"""The city's dashboard (`/dashboard/`): scoped like the API, French and English, figures equal to the
API's, an SVG chart and map, CSV downloads; and once in a real headless browser (Debian's chromium)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import translation

from impact.models import PublicAuthorityTerritory
from organisations.models import MembershipRole, Organisation, OrganisationKind, User
from web import formatting, maps
from web.forms import default_period

from .conftest import client_for, make_ledger_row, make_member, make_org, make_reversal, make_user

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
YEAR = "from=2025-01-01&to=2025-12-31"
PASSWORD = "correct-horse-battery-9"
NBSP, NNBSP = "\u00a0", "\u202f"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def paris(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


@dataclass
class Ledger:
    firm: Organisation
    other_firm: Organisation
    association: Organisation
    roubaix: Organisation
    territories: dict


def build_ledger(mel_territories, catalogue) -> Ledger:
    """2025: wood 1200 kg and a sofa pair 74 kg and laptops 12 kg in Roubaix, textiles 850.5 kg in Lille,
    wood 300 kg in Tourcoing at 23:30 on 31 March (March in Paris), 100 kg of wood in Roubaix reversed;
    and 999 kg on 31 December 2024, outside the year. Net: 2436.5 kg, 7872.3 kg CO2e, 5 handovers."""
    firm = make_org(OrganisationKind.COMPANY, name="Ateliers du Meuble")
    other_firm = make_org(OrganisationKind.COMPANY, name="Textiles du Nord")
    association = make_org(OrganisationKind.ASSOCIATION, name="Repair Café Roubaix")
    roubaix = make_org(OrganisationKind.PUBLIC_AUTHORITY, name="Ville de Roubaix")
    t, c = mel_territories, catalogue
    PublicAuthorityTerritory.objects.create(organisation=roubaix, territory=t["59512"])
    row = make_ledger_row
    row(
        firm,
        association,
        c["wood"],
        mass_kg="1200",
        collected_at=paris(2025, 1, 15, 10),
        territory=t["59512"],
        factor_kgco2e="0.31",
    )
    row(
        other_firm,
        association,
        c["textiles"],
        mass_kg="850.5",
        collected_at=paris(2025, 2, 20, 15),
        territory=t["59350"],
        mass_method="estimated",
        factor_kgco2e="7.0",
        factor_status="indicative",
        factor_source="UK DESNZ 2024 textiles",
    )
    row(
        firm,
        association,
        c["sofa"],
        mass_kg="74",
        quantity=2,
        unit="piece",
        collected_at=paris(2025, 3, 10, 9),
        territory=t["59512"],
        mass_method="declared",
        factor_basis="per_item",
        factor_kgco2e="179.1",
    )
    row(
        other_firm,
        association,
        c["wood"],
        mass_kg="300",
        collected_at=paris(2025, 3, 31, 23, 30),
        territory=t["59599"],
        factor_kgco2e="0.31",
    )
    row(
        firm,
        association,
        c["laptop"],
        mass_kg="12",
        quantity=6,
        unit="piece",
        collected_at=paris(2025, 6, 5, 14),
        territory=t["59512"],
        factor_basis="per_item",
        factor_kgco2e="182.6",
    )
    make_reversal(
        row(
            firm,
            association,
            c["wood"],
            mass_kg="100",
            collected_at=paris(2025, 7, 1, 10),
            territory=t["59512"],
            factor_kgco2e="0.31",
        )
    )
    row(
        firm,
        association,
        c["wood"],
        mass_kg="999",
        collected_at=paris(2024, 12, 31, 12),
        territory=t["59512"],
    )
    return Ledger(firm, other_firm, association, roubaix, t)


@pytest.fixture
def ledger(mel_territories, catalogue) -> Ledger:
    return build_ledger(mel_territories, catalogue)


def session_for(user: User, **headers) -> Client:
    client = Client(**headers)
    client.force_login(user)
    return client


def figures(html: str) -> dict[str, str]:
    """data-figure name → data-value of the headline figures."""
    return dict(re.findall(r'data-figure="([a-z0-9_]+)" data-value="([^"]*)"', html))


def figure_text(html: str, name: str) -> str:
    match = re.search(rf'data-figure="{name}" data-value="[^"]*">([^<]*)<', html)
    assert match, name
    return match.group(1)


def commune_classes(html: str) -> dict[str, str]:
    return dict(
        (code, css) for css, code in re.findall(r'<path class="commune ([a-z0-9 ]+)" data-code="(\d+)"', html)
    )


# ---------------------------------------------------------------------------------------------------
# Who may see it
# ---------------------------------------------------------------------------------------------------


def test_unauthenticated_is_redirected_to_the_login_page(anon):
    response = Client().get("/dashboard/?from=2025-01-01")
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/login/?next=/dashboard/%3Ffrom%3D2025-01-01"


def test_the_login_page_logs_a_person_in(operator_user):
    client = Client()
    page = client.get("/dashboard/login/")
    assert page.status_code == 200
    assert "Se connecter" in page.content.decode()
    assert '<label for="id_username">Adresse électronique</label>' in page.content.decode()
    wrong = client.post("/dashboard/login/", {"username": operator_user.email, "password": "nope-nope-nope"})
    assert wrong.status_code == 200
    assert 'class="form-errors"' in wrong.content.decode()
    response = client.post(
        "/dashboard/login/",
        {"username": operator_user.email.upper(), "password": PASSWORD, "next": "/dashboard/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"
    assert client.get("/dashboard/").status_code == 200


def test_the_csv_downloads_need_a_session(ledger):
    assert Client().get(f"/dashboard/export/summary/?{YEAR}&format=csv").status_code == 403


# ---------------------------------------------------------------------------------------------------
# Figures, languages, filters
# ---------------------------------------------------------------------------------------------------


def test_french_by_default_with_french_numbers(ledger, operator_user):
    html = session_for(operator_user).get(f"/dashboard/?{YEAR}").content.decode()
    assert '<html lang="fr">' in html
    assert "Tableau de bord de l’impact" in html
    assert "Détourné des déchets" in html
    assert "Tonnes détournées par mois, par catégorie" in html
    assert figures(html) == {
        "tonnes_diverted": "2.436500",
        "co2e_avoided_kg": "7872.300",
        "handovers": "5",
        "donors": "2",
        "recipients": "1",
        "offers_published": "0",
        "published_mass_claimed_7d_share": "",
        "median_hours_to_first_claim": "",
        "mass_wasted_kg": "0.000",
        "open_needs_without_match": "0",
    }
    assert figure_text(html, "tonnes_diverted") == f"2,4{NBSP}t"
    assert figure_text(html, "co2e_avoided_kg") == f"7,9{NBSP}t{NBSP}CO₂e"
    assert "du 1 janvier 2025 au 31 décembre 2025" in html.lower()


def _dotted_figure(html: str, name: str) -> tuple[str, str]:
    """(data-value, text) of a panel figure with a dotted name (`outcomes.people_reached`)."""
    match = re.search(rf'data-figure="{re.escape(name)}" data-value="([^"]*)">([^<]*)<', html)
    assert match, name
    return match.group(1), match.group(2)


def test_who_benefited_beside_the_tonnage(ledger, operator_user):
    from claims.models import Handover
    from impact.outcomes import OutcomeFigures, outcome_report
    from organisations.actors import Actor

    live = Handover.objects.filter(
        reverses__isnull=True, reversed_by__isnull=True, collected_at__year=2025
    ).order_by("id")
    first, second = live[:2]
    for row, figures_reported in (
        (first, OutcomeFigures(people_reached=1200, young_people=300, seniors=450, use="digital_inclusion")),
        (
            second,
            OutcomeFigures(
                people_reached=8, young_people=8, use="youth_workshop", volunteer_hours=Decimal("12.5")
            ),
        ),
    ):
        outcome_report(actor=Actor.for_system(), handover_id=row.pk, figures=figures_reported)
    client = session_for(operator_user)
    html = client.get(f"/dashboard/?{YEAR}").content.decode()
    assert "Qui en a bénéficié" in html
    assert _dotted_figure(html, "outcomes.people_reached") == ("1208", f"1{NBSP}208")
    assert _dotted_figure(html, "outcomes.young_people") == ("308", "308")
    assert _dotted_figure(html, "outcomes.seniors") == ("450", "450")
    assert _dotted_figure(html, "outcomes.volunteer_hours") == ("12.5", "13")
    share, shown = _dotted_figure(html, "outcomes.share_reported")
    assert shown.endswith("%") and Decimal(share) == (Decimal(2) / live.count()).quantize(Decimal("0.0001"))
    uses = re.findall(r'<tr data-use="([a-z_]+)"><td>([^<]+)</td>', html)
    assert uses == [
        ("digital_inclusion", "Kits d’inclusion numérique"),
        ("youth_workshop", "Atelier jeunesse"),
    ]
    # Each line chart names its own unit (the loans' and the people's said "t CO₂e" before).
    units = {
        figure.group(1): re.search(r'class="unit"[^>]*>([^<]*)<', figure.group(2)).group(1)
        for figure in re.finditer(r'<figure class="chart" id="([a-z0-9-]+)">(.*?)</figure>', html, re.S)
    }
    assert units["people-chart"] == "personnes"
    assert units["co2e-chart"] == f"t{NBSP}CO₂e"
    # By territory too: the leading territories show their people reached.
    people_by_territory = dict(re.findall(r'data-territory-people="(\d+)">([^<]*)<', html))
    codes = {row.territory.code for row in (first, second) if row.territory is not None}
    assert codes and codes <= set(people_by_territory)
    assert sum(int(people_by_territory[code].replace(NBSP, "")) for code in codes) == 1208
    english = (
        session_for(operator_user, HTTP_ACCEPT_LANGUAGE="en").get(f"/dashboard/?{YEAR}").content.decode()
    )
    assert "Who benefited" in english
    assert _dotted_figure(english, "outcomes.people_reached")[1] == "1,208"


def test_english_by_accept_language_and_by_the_lang_switch(ledger, operator_user):
    client = session_for(operator_user, HTTP_ACCEPT_LANGUAGE="en")
    html = client.get(f"/dashboard/?{YEAR}").content.decode()
    assert '<html lang="en">' in html
    assert "Impact dashboard" in html and "Diverted from waste" in html
    assert "Tonnes diverted per month, by category" in html
    assert figure_text(html, "tonnes_diverted") == f"2.4{NBSP}t"
    assert figure_text(html, "co2e_avoided_kg") == f"7.9{NBSP}t{NBSP}CO₂e"

    french_browser = session_for(operator_user, HTTP_ACCEPT_LANGUAGE="fr")
    switched = french_browser.get(f"/dashboard/?{YEAR}&lang=en")
    assert "Impact dashboard" in switched.content.decode()
    assert switched.cookies["django_language"].value == "en"
    # The cookie keeps the choice for the next page (and the CSV downloads).
    assert "Impact dashboard" in french_browser.get(f"/dashboard/?{YEAR}").content.decode()
    assert "Tableau de bord" in french_browser.get(f"/dashboard/?{YEAR}&lang=fr").content.decode()


def test_number_formats_follow_the_language():
    with translation.override("fr"):
        assert formatting.tonnes(Decimal("12.5")) == f"12,5{NBSP}t"
        assert formatting.tonnes(Decimal("1234.56")) == f"1{NBSP}234,6{NBSP}t"
        assert formatting.tonnes(Decimal("0.0455")) == f"0,046{NBSP}t"
        assert formatting.tonnes(Decimal("0")) == f"0{NBSP}t"
        assert formatting.tonnes(Decimal("-0.01")) == f"-0,010{NBSP}t"
        assert formatting.percent(Decimal("0.6250")) == f"63{NNBSP}%"
    with translation.override("en"):
        assert formatting.tonnes(Decimal("1234.56")) == f"1,234.6{NBSP}t"
        assert formatting.percent(Decimal("0.6250")) == "63%"
        assert formatting.percent(None) == "–"


def test_the_default_period_is_the_current_month_and_the_eleven_before():
    assert default_period(date(2026, 11, 25)) == (date(2025, 12, 1), date(2026, 11, 25))
    assert default_period(date(2026, 1, 5)) == (date(2025, 2, 1), date(2026, 1, 5))
    assert default_period(date(2026, 12, 31)) == (date(2026, 1, 1), date(2026, 12, 31))


def test_a_person_without_an_organisation_sees_nothing(ledger):
    html = session_for(make_user()).get(f"/dashboard/?{YEAR}").content.decode()
    assert "membre d’aucune organisation" in html
    assert figures(html)["tonnes_diverted"] == "0.000000"
    assert re.findall(r'<option value="(\d+)"', html) == []
    assert set(commune_classes(html).values()) == {"muted"}


def test_filters_change_the_figures_exactly(ledger, operator_user):
    client = session_for(operator_user)
    roubaix = client.get(f"/dashboard/?{YEAR}&territory=59512").content.decode()
    assert figures(roubaix)["tonnes_diverted"] == "1.286000"
    assert figures(roubaix)["co2e_avoided_kg"] == "1825.800"  # 372 + 358.2 + 1095.6 (+31 −31)
    assert figures(roubaix)["handovers"] == "3"
    assert figure_text(roubaix, "tonnes_diverted") == f"1,3{NBSP}t"
    assert '<option value="59512" selected>' in roubaix

    february = client.get("/dashboard/?from=2025-02-01&to=2025-02-28").content.decode()
    assert figures(february)["tonnes_diverted"] == "0.850500"
    assert figure_text(february, "tonnes_diverted") == f"0,851{NBSP}t"
    # 23:30 on 31 March in Paris is March.
    march = client.get("/dashboard/?from=2025-03-01&to=2025-03-31").content.decode()
    assert figures(march)["tonnes_diverted"] == "0.374000"
    assert (
        figures(client.get("/dashboard/?from=2024-12-31&to=2024-12-31").content.decode())["tonnes_diverted"]
        == "0.999000"
    )


def test_the_page_equals_the_api_for_the_same_filters(ledger, operator_user):
    for query in (YEAR, f"{YEAR}&territory=59512", "from=2025-03-01&to=2025-07-31&territory=59599"):
        html = session_for(operator_user).get(f"/dashboard/?{query}").content.decode()
        api = client_for(operator_user).get(f"/api/v1/stats/summary/?{query}").json()
        for name, value in figures(html).items():
            expected = "" if api[name] is None else Decimal(str(api[name]))
            assert (Decimal(value) if value else "") == expected, (query, name)


def test_the_chart_has_bars_for_the_categories_present(ledger, operator_user):
    html = session_for(operator_user).get(f"/dashboard/?{YEAR}").content.decode()
    bars = re.findall(r'<rect class="bar" data-group="([a-z_]+)" data-bucket="([0-9-]+)"', html)
    assert sorted(bars) == [
        ("eee", "2025-06-01"),
        ("furniture", "2025-03-01"),
        ("textiles", "2025-02-01"),
        ("wood", "2025-01-01"),
        ("wood", "2025-03-01"),
    ]  # July nets to zero: no bar
    assert re.findall(r'<li data-group="([a-z_]+)">', html) == ["eee", "furniture", "textiles", "wood"]
    assert "<title>Bois, janvier 2025\u00a0: 1,2\u00a0t</title>" in html
    assert html.count('<circle class="dot"') == 12  # one CO2e point per month


def test_the_map_shades_every_commune_by_tonnes(ledger, operator_user):
    html = session_for(operator_user).get(f"/dashboard/?{YEAR}").content.decode()
    classes = commune_classes(html)
    assert len(classes) == 95
    assert classes["59512"] == "q4"  # Roubaix, the top commune: 1.286 t
    assert classes["59350"] == "q3"  # Lille: 0.8505 / 1.286 of the top → third quarter
    assert classes["59599"] == "q1"  # Tourcoing: 0.3 t
    assert sum(1 for css in classes.values() if css == "q0") == 92
    assert "<title>Roubaix\u00a0: 1,3\u00a0t, 1,8\u00a0t\u00a0CO₂e</title>" in html
    assert "Contours\u00a0: ADMIN EXPRESS (IGN)" in html  # the boundaries' attribution


def test_a_public_authority_sees_its_territory_only(ledger):
    mayor = make_member(ledger.roubaix, MembershipRole.MEMBER)
    html = session_for(mayor).get(f"/dashboard/?{YEAR}").content.decode()
    assert figures(html)["tonnes_diverted"] == "1.286000"
    assert re.findall(r'<option value="(\d+)"', html) == ["59512"]
    classes = commune_classes(html)
    assert classes["59512"] == "q4"
    assert {css for code, css in classes.items() if code != "59512"} == {"muted"}


def test_an_organisation_sees_its_own_impact(ledger):
    member = make_member(ledger.other_firm, MembershipRole.MEMBER)
    html = session_for(member).get(f"/dashboard/?{YEAR}").content.decode()
    assert figures(html)["tonnes_diverted"] == "1.150500"  # textiles 850.5 + wood 300
    assert "Textiles du Nord" in html


def test_a_territory_outside_the_scope_is_a_404_page(ledger):
    mayor = make_member(ledger.roubaix, MembershipRole.MEMBER)
    for territory in ("59350", "00000"):
        response = session_for(mayor).get(f"/dashboard/?{YEAR}&territory={territory}")
        assert response.status_code == 404
        assert response["Content-Type"].startswith("text/html")
        assert "en dehors des territoires" in response.content.decode()


def test_bad_filters_are_a_400_page_with_the_message(ledger, operator_user):
    client = session_for(operator_user)
    inverted = client.get("/dashboard/?from=2025-12-31&to=2025-01-01")
    assert inverted.status_code == 400
    assert 'class="field-error"' in inverted.content.decode()
    assert 'data-figure="' not in inverted.content.decode()
    assert client.get("/dashboard/?from=2025-13-01").status_code == 400
    assert client.get("/dashboard/?from=2015-01-01&to=2025-12-31").status_code == 400


def test_the_csv_links_carry_the_filters_and_match_the_api(ledger, operator_user):
    client = session_for(operator_user)
    html = client.get(f"/dashboard/?{YEAR}&territory=59512").content.decode()
    links = dict(re.findall(r'data-table="([a-z]+)" href="([^"]+)"', html))
    expected = f"/dashboard/export/summary/?{YEAR}&territory=59512&format=csv&labels=true&lang=fr"
    assert links["summary"] == expected.replace("&", "&amp;")
    api = client_for(operator_user)
    for table, extra in (
        ("summary", ""),
        ("timeseries", "&interval=month&group_by=category"),
        ("territories", ""),
    ):
        url = links[table].replace("&amp;", "&")
        assert urlsplit(url).path == f"/dashboard/export/{table}/"
        download = client.get(url)
        assert download.status_code == 200
        assert download["Content-Type"].startswith("text/csv")
        from_api = api.get(f"/api/v1/stats/{table}/?{YEAR}&territory=59512{extra}&format=csv&labels=true")
        assert download.content == from_api.content
    rows = list(csv.reader(io.StringIO(client.get(links["summary"].replace("&amp;", "&")).content.decode())))
    assert rows[:2] == [["indicator", "label", "value"], ["Indicateur", "Libellé", "Valeur"]]
    assert ["tonnes_diverted", "Tonnes détournées des déchets", "1.286000"] in rows


def test_the_page_has_no_external_url(ledger, operator_user):
    html = session_for(operator_user).get(f"/dashboard/?{YEAR}").content.decode()
    assert re.findall(r"(?:https?:)?//[a-z0-9.-]+", html, re.IGNORECASE) == []
    assert "cdn" not in html.lower()


def test_the_query_count_is_bounded(ledger, operator_user, django_assert_max_num_queries):
    """Whatever the ledger's size: the session, the actor's scope, one query per figure (the loan
    indicators: one for the summary and one per time series; the social indicators: two for the
    summary, one per time series and one for the territories), the map."""
    mayor = make_member(ledger.roubaix, MembershipRole.MEMBER)
    for user, budget in ((operator_user, 30), (mayor, 41)):
        client = session_for(user)
        client.get(f"/dashboard/?{YEAR}")  # the map outlines are now cached
        with django_assert_max_num_queries(budget):
            assert client.get(f"/dashboard/?{YEAR}&territory=59512").status_code == 200


def test_the_map_outlines_are_computed_once_and_follow_boundary_changes(
    mel_territories, django_assert_num_queries
):
    with django_assert_num_queries(2):  # communes fresh from the fixture: a key never seen, shapes computed
        first = maps.commune_outlines()
    assert len(first["communes"]) == 95
    assert all(c["d"].startswith("M") and c["d"].endswith("Z") for c in first["communes"])
    with django_assert_num_queries(1):  # the list of communes; the shapes come from the cache
        assert maps.commune_outlines() == first
    roubaix = mel_territories["59512"]
    roubaix.name = "Roubaix (renommée)"
    roubaix.save(update_fields=["name", "updated_at"])
    with django_assert_num_queries(2):  # a changed commune: shapes recomputed
        again = maps.commune_outlines()
    assert next(c["name"] for c in again["communes"] if c["code"] == "59512") == "Roubaix (renommée)"


# ---------------------------------------------------------------------------------------------------
# In a real browser
# ---------------------------------------------------------------------------------------------------

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.mark.slow
def test_the_dashboard_in_a_real_browser(live_server, ledger, operator_user):
    from playwright.sync_api import sync_playwright

    # Everything that touches the database happens before the browser's event loop starts (Django
    # refuses synchronous queries inside one).
    from claims.models import Handover
    from impact.outcomes import OutcomeFigures, outcome_report
    from organisations.actors import Actor

    reported = Handover.objects.filter(reverses__isnull=True, reversed_by__isnull=True).order_by("id").first()
    outcome_report(
        actor=Actor.for_system(),
        handover_id=reported.pk,
        figures=OutcomeFigures(people_reached=24, young_people=6, seniors=9, use="digital_inclusion"),
    )
    api = client_for(operator_user)
    summary = api.get(f"/api/v1/stats/summary/?{YEAR}").json()
    series = api.get(f"/api/v1/stats/timeseries/?{YEAR}&interval=month&group_by=category").json()
    territories = api.get(f"/api/v1/stats/territories/?{YEAR}").json()["features"]
    top = max(territories, key=lambda f: f["properties"]["tonnes"])["properties"]["code"]
    categories_present = sorted({p["group"] for p in series["points"] if p["tonnes"] != 0})
    expected_text = {}
    for language in ("fr", "en"):
        with translation.override(language):
            expected_text[language] = {
                "tonnes_diverted": formatting.tonnes(Decimal(str(summary["tonnes_diverted"]))),
                "co2e_avoided_kg": formatting.tonnes_from_kg(
                    Decimal(str(summary["co2e_avoided_kg"])), f"t{NBSP}CO₂e"
                ),
                "handovers": formatting.number(summary["handovers"]),
            }
    origin = live_server.url
    ARTIFACTS.mkdir(exist_ok=True)

    problems, requests = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1320, "height": 900}, locale="fr-FR")
            page = context.new_page()
            page.on(
                "console",
                lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"failed: {r.url} {r.failure}"))
            page.on(
                "response", lambda r: problems.append(f"{r.status}: {r.url}") if r.status >= 400 else None
            )
            page.on("request", lambda r: requests.append(r.url))

            page.goto(f"{origin}/dashboard/")
            assert urlsplit(page.url).path == "/dashboard/login/"
            page.fill("input[name=username]", operator_user.email)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{origin}/dashboard/")

            page.fill("input[name=from]", "2025-01-01")
            page.fill("input[name=to]", "2025-12-31")
            page.click(".filters button[type=submit]")
            page.wait_for_load_state()
            assert "from=2025-01-01" in page.url
            assert page.inner_text("h1") == "Tableau de bord de l’impact"

            for name, text in expected_text["fr"].items():
                shown = page.locator(f"[data-figure={name}]")
                assert Decimal(shown.get_attribute("data-value")) == Decimal(str(summary[name])), name
                assert shown.inner_text() == text, name
            assert summary["outcomes"]["people_reached"] == 24
            assert page.locator('[data-figure="outcomes.people_reached"]').inner_text() == "24"
            assert page.locator("tr[data-use=digital_inclusion] td").first.inner_text() == (
                "Kits d’inclusion numérique"
            )
            assert page.locator("svg.map path.commune").count() == 95
            assert "q4" in page.locator(f"svg.map path[data-code='{top}']").get_attribute("class").split()
            bar_groups = page.eval_on_selector_all("rect.bar", "bars => bars.map(b => b.dataset.group)")
            assert sorted(set(bar_groups)) == categories_present
            assert page.locator("ul.legend li[data-group]").count() == len(series["groups"])
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

            download = context.request.get(origin + page.get_attribute("a[data-table=summary]", "href"))
            assert download.status == 200 and download.headers["content-type"].startswith("text/csv")
            assert "tonnes_diverted" in download.text()

            page.click("a[hreflang=en]")
            page.wait_for_load_state()
            assert page.inner_text("h1") == "Impact dashboard"
            assert page.locator(".card-lead h2").inner_text().lower() == "diverted from waste"
            for name, text in expected_text["en"].items():
                assert page.locator(f"[data-figure={name}]").inner_text() == text, name
            page.screenshot(path=str(ARTIFACTS / "dashboard-en.png"), full_page=True)
        finally:
            browser.close()

    assert problems == []
    assert requests and all(url.startswith(f"{origin}/") for url in requests), requests
