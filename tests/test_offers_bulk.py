"""POST /api/v1/offers/bulk/ (exchange.bulk.offers_upsert) and the external_ref lifecycle: a reference
names the organisation's live offer (draft, published, exhausted); an ended offer keeps its reference as
history and frees it."""

from decimal import Decimal

import pytest
from django.db.models import F

from core.models import DomainEvent
from exchange.models import Offer, OfferStatus
from inventory.models import Category
from organisations.models import MembershipRole, OrganisationKind

from .conftest import client_for, client_for_key, make_api_key, make_member, make_offer, make_org, make_site

pytestmark = pytest.mark.django_db

URL = "/api/v1/offers/bulk/"


@pytest.fixture
def cat() -> Category:
    return Category.objects.get_or_create(
        key="furniture", defaults={"name_fr": "Mobilier", "name_en": "Furniture", "default_unit": "piece"}
    )[0]


@pytest.fixture
def site(firm):
    return make_site(firm)


@pytest.fixture
def client(firm):
    return client_for(make_member(firm, MembershipRole.MEMBER))


def new_item(site, cat, ref, /, **over) -> dict:
    return {
        "external_ref": ref,
        "site": site.pk,
        "category": cat.pk,
        "title": "Chaises de bureau",
        "quantity": "12",
        "unit": "piece",
        "condition": "good",
        **over,
    }


def post(client, items, **extra):
    return client.post(URL, {"items": items}, format="json", **extra)


def summary(response) -> list[tuple]:
    return [(r["index"], r["external_ref"], r["result"], r["offer"]) for r in response.json()["results"]]


def counts(response) -> tuple[int, int, int, int]:
    body = response.json()
    return body["created"], body["updated"], body["unchanged"], body["errors"]


def reserve(offer: Offer, quantity) -> None:
    """What an accepted claim does to the offer (the claims layer's conditional update)."""
    assert Offer.objects.filter(pk=offer.pk, remaining_quantity__gte=quantity).update(
        remaining_quantity=F("remaining_quantity") - Decimal(quantity),
        reserved_quantity=F("reserved_quantity") + Decimal(quantity),
    )


# ---- one result per item, in order ----------------------------------------------------------------


def test_mixed_batch_answers_each_item_in_order(client, firm, site, cat):
    draft = make_offer(firm, site, cat, status="draft", external_ref="SKU-1", title="Tables")
    kept = make_offer(firm, site, cat, status="published", external_ref="SKU-2", title="Bancs")
    kept_stamp = kept.updated_at
    response = post(
        client,
        [
            new_item(site, cat, "SKU-3"),
            {"external_ref": "SKU-1", "title": "Tables pliantes", "quantity": "8"},
            {"external_ref": "SKU-2", "title": "Bancs", "quantity": "10"},
            new_item(site, cat, "SKU-4", title=""),
            new_item(site, cat, "SKU-5", quantity="2", unit="kg"),
        ],
    )
    assert response.status_code == 200, response.json()
    created = Offer.objects.get(external_ref="SKU-3")
    fifth = Offer.objects.get(external_ref="SKU-5")
    assert summary(response) == [
        (0, "SKU-3", "created", created.pk),
        (1, "SKU-1", "updated", draft.pk),
        (2, "SKU-2", "unchanged", kept.pk),
        (3, "SKU-4", "error", None),
        (4, "SKU-5", "created", fifth.pk),
    ]
    assert counts(response) == (2, 1, 1, 1)
    results = response.json()["results"]
    assert [r["error"] for r in results[:3]] == [None, None, None]
    assert results[3]["error"] == {
        "type": "urn:boucle:problem:validation_error",
        "title": "Données invalides",
        "status": 400,
        "detail": "La requête contient des champs invalides.",
        "code": "validation_error",
        "errors": [{"field": "title", "code": "blank", "message": "Ce champ ne peut être vide."}],
    }
    assert not Offer.objects.filter(external_ref="SKU-4").exists()
    draft.refresh_from_db()
    kept.refresh_from_db()
    assert (draft.title, draft.quantity, draft.remaining_quantity, draft.status) == (
        "Tables pliantes",
        Decimal("8"),
        Decimal("8"),
        OfferStatus.DRAFT,
    )
    assert kept.updated_at == kept_stamp
    assert (created.status, created.organisation_id, created.quantity) == (OfferStatus.DRAFT, firm.pk, 12)
    assert list(
        DomainEvent.objects.filter(aggregate_type="offer").order_by("id").values_list("name", "aggregate_id")
    ) == [("offer.created", created.pk), ("offer.updated", draft.pk), ("offer.created", fifth.pk)]


