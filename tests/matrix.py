"""The isolation matrix as data: for every route × method of the project, the exact status each kind of
caller gets (see tests/world.py for the world and the callers), with real objects and valid bodies so
that a refusal is the authorization answering, not the validation.

Reading an entry: `api(404) | only(200, *A_READERS, "operator")` means every authenticated caller gets
404 except firm A's people and keys and the operator (200); `api()` itself makes anonymous and the
revoked key 401 and the removed member `REMOVED`. Objects named in paths (`{offer_draft}`) are
`World.ids`. Admin pages are covered by one rule, `admin_cases`, generated from the admin's own URLs."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from .world import (
    CALLERS,
    HOME,
    IMPORT_COLUMNS,
    IMPORT_CSV,
    INVITATION_TOKEN,
    PASSWORD,
    REGISTRATION_TOKEN,
    WEBHOOK_URL,
    Caller,
    World,
)

A_READERS = ("firm_a", "firm_a_member", "firm_a_key", "firm_a_read_key")
A_WRITERS = ("firm_a", "firm_a_member", "firm_a_key")
A_NON_ADMINS = ("firm_a_member", "firm_a_key", "firm_a_read_key")
PEOPLE = tuple(
    name for name in CALLERS if name not in ("anonymous",) and not name.endswith("_key")
)  # callers that are persons (with a JWT and a session)
KEYS = ("firm_a_key", "firm_a_read_key", "firm_b_key")  # the live ones
RECIPIENTS = ("assoc_a", "assoc_b", "unverified")
OFFERERS = ("firm_a", "firm_a_member", "firm_a_key", "firm_b", "firm_b_key", "city", "mel")
ADMINS_OF_ONE_ORG = ("firm_a", "firm_b", "assoc_a", "assoc_b", "city", "mel", "operator", "unverified")
STAFF = ("operator",)
# A caller of each way in: nobody, a person, a live key, a revoked key, a person whose sessions ended.
ONE_OF_EACH = ("anonymous", "firm_a", "firm_a_key", "firm_a_revoked_key", "firm_a_removed")

# A person removed from their organisation: every credential issued before the removal is dead.
REMOVED = 401

Body = dict | Callable[[World, Caller], dict] | str | None


def only(status: int, *callers: str) -> dict[str, int]:
    unknown = set(callers) - set(CALLERS)
    assert not unknown, f"unknown callers {sorted(unknown)}"
    return dict.fromkeys(callers, status)


def api(default: int = 404) -> dict[str, int]:
    """An API route behind authentication."""
    return {
        **dict.fromkeys(CALLERS, default),
        "anonymous": 401,
        "firm_a_revoked_key": 401,
        "firm_a_removed": REMOVED,
    }


def public(status: int) -> dict[str, int]:
    """A route that needs no credentials, but still refuses bad ones (the revoked key, a dead token)."""
    return {**dict.fromkeys(CALLERS, status), "firm_a_revoked_key": 401, "firm_a_removed": REMOVED}


def anyone(status: int) -> dict[str, int]:
    """A route that reads no credentials at all."""
    return dict.fromkeys(CALLERS, status)


@dataclass(frozen=True)
class Entry:
    method: str
    path: str  # with {object} placeholders from World.ids
    expect: dict[str, int]
    body: Body = None  # a JSON body, a function of (world, caller) giving one, or "photo" (multipart)
    variant: str = ""  # what tells two entries of one route apart
    html: bool = False  # the dashboard: sessions, not tokens
    # Who is sent, when not every caller: for answers that are one document for everyone and take
    # seconds to build (the schema), a caller of each way in stands for the others.
    sample: tuple[str, ...] | None = None
    # For lists: caller → the world objects (World.ids names) it finds there, exactly; `listed_at`
    # says where the ids are in the body.
    listed: dict[str, frozenset[str]] | None = None
    listed_at: str = "results[].id"
    writes: bool = field(init=False)  # a refusal must then leave every table as it was

    def __post_init__(self):
        object.__setattr__(self, "writes", self.method not in ("GET", "HEAD", "OPTIONS"))
        missing = set(CALLERS) - set(self.expect)
        assert not missing, f"{self.id}: no expectation for {sorted(missing)}"

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}" + (f" [{self.variant}]" if self.variant else "")

    @property
    def callers(self) -> tuple[str, ...]:
        return self.sample or CALLERS

    def url(self, world: World) -> str:
        return self.path.format(**world.ids)

    def body_for(self, world: World, caller: Caller):
        return self.body(world, caller) if callable(self.body) else self.body


def point(lon: float = 3.1746, lat: float = 50.6916) -> dict:
    return {"type": "Point", "coordinates": [lon, lat]}


def _site_body(world: World, caller: Caller) -> dict:
    return {"name": "Annexe", "address": "3 rue Pierre Motte, 59100 Roubaix", "location": point()}


def _offer_body(world: World, caller: Caller) -> dict:
    return {
        "site": caller.site_id or world.ids["site_firm_a"],
        "category": world.ids["category_chair"],
        "title": "Tables pliantes",
        "quantity": "5",
        "unit": "piece",
        "condition": "good",
    }


def _bulk_of(make: Callable[[World, Caller], dict]) -> Callable[[World, Caller], dict]:
    """A batch of one offer (POST offers/bulk/), the organisation named on the batch when `make` names it."""

    def body(world: World, caller: Caller) -> dict:
        item = {**make(world, caller), "external_ref": "MATRIX-BULK-1"}
        organisation = item.pop("organisation", None)
        return {"items": [item], **({"organisation": organisation} if organisation is not None else {})}

    return body


def _import_body(world: World, caller: Caller) -> dict:
    """POST imports/ (multipart): the world's stock file, read by columns given with it."""
    return {
        "file": SimpleUploadedFile("stock.csv", IMPORT_CSV, content_type="text/csv"),
        "columns": json.dumps(IMPORT_COLUMNS),
        "defaults": json.dumps({"site": caller.site_id or world.ids["site_firm_a"], "unit": "piece"}),
    }


