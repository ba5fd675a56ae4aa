"""Recording domain events, and consuming them exactly once per consumer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction

from .models import DomainEvent, EventConsumption

# event name → Celery task names to enqueue (with the event id) once the recording transaction commits.
# Higher layers subscribe in their AppConfig.ready(), so the emitting layer never imports them.
_SUBSCRIBERS: dict[str, list[str]] = {}


def event_subscribe(name: str, task_name: str) -> None:
    tasks = _SUBSCRIBERS.setdefault(name, [])
    if task_name not in tasks:
        tasks.append(task_name)


def _dispatch(event: DomainEvent) -> None:
    from celery import current_app

    for task_name in _SUBSCRIBERS.get(event.name, []):
        if current_app.conf.task_always_eager:  # tests: run in-process, as send_task would not
            current_app.tasks[task_name].apply(kwargs={"event_id": event.pk}, throw=True)
        else:
            current_app.send_task(task_name, kwargs={"event_id": event.pk})


def event_record(
    *,
    name: str,
    aggregate_type: str,
    aggregate_id: int,
    actor: str = "system",
    organisation_id: int | None = None,
    payload: dict[str, Any] | None = None,
    on_commit: Callable[[DomainEvent], None] | None = None,
) -> DomainEvent:
    """Append an event in the caller's transaction. `on_commit` (e.g. enqueue a consumer task with the
    event id) runs only once that transaction has committed."""
    event = DomainEvent.objects.create(
        name=name,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        actor=actor,
        organisation_id=organisation_id,
        payload=payload or {},
    )
    if on_commit is not None:
        transaction.on_commit(lambda: on_commit(event))
    if _SUBSCRIBERS.get(name):
        transaction.on_commit(lambda: _dispatch(event))
    return event


def event_consume(*, consumer: str, event_id: int, handler: Callable[[DomainEvent], None]) -> bool:
    """Run `handler` for the event unless `consumer` already did; handler and bookkeeping commit together.
    Returns False when the event had already been consumed (safe to call twice, or concurrently)."""
    with transaction.atomic():
        event = DomainEvent.objects.get(pk=event_id)
        try:
            with transaction.atomic():
                EventConsumption.objects.create(consumer=consumer, event=event)
        except IntegrityError:
            return False
        handler(event)
    return True


def events_pending(*, consumer: str, names: list[str], limit: int = 500) -> list[int]:
    """Ids of events of these names that `consumer` has not handled yet (for a periodic sweep)."""
    return list(
        DomainEvent.objects.filter(name__in=names)
        .exclude(consumptions__consumer=consumer)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
