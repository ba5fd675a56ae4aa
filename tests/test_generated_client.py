"""A Python client generated from openapi.yaml (openapi-python-client, as the README says) drives a firm's
integration against the API served by gunicorn on loopback, through its typed functions only: the API key
creates its site, bulk-upserts offers, sees the claim an association made by listing claims since a time,
and accepts it. The generator must not warn about anything in the schema: a warning means a part of the
API a generated client cannot call (as when every JSON write was offered as multipart/form-data)."""

from __future__ import annotations

import datetime as dt
import enum
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import timezone

from config.celery import app as celery_app
from exchange.models import Offer
from inventory.models import Category
from organisations.models import OrganisationKind

from .conftest import make_api_key, make_claim, make_org
from .openapi import SPEC_PATH, spec

BASE_DIR = Path(__file__).resolve().parent.parent
CONFIG = BASE_DIR / "openapi-python-client.yaml"
PACKAGE = "boucle_client"
WAZEMMES = [3.0466, 50.6282]  # Lille (longitude, latitude)


@pytest.fixture(scope="session")
def generation(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """openapi-python-client run once per session on the committed openapi.yaml (offline: a local file)."""
    target = tmp_path_factory.mktemp("generated-client") / PACKAGE
    bin_dir = str(Path(sys.executable).parent)  # its ruff post-hooks run from the virtualenv
    result = subprocess.run(
        [
            str(Path(bin_dir) / "openapi-python-client"),
            "generate",
            "--path", str(SPEC_PATH),
            "--output-path", str(target),
            "--config", str(CONFIG),
            "--meta", "none",
        ],
        env={**os.environ, "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")])},
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    return result, target


@pytest.fixture(scope="session")
def api(generation):
    """The generated package, imported."""
    result, target = generation
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(target.parent))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(target.parent))


def test_the_generator_warns_about_nothing(generation):
    result, target = generation
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, output
    assert output == f"Generating {target}", f"openapi-python-client said more than it generated:\n{output}"


def test_every_enum_component_keeps_all_its_values(api):
    """The generator names members after their values and silently drops one whose name another took
    (`Etc/GMT+1` and `Etc/GMT-1` would both be ETC_GMT1): TimeZone names its members (x-enum-varnames)."""
    models = importlib.import_module(f"{PACKAGE}.models")
    checked = 0
    for name, schema in spec()["components"]["schemas"].items():
        values = [value for value in schema.get("enum", []) if value is not None]
        generated = getattr(models, name, None)
        if values and isinstance(generated, enum.EnumMeta):
            assert sorted(member.value for member in generated) == sorted(values), name
            checked += 1
    assert checked >= 10 and len(models.TimeZone) == len(spec()["components"]["schemas"]["TimeZone"]["enum"])


@pytest.fixture
def firm_key(mel_territories):
    """A verified firm and its read-write API key. The rows are committed, so the event subscribers run
    here too (eager Celery): their task modules are loaded, as a worker would load them."""
    celery_app.loader.import_default_modules()
    firm = make_org(OrganisationKind.COMPANY, name="Menuiserie du Nord")
    _key, raw_key = make_api_key(firm)
    return firm, raw_key


