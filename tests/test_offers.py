import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.gis.geos import Point
from django.db.models import F
from django.utils import timezone
from PIL import Image

from claims.models import Claim, ClaimStatus
from core.models import DomainEvent
from exchange.models import Offer, OfferStatus
from inventory.models import Category
from organisations.actors import Actor
from organisations.geo import approximate_point
from organisations.models import MembershipRole, OrganisationKind
from organisations.services import api_key_create

from .conftest import client_for, client_for_key, make_member, make_offer, make_org, make_site

pytestmark = pytest.mark.django_db

URL = "/api/v1/offers/"
# A yard in Roubaix that is not on a grid-cell centre, so the approximate point differs from it.
YARD = Point(3.17123, 50.69011, srid=4326)


def category(key="furniture", parent=None, **extra) -> Category:
    defaults = {"name_fr": key.capitalize(), "name_en": key.capitalize(), "default_unit": "piece", **extra}
    return Category.objects.get_or_create(key=key, parent=parent, defaults=defaults)[0]


def body(site, cat, /, **over):
    return {
        "site": site.id,
        "category": cat.id,
        "title": "Chaises de bureau",
        "quantity": "12",
        "unit": "piece",
        "condition": "good",
        **over,
    }


def offer_events(offer_id=None):
    qs = DomainEvent.objects.filter(aggregate_type="offer").order_by("id")
    if offer_id is not None:
        qs = qs.filter(aggregate_id=offer_id)
    return [(e.name, e.actor, e.organisation_id, e.payload.get("status")) for e in qs]


def reserve(offer: Offer, quantity) -> None:
    """What an accepted claim does to the offer (the claims layer's conditional update)."""
    updated = Offer.objects.filter(pk=offer.pk, remaining_quantity__gte=quantity).update(
        remaining_quantity=F("remaining_quantity") - Decimal(quantity),
        reserved_quantity=F("reserved_quantity") + Decimal(quantity),
    )
    assert updated == 1


def write_key(organisation, scopes=("read", "write")) -> str:
    admin = make_member(organisation, MembershipRole.ADMIN)
    return api_key_create(
        actor=Actor.for_user(admin), organisation_id=organisation.id, name="ERP", scopes=scopes
    )[1]


# ---- creation -------------------------------------------------------------------------------------


def test_member_creates_a_draft_then_publishes_it(firm):
    user = make_member(firm, MembershipRole.MEMBER)
    firm.email, firm.phone = "dons@menuiserie.example", "+33 3 20 00 00 00"
    firm.save()
    site = make_site(firm, YARD, name="Cour arrière")
    site.address = "12 rue de l'Épeule, Roubaix"
    site.save()
    cat = category()
    client = client_for(user)

    response = client.post(
        URL,
        body(
            site,
            cat,
            description="Assise tissu, dossier réglable",
            pickup_instructions="Sonner au portail 3",
            external_ref="ERP-001",
            available_until=(timezone.now() + timedelta(days=30)).isoformat(),
        ),
        format="json",
    )

    assert response.status_code == 201, response.content
    created = response.json()
    offer = Offer.objects.get()
    assert created["id"] == offer.id
    assert created["status"] == "draft"
    assert created["quantity"] == "12.000"
    assert created["remaining_quantity"] == "12.000"
    assert created["reserved_quantity"] == "0.000"
    assert created["mode"] == "donation"
    assert created["price_eur"] is None
    assert created["organisation"] == {"id": firm.id, "name": "Menuiserie du Nord", "kind": "company"}
    assert created["category"] == {"id": cat.id, "key": "furniture", "path": "furniture", "name": "Furniture"}
    assert created["location"] == {"type": "Point", "coordinates": [3.17123, 50.69011]}
    assert created["location_is_approximate"] is False
    assert created["site"] == {
        "id": site.id,
        "name": "Cour arrière",
        "address": "12 rue de l'Épeule, Roubaix",
    }
    assert created["contact"] == {
        "email": "dons@menuiserie.example",
        "phone": "+33 3 20 00 00 00",
        "website": "",
    }
    assert created["pickup_instructions"] == "Sonner au portail 3"
    assert created["external_ref"] == "ERP-001"
    assert created["published_at"] is None
    assert created["photos"] == []
    assert offer.location.coords == (3.17123, 50.69011)
    assert offer.public_location.coords == approximate_point(YARD).coords
    assert offer_events() == [("offer.created", f"user:{user.id}", firm.id, "draft")]

    published = client.post(f"{URL}{offer.id}/publish/")
    assert published.status_code == 200, published.content
    assert published.json()["status"] == "published"
    assert published.json()["published_at"] is not None
    offer.refresh_from_db()
    assert offer.status == OfferStatus.PUBLISHED
    assert offer_events() == [
        ("offer.created", f"user:{user.id}", firm.id, "draft"),
        ("offer.published", f"user:{user.id}", firm.id, "published"),
    ]
    event = DomainEvent.objects.get(name="offer.published")
    assert event.payload == {"status": "published", "category_id": cat.id, "site_id": site.id}


