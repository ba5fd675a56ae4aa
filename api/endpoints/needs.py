"""Needs: standing requests of associations and community projects (categories, where, how far, until
when), and how each organisation hears of the offers that match them."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory.models import Unit
from matching import selectors, services
from matching.models import NEED_MAX_RADIUS_M, NEED_SETTABLE_STATUS_CHOICES, MatchAlertMode, Need, NeedStatus
from organisations.selectors import organisation_get

from ..actors import actor_of
from ..created import created
from ..fields import BoundedDateTimeField, GeoJSONPointField
from ..inputs import validated, validated_query
from ..pagination import SyncCursorPage

MAX_RADIUS_M = min(settings.BOUCLE_MATCH_MAX_RADIUS_M, NEED_MAX_RADIUS_M)


class NeedCategoryOut(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    path = serializers.CharField()
    name = serializers.CharField()


class NeedOut(serializers.ModelSerializer):
    categories = NeedCategoryOut(many=True)
    unit = serializers.SerializerMethodField()
    location = GeoJSONPointField(help_text="The site's location when the need is at a site.")

    class Meta:
        model = Need
        fields = [
            "id",
            "organisation",
            "title",
            "description",
            "categories",
            "quantity_wanted",
            "unit",
            "site",
            "location",
            "radius_m",
            "deadline",
            "status",
            "created_by",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(serializers.ChoiceField(choices=Unit.choices, allow_null=True))
    def get_unit(self, need: Need) -> str | None:
        return need.unit or None


class _NeedFieldsIn(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    categories = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        min_length=1,
        max_length=services.MAX_CATEGORIES_PER_NEED,
        help_text="Category ids; offers in these categories or below them match.",
    )
    quantity_wanted = serializers.DecimalField(
        max_digits=14,
        decimal_places=3,
        required=False,
        allow_null=True,
        min_value=Decimal("0.001"),
        help_text="How much is wanted (> 0), in `unit`; omit when any quantity helps.",
    )
    unit = serializers.ChoiceField(
        choices=Unit.choices, required=False, help_text="Required with a quantity."
    )
    site = serializers.IntegerField(
        required=False, allow_null=True, help_text="One of your sites; the need is located there."
    )
    location = GeoJSONPointField(required=False, help_text="Where the need is, when not at a site.")
    radius_m = serializers.IntegerField(
        min_value=1, max_value=MAX_RADIUS_M, help_text=f"How far offers may be, metres (≤ {MAX_RADIUS_M})."
    )
    deadline = BoundedDateTimeField(
        required=False, allow_null=True, help_text="Needed by then; the need expires afterwards."
    )


class NeedCreateIn(_NeedFieldsIn):
    organisation = serializers.IntegerField(
        required=False, help_text="Organisation posting the need; optional when you belong to only one."
    )


class NeedUpdateIn(_NeedFieldsIn):
    status = serializers.ChoiceField(
        choices=NEED_SETTABLE_STATUS_CHOICES,
        required=False,
        help_text="Mark the need fulfilled or closed, or reopen it.",
    )


class NeedListQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=NeedStatus.choices, required=False)
    updated_since = BoundedDateTimeField(
        required=False, help_text="Only needs changed strictly after this instant."
    )


class NeedListView(ListAPIView):
    serializer_class = NeedOut
    pagination_class = SyncCursorPage

    def get_queryset(self):
        query = validated_query(NeedListQuery, self.request)
        return selectors.needs_list(
            actor=actor_of(self.request), status=query.get("status"), updated_since=query.get("updated_since")
        )

    @extend_schema(
        operation_id="needs_list",
        summary="Needs of your organisations, oldest change first",
        description=(
            "Every need of your organisations (all needs for the operator), oldest change first: store "
            "the last `updated_at` and pass it as `updated_since`, or follow `next`, to sync."
        ),
        parameters=[NeedListQuery],
    )
    def get(self, request):
        return self.list(request)

    @extend_schema(
        operation_id="needs_create",
        summary="Post a need (associations and projects)",
        description="Give `site` (one of yours) or `location`. Companies get 403 `recipients_only`.",
        request=NeedCreateIn,
        responses={201: NeedOut},
    )
    def post(self, request):
        data = validated(NeedCreateIn, request)
        need = services.need_create(
            actor=actor_of(request), organisation_id=data.pop("organisation", None), **data
        )
        return created(request, NeedOut(need).data, "need-detail", need_id=need.pk)


class NeedDetailView(GenericAPIView):
    serializer_class = NeedOut

    def _need(self, request, need_id: int) -> Need:
        return selectors.need_get(actor=actor_of(request), need_id=need_id)

    @extend_schema(operation_id="needs_retrieve", summary="A need")
    def get(self, request, need_id: int):
        return Response(NeedOut(self._need(request, need_id)).data)

    @extend_schema(
        operation_id="needs_update", summary="Edit a need", request=NeedUpdateIn, responses={200: NeedOut}
    )
    def patch(self, request, need_id: int):
        need = self._need(request, need_id)
        data = validated(NeedUpdateIn, request, partial=True)
        services.need_update(actor=actor_of(request), need=need, **data)
        return Response(NeedOut(self._need(request, need_id)).data)

    @extend_schema(
        operation_id="needs_destroy",
        summary="Delete a need and the matches recorded for it",
        responses={204: None},
    )
    def delete(self, request, need_id: int):
        services.need_delete(actor=actor_of(request), need=self._need(request, need_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MatchAlertsOut(serializers.Serializer):
    organisation = serializers.IntegerField()
    mode = serializers.ChoiceField(
        choices=MatchAlertMode.choices,
        help_text="immediate: one e-mail per new offer; daily: a digest around 07:00 (Paris); off: none.",
    )


class MatchAlertsIn(serializers.Serializer):
    mode = serializers.ChoiceField(choices=MatchAlertMode.choices)


class MatchAlertsView(APIView):
    @extend_schema(
        operation_id="match_alerts_retrieve",
        summary="How your organisation hears of matching offers",
        responses=MatchAlertsOut,
    )
    def get(self, request, organisation_id: int):
        organisation = organisation_get(actor=actor_of(request), organisation_id=organisation_id)
        mode = selectors.match_alert_mode(organisation_id=organisation.pk)
        return Response(MatchAlertsOut({"organisation": organisation.pk, "mode": mode}).data)

    @extend_schema(
        operation_id="match_alerts_update",
        summary="How your organisation hears of matching offers (administrators)",
        request=MatchAlertsIn,
        responses={200: MatchAlertsOut},
    )
    def put(self, request, organisation_id: int):
        actor = actor_of(request)
        organisation_get(actor=actor, organisation_id=organisation_id)
        data = validated(MatchAlertsIn, request)
        preference = services.match_alert_preference_set(
            actor=actor, organisation_id=organisation_id, mode=data["mode"]
        )
        return Response(MatchAlertsOut({"organisation": organisation_id, "mode": preference.mode}).data)


urlpatterns = [
    path("needs/", NeedListView.as_view(), name="needs"),
    path("needs/<int:need_id>/", NeedDetailView.as_view(), name="need-detail"),
    path("organisations/<int:organisation_id>/match-alerts/", MatchAlertsView.as_view(), name="match-alerts"),
]