def _mapping_body(world: World, caller: Caller) -> dict:
    return {"name": "Inventaire", "columns": IMPORT_COLUMNS, "defaults": {"condition": "good"}}


def _need_body(world: World, caller: Caller) -> dict:
    return {
        "title": "Des chaises pour l'atelier",
        "categories": [world.ids["category_chair"]],
        "radius_m": 3000,
        "location": point(),
    }


def _for(organisation: str, make: Callable[[World, Caller], dict]) -> Callable[[World, Caller], dict]:
    """The same body naming another organisation (and, for offers, its site) as the one acted for."""

    def body(world: World, caller: Caller) -> dict:
        data = {**make(world, caller), "organisation": world.ids[f"org_{organisation}"]}
        if "site" in data:
            data["site"] = world.ids[f"site_{organisation}"]
        return data

    return body


def _register_body(world: World, caller: Caller) -> dict:
    return {
        "email": "nouvelle.asso@matrix.example",
        "password": PASSWORD,
        "first_name": "Inès",
        "last_name": "Martin",
        "organisation": {"kind": "association", "name": "Les Amis du Vélo", "rna": "W595000099"},
    }


def _refresh_body(world: World, caller: Caller) -> dict:
    return {"refresh": world.caller("firm_a").refresh_token}


ORGS = ("firm_a", "firm_b", "assoc_a", "assoc_b", "city", "mel", "operator", "unverified")


def listing(by_home: dict[str, set[str]] | None = None, **by_caller: set[str]) -> dict[str, frozenset[str]]:
    """What each caller finds in a list: by the organisation it acts for, unless named (for the callers
    whose answer is a 200)."""
    by_home = by_home or {}
    found = {name: frozenset(by_home.get(HOME[name], ())) for name in CALLERS if HOME[name]}
    found.update({name: frozenset(objects) for name, objects in by_caller.items()})
    return found


ALL_SITES = {f"site_{org}" for org in ORGS}
FIRM_A_OFFERS = {"offer_draft", "offer_published", "offer_auto", "offer_collected"}
MATCHES = {
    need: {f"match_{need}_offer_{offer}" for offer in ("published", "auto", "collected")}
    for need in ("assoc_a", "assoc_b")
}
CLAIMS = {
    "firm_a": {"claim_requested", "claim_accepted", "claim_requested_b", "claim_collected"},
    "firm_b": {"claim_b"},
    "assoc_a": {"claim_requested", "claim_accepted", "claim_collected"},
    "assoc_b": {"claim_requested_b", "claim_b"},
}
HANDOVERS = {
    "firm_a": {"handover"},
    "assoc_a": {"handover"},
    "firm_b": {"handover_b"},
    "assoc_b": {"handover_b"},
}
LIVE_OFFERS = {"offer_published", "offer_auto", "offer_collected", "offer_firm_b_published"}

