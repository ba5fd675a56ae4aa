"""Signed webhooks: an organisation's administrators register endpoints (URL + event types), rotate their
signing secrets, and read and replay what was sent (integrations.services). Every message is signed
per Standard Webhooks; the messages themselves are documented as callbacks of `webhook_endpoints_create`."""

from __future__ import annotations

import json

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiCallback, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations import selectors, services
from integrations.messages import WEBHOOK_EVENTS
from integrations.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint

from ..actors import actor_of
from ..created import created
from ..idempotency import idempotent
from ..inputs import validated, validated_query
from ..shapes import OfferPlainOut

EVENT_TYPE_CHOICES = [(name, name) for name in WEBHOOK_EVENTS]
EVENT_TYPES_HELP = "Event types to receive: " + ", ".join(f"`{name}`" for name in WEBHOOK_EVENTS) + "."


class WebhookEndpointOut(serializers.ModelSerializer):
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_TYPE_CHOICES))
    previous_secret_expires_at = serializers.SerializerMethodField(
        help_text="During a rotation's overlap: when the previous secret stops signing; else null."
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "organisation",
            "url",
            "description",
            "event_types",
            "is_active",
            "disabled_reason",
            "previous_secret_expires_at",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_previous_secret_expires_at(self, endpoint: WebhookEndpoint) -> str | None:
        expires = endpoint.previous_secret_expires_at
        return serializers.DateTimeField().to_representation(expires) if expires else None


class WebhookEndpointSecretOut(WebhookEndpointOut):
    secret = serializers.CharField(
        help_text="The signing secret (`whsec_…`), shown in this answer only: store it now. Verify each "
        "message's `webhook-signature` with it (Standard Webhooks)."
    )

    class Meta(WebhookEndpointOut.Meta):
        fields = [*WebhookEndpointOut.Meta.fields, "secret"]


class WebhookEndpointCreateIn(serializers.Serializer):
    organisation = serializers.IntegerField(
        required=False, help_text="Organisation the endpoint is for; optional when you belong to only one."
    )
    url = serializers.CharField(
        allow_blank=True,  # the SSRF guard refuses a blank or too long URL, with its reason
        trim_whitespace=False,
        help_text="An http(s) URL on the public internet (loopback, private, metadata addresses: refused).",
    )
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPE_CHOICES), min_length=1, help_text=EVENT_TYPES_HELP
    )
    description = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


class WebhookEndpointUpdateIn(serializers.Serializer):
    url = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPE_CHOICES), min_length=1, required=False
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_active = serializers.BooleanField(
        required=False, help_text="false disables the endpoint (nothing is sent); true enables it again."
    )


class WebhookRotateIn(serializers.Serializer):
    overlap_hours = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=168,
        help_text="Hours the current secret keeps signing alongside the new one (default 24; 0: none).",
    )


class WebhookEndpointListQuery(serializers.Serializer):
    organisation = serializers.IntegerField(required=False, help_text="Only this organisation's endpoints.")


class WebhookAttemptOut(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["attempted_at", "status_code", "duration_ms", "succeeded", "error", "response_body"]


class WebhookDeliveryOut(serializers.ModelSerializer):
    payload = serializers.SerializerMethodField(
        help_text="The message body as sent (the same on every attempt)."
    )
    event = serializers.IntegerField(source="event_id")
    attempt_log = WebhookAttemptOut(many=True, help_text="Every attempt, oldest first.")

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint",
            "message_id",
            "event",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "created_at",
            "delivered_at",
            "payload",
            "attempt_log",
        ]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_payload(self, delivery: WebhookDelivery) -> dict:
        return json.loads(delivery.body)


class WebhookDeliveryListQuery(serializers.Serializer):
    endpoint = serializers.IntegerField(
        required=False, min_value=1, help_text="Only this endpoint's messages."
    )
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, required=False)
    event_type = serializers.ChoiceField(choices=EVENT_TYPE_CHOICES, required=False)


# ---- the messages, as a receiver sees them -----------------------------------------------------------


class _OfferData(OfferPlainOut):
    """The offer's identity and status, its plain fields (the read shape, api/shapes.py; times in UTC),
    and a summary."""

    offer = serializers.IntegerField()
    external_ref = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    summary = serializers.CharField()


