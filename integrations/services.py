"""Signed webhooks: endpoints and their secrets, the fan-out of domain events into messages, and the
delivery of each message with retries.

- An organisation's administrators (persons, not API keys) manage its endpoints; the operator too.
  The URL passes the SSRF guard (integrations.ssrf) when registered or changed, and again before every
  attempt. The secret is shown once, at creation and at each rotation; during a rotation's overlap the
  previous secret signs as well, so a receiver can switch at its own pace.
- The fan-out reads the outbox (core.DomainEvent) as the consumer `integrations.webhooks`, in id order
  under one advisory lock, and writes one WebhookDelivery per event and endpoint that wants it (the
  unique pair: never twice). It runs after the recording transaction commits, so nothing is sent for a
  rolled-back change, and again every BOUCLE_WEBHOOK_SWEEP_SECONDS, so an event whose dispatch was lost
  (Redis or the worker down) still goes out. An endpoint hears of events recorded after it was created.
- A delivery is attempted when due, when its endpoint is active, and when no earlier message with the
  same ordering key to the same endpoint is still pending: one offer's messages arrive in commit order.
  The attempt first takes a lease (BOUCLE_WEBHOOK_LEASE_SECONDS): a worker killed mid-request lets the
  message go by itself, and the sweep sends it again with the same `webhook-id`, so a receiver that
  de-duplicates on it applies each message once.
- Only a 2xx answer is a success; 410 Gone disables the endpoint; anything else (a redirect included:
  none is followed) is retried after BOUCLE_WEBHOOK_RETRY_SCHEDULE_SECONDS (about three days in all),
  each wait with ±20 % jitter; then the message is marked failed, and can still be replayed.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Conflict, DomainError, InvalidInput, NotFound
from core.events import event_record, events_pending
from core.models import DomainEvent, EventConsumption
from organisations.actors import Actor

from . import sender, signing, ssrf
from .messages import WEBHOOK_EVENTS, body_of, message_for
from .models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .selectors import sendable

CONSUMER = "integrations.webhooks"
FAN_OUT_LOCK = 0x77E6_400B  # pg_advisory_xact_lock key: one fan-out at a time, in event order
MAX_ENDPOINTS_PER_ORGANISATION = 10
JITTER = 0.2
FAN_OUT_BATCH = 500  # events handled per fan-out transaction


def _event(name: str, endpoint: WebhookEndpoint, actor: Actor, **payload) -> None:
    event_record(
        name=name,
        aggregate_type="webhook_endpoint",
        aggregate_id=endpoint.pk,
        actor=actor.label,
        organisation_id=endpoint.organisation_id,
        payload=payload,
    )


def _event_types(event_types: list[str]) -> list[str]:
    wanted = list(dict.fromkeys(event_types))
    unknown = [name for name in wanted if name not in WEBHOOK_EVENTS]
    if not wanted or unknown:
        raise InvalidInput(
            _("The webhook endpoint has invalid fields."),
            code="validation_error",
            field_errors={
                "event_types": [
                    _("Unknown event types: %(names)s.") % {"names": ", ".join(unknown)}
                    if unknown
                    else _("Name at least one event type.")
                ]
            },
        )
    return sorted(wanted)


def _checked_url(url: str) -> str:
    ssrf.url_check(url)  # raises InvalidInput webhook_url_refused, field `url`
    return url


def _locked_endpoint(actor: Actor, endpoint_id: int) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound(_("No such webhook endpoint."))
    actor.require_admin(endpoint.organisation_id)
    return endpoint


@transaction.atomic
def endpoint_create(
    *,
    actor: Actor,
    organisation_id: int | None = None,
    url: str,
    event_types: list[str],
    description: str = "",
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its signing secret (`whsec_…`), which is shown only now."""
    organisation = actor.acting_organisation(organisation_id)
    actor.require_admin(organisation.pk)
    types = _event_types(event_types)
    url = _checked_url(url)
    # The organisation's row serialises registrations, so the cap holds under concurrent requests.
    type(organisation).objects.select_for_update().filter(pk=organisation.pk).first()
    if WebhookEndpoint.objects.filter(organisation=organisation).count() >= MAX_ENDPOINTS_PER_ORGANISATION:
        raise Conflict(
            _("An organisation has at most %(n)d webhook endpoints.") % {"n": MAX_ENDPOINTS_PER_ORGANISATION},
            code="webhook_endpoints_limit",
        )
    secret = signing.secret_new()
    endpoint = WebhookEndpoint.objects.create(
        organisation=organisation,
        url=url,
        description=description,
        event_types=types,
        secret=secret,
        created_by=actor.label,
    )
    _event("webhook_endpoint.created", endpoint, actor, url=url, event_types=types)
    return endpoint, secret


