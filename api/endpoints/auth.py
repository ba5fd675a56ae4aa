"""Registration and its confirmation, JWT login, refresh and logout, passwords (change, reset by e-mail),
and accepting an invitation. Throttled (scope "auth") against guessing.

Nothing here tells a caller whether an address has an account: registration and reset requests answer
202 alike, and what differs goes by e-mail to the address."""

from __future__ import annotations

from django.urls import path
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer
from rest_framework_simplejwt.views import TokenObtainPairView

from organisations import services
from organisations.models import SELF_REGISTERED_KIND_CHOICES

from ..authentication import (
    BearerJWTAuthentication,
    SessionRefreshToken,
    session_logout,
    session_refresh,
    token_pair,
)
from ..created import created
from ..inputs import validated
from ..throttling import AuthAddressThrottle
from .me import LANGUAGE_CHOICES, IsPerson, MeOut, me_data

PHONE_PATTERN = r"^\+?[0-9 ().\-]{6,24}$"


class AuthThrottled(APIView):
    """The auth routes answer anyone, so their one budget is per client address (scope `auth`, behind
    the trusted proxies only: config.client_ip); password logins are also locked out per account and per
    address after failures (config.login_guard), answered 429 `login_locked`."""

    throttle_classes = [AuthAddressThrottle]


class OrganisationDetailsIn(serializers.Serializer):
    """Fields an organisation's administrator fills in (registration) or edits later."""

    name = serializers.CharField(max_length=200)
    siret = serializers.CharField(
        max_length=20,
        required=False,
        default="",
        allow_blank=True,
        help_text="14 digits (spaces allowed). Required for a company; a company or association may give it.",
    )
    rna = serializers.CharField(
        max_length=12,
        required=False,
        default="",
        allow_blank=True,
        help_text="Associations: W followed by 9 digits, unless they give a SIRET.",
    )
    email = serializers.EmailField(required=False, default="", allow_blank=True)
    phone = serializers.RegexField(PHONE_PATTERN, max_length=32, required=False, default="", allow_blank=True)
    website = serializers.URLField(max_length=200, required=False, default="", allow_blank=True)
    description = serializers.CharField(max_length=5000, required=False, default="", allow_blank=True)


class RegisterOrganisationIn(OrganisationDetailsIn):
    kind = serializers.ChoiceField(
        choices=SELF_REGISTERED_KIND_CHOICES,
        help_text="Public authorities and operators are created by the operator, not registered.",
    )


