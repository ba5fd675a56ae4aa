"""Reading a stock file (CSV or XLSX) into a header and rows, its format read from the bytes."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from ..models import (
    ImportFormat,
)
from .limits import MAX_COLUMNS, MAX_INFLATION, ImportRejected, _text

# ---- reading a file ---------------------------------------------------------------------------------


@dataclass
class Table:
    """A sheet as rows of cells: the header, then (row number, cells) for each row that is not blank."""

    file_format: str
    headers: list[str]
    _rows: Callable[[], Iterator[tuple[int, Sequence[Any]]]]

    def rows(self) -> Iterator[tuple[int, Sequence[Any]]]:
        return self._rows()


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _non_blank_rows(rows: Iterator[Sequence[Any]], first_number: int) -> Iterator[tuple[int, Sequence[Any]]]:
    for number, cells in enumerate(rows, start=first_number):
        if not all(_blank(cell) for cell in cells):
            yield number, cells


def _decoded(content: bytes) -> str:
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings: tuple[str, ...] = ("utf-16",)
    else:
        encodings = ("utf-8-sig", "cp1252")
    for encoding in encodings:
        try:
            text = content.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break
        return text
    raise ImportRejected(
        _("The file is neither an XLSX workbook nor a CSV text in UTF-8 or Windows-1252."),
        reason="unsupported_type",
        code="unsupported_import_format",
    )


def _delimiter(text: str) -> str:
    header_line = text.split("\n", 1)[0]
    counts = {delimiter: header_line.count(delimiter) for delimiter in (";", ",", "\t")}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ","


def _malformed(number: int, reason: object) -> ImportRejected:
    return ImportRejected(
        _("The file cannot be read at row %(row)s: %(reason)s.") % {"row": number, "reason": reason},
        code="import_file_unreadable",
        extra={"row": number},
    )


def _csv_table(content: bytes) -> Table:
    text = _decoded(content)
    delimiter = _delimiter(text)

    def records() -> Iterator[Sequence[Any]]:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        number = 0
        try:
            for number, record in enumerate(reader, start=1):  # noqa: B007 (read in the except)
                yield record
        except csv.Error as exc:
            raise _malformed(number + 1, exc) from exc

    first = next(iter(records()), None)
    return Table(
        ImportFormat.CSV, _headers(first), lambda: _non_blank_rows(itertools.islice(records(), 1, None), 2)
    )


def _xlsx_table(content: bytes) -> Table:
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            inflated = sum(member.file_size for member in archive.infolist())
            is_workbook = "xl/workbook.xml" in archive.namelist()
    except zipfile.BadZipFile as exc:
        raise _malformed(1, exc) from exc
    if not is_workbook:
        raise ImportRejected(
            _("This zip file is not an XLSX workbook."),
            reason="unsupported_type",
            code="unsupported_import_format",
        )
    if inflated > MAX_INFLATION * settings.BOUCLE_IMPORT_MAX_BYTES:
        raise _too_large()

    def sheet_rows() -> Iterator[Sequence[Any]]:
        try:
            workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds of errors on a damaged workbook
            raise _malformed(1, exc) from exc
        try:
            if not workbook.worksheets:
                return
            number = 0
            try:
                for number, row in enumerate(  # noqa: B007 (read in the except)
                    workbook.worksheets[0].iter_rows(values_only=True, max_col=MAX_COLUMNS), start=1
                ):
                    yield row
            except Exception as exc:  # a damaged sheet shows only as it is read
                raise _malformed(number + 1, exc) from exc
        finally:
            workbook.close()

    first = next(iter(sheet_rows()), None)
    return Table(
        ImportFormat.XLSX,
        _headers(first),
        lambda: _non_blank_rows(itertools.islice(sheet_rows(), 1, None), 2),
    )


def _headers(first: Sequence[Any] | None) -> list[str]:
    headers = [] if first is None else [_text(cell) for cell in first]
    while headers and not headers[-1]:
        headers.pop()
    if not headers:
        raise ImportRejected(
            _("The file is empty: its first row must name the columns."), code="import_file_empty"
        )
    return headers


def _too_large() -> ImportRejected:
    limit = settings.BOUCLE_IMPORT_MAX_BYTES
    return ImportRejected(
        _("The file is larger than %(max)s bytes.") % {"max": limit},
        reason="too_large",
        code="import_file_too_large",
        extra={"max_bytes": limit},
    )


def table_read(content: bytes) -> Table:
    """The sheet of a CSV or XLSX file (told apart by their bytes); ImportRejected when it is neither,
    too large, or has no header."""
    if len(content) > settings.BOUCLE_IMPORT_MAX_BYTES:
        raise _too_large()
    if not content:
        raise ImportRejected(
            _("The file is empty: its first row must name the columns."), code="import_file_empty"
        )
    if content.startswith(b"PK\x03\x04"):
        return _xlsx_table(content)
    return _csv_table(content)
