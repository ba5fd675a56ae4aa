"""One small, complete Boucle, built once per test module, for the isolation matrix and the response field
snapshots: two firms, two associations, the city of Roubaix, the metropole, the operator and an
unverified organisation, with sites, offers in several states, claims in every open state, a handover,
needs and matches, API keys, an invitation and monthly reports; and every kind of caller of the issue-8
matrix, each with its credentials ready.

`world_in_transaction` builds it inside a transaction rolled back when the module ends; each test then
runs in a savepoint of its own (pytest-django's `db`), and `World.case()` opens one more savepoint per
request, so every caller meets the same world whatever the others did."""

from __future__ import annotations

import contextlib
import functools
import io
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from http.cookies import SimpleCookie
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.contrib.gis.geos import Point
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client, override_settings
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from PIL import Image
from rest_framework_simplejwt.tokens import RefreshToken

from claims import services as claim_services
from claims.models import Claim, HandoverProposal
from core.models import DomainEvent
from exchange import imports as offer_imports
from exchange import services as offer_services
from exchange.models import Offer
from impact.outcomes import OutcomeFigures, outcome_report
from impact.reports import monthly_report_build
from impact.services import authority_territories_link
from integrations import services as webhook_services
from integrations.models import WebhookDelivery
from inventory.models import Category
from matching import services as matching_services
from matching.models import Match
from organisations import services as org_services
from organisations.actors import Actor
from organisations.models import (
    Invitation,
    Membership,
    MembershipRole,
    Organisation,
    OrganisationKind,
    Registration,
    User,
)
from organisations.tokens import hash_token
from receipts.services import receipt_issue
from territories.loading import read_territory_file
from territories.models import Territory
from territories.services import territories_upsert

from .conftest import CheckedClient

PASSWORD = "correct-horse-battery-9"
WEBHOOK_URL = "https://93.184.215.14/hooks/boucle"  # public, never reached: nothing commits
INVITATION_TOKEN = "invitation-code-for-the-matrix-0000000000000"
REGISTRATION_TOKEN = "registration-code-for-the-matrix-00000000000"
# Firm A's yard in Roubaix, off a grid-cell centre so that its approximate point differs from it.
YARD_A = Point(3.17123, 50.69011, srid=4326)
YARD_B = Point(3.06342, 50.63287, srid=4326)  # Lille
DEPOT_A = Point(3.18202, 50.68744, srid=4326)  # Roubaix
DEPOT_B = Point(3.16511, 50.69473, srid=4326)  # Roubaix
TOWN_HALL = Point(3.17460, 50.69160, srid=4326)  # Grand-Place de Roubaix
MEL_SEAT = Point(3.06868, 50.63700, srid=4326)
OPERATOR_DESK = Point(3.17500, 50.69000, srid=4326)
UNVERIFIED_DEPOT = Point(3.15811, 50.72245, srid=4326)  # Tourcoing

# A stock file (exchange.imports) and the mapping that reads it.
IMPORT_CSV = "Réf.;Désignation\r\nERP-IMPORT-1;Chaises pliantes\r\n".encode()
IMPORT_COLUMNS = {"external_ref": "Réf.", "title": "Désignation"}

# Tables that refused requests must leave as they were: the domain and the HTTP layer's own, with
# the columns authentication itself may touch left out.
FINGERPRINT_APPS = (
    "core",
    "inventory",
    "territories",
    "organisations",
    "exchange",
    "claims",
    "receipts",
    "matching",
    "impact",
    "api",
    "token_blacklist",
)
FINGERPRINT_SKIPPED_COLUMNS = {
    "organisations_apikey": {"last_used_at"},  # stamped once a minute by authentication, by design
    "organisations_user": {"last_login"},  # a log-in is not a change of the account
    "territories_territory": {"geometry"},  # large and never written by a request
}

