from __future__ import annotations

from typing import cast

from rest_framework.request import Request

from organisations.actors import Actor
from organisations.models import ApiKey, User


def actor_of(request: Request) -> Actor:
    """The Actor behind an authenticated request (memoised on the request)."""
    actor = getattr(request, "_boucle_actor", None)
    if actor is None:
        if isinstance(request.auth, ApiKey):
            actor = Actor.for_api_key(request.auth)
        else:
            actor = Actor.for_user(cast(User, request.user))  # authenticated: not AnonymousUser
        setattr(request, "_boucle_actor", actor)  # noqa: B010 (Request declares no such attribute)
    return actor
