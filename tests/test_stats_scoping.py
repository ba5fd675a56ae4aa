"""Who sees which statistics: the operator everything, a public authority its linked territories and
nothing outside them, an organisation its own handovers."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from impact.models import PublicAuthorityTerritory
from organisations.models import MembershipRole, OrganisationKind

from .conftest import client_for, make_member, make_org
from .test_stats import YEAR, build_ledger

pytestmark = pytest.mark.django_db

STATS_ROUTES = ("summary/?", "timeseries/?interval=month&group_by=territory&", "territories/?", "ledger/?")


@pytest.fixture
def ledger(mel_territories, catalogue):
    return build_ledger(mel_territories, catalogue)


def test_a_city_sees_its_territory_and_nothing_outside(ledger):
    city = client_for(make_member(ledger.roubaix, MembershipRole.MEMBER))
    summary = city.get(f"/api/v1/stats/summary/?{YEAR}").json()
    assert summary["computed_from"] == "rollups"
    assert (summary["handovers"], summary["mass_kg"], summary["co2e_avoided_kg"]) == (3, 170.0, 257.3)
    assert (summary["donors"], summary["recipients"]) == (1, 2)
    assert summary["factor_versions"] == ["2026.1"]
    features = city.get(f"/api/v1/stats/territories/?{YEAR}").json()["features"]
    assert [f["properties"]["code"] for f in features] == ["59512"]
    series = city.get(f"/api/v1/stats/timeseries/?{YEAR}&interval=year&group_by=territory").json()
    assert [(p["group"], p["tonnes"]) for p in series["points"]] == [("59512", 0.17)]
    rows = city.get(f"/api/v1/stats/ledger/?{YEAR}").json()["results"]
    assert {r["territory"] for r in rows} == {"59512"}
    assert len(rows) == 5  # four handovers and one reversal
    assert city.get(f"/api/v1/stats/summary/?{YEAR}&territory=59512").json()["mass_kg"] == 170.0
    by_id = city.get(f"/api/v1/stats/summary/?{YEAR}&territory={ledger.territories['59512'].pk}").json()
    assert by_id["mass_kg"] == 170.0


@pytest.mark.parametrize("route", STATS_ROUTES)
@pytest.mark.parametrize("territory", ["59350", "99999", "not-a-code"])
def test_a_territory_outside_the_scope_is_404(ledger, route, territory):
    city = client_for(make_member(ledger.roubaix))
    response = city.get(f"/api/v1/stats/{route}{YEAR}&territory={territory}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_the_metropole_sees_every_commune_but_no_row_outside_them(ledger):
    mel = client_for(make_member(ledger.mel))
    summary = mel.get(f"/api/v1/stats/summary/?{YEAR}").json()
    # Everything but the sofas handed over outside any territory (74 kg, 358.2 kg CO2e).
    assert (summary["handovers"], summary["mass_kg"], summary["co2e_avoided_kg"]) == (6, 571.5, 2435.25)
    assert mel.get(f"/api/v1/stats/summary/?{YEAR}&territory=59350").json()["mass_kg"] == 290.5
    assert len(mel.get(f"/api/v1/stats/territories/?{YEAR}").json()["features"]) == 95


def test_an_organisation_sees_its_own_handovers_only(ledger):
    firm_b = client_for(make_member(ledger.firm_b))
    summary = firm_b.get(f"/api/v1/stats/summary/?{YEAR}").json()
    assert summary["computed_from"] == "ledger"
    # textiles 250.5 + wood 40 + sofas 111
    assert (summary["handovers"], summary["mass_kg"], summary["donors"], summary["recipients"]) == (
        3,
        401.5,
        1,
        2,
    )
    features = firm_b.get(f"/api/v1/stats/territories/?{YEAR}").json()["features"]
    assert sorted(f["properties"]["code"] for f in features) == ["59350", "59599"]
    # Any territory filters its own rows; Roubaix holds none of them.
    assert firm_b.get(f"/api/v1/stats/summary/?{YEAR}&territory=59512").json()["handovers"] == 0
    association = client_for(make_member(ledger.association))
    received = association.get(f"/api/v1/stats/summary/?{YEAR}").json()
    assert (received["handovers"], received["mass_kg"]) == (4, 434.5)  # 100 + 250.5 + 10 + 74


def test_an_unverified_authority_and_a_person_without_organisation_see_nothing(ledger, mel_territories):
    pending = make_org(OrganisationKind.PUBLIC_AUTHORITY, verified=False, name="Ville de Tourcoing")
    PublicAuthorityTerritory.objects.create(organisation=pending, territory=mel_territories["59599"])
    for client in (client_for(make_member(pending)), client_for(make_member(make_org(verified=False)))):
        summary = client.get(f"/api/v1/stats/summary/?{YEAR}").json()
        assert (summary["handovers"], summary["mass_kg"], summary["offers_published"]) == (0, 0.0, 0)
        assert client.get(f"/api/v1/stats/territories/?{YEAR}").json()["features"] == []
        assert client.get(f"/api/v1/stats/ledger/?{YEAR}").status_code == 403
        assert client.get(f"/api/v1/stats/summary/?{YEAR}&territory=59599").json()["handovers"] == 0


def test_stats_need_authentication(anon):
    for route in STATS_ROUTES + ("reports/?",):
        response = anon.get(f"/api/v1/stats/{route}")
        assert response.status_code == 401
        assert response["Content-Type"] == "application/problem+json"


def test_link_command_and_admin_service(ledger, mel_territories):
    tourcoing = make_org(OrganisationKind.PUBLIC_AUTHORITY, name="Ville de Tourcoing")
    out = io.StringIO()
    call_command(
        "link_authority_territories", "--organisation", "ville de tourcoing", "--codes", "59599", stdout=out
    )
    call_command(
        "link_authority_territories", "--organisation", "Ville de Tourcoing", "--codes", "59599", stdout=out
    )
    assert out.getvalue().splitlines() == [
        "Ville de Tourcoing: 1 territories linked to (1 asked).",
        "Ville de Tourcoing: 0 territories linked to (1 asked).",
    ]
    city = client_for(make_member(tourcoing))
    assert city.get(f"/api/v1/stats/summary/?{YEAR}").json()["mass_kg"] == 111.0
    call_command(
        "link_authority_territories", "--organisation", str(tourcoing.pk), "--all-kind", "commune", stdout=out
    )
    assert tourcoing.authority_territories.count() == 95
    with pytest.raises(Exception, match="public authority"):
        call_command("link_authority_territories", "--organisation", ledger.firm_a.name, "--codes", "59599")
    with pytest.raises(Exception, match="Unknown territory codes: 00000"):
        call_command("link_authority_territories", "--organisation", "Ville de Tourcoing", "--codes", "00000")


def test_demo_links_the_city_and_the_metropole(mel_territories):
    from demo import impact as demo_impact

    roubaix = make_org(OrganisationKind.PUBLIC_AUTHORITY, name="Ville de Roubaix")
    mel = make_org(OrganisationKind.PUBLIC_AUTHORITY, name="Métropole Européenne de Lille")
    assert demo_impact.seed() == {"Ville de Roubaix": 1, "Métropole Européenne de Lille": 95}
    assert demo_impact.seed() == {"Ville de Roubaix": 1, "Métropole Européenne de Lille": 95}
    assert list(roubaix.authority_territories.values_list("territory__code", flat=True)) == ["59512"]
    assert mel.authority_territories.count() == 95


def test_the_operator_links_an_authority_in_the_admin(mel_territories):
    from django.test import Client

    from core.models import DomainEvent
    from organisations.models import User

    city = make_org(OrganisationKind.PUBLIC_AUTHORITY, name="Ville de Wattrelos")
    firm = make_org(OrganisationKind.COMPANY)
    admin = Client()
    admin.force_login(User.objects.create_superuser("admin@boucle.localhost", "correct-horse-battery-9"))
    url = "/admin/impact/publicauthorityterritory/add/"
    territory = mel_territories["59650"]
    refused = admin.post(url, {"organisation": firm.pk, "territory": territory.pk})
    assert refused.status_code == 200 and not PublicAuthorityTerritory.objects.exists()
    assert admin.post(url, {"organisation": city.pk, "territory": territory.pk}).status_code == 302
    link = PublicAuthorityTerritory.objects.get()
    assert (link.organisation, link.territory) == (city, territory)
    assert DomainEvent.objects.filter(name="authority.territories_linked", aggregate_id=city.pk).count() == 1
    deleted = admin.post(f"/admin/impact/publicauthorityterritory/{link.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302 and not PublicAuthorityTerritory.objects.exists()