def test_a_firm_syncs_its_stock_and_answers_a_claim_through_the_generated_client(
    api, gunicorn_server, firm_key
):
    from boucle_client import AuthenticatedClient
    from boucle_client.api.claims import claims_accept, claims_list
    from boucle_client.api.offers import offers_bulk, offers_retrieve
    from boucle_client.api.sites import sites_create
    from boucle_client.models import (
        ClaimAcceptInRequest,
        ClaimOutStatusEnum,
        ConditionEnum,
        OfferBulkInRequest,
        OfferBulkItemInRequest,
        OfferBulkItemInStatusEnum,
        OfferStatusEnum,
        ResultEnum,
        SiteCreateInRequest,
        SiteCreateInRequestLocation,
        SiteCreateInRequestLocationType,
        SiteOut,
        UnitEnum,
    )

    firm, raw_key = firm_key
    category, _ = Category.objects.get_or_create(
        key="test-misc", defaults={"name_fr": "Divers", "name_en": "Miscellaneous", "default_unit": "piece"}
    )
    client = AuthenticatedClient(base_url=gunicorn_server, token=raw_key, prefix="Api-Key", timeout=30)

    created_site = sites_create.sync_detailed(
        client=client,
        body=SiteCreateInRequest(
            name="Entrepôt de Wazemmes",
            location=SiteCreateInRequestLocation(
                type_=SiteCreateInRequestLocationType.POINT, coordinates=WAZEMMES
            ),
        ),
    )
    assert created_site.status_code == 201, created_site.content
    site = created_site.parsed
    assert isinstance(site, SiteOut)
    assert (site.organisation, site.territory.code, site.location.coordinates) == (firm.pk, "59350", WAZEMMES)
    assert created_site.headers["Location"].endswith(f"/api/v1/sites/{site.id}/")

    def item(reference: str, quantity: str, **extra) -> OfferBulkItemInRequest:
        return OfferBulkItemInRequest(
            external_ref=reference,
            site=site.id,
            category=category.pk,
            title=f"Planches de chêne {reference}",
            quantity=quantity,
            unit=UnitEnum.PIECE,
            condition=ConditionEnum.GOOD,
            **extra,
        )

    published = OfferBulkItemInStatusEnum.PUBLISHED
    first = offers_bulk.sync(
        client=client,
        body=OfferBulkInRequest(
            items=[item("SKU-1", "12", status=published), item("SKU-2", "4", status=published)]
        ),
        idempotency_key="nightly-sync-1",
    )
    assert [(r.index, r.external_ref, r.result, r.error) for r in first.results] == [
        (0, "SKU-1", ResultEnum.CREATED, None),
        (1, "SKU-2", ResultEnum.CREATED, None),
    ]
    assert (first.created, first.updated, first.unchanged, first.errors) == (2, 0, 0, 0)
    offer_id = first.results[0].offer
    offer = offers_retrieve.sync(offer_id, client=client)
    assert (offer.status, offer.quantity, offer.external_ref) == (
        OfferStatusEnum.PUBLISHED,
        "12.000",
        "SKU-1",
    )

    second = offers_bulk.sync(
        client=client,
        body=OfferBulkInRequest(items=[item("SKU-1", "10"), item("SKU-2", "4"), item("SKU-3", "")]),
        idempotency_key="nightly-sync-2",
    )
    assert [(r.external_ref, r.result, r.offer) for r in second.results[:2]] == [
        ("SKU-1", ResultEnum.UPDATED, offer_id),
        ("SKU-2", ResultEnum.UNCHANGED, first.results[1].offer),
    ]
    refused = second.results[2]
    assert (refused.result, refused.error.status, [e.field for e in refused.error.errors]) == (
        ResultEnum.ERROR, 400, ["quantity"]
    )  # fmt: skip
    assert (second.created, second.updated, second.unchanged, second.errors) == (0, 1, 1, 1)

    since = timezone.now()
    nothing_yet = claims_list.sync(client=client, updated_since=since)
    assert nothing_yet.results == []
    association = make_org(OrganisationKind.ASSOCIATION, name="Repair Café Roubaix")
    claim = make_claim(Offer.objects.get(pk=offer_id), association, quantity=3)  # through claims.services
    assert claim.status == "requested"

    page = claims_list.sync(client=client, updated_since=since)
    assert [(c.id, c.status, c.quantity, c.recipient.id) for c in page.results] == [
        (claim.pk, ClaimOutStatusEnum.REQUESTED, "3.000", association.pk)
    ]
    seen = page.results[-1].updated_at

    accepted = claims_accept.sync(claim.pk, client=client, body=ClaimAcceptInRequest())
    assert (accepted.id, accepted.status) == (claim.pk, ClaimOutStatusEnum.ACCEPTED)

    changes = claims_list.sync(client=client, updated_since=seen)
    assert [(c.id, c.status) for c in changes.results] == [(claim.pk, ClaimOutStatusEnum.ACCEPTED)]
    assert isinstance(seen, dt.datetime)  # the generated models parse date-times
    assert offers_retrieve.sync(offer_id, client=client).remaining_quantity == "7.000"
