"""Demo claims and a year of handovers.

`seed()` is safe to run again. It adds, through the same services as the API:

- claims in every state on today's demo offers (demo/offers.py), made and answered by the demo people:
  requested, accepted (the recipient sees the pickup place), collected (its handover awaits the donor's
  confirmation), declined, cancelled, and a no-show expired by the periodic task;
- a year of history: about eight lots a month over the past twelve months, from the demo firms and public
  bodies at their sites in nine MEL communes, each claimed by a demo association or project, collected
  (mass weighed, declared or estimated) and confirmed by the other party; a few were disputed, and the
  operator reversed some of those; about two in three confirmed lots have an outcome report from their
  recipient (people reached, of whom young people and seniors, the use).

History is written on the system's seeding path: the services take an explicit clock (`now`) from the
system actor only, so claims, acceptances, ledger rows and confirmations carry their dates in the past
(`collected_at` and `recorded_at` included). Domain events still record when they were appended. Offers
have no such clock: a historic lot is created, then its publication date is set back, as time passing in
the story. Historic lots are keyed by their external reference `DEMO-H-<month>-<n>`; a lot already there is
skipped whole (each is written in its own transaction).

Needs the demo organisations, people and sites (demo/scenario.py), the demo offers (demo/offers.py), the
catalogue and the MEL communes."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.gis.geos import Point
from django.db import transaction
from django.utils import timezone

from claims import services
from claims.models import Claim, ClaimStatus, Handover
from exchange.models import Offer, OfferStatus
from exchange.services import offer_close, offer_create
from impact.outcomes import OutcomeFigures, outcome_report
from inventory.models import Category
from organisations.actors import Actor
from organisations.models import Organisation, Site, User
from organisations.services import site_create
from territories.selectors import territory_containing

from .scenario import ORGANISATIONS, ScenarioError

SYSTEM = Actor.for_system()


def _organisation(key: str) -> Organisation:
    name = next(spec.name for spec in ORGANISATIONS if spec.key == key)
    organisation = Organisation.objects.filter(name=name).order_by("id").first()
    if organisation is None:
        raise ScenarioError(f"Demo organisation {name!r} is missing: seed the scenario first.")
    return organisation


def _admin(key: str) -> Actor:
    email = next(spec.admin.email for spec in ORGANISATIONS if spec.key == key)
    user = User.objects.filter(email=email).first()
    if user is None:
        raise ScenarioError(f"Demo account {email} is missing: seed the scenario first.")
    return Actor.for_user(user)


# ---- today's claims ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimSpec:
    recipient: str  # scenario key
    offer_ref: str
    quantity: str
    state: str  # requested, accepted, collected, declined, cancelled, expired
    message: str
    mass_kg: str | None = None  # weighed at the handover
    reason: str = ""


CURRENT: tuple[ClaimSpec, ...] = (
    ClaimSpec(
        "repair_cafe", "DEMO-MEU-001", "6", "requested", "Pour équiper la salle des séances du samedi."
    ),
    ClaimSpec("clic_solidaire", "DEMO-MEL-002", "4", "requested", "Prêt pour l'atelier CV du jeudi."),
    ClaimSpec(
        "clic_solidaire", "DEMO-NUM-001", "10", "accepted", "Pour les familles suivies par le centre social."
    ),
    ClaimSpec(
        "jeunes_batisseurs", "DEMO-TRI-001", "12", "accepted", "Bacs de culture pour le chantier-école."
    ),
    ClaimSpec(
        "jeunes_batisseurs",
        "DEMO-MEU-003",
        "100",
        "collected",
        "Étagères pour le local rénové.",
        mass_kg="96.5",
    ),
    ClaimSpec(
        "ressourcerie",
        "DEMO-MEU-002",
        "2",
        "declined",
        "Pour la boutique solidaire.",
        reason="Déjà promises à une école du quartier.",
    ),
    ClaimSpec(
        "ressourcerie",
        "DEMO-FIL-001",
        "20",
        "cancelled",
        "Coupons pour l'atelier couture.",
        reason="Atelier reporté.",
    ),
    ClaimSpec("repair_cafe", "DEMO-NUM-002", "5", "expired", "Écrans pour le poste de diagnostic."),
)


def _current(spec: ClaimSpec) -> bool:
    recipient = _organisation(spec.recipient)
    offer = Offer.objects.filter(external_ref=spec.offer_ref).select_related("organisation").first()
    if offer is None:
        raise ScenarioError(f"Demo offer {spec.offer_ref} is missing: seed the demo offers first.")
    if Claim.objects.filter(offer=offer, organisation=recipient, message=spec.message).exists():
        return False
    donor_key = next(s.key for s in ORGANISATIONS if s.name == offer.organisation.name)
    asker, giver = _admin(spec.recipient), _admin(donor_key)
    claim = services.claim_request(
        actor=asker, offer_id=offer.pk, quantity=Decimal(spec.quantity), message=spec.message
    )
    if spec.state == "declined":
        services.claim_decline(actor=giver, claim_id=claim.pk, reason=spec.reason)
    elif spec.state == "cancelled":
        services.claim_cancel(actor=asker, claim_id=claim.pk, reason=spec.reason)
    elif spec.state != "requested":
        services.claim_accept(actor=giver, claim_id=claim.pk)
    if spec.state == "collected":
        services.handover_record(
            actor=asker, claim_id=claim.pk, mass_kg=Decimal(spec.mass_kg) if spec.mass_kg else None
        )
    elif spec.state == "expired":
        # Time passes in the story: the pickup deadline went by, and the periodic task ran.
        Claim.objects.filter(pk=claim.pk).update(pickup_deadline=timezone.now() - timedelta(hours=1))
        services.claim_expire(claim_id=claim.pk)
    return True


# ---- a year of history ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ExtraSite:
    organisation: str  # scenario key
    name: str
    address: str
    lon: float
    lat: float
    commune: str  # INSEE code


# More places where the demo donors gave things over the year, so the ledger spans more communes.
EXTRA_SITES: tuple[ExtraSite, ...] = (
    ExtraSite(
        "meubles", "Entrepôt de Wasquehal", "Rue de la Gare, 59290 Wasquehal", 3.1252, 50.6727, "59646"
    ),
    ExtraSite(
        "informatique",
        "Agence de Marcq-en-Barœul",
        "Avenue de la République, 59700 Marcq-en-Barœul",
        3.1009,
        50.6790,
        "59378",
    ),
    ExtraSite("textile", "Entrepôt d'Halluin", "Rue de Lille, 59250 Halluin", 3.1241, 50.7752, "59279"),
    ExtraSite("supermarche", "Magasin de Croix", "Rue Jean Jaurès, 59170 Croix", 3.1473, 50.6755, "59163"),
    ExtraSite("mel", "Pôle technique de Seclin", "Rue de Burgault, 59113 Seclin", 3.0363, 50.5454, "59560"),
    ExtraSite("mel", "Antenne d'Armentières", "Rue de Lille, 59280 Armentières", 2.8804, 50.6919, "59017"),
)


@dataclass(frozen=True)
class LotKind:
    donor: str  # scenario key
    site: str
    category: str
    title: str
    unit: str
    quantity: tuple[int, int]
    recipients: tuple[str, ...]
    mass_per_unit_kg: str | None = None  # declared; None: estimated from the category, or weighed
    weighed: bool = False


LOT_KINDS: tuple[LotKind, ...] = (
    LotKind("meubles", "Atelier et cour de chargement", "wooden_chair", "Chaises en hêtre", "piece", (6, 20),
            ("repair_cafe", "ressourcerie"), mass_per_unit_kg="5.8"),
    LotKind("meubles", "Entrepôt de Wasquehal", "wood_panels", "Chutes de contreplaqué", "kg", (50, 300),
            ("jeunes_batisseurs",), weighed=True),
    LotKind("meubles", "Entrepôt de Wasquehal", "pallets", "Palettes Europe", "pallet", (5, 20),
            ("jeunes_batisseurs", "ressourcerie")),
    LotKind("meubles", "Showroom", "sofa", "Canapé d'exposition", "piece", (1, 2), ("ressourcerie",)),
    LotKind("informatique", "Atelier de reconditionnement", "laptop", "Portables reconditionnés", "piece",
            (5, 20), ("clic_solidaire",), mass_per_unit_kg="1.6"),
    LotKind("informatique", "Agence de Marcq-en-Barœul", "monitor", "Écrans 22 pouces", "piece", (5, 15),
            ("clic_solidaire", "repair_cafe"), mass_per_unit_kg="4.2"),
    LotKind("informatique", "Agence de Marcq-en-Barœul", "it_accessories", "Claviers et câbles", "kg",
            (10, 40), ("clic_solidaire", "repair_cafe"), weighed=True),
    LotKind("textile", "Filature", "textiles_by_weight", "Coupons de tissu", "kg", (20, 120),
            ("ressourcerie",)),
    LotKind("textile", "Entrepôt d'Halluin", "household_linen", "Linge de maison", "kg", (10, 60),
            ("ressourcerie",)),
    LotKind("supermarche", "Quai de livraison", "cardboard_boxes", "Cartons pliés", "kg", (20, 100),
            ("ressourcerie", "jeunes_batisseurs")),
    LotKind("supermarche", "Magasin de Croix", "plastic_crates", "Caisses plastiques", "kg", (10, 50),
            ("jeunes_batisseurs", "repair_cafe"), weighed=True),
    LotKind("supermarche", "Magasin de Croix", "shelving", "Étagères de magasin", "piece", (2, 8),
            ("ressourcerie",), mass_per_unit_kg="35"),
    LotKind("ville_roubaix", "Centre technique municipal", "office_desk", "Bureaux 160 cm", "piece", (2, 8),
            ("clic_solidaire", "jeunes_batisseurs"), mass_per_unit_kg="38"),
    LotKind("ville_roubaix", "Hôtel de ville", "meeting_table", "Tables de réunion", "piece", (2, 6),
            ("repair_cafe", "ressourcerie"), mass_per_unit_kg="25"),
    LotKind("mel", "Pôle technique de Seclin", "office_chair", "Chaises visiteurs", "piece", (5, 20),
            ("repair_cafe", "clic_solidaire"), mass_per_unit_kg="4.5"),
    LotKind("mel", "Antenne d'Armentières", "storage_cabinet", "Armoires basses", "piece", (1, 4),
            ("ressourcerie",), weighed=True),
)  # fmt: skip

MONTHS = 12
LOTS_PER_MONTH = 8
DISPUTE_REASON = "Nous avons compté moins de pièces que ce qui est saisi."


def _extra_sites() -> None:
    for spec in EXTRA_SITES:
        organisation = _organisation(spec.organisation)
        if Site.objects.filter(organisation=organisation, name=spec.name).exists():
            continue
        point = Point(spec.lon, spec.lat, srid=4326)
        commune = territory_containing(point=point)
        if commune is None or commune.code != spec.commune:
            raise ScenarioError(f"{spec.name}: ({spec.lon}, {spec.lat}) is not in commune {spec.commune}.")
        site_create(
            actor=SYSTEM,
            organisation_id=organisation.pk,
            name=spec.name,
            location=point,
            address=spec.address,
        )


def _at(moment: datetime, rng: random.Random) -> datetime:
    """A working hour of that day, in the platform's time zone."""
    local = timezone.localtime(moment)
    return local.replace(hour=rng.randint(8, 17), minute=rng.choice((0, 15, 30, 45)), second=0, microsecond=0)


