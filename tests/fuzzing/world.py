"""`python -m tests.fuzzing.world`: prepares the fuzzed server's database as `make run` does (migrations,
the catalogue, the communes of the MEL, the demo scenario), in one process. DJANGO_SETTINGS_MODULE and
DATABASE_URL come from the harness (tests/fuzzing/harness.py)."""

from __future__ import annotations

import io

import django


def main() -> None:
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from config.celery import app as celery_app

    celery_app.loader.import_default_modules()  # tasks run in-process here (see tests.fuzzing.wsgi)

    quiet = io.StringIO()
    call_command("migrate", interactive=False, verbosity=0)
    call_command("load_catalogue", stdout=quiet)
    call_command(
        "load_territories",
        str(settings.BASE_DIR / "territories" / "data" / "mel-communes.geojson"),
        kind="commune",
        code_field="code_insee",
        stdout=quiet,
    )
    call_command("seed_demo", stdout=quiet)


if __name__ == "__main__":
    main()