def test_item_field_errors_are_those_of_post_offers(client, site, cat):
    bad = new_item(site, cat, "SKU-9", title=5, quantity="-1", unit="barrel")
    del bad["condition"]
    for language in ("fr", "en"):
        single = client.post("/api/v1/offers/", bad, format="json", HTTP_ACCEPT_LANGUAGE=language)
        assert single.status_code == 400
        response = post(client, [bad], HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 200
        error = response.json()["results"][0]["error"]
        expected = {k: v for k, v in single.json().items() if k != "instance"}
        assert error == expected
        assert sorted(e["field"] for e in error["errors"]) == ["condition", "quantity", "title", "unit"]
    assert error["detail"] == "The request has invalid fields."
    assert {e["field"]: (e["code"], e["message"]) for e in error["errors"]} == {
        "quantity": ("min_value", "Ensure this value is greater than or equal to 0.001."),
        "unit": ("invalid_choice", '"barrel" is not a valid choice.'),
        "condition": ("required", "This field is required."),
        "title": ("invalid", "A string is required."),
    }
    assert Offer.objects.count() == 0


def test_business_rule_errors_are_those_of_post_offers(client, firm, site, cat):
    other_site = make_site(make_org())
    bad = new_item(site, cat, "SKU-9", site=other_site.pk, quantity="2.5")
    single = client.post("/api/v1/offers/", bad, format="json")
    assert single.status_code == 400
    response = post(client, [bad])
    error = response.json()["results"][0]["error"]
    assert error == {k: v for k, v in single.json().items() if k != "instance"}
    assert error["errors"][0] == {
        "field": "site",
        "code": "invalid",
        "message": "Aucun site actif correspondant dans votre organisation.",
    }


def test_a_reference_twice_in_one_batch_refuses_the_second(client, site, cat):
    items = [new_item(site, cat, "SKU-1"), new_item(site, cat, " SKU-1 ", title="Autre")]
    response = post(client, items, HTTP_ACCEPT_LANGUAGE="en")
    first = Offer.objects.get(external_ref="SKU-1")
    assert summary(response) == [(0, "SKU-1", "created", first.pk), (1, "SKU-1", "error", None)]
    assert response.json()["results"][1]["error"]["errors"] == [
        {
            "field": "external_ref",
            "code": "invalid",
            "message": "This reference is already in an earlier item.",
        }
    ]
    assert first.title == "Chaises de bureau"


def test_an_item_without_reference_is_an_item_error(client, site, cat):
    item = new_item(site, cat, "")
    del item["external_ref"]
    response = post(client, [item, new_item(site, cat, "")], HTTP_ACCEPT_LANGUAGE="en")
    assert summary(response) == [(0, None, "error", None), (1, None, "error", None)]
    assert [r["error"]["errors"] for r in response.json()["results"]] == [
        [{"field": "external_ref", "code": "required", "message": "This field is required."}],
        [{"field": "external_ref", "code": "blank", "message": "This field may not be blank."}],
    ]


# ---- stock is never over-allocated --------------------------------------------------------------


def test_quantity_below_reserved_is_an_item_error_and_stock_stays(client, firm, site, cat):
    offer = make_offer(firm, site, cat, quantity=10, external_ref="SKU-1", title="Palettes")
    reserve(offer, 6)
    response = post(
        client,
        [
            {"external_ref": "SKU-1", "quantity": "5", "title": "Palettes bois"},
            new_item(site, cat, "SKU-2"),
        ],
    )
    assert response.status_code == 200
    created = Offer.objects.get(external_ref="SKU-2")
    assert summary(response) == [(0, "SKU-1", "error", offer.pk), (1, "SKU-2", "created", created.pk)]
    assert response.json()["results"][0]["error"] == {
        "type": "urn:boucle:problem:quantity_below_reserved",
        "title": "Conflit",
        "status": 409,
        "detail": "Les demandes acceptées et les remises comptent déjà plus que cette quantité.",
        "code": "quantity_below_reserved",
        "reserved_quantity": "6.000",
        "collected_quantity": "0.000",
    }
    offer.refresh_from_db()
    assert (offer.title, offer.quantity, offer.remaining_quantity, offer.reserved_quantity) == (
        "Palettes",
        Decimal("10"),
        Decimal("4"),
        Decimal("6"),
    )
    # What is reserved may be met exactly: the offer is then exhausted.
    response = post(client, [{"external_ref": "SKU-1", "quantity": "6"}])
    assert summary(response) == [(0, "SKU-1", "updated", offer.pk)]
    offer.refresh_from_db()
    assert (offer.quantity, offer.remaining_quantity, offer.status) == (6, 0, OfferStatus.EXHAUSTED)


# ---- retry safety -------------------------------------------------------------------------------


def test_retry_with_the_same_idempotency_key_replays(client, site, cat):
    items = [new_item(site, cat, "SKU-1"), new_item(site, cat, "SKU-2", title="")]
    first = post(client, items, HTTP_IDEMPOTENCY_KEY="nightly-2026-12-02")
    assert first.status_code == 200
    again = post(client, items, HTTP_IDEMPOTENCY_KEY="nightly-2026-12-02")
    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Offer.objects.count() == 1
    # Without the key the same batch is applied again: what was created is now unchanged.
    fresh = post(client, items)
    assert summary(fresh)[0] == (0, "SKU-1", "unchanged", Offer.objects.get().pk)
    other = post(client, items[:1], HTTP_IDEMPOTENCY_KEY="nightly-2026-12-02")
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"


# ---- organisations stay apart -------------------------------------------------------------------


def test_another_organisations_reference_is_never_touched(client, firm, site, cat):
    other = make_org(name="Scierie de Tourcoing")
    theirs = make_offer(other, make_site(other), cat, external_ref="SKU-1", title="Planches")
    stamp = theirs.updated_at
    response = post(client, [new_item(site, cat, "SKU-1"), {"external_ref": "SKU-2", "status": "withdrawn"}])
    mine = Offer.objects.get(organisation=firm, external_ref="SKU-1")
    assert summary(response) == [(0, "SKU-1", "created", mine.pk), (1, "SKU-2", "unchanged", None)]
    theirs.refresh_from_db()
    assert (theirs.title, theirs.status, theirs.updated_at) == ("Planches", OfferStatus.PUBLISHED, stamp)
    # An update of "their" reference changes mine only.
    response = post(client, [{"external_ref": "SKU-1", "title": "Chaises"}])
    assert summary(response) == [(0, "SKU-1", "updated", mine.pk)]
    theirs.refresh_from_db()
    assert theirs.title == "Planches"


def test_whole_batch_refusals_follow_post_offers(firm, association, site, cat):
    reader = client_for_key(make_api_key(firm, scopes=("read",))[1])
    response = post(reader, [new_item(site, cat, "SKU-1")])
    single = reader.post("/api/v1/offers/", new_item(site, cat, "SKU-1"), format="json")
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert response.json()["detail"] == single.json()["detail"]
    recipient = client_for(make_member(association))
    response = post(recipient, [new_item(site, cat, "SKU-1")])
    assert (response.status_code, response.json()["code"]) == (403, "organisation_kind_cannot_offer")
    writer = client_for_key(make_api_key(firm)[1])
    response = writer.post(
        URL, {"organisation": association.pk, "items": [{"external_ref": "x"}]}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    response = post(writer, [new_item(site, cat, "SKU-1")])
    assert summary(response) == [(0, "SKU-1", "created", Offer.objects.get().pk)]
    assert Offer.objects.get().organisation_id == firm.pk


# ---- the batch itself ---------------------------------------------------------------------------


def test_more_than_1000_items_is_a_400(client, site, cat):
    response = post(client, [{"external_ref": f"SKU-{n}"} for n in range(1001)], HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"] == [
        {
            "field": "items",
            "code": "max_length",
            "message": "Ensure this field has no more than 1000 elements.",
        }
    ]
    response = post(client, [])
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "field": "items",
            "code": "min_length",
            "message": "Assurez-vous que ce champ a au moins 1 éléments.",
        }
    ]
    response = post(client, [new_item(site, cat, "SKU-1"), 7])
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["items.1"]
    assert Offer.objects.count() == 0


