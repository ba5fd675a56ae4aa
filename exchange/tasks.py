"""Work on offers in the background: periodic (scheduled by CELERY_BEAT_SCHEDULE in
config/settings/base.py), and file imports (enqueued once the import is committed)."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from .imports import offer_import_process
from .services import offers_expire_due


@shared_task(name="exchange.tasks.expire_offers", ignore_result=True)
def expire_offers() -> int:
    """Published offers whose `available_until` has passed become expired (idempotent)."""
    return offers_expire_due()


@shared_task(
    name="exchange.tasks.process_offer_import",
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def process_offer_import(import_id: int) -> None:
    """Runs a file import to its end (exchange.imports.offer_import_process: safe to run twice, and a
    retry resumes after the last committed batch)."""
    offer_import_process(import_id=import_id)
