from __future__ import annotations

import contextlib
import io
import itertools
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.contrib.gis.geos import Point
from django.db import connection
from django.utils import timezone, translation
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from organisations.models import Membership, MembershipRole, Organisation, OrganisationKind, Site, User

from .openapi import check_response

_seq = itertools.count(1)


@pytest.fixture(autouse=True)
def _language_reset():
    """Every test starts in the settings' language: the language a request activated (LocaleMiddleware)
    stays active in the thread after the test client's answer, and would leak into the next test
    (tests/test_language_reset.py)."""
    translation.deactivate()
    yield
    translation.deactivate()


ROUBAIX = Point(3.1746, 50.6916, srid=4326)  # Grand-Place de Roubaix (lon, lat)


class CheckedClient(APIClient):
    """An API client whose every answer is checked against openapi.yaml (status, type, body)."""

    check_schema = True

    def generic(self, method, path, *args, **kwargs):
        response = super().generic(method, path, *args, **kwargs)
        if self.check_schema and path.startswith("/api/v1/"):
            check_response(method, path.split("?")[0], response)
        return response


@pytest.fixture
def anon() -> CheckedClient:
    return CheckedClient()


def client_for(user: User) -> CheckedClient:
    client = CheckedClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def client_for_key(raw_key: str) -> CheckedClient:
    client = CheckedClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    return client


def make_user(email: str | None = None, password: str = "correct-horse-battery-9", **extra) -> User:
    return User.objects.create_user(email or f"user{next(_seq)}@example.org", password, **extra)


def make_org(
    kind: str = OrganisationKind.COMPANY, *, verified: bool = True, name: str | None = None, **extra
) -> Organisation:
    return Organisation.objects.create(
        name=name or f"{kind} {next(_seq)}",
        kind=kind,
        verified_at=timezone.now() if verified else None,
        **extra,
    )


def make_member(
    organisation: Organisation, role: str = MembershipRole.ADMIN, user: User | None = None
) -> User:
    user = user or make_user()
    Membership.objects.create(user=user, organisation=organisation, role=role)
    return user


def make_site(organisation: Organisation, point: Point = ROUBAIX, name: str = "Dépôt") -> Site:
    return Site.objects.create(organisation=organisation, name=name, location=point)


@pytest.fixture
def firm() -> Organisation:
    return make_org(OrganisationKind.COMPANY, name="Menuiserie du Nord")


@pytest.fixture
def association() -> Organisation:
    return make_org(OrganisationKind.ASSOCIATION, name="Repair Café Roubaix")


@pytest.fixture
def operator_org() -> Organisation:
    return make_org(OrganisationKind.OPERATOR, name="Boucle Opérateur")


@pytest.fixture
def operator_user(operator_org) -> User:
    return make_member(operator_org, MembershipRole.ADMIN)


def make_offer(
    organisation: Organisation,
    site: Site | None = None,
    category=None,
    quantity=10,
    unit: str = "piece",
    status: str = "published",
    **extra,
):
    """An offer written straight through the ORM (no service, no event), location copied from the site."""
    from decimal import Decimal

    from exchange.models import Offer, OfferCondition
    from inventory.models import Category

    site = site or make_site(organisation)
    if category is None:
        category, _ = Category.objects.get_or_create(
            key="test-misc", defaults={"name_fr": "Divers", "name_en": "Miscellaneous", "default_unit": unit}
        )
    quantity = Decimal(str(quantity))
    now = timezone.now()
    values = {
        "title": f"Lot {next(_seq)}",
        "condition": OfferCondition.GOOD,
        "available_from": now,
        "remaining_quantity": quantity,
        "published_at": now if status != "draft" else None,
    }
    values.update(extra)
    # The stock adds up (CHECK offer_stock_identity): what a test takes out of the remaining quantity is
    # held by accepted claims unless it says it was collected.
    values["remaining_quantity"] = Decimal(str(values["remaining_quantity"]))
    values.setdefault("collected_quantity", Decimal("0"))
    values.setdefault(
        "reserved_quantity", quantity - values["remaining_quantity"] - values["collected_quantity"]
    )
    return Offer.objects.create(
        organisation=organisation,
        site=site,
        category=category,
        quantity=quantity,
        unit=unit,
        status=status,
        location=site.location,
        public_location=site.public_location,
        **values,
    )