@transaction.atomic
def endpoint_update(
    *,
    actor: Actor,
    endpoint_id: int,
    url: str | None = None,
    event_types: list[str] | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> WebhookEndpoint:
    """Change an endpoint. Enabling one checks its URL again and clears why it was disabled."""
    endpoint = _locked_endpoint(actor, endpoint_id)
    changed: dict[str, object] = {}
    if event_types is not None:
        changed["event_types"] = _event_types(event_types)
    if url is not None and url != endpoint.url:
        changed["url"] = _checked_url(url)
    if description is not None:
        changed["description"] = description
    if is_active is not None and is_active != endpoint.is_active:
        if is_active and "url" not in changed:
            _checked_url(endpoint.url)
        changed["is_active"] = is_active
        changed["disabled_reason"] = "" if is_active else _("Disabled by %(actor)s.") % {"actor": actor.label}
    changed = {key: value for key, value in changed.items() if getattr(endpoint, key) != value}
    if changed:
        for key, value in changed.items():
            setattr(endpoint, key, value)
        endpoint.save(update_fields=[*changed, "updated_at"])
        _event("webhook_endpoint.updated", endpoint, actor, fields=sorted(changed))
    return endpoint


@transaction.atomic
def endpoint_delete(*, actor: Actor, endpoint_id: int) -> None:
    endpoint = _locked_endpoint(actor, endpoint_id)
    _event("webhook_endpoint.deleted", endpoint, actor, url=endpoint.url)
    endpoint.delete()


@transaction.atomic
def endpoint_rotate_secret(
    *, actor: Actor, endpoint_id: int, overlap_hours: int | None = None, now: datetime | None = None
) -> tuple[WebhookEndpoint, str]:
    """A new secret signs from now on; the current one keeps signing alongside it for `overlap_hours`
    (0: stops at once). Rotating again during an overlap ends the older secret's overlap now."""
    now = now or timezone.now()
    hours = settings.BOUCLE_WEBHOOK_ROTATION_OVERLAP_HOURS if overlap_hours is None else overlap_hours
    most = settings.BOUCLE_WEBHOOK_ROTATION_MAX_OVERLAP_HOURS
    if not 0 <= hours <= most:
        raise InvalidInput(
            _("The overlap is invalid."),
            code="validation_error",
            field_errors={
                "overlap_hours": [
                    _("Between 0 and %(n)d hours.")
                    % {"n": settings.BOUCLE_WEBHOOK_ROTATION_MAX_OVERLAP_HOURS}
                ]
            },
        )
    endpoint = _locked_endpoint(actor, endpoint_id)
    secret = signing.secret_new()
    endpoint.previous_secret = endpoint.secret if hours else ""
    endpoint.previous_secret_expires_at = now + timedelta(hours=hours) if hours else None
    endpoint.secret = secret
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
    _event("webhook_endpoint.secret_rotated", endpoint, actor, overlap_hours=hours)
    return endpoint, secret


def signing_secrets(endpoint: WebhookEndpoint, *, now: datetime) -> list[str]:
    """The secrets that sign a message sent now: the current one, and the previous during its overlap."""
    previous = endpoint.previous_secret
    if previous and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now:
        return [endpoint.secret, previous]
    return [endpoint.secret]


@transaction.atomic
def delivery_replay(*, actor: Actor, delivery_id: int, now: datetime | None = None) -> WebhookDelivery:
    """Send a message again, now, with the same `webhook-id` and body (and a fresh retry budget)."""
    delivery = (
        WebhookDelivery.objects.select_for_update().select_related("endpoint").filter(pk=delivery_id).first()
    )
    if delivery is None:
        raise NotFound(_("No such webhook delivery."))
    actor.require_admin(delivery.endpoint.organisation_id)
    if not delivery.endpoint.is_active:
        raise Conflict(
            _("The endpoint is disabled: enable it before replaying its messages."),
            code="webhook_endpoint_disabled",
        )
    if delivery.status == DeliveryStatus.PENDING and delivery.attempts == 0:
        return delivery  # not sent yet: it is already on its way
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = now or timezone.now()
    delivery.leased_until = None
    delivery.save(update_fields=["status", "attempts", "next_attempt_at", "leased_until"])
    _enqueue_after_commit([delivery.pk])
    return delivery


# -------------------------------------------------------------------------------------------------
# Fan-out
# -------------------------------------------------------------------------------------------------


def _enqueue_after_commit(delivery_ids: list[int]) -> None:
    if not delivery_ids:
        return
    from . import tasks  # tasks import this module

    def enqueue() -> None:
        for delivery_id in delivery_ids:
            tasks.deliver.delay(delivery_id=delivery_id)

    transaction.on_commit(enqueue, robust=True)  # the sweep sends what could not be enqueued


@transaction.atomic
def events_fan_out(*, limit: int = FAN_OUT_BATCH) -> int:
    """Turn the outbox's pending webhook events into messages, oldest first. Returns how many events
    were handled; safe to run concurrently (one at a time holds the lock, the others wait their turn)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [FAN_OUT_LOCK])
    ids = events_pending(consumer=CONSUMER, names=list(WEBHOOK_EVENTS), limit=limit)
    if not ids:
        return 0
    EventConsumption.objects.bulk_create([EventConsumption(consumer=CONSUMER, event_id=pk) for pk in ids])
    events = list(DomainEvent.objects.filter(pk__in=ids).order_by("id"))
    organisation_ids: set[int] = set()
    messages = [(event, message_for(event)) for event in events]
    for _recorded, message in messages:
        if message is not None:
            organisation_ids.update(message.organisation_ids)
    endpoints: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in WebhookEndpoint.objects.filter(organisation_id__in=organisation_ids, is_active=True):
        endpoints.setdefault(endpoint.organisation_id, []).append(endpoint)
    now = timezone.now()
    deliveries = []
    for event, message in messages:
        if message is None:
            continue
        body = body_of(event=event, message=message)
        for organisation_id in message.organisation_ids:
            for endpoint in endpoints.get(organisation_id, []):
                if message.type in endpoint.event_types and event.occurred_at >= endpoint.created_at:
                    deliveries.append(
                        WebhookDelivery(
                            endpoint=endpoint,
                            event=event,
                            message_id=f"msg_{uuid.uuid4().hex}",
                            event_type=message.type,
                            ordering_key=message.ordering_key,
                            body=body,
                            next_attempt_at=now,
                        )
                    )
    # The events were pending under the lock, so none has a message yet (the unique pair guards it).
    created = WebhookDelivery.objects.bulk_create(deliveries)
    _enqueue_after_commit([delivery.pk for delivery in created])
    return len(ids)


# -------------------------------------------------------------------------------------------------
# Delivery
# -------------------------------------------------------------------------------------------------


def _lease(delivery_id: int, now: datetime) -> WebhookDelivery | None:
    """Take the message for one attempt if it may be attempted now; None when it may not (sent, held by
    another worker, waiting for an earlier message of its key, its endpoint disabled)."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint")
            .filter(sendable(now), pk=delivery_id)
            .first()
        )
        if delivery is None:
            return None
        delivery.leased_until = now + timedelta(seconds=settings.BOUCLE_WEBHOOK_LEASE_SECONDS)
        delivery.attempts += 1
        delivery.save(update_fields=["leased_until", "attempts"])
    return delivery