def test_create_with_publish_true_publishes_at_once(firm):
    client = client_for(make_member(firm))
    response = client.post(URL, body(make_site(firm), category(), publish=True), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "published"
    assert [name for name, *_ in offer_events()] == ["offer.created", "offer.published"]


def test_api_key_with_write_scope_creates_and_read_key_cannot(firm):
    site, cat = make_site(firm), category()
    raw = write_key(firm)
    response = client_for_key(raw).post(URL, body(site, cat, external_ref="SKU-9"), format="json")
    assert response.status_code == 201, response.content
    prefix = raw.split("_")[1]
    assert offer_events() == [("offer.created", f"api-key:{prefix}", firm.id, "draft")]

    reader = client_for_key(write_key(firm, scopes=("read",)))
    refused = reader.post(URL, body(site, cat), format="json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"
    assert Offer.objects.count() == 1
    assert [o["id"] for o in reader.get(URL).json()["results"]] == [response.json()["id"]]


def test_a_retried_create_with_the_same_idempotency_key_creates_one_offer(firm):
    client = client_for_key(write_key(firm))
    payload = body(make_site(firm), category(), external_ref="ERP-77")
    first = client.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="lot-77")
    again = client.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="lot-77")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Offer.objects.count() == 1
    assert [name for name, *_ in offer_events()] == ["offer.created"]


@pytest.mark.parametrize("kind", [OrganisationKind.ASSOCIATION, OrganisationKind.PROJECT])
def test_associations_and_projects_cannot_create_offers(kind):
    org = make_org(kind)
    response = client_for(make_member(org)).post(URL, body(make_site(org), category()), format="json")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "organisation_kind_cannot_offer"
    assert Offer.objects.count() == 0


def test_public_authority_creates_offers():
    city = make_org(OrganisationKind.PUBLIC_AUTHORITY, name="Ville de Roubaix")
    response = client_for(make_member(city)).post(URL, body(make_site(city), category()), format="json")
    assert response.status_code == 201


