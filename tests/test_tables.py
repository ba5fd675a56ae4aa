"""The one table writer (core.tables) and its HTTP side (api.exports): the cells, the header rule (machine
keys, then labels in the active language on request), the bytes, streaming, the filenames."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace

from django.utils import translation

from api.exports import filename, period_filename, streamed
from claims.models import ConfirmationState
from core.tables import CSV, Column, Dialect, cell, columns_of, file_stem, label, table_bytes, table_chunks

COLUMNS = columns_of(
    ("mass_kg", "Masse (kg)", "Mass (kg)"),
    ("outlier_tonnes", "Tonnes aberrantes", "Outlier tonnes", "outliers.tonnes"),
    ("note", "Note", "Note"),
)
ROWS = [
    {
        "mass_kg": Decimal("12.500"),
        "outliers": {"tonnes": Decimal("0.000000")},
        "note": 'dit "oui", puis\nnon',
    },
    {"mass_kg": None, "outliers": None, "note": ""},
]


def test_cells_decimals_none_booleans_dates_lists():
    assert cell(None) == ""
    assert (cell(True), cell(False)) == ("true", "false")
    assert cell(Decimal("-12.500")) == "-12.500"
    assert cell(Decimal("0E-7")) == "0.0000000"  # never an exponent
    assert cell(Decimal("1E+3")) == "1000"
    assert (cell(7), cell(0), cell(2.5)) == ("7", "0", "2.5")
    assert cell(date(2025, 2, 1)) == "2025-02-01"
    # aware times in the current time zone (Europe/Paris), naive ones as they are
    assert cell(datetime(2025, 5, 2, 8, 0, tzinfo=UTC)) == "2025-05-02T10:00:00+02:00"
    assert cell(datetime(2025, 1, 2, 8, 0)) == "2025-01-02T08:00:00"
    assert cell(["2025.1", "2026.1"]) == "2025.1; 2026.1"
    assert cell((Decimal("1.0"), None, True)) == "1.0; ; true"
    assert cell(ConfirmationState.PENDING) == "pending"
    assert cell(label("Oui", "Yes")) == "Oui"


def test_a_column_reads_its_key_or_a_dotted_source():
    mass, outlier_tonnes, _note = COLUMNS
    assert (mass.key, mass.value(ROWS[0])) == ("mass_kg", Decimal("12.500"))
    assert (outlier_tonnes.key, outlier_tonnes.value(ROWS[0])) == ("outlier_tonnes", Decimal("0.000000"))
    assert outlier_tonnes.value(ROWS[1]) is None and outlier_tonnes.value({}) is None
    assert Column("x", "X").value({"x": 1}) == 1


def _read(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8"))))


def test_machine_keys_first_in_every_language_then_labels_on_request():
    with translation.override("fr"):
        french = table_bytes(COLUMNS, ROWS, labels=True)
        plain = table_bytes(COLUMNS, ROWS, labels=False)
    with translation.override("en"):
        english = table_bytes(COLUMNS, ROWS, labels=True)
        assert table_bytes(COLUMNS, ROWS, labels=False) == plain  # the machine row is the same
    keys = ["mass_kg", "outlier_tonnes", "note"]
    data = [["12.500", "0.000000", 'dit "oui", puis\nnon'], ["", "", ""]]
    assert _read(plain) == [keys, *data]
    assert _read(french) == [keys, ["Masse (kg)", "Tonnes aberrantes", "Note"], *data]
    assert _read(english) == [keys, ["Mass (kg)", "Outlier tonnes", "Note"], *data]
    # RFC 4180: CRLF line ends, quotes doubled, no BOM
    assert plain.startswith(b"mass_kg,outlier_tonnes,note\r\n12.500,0.000000,")
    assert b'"dit ""oui"", puis\nnon"' in plain


def test_the_labels_are_resolved_when_written_not_when_declared():
    with translation.override("en"):
        declared = columns_of(("handovers", "Remises", "Handovers"))
    with translation.override("fr"):
        assert _read(table_bytes(declared, [], labels=True))[1] == ["Remises"]


def test_the_stream_writes_line_by_line_and_reads_rows_as_it_goes():
    read: list[int] = []

    def rows():
        for number in range(3):
            read.append(number)
            yield {"mass_kg": Decimal(number), "note": None}

    chunks = table_chunks(COLUMNS, rows(), labels=True)
    with translation.override("fr"):
        assert next(chunks) == b"mass_kg,outlier_tonnes,note\r\n"
        assert next(chunks) == b"Masse (kg),Tonnes aberrantes,Note\r\n"
        assert read == []
        assert next(chunks) == b"0,,\r\n"
        assert read == [0]
        assert list(chunks) == [b"1,,\r\n", b"2,,\r\n"]


def test_a_dialect_decides_the_bytes():
    semicolons = Dialect("test", delimiter=";", lineterminator="\n", encoding="utf-8")
    assert table_bytes(COLUMNS[:1], [{"mass_kg": 1}], labels=False, dialect=semicolons) == b"mass_kg\n1\n"
    assert (CSV.media_type, CSV.extension, CSV.encoding) == ("text/csv", "csv", "utf-8")


def test_the_streamed_answer():
    with translation.override("en"):
        response = streamed(COLUMNS, iter(ROWS), filename="boucle-x.csv", labels=True)
        content = b"".join(response.streaming_content)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="boucle-x.csv"'
    assert _read(content)[:2] == [
        ["mass_kg", "outlier_tonnes", "note"],
        ["Mass (kg)", "Outlier tonnes", "Note"],
    ]


def test_one_filename_rule():
    assert file_stem("2025-02", "commune-59512") == "boucle-2025-02-commune-59512"
    assert filename("handovers") == "boucle-handovers.csv"
    params = SimpleNamespace(date_from=date(2025, 1, 1), date_to=date(2025, 12, 31))
    assert period_filename("summary", params) == "boucle-summary-2025-01-01_2025-12-31.csv"
    assert period_filename("impact", params, 12) == "boucle-impact-12-2025-01-01_2025-12-31.csv"