def retry_delay(attempts: int) -> timedelta | None:
    """The wait after the `attempts`-th failed attempt, with jitter; None once the schedule is spent."""
    schedule = settings.BOUCLE_WEBHOOK_RETRY_SCHEDULE_SECONDS
    if attempts > len(schedule):
        return None
    return timedelta(seconds=schedule[attempts - 1] * random.uniform(1 - JITTER, 1 + JITTER))


@dataclass(frozen=True)
class AttemptResult:
    delivery_id: int
    succeeded: bool
    status_code: int | None
    error: str


def delivery_attempt(*, delivery_id: int) -> AttemptResult | None:
    """One attempt to send a message, if it may be sent now; None when it may not (see _lease)."""
    delivery = _lease(delivery_id, timezone.now())
    if delivery is None:
        return None
    endpoint = delivery.endpoint
    attempted_at = timezone.now()
    body = delivery.body.encode()
    try:
        target = ssrf.url_check(endpoint.url)
    except DomainError as refusal:
        outcome = sender.Outcome(None, "", f"refused: {refusal.extra.get('reason', refusal.code)}", 0)
    else:
        headers = signing.signed_headers(
            signing_secrets(endpoint, now=attempted_at),
            message_id=delivery.message_id,
            timestamp=int(attempted_at.timestamp()),
            body=body,
        )
        outcome = sender.post(
            target,
            body=body,
            headers=headers,
            connect_timeout=settings.BOUCLE_WEBHOOK_CONNECT_TIMEOUT_SECONDS,
            read_timeout=settings.BOUCLE_WEBHOOK_READ_TIMEOUT_SECONDS,
            cap=settings.BOUCLE_WEBHOOK_RESPONSE_CAP_BYTES,
        )
    _settle(delivery, outcome, attempted_at=attempted_at, target_url=endpoint.url)
    return AttemptResult(delivery.pk, outcome.succeeded, outcome.status_code, outcome.error)


@transaction.atomic
def _settle(
    delivery: WebhookDelivery, outcome: sender.Outcome, *, attempted_at: datetime, target_url: str
) -> None:
    WebhookAttempt.objects.create(
        delivery=delivery,
        attempted_at=attempted_at,
        url=target_url,
        status_code=outcome.status_code,
        duration_ms=outcome.duration_ms,
        succeeded=outcome.succeeded,
        error=outcome.error,
        response_body=outcome.body,
    )
    now = timezone.now()
    fields: dict[str, object] = {"leased_until": None}
    if outcome.succeeded:
        fields.update(status=DeliveryStatus.SUCCEEDED, delivered_at=now, next_attempt_at=None)
    elif outcome.status_code == 410:
        fields.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
        WebhookEndpoint.objects.filter(pk=delivery.endpoint_id, is_active=True).update(
            is_active=False,
            disabled_reason=_("The endpoint answered 410 Gone on %(when)s.")
            % {"when": now.date().isoformat()},
            updated_at=now,
        )
    elif (delay := retry_delay(delivery.attempts)) is None:
        fields.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
    else:
        fields.update(next_attempt_at=now + delay)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