class RegisterIn(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(
        max_length=128, trim_whitespace=False, style={"input_type": "password"}, write_only=True
    )
    first_name = serializers.CharField(max_length=150)
    last_name = serializers.CharField(max_length=150)
    preferred_language = serializers.ChoiceField(
        choices=LANGUAGE_CHOICES, required=False, help_text="Defaults to the request's Accept-Language."
    )
    organisation = RegisterOrganisationIn()


class RegistrationAcceptedOut(serializers.Serializer):
    detail = serializers.CharField()


class RegisterView(AuthThrottled, APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="auth_register",
        summary="Sign up with your organisation (company, association or project)",
        description=(
            "Checks the input (400 problems as usual) and answers 202, the same whether or not the address "
            "already has an account. A new address gets a confirmation code by e-mail: "
            "`auth/register/confirm/` then activates the account and an unverified organisation of which "
            "you are the administrator; the operator is told and verifies it (until then it may draft but "
            "neither publish nor claim). Unconfirmed sign-ups are deleted after "
            "BOUCLE_REGISTRATION_CONFIRM_DAYS days. An address with an account is told by e-mail instead; "
            "one with a sign-up still unconfirmed gets its code again."
        ),
        request=RegisterIn,
        responses={202: RegistrationAcceptedOut},
        auth=[],
    )
    def post(self, request):
        data = validated(RegisterIn, request)
        language = data.get("preferred_language") or (get_language() or "fr")[:2]
        services.organisation_register(
            email=data["email"],
            password=data["password"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            preferred_language=language if language in ("fr", "en") else "fr",
            organisation=data["organisation"],
        )
        detail = _("Check your e-mail: we have sent a message to this address to go on.")
        return Response(RegistrationAcceptedOut({"detail": detail}).data, status=status.HTTP_202_ACCEPTED)


class RegisterConfirmIn(serializers.Serializer):
    token = serializers.CharField(max_length=200, help_text="The code from the confirmation e-mail.")


class SessionOut(serializers.Serializer):
    account = MeOut()
    access = serializers.CharField(help_text="Send as `Authorization: Bearer <access>`; short-lived.")
    refresh = serializers.CharField(help_text="Trade once for the next pair at auth/token/refresh/.")


class RegisterConfirmView(AuthThrottled, APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="auth_register_confirm",
        summary="Confirm your sign-up with the code from the e-mail",
        description=(
            "Activates the account and logs it in. A code works once, until the sign-up expires; "
            "otherwise 400 `registration_token_invalid`."
        ),
        request=RegisterConfirmIn,
        responses={200: SessionOut},
        auth=[],
    )
    def post(self, request):
        data = validated(RegisterConfirmIn, request)
        user = services.registration_confirm(token=data["token"])
        return Response({"account": me_data(user), **token_pair(user)})


class TokenObtainIn(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"}, write_only=True)


class TokenPairOut(serializers.Serializer):
    access = serializers.CharField(help_text="Send as `Authorization: Bearer <access>`; short-lived.")
    refresh = serializers.CharField(help_text="Trade once for the next pair at auth/token/refresh/.")


class TokenRefreshIn(serializers.Serializer):
    refresh = serializers.CharField()


class SessionTokenObtainSerializer(TokenObtainPairSerializer):
    token_class = SessionRefreshToken


class TokenView(AuthThrottled, TokenObtainPairView):
    serializer_class = SessionTokenObtainSerializer

    @extend_schema(
        operation_id="auth_token",
        summary="Log in: e-mail and password for a JWT pair",
        request=TokenObtainIn,
        responses={
            200: TokenPairOut,
            401: OpenApiResponse(
                description="Wrong e-mail or password, or an account not yet active (`no_active_account`)."
            ),
        },
        auth=[],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


class RefreshTokenInBody(APIView):
    """Routes whose credential is a refresh token in the body, not a header: a refused one still answers
    401 with `WWW-Authenticate` (DRF answers 403 on routes that name no authentication)."""

    authentication_classes = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request) -> str:
        return BearerJWTAuthentication().authenticate_header(request)


REFRESH_TOKEN_REFUSED = OpenApiResponse(
    description="The refresh token is not one (`token_not_valid`: malformed, forged, expired or an access "
    "token), was used already (`token_reused`), or its session ended (`token_revoked`)."
)


class TokenRefreshPairView(AuthThrottled, RefreshTokenInBody, APIView):
    @extend_schema(
        operation_id="auth_token_refresh",
        summary="The next JWT pair for a refresh token",
        description=(
            "Refresh tokens rotate: each one is good for one refresh, and the answer carries the next one. "
            "A refresh token presented a second time (here or at logout) means someone else holds a copy: "
            "every session of the account ends, and the answer is 401 `token_reused`. A token of a session "
            "that was ended (logout everywhere, password change or reset, removal from an organisation) "
            "answers 401 `token_revoked`."
        ),
        request=TokenRefreshIn,
        responses={200: TokenPairOut, 401: REFRESH_TOKEN_REFUSED},
        auth=[],
    )
    def post(self, request):
        data = validated(TokenRefreshIn, request)
        return Response(TokenPairOut(session_refresh(data["refresh"])).data)


class LogoutIn(serializers.Serializer):
    refresh = serializers.CharField()
    everywhere = serializers.BooleanField(
        required=False, default=False, help_text="End every session of the account, on every device."
    )


class LogoutView(AuthThrottled, RefreshTokenInBody, APIView):
    @extend_schema(
        operation_id="auth_logout",
        summary="Log out this device, or every device",
        description=(
            "Spends the refresh token of this device (its access token lives on until it expires: forget "
            "it). With `everywhere`, every access and refresh token of the account stops working at once. "
            "A token whose session has ended already answers 204 too; one used already, 401 `token_reused` "
            "(every session then ends)."
        ),
        request=LogoutIn,
        responses={204: None, 401: REFRESH_TOKEN_REFUSED},
        auth=[],
    )
    def post(self, request):
        data = validated(LogoutIn, request)
        session_logout(data["refresh"], everywhere=data["everywhere"])
        return Response(status=status.HTTP_204_NO_CONTENT)


def _password_field(help_text: str = "") -> serializers.CharField:
    return serializers.CharField(
        max_length=128,
        trim_whitespace=False,
        style={"input_type": "password"},
        write_only=True,
        help_text=help_text,
    )


class PasswordChangeIn(serializers.Serializer):
    current_password = _password_field()
    new_password = _password_field("Checked against the password rules, as at registration.")


class PasswordChangeView(AuthThrottled, APIView):
    permission_classes = [IsPerson]

    @extend_schema(
        operation_id="auth_password_change",
        summary="Change your password",
        description=(
            "Every session of the account ends, on every device and on the dashboard; the answer is a new "
            "pair for this device."
        ),
        request=PasswordChangeIn,
        responses={200: TokenPairOut},
        # drf-spectacular annotates `auth` as scheme names, but uses it as the security requirements.
        auth=[{"Bearer": []}],  # type: ignore[list-item]
    )
    def post(self, request):
        data = validated(PasswordChangeIn, request)
        user = services.user_change_password(
            user=request.user, current_password=data["current_password"], new_password=data["new_password"]
        )
        return Response(TokenPairOut(token_pair(user)).data)


class PasswordResetIn(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class PasswordResetAcceptedOut(serializers.Serializer):
    detail = serializers.CharField()


class PasswordResetView(AuthThrottled, APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="auth_password_reset",
        summary="Ask for a password-reset code by e-mail",
        description=(
            "Answers 202 alike whether or not the address has an account; an active account gets an e-mail "
            "with an id (`uid`) and a code (`token`) for `auth/password/reset/confirm/`, valid once and for "
            "PASSWORD_RESET_MINUTES minutes."
        ),
        request=PasswordResetIn,
        responses={202: PasswordResetAcceptedOut},
        auth=[],
    )
    def post(self, request):
        data = validated(PasswordResetIn, request)
        services.password_reset_request(email=data["email"])
        detail = _("If an account uses this address, a reset code is on its way to it.")
        return Response(PasswordResetAcceptedOut({"detail": detail}).data, status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmIn(serializers.Serializer):
    uid = serializers.CharField(max_length=64, help_text="The id from the reset e-mail.")
    token = serializers.CharField(max_length=128, help_text="The code from the reset e-mail.")
    new_password = _password_field("Checked against the password rules, as at registration.")


class PasswordResetConfirmView(AuthThrottled, APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="auth_password_reset_confirm",
        summary="Set a new password with the code from the e-mail",
        description=(
            "Every session of the account ends, on every device and on the dashboard: log in again. An "
            "unknown, used or expired code answers 400 `reset_token_invalid`."
        ),
        request=PasswordResetConfirmIn,
        responses={204: None},
        auth=[],
    )
    def post(self, request):
        data = validated(PasswordResetConfirmIn, request)
        services.password_reset_confirm(
            uid=data["uid"], token=data["token"], new_password=data["new_password"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationAcceptIn(serializers.Serializer):
    token = serializers.CharField(max_length=200, help_text="The code from the invitation e-mail.")
    password = serializers.CharField(
        max_length=128,
        trim_whitespace=False,
        required=False,
        default="",
        allow_blank=True,
        write_only=True,
        help_text="Only when no account exists yet for the invited address.",
    )
    first_name = serializers.CharField(max_length=150, required=False, default="", allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, default="", allow_blank=True)
    preferred_language = serializers.ChoiceField(choices=LANGUAGE_CHOICES, required=False)


class InvitationAcceptView(AuthThrottled, APIView):
    # Logging in is optional here: needed only when an account already exists for the invited address.
    authentication_classes = [BearerJWTAuthentication]
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="auth_invitations_accept",
        summary="Join an organisation with an invitation code",
        description=(
            "If no account exists for the invited address, `password`, `first_name` and `last_name` create "
            "it. If one exists, log in as it first (Bearer token). Unknown, used or expired codes answer 400 "
            "with code `invitation_invalid`, `invitation_used` or `invitation_expired`."
        ),
        request=InvitationAcceptIn,
        responses={201: MeOut},
    )
    def post(self, request):
        data = validated(InvitationAcceptIn, request)
        user = request.user if request.user and request.user.is_authenticated else None
        language = data.get("preferred_language") or (get_language() or "fr")[:2]
        membership = services.invitation_accept(
            token=data["token"],
            user=user,
            password=data["password"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            preferred_language=language,
        )
        return created(request, me_data(membership.user), "me")


urlpatterns = [
    path("auth/register/", RegisterView.as_view(), name="auth-register"),
    path("auth/register/confirm/", RegisterConfirmView.as_view(), name="auth-register-confirm"),
    path("auth/token/", TokenView.as_view(), name="auth-token"),
    path("auth/token/refresh/", TokenRefreshPairView.as_view(), name="auth-token-refresh"),
    path("auth/logout/", LogoutView.as_view(), name="auth-logout"),
    path("auth/password/change/", PasswordChangeView.as_view(), name="auth-password-change"),
    path("auth/password/reset/", PasswordResetView.as_view(), name="auth-password-reset"),
    path(
        "auth/password/reset/confirm/", PasswordResetConfirmView.as_view(), name="auth-password-reset-confirm"
    ),
    path("auth/invitations/accept/", InvitationAcceptView.as_view(), name="auth-invitations-accept"),
]
