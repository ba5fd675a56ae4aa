from __future__ import annotations

from rest_framework.request import Request

from organisations.actors import Actor
from organisations.models import ApiKey


def actor_of(request: Request) -> Actor:
    """The Actor behind an authenticated request (memoised on the request)."""
    actor = getattr(request, "_boucle_actor", None)
    if actor is None:
        if isinstance(request.auth, ApiKey):
            actor = Actor.for_api_key(request.auth)
        else:
            actor = Actor.for_user(request.user)
        request._boucle_actor = actor
    return actor
