"""E-mails about organisations and people, sent by the worker once the change has committed.

Each task reloads what it needs by id. The two event-driven e-mails consume their event exactly once
(core.events.event_consume), so a redelivered message sends nothing twice. Only transient failures
(the mail server unreachable, or answering 4xx) are retried; a refused address is not."""

from __future__ import annotations

import logging
import smtplib

from celery import shared_task
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from core.events import event_consume
from core.models import DomainEvent

from .actors import Actor
from .emails import operator_language, send_email
from .models import Invitation, Membership, MembershipRole, Organisation, Registration, User
from .selectors import organisations_pending_verification
from .tokens import hash_token

logger = logging.getLogger(__name__)

RETRY = {"max_retries": 6, "retry_backoff": 30, "retry_backoff_max": 3600}


def _is_transient(exc: Exception) -> bool:
    if isinstance(exc, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError | ConnectionError):
        return True
    if isinstance(exc, TimeoutError):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _message in exc.recipients.values())
    return False


def _send_or_retry(task, send) -> bool:
    try:
        return send()
    except (smtplib.SMTPException, OSError) as exc:
        if _is_transient(exc) and task.request.retries < RETRY["max_retries"]:
            countdown = min(RETRY["retry_backoff"] * 2**task.request.retries, RETRY["retry_backoff_max"])
            raise task.retry(exc=exc, countdown=countdown) from exc
        raise


@shared_task(bind=True, name="organisations.tasks.send_registration_notice")
def send_registration_notice(self, *, event_id: int) -> bool:
    """Tells the operator that an organisation registered and awaits verification."""

    def handle(event: DomainEvent) -> None:
        organisation = Organisation.objects.filter(pk=event.aggregate_id).first()
        if organisation is None or organisation.is_verified:
            return
        admin = (
            Membership.objects.filter(organisation=organisation, role=MembershipRole.ADMIN)
            .select_related("user")
            .order_by("id")
            .first()
        )
        send_email(
            "organisation_registered",
            to=settings.BOUCLE_OPERATOR_EMAIL,
            language=operator_language(),
            context={"organisation": organisation, "admin": admin.user if admin else None},
        )

    return _send_or_retry(
        self,
        lambda: event_consume(
            consumer="organisations.registration_notice", event_id=event_id, handler=handle
        ),
    )


@shared_task(bind=True, name="organisations.tasks.send_verified_email")
def send_verified_email(self, *, event_id: int) -> bool:
    """Tells each administrator of a newly verified organisation, in their own language."""

    def handle(event: DomainEvent) -> None:
        organisation = Organisation.objects.filter(pk=event.aggregate_id).first()
        if organisation is None:
            return
        admins = (
            Membership.objects.filter(
                organisation=organisation, role=MembershipRole.ADMIN, user__is_active=True
            )
            .select_related("user")
            .order_by("id")
        )
        for membership in admins:
            user = membership.user
            send_email(
                "organisation_verified",
                to=user.email,
                language=user.preferred_language,
                context={"organisation": organisation, "user": user},
            )

    return _send_or_retry(
        self,
        lambda: event_consume(consumer="organisations.verified_email", event_id=event_id, handler=handle),
    )


@shared_task(bind=True, name="organisations.tasks.send_invitation_email")
def send_invitation_email(self, *, invitation_id: int, token: str) -> bool:
    """Sends the invitation code. Nothing is sent for an invitation already used or expired, or when
    the token does not belong to it."""
    invitation = (
        Invitation.objects.select_related("organisation", "invited_by").filter(pk=invitation_id).first()
    )
    if (
        invitation is None
        or invitation.accepted_at is not None
        or invitation.expires_at <= timezone.now()
        or invitation.token_hash != hash_token(token)
    ):
        return False
    # The invitee's own language when they already have an account, else the inviter's.
    reader = User.objects.filter(email__iexact=invitation.email).first() or invitation.invited_by
    language = reader.preferred_language if reader else "fr"

    def send() -> bool:
        send_email(
            "invitation",
            to=invitation.email,
            language=language,
            context={
                "organisation": invitation.organisation,
                "inviter": invitation.invited_by,
                "role": invitation.role,
                "token": token,
                "expires_at": invitation.expires_at,
            },
        )
        return True

    return _send_or_retry(self, send)


@shared_task(bind=True, name="organisations.tasks.remind_pending_verifications")
def remind_pending_verifications(self) -> int:
    """Daily: the operator gets the list of organisations still awaiting verification (none, no e-mail).
    Returns how many were listed."""
    organisations = list(organisations_pending_verification(actor=Actor.for_system()))
    if not organisations:
        return 0

    def send() -> int:
        send_email(
            "pending_verifications",
            to=settings.BOUCLE_OPERATOR_EMAIL,
            language=operator_language(),
            context={"organisations": organisations},
        )
        return len(organisations)

    return _send_or_retry(self, send)


@shared_task(bind=True, name="organisations.tasks.send_registration_confirmation")
def send_registration_confirmation(self, *, registration_id: int, token: str) -> bool:
    """Sends a sign-up its confirmation code, in the person's language. Nothing is sent once the sign-up
    is confirmed or expired, or when the code is no longer its current one (a newer e-mail went out)."""
    registration = (
        Registration.objects.select_related("user", "organisation").filter(pk=registration_id).first()
    )
    if (
        registration is None
        or not registration.is_pending
        or registration.expires_at <= timezone.now()
        or registration.token_hash != hash_token(token)
    ):
        return False
    user = registration.user

    def send() -> bool:
        send_email(
            "registration_confirm",
            to=user.email,
            language=user.preferred_language,
            context={
                "user": user,
                "organisation": registration.organisation,
                "token": token,
                "expires_at": registration.expires_at,
            },
        )
        return True

    return _send_or_retry(self, send)


@shared_task(bind=True, name="organisations.tasks.send_registration_attempt_notice")
def send_registration_attempt_notice(self, *, user_id: int) -> bool:
    """Tells the owner of an account that someone tried to sign up with their address."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False

    def send() -> bool:
        send_email(
            "registration_attempt", to=user.email, language=user.preferred_language, context={"user": user}
        )
        return True

    return _send_or_retry(self, send)


@shared_task(bind=True, name="organisations.tasks.send_password_reset")
def send_password_reset(self, *, user_id: int) -> bool:
    """Sends a reset code. It is made here, from the account as it is now, so none travels through the
    broker; it stops working once the password changes or PASSWORD_RESET_TIMEOUT passes."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)

    def send() -> bool:
        send_email(
            "password_reset",
            to=user.email,
            language=user.preferred_language,
            context={
                "user": user,
                "uid": uid,
                "token": token,
                "minutes": settings.PASSWORD_RESET_TIMEOUT // 60,
            },
        )
        return True

    return _send_or_retry(self, send)


@shared_task(name="organisations.tasks.flush_expired_tokens")
def flush_expired_tokens() -> int:
    """Daily: expired refresh tokens and their blacklist entries go (the tables would grow forever)."""
    from . import services  # services enqueue this module's tasks: imported when run, not at load

    return services.flush_expired_tokens()


@shared_task(name="organisations.tasks.prune_unconfirmed_registrations")
def prune_unconfirmed_registrations() -> int:
    """Hourly: sign-ups left unconfirmed past their expiry are deleted."""
    from . import services

    return services.registrations_prune()
