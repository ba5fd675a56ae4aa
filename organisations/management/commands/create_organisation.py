"""Create an organisation and its administrator: public authorities and operators come this way (they
never register themselves). Safe to run again: the organisation is found by kind and name, the person
by e-mail address."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError, InvalidInput
from organisations.models import OrganisationKind
from organisations.services import organisation_provision


class Command(BaseCommand):
    help = "Create (or find) an organisation with an administrator, optionally verified."

    def add_arguments(self, parser):
        parser.add_argument("--kind", required=True, choices=OrganisationKind.values)
        parser.add_argument("--name", required=True)
        parser.add_argument("--admin-email", required=True)
        parser.add_argument(
            "--password",
            help="Password of the administrator if the account is created (else they cannot log in "
            "until one is set, e.g. with `manage.py changepassword`). An existing account keeps its own.",
        )
        parser.add_argument("--siret", default="")
        parser.add_argument("--rna", default="")
        parser.add_argument("--verified", action="store_true", help="Mark the organisation verified.")

    def handle(self, *args, **options):
        try:
            organisation, admin, created = organisation_provision(
                kind=options["kind"],
                name=options["name"],
                admin_email=options["admin_email"],
                password=options["password"],
                verified=options["verified"],
                siret=options["siret"],
                rna=options["rna"],
            )
        except InvalidInput as exc:
            details = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.field_errors.items())
            raise CommandError(f"{exc.message} {details}".strip()) from exc
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        state = "created" if created else "already existed"
        verified = "verified" if organisation.is_verified else "not verified"
        self.stdout.write(
            self.style.SUCCESS(
                f"Organisation #{organisation.pk} “{organisation.name}” ({organisation.kind}) {state}, "
                f"{verified}; administrator {admin.email}."
            )
        )