# Every kind of caller of the matrix → the organisation it acts for (its "home"). People carry a JWT for
# the API and a session for the dashboard and the admin; keys carry `Api-Key`; anonymous carries nothing.
HOME = {
    "firm_a": "firm_a",  # administrator of firm A
    "firm_a_member": "firm_a",  # plain member of firm A
    "firm_a_key": "firm_a",  # firm A's key, read + write
    "firm_a_read_key": "firm_a",  # firm A's key, read only
    "firm_a_revoked_key": "firm_a",  # firm A's key, revoked
    "firm_a_removed": "firm_a",  # removed from firm A after its credentials were issued
    "firm_b": "firm_b",
    "firm_b_key": "firm_b",
    "assoc_a": "assoc_a",
    "assoc_b": "assoc_b",
    "city": "city",  # Ville de Roubaix, public authority linked to commune 59512
    "mel": "mel",  # Métropole Européenne de Lille, linked to the 95 communes
    "operator": "operator",  # administrator of the verified operator organisation (staff, as provisioned)
    "unverified": "unverified",  # administrator of an association the operator has not verified yet
    "anonymous": None,
}
CALLERS = tuple(HOME)


@dataclass
class Caller:
    name: str
    user: User | None = None
    raw_key: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    session_key: str | None = None
    site_id: int | None = None

    # One client each, reused: a new Django test client loads the whole middleware stack again (WhiteNoise
    # indexes every static file then), which would cost more than the requests themselves.
    _api: CheckedClient | None = field(default=None, repr=False)
    _html: Client | None = field(default=None, repr=False)

    def api_client(self, *, checked: bool = True) -> CheckedClient:
        """A client with this caller's token or key; `checked`: every answer against openapi.yaml."""
        if self._api is None:
            self._api = CheckedClient()
            if self.access_token:
                self._api.credentials(HTTP_AUTHORIZATION=f"Bearer {self.access_token}")
            elif self.raw_key:
                self._api.credentials(HTTP_AUTHORIZATION=f"Api-Key {self.raw_key}")
        self._api.check_schema = checked
        return self._api

    def html_client(self) -> Client:
        """The dashboard and the admin know sessions only; a key's header is sent and must not help.
        The cookies are those of the caller's session, whatever an earlier request set."""
        if self._html is None:
            self._html = Client(HTTP_AUTHORIZATION=f"Api-Key {self.raw_key}") if self.raw_key else Client()
        self._html.cookies = SimpleCookie()
        if self.session_key:
            self._html.cookies[settings.SESSION_COOKIE_NAME] = self.session_key
        return self._html


@dataclass
class World:
    callers: dict[str, Caller]
    orgs: dict[str, Organisation]
    ids: dict[str, int]
    refs: dict[str, str] = field(default_factory=dict)
    media_root: str = ""

    def caller(self, name: str) -> Caller:
        return self.callers[name]

    @contextlib.contextmanager
    def case(self):
        """One request's world: whatever it changes is rolled back."""
        with transaction.atomic():
            yield
            transaction.set_rollback(True)


# ---- building ------------------------------------------------------------------------------------


def _png(colour=(30, 90, 160)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), colour).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png()


def png_upload() -> SimpleUploadedFile:
    return SimpleUploadedFile("photo.png", PNG, content_type="image/png")


def _person(org: Organisation, email: str, role: str = MembershipRole.ADMIN) -> User:
    user = User.objects.create_user(email, PASSWORD, first_name="Prénom", last_name="Nom")
    Membership.objects.create(user=user, organisation=org, role=role)
    return user


def _session_for(user: User) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _credentials(caller: Caller) -> Caller:
    if caller.user is not None:
        refresh = RefreshToken.for_user(caller.user)
        caller.refresh_token = str(refresh)
        caller.access_token = str(refresh.access_token)
        caller.session_key = _session_for(caller.user)
    return caller


def _load_reference_data() -> None:
    records = read_territory_file(
        Path(__file__).resolve().parent.parent / "territories" / "data" / "mel-communes.geojson",
        code_field="code_insee",
    )
    territories_upsert(kind="commune", records=records.records, source=records.source)
    call_command("load_catalogue", stdout=io.StringIO())