# ---- publish and withdraw in the item -----------------------------------------------------------


def test_publish_and_withdraw_in_the_item(client, firm, site, cat):
    draft = make_offer(firm, site, cat, status="draft", external_ref="SKU-1")
    live = make_offer(firm, site, cat, status="published", external_ref="SKU-2")
    held = make_offer(firm, site, cat, status="published", external_ref="SKU-3", quantity=5)
    reserve(held, 2)
    response = post(
        client,
        [
            {"external_ref": "SKU-1", "status": "published"},
            {"external_ref": "SKU-2", "status": "withdrawn", "title": "Retiré"},
            {"external_ref": "SKU-3", "status": "withdrawn"},
            new_item(site, cat, "SKU-4", status="published"),
            new_item(site, cat, "SKU-5", status="withdrawn"),
            {"external_ref": "SKU-2", "status": "published"},
        ],
    )
    new = Offer.objects.get(external_ref="SKU-4")
    assert summary(response) == [
        (0, "SKU-1", "updated", draft.pk),
        (1, "SKU-2", "updated", live.pk),
        (2, "SKU-3", "error", held.pk),
        (3, "SKU-4", "created", new.pk),
        (4, "SKU-5", "unchanged", None),
        (5, "SKU-2", "error", live.pk),
    ]
    assert response.json()["results"][2]["error"]["code"] == "offer_has_reservations"
    statuses = dict(Offer.objects.values_list("external_ref", "status"))
    assert statuses == {
        "SKU-1": OfferStatus.PUBLISHED,
        "SKU-2": OfferStatus.WITHDRAWN,
        "SKU-3": OfferStatus.PUBLISHED,
        "SKU-4": OfferStatus.PUBLISHED,
    }
    live.refresh_from_db()
    assert live.title == "Retiré"
    assert new.published_at is not None
    assert list(
        DomainEvent.objects.filter(aggregate_type="offer").order_by("id").values_list("name", "aggregate_id")
    ) == [
        ("offer.published", draft.pk),
        ("offer.updated", live.pk),
        ("offer.withdrawn", live.pk),
        ("offer.created", new.pk),
        ("offer.published", new.pk),
    ]


