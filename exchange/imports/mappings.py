"""Column mappings: which column (or default) fills which offer field, saved per organisation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from core.errors import InvalidInput, NotFound
from organisations.actors import Actor

from .. import lifecycle
from ..models import (
    ImportMapping,
)
from .cells import CellConverter, CellRefused
from .limits import KEY_FIELD, MAX_HEADER_LENGTH, TARGET_FIELDS, _invalid
from .reading import _blank

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
    lifecycle.require_offering_organisation(organisation)
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
