"""Two ways in: people with `Authorization: Bearer <JWT>`, integrations with `Authorization: Api-Key <key>`.

Either way `request.auth` ends up carrying an `Actor` (see `api.actors.actor_of`).

People's tokens: a login opens a session, a pair of a short-lived access token and a refresh token.
Each refresh token is recorded as it is signed, and is good for one use (organisations.services decides,
under a lock on its record): a refresh, which answers the next pair, or a logout. Every token carries
the person's epoch; revoking their sessions moves the epoch on, and tokens of an older one are refused."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.models import TokenUser
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken, Token
from rest_framework_simplejwt.utils import datetime_from_epoch

from organisations import services
from organisations.actors import person_with_memberships
from organisations.models import ApiKey, User
from organisations.tokens import hash_token

API_KEY_KEYWORD = "Api-Key"
EPOCH_CLAIM = "epoch"  # User.token_epoch when the session was opened; absent reads as 0


class SessionRefreshToken(RefreshToken):
    """A refresh token stamped with its person's epoch (copied into its access tokens) and recorded as
    outstanding when signed."""

    @classmethod
    def for_user(cls, user: AbstractBaseUser | TokenUser) -> SessionRefreshToken:
        # simplejwt's login hands over what authentication found: a User, the one user model here.
        if not isinstance(user, User):
            raise TypeError(f"sessions are opened for a User, not {type(user).__name__}")
        token = cls()
        token[jwt_settings.USER_ID_CLAIM] = str(user.pk)
        token[EPOCH_CLAIM] = user.token_epoch
        OutstandingToken.objects.create(
            user=user,
            jti=token[jwt_settings.JTI_CLAIM],
            # simplejwt would keep the token itself, readable in the admin and in any copy of the
            # database; like every secret Boucle hands out, only its SHA-256 is kept (the jti finds it).
            token=hash_token(str(token)),
            created_at=token.current_time,
            expires_at=datetime_from_epoch(token["exp"]),
        )
        return token

    def check_blacklist(self) -> None:
        # Whether the token was used already is decided under a lock on its record (two refreshes racing
        # must not both pass), by organisations.services.refresh_token_use and session_logout.
        pass


def token_pair(user: User) -> dict[str, str]:
    """A new session for the person: {"access", "refresh"}."""
    refresh = SessionRefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def _refresh_token(raw: str) -> SessionRefreshToken:
    try:
        # simplejwt annotates its `token` parameter as a Token; it takes the encoded JWT, a str.
        return SessionRefreshToken(raw)  # type: ignore[arg-type]
    except TokenError as exc:
        raise InvalidToken(exc.args[0]) from exc


def _refused(exc: services.SessionRefused) -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed(exc.message, code=exc.code)


def session_refresh(raw: str) -> dict[str, str]:
    """Trades a refresh token for the next pair (401 problems: token_not_valid, token_revoked,
    token_reused, no_active_account)."""
    token = _refresh_token(raw)
    try:
        return services.refresh_token_use(
            jti=token[jwt_settings.JTI_CLAIM], epoch=token.get(EPOCH_CLAIM, 0), successor=token_pair
        )
    except services.SessionRefused as exc:
        raise _refused(exc) from exc


def session_logout(raw: str, *, everywhere: bool) -> None:
    token = _refresh_token(raw)
    try:
        services.session_logout(
            jti=token[jwt_settings.JTI_CLAIM], epoch=token.get(EPOCH_CLAIM, 0), everywhere=everywhere
        )
    except services.SessionRefused as exc:
        raise _refused(exc) from exc


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


def honour_preferred_language(request, user: User) -> None:
    """A request with no Accept-Language is answered in the person's preferred language. LocaleMiddleware
    ran before authentication and chose the default; its response hook states the language activated
    here in Content-Language. An API key acts for an organisation and keeps the default."""
    if request.META.get("HTTP_ACCEPT_LANGUAGE", "").strip():
        return
    language = user.preferred_language
    if language in dict(settings.LANGUAGES):
        translation.activate(language)
        request._request.LANGUAGE_CODE = language


class BearerJWTAuthentication(JWTAuthentication):
    www_authenticate_realm = "boucle"

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            honour_preferred_language(request, result[0])
        return result

    # simplejwt types the result as a TypeVar that only the return mentions (AuthUser), which no
    # override can match.
    def get_user(self, validated_token: Token) -> User:  # type: ignore[override]
        """simplejwt's checks (a user id claim, a person who exists and is active), on the person read
        with their memberships (organisations.actors.person_with_memberships), then the epoch."""
        try:
            user_id = validated_token[jwt_settings.USER_ID_CLAIM]
        except KeyError as error:
            raise InvalidToken(gettext("Token contained no recognizable user identification")) from error
        if User._meta.pk.name != jwt_settings.USER_ID_FIELD:
            raise ImproperlyConfigured("Boucle's tokens name the person by their key (USER_ID_FIELD).")
        user = person_with_memberships(user_id)
        if user is None:
            raise exceptions.AuthenticationFailed(_("User not found"), code="user_not_found")
        if jwt_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise exceptions.AuthenticationFailed(_("User is inactive"), code="user_inactive")
        if jwt_settings.CHECK_REVOKE_TOKEN:
            raise ImproperlyConfigured("Boucle ends sessions by epoch (CHECK_REVOKE_TOKEN is not supported).")
        if validated_token.get(EPOCH_CLAIM, 0) != user.token_epoch:
            raise exceptions.AuthenticationFailed(
                _("This session has ended; log in again."), code="token_revoked"
            )
        return user


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