def make_receipt_donor(
    name: str = "Menuiserie du Nord",
    siret: str = "73282932000074",
    address: str = "12 rue de Lannoy, 59100 Roubaix",
) -> Organisation:
    """A firm a tax receipt may go to: a company with a SIRET, and a site with its address (printed)."""
    firm = make_org(OrganisationKind.COMPANY, name=name, siret=siret)
    site = make_site(firm)
    site.address = address
    site.save()
    return firm


def make_receipt_association(
    name: str = "Repair Café Roubaix",
    *,
    verified: bool = True,
    description: str = "Réparer et réemployer les objets du quotidien.",
    evidence: str = "Rescrit fiscal n° 2025-59-0042",
    address: str = "3 place de la Liberté, 59100 Roubaix",
) -> Organisation:
    """An association with an RNA and its workshop's address; `verified`: its right to issue tax
    receipts declared and verified (written straight, as the operator's decision would leave it)."""
    status = (
        {
            "tax_receipt_status": "verified",
            "tax_receipt_evidence": evidence,
            "tax_receipt_declared_at": timezone.now(),
            "tax_receipt_verified_at": timezone.now(),
        }
        if verified
        else {}
    )
    association = make_org(
        OrganisationKind.ASSOCIATION, name=name, rna="W595012345", description=description, **status
    )
    site = make_site(association, name="Atelier")
    site.address = address
    site.save()
    return association


def make_api_key(organisation: Organisation, scopes: tuple[str, ...] = ("read", "write")) -> tuple:
    """(ApiKey, raw key) for the organisation, created through the service as one of its admins."""
    from organisations.actors import Actor
    from organisations.services import api_key_create

    admin = make_member(organisation, MembershipRole.ADMIN)
    return api_key_create(
        actor=Actor.for_user(admin), organisation_id=organisation.pk, name="ERP", scopes=list(scopes)
    )


def make_need(
    organisation: Organisation, categories: list, point: Point = ROUBAIX, radius_m: int = 5000, **extra
):
    """An open need written straight through the ORM (no service, no event)."""
    from matching.models import Need

    values = {"title": f"Besoin {next(_seq)}", "location": point, "radius_m": radius_m}
    values.update(extra)
    need = Need.objects.create(organisation=organisation, **values)
    need.categories.set(categories, through_defaults=need.area_fields())
    return need


def make_claim(offer, organisation: Organisation | None = None, quantity=1, *, accept: bool = False):
    """A claim made through the service as the system, for `organisation` (a new verified association by
    default); accepted when asked (or when the offer auto-accepts). Moves the offer's quantity as usual."""
    from decimal import Decimal

    from claims import services
    from organisations.actors import Actor

    organisation = organisation or make_org(OrganisationKind.ASSOCIATION)
    system = Actor.for_system()
    claim = services.claim_request(
        actor=system, offer_id=offer.pk, quantity=Decimal(str(quantity)), organisation_id=organisation.pk
    )
    if accept and claim.status == "requested":
        claim = services.claim_accept(actor=system, claim_id=claim.pk)
    return claim


@pytest.fixture(scope="session")
def _mel_communes_file():
    """The MEL communes file, parsed once per test session (no database)."""
    from territories.loading import read_territory_file

    return read_territory_file(
        Path(__file__).resolve().parent.parent / "territories" / "data" / "mel-communes.geojson",
        code_field="code_insee",
    )


@pytest.fixture
def mel_territories(db, _mel_communes_file) -> dict:
    """The 95 communes of the MEL as territories (kind commune), code INSEE → Territory. Cheap: the file
    is parsed once per session and written with one bulk insert per test."""
    from territories.models import Territory, TerritoryKind
    from territories.services import territories_upsert

    territories_upsert(
        kind=TerritoryKind.COMMUNE, records=_mel_communes_file.records, source=_mel_communes_file.source
    )
    return {t.code: t for t in Territory.objects.filter(kind=TerritoryKind.COMMUNE).defer("geometry")}


@pytest.fixture
def catalogue(db) -> dict:
    """The catalogue and factor version 2026.1 as `manage.py load_catalogue` loads them; key → Category."""
    from django.core.management import call_command

    from inventory.models import Category

    call_command("load_catalogue", stdout=io.StringIO())
    return {c.key: c for c in Category.objects.all()}


