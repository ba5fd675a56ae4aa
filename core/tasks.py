"""Outbox relay: the subscribers of a batch of events (core.events.events_record) are enqueued here, on a
worker, rather than one broker round trip per event while the request waits."""

from __future__ import annotations

from celery import shared_task

from .events import events_dispatch
from .models import DomainEvent


@shared_task(name="core.tasks.dispatch_events", ignore_result=True)
def dispatch_events(*, event_ids: list[int]) -> int:
    """Enqueue each event's subscribers with its id, in id order; returns how many events were found.
    Safe to run twice: subscribers consume each event once (core.events.event_consume)."""
    events = list(DomainEvent.objects.filter(pk__in=event_ids).order_by("id").only("id", "name"))
    events_dispatch(events)
    return len(events)
