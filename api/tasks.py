from celery import shared_task

from .idempotency import idempotency_records_prune


@shared_task
def prune_idempotency_keys() -> int:
    """Beat, hourly: forgets Idempotency-Key records older than 24 hours."""
    return idempotency_records_prune()
