"""GET|PATCH me/: the person behind the token, their memberships and roles."""

from __future__ import annotations

from django.db import transaction
from django.urls import path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from claims.models import NotificationMode
from claims.notifications import notification_mode_of, notification_mode_set
from organisations import selectors, services
from organisations.actors import Actor
from organisations.models import Membership, MembershipRole, OrganisationKind, User

from ..actors import actor_of
from ..inputs import validated

LANGUAGE_CHOICES = [("fr", "Français"), ("en", "English")]


class IsPerson(BasePermission):
    """Routes about a person's own account: an API key acts for an organisation, not for anyone."""

    message = _("This route is for people; API keys act for an organisation.")

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated) and actor_of(request).api_key is None


class MembershipOrganisationOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=OrganisationKind.choices)
    verified = serializers.BooleanField(source="is_verified")


class MembershipOut(serializers.Serializer):
    organisation = MembershipOrganisationOut()
    role = serializers.ChoiceField(choices=MembershipRole.choices)


class MeOut(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    preferred_language = serializers.ChoiceField(choices=LANGUAGE_CHOICES)
    notifications = serializers.ChoiceField(
        choices=NotificationMode.choices,
        help_text=_(
            "How you hear by e-mail of your organisations' claims and handovers: immediate (one e-mail per "
            "event), daily (one digest a day) or off."
        ),
    )
    is_operator = serializers.BooleanField()
    memberships = MembershipOut(many=True)


def me_data(user: User) -> dict:
    """MeOut for a person; memberships come in one query."""
    memberships: list[Membership] = list(selectors.memberships_of(user=user))
    return MeOut(
        {
            "id": user.pk,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "preferred_language": user.preferred_language,
            "notifications": notification_mode_of(user),
            "is_operator": Actor.for_user(user).is_operator,
            "memberships": memberships,
        }
    ).data


class MeUpdateIn(serializers.Serializer):
    first_name = serializers.CharField(max_length=150, required=False)
    last_name = serializers.CharField(max_length=150, required=False)
    preferred_language = serializers.ChoiceField(choices=LANGUAGE_CHOICES, required=False)
    notifications = serializers.ChoiceField(choices=NotificationMode.choices, required=False)


class MeView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(operation_id="me_retrieve", summary="Who you are, and your organisations", responses=MeOut)
    def get(self, request):
        return Response(me_data(request.user))

    @extend_schema(
        operation_id="me_update",
        summary="Change your names, preferred language or e-mail notifications",
        request=MeUpdateIn,
        responses={200: MeOut},
    )
    def patch(self, request):
        data = validated(MeUpdateIn, request, partial=True)
        mode = data.pop("notifications", None)
        with transaction.atomic():
            user = services.user_update(user=request.user, **data)
            if mode is not None:
                notification_mode_set(user=user, mode=mode)
        return Response(me_data(user))


urlpatterns = [path("me/", MeView.as_view(), name="me")]
