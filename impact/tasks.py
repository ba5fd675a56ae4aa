"""Periodic work of the impact app (scheduled by CELERY_BEAT_SCHEDULE in config/settings/base.py)."""

from __future__ import annotations

from datetime import date

from celery import shared_task

from .reports import monthly_reports_build


@shared_task(name="impact.tasks.build_monthly_reports", ignore_result=True)
def build_monthly_reports(month: str | None = None) -> int:
    """Last month's reports (or those of `month`, YYYY-MM-DD), per linked territory and for all of them.
    Safe to run again: reports already built are kept."""
    return monthly_reports_build(month=date.fromisoformat(month) if month else None)
