"""File imports of offers (exchange.imports): POST imports/ with a CSV or XLSX file and a mapping, the
worker feeding the rows through the bulk upsert, GET imports/{id}/ with the counts and the row errors,
saved mappings, and manage.py import_offers."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django.utils import timezone
from openpyxl import Workbook

from core.models import DomainEvent
from exchange import bulk, imports
from exchange.models import ImportMapping, ImportStatus, Offer, OfferImport, OfferStatus
from exchange.tasks import process_offer_import
from inventory.models import Category
from organisations.actors import Actor
from organisations.models import MembershipRole
from organisations.services import api_key_revoke

from .conftest import client_for, client_for_key, make_api_key, make_member, make_offer, make_org, make_site
from .test_offers_bulk import reserve
from .test_worker import live_celery, wait_for  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db

URL = "/api/v1/imports/"
MAPPINGS_URL = "/api/v1/import-mappings/"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
COLUMNS = {
    "external_ref": "Référence",
    "title": "Désignation",
    "quantity": "Quantité",
    "unit": "Unité",
    "condition": "État",
}
HEADER = ["Référence", "Désignation", "Quantité", "Unité", "État"]


@pytest.fixture(autouse=True, scope="module")
def every_task_registered():
    """Eager tasks run by name (core.events): every app's tasks must be known, as in a worker."""
    from config.celery import app

    app.loader.import_default_modules()


@pytest.fixture
def cat() -> Category:
    return Category.objects.get_or_create(
        key="furniture", defaults={"name_fr": "Mobilier", "name_en": "Furniture", "default_unit": "piece"}
    )[0]


@pytest.fixture
def site(firm):
    return make_site(firm)


@pytest.fixture
def member(firm):
    return make_member(firm, MembershipRole.MEMBER)


@pytest.fixture
def client(member):
    return client_for(member)


def csv_bytes(
    rows: list[list[str]], *, delimiter: str = ",", encoding: str = "utf-8", bom: bool = False
) -> bytes:
    """What a spreadsheet writes: cells holding the delimiter quoted, CRLF line ends."""
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter).writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + text.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def defaults_for(site, cat, **more) -> dict:
    return {"site": site.pk, "category": cat.pk, **more}


def send(client, content: bytes, *, name="stock.csv", columns=None, defaults=None, mapping=None, **extra):
    data = {"file": SimpleUploadedFile(name, content, content_type="application/octet-stream")}
    if mapping is not None:
        data["mapping"] = mapping
    if columns is not None:
        data["columns"] = json.dumps(columns)
    if defaults is not None:
        data["defaults"] = json.dumps(defaults)
    return client.post(URL, data, format="multipart", **{**EN, **extra})


def run(client, django_capture_on_commit_callbacks, content: bytes, **kwargs) -> dict:
    """POST the file, let the worker (eager in tests) run once committed; the import as GET shows it."""
    with django_capture_on_commit_callbacks(execute=True):
        response = send(client, content, **kwargs)
    assert response.status_code == 202, response.json()
    body = client.get(response["Location"], **EN)
    assert body.status_code == 200
    return body.json()


def outcome(job: dict) -> tuple:
    counts = job["counts"]
    return (
        job["status"],
        job["rows_total"],
        job["rows_processed"],
        counts["created"],
        counts["updated"],
        counts["unchanged"],
        counts["errors"],
    )


def offers_of(firm) -> list[tuple]:
    return list(
        Offer.objects.filter(organisation=firm)
        .order_by("external_ref")
        .values_list("external_ref", "title", "quantity", "unit", "condition", "status")
    )


# ---- reading French files ------------------------------------------------------------------------


