"""Demo offers: what the scenario's firms and public bodies have to give around Roubaix and Lille.

`seed()` creates each offer once, keyed by its `external_ref` within its organisation (running it again
changes nothing), through the same services as the API, acting as the platform. Most offers are
published; the unverified builder only has drafts; one offer's window ended a week ago and the expiry
service has expired it. Needs the organisations and sites of demo/scenario.py and the catalogue.

Long because it is data: the demo offers listed one by one, as a reader of the scenario expects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from exchange.models import Offer, OfferStatus
from exchange.services import offer_create, offers_expire_due
from inventory.models import Category
from organisations.actors import Actor
from organisations.models import Organisation, Site

from .scenario import ScenarioError

MEUBLES = "Ateliers du Meuble Roubaisien"
NORDNUM = "NordNum Services"
BATIMENT = "Bâtir Tourquennois"
FILATURE = "Filature des Trois Ponts"
TRIOLO = "Supermarché du Triolo"
ROUBAIX = "Ville de Roubaix"
MEL = "Métropole Européenne de Lille"

PUBLISHED, DRAFT, EXPIRED = "published", "draft", "expired"


@dataclass(frozen=True)
class OfferSpec:
    ref: str
    organisation: str
    site: str
    category: str
    title: str
    quantity: str
    unit: str
    condition: str
    description: str = ""
    mass_per_unit_kg: str | None = None
    mode: str = "donation"
    price_eur: str | None = None
    days_available: int | None = 30  # None: open-ended
    pickup_instructions: str = ""
    state: str = PUBLISHED


ATELIER, SHOWROOM = "Atelier et cour de chargement", "Showroom"
RECONDITIONNEMENT, EURALILLE = "Atelier de reconditionnement", "Bureaux Euralille"

OFFERS: tuple[OfferSpec, ...] = (
    # Ateliers du Meuble Roubaisien: furniture, offcuts, pallets.
    OfferSpec(
        ref="DEMO-MEU-001",
        organisation=MEUBLES,
        site=ATELIER,
        category="wooden_chair",
        title="Chaises en hêtre, fin de série",
        quantity="24",
        unit="piece",
        condition="new",
        description="Chaises de salle à manger, vernis naturel ; quelques rayures d'atelier.",
        mass_per_unit_kg="5.8",
    ),
    OfferSpec(
        ref="DEMO-MEU-002",
        organisation=MEUBLES,
        site=SHOWROOM,
        category="wooden_table",
        title="Tables de présentation du showroom",
        quantity="6",
        unit="piece",
        condition="good",
        description="Tables chêne massif 180 × 90 cm, renouvellement de la vitrine.",
        mass_per_unit_kg="48",
        pickup_instructions="Prévoir deux personnes et un utilitaire.",
    ),
    OfferSpec(
        ref="DEMO-MEU-003",
        organisation=MEUBLES,
        site=ATELIER,
        category="wood_panels",
        title="Chutes de panneaux contreplaqué",
        quantity="350",
        unit="kg",
        condition="good",
        description="Chutes de 30 à 120 cm, épaisseurs 12 et 18 mm, idéales pour bacs et étagères.",
        days_available=60,
    ),
    OfferSpec(
        ref="DEMO-MEU-004",
        organisation=MEUBLES,
        site=ATELIER,
        category="pallets",
        title="Palettes Europe 1200 × 800",
        quantity="40",
        unit="pallet",
        condition="fair",
        description="Palettes EPAL, certaines avec une planche fendue.",
        days_available=None,
    ),
    OfferSpec(
        ref="DEMO-MEU-005",
        organisation=MEUBLES,
        site=SHOWROOM,
        category="shelving",
        title="Étagères murales d'exposition",
        quantity="10",
        unit="piece",
        condition="good",
        description="Étagères 120 cm avec consoles acier.",
        mass_per_unit_kg="9.5",
        mode="sale",
        price_eur="15.00",
    ),
    OfferSpec(
        ref="DEMO-MEU-006",
        organisation=MEUBLES,
        site=SHOWROOM,
        category="sofa",
        title="Canapé d'exposition deux places",
        quantity="1",
        unit="piece",
        condition="fair",
        description="Tissu gris, une tache sur l'accoudoir gauche.",
        mass_per_unit_kg="37",
        mode="loan",
        days_available=14,
    ),
    # NordNum Services: end-of-lease IT equipment.
    OfferSpec(
        ref="DEMO-NUM-001",
        organisation=NORDNUM,
        site=RECONDITIONNEMENT,
        category="laptop",
        title='Ordinateurs portables 14" reconditionnés',
        quantity="35",
        unit="piece",
        condition="good",
        description="Core i5 8e génération, 8 Go, SSD 256 Go, disques effacés (certificat).",
        mass_per_unit_kg="1.6",
        pickup_instructions="Badge à l'accueil, demander l'atelier au 2e étage.",
    ),
    OfferSpec(
        ref="DEMO-NUM-002",
        organisation=NORDNUM,
        site=RECONDITIONNEMENT,
        category="monitor",
        title="Écrans 24 pouces",
        quantity="50",
        unit="piece",
        condition="good",
        description="Écrans Full HD avec pied réglable et câble HDMI.",
        mass_per_unit_kg="4.2",
    ),
    OfferSpec(
        ref="DEMO-NUM-003",
        organisation=NORDNUM,
        site=EURALILLE,
        category="desktop_pc",
        title="Unités centrales de bureau",
        quantity="20",
        unit="piece",
        condition="fair",
        description="Tours sans disque dur (retirés pour destruction), 8 Go de RAM.",
        mass_per_unit_kg="7.5",
    ),
    OfferSpec(
        ref="DEMO-NUM-004",
        organisation=NORDNUM,
        site=RECONDITIONNEMENT,
        category="smartphone",
        title="Smartphones de flotte",
        quantity="60",
        unit="piece",
        condition="fair",
        description="Écrans intacts, batteries à 80 % environ, réinitialisés.",
        mass_per_unit_kg="0.18",
        days_available=45,
    ),
    OfferSpec(
        ref="DEMO-NUM-005",
        organisation=NORDNUM,
        site=RECONDITIONNEMENT,
        category="it_accessories",
        title="Claviers, souris et câbles en vrac",
        quantity="80",
        unit="kg",
        condition="good",
        description="Bacs triés par type ; claviers AZERTY.",
    ),
    OfferSpec(
        ref="DEMO-NUM-006",
        organisation=NORDNUM,
        site=EURALILLE,
        category="printer",
        title="Imprimantes laser réseau",
        quantity="4",
        unit="piece",
        condition="for_parts",
        description="Pannes d'unité de fusion, toners presque pleins.",
        mass_per_unit_kg="22",
        state=DRAFT,
    ),
    OfferSpec(
        ref="DEMO-NUM-007",
        organisation=NORDNUM,
        site=EURALILLE,
        category="office_chair",
        title="Fauteuils de bureau ergonomiques",
        quantity="30",
        unit="piece",
        condition="good",
        description="Déménagement du plateau : fauteuils à accoudoirs réglables.",
        mass_per_unit_kg="14",
    ),
    # Bâtir Tourquennois: not verified yet, so drafts only.
    OfferSpec(
        ref="DEMO-BAT-001",
        organisation=BATIMENT,
        site="Dépôt de matériaux",
        category="bricks",
        title="Briques rouges de récupération",
        quantity="2.5",
        unit="t",
        condition="good",
        description="Briques de façade nettoyées, sur palettes filmées.",
        state=DRAFT,
    ),
    OfferSpec(
        ref="DEMO-BAT-002",
        organisation=BATIMENT,
        site="Dépôt de matériaux",
        category="tiles",
        title="Carrelage grès cérame 60 × 60",
        quantity="42",
        unit="m2",
        condition="new",
        description="Surplus de chantier, cartons fermés, teinte anthracite.",
        mass_per_unit_kg="21",
        state=DRAFT,
    ),
    OfferSpec(
        ref="DEMO-BAT-003",
        organisation=BATIMENT,
        site="Dépôt de matériaux",
        category="doors_windows",
        title="Portes intérieures isoplanes",
        quantity="8",
        unit="piece",
        condition="good",
        description="Portes 83 × 204 cm avec huisseries.",
        mass_per_unit_kg="18",
        state=DRAFT,
    ),
    # Filature des Trois Ponts: textiles.
    OfferSpec(
        ref="DEMO-FIL-001",
        organisation=FILATURE,
        site="Filature",
        category="textiles_by_weight",
        title="Coupons de tissu coton",
        quantity="180",
        unit="kg",
        condition="new",
        description="Coupons de 1 à 3 m, coloris variés, pour couture et ateliers.",
    ),
    OfferSpec(
        ref="DEMO-FIL-002",
        organisation=FILATURE,
        site="Filature",
        category="household_linen",
        title="Linge de maison, fins de série",
        quantity="65",
        unit="kg",
        condition="new",
        description="Torchons et nappes, défauts de tissage mineurs.",
    ),
    OfferSpec(
        ref="DEMO-FIL-003",
        organisation=FILATURE,
        site="Filature",
        category="workwear",
        title="Vêtements de travail",
        quantity="40",
        unit="kg",
        condition="good",
        description="Blouses et pantalons de l'ancienne tenue, lavés.",
        mode="sale",
        price_eur="20.00",
    ),
    OfferSpec(
        ref="DEMO-FIL-004",
        organisation=FILATURE,
        site="Filature",
        category="textiles_by_weight",
        title="Bobines de fil, fins de lot",
        quantity="95",
        unit="kg",
        condition="new",
        description="Bobines coton et polyester.",
        state=EXPIRED,
    ),
    # Supermarché du Triolo: logistics and shop fittings.
    OfferSpec(
        ref="DEMO-TRI-001",
        organisation=TRIOLO,
        site="Quai de livraison",
        category="pallets",
        title="Palettes bois toutes tailles",
        quantity="60",
        unit="pallet",
        condition="fair",
        description="Palettes de livraison non consignées.",
        days_available=None,
        pickup_instructions="Quai n° 2, entre 6 h et 10 h.",
    ),
    OfferSpec(
        ref="DEMO-TRI-002",
        organisation=TRIOLO,
        site="Quai de livraison",
        category="cardboard_boxes",
        title="Cartons de déménagement",
        quantity="120",
        unit="kg",
        condition="good",
        description="Cartons doubles cannelures, pliés à plat.",
        days_available=10,
    ),
    OfferSpec(
        ref="DEMO-TRI-003",
        organisation=TRIOLO,
        site="Quai de livraison",
        category="plastic_crates",
        title="Caisses plastiques empilables",
        quantity="75",
        unit="kg",
        condition="good",
        description="Caisses 60 × 40 cm, ex-rayon fruits et légumes.",
    ),
    OfferSpec(
        ref="DEMO-TRI-004",
        organisation=TRIOLO,
        site="Quai de livraison",
        category="shelving",
        title="Gondoles et étagères de magasin",
        quantity="12",
        unit="piece",
        condition="fair",
        description="Rayonnages métalliques démontés, visserie fournie.",
        mass_per_unit_kg="35",
    ),
    OfferSpec(
        ref="DEMO-TRI-005",
        organisation=TRIOLO,
        site="Quai de livraison",
        category="fridge",
        title="Vitrines réfrigérées",
        quantity="2",
        unit="piece",
        condition="fair",
        description="Vitrines à froid positif, fonctionnelles, à enlever avec un hayon.",
        mass_per_unit_kg="180",
        state=DRAFT,
    ),
    # Ville de Roubaix and the MEL: office clearances.
    OfferSpec(
        ref="DEMO-VDR-001",
        organisation=ROUBAIX,
        site="Centre technique municipal",
        category="office_desk",
        title="Bureaux droits 160 cm",
        quantity="15",
        unit="piece",
        condition="good",
        description="Bureaux mélaminés gris, caissons fournis à part.",
        mass_per_unit_kg="38",
    ),
    OfferSpec(
        ref="DEMO-VDR-002",
        organisation=ROUBAIX,
        site="Centre technique municipal",
        category="storage_cabinet",
        title="Armoires à rideaux",
        quantity="9",
        unit="piece",
        condition="fair",
        description="Armoires hautes, clés disponibles pour six d'entre elles.",
        mass_per_unit_kg="55",
    ),
    OfferSpec(
        ref="DEMO-VDR-003",
        organisation=ROUBAIX,
        site="Hôtel de ville",
        category="meeting_table",
        title="Tables de réunion modulables",
        quantity="8",
        unit="piece",
        condition="good",
        description="Plateaux 140 × 70 cm, pieds pliants.",
        mass_per_unit_kg="25",
    ),
    OfferSpec(
        ref="DEMO-VDR-004",
        organisation=ROUBAIX,
        site="Centre technique municipal",
        category="hand_tools",
        title="Outillage à main",
        quantity="30",
        unit="kg",
        condition="fair",
        description="Pelles, râteaux, sécateurs du service des espaces verts.",
    ),
    OfferSpec(
        ref="DEMO-MEL-001",
        organisation=MEL,
        site="Siège de la MEL",
        category="office_chair",
        title="Chaises visiteurs empilables",
        quantity="40",
        unit="piece",
        condition="good",
        description="Chaises coque polypropylène, piètement chromé.",
        mass_per_unit_kg="4.5",
    ),
    OfferSpec(
        ref="DEMO-MEL-002",
        organisation=MEL,
        site="Siège de la MEL",
        category="laptop",
        title="Ordinateurs portables de prêt",
        quantity="12",
        unit="piece",
        condition="fair",
        description="Anciens postes nomades, 4 Go, chargeurs fournis.",
        mass_per_unit_kg="2.1",
        mode="loan",
        days_available=90,
    ),
)


def _organisation(name: str) -> Organisation:
    organisation = Organisation.objects.filter(name=name).first()
    if organisation is None:
        raise ScenarioError(f"Demo organisation {name!r} is missing: seed the scenario first.")
    return organisation


def _site(organisation: Organisation, name: str) -> Site:
    site = Site.objects.filter(organisation=organisation, name=name, is_active=True).first()
    if site is None:
        raise ScenarioError(f"Demo site {organisation.name} / {name} is missing: seed the scenario first.")
    return site


def _category(key: str) -> Category:
    category = Category.objects.filter(key=key).first()
    if category is None:
        raise ScenarioError(f"Category {key!r} is missing: run `manage.py load_catalogue` first.")
    return category


def seed(*, stdout=None) -> None:
    system = Actor.for_system()
    now = timezone.now()
    created = 0
    for spec in OFFERS:
        organisation = _organisation(spec.organisation)
        if Offer.objects.filter(organisation=organisation, external_ref=spec.ref).exists():
            continue
        expired = spec.state == EXPIRED
        offer = offer_create(
            actor=system,
            organisation_id=organisation.pk,
            site=_site(organisation, spec.site),
            category=_category(spec.category),
            title=spec.title,
            description=spec.description,
            quantity=Decimal(spec.quantity),
            unit=spec.unit,
            mass_per_unit_kg=Decimal(spec.mass_per_unit_kg) if spec.mass_per_unit_kg else None,
            condition=spec.condition,
            mode=spec.mode,
            price_eur=Decimal(spec.price_eur) if spec.price_eur else None,
            available_from=now - timedelta(days=40 if expired else 2),
            available_until=now + timedelta(days=spec.days_available) if spec.days_available else None,
            pickup_instructions=spec.pickup_instructions,
            external_ref=spec.ref,
            publish=spec.state in (PUBLISHED, EXPIRED),
        )
        if expired:
            # Time passes in the story: its window ended a week ago, and the periodic expiry ran.
            Offer.objects.filter(pk=offer.pk, status=OfferStatus.PUBLISHED).update(
                available_until=now - timedelta(days=7)
            )
            offers_expire_due(now=now)
        created += 1
    if stdout is not None:
        total = Offer.objects.filter(external_ref__startswith="DEMO-").count()
        stdout.write(f"Demo offers: {created} created, {total} in all.")