API_ENTRIES: list[Entry] = [
    # ---- search, sites ---------------------------------------------------------------------------
    Entry(
        "GET",
        "/api/v1/offers/search/?lat=50.6916&lon=3.1746&radius_km=20",
        api(200),
        listed=listing({org: LIVE_OFFERS for org in ORGS}),
    ),
    Entry(
        "GET",
        "/api/v1/offers/search/?lat=50.6916&lon=3.1746&radius_km=20&format=geojson",
        api(200),
        variant="geojson",
    ),
    Entry(
        "GET",
        "/api/v1/sites/",
        api(200),
        listed=listing({o: {f"site_{o}"} for o in ORGS}, operator=ALL_SITES),
    ),
    Entry("POST", "/api/v1/sites/", api(201) | only(403, "firm_a_read_key"), _site_body, "own organisation"),
    Entry(
        "POST",
        "/api/v1/sites/",
        api(404) | only(201, *A_WRITERS, "operator") | only(403, "firm_a_read_key"),
        _for("firm_a", _site_body),
        "naming firm A",
    ),
    Entry("GET", "/api/v1/sites/{site_firm_a}/", api(404) | only(200, *A_READERS, "operator")),
    Entry(
        "PATCH",
        "/api/v1/sites/{site_firm_a}/",
        api(404) | only(200, *A_WRITERS, "operator") | only(403, "firm_a_read_key"),
        {"name": "Cour de l'atelier", "opening_notes": "Portail bleu."},
    ),
    Entry(
        "DELETE",
        "/api/v1/sites/{site_firm_a}/",
        api(404) | only(204, *A_WRITERS, "operator") | only(403, "firm_a_read_key"),
    ),
    # ---- accounts -----------------------------------------------------------------------------
    Entry("POST", "/api/v1/auth/register/", anyone(202), _register_body),
    Entry("POST", "/api/v1/auth/register/confirm/", anyone(200), {"token": REGISTRATION_TOKEN}),
    Entry(
        "POST", "/api/v1/auth/token/", anyone(200), {"email": "admin@meubles.example", "password": PASSWORD}
    ),
    Entry("POST", "/api/v1/auth/token/refresh/", anyone(200), _refresh_body),
    Entry(
        "POST",
        "/api/v1/auth/token/refresh/",
        anyone(401),
        lambda world, caller: {"refresh": world.caller("firm_a_removed").refresh_token},
        "the removed member's refresh token",
    ),
    Entry("POST", "/api/v1/auth/logout/", anyone(204), _refresh_body),
    Entry(
        "POST",
        "/api/v1/auth/password/change/",
        api(200) | only(403, *KEYS),
        {"current_password": PASSWORD, "new_password": "another-horse-battery-10"},
    ),
    Entry("POST", "/api/v1/auth/password/reset/", anyone(202), {"email": "atelier@meubles.example"}),
    Entry(
        "POST",
        "/api/v1/auth/password/reset/confirm/",
        anyone(204),
        lambda world, caller: {
            "uid": world.refs["reset_uid"],
            "token": world.refs["reset_token"],
            "new_password": "another-horse-battery-10",
        },
    ),
    Entry(
        "POST",
        "/api/v1/auth/invitations/accept/",
        anyone(201) | only(REMOVED, "firm_a_removed"),
        {"token": INVITATION_TOKEN, "password": PASSWORD, "first_name": "Léa", "last_name": "Roux"},
    ),
    Entry("GET", "/api/v1/me/", api(200) | only(403, *KEYS)),
    Entry("PATCH", "/api/v1/me/", api(200) | only(403, *KEYS), {"first_name": "Camille"}),
    # ---- organisations, invitations, keys -------------------------------------------------------
    Entry(
        "GET",
        "/api/v1/organisations/",
        api(200),
        listed=listing({o: {f"org_{o}"} for o in ORGS}, operator={f"org_{o}" for o in (*ORGS, "registered")}),
    ),
    Entry("GET", "/api/v1/organisations/{org_firm_a}/", api(404) | only(200, *A_READERS, "operator")),
    Entry(
        "PATCH",
        "/api/v1/organisations/{org_firm_a}/",
        api(404) | only(200, "firm_a", "operator") | only(403, *A_NON_ADMINS),
        {"description": "Menuiserie depuis 1952."},
    ),
    Entry(
        "POST",
        "/api/v1/organisations/{org_unverified}/verify/",
        api(404) | only(200, "operator") | only(403, "unverified", "firm_a_read_key"),
        variant="unverified organisation",
    ),
    Entry(
        "POST",
        "/api/v1/organisations/{org_firm_a}/verify/",
        api(404) | only(200, "operator") | only(403, *A_READERS),
        variant="firm A, verified",
    ),
    # An association's right to issue tax receipts: its administrators declare it, the operator decides.
    Entry(
        "POST",
        "/api/v1/organisations/{org_assoc_a}/tax-receipts/declare/",
        api(404) | only(200, "assoc_a", "operator") | only(403, "firm_a_read_key"),
        {"evidence": "Rescrit fiscal n° 2024-59-0042"},
        "association",
    ),
    Entry(
        "POST",
        "/api/v1/organisations/{org_firm_a}/tax-receipts/declare/",
        api(404) | only(409, "firm_a", "operator") | only(403, *A_NON_ADMINS),
        {"evidence": "Rescrit fiscal n° 2024-59-0042"},
        "a company",
    ),
    Entry(
        "POST",
        "/api/v1/organisations/{org_assoc_a}/tax-receipts/verify/",
        api(404) | only(200, "operator") | only(403, "assoc_a", "firm_a_read_key"),
        {"accepted": True},
    ),
    Entry(
        "GET",
        "/api/v1/organisations/{org_firm_a}/invitations/",
        api(404) | only(200, "firm_a", "operator") | only(403, *A_NON_ADMINS),
        listed=listing(firm_a={"invitation"}, operator={"invitation"}),
    ),
    Entry(
        "POST",
        "/api/v1/organisations/{org_firm_a}/invitations/",
        api(404) | only(201, "firm_a", "operator") | only(403, *A_NON_ADMINS),
        {"email": "nouveau@meubles.example", "role": "member"},
    ),
    Entry(
        "GET",
        "/api/v1/api-keys/",
        api(200),
        # Administrators see their organisations' keys, revoked ones included; nobody else any.
        listed=listing(
            firm_a={"firm_a_key", "firm_a_read_key", "firm_a_revoked_key", "firm_a_spare_key"},
            firm_b={"firm_b_key"},
        ),
    ),
    Entry(
        "POST",
        "/api/v1/api-keys/",
        api(403) | only(201, *ADMINS_OF_ONE_ORG),
        {"name": "Stock", "scopes": ["read"]},
        "own organisation",
    ),
    Entry(
        "POST",
        "/api/v1/api-keys/",
        api(404) | only(201, "firm_a", "operator") | only(403, *A_NON_ADMINS),
        lambda world, caller: {"organisation": world.ids["org_firm_a"], "name": "Stock", "scopes": ["read"]},
        "naming firm A",
    ),
    Entry(
        "DELETE",
        "/api/v1/api-keys/{firm_a_spare_key}/",
        api(404) | only(204, "firm_a", "operator") | only(403, *A_NON_ADMINS),
    ),
    # ---- reference data -------------------------------------------------------------------------
    Entry("GET", "/api/v1/categories/", public(200)),
    Entry("GET", "/api/v1/territories/?code=59512", public(200)),
    # ---- offers ---------------------------------------------------------------------------------
    Entry(
        "GET",
        "/api/v1/offers/",
        api(200),
        listed=listing(
            {"firm_a": FIRM_A_OFFERS, "firm_b": {"offer_firm_b_published"}},
            operator={*FIRM_A_OFFERS, "offer_firm_b_published"},
        ),
    ),
    Entry(
        "POST",
        "/api/v1/offers/",
        api(403) | only(201, *OFFERERS),
        _offer_body,
        "own organisation",
    ),
    Entry(
        "POST",
        "/api/v1/offers/",
        api(404) | only(201, *A_WRITERS, "operator") | only(403, "firm_a_read_key"),
        _for("firm_a", _offer_body),
        "naming firm A",
    ),
    # As POST offers/ (the one batch is refused or answered 200, whatever its items' own results).
    Entry(
        "POST",
        "/api/v1/offers/bulk/",
        api(403) | only(200, *OFFERERS),
        _bulk_of(_offer_body),
        "own organisation",
    ),
    Entry(
        "POST",
        "/api/v1/offers/bulk/",
        api(404) | only(200, *A_WRITERS, "operator") | only(403, "firm_a_read_key"),
        _bulk_of(_for("firm_a", _offer_body)),
        "naming firm A",
    ),
    Entry(
        "GET", "/api/v1/offers/{offer_draft}/", api(404) | only(200, *A_READERS, "operator"), variant="draft"
    ),
    Entry("GET", "/api/v1/offers/{offer_published}/", api(200), variant="published"),
    *[
        Entry(
            "PATCH",
            f"/api/v1/offers/{{offer_{state}}}/",
            api(404) | only(200, *A_WRITERS, "operator") | only(403, "firm_a_read_key"),
            {"title": "Chaises empilables", "description": "Vingt chaises."},
            state,
        )
        for state in ("draft", "published")
    ],
    Entry(
        "POST",
        "/api/v1/offers/{offer_draft}/publish/",
        api(404) | only(200, *A_WRITERS, "operator") | only(403, "firm_a_read_key"),
        variant="draft",
    ),
    Entry(
        "POST",
        "/api/v1/offers/{offer_published}/publish/",
        api(404) | only(409, *A_WRITERS, "operator") | only(403, "firm_a_read_key"),
        variant="published: readable by others, theirs to change only",
    ),
    Entry(
        "POST",
        "/api/v1/offers/{offer_draft}/withdraw/",
        api(404) | only(200, *A_WRITERS, "operator") | only(403, "firm_a_read_key"),
        variant="draft",
    ),
    Entry(
        "POST",
        "/api/v1/offers/{offer_published}/withdraw/",
        api(404) | only(409, *A_WRITERS, "operator") | only(403, "firm_a_read_key"),
        variant="published with an accepted claim",
    ),
    Entry(
        "POST",
        "/api/v1/offers/{offer_published}/close/",
        api(404) | only(200, *A_WRITERS, "operator") | only(403, "firm_a_read_key"),
        variant="published",
    ),
    *[
        Entry(
            "POST",
            f"/api/v1/offers/{{offer_{state}}}/photos/",
            api(404) | only(201, *A_WRITERS, "operator") | only(403, "firm_a_read_key"),
            "photo",
            state,
        )
        for state in ("draft", "published")
    ],
    Entry(
        "GET",
        "/api/v1/offers/{offer_draft}/photos/{photo_draft}/",
        api(404) | only(200, *A_READERS, "operator"),
        variant="draft",
    ),
    Entry("GET", "/api/v1/offers/{offer_published}/photos/{photo_published}/", api(200), variant="published"),
    *[
        Entry(
            "DELETE",
            f"/api/v1/offers/{{offer_{state}}}/photos/{{photo_{state}}}/",
            api(404) | only(204, *A_WRITERS, "operator") | only(403, "firm_a_read_key"),
            variant=state,
        )
        for state in ("draft", "published")
    ],
    Entry(
        "GET",
        "/api/v1/offers/{offer_published}/photos/{photo_draft}/",
        api(404),
        variant="a draft's photo through a published offer",
    ),
    # ---- file imports: who may import is who may create offers; read keys read -----------------------
    Entry(
        "GET",
        "/api/v1/imports/",
        api(200),
        listed=listing({"firm_a": {"import_firm_a"}}, operator={"import_firm_a"}),
    ),
    Entry("POST", "/api/v1/imports/", api(403) | only(202, *OFFERERS), _import_body, "own organisation"),
    Entry(
        "POST",
        "/api/v1/imports/",
        api(404) | only(202, *A_WRITERS, "operator") | only(403, "firm_a_read_key"),
        _for("firm_a", _import_body),
        "naming firm A",
    ),
    Entry("GET", "/api/v1/imports/{import_firm_a}/", api(404) | only(200, *A_READERS, "operator")),
    Entry(
        "GET",
        "/api/v1/import-mappings/",
        api(200),
        listed=listing({"firm_a": {"mapping_firm_a"}}, operator={"mapping_firm_a"}),
    ),
    Entry(
        "POST", "/api/v1/import-mappings/", api(403) | only(201, *OFFERERS), _mapping_body, "own organisation"
    ),
    Entry(
        "POST",
        "/api/v1/import-mappings/",
        api(404) | only(201, *A_WRITERS, "operator") | only(403, "firm_a_read_key"),
        _for("firm_a", _mapping_body),
        "naming firm A",
    ),
    Entry("GET", "/api/v1/import-mappings/{mapping_firm_a}/", api(404) | only(200, *A_READERS, "operator")),
    Entry(
        "PATCH",
        "/api/v1/import-mappings/{mapping_firm_a}/",
        api(404) | only(200, *A_WRITERS, "operator") | only(403, "firm_a_read_key"),
        {"name": "ERP (nuit)", "defaults": {"unit": "pallet"}},
    ),
    Entry(
        "DELETE",
        "/api/v1/import-mappings/{mapping_firm_a}/",
        api(404) | only(204, *A_WRITERS, "operator") | only(403, "firm_a_read_key"),
    ),
    # ---- webhooks: an organisation's administrators, and the operator --------------------------------
    Entry(
        "GET",
        "/api/v1/webhook-endpoints/",
        api(200),
        listed=listing(firm_a={"webhook_firm_a"}, operator={"webhook_firm_a"}),
    ),
    Entry(
        "POST",
        "/api/v1/webhook-endpoints/",
        api(403) | only(201, *ADMINS_OF_ONE_ORG),
        {"url": WEBHOOK_URL, "event_types": ["offer.published"]},
        "own organisation",
    ),
    Entry(
        "POST",
        "/api/v1/webhook-endpoints/",
        api(404) | only(201, "firm_a", "operator") | only(403, *A_NON_ADMINS),
        lambda world, caller: {
            "organisation": world.ids["org_firm_a"],
            "url": WEBHOOK_URL,
            "event_types": ["claim.accepted"],
        },
        "naming firm A",
    ),
    *(
        Entry(method, path, api(404) | only(status, "firm_a", "operator") | only(403, *A_NON_ADMINS), body)
        for method, path, status, body in (
            ("GET", "/api/v1/webhook-endpoints/{webhook_firm_a}/", 200, None),
            ("PATCH", "/api/v1/webhook-endpoints/{webhook_firm_a}/", 200, {"description": "ERP"}),
            ("DELETE", "/api/v1/webhook-endpoints/{webhook_firm_a}/", 204, None),
            ("POST", "/api/v1/webhook-endpoints/{webhook_firm_a}/rotate-secret/", 200, {"overlap_hours": 1}),
            ("GET", "/api/v1/webhook-deliveries/{delivery_firm_a}/", 200, None),
            ("POST", "/api/v1/webhook-deliveries/{delivery_firm_a}/replay/", 202, None),
        )
    ),
    Entry(
        "GET",
        "/api/v1/webhook-deliveries/",
        api(200),
        listed=listing(firm_a={"delivery_firm_a"}, operator={"delivery_firm_a"}),
    ),
    # ---- needs and matches ------------------------------------------------------------------------
    Entry(
        "GET",
        "/api/v1/needs/",
        api(200),
        listed=listing(
            {o: {f"need_{o}"} for o in ("assoc_a", "assoc_b")}, operator={"need_assoc_a", "need_assoc_b"}
        ),
    ),
    Entry(
        "POST",
        "/api/v1/needs/",
        api(403) | only(201, *RECIPIENTS),
        _need_body,
        "own organisation",
    ),
    Entry(
        "POST",
        "/api/v1/needs/",
        api(404) | only(201, "assoc_a", "operator") | only(403, "firm_a_read_key"),
        _for("assoc_a", _need_body),
        "naming association A",
    ),
    Entry("GET", "/api/v1/needs/{need_assoc_a}/", api(404) | only(200, "assoc_a", "operator")),
    Entry(
        "PATCH",
        "/api/v1/needs/{need_assoc_a}/",
        api(404) | only(200, "assoc_a", "operator") | only(403, "firm_a_read_key"),
        {"title": "Chaises et tables", "radius_m": 4000},
    ),
    Entry(
        "DELETE",
        "/api/v1/needs/{need_assoc_a}/",
        api(404) | only(204, "assoc_a", "operator") | only(403, "firm_a_read_key"),
    ),
    Entry(
        "GET",
        "/api/v1/needs/{need_assoc_a}/matches/",
        api(404) | only(200, "assoc_a", "operator"),
        listed=listing(
            assoc_a={"offer_published", "offer_auto", "offer_collected"},
            operator={"offer_published", "offer_auto", "offer_collected"},
        ),
        listed_at="results[].offer.id",
    ),
    Entry(
        "GET",
        "/api/v1/matches/",
        api(200),
        listed=listing(MATCHES, operator=MATCHES["assoc_a"] | MATCHES["assoc_b"]),
    ),
    Entry(
        "GET",
        "/api/v1/organisations/{org_assoc_a}/match-alerts/",
        api(404) | only(200, "assoc_a", "operator"),
    ),
    Entry(
        "PUT",
        "/api/v1/organisations/{org_assoc_a}/match-alerts/",
        api(404) | only(200, "assoc_a", "operator") | only(403, "firm_a_read_key"),
        {"mode": "daily"},
    ),
    # ---- claims -----------------------------------------------------------------------------------
    Entry(
        "GET",
        "/api/v1/claims/",
        api(200),
        listed=listing(CLAIMS, operator=set().union(*CLAIMS.values())),
    ),
    Entry(
        "POST",
        "/api/v1/claims/",
        api(403) | only(201, "assoc_a", "assoc_b"),
        lambda world, caller: {"offer": world.ids["offer_published"], "quantity": "1"},
        "a published offer",
    ),
    Entry(
        "POST",
        "/api/v1/claims/",
        api(403) | only(404, "assoc_a", "assoc_b"),
        lambda world, caller: {"offer": world.ids["offer_draft"], "quantity": "1"},
        "another organisation's draft",
    ),
    Entry(
        "POST",
        "/api/v1/claims/",
        api(404) | only(201, "assoc_a", "operator") | only(403, "firm_a_read_key"),
        lambda world, caller: {
            "offer": world.ids["offer_published"],
            "quantity": "1",
            "organisation": world.ids["org_assoc_a"],
        },
        "naming association A",
    ),
    *[
        Entry(
            "GET",
            f"/api/v1/claims/{{claim_{state}}}/",
            api(404) | only(200, *A_READERS, "assoc_a", "operator"),
            variant=state,
        )
        for state in ("requested", "accepted", "collected")
    ],
    *[
        Entry(
            "POST",
            f"/api/v1/claims/{{claim_requested}}/{action}/",
            api(404) | only(200, *A_WRITERS) | only(403, "firm_a_read_key", "assoc_a", "operator"),
            {},
            "requested",
        )
        for action in ("accept", "decline")
    ],
    Entry(
        "POST",
        "/api/v1/claims/{claim_requested}/cancel/",
        api(404) | only(200, *A_WRITERS, "assoc_a", "operator") | only(403, "firm_a_read_key"),
        {"reason": "Plus besoin."},
        "requested",
    ),
    Entry(
        "POST",
        "/api/v1/claims/{claim_accepted}/cancel/",
        api(404) | only(200, *A_WRITERS, "assoc_a", "operator") | only(403, "firm_a_read_key"),
        {"reason": "Camion en panne."},
        "accepted",
    ),
    Entry(
        "POST",
        "/api/v1/claims/{claim_accepted}/handover/",
        api(404) | only(201, *A_WRITERS, "assoc_a") | only(403, "firm_a_read_key", "operator"),
        {"mass_kg": "13.5"},
        "accepted",
    ),
    # The lender or the operator records a return; the world's claims are not loans, so the callers who
    # may record one hear 409 `not_a_loan` (the 200 is in tests/test_loans.py).
    Entry(
        "POST",
        "/api/v1/claims/{claim_collected}/return/",
        api(404) | only(409, *A_WRITERS, "operator") | only(403, "firm_a_read_key", "assoc_a"),
        {"condition": "as_lent"},
        "collected, not a loan",
    ),
    # ---- the ledger -------------------------------------------------------------------------------
    Entry(
        "GET",
        "/api/v1/handovers/",
        api(200),
        listed=listing(HANDOVERS, operator={"handover", "handover_b"}),
    ),
    Entry("GET", "/api/v1/handovers/?format=csv", api(200), variant="csv"),
    Entry("GET", "/api/v1/handovers/{handover}/", api(404) | only(200, *A_READERS, "assoc_a", "operator")),
    Entry(
        "POST",
        "/api/v1/handovers/{handover}/confirm/",
        api(404) | only(200, "assoc_a") | only(403, *A_READERS, "operator"),
        variant="recorded by the donor",
    ),
    Entry(
        "POST",
        "/api/v1/handovers/{handover}/dispute/",
        api(404) | only(200, "assoc_a") | only(403, *A_READERS, "operator"),
        {"reason": "Il manquait dix kilos."},
        "recorded by the donor",
    ),
    Entry(
        "POST",
        "/api/v1/handovers/{handover}/reverse/",
        api(404) | only(201, *A_WRITERS, "assoc_a", "operator") | only(403, "firm_a_read_key"),
        {"reason": "Saisie en double."},
    ),
    # The world's row is pending, not disputed: the parties pass authorization and meet the state
    # (409 not_disputed); settling a disputed row is tested in tests/test_ledger_corrections.py.
    Entry(
        "POST",
        "/api/v1/handovers/{handover}/proposals/",
        api(404)
        | only(409, "firm_a", "firm_a_member", "firm_a_key", "assoc_a")
        | only(403, "firm_a_read_key", "operator"),
        {"mass_kg": "38", "reason": "Pesée refaite."},
    ),
    # What a lot became: the recipient reports it (firm A's row has no report yet: the first is a 201),
    # the parties and the operator read it (association B's row has one).
    Entry(
        "PUT",
        "/api/v1/handovers/{handover}/outcome/",
        api(404) | only(201, "assoc_a", "operator") | only(403, *A_READERS),
        {"people_reached": 4, "young_people": 1, "use": "digital_inclusion"},
    ),
    Entry(
        "GET",
        "/api/v1/handovers/{handover_b}/outcome/",
        api(404) | only(200, "firm_b", "firm_b_key", "assoc_b", "operator"),
    ),
    # ---- tax receipts: association A issued one to firm A for its valued lot --------------------------
    Entry(
        "GET",
        "/api/v1/receipts/",
        api(200),
        listed=listing({"firm_a": {"receipt"}, "assoc_a": {"receipt"}}, operator={"receipt"}),
    ),
    # The world's only valued lot is on its receipt: the issuer passes authorization and meets the
    # ledger (400 nothing_to_receipt); issuing for real is tested in tests/test_receipts_api.py.
    Entry(
        "POST",
        "/api/v1/receipts/",
        api(404) | only(400, "assoc_a", "operator") | only(403, "firm_a_read_key"),
        lambda world, caller: {
            "association": world.ids["org_assoc_a"],
            "donor": world.ids["org_firm_a"],
            "period_start": str(timezone.localdate().replace(day=1)),
            "period_end": str(timezone.localdate()),
        },
    ),
    Entry("GET", "/api/v1/receipts/{receipt}/", api(404) | only(200, *A_READERS, "assoc_a", "operator")),
    Entry("GET", "/api/v1/receipts/{receipt}/pdf/", api(404) | only(200, *A_READERS, "assoc_a", "operator")),
    Entry(
        "POST",
        "/api/v1/receipts/{receipt}/cancel/",
        api(404) | only(200, "assoc_a", "operator") | only(403, *A_READERS),
        {"reason": "Erreur de période."},
    ),
    Entry(
        "GET",
        f"/api/v1/receipts/totals/?year={timezone.localdate().year}&organisation={{org_firm_a}}",
        api(404) | only(200, *A_READERS, "operator"),
        variant="donor",
    ),
    Entry(
        "GET",
        f"/api/v1/receipts/totals/?year={timezone.localdate().year}&organisation={{org_firm_a}}&format=csv",
        api(404) | only(200, *A_READERS, "operator"),
        variant="donor, csv",
    ),
    Entry(
        "GET",
        f"/api/v1/receipts/totals/?year={timezone.localdate().year}&organisation={{org_assoc_a}}",
        api(404) | only(200, "assoc_a", "operator"),
        variant="association",
    ),
    # ---- statistics -------------------------------------------------------------------------------
    Entry("GET", "/api/v1/stats/summary/", api(200)),
    Entry("GET", "/api/v1/stats/summary/?territory=59350", api(200) | only(404, "city"), variant="Lille"),
    Entry("GET", "/api/v1/stats/summary/?format=csv", api(200), variant="csv"),
    Entry("GET", "/api/v1/stats/timeseries/?interval=month&group_by=territory", api(200)),
    Entry("GET", "/api/v1/stats/territories/", api(200)),
    Entry("GET", "/api/v1/stats/ledger/", api(403) | only(200, "city", "mel", "operator")),
    Entry(
        "GET",
        "/api/v1/stats/ledger/?format=csv",
        api(403) | only(200, "city", "mel", "operator"),
        variant="csv",
    ),
    Entry(
        "GET",
        "/api/v1/stats/reports/",
        api(200),
        listed=listing(
            city={"report_roubaix"},
            mel={"report_roubaix", "report_all"},
            operator={"report_roubaix", "report_all"},
        ),
    ),
    *[
        Entry(
            "GET",
            f"/api/v1/stats/reports/{{report_{report}}}/{kind}/",
            api(404) | only(200, *readers),
            variant=report,
        )
        for report, readers in (("roubaix", ("city", "mel", "operator")), ("all", ("mel", "operator")))
        for kind in ("csv", "html")
    ],
    Entry("GET", "/api/v1/organisations/{org_firm_a}/impact/", api(404) | only(200, *A_READERS, "operator")),
    Entry("GET", "/api/v1/organisations/{org_assoc_a}/impact/", api(404) | only(200, "assoc_a", "operator")),
    # ---- documentation and health -----------------------------------------------------------------
    Entry("GET", "/api/schema/", public(200), sample=ONE_OF_EACH),
    Entry("GET", "/api/docs/", public(200), sample=ONE_OF_EACH),
    Entry("GET", "/healthz", anyone(200)),
]

