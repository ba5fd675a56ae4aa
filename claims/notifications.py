"""E-mail notifications to the people concerned by a claim or a handover.

Who is told (the active members of):
- `claim.requested`: the donor organisation (the offer's);
- `claim.accepted`, `claim.declined`, `claim.expired` (a no-show): the recipient organisation;
- `handover.recorded`: the other party, the one that did not record the row, which has to confirm or
  dispute it (both parties when the operator or the system recorded it);
- `handover.disputed`: the party that recorded the row (the party that did not dispute it, when the
  operator or the system recorded it).

Each person hears in their `preferred_language`, as their NotificationPreference says: `immediate` (one
e-mail per event, the default), `daily` (one digest a day, `notification_digests_send`, on the beat
schedule) or `off` (nothing). Links point to BOUCLE_CLIENT_URL (`/claims/{id}`, `/handovers/{id}`), never
to API routes.

Never twice for one event: the consumer (claims/tasks.py `notify_people`, subscribed in apps.py) runs
once per event (core.events.event_consume) and inserts one Notification row per (event, person) — a
unique pair — before anything is sent; sending marks the row sent under its lock, in the transaction
of the send, so a failed send is retried and a redelivery sends nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import InvalidInput
from core.models import DomainEvent
from organisations.emails import send_email
from organisations.models import User

from .models import Claim, Handover, Notification, NotificationMode, NotificationPreference

CONSUMER = "claims.notifications"
CLAIM_EVENTS = ("claim.requested", "claim.accepted", "claim.declined", "claim.expired")
HANDOVER_EVENTS = ("handover.recorded", "handover.disputed")
NOTIFIED_EVENTS = CLAIM_EVENTS + HANDOVER_EVENTS
# Immediate notifications still unsent this long after the event (their send failed for good, or the
# person switched to immediate in between) go out with the next daily digest.
STRAGGLER_DELAY = dt.timedelta(hours=1)
# The digest also records the events of the last day the consumer missed.
SWEEP_WINDOW = dt.timedelta(days=1)


# Preferences --------------------------------------------------------------------------------------------


def notification_mode_of(user: User) -> str:
    preference = NotificationPreference.objects.filter(user_id=user.pk).first()
    return preference.mode if preference else NotificationMode.IMMEDIATE


def notification_mode_set(*, user: User, mode: str) -> str:
    """Sets how the person hears of claims and handovers: 400 on `notifications` for an unknown mode."""
    if mode not in NotificationMode.values:
        message = _("Choose immediate, daily or off.")
        raise InvalidInput(message, field_errors={"notifications": [message]})
    NotificationPreference.objects.update_or_create(user_id=user.pk, defaults={"mode": mode})
    return mode


# Recording (the event consumer) -------------------------------------------------------------------------


def _parties(event: DomainEvent) -> tuple[Claim, Handover | None, list[int]]:
    """The claim, the handover (for handover events) and the organisations to tell."""
    if event.name in CLAIM_EVENTS:
        claim = Claim.objects.select_related("offer").get(pk=event.aggregate_id)
        if event.name == "claim.requested":
            return claim, None, [claim.offer.organisation_id]
        return claim, None, [claim.organisation_id]
    handover = Handover.objects.get(pk=event.aggregate_id)
    claim = Claim.objects.select_related("offer").get(pk=handover.claim_id)
    parties = [handover.donor_id, handover.recipient_id]
    recorder = handover.recorded_by_organisation_id
    if event.name == "handover.recorded":
        return claim, handover, [org_id for org_id in parties if org_id != recorder]
    if recorder is not None:
        return claim, handover, [recorder]
    return claim, handover, [org_id for org_id in parties if org_id != event.organisation_id]


def notifications_record(event: DomainEvent) -> list[int]:
    """One Notification per active member of the organisations concerned whose preference is not `off`
    (a person in both organisations is told once). Returns the ids of those to send now."""
    if event.name not in NOTIFIED_EVENTS:
        return []
    claim, handover, organisation_ids = _parties(event)
    people = list(
        User.objects.filter(memberships__organisation_id__in=organisation_ids, is_active=True)
        .distinct()
        .order_by("id")
        .values_list("id", flat=True)
    )
    modes = dict(NotificationPreference.objects.filter(user_id__in=people).values_list("user_id", "mode"))
    rows = [
        Notification(
            event=event,
            user_id=user_id,
            claim=claim,
            handover=handover,
            mode=modes.get(user_id, NotificationMode.IMMEDIATE),
            created_at=event.occurred_at,
        )
        for user_id in people
        if modes.get(user_id) != NotificationMode.OFF
    ]
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    return list(
        Notification.objects.filter(
            event=event, mode=NotificationMode.IMMEDIATE, sent_at__isnull=True
        ).values_list("id", flat=True)
    )


def notifications_record_and_send(event: DomainEvent, *, enqueue: Callable[[int], None]) -> None:
    """The consumer's handler: records the rows, then has each immediate one sent once this commits."""
    for notification_id in notifications_record(event):
        transaction.on_commit(partial(enqueue, notification_id))


