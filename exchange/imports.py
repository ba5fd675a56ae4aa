"""Stock files turned into offers: a CSV or XLSX file and a column mapping, read row by row and fed, in
batches, through the bulk upsert (exchange.bulk.offers_upsert), keyed by the firm's `external_ref`.

- The file is checked when it is sent (offer_import_create): its format is read from the bytes (XLSX is
  a zip holding xl/workbook.xml; anything else must decode as text), its size and row count are bounded
  (BOUCLE_IMPORT_MAX_BYTES, BOUCLE_IMPORT_MAX_ROWS), and every column the mapping names must be in its
  header. A file refused there is never stored.
- CSV: UTF-8 with or without BOM, UTF-16 with BOM, else Windows-1252 (what Excel writes in France);
  the delimiter (`;`, `,` or tab) is the one the header line holds most. XLSX: the first sheet, read
  streaming (openpyxl, read_only, computed values).
- Cells are text in a CSV and typed in an XLSX; both are converted here, by the type of the offer field
  they fill: decimals with a point or a comma ("12,5"), whole ids, booleans (true/false, oui/non, 1/0),
  dates (ISO 8601 or dd/mm/yyyy). Every business rule stays in exchange.services, which the upsert
  calls: this module only turns cells into the values those services take.
- A blank cell is a field not given: the mapping's default for it applies, if any; on an offer that
  already exists, the field stays as it is.
- Rows are numbered as a spreadsheet shows them (the header is row 1). Blank rows are skipped.
- The worker (offer_import_process) commits each batch together with the import's progress, so a
  task delivered again after a crash resumes after the last committed batch, and two workers cannot
  both apply one batch. The same file sent twice creates nothing new: every row is `unchanged`.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import inspect
import io
import itertools
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, InterfaceError, OperationalError, models, transaction
from django.db.models import F, QuerySet
from django.utils import timezone, translation
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from core.errors import DomainError, InvalidInput, NotFound
from core.events import event_record
from inventory.models import Category, Unit
from organisations.actors import Actor
from organisations.models import ApiKey, User

from . import bulk, services
from .models import (
    ImportFormat,
    ImportMapping,
    ImportStatus,
    Offer,
    OfferCondition,
    OfferImport,
    OfferMode,
)
from .rules import EDITABLE_FIELDS

# What a column (or a default) may fill: the fields of an offer, and the status an upsert item may ask.
TARGET_FIELDS = (*EDITABLE_FIELDS, "status")
KEY_FIELD = "external_ref"
# The fields an offer cannot be created without: offer_create's own required arguments.
REQUIRED_TO_CREATE = tuple(
    name
    for name, parameter in inspect.signature(services.offer_create).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    and parameter.default is inspect.Parameter.empty
    and name != "actor"
)
CHOICES = {
    "condition": OfferCondition.values,
    "mode": OfferMode.values,
    "status": [target.value for target in bulk.TARGET_STATUSES],
}
MAX_COLUMNS = 500
MAX_HEADER_LENGTH = 200
# Row errors kept on the import (all are counted in error_count): enough to fix a file, bounded.
MAX_STORED_ERRORS = 1000
# An XLSX is a zip: what it may inflate to, against decompression bombs.
MAX_INFLATION = 20
TRUE_WORDS = frozenset({"true", "1", "yes", "y", "oui", "o", "vrai", "x"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "non", "faux"})
# The field a row's conflict is about, for the spreadsheet user who has to find the cell.
CONFLICT_FIELDS = {
    "quantity_below_reserved": "quantity",
    "external_ref_taken": "external_ref",
    "offer_status_conflict": "status",
    "offer_has_reservations": "status",
    "organisation_not_verified": "status",
    "offer_window_over": "available_until",
    "site_retired": "site",
}


class ImportRejected(InvalidInput):
    """The file cannot be imported at all. `reason`: too_large, unsupported_type or invalid (the HTTP
    layer answers 413, 415 and 400)."""

    def __init__(self, message: str, *, reason: str = "invalid", field: str = "file", **kwargs: Any):
        super().__init__(message, field_errors={field: [message]}, **kwargs)
        self.reason = reason


def _invalid(field_errors: dict[str, list[str]]) -> InvalidInput:
    return InvalidInput(
        _("The request has invalid fields."), code="validation_error", field_errors=field_errors
    )


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


# ---- cells to offer values --------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _key(header: str) -> str:
    return " ".join(header.split()).casefold()


class CellRefused(ValueError):
    pass


def _decimal(value: Any, model_field: models.DecimalField) -> Decimal:
    places = model_field.decimal_places
    if isinstance(value, bool):
        raise CellRefused(_("A number is expected."))
    if isinstance(value, float | int | Decimal):
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    else:
        raw = _text(value).replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
        if "," in raw and "." in raw:
            raise CellRefused(_("Write the number with one decimal separator, a comma or a point."))
        try:
            number = Decimal(raw.replace(",", "."))
        except InvalidOperation:
            raise CellRefused(_("A number is expected.")) from None
    if not number.is_finite():
        raise CellRefused(_("A number is expected."))
    if abs(number) >= Decimal(10) ** (model_field.max_digits - places):
        raise CellRefused(_("This number is too large."))
    rounded = number.quantize(Decimal(1).scaleb(-places))
    if isinstance(value, float) and abs(number - rounded) < Decimal("1e-9"):
        number = rounded  # a spreadsheet's binary fraction (0.1 + 0.2 = 0.30000000000000004)
    if number != rounded:
        raise CellRefused(_("At most %(places)s decimal places.") % {"places": places})
    return number


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise CellRefused(_("A whole number is expected."))
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = _text(value)
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise CellRefused(_("A whole number is expected."))
    return int(text)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = _text(value).casefold()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise CellRefused(_("Expected true or false (oui or non)."))


def _moment(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    else:
        text = _text(value)
        moment = None
        try:
            moment = parse_datetime(text)
            if moment is None and (day := parse_date(text)) is not None:
                moment = dt.datetime.combine(day, dt.time())
        except ValueError:
            moment = None
        if moment is None:
            for pattern in ("%d/%m/%Y %H:%M", "%d/%m/%Y"):
                try:
                    moment = dt.datetime.strptime(text, pattern)
                    break
                except ValueError:
                    continue
        if moment is None:
            raise CellRefused(_("A date is expected: 2026-12-31, 2026-12-31T18:00 or 31/12/2026."))
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _choice(value: Any, allowed: Sequence[str]) -> str:
    word = _text(value).casefold()
    if word not in allowed:
        raise CellRefused(_("Expected one of: %(choices)s.") % {"choices": ", ".join(allowed)})
    return word


class CellConverter:
    """Cell → the value an offer field takes (what the services are given). Categories may be named by
    their key as well as by their id."""

    def __init__(self) -> None:
        self._categories: dict[str, int | None] = {}

    def convert(self, name: str, value: Any) -> Any:
        if name in CHOICES:
            return _choice(value, CHOICES[name])
        if name == "unit":
            return _choice(value, Unit.values)
        if name == "site":
            return _integer(value)
        if name == "category":
            return self._category(value)
        model_field = Offer._meta.get_field(name)
        if isinstance(model_field, models.DecimalField):
            return _decimal(value, model_field)
        if isinstance(model_field, models.BooleanField):
            return _boolean(value)
        if isinstance(model_field, models.DateTimeField):
            return _moment(value)
        text = _text(value)
        limit = model_field.max_length
        if limit is not None and len(text) > limit:
            raise CellRefused(_("At most %(max)s characters.") % {"max": limit})
        return text

    def _category(self, value: Any) -> int:
        try:
            return _integer(value)
        except CellRefused:
            pass
        key = _text(value)
        if key not in self._categories:
            self._categories[key] = Category.objects.filter(key=key).values_list("pk", flat=True).first()
        found = self._categories[key]
        if found is None:
            raise CellRefused(_("No such category."))
        return found


# ---- mappings ---------------------------------------------------------------------------------------


def mapping_clean(*, columns: Any, defaults: Any) -> tuple[dict[str, str], dict[str, Any]]:
    """A mapping's columns (offer field → header) and defaults (offer field → value), checked: known
    fields, headers as text, the reference read from a column, defaults that convert."""
    errors: dict[str, list[str]] = {}
    if not isinstance(columns, Mapping) or not columns:
        errors["columns"] = [_("An object naming, for each offer field, the header of its column.")]
        columns = {}
    clean_columns: dict[str, str] = {}
    for name, header in columns.items():
        if name not in TARGET_FIELDS:
            errors[f"columns.{name}"] = [_("Not an offer field.")]
        elif not isinstance(header, str) or not header.strip() or len(header) > MAX_HEADER_LENGTH:
            errors[f"columns.{name}"] = [_("The header of a column of the file, as text.")]
        else:
            clean_columns[name] = header.strip()
    if columns and KEY_FIELD not in columns:
        errors[f"columns.{KEY_FIELD}"] = [_("Required: the column holding your reference keys each row.")]
    if defaults is None:
        defaults = {}
    if not isinstance(defaults, Mapping):
        errors["defaults"] = [_("An object of offer field → value.")]
        defaults = {}
    converter = CellConverter()
    clean_defaults: dict[str, Any] = {}
    for name, value in defaults.items():
        if name not in TARGET_FIELDS or name == KEY_FIELD:
            errors[f"defaults.{name}"] = [_("Not an offer field a default can fill.")]
            continue
        if not isinstance(value, str | int | float | bool) or _blank(value):
            errors[f"defaults.{name}"] = [_("A text, number or boolean.")]
            continue
        try:
            converter.convert(name, value)
        except CellRefused as refusal:
            errors[f"defaults.{name}"] = [str(refusal)]
            continue
        clean_defaults[name] = value
    if errors:
        raise _invalid(errors)
    return clean_columns, clean_defaults


def _require_importer(actor: Actor, organisation_id: int | None):
    """Who may import, or keep mappings: whoever may create the organisation's offers."""
    actor.require_write()
    organisation = actor.acting_organisation(organisation_id)
    services._require_offering_organisation(organisation)  # the rule stays in services
    return organisation


