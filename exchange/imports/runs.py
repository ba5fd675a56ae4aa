"""Imports: a file checked and stored when sent, then processed by the worker in committed batches."""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core.errors import DomainError, InvalidInput, NotFound
from core.events import event_record
from organisations.actors import Actor
from organisations.models import ApiKey, User

from .. import bulk
from ..models import (
    ImportMapping,
    ImportStatus,
    OfferImport,
)
from .limits import KEY_FIELD, MAX_STORED_ERRORS, ImportRejected, _invalid
from .mappings import _require_importer, mapping_clean
from .reading import Table, table_read
from .rows import RowReader, _row_errors, _validate_item

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
        if stored:  # the name the storage saved the file under
            job.file.storage.delete(stored)
        raise
    if enqueue:
        from ..tasks import process_offer_import

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
    user_id = job.created_by_user_id
    user = User.objects.filter(pk=user_id, is_active=True).first() if user_id is not None else None
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