# The dashboard: people with a session; keys, nobody and the removed member (whose sessions ended with
# the removal) are sent to the log-in page.
SESSION = tuple(name for name in PEOPLE if name != "firm_a_removed")
NO_SESSION = tuple(name for name in CALLERS if name not in SESSION)


def dashboard(for_session: int, for_others: int) -> dict[str, int]:
    return {**only(for_session, *SESSION), **only(for_others, *NO_SESSION)}


HTML_ENTRIES: list[Entry] = [
    Entry("GET", "/dashboard/", dashboard(200, 302), html=True),
    Entry(
        "GET",
        "/dashboard/?territory=59350",
        dashboard(200, 302) | only(404, "city"),
        variant="Lille",
        html=True,
    ),
    Entry("GET", "/dashboard/login/", dashboard(302, 200), html=True),
    Entry(
        "POST",
        "/dashboard/login/",
        dashboard(302, 302),
        {"username": "admin@meubles.example", "password": PASSWORD},
        html=True,
    ),
    Entry("PUT", "/dashboard/login/", dashboard(302, 200), html=True),
    Entry("POST", "/dashboard/logout/", dashboard(302, 302), html=True),
    *[
        Entry("GET", f"/dashboard/export/{table}/{query}", dashboard(200, 403), html=True)
        for table, query in (("summary", ""), ("timeseries", "?interval=month"), ("territories", ""))
    ],
    Entry(
        "GET",
        "/dashboard/export/ledger/?outlier=true&format=csv",
        dashboard(403, 403) | only(200, "city", "mel", "operator"),
        html=True,
    ),
]

