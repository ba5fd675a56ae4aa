"""Models of the HTTP layer itself (not of the domain)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class IdempotencyState(models.TextChoices):
    IN_PROGRESS = "in_progress", _("in progress")
    COMPLETED = "completed", _("completed")


class IdempotencyRecord(models.Model):
    """One `Idempotency-Key` used by one caller: claimed by the first request (the unique pair
    (scope, key) decides who is first), then holding the response to replay. See api.idempotency."""

    scope = models.CharField(
        max_length=40, help_text=_("org:<id>, or user:<id> for a person without one org")
    )
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64, help_text=_("SHA-256 of method, path and canonical body"))
    state = models.CharField(
        max_length=12, choices=IdempotencyState.choices, default=IdempotencyState.IN_PROGRESS
    )
    # While in progress: after this instant the request that claimed the key is presumed dead (its
    # transaction rolled back) and another request with the same key may take over.
    locked_until = models.DateTimeField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.BinaryField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True, help_text=_("Content-Type, Location"))
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="idempotency_key_unique_in_scope"),
            models.CheckConstraint(
                condition=models.Q(state=IdempotencyState.IN_PROGRESS)
                | models.Q(response_status__isnull=False, completed_at__isnull=False),
                name="idempotency_completed_has_response",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key} {self.method} {self.path} ({self.state})"
