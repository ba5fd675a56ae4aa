"""manage.py rebuild_rollups — recompute every statistics rollup from the handover ledger.

Safe to run at any time and any number of times: the ledger is locked against inserts while it runs,
and the result depends only on the ledger."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from impact.rollups import rollups_rebuild


class Command(BaseCommand):
    help = "Recompute the statistics rollups from the handover ledger (idempotent)."

    def handle(self, *args, **options):
        counts = rollups_rebuild()
        self.stdout.write(
            f"Rollups rebuilt: {counts['impact_dailyrollup']} daily, "
            f"{counts['impact_monthlyrollup']} monthly, "
            f"{counts['impact_partymonthlyrollup']} per organisation, "
            f"{counts['impact_factorusage']} factors."
        )