def test_a_utf8_csv_with_commas_creates_the_offers(
    client, firm, site, cat, django_capture_on_commit_callbacks
):
    content = csv_bytes(
        [
            HEADER,
            ["SKU-1", "Chaises empilables", "12", "piece", "good"],
            ["SKU-2", "Tables", "3", "piece", "fair"],
        ]
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = send(client, content, columns=COLUMNS, defaults=defaults_for(site, cat))
    assert response.status_code == 202
    body = response.json()
    assert response["Location"] == f"http://testserver/api/v1/imports/{body['id']}/"
    # The answer is the import as sent: queued, its rows counted, nothing processed yet.
    assert (body["status"], body["rows_total"], body["rows_processed"], body["format"]) == (
        "queued",
        2,
        0,
        "csv",
    )
    assert body["filename"] == "stock.csv"
    job = client.get(response["Location"], **EN).json()
    assert outcome(job) == ("finished", 2, 2, 2, 0, 0, 0)
    assert job["errors"] == [] and job["failure"] is None and job["started_at"] and job["finished_at"]
    assert offers_of(firm) == [
        ("SKU-1", "Chaises empilables", Decimal("12.000"), "piece", "good", OfferStatus.DRAFT),
        ("SKU-2", "Tables", Decimal("3.000"), "piece", "fair", OfferStatus.DRAFT),
    ]


def test_utf8_with_bom_semicolons_and_decimal_commas(
    client, firm, site, cat, django_capture_on_commit_callbacks
):
    columns = {**COLUMNS, "mass_per_unit_kg": "Poids unitaire (kg)", "auto_accept_claims": "Auto"}
    content = csv_bytes(
        [
            [*HEADER, "Poids unitaire (kg)", "Auto"],
            ["SKU-1", "Chutes de chêne", "12,5", "kg", "good", "", "oui"],
            ["SKU-2", "Étagères; métal", "4", "piece", "new", "7,25", "non"],
        ],
        delimiter=";",
        bom=True,
    )
    assert b'"\xc3\x89tag\xc3\xa8res; m\xc3\xa9tal"' in content  # quoted: it holds the delimiter
    job = run(
        client, django_capture_on_commit_callbacks, content, columns=columns, defaults=defaults_for(site, cat)
    )
    assert outcome(job) == ("finished", 2, 2, 2, 0, 0, 0)
    rows = {o.external_ref: o for o in Offer.objects.filter(organisation=firm)}
    assert (rows["SKU-1"].title, rows["SKU-1"].quantity, rows["SKU-1"].mass_per_unit_kg) == (
        "Chutes de chêne",
        Decimal("12.5"),
        Decimal("1"),
    )
    assert rows["SKU-1"].auto_accept_claims is True
    assert (rows["SKU-2"].title, rows["SKU-2"].mass_per_unit_kg, rows["SKU-2"].auto_accept_claims) == (
        "Étagères; métal",
        Decimal("7.25"),
        False,
    )


def test_windows_1252(client, firm, site, cat, django_capture_on_commit_callbacks):
    content = csv_bytes(
        [HEADER, ["SKU-Œ", "Bœuf de Noël – lot à 5 €", "2", "pallet", "good"]],
        delimiter=";",
        encoding="cp1252",
    )
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")  # really not UTF-8
    job = run(
        client, django_capture_on_commit_callbacks, content, columns=COLUMNS, defaults=defaults_for(site, cat)
    )
    assert outcome(job) == ("finished", 1, 1, 1, 0, 0, 0)
    assert offers_of(firm) == [("SKU-Œ", "Bœuf de Noël – lot à 5 €", Decimal("2"), "pallet", "good", "draft")]


def test_xlsx_with_typed_cells(client, firm, site, cat, django_capture_on_commit_callbacks):
    until = dt.datetime(2031, 6, 30, 18, 0)
    columns = {
        **COLUMNS,
        "available_until": "Disponible jusqu'au",
        "auto_accept_claims": "Auto",
        "site": "Site",
    }
    content = xlsx_bytes(
        [
            [*HEADER, "Disponible jusqu'au", "Auto", "Site"],
            [100234, "Palettes Europe", 12, "pallet", "good", until, True, site.pk],
            ["SKU-2", "Câble (m)", 2.5, "m", "new", dt.date(2031, 1, 15), False, float(site.pk)],
            [None, None, None, None, None, None, None, None],  # blank: skipped
            ["SKU-3", "Planches", Decimal("0.1") + Decimal("0.2"), "m3", "fair", None, None, site.pk],
            ["SKU-4", "Vis", 0.1 + 0.2, "kg", "good", None, None, site.pk],
        ]
    )
    job = run(
        client,
        django_capture_on_commit_callbacks,
        content,
        name="stock.xlsx",
        columns=columns,
        defaults={"category": cat.key},
    )
    assert job["format"] == "xlsx"
    assert outcome(job) == ("finished", 4, 4, 4, 0, 0, 0)
    rows = {o.external_ref: o for o in Offer.objects.filter(organisation=firm)}
    assert sorted(rows) == ["100234", "SKU-2", "SKU-3", "SKU-4"]
    paris = timezone.get_default_timezone()
    assert rows["100234"].available_until == until.replace(tzinfo=paris)
    assert rows["100234"].auto_accept_claims is True
    assert rows["SKU-2"].available_until == dt.datetime(2031, 1, 15, tzinfo=paris)
    assert (rows["SKU-2"].quantity, rows["SKU-3"].quantity, rows["SKU-4"].quantity) == (
        Decimal("2.5"),
        Decimal("0.3"),
        Decimal("0.3"),
    )
    assert {o.category_id for o in rows.values()} == {cat.pk}


# ---- mappings -------------------------------------------------------------------------------------


def test_a_saved_mapping_is_reused_by_name(client, firm, site, cat, django_capture_on_commit_callbacks):
    response = client.post(
        MAPPINGS_URL,
        {"name": "ERP nightly", "columns": COLUMNS, "defaults": defaults_for(site, cat, status="published")},
        format="json",
        **EN,
    )
    assert response.status_code == 201
    mapping = response.json()
    assert response["Location"] == f"http://testserver/api/v1/import-mappings/{mapping['id']}/"
    assert (mapping["name"], mapping["columns"], mapping["organisation"]) == ("ERP nightly", COLUMNS, firm.pk)
    content = csv_bytes([HEADER, ["SKU-1", "Chaises", "12", "piece", "good"]])
    job = run(client, django_capture_on_commit_callbacks, content, mapping="ERP nightly")
    assert (job["mapping"], job["columns"], job["defaults"]["status"]) == (
        "ERP nightly",
        COLUMNS,
        "published",
    )
    assert outcome(job) == ("finished", 1, 1, 1, 0, 0, 0)
    assert offers_of(firm) == [("SKU-1", "Chaises", Decimal("12"), "piece", "good", OfferStatus.PUBLISHED)]
    # The import keeps the mapping it used when the mapping changes.
    changed = client.patch(
        f"{MAPPINGS_URL}{mapping['id']}/", {"columns": {**COLUMNS, "title": "Nom"}}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["columns"]["title"] == "Nom"
    assert client.get(f"{URL}{job['id']}/").json()["columns"] == COLUMNS
    # One name per organisation; another organisation may use it.
    again = client.post(MAPPINGS_URL, {"name": "ERP nightly", "columns": COLUMNS}, format="json", **EN)
    assert again.status_code == 400
    assert again.json()["errors"] == [
        {
            "field": "name",
            "code": "invalid",
            "message": "Your organisation already has a mapping with this name.",
        }
    ]
    other = make_org(name="Autre SARL")
    assert (
        client_for(make_member(other))
        .post(MAPPINGS_URL, {"name": "ERP nightly", "columns": COLUMNS}, format="json")
        .status_code
        == 201
    )
    assert client.delete(f"{MAPPINGS_URL}{mapping['id']}/").status_code == 204
    assert not ImportMapping.objects.filter(pk=mapping["id"]).exists()


def test_mapping_checks(client, site, cat):
    response = client.post(
        MAPPINGS_URL,
        {
            "name": "x",
            "columns": {"title": "Nom", "colour": "Couleur"},
            "defaults": {"quantity": "beaucoup", "unit": "kg"},
        },
        format="json",
        **EN,
    )
    assert response.status_code == 400
    assert {(e["field"], e["message"]) for e in response.json()["errors"]} == {
        ("columns.colour", "Not an offer field."),
        ("columns.external_ref", "Required: the column holding your reference keys each row."),
        ("defaults.quantity", "A number is expected."),
    }
    assert not ImportMapping.objects.exists()


def test_an_unknown_mapping_name_is_a_400(client):
    response = send(client, csv_bytes([HEADER, ["A", "B", "1", "piece", "good"]]), mapping="Nope")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "mapping", "code": "invalid", "message": "Your organisation has no mapping with this name."}
    ]


