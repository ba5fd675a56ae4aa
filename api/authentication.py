"""Two ways in: people with `Authorization: Bearer <JWT>`, integrations with `Authorization: Api-Key <key>`.

Either way `request.auth` ends up carrying an `Actor` (see `api.actors.actor_of`)."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication

from organisations.models import ApiKey
from organisations.tokens import hash_token

API_KEY_KEYWORD = "Api-Key"


class KeyPrincipal:
    """Stands in for `request.user` when an API key authenticates: the key acts for its organisation,
    not for the person who created it."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, key: ApiKey):
        self.key = key
        self.pk = None
        self.id = None

    def __str__(self) -> str:
        return f"API key {self.key.prefix}"


class BearerJWTAuthentication(JWTAuthentication):
    www_authenticate_realm = "boucle"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        keyword, _sep, raw = header.partition(" ")
        if keyword != API_KEY_KEYWORD:
            return None
        raw = raw.strip()
        if not raw:
            raise exceptions.AuthenticationFailed(_("The API key is missing."))
        key = (
            ApiKey.objects.select_related("organisation")
            .filter(key_hash=hash_token(raw), revoked_at__isnull=True)
            .first()
        )
        if key is None:
            raise exceptions.AuthenticationFailed(_("This API key is unknown or revoked."))
        now = timezone.now()
        # Coarse on purpose: one write a minute per key at most, not one per request.
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        return KeyPrincipal(key), key

    def authenticate_header(self, request) -> str:
        return API_KEY_KEYWORD