ENTRIES = API_ENTRIES + HTML_ENTRIES


# ---- the admin: one rule over every URL it has ----------------------------------------------------


@dataclass(frozen=True)
class AdminCase:
    route: str
    method: str
    url: str
    staff_status: int

    @property
    def id(self) -> str:
        return f"{self.method} {self.route}"


# What the staff gets where it is not a 200 page, by route (model pages: with <app>/<model>).
ADMIN_STAFF_STATUS = {
    "admin/login/": 302,  # already logged in: sent on to the index
    "admin/logout/": 302,
    "admin/autocomplete/": 403,  # without a field to complete
    "admin/r/<path:content_type_id>/<path:object_id>/": 404,  # no model of the project has a public page
    "admin/(?P<url>.*)$": 404,  # the catch-all after every admin URL
    "admin/<app>/<model>/<path:object_id>/": 302,  # on to the change page
}
# Models the admin shows but neither adds nor deletes (403 to the staff too): their rows come from the
# services (offers, claims, the ledger, tax receipts, needs…), from the reference data loaders, or from
# the requests themselves (keys, invitations, sign-ups, tokens); the operator acts on them through admin
# actions.
ADMIN_NO_ADD = {
    "claims.claim",
    "claims.handover",
    "claims.handoverconfirmation",
    "exchange.offer",
    "exchange.offerimport",
    "impact.dailyrollup",
    "impact.monthlyreport",
    "matching.match",
    "matching.matchalertpreference",
    "matching.need",
    "organisations.apikey",
    "organisations.invitation",
    "organisations.registration",
    "receipts.receipt",
    "territories.territory",
    "token_blacklist.outstandingtoken",
}
# Proposals are added (the operator settles a handover) but never deleted.
ADMIN_NO_DELETE = ADMIN_NO_ADD | {"inventory.category", "inventory.factorversion", "claims.handoverproposal"}
# The admin reads nothing but the session: these stand for every kind of caller (the staff; a person
# with a live session; one whose sessions ended; an API key, whose header the admin ignores; nobody).
ADMIN_CALLERS = ("operator", "firm_a", "firm_a_removed", "firm_a_key", "anonymous")
MODEL_PREFIX = re.compile(r"^admin/(?P<app>[a-z_]+)/(?P<model>[a-z_]+)/")