# ---- rows -----------------------------------------------------------------------------------------


def test_row_errors_carry_the_row_number_and_the_field(
    client, firm, site, cat, django_capture_on_commit_callbacks
):
    content = csv_bytes(
        [
            HEADER,
            ["SKU-1", "Chaises", "12", "piece", "good"],  # row 2
            ["SKU-2", "Tables", "douze", "piece", "good"],  # row 3: not a number
            ["", "", "", "", ""],  # row 4: blank, skipped
            ["SKU-3", "", "2", "piece", "good"],  # row 5: no title to create an offer
            ["SKU-4", "Bancs", "2", "piece", "shiny"],  # row 6: unknown condition
            ["SKU-5", "Bancs", "2,5", "piece", "good"],  # row 7: half a piece (the services' rule)
            ["SKU-1", "Chaises bis", "3", "piece", "good"],  # row 8: the reference again
            ["", "Sans référence", "3", "piece", "good"],  # row 9: no reference
        ]
    )
    job = run(
        client, django_capture_on_commit_callbacks, content, columns=COLUMNS, defaults=defaults_for(site, cat)
    )
    assert outcome(job) == ("finished", 7, 7, 1, 0, 0, 6)

    def error(row, column, field, message):
        return {"row": row, "column": column, "field": field, "code": "validation_error", "message": message}

    assert job["errors"] == [
        error(3, "Quantité", "quantity", "A number is expected."),
        error(
            5,
            "Désignation",
            "title",
            "Required to create an offer (no live offer of yours holds this reference).",
        ),
        error(6, "État", "condition", "Expected one of: new, good, fair, for_parts."),
        error(7, "Quantité", "quantity", "This lot is counted in whole units."),
        error(8, "Référence", "external_ref", "This reference is already on an earlier row."),
        error(9, "Référence", "external_ref", "Every row needs its reference: it is the row's key."),
    ]
    assert [o[0] for o in offers_of(firm)] == ["SKU-1"]


