"""Background work on claims and the ledger. Periodic tasks run on the beat schedule
(CELERY_BEAT_SCHEDULE in config/settings/base.py); `decline_requests_on_dead_offer` is subscribed to the
offers layer's events, `tell_operator_auto_accept_suspended` and `notify_people` to this layer's own (see
apps.py). All
reload by id and are safe to run twice."""

from __future__ import annotations

import logging
import smtplib

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils.dateparse import parse_datetime

from core.events import event_consume
from core.models import DomainEvent
from organisations.emails import operator_language, send_email
from organisations.models import Organisation

from .loans import loan_remind, loans_to_remind
from .notifications import (
    CONSUMER as NOTIFICATIONS_CONSUMER,
)
from .notifications import (
    notification_digest_readers,
    notification_digest_send,
    notification_send,
    notifications_record_and_send,
    notifications_unrecorded,
)
from .services import (
    claim_expire,
    claims_decline_on_dead_offers,
    claims_overdue,
    handover_confirm_tacitly,
    handovers_awaiting_tacit_confirmation,
)

DEAD_OFFER_CONSUMER = "claims.dead_offers"
DEAD_OFFER_EVENTS = ("offer.withdrawn", "offer.closed", "offer.expired")
SUSPENSION_CONSUMER = "claims.auto_accept_suspended"
SUSPENSION_EVENT = "organisation.auto_accept_suspended"

logger = logging.getLogger(__name__)


@shared_task(name="claims.tasks.expire_no_shows", ignore_result=True)
def expire_no_shows() -> int:
    """Every 15 minutes: accepted claims past their pickup deadline expire (a no-show of the recipient)
    and give their quantity back. Also declines requests left on offers that can no longer be claimed,
    should an event have been missed. Returns how many claims expired."""
    expired = sum(claim_expire(claim_id=claim_id) for claim_id in claims_overdue())
    claims_decline_on_dead_offers()
    return expired


@shared_task(name="claims.tasks.confirm_handovers_tacitly", ignore_result=True)
def confirm_handovers_tacitly() -> int:
    """Hourly: handovers nobody confirmed or disputed within the window are confirmed tacitly."""
    return sum(
        handover_confirm_tacitly(handover_id=handover_id)
        for handover_id in handovers_awaiting_tacit_confirmation()
    )


@shared_task(name="claims.tasks.remind_overdue_loans", ignore_result=True)
def remind_overdue_loans() -> int:
    """Hourly: the borrower of each overdue loan is e-mailed, at most once per BOUCLE_LOAN_REMINDER_HOURS
    hours (claims/loans.py). A loan whose e-mail could not be sent is tried again on the next run.
    Returns how many loans were reminded."""
    reminded = 0
    for claim_id in loans_to_remind():
        try:
            reminded += loan_remind(claim_id=claim_id)
        except (smtplib.SMTPException, ConnectionError):
            logger.warning("Overdue loan reminder of claim %s not sent; retried next run.", claim_id)
    return reminded


def _decline_requests(event: DomainEvent) -> None:
    claims_decline_on_dead_offers(offer_id=event.aggregate_id)


@shared_task(
    name="claims.tasks.decline_requests_on_dead_offer",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def decline_requests_on_dead_offer(*, event_id: int) -> bool:
    """An offer was withdrawn, closed or expired: its requested claims are declined by the system."""
    return event_consume(consumer=DEAD_OFFER_CONSUMER, event_id=event_id, handler=_decline_requests)


def _tell_operator(event: DomainEvent) -> None:
    organisation = Organisation.objects.filter(pk=event.aggregate_id).first()
    if organisation is None:
        return
    resumes_at = event.payload.get("resumes_at")
    send_email(
        "auto_accept_suspended",
        to=settings.BOUCLE_OPERATOR_EMAIL,
        language=operator_language(),
        context={
            "organisation": organisation,
            "strikes": event.payload["strikes"],
            "days": event.payload["days"],
            "resumes_at": parse_datetime(resumes_at) if resumes_at else None,
        },
    )


@shared_task(
    name="claims.tasks.tell_operator_auto_accept_suspended",
    ignore_result=True,
    autoretry_for=(smtplib.SMTPException, ConnectionError, OperationalError),
    retry_backoff=True,
    max_retries=8,
)
def tell_operator_auto_accept_suspended(*, event_id: int) -> bool:
    """A recipient reached BOUCLE_AUTO_ACCEPT_STRIKES strikes: the operator gets one e-mail per event (the
    consumption and the e-mail commit together, so a failed send is retried and a redelivery sends
    nothing)."""
    return event_consume(consumer=SUSPENSION_CONSUMER, event_id=event_id, handler=_tell_operator)


# E-mail notifications (claims/notifications.py) ---------------------------------------------------------


def _notify(event: DomainEvent) -> None:
    notifications_record_and_send(event, enqueue=_enqueue_notification)


def _enqueue_notification(notification_id: int) -> None:
    send_notification.delay(notification_id=notification_id)


@shared_task(
    name="claims.tasks.notify_people",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def notify_people(*, event_id: int) -> bool:
    """A claim or handover event: records who is to be told (once per event and person), and has the
    immediate ones sent."""
    return event_consume(consumer=NOTIFICATIONS_CONSUMER, event_id=event_id, handler=_notify)


@shared_task(
    name="claims.tasks.send_notification",
    ignore_result=True,
    autoretry_for=(smtplib.SMTPException, ConnectionError, OperationalError),
    retry_backoff=True,
    max_retries=8,
)
def send_notification(*, notification_id: int) -> bool:
    return notification_send(notification_id=notification_id)


@shared_task(name="claims.tasks.send_notification_digests", ignore_result=True)
def send_notification_digests() -> int:
    """Daily: one e-mail per person in daily mode with their pending notifications (and the immediate
    ones whose e-mail never went). Also records events the consumer missed. Returns how many were told."""
    for event_id in notifications_unrecorded():
        event_consume(consumer=NOTIFICATIONS_CONSUMER, event_id=event_id, handler=_notify)
    told = 0
    for user_id in notification_digest_readers():
        try:
            told += notification_digest_send(user_id=user_id)
        except (smtplib.SMTPException, ConnectionError):
            logger.warning("Notification digest of user %s not sent; retried next run.", user_id)
    return told