def build_world(media_root: str) -> World:
    """Everything through the services the API itself calls, so the state is one the API can reach."""
    _load_reference_data()
    chair = Category.objects.get(key="wooden_chair")
    wood = Category.objects.get(key="wood")

    operator_org, operator_user, _created = org_services.organisation_provision(
        kind=OrganisationKind.OPERATOR,
        name="Boucle MEL (opérateur)",
        admin_email="operateur@matrix.example",
        password=PASSWORD,
        verified=True,
    )
    operator = Actor.for_user(operator_user)

    def org(kind, name, *, verified=True, **fields) -> Organisation:
        created = org_services.organisation_create(actor=operator, kind=kind, name=name, **fields)
        if verified:
            created = org_services.organisation_verify(actor=operator, organisation_id=created.pk)
        return created

    orgs = {
        "firm_a": org(
            OrganisationKind.COMPANY,
            "Ateliers du Meuble Roubaisien",
            siret="73282932000074",
            email="contact@meubles.example",
            phone="+33 3 20 00 00 01",
        ),
        "firm_b": org(
            OrganisationKind.COMPANY,
            "NordNum Services",
            siret="44229377500007",
            email="contact@nordnum.example",
        ),
        "assoc_a": org(
            OrganisationKind.ASSOCIATION,
            "Repair Café Roubaix",
            rna="W595000001",
            email="bonjour@repaircafe.example",
            phone="+33 6 00 00 00 02",
        ),
        "assoc_b": org(OrganisationKind.ASSOCIATION, "Clic Solidaire", rna="W595000002"),
        "city": org(OrganisationKind.PUBLIC_AUTHORITY, "Ville de Roubaix"),
        "mel": org(OrganisationKind.PUBLIC_AUTHORITY, "Métropole Européenne de Lille"),
        "unverified": org(
            OrganisationKind.ASSOCIATION, "Jardin partagé du Beck", verified=False, rna="W595000003"
        ),
        "operator": operator_org,
    }
    communes = dict(Territory.objects.filter(kind="commune").values_list("code", "pk"))
    authority_territories_link(
        actor=operator, organisation_id=orgs["city"].pk, territory_ids=[communes["59512"]]
    )
    authority_territories_link(
        actor=operator, organisation_id=orgs["mel"].pk, territory_ids=communes.values()
    )

    callers: dict[str, Caller] = {name: Caller(name) for name in CALLERS}
    people = {
        "firm_a": ("admin@meubles.example", MembershipRole.ADMIN),
        "firm_a_member": ("atelier@meubles.example", MembershipRole.MEMBER),
        "firm_a_removed": ("ancien@meubles.example", MembershipRole.MEMBER),
        "firm_b": ("admin@nordnum.example", MembershipRole.ADMIN),
        "assoc_a": ("admin@repaircafe.example", MembershipRole.ADMIN),
        "assoc_b": ("admin@clic.example", MembershipRole.ADMIN),
        "city": ("donnees@roubaix.example", MembershipRole.ADMIN),
        "mel": ("donnees@mel.example", MembershipRole.ADMIN),
        "unverified": ("admin@jardin.example", MembershipRole.ADMIN),
    }
    for name, (email, role) in people.items():
        organisation = orgs[HOME[name]]
        callers[name].user = _person(organisation, email, role)
    callers["operator"].user = operator_user
    actor = {name: Actor.for_user(c.user) for name, c in callers.items() if c.user is not None}

    ids: dict[str, int] = {f"org_{name}": o.pk for name, o in orgs.items()}
    ids.update(category_chair=chair.pk, category_wood=wood.pk)
    for name, point in (
        ("firm_a", YARD_A),
        ("firm_b", YARD_B),
        ("assoc_a", DEPOT_A),
        ("assoc_b", DEPOT_B),
        ("city", TOWN_HALL),
        ("mel", MEL_SEAT),
        ("operator", OPERATOR_DESK),
        ("unverified", UNVERIFIED_DEPOT),
    ):
        site = org_services.site_create(
            actor=actor[name],
            name=f"Site de {orgs[name].name}",
            location=point,
            address=f"{len(ids)} rue de l'Épeule, 59100 Roubaix",
            opening_notes="Sonner au portail.",
        )
        ids[f"site_{name}"] = site.pk
    for c in callers.values():
        if HOME[c.name] is not None:
            c.site_id = ids[f"site_{HOME[c.name]}"]

    # Keys of firm A (the read-write one acts in the matrix, another is there to be revoked) and B.
    keys = {}
    for name, organisation, admin, scopes in (
        ("firm_a_key", "firm_a", "firm_a", ["read", "write"]),
        ("firm_a_read_key", "firm_a", "firm_a", ["read"]),
        ("firm_a_revoked_key", "firm_a", "firm_a", ["read", "write"]),
        ("firm_a_spare_key", "firm_a", "firm_a", ["read", "write"]),
        ("firm_b_key", "firm_b", "firm_b", ["read", "write"]),
    ):
        key, raw = org_services.api_key_create(
            actor=actor[admin], organisation_id=orgs[organisation].pk, name=name, scopes=scopes
        )
        keys[name] = key
        ids[name] = key.pk
        if name in callers:
            callers[name].raw_key = raw
    org_services.api_key_revoke(actor=actor["firm_a"], api_key_id=keys["firm_a_revoked_key"].pk)

    # Offers of firm A: a draft with a photo, a published lot with claims in every open state, a
    # published lot that accepts claims by itself, and wood with a lot already collected; and firm B's.
    def offer(owner: str, name: str, title: str, category=chair, quantity="10", unit="piece", **extra):
        created = offer_services.offer_create(
            actor=actor[owner],
            site=ids[f"site_{owner}"],
            category=category.pk,
            title=title,
            quantity=Decimal(quantity),
            unit=unit,
            condition="good",
            description="Quelques rayures, rien de cassé.",
            pickup_instructions="Quai 3, demander Karim au 06 00 00 00 09.",
            available_until=timezone.now() + timedelta(days=60),
            **{"publish": True, **extra},
        )
        ids[f"offer_{name}"] = created.pk
        return created

    offer("firm_a", "draft", "Chaises en hêtre (à publier)", publish=False, external_ref="ERP-DRAFT")
    offer("firm_a", "published", "Chaises en hêtre", external_ref="ERP-PUB", mass_per_unit_kg=Decimal("4.5"))
    offer("firm_a", "auto", "Chaises de réunion", auto_accept_claims=True)
    offer(
        "firm_a",
        "collected",
        "Chutes de chêne",
        category=wood,
        quantity="100",
        unit="kg",
        unit_value_eur=Decimal("2.50"),
        valuation_basis="stock_value",
    )
    offer("firm_b", "firm_b_published", "Chaises de bureau")
    for name in ("draft", "published"):
        photo = offer_services.offer_photo_add(
            actor=actor["firm_a"], offer=ids[f"offer_{name}"], image=png_upload()
        )
        ids[f"photo_{name}"] = photo.pk

    # Needs of association A (at its depot, chairs and wood within 5 km) and B; matches recorded as
    # the offer.published consumer would (it runs after commit, which this world never does).
    for owner in ("assoc_a", "assoc_b"):
        need = matching_services.need_create(
            actor=actor[owner],
            title=f"Besoin de {owner}",
            categories=[chair.pk, wood.pk],
            radius_m=5000,
            site=ids[f"site_{owner}"],
        )
        ids[f"need_{owner}"] = need.pk
    offer_names = {pk: name for name, pk in ids.items() if name.startswith("offer_")}
    need_names = {pk: name.removeprefix("need_") for name, pk in ids.items() if name.startswith("need_")}
    for name in ("published", "auto", "collected"):
        for match in Match.objects.filter(
            pk__in=matching_services.matches_record_for_offer(
                offer=Offer.objects.get(pk=ids[f"offer_{name}"])
            )
        ):
            ids[f"match_{need_names[match.need_id]}_{offer_names[match.offer_id]}"] = match.pk

    def claim(offer_name: str, owner: str, quantity: str, *, accept=False) -> Claim:
        made = claim_services.claim_request(
            actor=actor[owner], offer_id=ids[f"offer_{offer_name}"], quantity=Decimal(quantity)
        )
        if accept:
            made = claim_services.claim_accept(actor=actor["firm_a"], claim_id=made.pk)
        return made

    ids["claim_requested"] = claim("published", "assoc_a", "2").pk
    ids["claim_accepted"] = claim("published", "assoc_a", "3", accept=True).pk
    ids["claim_requested_b"] = claim("published", "assoc_b", "1").pk
    ids["claim_collected"] = claim("collected", "assoc_a", "40", accept=True).pk
    handover = claim_services.handover_record(
        actor=actor["firm_a"], claim_id=ids["claim_collected"], mass_kg=Decimal("38.5")
    )
    ids["handover"] = handover.pk
    # Association A may issue tax receipts (declared, verified) and issued one to firm A for that lot.
    org_services.tax_receipt_status_declare(
        actor=actor["assoc_a"], organisation=orgs["assoc_a"], evidence="Rescrit fiscal n° 2024-59-0042"
    )
    org_services.tax_receipt_status_verify(actor=operator, organisation=orgs["assoc_a"], accepted=True)
    today = timezone.localdate()
    ids["receipt"] = receipt_issue(
        actor=actor["assoc_a"],
        association=orgs["assoc_a"],
        donor=orgs["firm_a"],
        period_start=today.replace(day=1),
        period_end=today,
    ).pk
    # Firm B's lot collected by association B, recorded by B and confirmed by firm B.
    other = claim_services.claim_request(
        actor=actor["assoc_b"], offer_id=ids["offer_firm_b_published"], quantity=Decimal("2")
    )
    ids["claim_b"] = other.pk
    claim_services.claim_accept(actor=actor["firm_b"], claim_id=other.pk)
    confirmed = claim_services.handover_record(
        actor=actor["assoc_b"], claim_id=other.pk, mass_kg=Decimal("9")
    )
    claim_services.handover_confirm(actor=actor["firm_b"], handover_id=confirmed.pk)
    ids["handover_b"] = confirmed.pk
    # What association B's lot became: the report its parties read (`outcome/`).
    outcome_report(
        actor=actor["assoc_b"],
        handover_id=confirmed.pk,
        figures=OutcomeFigures(people_reached=6, young_people=2, seniors=1, use="home_furnishing"),
    )
    # A step towards settling that row, written straight so that the ledger (and every listing of it)
    # stays as it is: what the admin's proposal pages open.
    ids["proposal_b"] = HandoverProposal.objects.create(
        handover=confirmed,
        organisation=orgs["firm_b"],
        quantity=confirmed.quantity,
        mass_kg=Decimal("8.5"),
        reason="Pesée refaite.",
        recorded_by="system",
    ).pk
    matching_services.match_alert_preference_set(
        actor=actor["assoc_b"], organisation_id=orgs["assoc_b"].pk, mode="off"
    )

    # An invitation of firm A whose code the matrix knows (the service only ever e-mails it).
    invitation = Invitation.objects.create(
        organisation=orgs["firm_a"],
        email="invitee@matrix.example",
        role=MembershipRole.MEMBER,
        token_hash=hash_token(INVITATION_TOKEN),
        invited_by=callers["firm_a"].user,
        expires_at=timezone.now() + org_services.INVITATION_LIFETIME,
    )
    ids["invitation"] = invitation.pk

    # Monthly reports for this month's handover: Roubaix's, and all territories together.
    month = timezone.localdate().replace(day=1)
    ids["report_roubaix"] = monthly_report_build(territory_id=communes["59512"], month=month)[0].pk
    ids["report_all"] = monthly_report_build(territory_id=None, month=month)[0].pk
    ids["territory_roubaix"] = communes["59512"]

    # A saved import mapping of firm A, and a file import sent with it (queued: this world never commits,
    # so the worker never runs).
    ids["mapping_firm_a"] = offer_imports.import_mapping_create(
        actor=actor["firm_a"], name="ERP", columns=IMPORT_COLUMNS, defaults={"unit": "piece"}
    ).pk
    ids["import_firm_a"] = offer_imports.offer_import_create(
        actor=actor["firm_a"], content=IMPORT_CSV, filename="stock.csv", mapping="ERP"
    ).pk

    # A webhook endpoint of firm A (an IP literal: registering it resolves nothing) and one message
    # sent to it.
    endpoint, _secret = webhook_services.endpoint_create(
        actor=actor["firm_a"], url=WEBHOOK_URL, event_types=["offer.published", "claim.requested"]
    )
    ids["webhook_firm_a"] = endpoint.pk
    published = DomainEvent.objects.create(
        name="offer.published", aggregate_type="offer", aggregate_id=ids["offer_published"]
    )
    ids["delivery_firm_a"] = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event=published,
        message_id="msg_matrix",
        event_type="offer.published",
        ordering_key=f"offer:{ids['offer_published']}",
        body='{"type":"offer.published","data":{}}',
        status="succeeded",
        attempts=1,
        delivered_at=timezone.now(),
    ).pk

    _admin_only_objects()

    # A sign-up waiting for its confirmation, whose code the matrix knows (the service e-mails it).
    org_services.organisation_register(
        email="inscription@matrix.example",
        password=PASSWORD,
        first_name="Nour",
        last_name="Haddad",
        preferred_language="fr",
        organisation={"kind": "project", "name": "Jeunes Bâtisseurs"},
    )
    registration = Registration.objects.get(user__email="inscription@matrix.example")
    Registration.objects.filter(pk=registration.pk).update(token_hash=hash_token(REGISTRATION_TOKEN))
    ids["org_registered"] = registration.organisation_id

    for caller in callers.values():
        _credentials(caller)
    # Removed from firm A by its administrator after its credentials were issued.
    org_services.membership_remove(
        actor=actor["firm_a"],
        membership_id=Membership.objects.get(user=callers["firm_a_removed"].user).pk,
    )
    # A password-reset code for firm A's member, as the reset e-mail carries it (after the log-ins
    # above: the code depends on the last log-in).
    member = User.objects.get(pk=callers["firm_a_member"].user.pk)
    refs = {
        "reset_uid": urlsafe_base64_encode(force_bytes(member.pk)),
        "reset_token": default_token_generator.make_token(member),
    }
    return World(callers=callers, orgs=orgs, ids=ids, refs=refs, media_root=media_root)


