"""Rules of where things may be: a site must lie in one of the deployment's territories, or its handovers
count in no territorial figure."""

from __future__ import annotations

from django.conf import settings
from django.contrib.gis.geos import Point
from django.utils.translation import gettext as _

from core.errors import InvalidInput

from .models import Territory, TerritoryKind
from .selectors import territory_containing

SITE_OUTSIDE_TERRITORIES = "site_outside_territories"


def _coordinates(lon: float, lat: float) -> list[float]:
    # As the API writes a point (api.fields.GeoJSONPointField): [longitude, latitude], 7 decimals.
    return [round(lon, 7), round(lat, 7)]


def site_territory(*, point: Point) -> Territory | None:
    """The territory a site at `point` belongs to: the commune that covers it (boundary included).

    A point that no commune covers is refused (InvalidInput `site_outside_territories`, on `location`)
    unless settings.BOUCLE_ALLOW_SITES_OUTSIDE_TERRITORIES is true, when the site is kept with no
    territory. When swapping latitude and longitude lands in a commune, the error says so, names it and
    carries `suggested_location` (a GeoJSON Point, [longitude, latitude]). Until the deployment has
    loaded communes (a fresh install) there is nothing to check against and every point is accepted."""
    territory = territory_containing(point=point)
    if territory is not None or settings.BOUCLE_ALLOW_SITES_OUTSIDE_TERRITORIES:
        return territory
    if not Territory.objects.filter(kind=TerritoryKind.COMMUNE).exists():
        return None
    lon, lat = point.x, point.y
    message = _("This point is outside every territory of Boucle.")
    extra: dict = {}
    # Swapped, the longitude becomes a latitude: only meaningful when it is one.
    swapped = Point(lat, lon, srid=4326) if -90 <= lon <= 90 else None
    swapped_territory = territory_containing(point=swapped) if swapped is not None else None
    if swapped_territory is not None:
        suggested = _coordinates(lat, lon)
        message = " ".join(
            (
                message,
                _("Latitude and longitude look swapped: %(coordinates)s falls in %(territory)s.")
                % {"coordinates": str(suggested), "territory": swapped_territory.name},
            )
        )
        extra["suggested_location"] = {"type": "Point", "coordinates": suggested}
    else:
        message = " ".join(
            (message, _("Check the coordinates: a site must lie within the territories Boucle covers."))
        )
    raise InvalidInput(
        message, code=SITE_OUTSIDE_TERRITORIES, field_errors={"location": [message]}, extra=extra
    )