def notifications_unrecorded(*, now: dt.datetime | None = None, limit: int = 500) -> list[int]:
    """Events of these kinds from the last SWEEP_WINDOW the consumer has not handled yet (the worker was
    down, a message lost); older ones are news no more, and the history before notifications existed
    must not be e-mailed."""
    since = (now or timezone.now()) - SWEEP_WINDOW
    return list(
        DomainEvent.objects.filter(name__in=NOTIFIED_EVENTS, occurred_at__gte=since)
        .exclude(consumptions__consumer=CONSUMER)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )


# Sending ------------------------------------------------------------------------------------------------


def client_link(path: str) -> str:
    return f"{settings.BOUCLE_CLIENT_URL}{path}"


def _item(notification: Notification) -> dict[str, Any]:
    """What a template needs to tell of one event."""
    event = notification.event
    claim = notification.claim
    path = f"/handovers/{notification.handover_id}" if notification.handover_id else f"/claims/{claim.pk}"
    return {
        "kind": event.name.replace(".", "_"),
        "claim": claim,
        "offer": claim.offer,
        "donor": claim.offer.organisation,
        "recipient": claim.organisation,
        "handover": notification.handover,
        "quantity": f"{(notification.handover or claim).quantity.normalize():f}",
        "reason": event.payload.get("reason", ""),
        "by_system": event.payload.get("by") == "system",
        "automatic": bool(event.payload.get("automatic")),
        "link": client_link(path),
    }


def _pending(**filters: Any):
    return (
        Notification.objects.filter(sent_at__isnull=True, **filters)
        .select_related(
            "event", "user", "handover", "claim__offer__organisation", "claim__organisation", "claim__offer"
        )
        .order_by("created_at", "id")
    )


@transaction.atomic
def notification_send(*, notification_id: int) -> bool:
    """Sends one immediate notification unless it went already (locked, then re-checked: two workers
    never send it twice). False when there is nothing to send."""
    notification = _pending(pk=notification_id).select_for_update(of=("self",)).first()
    if notification is None:
        return False
    # Switched to daily since: the digest tells it; switched off: nobody does.
    if (
        notification_mode_of(notification.user) != NotificationMode.IMMEDIATE
        or not notification.user.is_active
    ):
        return False
    Notification.objects.filter(pk=notification.pk).update(sent_at=timezone.now())
    user = notification.user
    send_email(
        "notification", to=user.email, language=user.preferred_language, context={"item": _item(notification)}
    )
    return True


def notification_digest_readers(*, now: dt.datetime | None = None) -> list[int]:
    """People with notifications for the digest: all pending ones in daily mode, and immediate ones
    older than STRAGGLER_DELAY."""
    now = now or timezone.now()
    stragglers = Notification.objects.filter(
        sent_at__isnull=True, mode=NotificationMode.IMMEDIATE, created_at__lt=now - STRAGGLER_DELAY
    )
    daily = Notification.objects.filter(sent_at__isnull=True, mode=NotificationMode.DAILY)
    return sorted(
        set(daily.values_list("user_id", flat=True)) | set(stragglers.values_list("user_id", flat=True))
    )


@transaction.atomic
def notification_digest_send(*, user_id: int, now: dt.datetime | None = None) -> int:
    """One e-mail to the person with all their pending notifications (the rows locked and marked in the
    send's transaction). Nothing for a person whose preference is now `off`. Returns how many it told."""
    now = now or timezone.now()
    user = User.objects.get(pk=user_id)
    if notification_mode_of(user) == NotificationMode.OFF or not user.is_active:
        return 0
    cutoff = now if notification_mode_of(user) == NotificationMode.DAILY else now - STRAGGLER_DELAY
    rows = list(_pending(user_id=user_id, created_at__lt=cutoff).select_for_update(of=("self",)))
    if not rows:
        return 0
    Notification.objects.filter(pk__in=[row.pk for row in rows]).update(sent_at=now)
    send_email(
        "notification_digest",
        to=user.email,
        language=user.preferred_language,
        context={"items": [_item(row) for row in rows], "count": len(rows), "client_url": client_link("/")},
    )
    return len(rows)
