"""Exports over HTTP: every CSV answer of the API (the statistics tables, the anonymised ledger, the
handovers, an organisation's impact) goes through this module, and its bytes through `core.tables`.

The header rule, decided once: the first row is always the columns' machine keys, snake_case English,
identical in every language and documented with each operation: a program reads them whatever
`Accept-Language` says. `?labels=true` adds a second row with each column's label in the request's
language (French by default, English with `Accept-Language: en`), for people opening the file in a
spreadsheet. The query parameter is declared like every other (`ExportQueryIn`, read strictly by
`api.inputs`); an operation's input serializer inherits it.

A table small enough to hold (`Table`) is rendered by `TableRenderer` and answered with its validators
by `api.conditional.conditional`; a large list (the ledger, the handovers) is streamed by `streamed`,
its rows read as they are written. A table's filename is `filename`. Which bytes (CSV today; an
Excel-French dialect and XLSX with issue 15) is decided by the `core.tables.Dialect` they are given."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from core.tables import CSV, Column, Dialect, file_stem, table_bytes, table_chunks

from .inputs import validated_query

CSV_MEDIA_TYPE = "text/csv"

LABELS_TEXT = (
    "CSV only. The first row is always the columns' machine keys (snake_case English, the same in every "
    "language); `true` adds a second row with the columns' labels in the request's language "
    "(`Accept-Language`: French by default, or English). Default `false`."
)


class ExportQueryIn(serializers.Serializer):
    """The query parameters of every export; inherited by the input serializer of each operation that
    answers CSV, so the schema documents them and `api.inputs.validated_query` reads them strictly."""

    labels = serializers.ChoiceField(
        choices=["true", "false"], required=False, default="false", help_text=LABELS_TEXT
    )


def labels_requested(request: Request) -> bool:
    """Whether the request asks for the labels row (`?labels=true`); a bad or repeated value is the
    400 of any query parameter."""
    return validated_query(ExportQueryIn, request)["labels"] == "true"


def table_requested(request: Request) -> bool:
    """Whether content negotiation chose the table (`?format=csv` or `Accept: text/csv`)."""
    return getattr(request.accepted_renderer, "format", None) == TableRenderer.format


def filename(kind: str, *qualifiers: object, dialect: Dialect = CSV) -> str:
    """`boucle-<kind>[-<qualifier>…].csv`, e.g. `boucle-summary-2025-01-01_2025-12-31.csv`."""
    return f"{file_stem(kind, *qualifiers)}.{dialect.extension}"


def period_filename(kind: str, params: Any, *qualifiers: object) -> str:
    """The filename of a table over a statistics period (`params.date_from`, `params.date_to`)."""
    return filename(kind, *qualifiers, f"{params.date_from}_{params.date_to}")


@dataclass(frozen=True)
class Table:
    """Rows to answer as a table; `labels` is set by `api.conditional.conditional` from the request."""

    columns: Sequence[Column]
    rows: Sequence[Mapping[str, Any]]
    filename: str
    labels: bool = False
    dialect: Dialect = field(default=CSV)

    def content(self) -> bytes:
        return table_bytes(self.columns, self.rows, labels=self.labels, dialect=self.dialect)

    def validator_parts(self) -> tuple:
        """What the ETag hashes: the written keys, labels (in the active language) and cells."""
        return (
            [(column.key, str(column.label), column.source) for column in self.columns],
            self.rows,
            self.labels,
            self.dialect.name,
        )


class TableRenderer(BaseRenderer):
    """`?format=csv` or `Accept: text/csv`. A `Table` is written here; a streamed answer writes itself
    (`streamed`), this renderer then only makes the format negotiable. Errors stay problem+json
    (api.errors)."""

    media_type = CSV_MEDIA_TYPE
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if isinstance(data, Table):
            return data.content()
        return data if isinstance(data, bytes) else b""


def attachment(name: str) -> str:
    return f'attachment; filename="{name}"'


def streamed(
    columns: Sequence[Column],
    rows: Iterable[Mapping[str, Any]],
    *,
    filename: str,
    labels: bool,
    dialect: Dialect = CSV,
) -> StreamingHttpResponse:
    """A large table streamed: the header rows, then each row as it is read (never held in memory)."""
    response = StreamingHttpResponse(
        table_chunks(columns, rows, labels=labels, dialect=dialect),
        content_type=f"{dialect.media_type}; charset={dialect.encoding}",
    )
    response["Content-Disposition"] = attachment(filename)
    return response


def machine_keys(columns: Sequence[Column]) -> str:
    """The columns' machine keys, for the schema (an operation's description)."""
    return ", ".join(f"`{column.key}`" for column in columns)


def columns_sentence(columns: Sequence[Column]) -> str:
    """The sentence an operation's description ends with: its CSV columns' machine keys."""
    return f" CSV columns (machine keys, the first row): {machine_keys(columns)}."


def table_response(description: str, columns: Sequence[Column]) -> OpenApiResponse:
    """The schema of a CSV answer: what its rows are, and its columns' machine keys (the first row)."""
    return OpenApiResponse(
        OpenApiTypes.STR, description=f"{description}; machine keys (first row): {machine_keys(columns)}."
    )