def admin_routes() -> list[tuple[str, str | None]]:
    """(route, URL name) of every admin URL."""
    return [(route, name) for route, name, _view in _walk() if route.startswith("admin/")]


def admin_cases(world: World) -> list[AdminCase]:
    """Every admin URL with real objects. Non-staff callers are sent to the log-in page whatever they
    ask (GET and POST); the staff's status is ADMIN_STAFF_STATUS or 200. Fails on a URL the rule
    cannot fill in, so that a new kind of admin page has to be looked at."""
    models = {(m._meta.app_label, m._meta.model_name): m for m in admin.site._registry}
    cases = []
    for route, name in admin_routes():
        url, shape = _admin_url(world, route, models)
        status = ADMIN_STAFF_STATUS.get(route, ADMIN_STAFF_STATUS.get(shape, 200))
        if match := MODEL_PREFIX.match(route):
            label = f"{match['app']}.{match['model']}"
            if (shape.endswith("/add/") and label in ADMIN_NO_ADD) or (
                shape.endswith("/delete/") and label in ADMIN_NO_DELETE
            ):
                status = 403
        methods = ("POST",) if name == "logout" else ("GET", "POST")
        cases.extend(AdminCase(route, method, url, status) for method in methods)
    return cases


def _admin_url(world: World, route: str, models: dict[tuple[str, str], type]) -> tuple[str, str]:
    """(URL, route shape) of an admin route: model pages opened on the model's first object."""
    if route == "admin/(?P<url>.*)$":
        return "/admin/nothing-here/", route
    if "(?P<app_label>" in route:
        return "/admin/organisations/", route
    if route.startswith("admin/r/"):
        content_type = ContentType.objects.get_for_model(world.orgs["firm_a"])
        return f"/admin/r/{content_type.pk}/{world.orgs['firm_a'].pk}/", route
    match = MODEL_PREFIX.match(route)
    model = models.get((match["app"], match["model"])) if match else None
    shape = MODEL_PREFIX.sub("admin/<app>/<model>/", route) if model else route
    if "<" not in route:
        return "/" + route, shape
    assert model is not None, f"the admin rule cannot fill in {route}: teach it"
    instance = model._default_manager.order_by("pk").first()
    assert instance is not None, f"the world has no {model.__name__}: add one so that {route} is checked"
    url = "/" + re.sub(r"<[^>]+>", str(instance.pk), route)
    return url, shape


