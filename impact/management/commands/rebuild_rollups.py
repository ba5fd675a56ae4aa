"""manage.py rebuild_rollups — recompute every statistics rollup from the handover ledger.

Safe to run at any time and any number of times: the ledger is locked against inserts while it runs,
and the result depends only on the ledger."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from impact.models import DailyRollup, FactorUsage, MonthlyRollup, PartyMonthlyRollup
from impact.rollups import rollups_rebuild


class Command(BaseCommand):
    help = "Recompute the statistics rollups from the handover ledger (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        counts = rollups_rebuild()
        self.stdout.write(
            f"Rollups rebuilt: {counts[DailyRollup._meta.db_table]} daily, "
            f"{counts[MonthlyRollup._meta.db_table]} monthly, "
            f"{counts[PartyMonthlyRollup._meta.db_table]} per organisation, "
            f"{counts[FactorUsage._meta.db_table]} factors."
        )
