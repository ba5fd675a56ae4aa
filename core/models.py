from django.db import models
from django.utils.translation import gettext_lazy as _


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True, db_index=True)

    class Meta:
        abstract = True


class DomainEvent(models.Model):
    """An append-only fact: who did what to which object, and when. Serves both as the audit trail and
    as the outbox: a higher layer consumes events (recording its progress in EventConsumption) instead
    of being imported by the layer that emits them. The database refuses UPDATE and DELETE."""

    occurred_at = models.DateTimeField(_("occurred at"), auto_now_add=True, db_index=True)
    name = models.CharField(_("event"), max_length=64, db_index=True, help_text=_("e.g. offer.published"))
    aggregate_type = models.CharField(max_length=32)
    aggregate_id = models.BigIntegerField()
    actor = models.CharField(
        _("actor"), max_length=64, blank=True, help_text=_("user:<id>, api-key:<prefix>, system")
    )
    organisation_id = models.BigIntegerField(null=True, blank=True, help_text=_("organisation acted for"))
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("domain event")
        verbose_name_plural = _("domain events")
        indexes = [models.Index(fields=["aggregate_type", "aggregate_id"], name="event_aggregate")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.name} {self.aggregate_type}:{self.aggregate_id}"


class EventConsumption(models.Model):
    """That `consumer` has handled `event`. The unique pair makes consumers safe to run twice."""

    consumer = models.CharField(max_length=64)
    event = models.ForeignKey(DomainEvent, models.PROTECT, related_name="consumptions")
    consumed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["consumer", "event"], name="event_consumed_once")]
