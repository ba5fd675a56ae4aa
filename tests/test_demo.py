import dataclasses
import io
import re

import pytest
from django.contrib.gis.geos import Point
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import Resolver404, resolve

from claims.models import Handover
from demo import scenario
from exchange.models import Offer
from matching.models import Need
from organisations.models import Membership, Organisation, OrganisationKind, Site, User
from organisations.validators import validate_rna, validate_siret
from territories.selectors import territory_containing

from .conftest import CheckedClient

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _catalogue(catalogue):
    """The demo's offers, needs and ledger name catalogue categories: provisioning loads it first."""
    return catalogue


def _seed(*args) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def _counts() -> dict[str, int]:
    return {
        "organisations": Organisation.objects.count(),
        "users": User.objects.count(),
        "memberships": Membership.objects.count(),
        "sites": Site.objects.count(),
        "verified": Organisation.objects.filter(verified_at__isnull=False).count(),
        "offers": Offer.objects.count(),
        "needs": Need.objects.count(),
        "handovers": Handover.objects.count(),
    }


def test_seed_demo_twice_gives_the_same_rows(mel_territories):
    assert _seed().splitlines()[-1] == (
        "Demo: 13 organisations, 18 accounts, 16 sites (password for every account: Boucle-demo-2026)."
    )
    first = _counts()
    sites_before = list(Site.objects.order_by("id").values_list("id", "name", "location", "territory_id"))
    _seed()
    assert (
        _counts()
        == first
        == {
            "organisations": 13,
            "users": 18,
            "memberships": 18,
            "sites": 22,  # 16 of the scenario, 6 more where the year of handovers took place
            "verified": 11,
            "offers": 127,  # 31 current offers and 96 lots of the past year
            "needs": 8,
            "handovers": 101,  # 97 handovers and 4 reversing rows (demo/claims.py)
        }
    )
    assert (
        list(Site.objects.order_by("id").values_list("id", "name", "location", "territory_id"))
        == sites_before
    )


def test_every_demo_site_lies_in_its_commune(mel_territories):
    _seed()
    for spec in scenario.ORGANISATIONS:
        for site_spec in spec.sites:
            site = Site.objects.get(organisation__name=spec.name, name=site_spec.name)
            assert site.territory.code == site_spec.commune, (spec.name, site_spec.name)
            assert territory_containing(point=site.location).code == site_spec.commune
            assert site.location.coords == (site_spec.lon, site_spec.lat)


def test_the_demo_organisations(mel_territories):
    _seed()
    operator = Organisation.objects.get(name="Boucle MEL (opérateur)")
    assert (operator.kind, operator.is_verified) == (OrganisationKind.OPERATOR, True)
    operator_user = User.objects.get(email="operateur@demo.boucle.fr")
    assert operator_user.is_staff
    assert operator_user.check_password(scenario.DEMO_PASSWORD)
    for name in ("Ville de Roubaix", "Métropole Européenne de Lille"):
        authority = Organisation.objects.get(name=name)
        assert (authority.kind, authority.is_verified) == (OrganisationKind.PUBLIC_AUTHORITY, True)
    unverified = Organisation.objects.filter(verified_at__isnull=True)
    assert sorted(unverified.values_list("name", "kind")) == [
        ("Bâtir Tourquennois", "company"),
        ("Jardin partagé du Beck", "project"),
    ]
    companies = Organisation.objects.filter(kind=OrganisationKind.COMPANY)
    assert companies.count() == 5
    for company in companies:
        assert validate_siret(company.siret) == company.siret
    recipients = Organisation.objects.filter(
        kind__in=[OrganisationKind.ASSOCIATION, OrganisationKind.PROJECT]
    )
    assert recipients.count() == 5
    for recipient in recipients:
        assert validate_rna(recipient.rna) == recipient.rna
        assert recipient.rna.startswith("W59")
    meubles = User.objects.get(email="firm.meubles@demo.boucle.fr")
    assert meubles.check_password("Boucle-demo-2026")
    assert list(meubles.memberships.values_list("organisation__name", "role")) == [
        ("Ateliers du Meuble Roubaisien", "admin")
    ]
    assert Membership.objects.filter(organisation__name="Clic Solidaire").count() == 2


def test_seed_demo_accounts_prints_the_logins_only(mel_territories):
    assert _seed("--accounts") == "  No demo accounts yet: run `manage.py seed_demo`.\n"
    _seed()
    lines = _seed("--accounts").splitlines()
    assert lines[0] == "  Demo accounts (password: Boucle-demo-2026)"
    assert lines[1].split() == ["E-mail", "Organisation", "Role"]
    assert set(lines[2].strip()) == {"-", " "}
    assert len(lines) == 3 + 18
    assert re.split(r"\s{2,}", lines[3].strip())[0] == "operateur@demo.boucle.fr"
    assert re.split(r"\s{2,}", lines[7].strip()) == [
        "firm.meubles@demo.boucle.fr",
        "Ateliers du Meuble Roubaisien",
        "admin",
    ]
    assert Organisation.objects.count() == 13  # --accounts writes nothing


def test_seed_demo_refuses_a_site_outside_its_commune(mel_territories, monkeypatch):
    jardin = next(spec for spec in scenario.ORGANISATIONS if spec.key == "jardin")
    moved = dataclasses.replace(
        jardin, sites=(scenario.SiteSpec("Jardin", "Paris", 2.3522, 48.8566, scenario.WATTRELOS),)
    )
    monkeypatch.setattr(
        scenario,
        "ORGANISATIONS",
        tuple(moved if spec.key == "jardin" else spec for spec in scenario.ORGANISATIONS),
    )
    with pytest.raises(
        CommandError,
        match=r"Jardin partagé du Beck / Jardin: \(2.3522, 48.8566\) lies in no loaded commune, "
        r"not in commune 59650",
    ):
        _seed()
    assert _counts()["organisations"] == 0  # all or nothing


def test_seed_demo_needs_the_communes():
    with pytest.raises(CommandError, match="No communes are loaded"):
        _seed()
    assert Organisation.objects.count() == 0


def test_a_demo_user_obtains_a_jwt(mel_territories):
    try:
        resolve("/api/v1/auth/token/")
    except Resolver404:
        pytest.skip("POST /api/v1/auth/token/ does not exist yet")
    _seed()
    response = CheckedClient().post(
        "/api/v1/auth/token/",
        {"email": "firm.meubles@demo.boucle.fr", "password": scenario.DEMO_PASSWORD},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["access"]


def test_demo_points_are_in_the_mel(mel_territories):
    # A guard on the data itself: a typo in a coordinate shows up here with the site's name.
    for spec in scenario.ORGANISATIONS:
        for site_spec in spec.sites:
            commune = territory_containing(point=Point(site_spec.lon, site_spec.lat, srid=4326))
            assert commune is not None and commune.code == site_spec.commune, site_spec.name
