"""Recording domain events, and consuming them exactly once per consumer."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from .models import DomainEvent, EventConsumption

# event name → Celery task names to enqueue (with the event id) once the recording transaction commits.
# Higher layers subscribe in their AppConfig.ready(), so the emitting layer never imports them.
_SUBSCRIBERS: dict[str, list[str]] = {}
logger = logging.getLogger(__name__)


def event_subscribe(name: str, task_name: str) -> None:
    tasks = _SUBSCRIBERS.setdefault(name, [])
    if task_name not in tasks:
        tasks.append(task_name)


def _dispatch(event: DomainEvent, producer: Any = None) -> None:
    from celery import current_app

    for task_name in _SUBSCRIBERS.get(event.name, []):
        if current_app.conf.task_always_eager:  # tests: run in-process, as send_task would not
            current_app.tasks[task_name].apply(kwargs={"event_id": event.pk}, throw=True)
            continue
        try:
            current_app.send_task(
                task_name, kwargs={"event_id": event.pk}, producer=producer, ignore_result=True
            )
        except Exception:  # the broker is down: the change stands, the consumer's sweep picks it up
            logger.exception(
                "Could not enqueue %s for event %s; its consumer's sweep will.", task_name, event.pk
            )


def events_dispatch(events: Sequence[DomainEvent]) -> None:
    """Enqueue each event's subscribers, in the order given, over one broker connection (on a worker,
    for a batch: core.tasks.dispatch_events)."""
    from celery import current_app

    if current_app.conf.task_always_eager:
        for event in events:
            _dispatch(event)
        return
    try:
        with current_app.producer_or_acquire() as producer:
            for event in events:
                _dispatch(event, producer)
    except Exception:  # no connection to the broker at all: as in _dispatch
        logger.exception("Could not enqueue the subscribers of %s events; their sweeps will.", len(events))


def _dispatch_batch(events: list[DomainEvent]) -> None:
    """Once a batch has committed: one message to a worker, which enqueues every subscriber
    (core.tasks.dispatch_events), rather than a broker round trip per event (about 1 ms each) while
    the request waits. In tests (eager), each subscriber runs in-process, as for event_record."""
    from celery import current_app

    if current_app.conf.task_always_eager or len(events) == 1:
        events_dispatch(events)
        return
    try:
        current_app.send_task(
            "core.tasks.dispatch_events", kwargs={"event_ids": [e.pk for e in events]}, ignore_result=True
        )
    except Exception:  # the broker is down: as in _dispatch
        logger.exception("Could not enqueue the dispatch of %s events; their sweeps will.", len(events))


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


@dataclass(frozen=True)
class PendingEvent:
    """An event to record with others (events_record): the arguments of event_record."""

    name: str
    aggregate_type: str
    aggregate_id: int
    actor: str = "system"
    organisation_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)


def events_record(events: Sequence[PendingEvent]) -> list[DomainEvent]:
    """Append many events in one INSERT, in the caller's transaction and in the order given (their ids
    follow it): the same rows as event_record called for each in turn. Once that transaction has
    committed, the subscribers of each are enqueued with its id, as event_record does."""
    if not events:
        return []
    now = timezone.now()
    recorded = [
        DomainEvent(
            occurred_at=now,
            name=event.name,
            aggregate_type=event.aggregate_type,
            aggregate_id=event.aggregate_id,
            actor=event.actor,
            organisation_id=event.organisation_id,
            payload=event.payload or {},
        )
        for event in events
    ]
    # One statement of fixed size, whatever the number of events (bulk_create's would hold a
    # placeholder per value); rows are inserted, and their ids drawn, in the order of the arrays.
    fields = [f for f in DomainEvent._meta.concrete_fields if not f.primary_key]
    arrays, casts = [], []
    for f in fields:
        if isinstance(f, models.JSONField):
            arrays.append([json.dumps(getattr(event, f.attname), cls=f.encoder) for event in recorded])
            casts.append("%s::jsonb[]")
        else:
            # As the model holds them: psycopg adapts these (str, int, aware datetime) by itself, and
            # get_db_prep_save would cost more than the insert.
            arrays.append([getattr(event, f.attname) for event in recorded])
            casts.append(f"%s::{f.db_type(connection)}[]")
    columns = [cast(str, f.column) for f in fields]  # a concrete field is one with a column
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {DomainEvent._meta.db_table} ({', '.join(columns)}) "
            f"SELECT * FROM unnest({', '.join(casts)}) RETURNING id",
            arrays,
        )
        for event, (pk,) in zip(recorded, cursor.fetchall(), strict=True):
            event.pk = pk
            event._state.adding = False
    subscribed = [event for event in recorded if _SUBSCRIBERS.get(event.name)]
    if subscribed:
        transaction.on_commit(lambda: _dispatch_batch(subscribed))
    return recorded


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
