"""Conditional requests (RFC 9110 §8.8.3, §13.1.1) for single resources: an `ETag` on reads and writes,
and `If-Match` on edits, so two clients editing one offer cannot overwrite each other's change.

The tag is strong, built from the domain's version token (e.g. exchange.selectors.offer_version): it
names the resource's state, the same for every reader, and changes whenever the resource changes.
`If-Match` compares strongly, as RFC 9110 requires: a weak tag (`W/"…"`) never matches. `*` matches any
existing resource; without the header the write goes ahead as before."""

from __future__ import annotations

from django.utils.http import parse_etags
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.request import Request
from rest_framework.response import Response

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
