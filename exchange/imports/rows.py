"""Rows of a file to the items of the bulk upsert, their errors numbered as a spreadsheet shows them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from core.errors import InvalidInput

from .. import bulk
from .cells import CellConverter, CellRefused, _key
from .limits import CONFLICT_FIELDS, KEY_FIELD, REQUIRED_TO_CREATE, _invalid, _text
from .reading import Table, _blank

# ---- rows to upsert items ---------------------------------------------------------------------------


@dataclass
class RowReader:
    """Cells of a row → an upsert item (offer field → value), by the mapping, against the file's header."""

    columns: dict[str, str]
    defaults: dict[str, Any]
    positions: dict[str, int] = field(default_factory=dict)
    converter: CellConverter = field(default_factory=CellConverter)

    @classmethod
    def for_table(cls, table: Table, columns: dict[str, str], defaults: dict[str, Any]) -> RowReader:
        """InvalidInput `unknown_import_column` naming each mapped column the header lacks (or holds
        twice), with the file's headers."""
        found: dict[str, list[int]] = {}
        for position, header in enumerate(table.headers):
            found.setdefault(_key(header), []).append(position)
        errors: dict[str, list[str]] = {}
        positions = {}
        for name, header in columns.items():
            places = found.get(_key(header), [])
            if len(places) == 1:
                positions[name] = places[0]
            elif not places:
                errors[f"columns.{name}"] = [_("The file has no column “%(header)s”.") % {"header": header}]
            else:
                errors[f"columns.{name}"] = [
                    _("The file has several columns “%(header)s”.") % {"header": header}
                ]
        if errors:
            raise InvalidInput(
                _("The mapping names columns the file does not have as named."),
                code="unknown_import_column",
                field_errors=errors,
                extra={"headers": table.headers},
            )
        return cls(columns=columns, defaults=defaults, positions=positions)

    def reference(self, cells: Sequence[Any]) -> str | None:
        position = self.positions[KEY_FIELD]
        ref = _text(cells[position]) if position < len(cells) else ""
        return ref or None

    def item(self, cells: Sequence[Any]) -> dict[str, Any]:
        """The row's item; InvalidInput with every cell that does not convert, by field."""
        values: dict[str, Any] = dict(self.defaults)
        for name, position in self.positions.items():
            cell = cells[position] if position < len(cells) else None
            if not _blank(cell):
                values[name] = cell
        item, errors = {}, {}
        for name, value in values.items():
            try:
                item[name] = self.converter.convert(name, value)
            except CellRefused as refusal:
                errors[name] = [str(refusal)]
        if errors:
            raise _invalid(errors)
        return item

    def column_of(self, name: str) -> str | None:
        return self.columns.get(name)


def _validate_item(item: Mapping[str, Any], creating: bool) -> dict[str, Any]:
    """The upsert's check of an item already converted: what creating an offer requires."""
    if creating:
        missing = [name for name in REQUIRED_TO_CREATE if name not in item]
        if missing:
            required = _("Required to create an offer (no live offer of yours holds this reference).")
            raise bulk.ItemRefused(_invalid({name: [required] for name in missing}))
    return dict(item)


def _row_errors(row: int, error: Exception, reader: RowReader) -> list[dict[str, Any]]:
    field_errors = getattr(error, "field_errors", None)
    code = getattr(error, "code", "invalid")
    if field_errors:
        return [
            {
                "row": row,
                "column": reader.column_of(name),
                "field": name,
                "code": code,
                "message": str(message),
            }
            for name, messages in field_errors.items()
            for message in messages
        ]
    name = CONFLICT_FIELDS.get(code, "")
    message = getattr(error, "message", str(error))
    return [
        {"row": row, "column": reader.column_of(name), "field": name, "code": code, "message": str(message)}
    ]