def _name_clean(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 100:
        raise _invalid({"name": [_("A name of 1 to 100 characters.")]})
    return name.strip()


def _name_taken() -> InvalidInput:
    return _invalid({"name": [_("Your organisation already has a mapping with this name.")]})


def _save_mapping(mapping: ImportMapping) -> None:
    others = ImportMapping.objects.filter(organisation_id=mapping.organisation_id, name=mapping.name)
    if others.exclude(pk=mapping.pk).exists():
        raise _name_taken()
    try:
        with transaction.atomic():
            mapping.save()
    except IntegrityError as exc:  # taken by a concurrent request between the check and the write
        if "import_mapping_name_unique" not in str(exc):
            raise
        raise _name_taken() from exc


@transaction.atomic
def import_mapping_create(
    *, actor: Actor, organisation_id: int | None = None, name: str, columns: Any, defaults: Any = None
) -> ImportMapping:
    organisation = _require_importer(actor, organisation_id)
    clean_columns, clean_defaults = mapping_clean(columns=columns, defaults=defaults)
    mapping = ImportMapping(
        organisation=organisation,
        name=_name_clean(name),
        columns=clean_columns,
        defaults=clean_defaults,
        created_by=actor.label,
    )
    _save_mapping(mapping)
    return mapping


def _mapping_locked(actor: Actor, mapping_id: int) -> ImportMapping:
    mapping = ImportMapping.objects.select_for_update().filter(pk=mapping_id).first()
    if mapping is None or not (actor.is_member(mapping.organisation_id) or actor.is_operator):
        raise NotFound(_("No such import mapping."))
    _require_importer(actor, mapping.organisation_id)
    return mapping


@transaction.atomic
def import_mapping_update(*, actor: Actor, mapping_id: int, **changes: Any) -> ImportMapping:
    """Change the name, columns or defaults given. Imports already sent keep the mapping they used."""
    unknown = set(changes) - {"name", "columns", "defaults"}
    if unknown:
        raise TypeError(f"import_mapping_update() got unexpected fields {sorted(unknown)!r}")
    mapping = _mapping_locked(actor, mapping_id)
    if "name" in changes:
        mapping.name = _name_clean(changes["name"])
    mapping.columns, mapping.defaults = mapping_clean(
        columns=changes.get("columns", mapping.columns), defaults=changes.get("defaults", mapping.defaults)
    )
    _save_mapping(mapping)
    return mapping


@transaction.atomic
def import_mapping_delete(*, actor: Actor, mapping_id: int) -> None:
    _mapping_locked(actor, mapping_id).delete()


def import_mappings_of(*, actor: Actor) -> QuerySet[ImportMapping]:
    """The mappings of the actor's organisations (every one for the operator)."""
    mappings = ImportMapping.objects.all()
    return mappings if actor.is_operator else mappings.filter(organisation_id__in=actor.organisation_ids)


def import_mapping_get(*, actor: Actor, mapping_id: int) -> ImportMapping:
    mapping = import_mappings_of(actor=actor).filter(pk=mapping_id).first()
    if mapping is None:
        raise NotFound(_("No such import mapping."))
    return mapping


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


# ---- imports ----------------------------------------------------------------------------------------


def _saved_mapping(organisation_id: int, name: str) -> ImportMapping:
    mapping = ImportMapping.objects.filter(organisation_id=organisation_id, name=name).first()
    if mapping is None:
        raise _invalid({"mapping": [_("Your organisation has no mapping with this name.")]})
    return mapping


def _creator_fields(actor: Actor) -> dict[str, Any]:
    return {
        "created_by": actor.label,
        "created_by_user": actor.user if actor.api_key is None else None,
        "created_by_api_key": actor.api_key,
    }


def _count_rows(table: Table) -> int:
    limit = settings.BOUCLE_IMPORT_MAX_ROWS
    count = 0
    for _number, _cells in table.rows():
        count += 1
        if count > limit:
            raise ImportRejected(
                _("The file has more than %(max)s rows; split it.") % {"max": limit},
                code="import_too_many_rows",
                extra={"max_rows": limit},
            )
    if not count:
        raise ImportRejected(_("The file has a header but no rows."), code="import_file_empty")
    return count


@transaction.atomic
def offer_import_create(
    *,
    actor: Actor,
    organisation_id: int | None = None,
    content: bytes,
    filename: str,
    mapping: str | None = None,
    columns: Any = None,
    defaults: Any = None,
    enqueue: bool = True,
) -> OfferImport:
    """Check the file and the mapping (a saved one by name, or columns and defaults given here), store
    them, and, once committed, hand the import to the worker (unless `enqueue` is False: the caller
    then runs offer_import_process itself). Who may: as for offer_create."""
    organisation = _require_importer(actor, organisation_id)
    if (mapping is None) == (columns is None):
        message = _("Give either the name of a saved mapping or the columns.")
        raise _invalid({"mapping": [message], "columns": [message]})
    if mapping is not None:
        saved = _saved_mapping(organisation.pk, mapping)
        mapping_name, clean_columns, clean_defaults = saved.name, saved.columns, saved.defaults
    else:
        mapping_name = ""
        clean_columns, clean_defaults = mapping_clean(columns=columns, defaults=defaults)
    table = table_read(content)
    RowReader.for_table(table, clean_columns, clean_defaults)
    rows_total = _count_rows(table)
    job = OfferImport(
        organisation=organisation,
        filename=(filename or "import")[-255:],
        file_format=table.file_format,
        size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        mapping_name=mapping_name,
        columns=clean_columns,
        defaults=clean_defaults,
        rows_total=rows_total,
        language=translation.get_language() or "",
        **_creator_fields(actor),
    )
    name = f"{uuid.uuid4().hex}.{table.file_format}"
    job.file.save(name, ContentFile(content, name=name), save=False)
    stored = job.file.name
    try:
        job.save()
    except Exception:
        job.file.storage.delete(stored)
        raise
    if enqueue:
        from .tasks import process_offer_import

        transaction.on_commit(lambda: process_offer_import.delay(import_id=job.pk), robust=True)
    return job


def offer_imports_of(*, actor: Actor) -> QuerySet[OfferImport]:
    """The imports of the actor's organisations (every one for the operator), newest first."""
    imports = OfferImport.objects.all()
    return imports if actor.is_operator else imports.filter(organisation_id__in=actor.organisation_ids)


def offer_import_get(*, actor: Actor, import_id: int) -> OfferImport:
    job = offer_imports_of(actor=actor).filter(pk=import_id).first()
    if job is None:
        raise NotFound(_("No such import."))
    return job


class _Overtaken(Exception):
    """Another run of the same import committed this batch first."""


def _actor_of(job: OfferImport) -> Actor:
    """The Actor who sent the import, as they are now: a revoked key or a removed person stops it."""
    if job.created_by == Actor.for_system().label:
        return Actor.for_system()
    if job.created_by_api_key_id is not None:
        key = ApiKey.objects.filter(pk=job.created_by_api_key_id).first()
        if key is not None and key.is_active:
            return Actor.for_api_key(key)
        raise DomainError(_("The API key that sent this import was revoked."), code="api_key_revoked")
    user = User.objects.filter(pk=job.created_by_user_id, is_active=True).first()
    if user is None:
        raise DomainError(
            _("The person who sent this import no longer has an account."), code="importer_gone"
        )
    return Actor.for_user(user)


def _batches(iterable: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while batch := list(itertools.islice(iterable, size)):
        yield batch


def offer_import_process(
    *, import_id: int, progress: Callable[[int], None] | None = None
) -> OfferImport | None:
    """Run an import to its end (safe to call twice: a finished or failed import is left as it is, a
    running one resumes after its last committed batch). `progress` is told the rows of each batch.
    Records `import.finished` (with `status` finished or failed, and the counts) at the end."""
    with transaction.atomic():
        job = OfferImport.objects.select_for_update().filter(pk=import_id).first()
        if job is None or job.status in (ImportStatus.FINISHED, ImportStatus.FAILED):
            return job
        if job.status == ImportStatus.QUEUED:
            job.status, job.started_at = ImportStatus.RUNNING, timezone.now()
            job.save(update_fields=["status", "started_at", "updated_at"])
    with translation.override(job.language or settings.LANGUAGE_CODE):
        return _run(job, progress)


def _run(job: OfferImport, progress: Callable[[int], None] | None) -> OfferImport:
    try:
        actor = _actor_of(job)
        _require_importer(actor, job.organisation_id)
        with job.file.open("rb") as stored:
            content = stored.read()
        if hashlib.sha256(content).hexdigest() != job.sha256:
            raise DomainError(_("The stored file is not the one that was sent."), code="import_file_changed")
        table = table_read(content)
        reader = RowReader.for_table(table, job.columns, job.defaults)
        rows = table.rows()
        seen: set[str] = set()
        for _number, cells in itertools.islice(rows, job.rows_processed):  # committed by an earlier run
            if (ref := reader.reference(cells)) is not None:
                seen.add(ref)
        for batch in _batches(rows, bulk.MAX_ITEMS):
            _process_batch(job, actor, reader, batch, seen)
            if progress is not None:
                progress(len(batch))
    except _Overtaken:
        return OfferImport.objects.get(pk=job.pk)
    except DomainError as error:
        return _end(job, ImportStatus.FAILED, error)
    except (OperationalError, InterfaceError):
        raise  # the database went away: a retry resumes after the last committed batch
    except Exception:
        _end(
            job,
            ImportStatus.FAILED,
            DomainError(_("The import stopped on an internal error."), code="import_crashed"),
        )
        raise
    return _end(job, ImportStatus.FINISHED)


def _process_batch(
    job: OfferImport, actor: Actor, reader: RowReader, batch: list[tuple[int, Sequence[Any]]], seen: set[str]
) -> None:
    counts = dict.fromkeys((bulk.CREATED, bulk.UPDATED, bulk.UNCHANGED, bulk.ERROR), 0)
    errors: list[dict[str, Any]] = []
    items, item_rows = [], []
    for number, cells in batch:
        ref = reader.reference(cells)
        try:
            if ref is None:
                raise _invalid({KEY_FIELD: [_("Every row needs its reference: it is the row's key.")]})
            if ref in seen:
                raise _invalid({KEY_FIELD: [_("This reference is already on an earlier row.")]})
            seen.add(ref)
            items.append(reader.item(cells))
            item_rows.append(number)
        except InvalidInput as refusal:
            counts[bulk.ERROR] += 1
            errors += _row_errors(number, refusal, reader)
    with transaction.atomic():
        if items:
            results = bulk.offers_upsert(
                actor=actor, organisation_id=job.organisation_id, items=items, validate=_validate_item
            )
            for result in results:
                counts[result.result] += 1
                if result.error is not None:
                    errors += _row_errors(item_rows[result.index], result.error, reader)
        errors.sort(key=lambda error: error["row"])
        stored = OfferImport.objects.filter(pk=job.pk).values_list("errors", flat=True).get()
        room = max(0, MAX_STORED_ERRORS - len(stored))
        advanced = OfferImport.objects.filter(
            pk=job.pk, status=ImportStatus.RUNNING, rows_processed=job.rows_processed
        ).update(
            rows_processed=F("rows_processed") + len(batch),
            created_count=F("created_count") + counts[bulk.CREATED],
            updated_count=F("updated_count") + counts[bulk.UPDATED],
            unchanged_count=F("unchanged_count") + counts[bulk.UNCHANGED],
            error_count=F("error_count") + counts[bulk.ERROR],
            errors=stored + errors[:room],
            updated_at=timezone.now(),
        )
        if not advanced:
            raise _Overtaken()
    job.rows_processed += len(batch)


def import_counts(job: OfferImport) -> dict[str, int]:
    return {
        "created": job.created_count,
        "updated": job.updated_count,
        "unchanged": job.unchanged_count,
        "errors": job.error_count,
    }


def _end(job: OfferImport, status: str, error: DomainError | None = None) -> OfferImport:
    with transaction.atomic():
        job = OfferImport.objects.select_for_update().get(pk=job.pk)
        if job.status != ImportStatus.RUNNING:
            return job
        job.status, job.finished_at = status, timezone.now()
        if error is not None:
            job.failure_code, job.failure_message = error.code, error.message
        job.save(update_fields=["status", "finished_at", "failure_code", "failure_message", "updated_at"])
        payload = {"status": status, "rows_total": job.rows_total, "rows_processed": job.rows_processed}
        event_record(
            name="import.finished",
            aggregate_type="offer_import",
            aggregate_id=job.pk,
            actor=job.created_by,
            organisation_id=job.organisation_id,
            payload={**payload, **import_counts(job), **({"failure_code": error.code} if error else {})},
        )
    return job
