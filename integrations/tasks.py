"""Webhook work for Celery: the fan-out of the outbox into messages, and their delivery. Every task is
safe to run twice or concurrently; the periodic ones (CELERY_BEAT_SCHEDULE) catch up on whatever a
lost dispatch, a stopped Redis or a killed worker left behind."""

from __future__ import annotations

from celery import shared_task

from . import selectors, services


@shared_task(name="integrations.tasks.fan_out_events", ignore_result=True)
def fan_out_events(event_id: int | None = None) -> int:
    """Every pending webhook event, not only `event_id` (the one whose commit triggered this run)."""
    handled = total = services.events_fan_out()
    while handled == services.FAN_OUT_BATCH:  # a full batch: there may be more
        handled = services.events_fan_out()
        total += handled
    return total


@shared_task(name="integrations.tasks.deliver", ignore_result=True)
def deliver(delivery_id: int) -> None:
    result = services.delivery_attempt(delivery_id=delivery_id)
    if result is not None:
        for next_id in selectors.next_of_key(delivery_id):
            deliver.delay(delivery_id=next_id)


@shared_task(name="integrations.tasks.deliver_due", ignore_result=True)
def deliver_due() -> int:
    """The sweep: fan out what is pending, then enqueue every message that may be attempted now."""
    fan_out_events()
    due = selectors.deliveries_due()
    for delivery_id in due:
        deliver.delay(delivery_id=delivery_id)
    return len(due)