class _ClaimData(serializers.Serializer):
    claim = serializers.IntegerField()
    offer = serializers.IntegerField()
    external_ref = serializers.CharField(allow_null=True)
    claimant = serializers.IntegerField(help_text="The claiming organisation.")
    quantity = serializers.DecimalField(max_digits=14, decimal_places=3)
    unit = serializers.CharField()
    status = serializers.CharField()
    summary = serializers.CharField()


class _HandoverData(serializers.Serializer):
    handover = serializers.IntegerField()
    claim = serializers.IntegerField()
    offer = serializers.IntegerField()
    external_ref = serializers.CharField(allow_null=True)
    quantity = serializers.DecimalField(max_digits=14, decimal_places=3)
    unit = serializers.CharField()
    mass_kg = serializers.DecimalField(max_digits=14, decimal_places=3)
    reverses = serializers.IntegerField(allow_null=True, help_text="For a reversal: the row it reverses.")
    summary = serializers.CharField()


class _MatchData(serializers.Serializer):
    match = serializers.IntegerField()
    need = serializers.IntegerField()
    offer = serializers.IntegerField()
    score = serializers.FloatField()
    distance_km = serializers.FloatField()
    summary = serializers.CharField()


class _ImportData(serializers.Serializer):
    import_ = serializers.IntegerField(help_text="The import (`GET imports/{id}/`).")
    summary = serializers.CharField()

    def get_fields(self):
        fields = super().get_fields()
        fields["import"] = fields.pop("import_")
        return fields


_DATA = {"offer": _OfferData, "claim": _ClaimData, "handover": _HandoverData, "match": _MatchData}
_DATA["import"] = _ImportData


def _message_serializer(event_type: str) -> type[serializers.Serializer]:
    name = "".join(part.title() for part in event_type.replace(".", "_").split("_")) + "Webhook"
    return type(
        name,
        (serializers.Serializer,),
        {
            "id": serializers.CharField(help_text="The event (`evt_…`); `webhook-id` names the message."),
            "type": serializers.ChoiceField(choices=[(event_type, event_type)]),
            "timestamp": serializers.DateTimeField(help_text="When the event happened."),
            "data": _DATA[event_type.split(".")[0]](),
            "__module__": __name__,
        },
    )


WEBHOOK_CALLBACKS = [
    OpenApiCallback(
        name=event_type,
        path="{$request.body#/url}",
        decorator=extend_schema(
            summary=str(description),
            description=(
                "POSTed to the endpoint's URL with the headers `webhook-id` (the message: the same on every "
                "retry and replay, de-duplicate on it), `webhook-timestamp` (Unix seconds) and "
                "`webhook-signature` (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` keyed by the secret; "
                "two signatures, space-separated, during a rotation). Answer 2xx within 10 s; anything "
                "else is retried for about three days; 410 disables the endpoint."
            ),
            request=_message_serializer(event_type),
            responses={200: OpenApiResponse(description="Received.")},
        ),
    )
    for event_type, description in WEBHOOK_EVENTS.items()
]


# ---- views ----------------------------------------------------------------------------------------------


class WebhookEndpointListView(ListAPIView):
    serializer_class = WebhookEndpointOut

    def get_queryset(self):
        query = validated_query(WebhookEndpointListQuery, self.request)
        return selectors.endpoints_visible_to(
            actor=actor_of(self.request), organisation_id=query.get("organisation")
        )

    @extend_schema(
        operation_id="webhook_endpoints_list",
        summary="Webhook endpoints of the organisations you administer",
        parameters=[WebhookEndpointListQuery],
    )
    def get(self, request):
        return self.list(request)

    @extend_schema(
        operation_id="webhook_endpoints_create",
        summary="Register a webhook endpoint (administrators); its secret is in this answer only",
        request=WebhookEndpointCreateIn,
        responses={201: WebhookEndpointSecretOut},
        callbacks=WEBHOOK_CALLBACKS,
    )
    @idempotent
    def post(self, request):
        data = validated(WebhookEndpointCreateIn, request)
        endpoint, secret = services.endpoint_create(
            actor=actor_of(request),
            organisation_id=data.get("organisation"),
            url=data["url"],
            event_types=data["event_types"],
            description=data["description"],
        )
        endpoint.secret = secret
        return created(
            request, WebhookEndpointSecretOut(endpoint).data, "webhook-endpoint", endpoint_id=endpoint.pk
        )