@transaction.atomic
def _historic_lot(
    ref: str, kind: LotKind, collected_at: datetime, rng: random.Random, today: datetime
) -> None:
    donor = _organisation(kind.donor)
    site = Site.objects.get(organisation=donor, name=kind.site)
    category = Category.objects.get(key=kind.category)
    published_at = collected_at - timedelta(days=rng.randint(3, 12))
    quantity = Decimal(rng.randint(*kind.quantity))
    offer = offer_create(
        actor=SYSTEM,
        organisation_id=donor.pk,
        site=site,
        category=category,
        title=kind.title,
        quantity=quantity,
        unit=kind.unit,
        mass_per_unit_kg=Decimal(kind.mass_per_unit_kg) if kind.mass_per_unit_kg else None,
        condition=rng.choice(("good", "good", "fair", "new")),
        available_from=published_at,
        external_ref=ref,
        publish=True,
    )
    # Time passes in the story: the lot was published back then.
    Offer.objects.filter(pk=offer.pk).update(published_at=published_at, created_at=published_at)

    recipient = _organisation(rng.choice(kind.recipients))
    requested_at = published_at + timedelta(hours=rng.randint(2, 48))
    claim = services.claim_request(
        actor=SYSTEM, offer_id=offer.pk, quantity=quantity, organisation_id=recipient.pk, now=requested_at
    )
    services.claim_accept(actor=SYSTEM, claim_id=claim.pk, now=requested_at + timedelta(hours=3))
    # Now and then a little less is collected than was claimed; the rest goes back and the firm closes.
    partial = quantity > 2 and rng.random() < 0.15
    collected = (quantity * Decimal("0.8")).to_integral_value() if partial else quantity
    per_unit = Decimal(kind.mass_per_unit_kg or category.typical_mass_kg or 1)
    weighed = (collected * per_unit * Decimal(rng.uniform(0.9, 1.1))).quantize(Decimal("0.1"))
    recorded_at = collected_at + timedelta(hours=1)
    handover = services.handover_record(
        actor=SYSTEM,
        claim_id=claim.pk,
        quantity=collected,
        mass_kg=weighed if kind.weighed else None,
        collected_at=collected_at,
        now=recorded_at,
    )
    if partial:
        offer_close(actor=SYSTEM, offer=offer.pk)
        Offer.objects.filter(pk=offer.pk).update(closed_at=recorded_at)

    answered_at = recorded_at + timedelta(days=1)
    if answered_at > today:
        return  # still awaiting the other party's answer
    if rng.random() < 0.06:
        services.handover_dispute(
            actor=SYSTEM, handover_id=handover.pk, reason=DISPUTE_REASON, now=answered_at
        )
        if rng.random() < 0.6:
            services.handover_reverse(
                actor=SYSTEM,
                handover_id=handover.pk,
                reason="Corrigé par l'opérateur après vérification avec les deux parties.",
                now=answered_at + timedelta(days=2),
            )
    elif recorded_at < today - timedelta(days=3) or rng.random() < 0.5:
        services.handover_confirm(actor=SYSTEM, handover_id=handover.pk, now=answered_at)
        _outcome(ref, handover, recipient, answered_at + timedelta(days=6), today)


