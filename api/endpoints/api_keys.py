"""API keys: an organisation's credentials for its stock system. Created, listed and revoked by the
organisation's administrators; the raw key is shown once, at creation."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from organisations import selectors, services
from organisations.models import ApiKey, ApiKeyScope

from ..actors import actor_of
from ..created import created
from ..inputs import validated, validated_query


class ApiKeyOut(serializers.ModelSerializer):
    prefix = serializers.SerializerMethodField(help_text="Identifies the key in lists: its first characters.")
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=ApiKeyScope.choices))

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "organisation",
            "name",
            "prefix",
            "scopes",
            "created_at",
            "last_used_at",
            "revoked_at",
        ]

    def get_prefix(self, key: ApiKey) -> str:
        return f"{services.API_KEY_LABEL}_{key.prefix}"


class ApiKeyCreatedOut(ApiKeyOut):
    key = serializers.CharField(
        help_text="The key itself, shown this once only: store it now. Send `Authorization: Api-Key <key>`."
    )

    class Meta(ApiKeyOut.Meta):
        fields = [*ApiKeyOut.Meta.fields, "key"]


class ApiKeyCreateIn(serializers.Serializer):
    organisation = serializers.IntegerField(
        required=False, help_text="Organisation the key acts for; optional when you belong to only one."
    )
    name = serializers.CharField(max_length=100, help_text="What uses it, e.g. “ERP stock sync”.")
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=ApiKeyScope.choices),
        min_length=1,
        help_text="`read`, `write`, or both. A key without `write` gets 403 on every write.",
    )


class ApiKeyListQuery(serializers.Serializer):
    organisation = serializers.IntegerField(required=False, help_text="Only this organisation's keys.")


class ApiKeyListView(ListAPIView):
    serializer_class = ApiKeyOut

    def get_queryset(self):
        query = validated_query(ApiKeyListQuery, self.request)
        return selectors.api_keys_visible_to(
            actor=actor_of(self.request), organisation_id=query.get("organisation")
        )

    @extend_schema(
        operation_id="api_keys_list",
        summary="Keys of the organisations you administer, revoked ones included",
        parameters=[ApiKeyListQuery],
    )
    def get(self, request):
        return self.list(request)

    @extend_schema(
        operation_id="api_keys_create",
        summary="Create a key (administrators); the key is in this answer only",
        request=ApiKeyCreateIn,
        responses={201: ApiKeyCreatedOut},
    )
    def post(self, request):
        data = validated(ApiKeyCreateIn, request)
        key, raw = services.api_key_create(
            actor=actor_of(request),
            organisation_id=data.get("organisation"),
            name=data["name"],
            scopes=data["scopes"],
        )
        key.key = raw
        return created(request, ApiKeyCreatedOut(key).data, "api-key-detail", api_key_id=key.pk)


class ApiKeyDetailView(APIView):
    @extend_schema(
        operation_id="api_keys_revoke",
        summary="Revoke a key (administrators); it answers 401 from now on",
        responses={204: None},
    )
    def delete(self, request, api_key_id: int):
        actor = actor_of(request)
        key = selectors.api_key_get(actor=actor, api_key_id=api_key_id)
        services.api_key_revoke(actor=actor, api_key_id=key.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("api-keys/", ApiKeyListView.as_view(), name="api-keys"),
    path("api-keys/<int:api_key_id>/", ApiKeyDetailView.as_view(), name="api-key-detail"),
]