def test_the_same_file_twice_creates_nothing_new(client, firm, site, cat, django_capture_on_commit_callbacks):
    content = csv_bytes(
        [HEADER, ["SKU-1", "Chaises", "12,5", "kg", "good"], ["SKU-2", "Tables", "3", "piece", "fair"]],
        delimiter=";",
    )
    first = run(
        client, django_capture_on_commit_callbacks, content, columns=COLUMNS, defaults=defaults_for(site, cat)
    )
    before = {o.pk: o.updated_at for o in Offer.objects.all()}
    events = DomainEvent.objects.filter(aggregate_type="offer").count()
    second = run(
        client, django_capture_on_commit_callbacks, content, columns=COLUMNS, defaults=defaults_for(site, cat)
    )
    assert outcome(first) == ("finished", 2, 2, 2, 0, 0, 0)
    assert outcome(second) == ("finished", 2, 2, 0, 0, 2, 0)
    assert first["sha256"] == second["sha256"] and first["id"] != second["id"]
    assert {o.pk: o.updated_at for o in Offer.objects.all()} == before
    assert DomainEvent.objects.filter(aggregate_type="offer").count() == events
    # A changed row updates its offer only.
    changed = content.replace(b"Tables;3", b"Tables;4")
    third = run(
        client, django_capture_on_commit_callbacks, changed, columns=COLUMNS, defaults=defaults_for(site, cat)
    )
    assert outcome(third) == ("finished", 2, 2, 0, 1, 1, 0)
    assert Offer.objects.get(external_ref="SKU-2").quantity == 4


