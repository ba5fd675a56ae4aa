"""Reading webhook endpoints and deliveries: an organisation's administrators see its own (the operator
every one); anything else reads as absent."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import NotFound
from organisations.actors import Actor

from .models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint


def _administered(actor: Actor, organisation_id: int | None) -> Q:
    if organisation_id is not None:
        actor.require_admin(organisation_id)
        return Q(organisation_id=organisation_id)
    if actor.is_operator:
        return Q()
    return Q(organisation_id__in=[pk for pk in actor.organisation_ids if actor.is_admin(pk)])


def endpoints_visible_to(*, actor: Actor, organisation_id: int | None = None) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(_administered(actor, organisation_id)).order_by("id")


def endpoint_get(*, actor: Actor, endpoint_id: int) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound(_("No such webhook endpoint."))
    actor.require_admin(endpoint.organisation_id)
    return endpoint


def deliveries_visible_to(
    *, actor: Actor, endpoint_id: int | None = None, status: str | None = None, event_type: str | None = None
) -> QuerySet[WebhookDelivery]:
    """Newest first, each with its attempts."""
    if endpoint_id is not None:
        endpoints = Q(endpoint_id=endpoint_get(actor=actor, endpoint_id=endpoint_id).pk)
    else:
        endpoints = Q(endpoint__in=endpoints_visible_to(actor=actor))
    qs = WebhookDelivery.objects.filter(endpoints)
    if status:
        qs = qs.filter(status=status)
    if event_type:
        qs = qs.filter(event_type=event_type)
    return qs.select_related("endpoint").prefetch_related(
        Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("id"))
    )


def delivery_get(*, actor: Actor, delivery_id: int) -> WebhookDelivery:
    """A message to an endpoint of an organisation the actor administers (a member: 403; else 404)."""
    delivery = (
        WebhookDelivery.objects.select_related("endpoint")
        .prefetch_related(Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("id")))
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None:
        raise NotFound(_("No such webhook delivery."))
    actor.require_admin(delivery.endpoint.organisation_id)
    return delivery


def sendable(now: datetime) -> Q:
    """May be attempted at `now`: pending and due, its endpoint active, not held by a worker, and no
    earlier message of its ordering key to the same endpoint still pending."""
    # Q & Exists is a Q (Q._combine takes any conditional expression); the stubs' Q.__and__ takes a Q.
    return (
        Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now, endpoint__is_active=True)  # type: ignore[return-value]
        & (Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        & ~Exists(
            WebhookDelivery.objects.filter(
                endpoint_id=OuterRef("endpoint_id"),
                ordering_key=OuterRef("ordering_key"),
                event_id__lt=OuterRef("event_id"),
                status=DeliveryStatus.PENDING,
            )
        )
    )


def deliveries_due(*, now: datetime | None = None, limit: int = 200) -> list[int]:
    """Messages that may be attempted now, the longest waiting first."""
    now = now or timezone.now()
    return list(
        WebhookDelivery.objects.filter(sendable(now))
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )


def next_of_key(delivery_id: int) -> list[int]:
    """Once a message is settled: the message of its key to its endpoint that is now first in line."""
    delivery = WebhookDelivery.objects.filter(pk=delivery_id).values("endpoint_id", "ordering_key").first()
    if delivery is None:
        return []
    return list(
        WebhookDelivery.objects.filter(sendable(timezone.now()), **delivery)
        .order_by("event_id")
        .values_list("id", flat=True)[:1]
    )