def make_ledger_row(donor, recipient, category, *, mass_kg, collected_at, **stamp):
    """A ledger row written straight through the ORM (the append-only trigger allows INSERT), on a fresh
    collected claim. `stamp` overrides: territory, quantity, unit, mass_method, factor_version,
    factor_basis, factor_kgco2e, factor_source, factor_status, co2e_avoided_kg (default: mass × factor
    per kg, quantity × factor per item)."""
    from decimal import Decimal

    from claims.models import Claim, ClaimStatus, Handover

    mass = Decimal(str(mass_kg))
    quantity = Decimal(str(stamp.pop("quantity", mass)))
    unit = stamp.pop("unit", "kg")
    factor = Decimal(str(stamp.pop("factor_kgco2e", "1.0000")))
    basis = stamp.pop("factor_basis", "per_kg")
    default_co2e = (mass if basis == "per_kg" else quantity) * factor
    offer = make_offer(donor, category=category, quantity=quantity, unit=unit, status="closed")
    claim = Claim.objects.create(
        offer=offer, organisation=recipient, quantity=quantity, status=ClaimStatus.COLLECTED
    )
    values = {
        "territory": None,
        "mass_method": "weighed",
        "factor_version": "2026.1",
        "factor_source": "test factor",
        "factor_status": "sourced",
        "co2e_avoided_kg": default_co2e.quantize(Decimal("0.001")),
    }
    values.update(stamp)
    return Handover.objects.create(
        claim=claim,
        offer=offer,
        donor=donor,
        donor_kind=donor.kind,
        recipient=recipient,
        recipient_kind=recipient.kind,
        category=category,
        quantity=quantity,
        unit=unit,
        mass_kg=mass,
        factor_basis=basis,
        factor_kgco2e=factor,
        collected_at=collected_at,
        recorded_by="system",
        **values,
    )


def make_reversal(row):
    """The reversal of a ledger row, through the ORM: negated figures, the same stamp and time."""
    from claims.models import Handover

    same = (
        "claim_id", "offer_id", "donor_id", "recipient_id", "donor_kind", "recipient_kind", "category_id",
        "territory_id", "unit", "mass_method", "factor_version", "factor_basis", "factor_kgco2e",
        "factor_source", "factor_status", "collected_at", "mode", "outlier", "mass_confirmed",
        "expected_mass_kg",
    )  # fmt: skip
    return Handover.objects.create(
        reverses=row,
        quantity=-row.quantity,
        mass_kg=-row.mass_kg,
        co2e_avoided_kg=-row.co2e_avoided_kg,
        recorded_by="system",
        **{name: getattr(row, name) for name in same},
    )


def registration(default_password: str, /, **overrides) -> dict:
    """A complete sign-up body for auth/register/ (a company and its administrator); `overrides` replace
    top-level members, `organisation=` members of the organisation."""
    organisation = {
        "name": "Menuiserie Lemaire",
        "kind": "company",
        "siret": "732 829 320 00074",
        "email": "contact@lemaire.example",
        "phone": "+33 3 20 00 00 00",
        "website": "https://lemaire.example",
        "description": "Chutes de chêne et de hêtre.",
    }
    organisation.update(overrides.pop("organisation", {}))
    body = {
        "email": "Claire.Lemaire@Example.org",
        "password": default_password,
        "first_name": "Claire",
        "last_name": "Lemaire",
        "preferred_language": "fr",
        "organisation": organisation,
    }
    body.update(overrides)
    return body


# ---- the API served over HTTP ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0


def database_env_for_tests() -> dict[str, str]:
    """The environment that points a server or worker process at the test database."""
    settings_dict = connection.settings_dict
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": (
            f"postgres://{settings_dict['USER']}@{settings_dict['HOST'] or '127.0.0.1'}:"
            f"{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
        ),
        "DATABASE_CONN_MAX_AGE": "0",
    }


@contextlib.contextmanager
def serve_gunicorn(extra_env: dict[str, str] | None = None, workers: int = 4):
    """gunicorn on a free port, pointed at the test database; yields its base URL. Its entry point loads
    the Celery task modules (tests.fuzzing.wsgi): with the test settings, tasks run in the request."""
    port = free_port()
    env = {**os.environ, **database_env_for_tests(), **(extra_env or {})}
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "tests.fuzzing.wsgi:application",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--timeout",
            "60",
            "--log-level",
            "warning",
        ],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while _http_status(f"{base}/healthz") != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start: {process.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def gunicorn_server(transactional_db):
    """gunicorn with 4 workers on a free port, pointed at the test database (the test's rows are
    committed: transactional_db); its base URL, e.g. http://127.0.0.1:41234."""
    with serve_gunicorn() as base:
        yield base
