"""201 Created answers: the created resource in the body, and its URL in `Location` (RFC 9110 §10.2.2),
absolute, so a client can follow it without knowing the routes. Every view answering 201 goes through
`created`; the schema documents the header on every 201 (api.schema.add_location_headers) except for
the operations listed in CREATED_WITHOUT_LOCATION, whose resource has no URL of its own."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

# Created resources without a route of their own: an invitation (its code is e-mailed, never shown) and
# a step settling a dispute (shown in its handover's `proposals`). Their 201 carries no Location.
CREATED_WITHOUT_LOCATION = frozenset({"organisations_invitations_create", "handovers_propose"})

LOCATION_HEADER = {
    "description": "The created resource's URL (absolute).",
    "schema": {"type": "string", "format": "uri"},
}


def created(request: Request, data: Any, url_name: str | None = None, **url_kwargs: Any) -> Response:
    """A 201 with `data`; `Location` is the route `url_name` (in the api namespace) with `url_kwargs`,
    absent when `url_name` is None (see CREATED_WITHOUT_LOCATION)."""
    response = Response(data, status=status.HTTP_201_CREATED)
    if url_name is not None:
        response["Location"] = request.build_absolute_uri(reverse(f"api:{url_name}", kwargs=url_kwargs))
    return response