def test_a_quantity_below_what_is_reserved_is_a_row_error(
    client, firm, site, cat, django_capture_on_commit_callbacks
):
    offer = make_offer(firm, site, cat, quantity=10, external_ref="SKU-1", title="Palettes")
    reserve(offer, 6)
    content = csv_bytes(
        [HEADER, ["SKU-1", "Palettes", "5", "piece", "good"], ["SKU-2", "Tables", "3", "piece", "good"]]
    )
    job = run(
        client, django_capture_on_commit_callbacks, content, columns=COLUMNS, defaults=defaults_for(site, cat)
    )
    assert outcome(job) == ("finished", 2, 2, 1, 0, 0, 1)
    assert job["errors"] == [
        {
            "row": 2,
            "column": "Quantité",
            "field": "quantity",
            "code": "quantity_below_reserved",
            "message": "Accepted claims and handovers already account for more than this quantity.",
        }
    ]
    offer.refresh_from_db()
    assert (offer.quantity, offer.remaining_quantity, offer.reserved_quantity) == (10, 4, 6)


def test_another_firms_references_are_untouched(client, firm, site, cat, django_capture_on_commit_callbacks):
    other = make_org(name="Concurrent SA")
    theirs = make_offer(other, make_site(other), cat, quantity=7, external_ref="SKU-1", title="Leurs chaises")
    content = csv_bytes([HEADER, ["SKU-1", "Nos chaises", "12", "piece", "good"]])
    job = run(
        client, django_capture_on_commit_callbacks, content, columns=COLUMNS, defaults=defaults_for(site, cat)
    )
    assert outcome(job) == ("finished", 1, 1, 1, 0, 0, 0)
    theirs_after = Offer.objects.get(pk=theirs.pk)
    assert (theirs_after.title, theirs_after.quantity, theirs_after.updated_at) == (
        "Leurs chaises",
        7,
        theirs.updated_at,
    )
    assert offers_of(firm) == [("SKU-1", "Nos chaises", Decimal("12"), "piece", "good", "draft")]
    # A site of theirs in a default is a row error on `site`, not their site used.
    job = run(
        client,
        django_capture_on_commit_callbacks,
        csv_bytes([HEADER, ["SKU-9", "Bancs", "1", "piece", "good"]]),
        columns=COLUMNS,
        defaults=defaults_for(theirs.site, cat),
    )
    assert [(e["row"], e["field"], e["column"]) for e in job["errors"]] == [(2, "site", None)]


# ---- files refused when sent --------------------------------------------------------------------


def _problem(response) -> tuple:
    body = response.json()
    assert response["Content-Type"] == "application/problem+json"
    return response.status_code, body["code"]


