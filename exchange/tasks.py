"""Periodic work on offers (scheduled by CELERY_BEAT_SCHEDULE in config/settings/base.py)."""

from __future__ import annotations

from celery import shared_task

from .services import offers_expire_due


@shared_task(name="exchange.tasks.expire_offers", ignore_result=True)
def expire_offers() -> int:
    """Published offers whose `available_until` has passed become expired (idempotent)."""
    return offers_expire_due()
