"""manage.py import_offers FILE --organisation ORG --mapping MAPPING — the file import of POST imports/,
run here and now, with a progress bar and a summary.

The same code as the API's (exchange.imports): the file and the mapping are checked, the import is
recorded (it shows in GET imports/), and its rows are upserted by `external_ref` in batches. Without
`--as-user` it acts as the platform (the operator's rights); with it, as that person, whose rights
then apply. Running it twice on one file creates nothing new: every row is `unchanged`."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from tqdm import tqdm

from core.errors import DomainError, InvalidInput
from exchange.imports import import_counts, offer_import_create, offer_import_process
from exchange.models import ImportStatus
from organisations.actors import Actor
from organisations.models import Organisation, User

SHOWN_ERRORS = 20


class Command(BaseCommand):
    help = "Import offers from a CSV or XLSX file, by the firm's references (external_ref)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="A CSV or XLSX file whose first row names the columns.")
        parser.add_argument(
            "--organisation", required=True, help="The organisation's id, SIRET or exact name."
        )
        parser.add_argument(
            "--mapping",
            required=True,
            help='A saved mapping\'s name, or the columns as JSON: {"external_ref": "Réf.", ...}.',
        )
        parser.add_argument("--defaults", help="With JSON columns: the defaults as JSON.")
        parser.add_argument("--as-user", help="Act as this person (e-mail), with their rights.")

    def handle(self, *args, **options):
        path = Path(options["file"])
        try:
            content = path.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror}.") from error
        organisation = self._organisation(options["organisation"])
        actor = self._actor(options["as_user"])
        mapping, columns, defaults = self._mapping(options["mapping"], options["defaults"])
        try:
            job = offer_import_create(
                actor=actor,
                organisation_id=organisation.pk,
                content=content,
                filename=path.name,
                mapping=mapping,
                columns=columns,
                defaults=defaults,
                enqueue=False,
            )
        except DomainError as error:
            raise CommandError(_described(error)) from error
        with tqdm(total=job.rows_total, unit="row", file=self.stderr, disable=None) as bar:
            job = offer_import_process(import_id=job.pk, progress=bar.update)
        self._summary(job)
        if job.status == ImportStatus.FAILED:
            raise CommandError(f"Import #{job.pk} failed: {job.failure_message} ({job.failure_code}).")

    def _organisation(self, ref: str) -> Organisation:
        query = Q(siret=ref) | Q(name__iexact=ref)
        if ref.isdigit() and len(ref) < 14:
            query |= Q(pk=int(ref))
        found = list(Organisation.objects.filter(query)[:2])
        if len(found) != 1:
            raise CommandError(f"No single organisation has the id, SIRET or name {ref!r}.")
        return found[0]

    def _actor(self, email: str | None) -> Actor:
        if email is None:
            return Actor.for_system()
        user = User.objects.filter(email__iexact=email, is_active=True).first()
        if user is None:
            raise CommandError(f"No active account has the e-mail address {email!r}.")
        return Actor.for_user(user)

    def _mapping(self, mapping: str, defaults: str | None) -> tuple[str | None, dict | None, dict | None]:
        if not mapping.lstrip().startswith("{"):
            if defaults is not None:
                raise CommandError("--defaults goes with JSON columns; a saved mapping has its own.")
            return mapping, None, None
        try:
            return None, json.loads(mapping), json.loads(defaults) if defaults else None
        except ValueError as error:
            raise CommandError(f"--mapping or --defaults is not valid JSON: {error}.") from error

    def _summary(self, job) -> None:
        counts = import_counts(job)
        self.stdout.write(
            f"Import #{job.pk} {job.status}: {job.rows_processed} of {job.rows_total} rows; "
            f"created {counts['created']}, updated {counts['updated']}, "
            f"unchanged {counts['unchanged']}, errors {counts['errors']}."
        )
        for error in job.errors[:SHOWN_ERRORS]:
            where = error["column"] or error["field"] or "row"
            self.stdout.write(f"  row {error['row']}, {where}: {error['message']} ({error['code']})")
        if len(job.errors) > SHOWN_ERRORS or counts["errors"] > len(job.errors):
            self.stdout.write(f"  … see GET imports/{job.pk}/ for the other row errors.")


def _described(error: DomainError) -> str:
    fields = getattr(error, "field_errors", None) if isinstance(error, InvalidInput) else None
    details = "; ".join(
        f"{name}: {' '.join(map(str, messages))}" for name, messages in (fields or {}).items()
    )
    return f"{error.message} ({error.code})" + (f" — {details}" if details else "")