# ---- every URL of the project ---------------------------------------------------------------------


def _walk(resolver: URLResolver | None = None, prefix: str = "") -> Iterator[tuple[str, str | None, Any]]:
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern.name, pattern.callback


def view_methods(callback) -> set[str]:
    """The methods a view answers, from its class; plain functions (the dashboard) answer GET.
    HEAD and OPTIONS have their own rules (tests/test_isolation_matrix.py)."""
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view_class is None:
        wrapped = callback
        while hasattr(wrapped, "__wrapped__") and getattr(wrapped, "view_class", None) is None:
            wrapped = wrapped.__wrapped__
        view_class = getattr(wrapped, "view_class", None)
    if view_class is None:
        return {"GET"}
    return {
        m.upper()
        for m in view_class.http_method_names
        if hasattr(view_class, m) and m not in ("options", "head")
    }


# Added by config/urls.py in DEBUG only (development): Django serves MEDIA_ROOT itself. Covered by its own
# rule, tests/test_isolation_matrix.py::test_media_files_in_development.
DEBUG_MEDIA_ROUTE = "^media/(?P<path>.*)$"


def project_routes() -> list[tuple[str, str | None, set[str]]]:
    """(route, name, methods) of every URL outside the admin and the development media route."""
    return [
        (route, name, view_methods(callback))
        for route, name, callback in _walk()
        if not route.startswith("admin/") and route != DEBUG_MEDIA_ROUTE
    ]


def media_route() -> str | None:
    """The development media route, or None outside DEBUG."""
    return next((route for route, _name, _view in _walk() if route == DEBUG_MEDIA_ROUTE), None)
