"""`Idempotency-Key` for writes a client may retry (after the IETF draft "The Idempotency-Key HTTP
Header Field"). Put `@idempotent` on any APIView method; the schema documents the header by itself
(api.schema.BoucleAutoSchema):

    from api.idempotency import idempotent

    class ClaimListView(ListAPIView):
        @extend_schema(operation_id="claims_create", request=ClaimCreateIn, responses={201: ClaimOut})
        @idempotent
        def post(self, request): ...

What happens:
- No header, or an anonymous caller: the view runs as usual.
- First request with a key: it claims (scope, key) with an INSERT that the unique constraint
  arbitrates, committed at once so that concurrent requests see it; then the view runs, and its
  response is stored in the same transaction as the view's writes (both commit, or neither).
- Same key, same method, path and body (sha256 of the canonical body): the stored response is
  replayed (status, body, Content-Type, Location) with `Idempotent-Replayed: true`.
- Same key, another method, path or body: 422, code `idempotency_key_reused`.
- Same key while the first request is still running: 409, code `idempotency_in_progress`, Retry-After.
- What is stored: 2xx, and 4xx except the ones that depend on passing state (408, 409, 423, 425, 429),
  which a retry may turn into a success. Those, 5xx and crashes release the key: the view's writes
  are rolled back with them, so a retry with the same key runs afresh.
- A claim whose request died without releasing it (worker killed) may be taken over after LEASE.
- Keys are scoped to the caller's organisation: an API key's organisation, a person's only
  organisation, else the person. Two organisations may use the same key value independently.
- Records are deleted after RETENTION by the beat task api.tasks.prune_idempotency_keys.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from datetime import timedelta
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status

from .actors import actor_of
from .models import IdempotencyRecord, IdempotencyState

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
RETENTION = timedelta(hours=24)
# Longer than any request may run (gunicorn kills a worker after its timeout, 30 s by default).
LEASE = timedelta(minutes=2)
# Answers that depend on the state of the data at that moment: a retry may succeed, so not stored.
TRANSIENT_STATUSES = frozenset({408, 409, 423, 425, 429})
KEY_MAX_LENGTH = 255
# 1 to KEY_MAX_LENGTH printable ASCII characters, a space only between others: HTTP trims a field's
# ends, so a key cannot start or end with one on the wire. The schema documents this very pattern.
KEY_PATTERN = rf"^[\x21-\x7e](?:[\x20-\x7e]{{0,{KEY_MAX_LENGTH - 2}}}[\x21-\x7e])?$"
_KEY_PATTERN = re.compile(KEY_PATTERN)
_STORED_HEADERS = ("Content-Type", "Location")


class IdempotencyKeyInvalid(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_idempotency_key"
    default_detail = _("The Idempotency-Key header must hold 1 to 255 printable ASCII characters.")


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"
    default_detail = _(
        "This Idempotency-Key was already used for a different request; use a new key for a new request."
    )


class IdempotencyInProgress(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "idempotency_in_progress"
    default_detail = _("A request with this Idempotency-Key is still being processed; retry in a moment.")
    wait = 1  # becomes Retry-After (api.errors)


def idempotent(view_method):
    """Makes an APIView method honour the Idempotency-Key header (see the module documentation)."""

    @functools.wraps(view_method)
    def wrapper(view, request, *args, **kwargs):
        raw_key = request.headers.get(HEADER)
        if raw_key is None or not (request.user and request.user.is_authenticated):
            return view_method(view, request, *args, **kwargs)
        key = parse_key(raw_key)
        # Reading the body here means a malformed one fails before any key is claimed.
        fingerprint = request_fingerprint(request)
        record, owner = _claim(
            scope=idempotency_scope(request),
            key=key,
            method=request.method,
            path=request.path[:500],
            fingerprint=fingerprint,
        )
        if not owner:
            return _replay(record)
        try:
            with transaction.atomic():
                response = _run(view, view_method, request, args, kwargs)
                if response.status_code >= 400:
                    transaction.set_rollback(True)  # an error answer leaves nothing half-saved
                elif not response.streaming:
                    _complete(record, response)
        except BaseException:
            try:
                _release(record)
            except Exception:  # the database may be what failed; the claim then expires after LEASE
                logger.exception("could not release idempotency key %s", record.pk)
            raise
        if response.status_code >= 400:
            if response.status_code < 500 and response.status_code not in TRANSIENT_STATUSES:
                _complete(record, response)
            else:
                _release(record)
        elif response.streaming:
            logger.warning("idempotent view %s streamed its answer: it cannot be replayed", view)
            _release(record)
        return response

    wrapper.idempotent = True
    return wrapper


def parse_key(raw: str) -> str:
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':  # the draft's structured-field string form
        value = value[1:-1]
    if not _KEY_PATTERN.fullmatch(value):
        raise IdempotencyKeyInvalid()
    return value


def idempotency_scope(request) -> str:
    actor = actor_of(request)
    if actor.api_key is not None:
        return f"org:{actor.api_key.organisation_id}"
    organisation_ids = actor.organisation_ids
    if len(organisation_ids) == 1:
        return f"org:{next(iter(organisation_ids))}"
    assert actor.user is not None  # actor_of acts for the request's API key or for its user
    return f"user:{actor.user.pk}"


def request_fingerprint(request) -> str:
    """SHA-256 of the method, the full path and the body in canonical form (JSON with sorted keys;
    forms and uploads as sorted fields, files by name, size and SHA-256)."""
    data = request.data
    if hasattr(data, "lists"):  # QueryDict / MultiValueDict: forms and multipart
        data = {name: [_canonical_value(value) for value in values] for name, values in data.lists()}
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    digest = hashlib.sha256()
    for part in (request.method, request.get_full_path(), body):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _canonical_value(value: Any) -> Any:
    if isinstance(value, UploadedFile):
        digest = hashlib.sha256()
        for chunk in value.chunks():
            digest.update(chunk)
        value.seek(0)
        return {"file": value.name, "size": value.size, "sha256": digest.hexdigest()}
    return value


def _claim(
    *, scope: str, key: str, method: str, path: str, fingerprint: str
) -> tuple[IdempotencyRecord, bool]:
    """(record, True) when this request owns the key and runs the view; (record, False) to replay."""
    for _attempt in range(3):
        now = timezone.now()
        try:
            with transaction.atomic():
                created = IdempotencyRecord.objects.create(
                    scope=scope,
                    key=key,
                    method=method,
                    path=path,
                    fingerprint=fingerprint,
                    locked_until=now + LEASE,
                    created_at=now,
                )
            return created, True
        except IntegrityError:
            pass
        record = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
        if record is None:
            continue  # the holder released it meanwhile: claim again
        if (record.method, record.path, record.fingerprint) != (method, path, fingerprint):
            raise IdempotencyKeyReused()
        if record.state == IdempotencyState.COMPLETED:
            return record, False
        if record.locked_until > now:
            raise IdempotencyInProgress()
        # The holder is presumed dead (its writes rolled back with it): one request takes over.
        taken = IdempotencyRecord.objects.filter(
            pk=record.pk, state=IdempotencyState.IN_PROGRESS, locked_until=record.locked_until
        ).update(locked_until=now + LEASE, created_at=now)
        if taken:
            return record, True
    raise IdempotencyInProgress()


def _run(view, view_method, request, args, kwargs) -> HttpResponse:
    """The view's answer, rendered, errors included (as DRF would have turned them into problems)."""
    try:
        response = view_method(view, request, *args, **kwargs)
    except Exception as exc:
        response = view.handle_exception(exc)  # re-raises what it cannot turn into a problem
    response = view.finalize_response(request, response, *args, **kwargs)
    if hasattr(response, "render"):
        response.render()
    return response


def _complete(record: IdempotencyRecord, response: HttpResponse) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        state=IdempotencyState.COMPLETED,
        response_status=response.status_code,
        response_body=response.content,
        response_headers={name: response[name] for name in _STORED_HEADERS if response.has_header(name)},
        completed_at=timezone.now(),
    )


def _release(record: IdempotencyRecord) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyState.IN_PROGRESS).delete()


def _replay(record: IdempotencyRecord) -> HttpResponse:
    headers = record.response_headers or {}
    response = HttpResponse(
        bytes(record.response_body or b""),
        status=record.response_status,
        content_type=headers.get("Content-Type"),
    )
    if "Location" in headers:
        response["Location"] = headers["Location"]
    response[REPLAYED_HEADER] = "true"
    return response


def idempotency_records_prune(*, older_than: timedelta = RETENTION) -> int:
    """Deletes the records created more than `older_than` ago; returns how many."""
    deleted, _by_model = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - older_than).delete()
    return deleted
