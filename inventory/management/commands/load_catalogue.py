"""manage.py load_catalogue — the category tree and the first factor version from inventory/data/.

Idempotent: a second run changes nothing. Names, units, masses and codes follow the files; published
factor rows never do: if the files disagree with an existing version the command refuses."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.errors import Conflict, InvalidInput
from inventory.reference import CATALOGUE_CSV, FACTORS_CSV, ReferenceFileError, read_catalogue, read_factors
from inventory.services import catalogue_load

VERSION_CODE = "2026.1"
VERSION_TITLE = "Boucle reference factors 2026.1"
VERSION_NOTES = (
    "Loaded from inventory/data/reference-factors.csv (see inventory/data/README.md for sources and "
    "licences). Rows with status 'indicative' are not yet checked against the official dataset."
)


class Command(BaseCommand):
    help = "Load the catalogue (categories) and the reference emission factors (version 2026.1)."

    def add_arguments(self, parser):
        parser.add_argument("--catalogue", type=Path, default=CATALOGUE_CSV, help="category tree CSV")
        parser.add_argument("--factors", type=Path, default=FACTORS_CSV, help="reference factors CSV")
        parser.add_argument("--factor-version", default=VERSION_CODE, help="factor version code")
        parser.add_argument("--title", default=VERSION_TITLE, help="title of a new factor version")

    def handle(self, *args, catalogue: Path, factors: Path, factor_version: str, title: str, **options):
        try:
            factor_rows = read_factors(factors)
            category_rows = read_catalogue(catalogue, factors=factor_rows)
            result = catalogue_load(
                categories=category_rows,
                factors=factor_rows,
                version_code=factor_version,
                version_title=title,
                version_notes=VERSION_NOTES,
            )
        except ReferenceFileError as exc:
            raise CommandError("The catalogue files are not valid:\n  " + "\n  ".join(exc.problems)) from exc
        except (Conflict, InvalidInput) as exc:
            details = getattr(exc, "field_errors", {})
            lines = [f"{field}: {' '.join(messages)}" for field, messages in details.items()]
            raise CommandError("\n  ".join([exc.message, *lines])) from exc
        version = "published" if result.version_created else "unchanged"
        self.stdout.write(
            f"Catalogue: {result.created} categories created, {result.updated} updated, "
            f"{result.unchanged} unchanged; factor version {result.version_code} {version}."
        )
