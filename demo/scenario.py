"""The demo scenario: Roubaix and the Métropole Européenne de Lille, as a newcomer meets Boucle.

Plain data and plain functions, each safe to run again: `organisations()`, `people()`, `sites()`.
`seed()` runs them in order; later steps (offers, needs, claims, handovers) are further functions that
take what the earlier ones return. Everything goes through the domain services, as a client would;
users and memberships beyond each organisation's administrator are bootstrap rows.

Every account's password is DEMO_PASSWORD. The SIRET and RNA numbers are made up (check digits valid);
the coordinates are plausible places inside each organisation's commune, and `sites()` refuses to go on
if one falls elsewhere."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.gis.geos import Point

from core.errors import DomainError
from organisations.actors import Actor
from organisations.models import Membership, MembershipRole, Organisation, OrganisationKind, Site, User
from organisations.services import (
    organisation_provision,
    organisation_update,
    site_create,
    site_update,
    user_update,
)
from territories.models import Territory, TerritoryKind
from territories.selectors import territory_containing

DEMO_PASSWORD = "Boucle-demo-2026"
DEMO_DOMAIN = "demo.boucle.fr"

ROUBAIX, LILLE, TOURCOING, VILLENEUVE_D_ASCQ, WATTRELOS = "59512", "59350", "59599", "59009", "59650"


class ScenarioError(RuntimeError):
    pass


@dataclass(frozen=True)
class PersonSpec:
    email: str
    first_name: str
    last_name: str


@dataclass(frozen=True)
class SiteSpec:
    name: str
    address: str
    lon: float
    lat: float
    commune: str  # INSEE code of the commune the site must lie in
    opening_notes: str = ""


@dataclass(frozen=True)
class OrganisationSpec:
    key: str
    kind: str
    name: str
    admin: PersonSpec
    sites: tuple[SiteSpec, ...]
    verified: bool = True
    siret: str = ""
    rna: str = ""
    description: str = ""
    email: str = ""
    members: tuple[PersonSpec, ...] = field(default_factory=tuple)


def _person(local: str, first_name: str, last_name: str) -> PersonSpec:
    return PersonSpec(f"{local}@{DEMO_DOMAIN}", first_name, last_name)


ORGANISATIONS: tuple[OrganisationSpec, ...] = (
    OrganisationSpec(
        key="operator",
        kind=OrganisationKind.OPERATOR,
        name="Boucle MEL (opérateur)",
        admin=_person("operateur", "Camille", "Vandamme"),
        description="Le pôle qui anime Boucle sur la métropole : vérifie les organisations, modère, "
        "tient le catalogue.",
        email=f"contact@{DEMO_DOMAIN}",
        sites=(
            SiteSpec("Bureau de l'opérateur", "Rue de l'Épeule, 59100 Roubaix", 3.1615, 50.6883, ROUBAIX),
        ),
    ),
    OrganisationSpec(
        key="ville_roubaix",
        kind=OrganisationKind.PUBLIC_AUTHORITY,
        name="Ville de Roubaix",
        admin=_person("ville.roubaix", "Nadia", "Benali"),
        members=(_person("donnees.roubaix", "Hugo", "Lefebvre"),),
        description="Service transition écologique : suit les tonnages réemployés sur la commune.",
        sites=(
            SiteSpec("Hôtel de ville", "Grand-Place, 59100 Roubaix", 3.1746, 50.6916, ROUBAIX),
            SiteSpec("Centre technique municipal", "Rue de Lannoy, 59100 Roubaix", 3.1880, 50.6780, ROUBAIX),
        ),
    ),
    OrganisationSpec(
        key="mel",
        kind=OrganisationKind.PUBLIC_AUTHORITY,
        name="Métropole Européenne de Lille",
        admin=_person("mel", "Thomas", "Delcourt"),
        description="Direction de l'économie circulaire : statistiques de réemploi à l'échelle des 95 "
        "communes.",
        sites=(
            SiteSpec("Siège de la MEL", "Boulevard des Cités Unies, 59000 Lille", 3.0763, 50.6388, LILLE),
        ),
    ),
    OrganisationSpec(
        key="meubles",
        kind=OrganisationKind.COMPANY,
        name="Ateliers du Meuble Roubaisien",
        siret="90210451200014",
        admin=_person("firm.meubles", "Julien", "Descamps"),
        members=(_person("atelier.meubles", "Sophie", "Wattel"),),
        description="Fabricant de mobilier en bois : chutes de panneaux, chaises et tables de "
        "présentation, palettes.",
        sites=(
            SiteSpec(
                "Atelier et cour de chargement",
                "Rue de l'Alma, 59100 Roubaix",
                3.1690,
                50.6985,
                ROUBAIX,
                "Enlèvements du lundi au vendredi, 8 h – 16 h ; quai de chargement côté cour.",
            ),
            SiteSpec("Showroom", "Boulevard de Fourmies, 59100 Roubaix", 3.1850, 50.6860, ROUBAIX),
        ),
    ),
    OrganisationSpec(
        key="informatique",
        kind=OrganisationKind.COMPANY,
        name="NordNum Services",
        siret="90318762300017",
        admin=_person("firm.informatique", "Karim", "Haddad"),
        members=(_person("stock.informatique", "Léa", "Dumont"),),
        description="Infogérance et reconditionnement de parcs informatiques : ordinateurs portables, "
        "écrans et smartphones de fin de contrat.",
        sites=(
            SiteSpec(
                "Atelier de reconditionnement",
                "Avenue de Bretagne, 59000 Lille",
                3.0209,
                50.6326,
                LILLE,
                "Retraits sur rendez-vous, badge à l'accueil.",
            ),
            SiteSpec("Bureaux Euralille", "Avenue Le Corbusier, 59000 Lille", 3.0750, 50.6370, LILLE),
        ),
    ),
    OrganisationSpec(
        key="batiment",
        kind=OrganisationKind.COMPANY,
        name="Bâtir Tourquennois",
        siret="90427013900010",
        verified=False,  # registered, waiting for the operator's verification
        admin=_person("firm.batiment", "Marc", "Declercq"),
        description="Entreprise générale du bâtiment : briques, tuiles, carrelage et bois de chantier.",
        sites=(SiteSpec("Dépôt de matériaux", "Rue de Gand, 59200 Tourcoing", 3.1700, 50.7300, TOURCOING),),
    ),
    OrganisationSpec(
        key="textile",
        kind=OrganisationKind.COMPANY,
        name="Filature des Trois Ponts",
        siret="90535274600010",
        admin=_person("firm.textile", "Anne", "Motte"),
        description="Filature et tissage : coupons, fins de séries, textiles au poids.",
        sites=(SiteSpec("Filature", "Rue de Lys, 59100 Roubaix", 3.1930, 50.6830, ROUBAIX),),
    ),
    OrganisationSpec(
        key="supermarche",
        kind=OrganisationKind.COMPANY,
        name="Supermarché du Triolo",
        siret="90643535900011",
        admin=_person("firm.supermarche", "Éric", "Lemaire"),
        description="Supermarché de quartier : palettes, cartons, présentoirs et mobilier de magasin.",
        sites=(
            SiteSpec(
                "Quai de livraison",
                "Rue Trudaine, 59650 Villeneuve-d'Ascq",
                3.1420,
                50.6110,
                VILLENEUVE_D_ASCQ,
                "Enlèvements 6 h – 10 h, hors samedi.",
            ),
        ),
    ),
    OrganisationSpec(
        key="repair_cafe",
        kind=OrganisationKind.ASSOCIATION,
        name="Repair Café Roubaix",
        rna="W595000017",
        admin=_person("asso.repaircafe", "Gérard", "Vanhoutte"),
        members=(_person("benevole.repaircafe", "Inès", "Martin"),),
        description="Réparation collective de petit électroménager, vélos et meubles, un samedi sur deux.",
        sites=(
            SiteSpec("Salle du Repair Café", "Rue Pierre Motte, 59100 Roubaix", 3.1640, 50.6920, ROUBAIX),
        ),
    ),
    OrganisationSpec(
        key="clic_solidaire",
        kind=OrganisationKind.ASSOCIATION,
        name="Clic Solidaire",
        rna="W595000025",
        admin=_person("asso.numerique", "Fatou", "Diallo"),
        members=(_person("atelier.numerique", "Romain", "Petit"),),
        description="Inclusion numérique : reconditionne des ordinateurs pour les familles et les "
        "demandeurs d'emploi, ateliers d'initiation.",
        sites=(SiteSpec("Espace numérique", "Rue des Sarrazins, 59000 Lille", 3.0530, 50.6280, LILLE),),
    ),
    OrganisationSpec(
        key="ressourcerie",
        kind=OrganisationKind.ASSOCIATION,
        name="Ressourcerie du Blanc Seau",
        rna="W595000033",
        admin=_person("asso.ressourcerie", "Pascal", "Devos"),
        description="Collecte, valorise et revend à petits prix meubles, textiles et objets du quotidien.",
        sites=(
            SiteSpec(
                "Ressourcerie",
                "Boulevard Gambetta, 59200 Tourcoing",
                3.1600,
                50.7150,
                TOURCOING,
                "Dépôts du mardi au samedi, 10 h – 18 h.",
            ),
        ),
    ),
    OrganisationSpec(
        key="jeunes_batisseurs",
        kind=OrganisationKind.PROJECT,
        name="Jeunes Bâtisseurs",
        rna="W595000041",
        admin=_person("projet.jeunes", "Yanis", "Bouzid"),
        description="Chantier-école pour les 16–25 ans : rénovation de locaux associatifs avec des "
        "matériaux de réemploi.",
        sites=(SiteSpec("Chantier-école", "Rue de l'Épeule, 59100 Roubaix", 3.1620, 50.6960, ROUBAIX),),
    ),
    OrganisationSpec(
        key="jardin",
        kind=OrganisationKind.PROJECT,
        name="Jardin partagé du Beck",
        rna="W595000058",
        verified=False,  # registered, waiting for the operator's verification
        admin=_person("projet.jardin", "Claire", "Deleplanque"),
        description="Jardin partagé de quartier : bacs de culture en bois de palette, outils, récupérateurs "
        "d'eau.",
        sites=(SiteSpec("Jardin", "Rue du Beck, 59150 Wattrelos", 3.2150, 50.7050, WATTRELOS),),
    ),
)


def _spec(key: str) -> OrganisationSpec:
    return next(spec for spec in ORGANISATIONS if spec.key == key)


def organisations() -> dict[str, Organisation]:
    """Each organisation with its administrator (created through the operator's provisioning service,
    verified unless the scenario says otherwise). Keyed by scenario key."""
    system = Actor.for_system()
    found: dict[str, Organisation] = {}
    for spec in ORGANISATIONS:
        org, admin, _created = organisation_provision(
            kind=spec.kind,
            name=spec.name,
            admin_email=spec.admin.email,
            password=DEMO_PASSWORD,
            verified=spec.verified,
            siret=spec.siret,
            rna=spec.rna,
        )
        org = organisation_update(
            actor=system, organisation_id=org.pk, description=spec.description, email=spec.email
        )
        user_update(user=admin, first_name=spec.admin.first_name, last_name=spec.admin.last_name)
        found[spec.key] = org
    return found


def people(orgs: dict[str, Organisation]) -> dict[str, User]:
    """Every demo account (administrators and members), keyed by e-mail."""
    users: dict[str, User] = {}
    for spec in ORGANISATIONS:
        admin = User.objects.get(email=spec.admin.email)
        users[admin.email] = admin
        for person in spec.members:
            user = User.objects.filter(email=person.email).first()
            if user is None:
                user = User.objects.create_user(
                    person.email, DEMO_PASSWORD, first_name=person.first_name, last_name=person.last_name
                )
            Membership.objects.get_or_create(
                user=user, organisation=orgs[spec.key], defaults={"role": MembershipRole.MEMBER}
            )
            users[user.email] = user
    return users


def sites(orgs: dict[str, Organisation]) -> dict[tuple[str, str], Site]:
    """Each organisation's sites, keyed by (organisation key, site name). Raises ScenarioError when a
    site does not lie in the commune the scenario puts it in."""
    if not Territory.objects.filter(kind=TerritoryKind.COMMUNE).exists():
        raise ScenarioError(
            "No communes are loaded: run `manage.py load_territories territories/data/mel-communes.geojson "
            "--kind commune --code-field code_insee` first."
        )
    system = Actor.for_system()
    found: dict[tuple[str, str], Site] = {}
    for spec in ORGANISATIONS:
        org = orgs[spec.key]
        for site_spec in spec.sites:
            point = Point(site_spec.lon, site_spec.lat, srid=4326)
            commune = territory_containing(point=point)
            if commune is None or commune.code != site_spec.commune:
                raise ScenarioError(
                    f"{spec.name} / {site_spec.name}: ({site_spec.lon}, {site_spec.lat}) lies in "
                    f"{commune or 'no loaded commune'}, not in commune {site_spec.commune}."
                )
            site = Site.objects.filter(organisation=org, name=site_spec.name).first()
            if site is None:
                site = site_create(
                    actor=system,
                    organisation_id=org.pk,
                    name=site_spec.name,
                    location=point,
                    address=site_spec.address,
                    opening_notes=site_spec.opening_notes,
                )
            elif (site.location.coords, site.address, site.opening_notes) != (
                point.coords,
                site_spec.address,
                site_spec.opening_notes,
            ):
                site = site_update(
                    actor=system,
                    site=site,
                    location=point,
                    address=site_spec.address,
                    opening_notes=site_spec.opening_notes,
                )
            found[(spec.key, site_spec.name)] = site
    return found


@dataclass
class SeedResult:
    organisations: dict[str, Organisation]
    people: dict[str, User]
    sites: dict[tuple[str, str], Site]


def seed() -> SeedResult:
    """The whole scenario, in dependency order. Callers wrap it in one transaction."""
    try:
        orgs = organisations()
        users = people(orgs)
        located = sites(orgs)
    except DomainError as exc:
        raise ScenarioError(f"{exc.message} {getattr(exc, 'field_errors', '') or ''}".strip()) from exc
    return SeedResult(organisations=orgs, people=users, sites=located)


def accounts() -> list[tuple[str, str, str]]:
    """(e-mail, organisation, role) of every demo login, in scenario order."""
    rows = []
    for spec in ORGANISATIONS:
        role = "admin, Django admin" if spec.kind == OrganisationKind.OPERATOR else "admin"
        rows.append((spec.admin.email, spec.name, role))
        rows += [(person.email, spec.name, "member") for person in spec.members]
    return rows
