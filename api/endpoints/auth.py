"""Registration, JWT login, and accepting an invitation. Throttled (scope "auth") against guessing."""

from __future__ import annotations

from django.urls import path
from django.utils.translation import get_language
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from organisations import services
from organisations.models import SELF_REGISTERED_KIND_CHOICES

from ..authentication import BearerJWTAuthentication
from ..inputs import validated
from .me import LANGUAGE_CHOICES, MeOut, me_data

PHONE_PATTERN = r"^\+?[0-9 ().\-]{6,24}$"


class AuthThrottled:
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"


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


class RegisterView(AuthThrottled, APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="auth_register",
        summary="Sign up with your organisation (company, association or project)",
        description=(
            "Creates your account and an unverified organisation of which you are the administrator. "
            "The operator is told and verifies it; until then it may draft but neither publish nor claim."
        ),
        request=RegisterIn,
        responses={201: MeOut},
        auth=[],
    )
    def post(self, request):
        data = validated(RegisterIn, request)
        language = data.get("preferred_language") or (get_language() or "fr")[:2]
        membership = services.organisation_register(
            email=data["email"],
            password=data["password"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            preferred_language=language if language in ("fr", "en") else "fr",
            organisation=data["organisation"],
        )
        return Response(me_data(membership.user), status=status.HTTP_201_CREATED)


class TokenObtainIn(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"}, write_only=True)


class TokenPairOut(serializers.Serializer):
    access = serializers.CharField(help_text="Send as `Authorization: Bearer <access>`; short-lived.")
    refresh = serializers.CharField(help_text="Trade for a new access token at auth/token/refresh/.")


class TokenRefreshIn(serializers.Serializer):
    refresh = serializers.CharField()


class TokenRefreshOut(serializers.Serializer):
    access = serializers.CharField()


class TokenView(AuthThrottled, TokenObtainPairView):
    @extend_schema(
        operation_id="auth_token",
        summary="Log in: e-mail and password for a JWT pair",
        request=TokenObtainIn,
        responses={200: TokenPairOut},
        auth=[],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


class TokenRefreshAccessView(AuthThrottled, TokenRefreshView):
    @extend_schema(
        operation_id="auth_token_refresh",
        summary="A new access token for a refresh token",
        request=TokenRefreshIn,
        responses={200: TokenRefreshOut},
        auth=[],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


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
        auth=[{"Bearer": []}, {}],
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
        return Response(me_data(membership.user), status=status.HTTP_201_CREATED)


urlpatterns = [
    path("auth/register/", RegisterView.as_view(), name="auth-register"),
    path("auth/token/", TokenView.as_view(), name="auth-token"),
    path("auth/token/refresh/", TokenRefreshAccessView.as_view(), name="auth-token-refresh"),
    path("auth/invitations/accept/", InvitationAcceptView.as_view(), name="auth-invitations-accept"),
]