def test_unverified_firm_drafts_but_cannot_publish():
    firm = make_org(verified=False)
    client = client_for(make_member(firm))
    site, cat = make_site(firm), category()

    refused = client.post(URL, body(site, cat, publish=True), format="json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "organisation_not_verified"
    assert Offer.objects.count() == 0
    assert offer_events() == []

    draft = client.post(URL, body(site, cat), format="json")
    assert draft.status_code == 201
    offer_id = draft.json()["id"]
    refused = client.post(f"{URL}{offer_id}/publish/")
    assert refused.status_code == 403
    assert refused.json()["code"] == "organisation_not_verified"
    assert Offer.objects.get().status == OfferStatus.DRAFT
    assert [name for name, *_ in offer_events()] == ["offer.created"]


def _foreign_site():
    return make_site(make_org(name="Autre entreprise"))


@pytest.mark.parametrize(
    ("over", "field", "code"),
    [
        ({"quantity": "0"}, "quantity", "min_value"),
        ({"quantity": "-3"}, "quantity", "min_value"),
        ({"quantity": "1.0001"}, "quantity", "max_decimal_places"),
        ({"unit": "kilo"}, "unit", "invalid_choice"),
        ({"condition": "broken"}, "condition", "invalid_choice"),
        ({"category": 999999}, "category", "invalid"),
        ({"site": "foreign"}, "site", "invalid"),
        ({"site": "retired"}, "site", "invalid"),
        ({"site": 999999}, "site", "invalid"),
        ({"price_eur": "10.00"}, "price_eur", "invalid"),
        ({"mode": "sale"}, "price_eur", "invalid"),
        ({"mode": "sale", "price_eur": "-1"}, "price_eur", "min_value"),
        ({"unit": "kg", "mass_per_unit_kg": "2"}, "mass_per_unit_kg", "invalid"),
        ({"unit": "t", "mass_per_unit_kg": "1"}, "mass_per_unit_kg", "invalid"),
        ({"mass_per_unit_kg": "0"}, "mass_per_unit_kg", "min_value"),
        (
            {"available_from": "2026-06-10T10:00:00+02:00", "available_until": "2026-06-01T10:00:00+02:00"},
            "available_until",
            "invalid",
        ),
        ({"title": ""}, "title", "blank"),
    ],
)
def test_bad_input_is_a_400_problem_and_nothing_is_saved(firm, over, field, code):
    site = make_site(firm)
    if over.get("site") == "foreign":
        over["site"] = _foreign_site().id
    elif over.get("site") == "retired":
        retired = make_site(firm, name="Ancien dépôt")
        retired.is_active = False
        retired.save()
        over["site"] = retired.id
    response = client_for(make_member(firm)).post(URL, body(site, category(), **over), format="json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [(field, code)]
    assert Offer.objects.count() == 0
    assert offer_events() == []


def test_unknown_category_and_foreign_site_are_reported_together(firm):
    response = client_for(make_member(firm)).post(
        URL, {**body(_foreign_site(), category()), "category": 424242}, format="json"
    )
    assert response.status_code == 400
    assert sorted(e["field"] for e in response.json()["errors"]) == ["category", "site"]


def test_duplicate_external_ref_is_a_409_naming_the_offer(firm):
    client = client_for(make_member(firm))
    site, cat = make_site(firm), category()
    first = client.post(URL, body(site, cat, external_ref="LOT-42"), format="json").json()
    response = client.post(URL, body(site, cat, external_ref="LOT-42"), format="json")
    assert response.status_code == 409
    problem = response.json()
    assert problem["code"] == "external_ref_taken"
    assert problem["offer_id"] == first["id"]
    assert problem["external_ref"] == "LOT-42"
    assert Offer.objects.count() == 1
    # Another organisation may use the same reference.
    other = make_org(name="Autre")
    assert (
        client_for(make_member(other)).post(
            URL, body(make_site(other), cat, external_ref="LOT-42"), format="json"
        )
    ).status_code == 201


def test_sale_with_price_and_mass_units(firm):
    client = client_for(make_member(firm))
    site = make_site(firm)
    sale = client.post(
        URL, body(site, category(), mode="sale", price_eur="45.50", mass_per_unit_kg="7.25"), format="json"
    ).json()
    assert (sale["mode"], sale["price_eur"]) == ("sale", "45.50")
    assert (sale["mass_per_unit_kg"], sale["total_mass_kg"], sale["total_mass_is_estimated"]) == (
        "7.250",
        "87.000",
        False,
    )
    bricks = client.post(
        URL, body(site, category("bricks", default_unit="t"), unit="t", quantity="2.5"), format="json"
    ).json()
    assert (bricks["mass_per_unit_kg"], bricks["total_mass_kg"]) == ("1000.000", "2500.000")
    kilos = client.post(
        URL, body(site, category(), unit="kg", quantity="40", mass_per_unit_kg="1"), format="json"
    )
    assert kilos.status_code == 201
    assert kilos.json()["total_mass_kg"] == "40.000"


def test_total_mass_falls_back_on_the_category_typical_mass_in_its_own_unit(firm):
    client = client_for(make_member(firm))
    site = make_site(firm)
    desks = category("desks", typical_mass_kg=Decimal("30"))
    estimated = client.post(URL, body(site, desks, quantity="4"), format="json").json()
    assert (
        estimated["mass_per_unit_kg"],
        estimated["total_mass_kg"],
        estimated["total_mass_is_estimated"],
    ) == (
        None,
        "120.000",
        True,
    )
    # Counted in pallets, the typical mass of one desk says nothing: unknown.
    unknown = client.post(URL, body(site, desks, quantity="4", unit="pallet"), format="json").json()
    assert (unknown["total_mass_kg"], unknown["total_mass_is_estimated"]) == (None, False)


# ---- visibility -----------------------------------------------------------------------------------


def test_others_see_a_published_offer_at_its_approximate_place_only(firm, association, operator_user):
    firm.email = "dons@menuiserie.example"
    firm.save()
    offer = make_offer(
        firm, site=make_site(firm, YARD), pickup_instructions="Portail 3", external_ref="ERP-7", quantity=5
    )
    seen = client_for(make_member(association)).get(f"{URL}{offer.id}/").json()
    cell = approximate_point(YARD)
    assert seen["location"] == {"type": "Point", "coordinates": [cell.x, cell.y]}
    assert seen["location"] != {"type": "Point", "coordinates": [3.17123, 50.69011]}
    assert seen["location_is_approximate"] is True
    assert (seen["site"], seen["contact"], seen["pickup_instructions"], seen["external_ref"]) == (
        None,
        None,
        None,
        None,
    )
    # Same answer for a member of another firm, and for the operator.
    for client in (client_for(make_member(make_org())), client_for(operator_user)):
        other = client.get(f"{URL}{offer.id}/").json()
        assert (other["location"], other["location_is_approximate"], other["site"]) == (
            seen["location"],
            True,
            None,
        )


def test_a_recipient_with_an_accepted_claim_sees_the_exact_place(firm, association):
    offer = make_offer(firm, site=make_site(firm, YARD), pickup_instructions="Portail 3", quantity=5)
    member = make_member(association)
    Claim.objects.create(
        offer=offer,
        organisation=association,
        quantity=Decimal("2"),
        status=ClaimStatus.REQUESTED,
    )
    assert client_for(member).get(f"{URL}{offer.id}/").json()["location_is_approximate"] is True
    Claim.objects.filter(offer=offer).update(
        status=ClaimStatus.ACCEPTED,
        accepted_at=timezone.now(),
        location_revealed_at=timezone.now(),
        pickup_deadline=timezone.now() + timedelta(days=2),
    )
    seen = client_for(member).get(f"{URL}{offer.id}/").json()
    assert seen["location"] == {"type": "Point", "coordinates": [3.17123, 50.69011]}
    assert seen["location_is_approximate"] is False
    assert seen["pickup_instructions"] == "Portail 3"
    assert seen["site"]["name"] == "Dépôt"
    assert seen["external_ref"] is None  # the donor's own reference stays the donor's


@pytest.mark.parametrize("status", ["draft", "withdrawn"])
def test_another_organisations_draft_or_withdrawn_offer_is_absent(firm, association, status):
    offer = make_offer(firm, status=status)
    for user in (make_member(make_org()), make_member(association)):
        response = client_for(user).get(f"{URL}{offer.id}/")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("status", ["published", "exhausted", "closed", "expired"])
def test_offers_that_were_public_stay_readable(firm, association, status):
    offer = make_offer(firm, status=status)
    assert client_for(make_member(association)).get(f"{URL}{offer.id}/").json()["status"] == status


# ---- authorization matrix -------------------------------------------------------------------------


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (30, 90, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png()


def _photo(offer):
    from django.core.files.base import ContentFile

    from exchange.models import OfferPhoto

    photo = OfferPhoto(offer=offer, content_type="image/png", size_bytes=len(PNG))
    photo.image.save("p.png", ContentFile(PNG), save=True)
    return photo


def _upload():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return {"image": SimpleUploadedFile("p.png", PNG, content_type="image/png")}


# route → (method, path, status of the offer beforehand, body, success status)
ROUTES = {
    "retrieve": ("get", "{o}/", "draft", None, 200),
    "update": ("patch", "{o}/", "draft", {"title": "Tables"}, 200),
    "publish": ("post", "{o}/publish/", "draft", None, 200),
    "withdraw": ("post", "{o}/withdraw/", "draft", None, 200),
    "close": ("post", "{o}/close/", "published", None, 200),
    "photo_add": ("post", "{o}/photos/", "draft", "upload", 201),
    "photo_get": ("get", "{o}/photos/{p}/", "draft", None, 200),
    "photo_delete": ("delete", "{o}/photos/{p}/", "draft", None, 204),
}
CALLERS = ["owner_member", "owner_write_key", "owner_read_key", "other_firm", "association", "operator"]


def _client(caller, firm, association, operator_user):
    if caller == "owner_member":
        return client_for(make_member(firm, MembershipRole.MEMBER))
    if caller == "owner_write_key":
        return client_for_key(write_key(firm))
    if caller == "owner_read_key":
        return client_for_key(write_key(firm, scopes=("read",)))
    if caller == "other_firm":
        return client_for(make_member(make_org(name="Concurrent")))
    if caller == "association":
        return client_for(make_member(association))
    return client_for(operator_user)


def _expected(caller, method, success):
    if caller in ("owner_member", "owner_write_key", "operator"):
        return success
    if caller == "owner_read_key":
        return success if method == "get" else 403
    return 404


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", list(ROUTES))
def test_authorization_matrix_on_a_draft(settings, tmp_path, firm, association, operator_user, caller, route):
    settings.MEDIA_ROOT = tmp_path
    method, template, status, data, success = ROUTES[route]
    offer = make_offer(firm, status=status)
    photo = _photo(offer)
    before = (
        Offer.objects.get(pk=offer.pk).status,
        Offer.objects.get(pk=offer.pk).title,
        offer.photos.count(),
    )
    client = _client(caller, firm, association, operator_user)
    path = URL + template.format(o=offer.id, p=photo.id)
    if data == "upload":
        response = client.post(path, _upload(), format="multipart")
    else:
        response = (
            getattr(client, method)(path, data, format="json") if data else getattr(client, method)(path)
        )
    expected = _expected(caller, method, success)
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert response["Content-Type"] == "application/problem+json"
        after = Offer.objects.get(pk=offer.pk)
        assert (after.status, after.title, offer.photos.count()) == before


@pytest.mark.parametrize("route", ["update", "withdraw", "close", "photo_add", "photo_delete"])
def test_other_firms_may_read_a_published_offer_but_not_change_it(settings, tmp_path, firm, route):
    settings.MEDIA_ROOT = tmp_path
    method, template, _status, data, _success = ROUTES[route]
    offer = make_offer(firm, status="published")
    photo = _photo(offer)
    client = client_for(make_member(make_org(name="Concurrent")))
    assert client.get(f"{URL}{offer.id}/").status_code == 200
    assert client.get(f"{URL}{offer.id}/photos/{photo.id}/").status_code == 200
    path = URL + template.format(o=offer.id, p=photo.id)
    if data == "upload":
        response = client.post(path, _upload(), format="multipart")
    else:
        response = (
            getattr(client, method)(path, data, format="json") if data else getattr(client, method)(path)
        )
    assert response.status_code == 404
    offer.refresh_from_db()
    assert (offer.status, offer.photos.count()) == ("published", 1)


def test_anonymous_is_a_401_problem(anon, firm):
    offer = make_offer(firm)
    for response in (anon.get(URL), anon.get(f"{URL}{offer.id}/"), anon.post(URL, {}, format="json")):
        assert response.status_code == 401
        assert response["Content-Type"] == "application/problem+json"


# ---- editing --------------------------------------------------------------------------------------


def test_edit_a_draft_freely_then_only_some_fields_once_published(firm):
    user = make_member(firm)
    client = client_for(user)
    site, other_site = make_site(firm), make_site(firm, YARD, name="Cour")
    chairs, tables = category("chairs"), category("tables")
    offer_id = client.post(URL, body(site, chairs), format="json").json()["id"]

    edited = client.patch(
        f"{URL}{offer_id}/",
        {"site": other_site.id, "category": tables.id, "unit": "pallet", "quantity": "3", "title": "Tables"},
        format="json",
    )
    assert edited.status_code == 200, edited.content
    got = edited.json()
    assert (got["site"]["id"], got["category"]["id"], got["unit"], got["quantity"], got["title"]) == (
        other_site.id,
        tables.id,
        "pallet",
        "3.000",
        "Tables",
    )
    assert got["remaining_quantity"] == "3.000"
    assert got["location"] == {"type": "Point", "coordinates": [3.17123, 50.69011]}
    event = DomainEvent.objects.filter(name="offer.updated").get()
    assert event.payload == {
        "status": "draft",
        "fields": ["category", "quantity", "site", "title", "unit"],
    }

    client.post(f"{URL}{offer_id}/publish/")
    frozen = client.patch(
        f"{URL}{offer_id}/", {"category": chairs.id, "unit": "piece", "mode": "loan"}, format="json"
    )
    assert frozen.status_code == 400
    assert sorted(e["field"] for e in frozen.json()["errors"]) == ["category", "mode", "unit"]
    # Sending the current values (a stock system's full payload) is not a change.
    same = client.patch(
        f"{URL}{offer_id}/",
        {"category": tables.id, "unit": "pallet", "site": other_site.id, "description": "Plateaux chêne"},
        format="json",
    )
    assert same.status_code == 200
    assert same.json()["description"] == "Plateaux chêne"
    assert DomainEvent.objects.filter(name="offer.updated").last().payload["fields"] == ["description"]
    # Nothing at all changes: no event.
    count = DomainEvent.objects.count()
    assert (
        client.patch(f"{URL}{offer_id}/", {"description": "Plateaux chêne"}, format="json").status_code == 200
    )
    assert DomainEvent.objects.count() == count


def test_quantity_cannot_drop_below_what_is_reserved(firm):
    offer = make_offer(firm, quantity=10)
    reserve(offer, "4")
    client = client_for(make_member(firm))

    refused = client.patch(f"{URL}{offer.id}/", {"quantity": "3"}, format="json")
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["code"] == "quantity_below_reserved"
    assert problem["reserved_quantity"] == "4.000"
    offer.refresh_from_db()
    assert (offer.quantity, offer.remaining_quantity) == (Decimal("10.000"), Decimal("6.000"))

    raised = client.patch(f"{URL}{offer.id}/", {"quantity": "15"}, format="json").json()
    assert (raised["quantity"], raised["remaining_quantity"], raised["reserved_quantity"]) == (
        "15.000",
        "11.000",
        "4.000",
    )
    exactly = client.patch(f"{URL}{offer.id}/", {"quantity": "4"}, format="json").json()
    assert (exactly["remaining_quantity"], exactly["status"]) == ("0.000", "exhausted")
    reopened = client.patch(f"{URL}{offer.id}/", {"quantity": "5"}, format="json").json()
    assert (reopened["remaining_quantity"], reopened["status"]) == ("1.000", "published")


@pytest.mark.parametrize("status", ["closed", "withdrawn", "expired"])
def test_finished_offers_cannot_be_edited(firm, status):
    offer = make_offer(firm, status=status)
    response = client_for(make_member(firm)).patch(f"{URL}{offer.id}/", {"title": "X"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "offer_status_conflict"
    assert response.json()["offer_status"] == status


def test_patch_bad_input_changes_nothing(firm):
    offer = make_offer(firm, status="draft", title="Avant")
    client = client_for(make_member(firm))
    response = client.patch(
        f"{URL}{offer.id}/", {"title": "Après", "mode": "sale", "quantity": "-1"}, format="json"
    )
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["quantity"]
    response = client.patch(f"{URL}{offer.id}/", {"title": "Après", "mode": "sale"}, format="json")
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["price_eur"]
    offer.refresh_from_db()
    assert (offer.title, offer.mode) == ("Avant", "donation")


# ---- lifecycle ------------------------------------------------------------------------------------


def test_lifecycle_statuses_and_events(firm):
    user = make_member(firm)
    client = client_for(user)
    site, cat = make_site(firm), category()
    first = client.post(URL, body(site, cat), format="json").json()["id"]
    second = client.post(URL, body(site, cat), format="json").json()["id"]

    assert client.post(f"{URL}{first}/close/").json()["code"] == "offer_status_conflict"
    assert client.post(f"{URL}{first}/publish/").json()["status"] == "published"
    assert client.post(f"{URL}{first}/publish/").status_code == 409
    closed = client.post(f"{URL}{first}/close/").json()
    assert (closed["status"], closed["closed_at"] is not None) == ("closed", True)
    assert client.post(f"{URL}{first}/withdraw/").status_code == 409

    assert client.post(f"{URL}{second}/withdraw/").json()["status"] == "withdrawn"
    assert client.post(f"{URL}{second}/publish/").json()["code"] == "offer_status_conflict"

    actor = f"user:{user.id}"
    assert offer_events(first) == [
        ("offer.created", actor, firm.id, "draft"),
        ("offer.published", actor, firm.id, "published"),
        ("offer.closed", actor, firm.id, "closed"),
    ]
    assert offer_events(second) == [
        ("offer.created", actor, firm.id, "draft"),
        ("offer.withdrawn", actor, firm.id, "withdrawn"),
    ]


def test_withdrawing_an_offer_with_reservations_is_refused_but_closing_is_not(firm):
    offer = make_offer(firm, quantity=10)
    reserve(offer, "2.5")
    client = client_for(make_member(firm))
    refused = client.post(f"{URL}{offer.id}/withdraw/")
    assert refused.status_code == 409
    assert (refused.json()["code"], refused.json()["reserved_quantity"]) == (
        "offer_has_reservations",
        "2.500",
    )
    assert client.post(f"{URL}{offer.id}/close/").json()["status"] == "closed"


def test_an_exhausted_offer_can_be_closed(firm):
    offer = make_offer(firm, status="exhausted", quantity=3, remaining_quantity=Decimal("0"))
    assert client_for(make_member(firm)).post(f"{URL}{offer.id}/close/").json()["status"] == "closed"


def test_publishing_needs_an_active_site(firm):
    offer = make_offer(firm, status="draft")
    offer.site.is_active = False
    offer.site.save()
    response = client_for(make_member(firm)).post(f"{URL}{offer.id}/publish/")
    assert (response.status_code, response.json()["code"]) == (409, "site_retired")


def test_operator_may_withdraw_any_offer(firm, operator_user):
    offer = make_offer(firm)
    response = client_for(operator_user).post(f"{URL}{offer.id}/withdraw/")
    assert response.json()["status"] == "withdrawn"
    assert offer_events(offer.id) == [("offer.withdrawn", f"user:{operator_user.id}", firm.id, "withdrawn")]


# ---- site moves -----------------------------------------------------------------------------------


def test_moving_a_site_moves_its_offers(firm):
    site = make_site(firm, YARD)
    other = make_site(firm, name="Autre")
    moved_offers = [make_offer(firm, site=site), make_offer(firm, site=site, status="draft")]
    untouched = make_offer(firm, site=other)
    new_place = {"type": "Point", "coordinates": [3.15488, 50.72279]}  # Tourcoing
    response = client_for(make_member(firm)).patch(
        f"/api/v1/sites/{site.id}/", {"location": new_place}, format="json"
    )
    assert response.status_code == 200, response.content
    expected_public = approximate_point(Point(3.15488, 50.72279, srid=4326)).coords
    for offer in moved_offers:
        offer.refresh_from_db()
        assert offer.location.coords == (3.15488, 50.72279)
        assert offer.public_location.coords == expected_public
    before = untouched.updated_at
    untouched.refresh_from_db()
    assert untouched.location.coords == other.location.coords
    assert untouched.updated_at == before


# ---- list and sync --------------------------------------------------------------------------------


def test_list_shows_only_the_callers_organisations_offers_with_filters(firm):
    site, other_site = make_site(firm), make_site(firm, name="Autre")
    furniture = category("furniture")
    chairs = category("chairs", parent=furniture)
    lookalike = category("furniture-parts")
    draft = make_offer(firm, site=site, category=chairs, status="draft")
    published = make_offer(firm, site=site, category=furniture)
    elsewhere = make_offer(firm, site=other_site, category=lookalike, external_ref="X-1")
    make_offer(make_org(name="Autre firme"))  # not ours
    client = client_for(make_member(firm))

    def ids(**params):
        response = client.get(URL, params)
        assert response.status_code == 200, response.content
        return sorted(o["id"] for o in response.json()["results"])

    assert ids() == sorted([draft.id, published.id, elsewhere.id])
    assert ids(status="draft") == [draft.id]
    assert ids(category=furniture.id) == sorted([draft.id, published.id])
    assert ids(category=chairs.id) == [draft.id]
    assert ids(site=other_site.id) == [elsewhere.id]
    assert ids(external_ref="X-1") == [elsewhere.id]
    assert ids(organisation=firm.id) == sorted([draft.id, published.id, elsewhere.id])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"category": "abc"}, "category"),
        ({"site": "x"}, "site"),
        ({"updated_since": "yesterday"}, "updated_since"),
    ],
)
def test_invalid_list_filters_are_a_400_problem(firm, params, field):
    response = client_for(make_member(firm)).get(URL, params)
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_association_lists_no_offers_and_operator_lists_all(firm, association, operator_user):
    offers = [make_offer(firm), make_offer(make_org(), status="draft")]
    assert client_for(make_member(association)).get(URL).json()["results"] == []
    seen = client_for(operator_user).get(URL).json()["results"]
    assert sorted(o["id"] for o in seen) == sorted(o.id for o in offers)
    assert all(o["location_is_approximate"] for o in seen)


def test_sync_with_cursor_and_updated_since_returns_each_change_once(firm):
    client = client_for(make_member(firm))
    offers = [make_offer(firm) for _ in range(5)]

    def sweep(**params):
        seen, response = [], client.get(URL, {"limit": 2, **params})
        while True:
            page = response.json()
            seen += page["results"]
            if not page["next"]:
                return seen
            response = client.get(page["next"])

    first = sweep()
    assert [o["id"] for o in first] == [o.id for o in offers]  # oldest change first
    mark = first[-1]["updated_at"]
    assert sweep(updated_since=mark) == []

    changed = offers[1]
    client.patch(f"{URL}{changed.id}/", {"title": "Nouveau titre"}, format="json")
    client.post(f"{URL}{offers[3].id}/close/")
    again = sweep(updated_since=mark)
    assert [(o["id"], o["title"] if o["id"] == changed.id else o["status"]) for o in again] == [
        (changed.id, "Nouveau titre"),
        (offers[3].id, "closed"),
    ]
    assert sweep(updated_since=again[-1]["updated_at"]) == []


def test_list_query_count_does_not_grow_with_offers(settings, tmp_path, firm, django_assert_max_num_queries):
    settings.MEDIA_ROOT = tmp_path
    for _ in range(12):
        offer = make_offer(firm)
        _photo(offer)
        _photo(offer)
    client = client_for(make_member(firm))
    with django_assert_max_num_queries(5):
        response = client.get(URL)
    assert len(response.json()["results"]) == 12
    assert all(len(o["photos"]) == 2 for o in response.json()["results"])


@pytest.mark.django_db(transaction=True)
def test_a_quantity_edit_waits_for_a_concurrent_reservation_and_counts_it(firm):
    """A claim being accepted holds the offer's row; the edit waits for it and then sees the reservation
    (with a stale read it would compute remaining = 5 and forget the 4 reserved)."""
    import threading

    from django.db import connection, transaction

    from exchange.services import offer_update

    offer = make_offer(firm, quantity=10)
    user = make_member(firm)
    locked, release = threading.Event(), threading.Event()
    outcome = {}

    def accept_claim():
        try:
            with transaction.atomic():
                row = Offer.objects.select_for_update().get(pk=offer.pk)
                locked.set()
                release.wait(5)
                Offer.objects.filter(pk=row.pk, remaining_quantity__gte=4).update(
                    remaining_quantity=row.remaining_quantity - 4, reserved_quantity=row.reserved_quantity + 4
                )
        finally:
            connection.close()

    def edit():
        try:
            outcome["offer"] = offer_update(actor=Actor.for_user(user), offer=offer.pk, quantity=Decimal("5"))
        except Exception as exc:  # surfaced below
            outcome["error"] = exc
        finally:
            connection.close()

    claimer = threading.Thread(target=accept_claim)
    claimer.start()
    assert locked.wait(5)
    editor = threading.Thread(target=edit)
    editor.start()
    editor.join(0.5)
    assert editor.is_alive()  # blocked on the row lock
    release.set()
    claimer.join(5)
    editor.join(5)
    assert "error" not in outcome, outcome.get("error")
    offer.refresh_from_db()
    assert (offer.quantity, offer.remaining_quantity) == (Decimal("5.000"), Decimal("1.000"))


@pytest.mark.django_db(transaction=True)
def test_a_quantity_edit_below_a_concurrent_reservation_is_refused(firm):
    import threading

    from django.db import connection, transaction

    from core.errors import Conflict
    from exchange.services import offer_update

    offer = make_offer(firm, quantity=10)
    user = make_member(firm)
    locked, release = threading.Event(), threading.Event()
    outcome = {}

    def accept_claim():
        try:
            with transaction.atomic():
                Offer.objects.select_for_update().get(pk=offer.pk)
                locked.set()
                release.wait(5)
                Offer.objects.filter(pk=offer.pk).update(
                    remaining_quantity=F("remaining_quantity") - 8,
                    reserved_quantity=F("reserved_quantity") + 8,
                )
        finally:
            connection.close()

    def edit():
        try:
            offer_update(actor=Actor.for_user(user), offer=offer.pk, quantity=Decimal("7"))
        except Conflict as exc:
            outcome["conflict"] = exc
        finally:
            connection.close()

    claimer = threading.Thread(target=accept_claim)
    claimer.start()
    assert locked.wait(5)
    editor = threading.Thread(target=edit)
    editor.start()
    release.set()
    claimer.join(5)
    editor.join(5)
    assert outcome["conflict"].code == "quantity_below_reserved"
    assert outcome["conflict"].extra == {"reserved_quantity": "8.000", "collected_quantity": "0.000"}
    offer.refresh_from_db()
    assert (offer.quantity, offer.remaining_quantity) == (Decimal("10.000"), Decimal("2.000"))