class WebhookEndpointDetailView(APIView):
    @extend_schema(
        operation_id="webhook_endpoints_retrieve", summary="A webhook endpoint", responses=WebhookEndpointOut
    )
    def get(self, request, endpoint_id: int):
        endpoint = selectors.endpoint_get(actor=actor_of(request), endpoint_id=endpoint_id)
        return Response(WebhookEndpointOut(endpoint).data)

    @extend_schema(
        operation_id="webhook_endpoints_update",
        summary="Change a webhook endpoint's URL, event types or description; disable or enable it",
        request=WebhookEndpointUpdateIn,
        responses=WebhookEndpointOut,
    )
    def patch(self, request, endpoint_id: int):
        data = validated(WebhookEndpointUpdateIn, request)
        endpoint = services.endpoint_update(actor=actor_of(request), endpoint_id=endpoint_id, **data)
        return Response(WebhookEndpointOut(endpoint).data)

    @extend_schema(
        operation_id="webhook_endpoints_destroy",
        summary="Delete a webhook endpoint and its delivery log",
        responses={204: None},
    )
    def delete(self, request, endpoint_id: int):
        services.endpoint_delete(actor=actor_of(request), endpoint_id=endpoint_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookEndpointRotateView(APIView):
    @extend_schema(
        operation_id="webhook_endpoints_rotate_secret",
        summary="Rotate the signing secret; the old one keeps signing during the overlap",
        request=WebhookRotateIn,
        responses=WebhookEndpointSecretOut,
    )
    @idempotent
    def post(self, request, endpoint_id: int):
        data = validated(WebhookRotateIn, request)
        endpoint, secret = services.endpoint_rotate_secret(
            actor=actor_of(request), endpoint_id=endpoint_id, overlap_hours=data.get("overlap_hours")
        )
        endpoint.secret = secret
        return Response(WebhookEndpointSecretOut(endpoint).data)


class WebhookDeliveryListView(ListAPIView):
    serializer_class = WebhookDeliveryOut

    def get_queryset(self):
        query = validated_query(WebhookDeliveryListQuery, self.request)
        return selectors.deliveries_visible_to(
            actor=actor_of(self.request),
            endpoint_id=query.get("endpoint"),
            status=query.get("status"),
            event_type=query.get("event_type"),
        )

    @extend_schema(
        operation_id="webhook_deliveries_list",
        summary="Messages sent to your webhook endpoints, newest first, with every attempt",
        parameters=[WebhookDeliveryListQuery],
    )
    def get(self, request):
        return self.list(request)


class WebhookDeliveryDetailView(APIView):
    @extend_schema(
        operation_id="webhook_deliveries_retrieve",
        summary="A webhook message and its attempts",
        responses=WebhookDeliveryOut,
    )
    def get(self, request, delivery_id: int):
        delivery = selectors.delivery_get(actor=actor_of(request), delivery_id=delivery_id)
        return Response(WebhookDeliveryOut(delivery).data)


class WebhookDeliveryReplayView(APIView):
    @extend_schema(
        operation_id="webhook_deliveries_replay",
        summary="Send a message again now, with the same webhook-id and body",
        request=None,
        responses={202: WebhookDeliveryOut},
    )
    def post(self, request, delivery_id: int):
        actor = actor_of(request)
        services.delivery_replay(actor=actor, delivery_id=delivery_id)
        delivery = selectors.delivery_get(actor=actor, delivery_id=delivery_id)
        return Response(WebhookDeliveryOut(delivery).data, status=status.HTTP_202_ACCEPTED)


urlpatterns = [
    path("webhook-endpoints/", WebhookEndpointListView.as_view(), name="webhook-endpoints"),
    path(
        "webhook-endpoints/<int:endpoint_id>/", WebhookEndpointDetailView.as_view(), name="webhook-endpoint"
    ),
    path(
        "webhook-endpoints/<int:endpoint_id>/rotate-secret/",
        WebhookEndpointRotateView.as_view(),
        name="webhook-endpoint-rotate-secret",
    ),
    path("webhook-deliveries/", WebhookDeliveryListView.as_view(), name="webhook-deliveries"),
    path(
        "webhook-deliveries/<int:delivery_id>/", WebhookDeliveryDetailView.as_view(), name="webhook-delivery"
    ),
    path(
        "webhook-deliveries/<int:delivery_id>/replay/",
        WebhookDeliveryReplayView.as_view(),
        name="webhook-delivery-replay",
    ),
]