# What the recipients make of their lots, as they report it (impact.outcomes): by the kind of recipient.
OUTCOME_USES = {
    "clic_solidaire": ("digital_inclusion", "Kits numériques pour des seniors isolés"),
    "jeunes_batisseurs": ("youth_workshop", "Chantier éducatif avec des jeunes du quartier"),
    "ressourcerie": ("home_furnishing", "Équipement de logements de familles relogées"),
    "repair_cafe": ("repair_reuse", "Réparé et remis en circulation"),
}


def _outcome(
    ref: str, handover: Handover, recipient: Organisation, reported_at: datetime, today: datetime
) -> None:
    """About two lots in three get an outcome report from their recipient a week after the handover
    (its own random draws: the rest of the story stays the same)."""
    rng = random.Random(f"{ref}/outcome")
    key = next((k for k in OUTCOME_USES if _organisation(k).pk == recipient.pk), None)
    if key is None or reported_at > today or rng.random() > 0.65:
        return
    use, detail = OUTCOME_USES[key]
    people = rng.randint(3, 40)
    young = rng.randint(0, people) if use == "youth_workshop" else rng.randint(0, people // 4)
    rest = people - young
    seniors = rng.randint(0, rest) if use == "digital_inclusion" else rng.randint(0, rest // 5)
    hours = Decimal(rng.randint(2, 60)) if rng.random() < 0.7 else None
    outcome_report(
        actor=SYSTEM,
        handover_id=handover.pk,
        figures=OutcomeFigures(
            people_reached=people,
            young_people=young,
            seniors=seniors,
            use=use,
            use_detail=detail,
            volunteer_hours=hours,
        ),
        now=reported_at,
    )


def _history() -> int:
    _extra_sites()
    today = timezone.now()
    rng = random.Random(2026)  # the same story on every run
    written = 0
    for month in range(MONTHS):
        for n, kind in enumerate(rng.sample(LOT_KINDS, LOTS_PER_MONTH)):
            days_ago = month * 30 + rng.randint(2, 29)
            collected_at = _at(today - timedelta(days=days_ago), rng)
            ref = f"DEMO-H-{month + 1:02d}-{n + 1}"
            lot_rng = random.Random(f"{ref}/{kind.category}")
            if Offer.objects.filter(external_ref=ref, organisation=_organisation(kind.donor)).exists():
                continue
            _historic_lot(ref, kind, collected_at, lot_rng, today)
            written += 1
    return written


def seed(*, stdout=None) -> None:
    created = sum(_current(spec) for spec in CURRENT)
    history = _history()
    if stdout is not None:
        ledger = Handover.objects.filter(offer__external_ref__startswith="DEMO-")
        open_claims = Claim.objects.filter(
            offer__external_ref__startswith="DEMO-", status__in=(ClaimStatus.REQUESTED, ClaimStatus.ACCEPTED)
        ).count()
        live = Offer.objects.filter(external_ref__startswith="DEMO-H-", status=OfferStatus.PUBLISHED).count()
        stdout.write(
            f"Demo claims: {created} created today, {history} historic lots handed over; "
            f"{ledger.count()} ledger rows, {open_claims} open claims, {live} historic lots still live."
        )
