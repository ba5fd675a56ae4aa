"""Conditional requests (RFC 9110 §8.8.3, §13.1.1).

Single resources: an `ETag` on reads and writes, and `If-Match` on edits, so two clients editing one
offer cannot overwrite each other's change. The tag is strong, built from the domain's version token
(e.g. exchange.selectors.offer_version): it names the resource's state, the same for every reader, and
changes whenever the resource changes. `If-Match` compares strongly, as RFC 9110 requires: a weak tag
(`W/"…"`) never matches. `*` matches any existing resource; without the header the write goes ahead as
before.

Computed reads (the statistics, the exports): `conditional` answers a body with an ETag hashing it (its
media type and language too) and Last-Modified, or 304 while the client's copy is current
(If-None-Match / If-Modified-Since); `conditional_stream` does the same for a streamed answer whose tag
the caller computes beforehand (`etag_of` the state it is read from)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from django.http import HttpResponseBase, HttpResponseNotModified
from django.utils import translation
from django.utils.cache import get_conditional_response, patch_vary_headers
from django.utils.http import http_date, parse_etags
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.request import Request
from rest_framework.response import Response

from .exports import Table, attachment, labels_requested

IF_MATCH = "If-Match"


def etag(version: str) -> str:
    return f'"{version}"'


def with_etag(response: Response, version: str) -> Response:
    response["ETag"] = etag(version)
    return response


def if_match_versions(request: Request) -> frozenset[str] | None:
    """The versions `If-Match` accepts, or None when any will do (no header, or `*`). A weak or
    malformed tag matches nothing."""
    raw = request.headers.get(IF_MATCH)
    if raw is None:
        return None
    tags = parse_etags(raw)
    if tags == ["*"]:
        return None
    return frozenset(tag[1:-1] for tag in tags if not tag.startswith("W/") and len(tag) >= 2)


ETAG_HEADER = OpenApiParameter(
    name="ETag",
    type=str,
    location=OpenApiParameter.HEADER,
    response=[200],
    description="The offer's version (a strong entity tag): send it back in `If-Match` to change the "
    "offer only if nobody changed it since.",
)

IF_MATCH_PARAMETER = OpenApiParameter(
    name=IF_MATCH,
    type=str,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Change the resource only if its current `ETag` is one of these (strong comparison: a weak "
        '`W/"…"` tag never matches), else 412 `precondition_failed` and nothing changes. `*`: any '
        "version. Without it the change applies whatever the version."
    ),
)

PRECONDITION_FAILED_RESPONSE = OpenApiResponse(
    description="`If-Match` names none of the resource's current version (`precondition_failed`): it "
    "changed since you read it. Nothing was changed; read it again (GET), then retry with its ETag."
)


# ---- computed reads: If-None-Match / If-Modified-Since ----------------------------------------------

NOT_MODIFIED = {
    304: OpenApiResponse(description="Not modified: your copy (ETag / Last-Modified) is current.")
}


def etag_of(*parts) -> str:
    """A strong tag hashing JSON-able parts (anything else as its text)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(json.dumps(part, default=str, sort_keys=True).encode())
        digest.update(b"\0")
    return f'"{digest.hexdigest()[:32]}"'


def _not_modified(request: Request, etag: str, timestamp: int | None) -> bool:
    answer = get_conditional_response(request._request, etag=etag, last_modified=timestamp)
    return answer is not None and answer.status_code == 304


def _validated(response: HttpResponseBase, etag: str, timestamp: int | None) -> HttpResponseBase:
    response["ETag"] = etag
    if timestamp is not None:
        response["Last-Modified"] = http_date(timestamp)
    response["Cache-Control"] = "private, no-cache"
    patch_vary_headers(response, ["Accept", "Accept-Language", "Authorization"])
    return response


def _timestamp(last_modified: datetime | None) -> int | None:
    return int(last_modified.timestamp()) if last_modified else None


def conditional(request: Request, *, body, last_modified: datetime | None) -> HttpResponseBase:
    """The answer for `body` (a JSON-able value or an `api.exports.Table`, which gets the labels row if
    the request asks for it) with its validators, or 304 when the client's copy is current. The ETag
    hashes the body, its media type and the language."""
    if isinstance(body, Table):
        body = replace(body, labels=labels_requested(request))
    payload = body.validator_parts() if isinstance(body, Table) else body
    etag = etag_of(payload, request.accepted_renderer.media_type, translation.get_language())
    timestamp = _timestamp(last_modified)
    if _not_modified(request, etag, timestamp):
        return _validated(HttpResponseNotModified(), etag, timestamp)
    response = Response(body)
    if isinstance(body, Table):
        response["Content-Disposition"] = attachment(body.filename)
    return _validated(response, etag, timestamp)


def conditional_stream(
    request: Request, *, etag: str, last_modified: datetime | None, stream: Callable[[], HttpResponseBase]
) -> HttpResponseBase:
    """`conditional` for a streamed answer: `stream()` is only called when the client's copy is stale."""
    timestamp = _timestamp(last_modified)
    response = HttpResponseNotModified() if _not_modified(request, etag, timestamp) else stream()
    return _validated(response, etag, timestamp)