def test_publishing_needs_a_verified_organisation(site, cat):
    unverified = make_org(OrganisationKind.COMPANY, verified=False)
    client = client_for(make_member(unverified))
    own_site = make_site(unverified)
    response = post(
        client, [new_item(own_site, cat, "SKU-1", status="published"), new_item(own_site, cat, "SKU-2")]
    )
    assert [r["result"] for r in response.json()["results"]] == ["error", "created"]
    assert response.json()["results"][0]["error"]["code"] == "organisation_not_verified"
    assert response.json()["results"][0]["error"]["status"] == 403
    assert list(Offer.objects.values_list("external_ref", "status")) == [("SKU-2", OfferStatus.DRAFT)]


# ---- an ended offer frees its reference ---------------------------------------------------------


@pytest.mark.parametrize("ended", [OfferStatus.WITHDRAWN, OfferStatus.EXPIRED, OfferStatus.CLOSED])
def test_an_ended_offers_reference_is_reused_by_upsert(client, firm, site, cat, ended):
    old = make_offer(firm, site, cat, status=ended, external_ref="SKU-1", title="Ancien lot")
    response = post(client, [new_item(site, cat, "SKU-1", quantity="4", status="published")])
    new = Offer.objects.exclude(pk=old.pk).get()
    assert summary(response) == [(0, "SKU-1", "created", new.pk)]
    assert (new.external_ref, new.status, new.quantity) == ("SKU-1", OfferStatus.PUBLISHED, 4)
    old.refresh_from_db()
    assert (old.external_ref, old.status, old.title) == ("SKU-1", ended, "Ancien lot")
    # The live one is the reference's now: the next item updates it, never the ended one.
    response = post(client, [{"external_ref": "SKU-1", "quantity": "6"}])
    assert summary(response) == [(0, "SKU-1", "updated", new.pk)]
    listed = client.get("/api/v1/offers/?external_ref=SKU-1").json()["results"]
    assert [(o["id"], o["status"]) for o in listed] == [(old.pk, ended), (new.pk, "published")]


def test_a_withdrawn_reference_is_reused_by_post_offers(client, firm, site, cat):
    old = make_offer(firm, site, cat, status="published", external_ref="SKU-1")
    assert client.post(f"/api/v1/offers/{old.pk}/withdraw/").status_code == 200
    item = new_item(site, cat, "SKU-1")
    response = client.post("/api/v1/offers/", item, format="json")
    assert response.status_code == 201, response.json()
    new_id = response.json()["id"]
    assert new_id != old.pk
    assert response.json()["external_ref"] == "SKU-1"
    # Live again: a second one is refused, naming the live offer (not the withdrawn one).
    again = client.post("/api/v1/offers/", item, format="json")
    assert again.status_code == 409
    assert (again.json()["code"], again.json()["offer_id"]) == ("external_ref_taken", new_id)
    # Moving a live offer onto the reference of an ended one is allowed, onto a live one refused.
    other = make_offer(firm, site, cat, status="draft", external_ref="SKU-2")
    moved = client.patch(f"/api/v1/offers/{other.pk}/", {"external_ref": "SKU-1"}, format="json")
    assert (moved.status_code, moved.json()["offer_id"]) == (409, new_id)
    old2 = make_offer(firm, site, cat, status="withdrawn", external_ref="SKU-3")
    moved = client.patch(f"/api/v1/offers/{other.pk}/", {"external_ref": "SKU-3"}, format="json")
    assert moved.status_code == 200
    assert Offer.objects.filter(external_ref="SKU-3").count() == 2
    assert Offer.objects.get(pk=old2.pk).status == OfferStatus.WITHDRAWN


def test_the_database_holds_one_live_offer_per_reference(firm, site, cat):
    from django.db import IntegrityError, transaction

    make_offer(firm, site, cat, status="withdrawn", external_ref="SKU-1")
    make_offer(firm, site, cat, status="closed", external_ref="SKU-1")
    make_offer(firm, site, cat, status="draft", external_ref="SKU-1")
    with pytest.raises(IntegrityError, match="offer_external_ref_unique"), transaction.atomic():
        make_offer(firm, site, cat, status="exhausted", external_ref="SKU-1", remaining_quantity=0)