def test_bad_files_are_refused_when_sent(client, site, cat, settings):
    good_header = csv_bytes([HEADER, ["SKU-1", "Chaises", "12", "piece", "good"]])
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x08"
    assert _problem(send(client, png, name="stock.csv", columns=COLUMNS)) == (
        415,
        "unsupported_import_format",
    )
    assert _problem(send(client, b"\x81\x8d\x8f\x90\x9d", columns=COLUMNS)) == (
        415,
        "unsupported_import_format",
    )
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("readme.txt", "not a workbook")
    assert _problem(send(client, zipped.getvalue(), name="stock.xlsx", columns=COLUMNS)) == (
        415,
        "unsupported_import_format",
    )
    empty = send(client, b"", columns=COLUMNS)
    assert _problem(empty) == (400, "validation_error") and empty.json()["errors"][0]["field"] == "file"
    assert _problem(send(client, csv_bytes([HEADER]), columns=COLUMNS)) == (400, "import_file_empty")
    damaged = io.BytesIO()
    with zipfile.ZipFile(damaged, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook><sheets>")
    assert _problem(send(client, damaged.getvalue(), name="stock.xlsx", columns=COLUMNS)) == (
        400,
        "import_file_unreadable",
    )
    unknown = send(client, good_header, columns={**COLUMNS, "title": "Libellé"})
    assert _problem(unknown) == (400, "unknown_import_column")
    assert unknown.json()["errors"] == [
        {"field": "columns.title", "code": "invalid", "message": "The file has no column “Libellé”."}
    ]
    assert unknown.json()["headers"] == HEADER
    assert _problem(send(client, good_header, columns={"title": "Désignation"})) == (400, "validation_error")
    neither = send(client, good_header)
    assert _problem(neither) == (400, "validation_error")
    assert {e["field"] for e in neither.json()["errors"]} == {"mapping", "columns"}
    not_json = client.post(
        URL, {"file": SimpleUploadedFile("a.csv", good_header), "columns": "{oops"}, format="multipart"
    )
    assert _problem(not_json) == (400, "validation_error")
    settings.BOUCLE_IMPORT_MAX_BYTES = 64
    too_big = send(client, good_header + b"x" * 64, columns=COLUMNS)
    assert _problem(too_big) == (413, "import_file_too_large") and too_big.json()["max_bytes"] == 64
    settings.BOUCLE_IMPORT_MAX_BYTES = 4 * 1024 * 1024
    settings.BOUCLE_IMPORT_MAX_ROWS = 1
    rows = csv_bytes([HEADER, ["A", "a", "1", "piece", "good"], ["B", "b", "1", "piece", "good"]])
    assert _problem(send(client, rows, columns=COLUMNS)) == (400, "import_too_many_rows")
    # JSON is not how a file comes.
    assert client.post(URL, {"columns": COLUMNS}, format="json").status_code == 415
    assert not OfferImport.objects.exists()


# ---- who may ---------------------------------------------------------------------------------------


def test_isolation(client, firm, site, cat, django_capture_on_commit_callbacks):
    content = csv_bytes([HEADER, ["SKU-1", "Chaises", "12", "piece", "good"]])
    job = run(
        client, django_capture_on_commit_callbacks, content, columns=COLUMNS, defaults=defaults_for(site, cat)
    )
    mapping = client.post(MAPPINGS_URL, {"name": "m", "columns": COLUMNS}, format="json").json()
    other = client_for(make_member(make_org(name="Autre SARL")))
    for url in (f"{URL}{job['id']}/", f"{MAPPINGS_URL}{mapping['id']}/"):
        assert _problem(other.get(url)) == (404, "not_found")
    assert _problem(other.patch(f"{MAPPINGS_URL}{mapping['id']}/", {"name": "x"}, format="json")) == (
        404,
        "not_found",
    )
    assert other.get(URL).json()["results"] == [] and other.get(MAPPINGS_URL).json()["results"] == []
    _key, raw = make_api_key(firm, scopes=("read",))
    reader = client_for_key(raw)
    assert [i["id"] for i in reader.get(URL).json()["results"]] == [job["id"]]
    assert reader.get(f"{URL}{job['id']}/").status_code == 200
    refused = send(reader, content, columns=COLUMNS, defaults=defaults_for(site, cat))
    # Refused before the view, as every write of a read key (api.permissions).
    assert _problem(refused) == (403, "permission_denied")
    mapping_refused = reader.post(MAPPINGS_URL, {"name": "k", "columns": COLUMNS}, format="json")
    assert _problem(mapping_refused) == (403, "permission_denied")
    assert OfferImport.objects.count() == 1
    association = client_for(make_member(make_org("association", name="Asso")))
    assert _problem(send(association, content, columns=COLUMNS)) == (403, "organisation_kind_cannot_offer")


def test_idempotency_key_replays_the_import(client, site, cat, django_capture_on_commit_callbacks):
    content = csv_bytes([HEADER, ["SKU-1", "Chaises", "12", "piece", "good"]])
    with django_capture_on_commit_callbacks(execute=True):
        first = send(
            client,
            content,
            columns=COLUMNS,
            defaults=defaults_for(site, cat),
            HTTP_IDEMPOTENCY_KEY="nightly-1",
        )
    with django_capture_on_commit_callbacks(execute=True):
        again = send(
            client,
            content,
            columns=COLUMNS,
            defaults=defaults_for(site, cat),
            HTTP_IDEMPOTENCY_KEY="nightly-1",
        )
    assert (first.status_code, again.status_code) == (202, 202)
    assert again["Idempotent-Replayed"] == "true" and again["Location"] == first["Location"]
    assert again.json()["id"] == first.json()["id"]
    assert OfferImport.objects.count() == 1 and Offer.objects.count() == 1


# ---- the worker ------------------------------------------------------------------------------------


def _queued(firm, site, cat, rows: int, *, actor: Actor) -> OfferImport:
    content = csv_bytes(
        [HEADER, *[[f"SKU-{n}", f"Lot {n}", "2", "piece", "good"] for n in range(1, rows + 1)]]
    )
    return imports.offer_import_create(
        actor=actor,
        organisation_id=firm.pk,
        content=content,
        filename="stock.csv",
        columns=COLUMNS,
        defaults=defaults_for(site, cat),
        enqueue=False,
    )


def test_progress_per_batch_and_the_finished_event(firm, member, site, cat, monkeypatch):
    monkeypatch.setattr(bulk, "MAX_ITEMS", 2)
    job = _queued(firm, site, cat, 5, actor=Actor.for_user(member))
    assert job.status == ImportStatus.QUEUED
    seen = []
    job = imports.offer_import_process(import_id=job.pk, progress=seen.append)
    assert seen == [2, 2, 1]
    assert (job.status, job.rows_processed, job.created_count) == (ImportStatus.FINISHED, 5, 5)
    event = DomainEvent.objects.get(name="import.finished")
    assert (event.aggregate_type, event.aggregate_id, event.organisation_id, event.actor) == (
        "offer_import",
        job.pk,
        firm.pk,
        f"user:{member.pk}",
    )
    assert event.payload == {
        "status": "finished",
        "rows_total": 5,
        "rows_processed": 5,
        "created": 5,
        "updated": 0,
        "unchanged": 0,
        "errors": 0,
    }
    # The task again: the import is done, nothing happens.
    process_offer_import.apply(kwargs={"import_id": job.pk}, throw=True)
    assert DomainEvent.objects.filter(name="import.finished").count() == 1
    assert Offer.objects.filter(organisation=firm).count() == 5


def test_a_run_that_died_resumes_after_its_last_committed_batch(firm, member, site, cat, monkeypatch):
    monkeypatch.setattr(bulk, "MAX_ITEMS", 2)
    job = _queued(firm, site, cat, 5, actor=Actor.for_user(member))

    def database_lost(rows: int) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    with pytest.raises(OperationalError):
        imports.offer_import_process(import_id=job.pk, progress=database_lost)
    job.refresh_from_db()
    assert (job.status, job.rows_processed, job.created_count) == (ImportStatus.RUNNING, 2, 2)
    process_offer_import.apply(kwargs={"import_id": job.pk}, throw=True)  # the retry
    job.refresh_from_db()
    assert (job.status, job.rows_processed, job.created_count, job.unchanged_count) == (
        ImportStatus.FINISHED,
        5,
        5,
        0,
    )
    assert Offer.objects.filter(organisation=firm).count() == 5


def test_a_key_revoked_before_the_worker_runs_fails_the_import(firm, site, cat):
    key, _raw = make_api_key(firm)
    job = _queued(firm, site, cat, 2, actor=Actor.for_api_key(key))
    assert job.created_by == f"api-key:{key.prefix}"
    admin = make_member(firm, MembershipRole.ADMIN)
    api_key_revoke(actor=Actor.for_user(admin), api_key_id=key.pk)
    job = imports.offer_import_process(import_id=job.pk)
    assert (job.status, job.failure_code, job.rows_processed) == (ImportStatus.FAILED, "api_key_revoked", 0)
    assert not Offer.objects.filter(organisation=firm).exists()
    assert DomainEvent.objects.get(name="import.finished").payload["status"] == "failed"


def test_the_database_keeps_the_counts_consistent(firm, member, site, cat):
    from django.db import IntegrityError, transaction

    job = _queued(firm, site, cat, 2, actor=Actor.for_user(member))
    for changes in (
        {"rows_processed": 3},
        {"rows_processed": 1},
        {"created_count": -1},
        {"status": "finished"},
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            OfferImport.objects.filter(pk=job.pk).update(**changes)


# ---- the command ----------------------------------------------------------------------------------


def test_the_command_imports_with_a_summary(firm, member, site, cat, tmp_path):
    path = tmp_path / "stock.csv"
    path.write_bytes(
        csv_bytes(
            [HEADER, ["SKU-1", "Chaises", "12", "piece", "good"], ["SKU-2", "Tables", "x", "piece", "good"]],
            delimiter=";",
            encoding="cp1252",
        )
    )
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "import_offers",
        str(path),
        organisation=str(firm.pk),
        mapping=json.dumps(COLUMNS),
        defaults=json.dumps(defaults_for(site, cat)),
        stdout=out,
        stderr=err,
    )
    job = OfferImport.objects.get()
    assert (job.status, job.created_by) == (ImportStatus.FINISHED, "system")
    assert out.getvalue().splitlines()[0] == (
        f"Import #{job.pk} finished: 2 of 2 rows; created 1, updated 0, unchanged 0, errors 1."
    )
    assert out.getvalue().splitlines()[1].startswith("  row 3, Quantité: ")
    # As a person, with a saved mapping, by the organisation's name: the same file is all unchanged.
    ImportMapping.objects.create(
        organisation=firm, name="ERP", columns=COLUMNS, defaults=defaults_for(site, cat), created_by="test"
    )
    out = io.StringIO()
    call_command(
        "import_offers",
        str(path),
        organisation=firm.name,
        mapping="ERP",
        as_user=member.email,
        stdout=out,
        stderr=err,
    )
    assert "created 0, updated 0, unchanged 1, errors 1." in out.getvalue()
    assert OfferImport.objects.latest("id").created_by == f"user:{member.pk}"
    with pytest.raises(CommandError, match="unknown_import_column"):
        call_command(
            "import_offers",
            str(path),
            organisation=str(firm.pk),
            mapping='{"external_ref": "Code"}',
            stdout=out,
            stderr=err,
        )
    with pytest.raises(CommandError, match="No single organisation"):
        call_command(
            "import_offers", str(path), organisation="Personne", mapping="ERP", stdout=out, stderr=err
        )


@pytest.mark.slow
@pytest.mark.usefixtures("live_celery")
def test_a_real_worker_runs_the_import_once_committed(transactional_db):
    """No eager mode: the task goes through Redis once the import is committed, and a worker runs it."""
    firm = make_org(name="Menuiserie du Nord")
    client = client_for(make_member(firm, MembershipRole.MEMBER))
    cat = Category.objects.create(
        key="furniture-live", name_fr="Mobilier", name_en="Furniture", default_unit="piece"
    )
    content = csv_bytes(
        [HEADER, ["SKU-1", "Chaises", "12", "piece", "good"], ["SKU-2", "Tables", "3", "piece", "good"]]
    )
    response = send(client, content, columns=COLUMNS, defaults=defaults_for(make_site(firm), cat))
    assert response.status_code == 202
    job_id = response.json()["id"]
    assert wait_for(lambda: OfferImport.objects.get(pk=job_id).status == ImportStatus.FINISHED, 30)
    job = client.get(response["Location"]).json()
    assert outcome(job) == ("finished", 2, 2, 2, 0, 0, 0)
    assert sorted(Offer.objects.filter(organisation=firm).values_list("external_ref", flat=True)) == [
        "SKU-1",
        "SKU-2",
    ]
