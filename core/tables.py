"""Tables as CSV, with no HTTP: the one writer of every export (the API's statistics, ledger and
handovers through `api/exports.py`, the monthly reports of `impact/reports.py`).

The header rule, the same everywhere: the first row is the columns' stable machine keys (snake_case
English, identical in every language: what programs read); when labels are asked for, a second row
gives each column's label in the active language (what people read). Then one row per record.

A column's label is bilingual and lazy (`label("Masse (kg)", "Mass (kg)")`): it is resolved when the
table is written, by `core.i18n.localized`. Cells are written by `cell` alone. The bytes (separator,
line ending, encoding) are decided by a `Dialect`, in `Dialect.encode` only: issue 15 adds an
Excel-French dialect (`;`, decimal comma, BOM) there, and XLSX as another writer of the same
columns and rows."""

from __future__ import annotations

import csv
import enum
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.functional import Promise, lazy

from .i18n import localized

label: Callable[[str, str], str] = lazy(localized, str)
"""A bilingual label (French, English), resolved in the language active when it is written."""


@dataclass(frozen=True)
class Column:
    """`key`: the machine key (snake_case English, the first row); `label`: what people read (the
    optional second row); `source`: where the value is in a row, a dotted path for nested rows
    (`outliers.handovers`), else the key itself."""

    key: str
    label: str | Promise
    source: str | None = None

    def value(self, row: Mapping[str, Any]) -> Any:
        value: Any = row
        for part in (self.source or self.key).split("."):
            if not isinstance(value, Mapping):
                return None
            value = value.get(part)
        return value


def columns_of(*declared: tuple[str, str, str] | tuple[str, str, str, str]) -> list[Column]:
    """Columns from (key, French label, English label[, source]) tuples: the short form of a table."""
    return [Column(key, label(fr, en), source[0] if source else None) for key, fr, en, *source in declared]


def cell(value: Any) -> str:
    """A value as CSV text: nothing for None, `true`/`false`, decimals as written (never an exponent),
    dates and times in ISO 8601 (aware times in the current time zone), lists joined by `; `."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return (timezone.localtime(value) if timezone.is_aware(value) else value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return cell(value.value)
    if isinstance(value, list | tuple):
        return "; ".join(cell(item) for item in value)
    return str(value)


def header_rows(columns: Sequence[Column], *, labels: bool) -> list[list[str]]:
    """The machine keys, then (with `labels`) the labels in the active language."""
    rows = [[column.key for column in columns]]
    if labels:
        rows.append([str(column.label) for column in columns])
    return rows


def table_rows(
    columns: Sequence[Column], rows: Iterable[Mapping[str, Any]], *, labels: bool
) -> Iterator[list[str]]:
    """Every line of the table as text cells: the header rows, then one line per row."""
    yield from header_rows(columns, labels=labels)
    for row in rows:
        yield [cell(column.value(row)) for column in columns]


class _Echo:
    """A file that hands back what is written, so csv.writer formats one line at a time."""

    def write(self, value: str) -> str:
        return value


@dataclass(frozen=True)
class Dialect:
    """How lines become bytes: the one place that decides them."""

    name: str
    delimiter: str = ","
    lineterminator: str = "\r\n"
    encoding: str = "utf-8"
    media_type: str = "text/csv"
    extension: str = "csv"

    def encode(self, lines: Iterable[list[str]]) -> Iterator[bytes]:
        writer = csv.writer(_Echo(), delimiter=self.delimiter, lineterminator=self.lineterminator)
        for line in lines:
            yield writer.writerow(line).encode(self.encoding)


CSV = Dialect("csv")
"""RFC 4180: UTF-8 without BOM, comma-separated, CRLF, decimal point."""


def file_stem(*parts: object) -> str:
    """The name of an exported file, without its extension: `boucle-<part>-<part>…`."""
    return "-".join(["boucle", *(str(part) for part in parts)])


def table_chunks(
    columns: Sequence[Column],
    rows: Iterable[Mapping[str, Any]],
    *,
    labels: bool,
    dialect: Dialect = CSV,
) -> Iterator[bytes]:
    """The table's bytes line by line, for a streamed answer (rows are read as they are written)."""
    return dialect.encode(table_rows(columns, rows, labels=labels))


def table_bytes(
    columns: Sequence[Column],
    rows: Iterable[Mapping[str, Any]],
    *,
    labels: bool,
    dialect: Dialect = CSV,
) -> bytes:
    """The whole table's bytes."""
    return b"".join(table_chunks(columns, rows, labels=labels, dialect=dialect))
