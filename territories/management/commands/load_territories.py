"""manage.py load_territories <file.geojson> --kind commune --code-field code_insee

Loads any GeoJSON FeatureCollection of polygons as territories, upserting by (kind, code): running it
twice changes nothing. Properties other than code, name and population are kept in `properties`."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.errors import InvalidInput
from territories.loading import TerritoryFileError, read_territory_file
from territories.models import TerritoryKind
from territories.services import territories_upsert


class Command(BaseCommand):
    help = "Load territories (communes, districts, IRIS…) from a GeoJSON FeatureCollection."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="GeoJSON FeatureCollection of Polygons/MultiPolygons")
        parser.add_argument("--kind", required=True, choices=TerritoryKind.values)
        parser.add_argument("--code-field", required=True, help="property holding the code, e.g. code_insee")
        parser.add_argument("--name-field", default="name", help="property holding the name (default: name)")
        parser.add_argument(
            "--population-field", default="population", help="property holding the population, if any"
        )
        parser.add_argument(
            "--source",
            default=None,
            help="source and licence to record; default: the file's metadata, else its file name",
        )

    def handle(self, *args, path: Path, kind: str, code_field: str, name_field: str, **options):
        try:
            loaded = read_territory_file(
                path,
                code_field=code_field,
                name_field=name_field,
                population_field=options["population_field"],
            )
            source = options["source"] if options["source"] is not None else (loaded.source or path.name)
            result = territories_upsert(kind=kind, records=loaded.records, source=source)
        except TerritoryFileError as exc:
            raise CommandError(str(exc)) from exc
        except InvalidInput as exc:
            raise CommandError(exc.message) from exc
        repaired = f", {result.repaired} geometries repaired" if result.repaired else ""
        self.stdout.write(
            f"Territories ({kind}) from {path.name}: {result.created} created, {result.updated} updated, "
            f"{result.unchanged} unchanged{repaired}."
        )
