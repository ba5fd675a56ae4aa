"""manage.py seed_demo — the Roubaix / MEL demo scenario (demo/scenario.py). Safe to run again.

manage.py seed_demo --accounts prints the demo logins and nothing else."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from demo import claims, impact, needs, offers, scenario
from organisations.models import User

# Needs come before offers so that publishing the demo offers records matches (once a worker runs).
PARTS = (needs, offers, claims, impact)


class Command(BaseCommand):
    help = "Create or refresh the demo organisations, people and sites (Roubaix / MEL)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--accounts", action="store_true", help="only print the demo logins (e-mail, organisation, role)"
        )

    def handle(self, *args, accounts: bool, **options):
        if accounts:
            self._print_accounts()
            return
        try:
            with transaction.atomic():
                result = scenario.seed()
                # Each later layer adds its part of the story, in layer order; every part is idempotent.
                for part in PARTS:
                    part.seed(stdout=self.stdout)
        except scenario.ScenarioError as exc:
            raise CommandError(f"Demo scenario refused: {exc}") from exc
        self.stdout.write(
            f"Demo: {len(result.organisations)} organisations, {len(result.people)} accounts, "
            f"{len(result.sites)} sites (password for every account: {scenario.DEMO_PASSWORD})."
        )

    def _print_accounts(self) -> None:
        rows = scenario.accounts()
        existing = set(User.objects.filter(email__in=[r[0] for r in rows]).values_list("email", flat=True))
        rows = [row for row in rows if row[0] in existing]
        if not rows:
            self.stdout.write("  No demo accounts yet: run `manage.py seed_demo`.")
            return
        header = ("E-mail", "Organisation", "Role")
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(3)]
        line = "  ".join(f"{{:<{w}}}" for w in widths)
        self.stdout.write(f"  Demo accounts (password: {scenario.DEMO_PASSWORD})")
        self.stdout.write("  " + line.format(*header).rstrip())
        self.stdout.write("  " + "  ".join("-" * w for w in widths))
        for row in rows:
            self.stdout.write("  " + line.format(*row).rstrip())
