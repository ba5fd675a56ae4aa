"""Signed webhooks: an organisation's endpoints, the messages owed to them, and every attempt made."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.models import DomainEvent, TimeStampedModel
from organisations.models import Organisation


class WebhookEndpoint(TimeStampedModel):
    """A URL of an organisation's system that wants some event types. `secret` signs every message
    (Standard Webhooks, `whsec_` + base64 key); during a rotation `previous_secret` signs too, until
    `previous_secret_expires_at`. Disabled endpoints get nothing (messages owed stay, and can be replayed)."""

    organisation = models.ForeignKey(Organisation, models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(_("URL"), max_length=2048)
    description = models.CharField(_("description"), max_length=200, blank=True)
    event_types = ArrayField(models.CharField(max_length=64), verbose_name=_("event types"))
    is_active = models.BooleanField(_("active"), default=True)
    disabled_reason = models.CharField(_("why disabled"), max_length=200, blank=True)
    secret = models.CharField(max_length=80)
    previous_secret = models.CharField(max_length=80, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=64, blank=True, help_text=_("user:<id>, api-key:<prefix>"))

    class Meta:
        ordering = ["id"]
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        constraints = [
            models.CheckConstraint(condition=~Q(event_types=[]), name="webhook_endpoint_wants_something"),
            models.CheckConstraint(
                condition=Q(previous_secret="") | Q(previous_secret_expires_at__isnull=False),
                name="webhook_previous_secret_has_an_end",
            ),
        ]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    SUCCEEDED = "succeeded", _("succeeded")
    FAILED = "failed", _("failed (gave up)")


class WebhookDelivery(models.Model):
    """One message to one endpoint for one event: its `message_id` (the `webhook-id` header) and its body
    are fixed when it is created, so every retry and replay is the same message and a receiver can
    de-duplicate on the id. `ordering_key` (e.g. `offer:12`) keeps one object's messages in commit order:
    a message waits while an earlier one with the same key to the same endpoint is still pending."""

    endpoint = models.ForeignKey(WebhookEndpoint, models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(DomainEvent, models.PROTECT, related_name="webhook_deliveries")
    message_id = models.CharField(max_length=40, unique=True)
    event_type = models.CharField(max_length=64)
    ordering_key = models.CharField(max_length=64)
    body = models.TextField(help_text=_("the JSON body exactly as signed and sent"))
    status = models.CharField(max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A worker sending this message holds it until then; one killed mid-delivery lets it go by itself.
    leased_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_one_message_per_event"),
            models.CheckConstraint(
                condition=~Q(status="pending") | Q(next_attempt_at__isnull=False),
                name="webhook_pending_has_a_time",
            ),
            models.CheckConstraint(
                condition=~Q(status="succeeded") | Q(delivered_at__isnull=False),
                name="webhook_succeeded_has_a_time",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], condition=Q(status="pending"), name="webhook_delivery_due"
            ),
            models.Index(fields=["endpoint", "ordering_key", "event"], name="webhook_delivery_order"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} {self.event_type}"


class WebhookAttempt(models.Model):
    """One HTTP request made for a delivery, and what came of it."""

    delivery = models.ForeignKey(WebhookDelivery, models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField()
    url = models.CharField(max_length=2048)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField()
    succeeded = models.BooleanField()
    error = models.CharField(max_length=300, blank=True)
    response_body = models.TextField(blank=True, help_text=_("the start of the answer, up to a small cap"))

    class Meta:
        ordering = ["id"]
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
