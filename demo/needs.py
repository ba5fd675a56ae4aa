"""Demo needs: what the scenario's associations and projects are looking for around Roubaix and Lille.

`seed()` creates each need once, keyed by its title within its organisation (running it again changes
nothing), through the same service as the API, acting as the platform. `GET needs/{id}/matches/` ranks
the live demo offers for each; offers published after the needs also record matches and alert by
e-mail. The Ressourcerie reads its alerts in a daily digest. Needs the organisations and sites of
demo/scenario.py and the catalogue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.contrib.gis.geos import Point
from django.utils import timezone

from inventory.models import Category
from matching.models import MatchAlertMode, Need
from matching.services import match_alert_preference_set, need_create
from organisations.actors import Actor
from organisations.models import Organisation, Site

from .scenario import ScenarioError

CLIC = "Clic Solidaire"
RESSOURCERIE = "Ressourcerie du Blanc Seau"
JEUNES = "Jeunes Bâtisseurs"
REPAIR = "Repair Café Roubaix"
JARDIN = "Jardin partagé du Beck"


@dataclass(frozen=True)
class NeedSpec:
    organisation: str
    title: str
    categories: tuple[str, ...]
    radius_m: int
    site: str | None = None  # the organisation's site, else `point`
    point: tuple[float, float] | None = None
    description: str = ""
    quantity: str | None = None
    unit: str = ""
    days_left: int | None = None  # deadline; None: standing need


NEEDS: tuple[NeedSpec, ...] = (
    NeedSpec(
        organisation=CLIC,
        title="Ordinateurs portables pour les familles",
        categories=("laptop",),
        radius_m=15_000,
        site="Espace numérique",
        description="Reconditionnés puis prêtés aux familles et aux demandeurs d'emploi de l'atelier.",
        quantity="20",
        unit="piece",
        days_left=60,
    ),
    NeedSpec(
        organisation=CLIC,
        title="Écrans et accessoires informatiques",
        categories=("monitor", "it_accessories"),
        radius_m=15_000,
        site="Espace numérique",
        description="Écrans, claviers, souris et câbles pour la salle d'initiation.",
    ),
    NeedSpec(
        organisation=RESSOURCERIE,
        title="Mobilier pour la boutique solidaire",
        categories=("furniture",),
        radius_m=12_000,
        site="Ressourcerie",
        description="Tables, chaises, rangements en état d'usage : nous réparons ce qui doit l'être.",
    ),
    NeedSpec(
        organisation=RESSOURCERIE,
        title="Textiles au poids",
        categories=("textiles",),
        radius_m=10_000,
        site="Ressourcerie",
        quantity="500",
        unit="kg",
    ),
    NeedSpec(
        organisation=JEUNES,
        title="Bois et palettes pour le chantier-école",
        categories=("wood", "pallets"),
        radius_m=10_000,
        site="Chantier-école",
        description="Ossatures de cloisons et mobilier de chantier fabriqués par les jeunes.",
        days_left=45,
    ),
    NeedSpec(
        organisation=JEUNES,
        title="Carrelage et plaques de plâtre, local rue de Lannoy",
        categories=("tiles", "plasterboard"),
        radius_m=20_000,
        point=(3.1840, 50.6830),
        description="Rénovation d'un local associatif prêté par la ville.",
        quantity="60",
        unit="m2",
        days_left=30,
    ),
    NeedSpec(
        organisation=REPAIR,
        title="Outillage pour l'atelier de réparation",
        categories=("hand_tools", "power_tools"),
        radius_m=8_000,
        site="Salle du Repair Café",
    ),
    NeedSpec(
        organisation=JARDIN,
        title="Bois de palette pour les bacs de culture",
        categories=("pallet_wood", "pallets"),
        radius_m=6_000,
        site="Jardin",
        quantity="15",
        unit="pallet",
    ),
)

DAILY_DIGEST = (RESSOURCERIE,)


def _organisation(name: str) -> Organisation:
    organisation = Organisation.objects.filter(name=name).first()
    if organisation is None:
        raise ScenarioError(f"Demo organisation {name!r} is missing: seed the scenario first.")
    return organisation


def _site_id(organisation: Organisation, name: str) -> int:
    site = Site.objects.filter(organisation=organisation, name=name, is_active=True).first()
    if site is None:
        raise ScenarioError(f"Demo site {organisation.name} / {name} is missing: seed the scenario first.")
    return site.pk


def _category_ids(keys: tuple[str, ...]) -> list[int]:
    found = dict(Category.objects.filter(key__in=keys).values_list("key", "pk"))
    missing = [key for key in keys if key not in found]
    if missing:
        raise ScenarioError(f"Categories {missing!r} are missing: run `manage.py load_catalogue` first.")
    return [found[key] for key in keys]


def seed(*, stdout=None) -> None:
    system = Actor.for_system()
    now = timezone.now()
    created = 0
    for spec in NEEDS:
        organisation = _organisation(spec.organisation)
        if Need.objects.filter(organisation=organisation, title=spec.title).exists():
            continue
        need_create(
            actor=system,
            organisation_id=organisation.pk,
            title=spec.title,
            description=spec.description,
            categories=_category_ids(spec.categories),
            radius_m=spec.radius_m,
            site=_site_id(organisation, spec.site) if spec.site else None,
            location=Point(*spec.point, srid=4326) if spec.point else None,
            quantity_wanted=Decimal(spec.quantity) if spec.quantity else None,
            unit=spec.unit,
            deadline=now + timedelta(days=spec.days_left) if spec.days_left else None,
        )
        created += 1
    for name in DAILY_DIGEST:
        match_alert_preference_set(
            actor=system, organisation_id=_organisation(name).pk, mode=MatchAlertMode.DAILY
        )
    if stdout is not None:
        total = Need.objects.filter(organisation__name__in={spec.organisation for spec in NEEDS}).count()
        stdout.write(f"Demo needs: {created} created, {total} in all.")