def _admin_only_objects() -> None:
    """One object of each model the admin shows that nothing above creates, so that every admin page
    is opened on a real object."""
    Group.objects.create(name="Opérateurs")
    interval = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.DAYS)
    CrontabSchedule.objects.create(minute="0", hour="7")
    SolarSchedule.objects.create(event="sunrise", latitude=Decimal("50.69"), longitude=Decimal("3.17"))
    ClockedSchedule.objects.create(clocked_time=timezone.now() + timedelta(days=1))
    PeriodicTask.objects.create(name="matrix", task="boucle.noop", interval=interval, enabled=False)


@contextlib.contextmanager
def world_in_transaction(django_db_blocker):
    """The world for one test module: built in a transaction rolled back at the end, media files in a
    temporary directory removed at the end."""
    with (
        django_db_blocker.unblock(),
        tempfile.TemporaryDirectory(prefix="boucle-world-") as media_root,
        override_settings(MEDIA_ROOT=media_root),
        transaction.atomic(),
    ):
        world = build_world(media_root)
        try:
            yield world
        finally:
            transaction.set_rollback(True)


# ---- what a refused request must not change ------------------------------------------------------


@functools.cache
def _fingerprint_sql() -> str:
    quote = connection.ops.quote_name
    parts = []
    for label in FINGERPRINT_APPS:
        for model in apps.get_app_config(label).get_models(include_auto_created=True):
            table = model._meta.db_table
            skipped = FINGERPRINT_SKIPPED_COLUMNS.get(table, set())
            row = ", ".join(quote(f.column) for f in model._meta.concrete_fields if f.column not in skipped)
            order = quote(model._meta.pk.column)
            parts.append(
                f"SELECT '{table}', md5(coalesce(string_agg(ROW({row})::text, '|' ORDER BY {order}), '')) "
                f"FROM {quote(table)}"
            )
    return " UNION ALL ".join(parts)


def fingerprint() -> dict[str, str]:
    """table → MD5 of all its rows (in primary-key order), in one query."""
    with connection.cursor() as cursor:
        cursor.execute(_fingerprint_sql())
        return dict(cursor.fetchall())


def changed_tables(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(table for table in before if before[table] != after.get(table))
