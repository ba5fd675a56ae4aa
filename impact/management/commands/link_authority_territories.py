"""manage.py link_authority_territories --organisation "Ville de Roubaix" --codes 59512
manage.py link_authority_territories --organisation "Métropole Européenne de Lille" --all-kind commune

Lets a public authority see the statistics of territories (by code, or every territory of a kind).
Safe to run again; `--unlink` removes the links instead."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from impact.services import authority_territories_link, authority_territories_unlink
from organisations.actors import Actor
from organisations.models import Organisation, OrganisationKind
from territories.models import Territory, TerritoryKind


class Command(BaseCommand):
    help = "Link a public authority to the territories whose statistics it may see."

    def add_arguments(self, parser):
        parser.add_argument("--organisation", required=True, help="name (case-insensitive) or id")
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--codes", nargs="+", help="territory codes, e.g. INSEE codes 59512 59350")
        which.add_argument("--all-kind", choices=TerritoryKind.values, help="every territory of this kind")
        parser.add_argument("--unlink", action="store_true", help="remove these links instead")

    def handle(self, *args, organisation: str, codes, all_kind, unlink: bool, **options):
        authorities = Organisation.objects.filter(kind=OrganisationKind.PUBLIC_AUTHORITY)
        found = authorities.filter(name__iexact=organisation.strip()).order_by("id").first()
        if found is None and organisation.strip().isdigit():
            found = authorities.filter(pk=int(organisation)).first()
        if found is None:
            raise CommandError(f"No public authority named {organisation!r}.")
        territories = (
            Territory.objects.filter(kind=all_kind) if all_kind else Territory.objects.filter(code__in=codes)
        )
        ids = set(territories.values_list("pk", flat=True))
        if codes:
            missing = sorted(set(codes) - set(territories.values_list("code", flat=True)))
            if missing:
                raise CommandError(f"Unknown territory codes: {', '.join(missing)}.")
        if not ids:
            raise CommandError("No territory matches.")
        service = authority_territories_unlink if unlink else authority_territories_link
        try:
            changed = service(actor=Actor.for_system(), organisation_id=found.pk, territory_ids=ids)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        verb = "unlinked from" if unlink else "linked to"
        self.stdout.write(f"{found.name}: {changed} territories {verb} ({len(ids)} asked).")
