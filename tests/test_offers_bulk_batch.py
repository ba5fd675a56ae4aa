"""POST offers/bulk/ written set-based (exchange.bulk): the outbox holds exactly what the one-offer services
record for the same changes, the number of queries of a batch does not grow with its items, a race on
a new reference between two batches (real parallel connections) ends with one live offer and never a
500, and the batch event insert (core.events.events_record) dispatches each event's subscribers once
committed, as event_record does."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from core import events as core_events
from core.events import PendingEvent, events_record
from core.models import DomainEvent, EventConsumption
from core.tasks import dispatch_events
from exchange import bulk, services
from exchange.models import Offer, OfferStatus
from inventory.models import Category
from matching.tasks import ALERTS_CONSUMER
from organisations.actors import Actor
from organisations.models import MembershipRole

from .conftest import client_for, make_member, make_offer, make_site
from .test_worker import live_celery, wait_for  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

URL = "/api/v1/offers/bulk/"


@pytest.fixture
def cat() -> Category:
    return Category.objects.get_or_create(
        key="furniture",
        defaults={"name_fr": "Mobilier", "name_en": "Furniture", "default_unit": "piece"},
    )[0]


def _item(site, cat, ref, /, **over) -> dict:
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


def _reserve(offer: Offer, quantity) -> None:
    """What an accepted claim does to the offer (the claims layer's conditional update)."""
    assert Offer.objects.filter(pk=offer.pk, remaining_quantity__gte=quantity).update(
        remaining_quantity=F("remaining_quantity") - Decimal(quantity),
        reserved_quantity=F("reserved_quantity") + Decimal(quantity),
    )


def _events_after(event_id: int, prefix: str) -> list[tuple]:
    """The offer events recorded after `event_id` for the offers whose reference starts with `prefix`,
    in id order, the offer named by its reference without the prefix."""
    refs = dict(Offer.objects.filter(external_ref__startswith=prefix).values_list("pk", "external_ref"))
    return [
        (name, refs[aggregate_id][len(prefix) :], actor, organisation_id, payload)
        for name, aggregate_id, actor, organisation_id, payload in DomainEvent.objects.filter(
            pk__gt=event_id, aggregate_type="offer", aggregate_id__in=refs
        )
        .order_by("id")
        .values_list("name", "aggregate_id", "actor", "organisation_id", "payload")
    ]


def _state(prefix: str) -> dict[str, tuple]:
    columns = (
        "title", "quantity", "remaining_quantity", "reserved_quantity", "unit", "mass_per_unit_kg",
        "status", "site_id", "category_id", "condition", "mode", "price_eur",
    )  # fmt: skip
    return {
        ref[len(prefix) :]: (*values, published is not None, closed is not None)
        for ref, published, closed, *values in Offer.objects.filter(
            external_ref__startswith=prefix
        ).values_list("external_ref", "published_at", "closed_at", *columns)
    }


# ---- the outbox stays exact -----------------------------------------------------------------------


def test_a_batch_records_exactly_the_events_of_the_one_offer_services(firm, cat):
    """The same changes done twice, once item after item through the one-offer services (references
    A-…), once by one batch (B-…), from the same starting offers: the same events in the same order
    (name, actor, organisation, payload), the same offers after."""
    actor = Actor.for_user(make_member(firm, MembershipRole.MEMBER))
    site, other_site = make_site(firm), make_site(firm, name="Entrepôt")

    def start(prefix: str) -> dict[str, Offer]:
        made = {}
        for ref, publish in (("draft", False), ("reserved", True), ("retiring", True), ("same", True)):
            made[ref] = services.offer_create(
                actor=actor,
                site=site.pk,
                category=cat.pk,
                title="Tables",
                quantity=Decimal("10"),
                unit="piece",
                condition="good",
                external_ref=prefix + ref,
                publish=publish,
            )
        made["moving"] = services.offer_create(
            actor=actor,
            site=site.pk,
            category=cat.pk,
            title="Palettes",
            quantity=Decimal("5"),
            unit="kg",
            condition="fair",
            external_ref=prefix + "moving",
        )
        _reserve(made["reserved"], 4)
        return made

    a, b = start("A-"), start("B-")
    checkpoint = DomainEvent.objects.order_by("-id").values_list("id", flat=True).first()

    # One offer at a time, as a firm calling POST offers/, PATCH and the transitions would.
    services.offer_create(
        actor=actor,
        site=site.pk,
        category=cat.pk,
        title="Bancs",
        quantity=Decimal("3"),
        unit="piece",
        condition="new",
        external_ref="A-new-draft",
    )
    services.offer_create(
        actor=actor,
        site=site.pk,
        category=cat.pk,
        title="Bureaux",
        quantity=Decimal("2"),
        unit="piece",
        condition="good",
        mode="sale",
        price_eur=Decimal("15.50"),
        external_ref="A-new-live",
        publish=True,
    )
    services.offer_update(actor=actor, offer=a["draft"], title="Tables pliantes", quantity=Decimal("8"))
    services.offer_publish(actor=actor, offer=a["draft"])
    services.offer_update(actor=actor, offer=a["reserved"], quantity=Decimal("4"))  # exactly what is held
    services.offer_update(actor=actor, offer=a["retiring"], title="Retiré")
    services.offer_withdraw(actor=actor, offer=a["retiring"])
    services.offer_update(actor=actor, offer=a["same"], title="Tables", quantity=Decimal("10"))
    services.offer_update(
        actor=actor, offer=a["moving"], site=other_site.pk, unit="piece", mass_per_unit_kg=Decimal("2")
    )
    one_by_one = _events_after(checkpoint, "A-")

    checkpoint = DomainEvent.objects.order_by("-id").values_list("id", flat=True).first()
    results = bulk.offers_upsert(
        actor=actor,
        items=[
            {
                "external_ref": "B-new-draft",
                "site": site.pk,
                "category": cat.pk,
                "title": "Bancs",
                "quantity": Decimal("3"),
                "unit": "piece",
                "condition": "new",
            },
            {
                "external_ref": "B-new-live",
                "site": site.pk,
                "category": cat.pk,
                "title": "Bureaux",
                "quantity": Decimal("2"),
                "unit": "piece",
                "condition": "good",
                "mode": "sale",
                "price_eur": Decimal("15.50"),
                "status": "published",
            },
            {
                "external_ref": "B-draft",
                "title": "Tables pliantes",
                "quantity": Decimal("8"),
                "status": "published",
            },
            {"external_ref": "B-reserved", "quantity": Decimal("4")},
            {"external_ref": "B-retiring", "title": "Retiré", "status": "withdrawn"},
            {"external_ref": "B-same", "title": "Tables", "quantity": Decimal("10")},
            {
                "external_ref": "B-moving",
                "site": other_site.pk,
                "unit": "piece",
                "mass_per_unit_kg": Decimal("2"),
            },
        ],
    )
    assert [r.result for r in results] == [
        "created",
        "created",
        "updated",
        "updated",
        "updated",
        "unchanged",
        "updated",
    ]
    assert [r.offer_id for r in results[2:]] == [
        b[ref].pk for ref in ("draft", "reserved", "retiring", "same", "moving")
    ]
    batched = _events_after(checkpoint, "B-")

    assert batched == one_by_one
    assert [(name, ref) for name, ref, *_ in batched] == [
        ("offer.created", "new-draft"),
        ("offer.created", "new-live"),
        ("offer.published", "new-live"),
        ("offer.updated", "draft"),
        ("offer.published", "draft"),
        ("offer.updated", "reserved"),
        ("offer.updated", "retiring"),
        ("offer.withdrawn", "retiring"),
        ("offer.updated", "moving"),
    ]
    assert batched[3][4] == {"status": "draft", "fields": ["quantity", "title"]}
    assert batched[5][4] == {"status": "exhausted", "fields": ["quantity"]}
    assert batched[8][4] == {"status": "draft", "fields": ["mass_per_unit_kg", "site", "unit"]}
    assert {event[2] for event in batched} == {actor.label}
    assert _state("B-") == _state("A-")
    moved = Offer.objects.get(external_ref="B-moving")
    assert (moved.location, moved.public_location) == (other_site.location, other_site.public_location)
    assert Offer.objects.get(external_ref="B-reserved").remaining_quantity == 0


def test_refused_items_record_nothing_and_change_nothing(firm, cat):
    actor = Actor.for_user(make_member(firm))
    site = make_site(firm)
    held = make_offer(firm, site, cat, quantity=10, external_ref="SKU-1", title="Palettes")
    _reserve(held, 6)
    published = make_offer(firm, site, cat, external_ref="SKU-2", title="Bancs")
    claimed = make_offer(firm, site, cat, quantity=5, external_ref="SKU-3", title="Tables")
    _reserve(claimed, 1)
    offers = (held, published, claimed)
    stamps = {o.pk: o.updated_at for o in offers}
    before = DomainEvent.objects.count()
    with translation.override("en"):
        results = bulk.offers_upsert(
            actor=actor,
            items=[
                {"external_ref": "SKU-1", "title": "Palettes bois", "quantity": Decimal("5")},
                # A frozen field of a published offer: the title change in the same item does not apply.
                {"external_ref": "SKU-2", "title": "Bancs peints", "unit": "kg"},
                # Withdrawing what accepted claims hold part of, after a change: neither applies.
                {"external_ref": "SKU-3", "title": "Tables rondes", "status": "withdrawn"},
                {"external_ref": "SKU-1", "title": "Palettes"},
            ],
        )
    assert [(r.result, r.offer_id) for r in results] == [
        ("error", held.pk),
        ("error", published.pk),
        ("error", claimed.pk),
        ("error", held.pk),
    ]
    assert results[0].error.code == "quantity_below_reserved"
    assert results[1].error.field_errors == {"unit": ["This cannot change once the offer is published."]}
    assert results[2].error.code == "offer_has_reservations"
    assert results[3].error.field_errors == {
        "external_ref": ["This reference is already in an earlier item."]
    }
    assert DomainEvent.objects.count() == before
    for offer in offers:
        offer.refresh_from_db()
        assert offer.updated_at == stamps[offer.pk]
    assert (held.title, held.quantity, held.remaining_quantity) == ("Palettes", 10, 4)
    assert (published.title, published.unit) == ("Bancs", "piece")
    assert (claimed.title, claimed.status) == ("Tables", OfferStatus.PUBLISHED)


# ---- one serializer per batch, errors per item -----------------------------------------------------


def test_each_item_has_its_own_errors_though_one_serializer_checks_them_all(firm, cat):
    """The batch validates its items with one serializer of each kind (api.inputs.data_validator): an
    item's errors or values never leak into the next one's, and each is what POST offers/ answers."""
    site = make_site(firm)
    client = client_for(make_member(firm, MembershipRole.MEMBER))
    items = [
        _item(site, cat, "SKU-1", title="", quantity="-1"),
        _item(site, cat, "SKU-2", description="Bon état"),
        _item(site, cat, "SKU-3", unit="barrel", site=10**20),
        _item(site, cat, "SKU-4"),
        _item(site, cat, "SKU-5", site=10**12, category=10**20),
    ]
    response = client.post(URL, {"items": items}, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200, response.json()
    results = response.json()["results"]
    assert [r["result"] for r in results] == ["error", "created", "error", "created", "error"]
    for item, result in zip(items, results, strict=True):
        if result["result"] == "error":
            alone = client.post("/api/v1/offers/", item, format="json", HTTP_ACCEPT_LANGUAGE="en")
            assert alone.status_code == 400
            assert result["error"] == {k: v for k, v in alone.json().items() if k != "instance"}
    assert [e["field"] for e in results[4]["error"]["errors"]] == ["site", "category"]
    offers = {o.external_ref: o for o in Offer.objects.all()}
    assert (offers["SKU-2"].description, offers["SKU-4"].description) == ("Bon état", "")


# ---- queries do not grow with the batch ------------------------------------------------------------


def _mixed_batch(firm, site, cat, n: int, tag: str) -> list[dict]:
    """n items of each kind: new drafts, new published, updates, unchanged, publications of drafts,
    withdrawals, item errors (a retired site)."""
    items = []
    retired = make_site(firm, name="Ancien dépôt")
    retired.is_active = False
    retired.save(update_fields=["is_active"])
    for i in range(n):
        draft = make_offer(firm, site, cat, status="draft", external_ref=f"{tag}-d-{i}", title="Tables")
        kept = make_offer(firm, site, cat, external_ref=f"{tag}-k-{i}", title="Bancs", quantity=10)
        gone = make_offer(firm, site, cat, external_ref=f"{tag}-w-{i}")
        items += [
            _item(site, cat, f"{tag}-n-{i}"),
            _item(site, cat, f"{tag}-p-{i}", status="published"),
            {"external_ref": draft.external_ref, "title": "Tables pliantes", "status": "published"},
            {"external_ref": kept.external_ref, "title": "Bancs", "quantity": "10"},
            {"external_ref": gone.external_ref, "status": "withdrawn"},
            _item(site, cat, f"{tag}-e-{i}", site=retired.pk),
        ]
    return items


def test_the_queries_of_a_batch_do_not_grow_with_its_items(firm, cat, django_assert_max_num_queries):
    site = make_site(firm)
    client = client_for(make_member(firm, MembershipRole.MEMBER))
    client.check_schema = False  # the answer's schema is checked elsewhere; this counts queries
    counted = {}
    for n in (2, 60):
        items = _mixed_batch(firm, site, cat, n, f"Q{n}")
        with CaptureQueriesContext(connection) as queries:
            response = client.post(URL, {"items": items}, format="json")
        assert response.status_code == 200, response.json()
        body = response.json()
        assert (body["created"], body["updated"], body["unchanged"], body["errors"]) == (2 * n, 2 * n, n, n)
        counted[n] = len(queries)
    assert counted[2] == counted[60]
    items = _mixed_batch(firm, site, cat, 150, "Q150")  # 900 items
    with django_assert_max_num_queries(counted[2]):
        response = client.post(URL, {"items": items}, format="json")
    assert response.json()["errors"] == 150


# ---- two batches race for one new reference ----------------------------------------------------------


def _backend_waiting_on_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


@pytest.mark.django_db(transaction=True)
def test_two_batches_creating_one_reference_at_once_leave_one_live_offer(firm, cat):
    """The first batch inserts SKU-RACE and keeps its transaction open; the second, on its own
    connection, saw no live offer under the reference, so its INSERT waits on the unique index. Once
    the first commits, the second's insert is refused by the index, and its new items go one by one
    through the one-offer services: SKU-RACE becomes an update of the first batch's offer."""
    site = make_site(firm)
    first_client = client_for(make_member(firm, MembershipRole.MEMBER))
    second_client = client_for(make_member(firm, MembershipRole.MEMBER))
    answers: dict[str, object] = {}
    pids: dict[str, int] = {}
    failures: list[BaseException] = []
    inserted, release = threading.Event(), threading.Event()

    def first():
        try:
            with transaction.atomic():
                answers["first"] = first_client.post(
                    URL, {"items": [_item(site, cat, "SKU-RACE", title="Chaises")]}, format="json"
                )
                inserted.set()
                assert release.wait(timeout=30)
        except BaseException as exc:
            failures.append(exc)
            inserted.set()
        finally:
            connection.close()

    def second():
        try:
            pids["second"] = connection.cursor().connection.info.backend_pid
            items = [_item(site, cat, "SKU-RACE", title="Chaises grises"), _item(site, cat, "SKU-OTHER")]
            answers["second"] = second_client.post(URL, {"items": items}, format="json")
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    one = threading.Thread(target=first)
    one.start()
    assert inserted.wait(timeout=30)
    two = threading.Thread(target=second)
    two.start()
    deadline = time.monotonic() + 30
    while not ("second" in pids and _backend_waiting_on_a_lock(pids["second"])):
        assert two.is_alive() and time.monotonic() < deadline, "the second batch never waited"
        time.sleep(0.02)
    release.set()
    one.join(timeout=30)
    two.join(timeout=30)
    assert failures == []

    live = Offer.objects.get(external_ref="SKU-RACE", status__in=[OfferStatus.DRAFT])
    assert Offer.objects.filter(external_ref="SKU-RACE").count() == 1
    first_body, second_body = answers["first"].json(), answers["second"].json()
    assert answers["first"].status_code == answers["second"].status_code == 200
    assert [(r["result"], r["offer"]) for r in first_body["results"]] == [("created", live.pk)]
    other = Offer.objects.get(external_ref="SKU-OTHER")
    assert [(r["result"], r["offer"]) for r in second_body["results"]] == [
        ("updated", live.pk),
        ("created", other.pk),
    ]
    assert live.title == "Chaises grises"
    assert list(
        DomainEvent.objects.filter(aggregate_type="offer").order_by("id").values_list("name", "aggregate_id")
    ) == [("offer.created", live.pk), ("offer.updated", live.pk), ("offer.created", other.pk)]


@pytest.mark.django_db(transaction=True)
def test_parallel_batches_of_the_same_references_never_fail(firm, cat):
    """Four firms' workers send the same ten new references at once: each reference ends with one live
    offer, created by one batch and updated or left unchanged by the others; no batch fails."""
    site = make_site(firm)
    users = [make_member(firm, MembershipRole.MEMBER) for _ in range(4)]
    barrier = threading.Barrier(len(users))
    answers, failures = [], []
    lock = threading.Lock()

    def send(user, n):
        try:
            client = client_for(user)
            items = [_item(site, cat, f"SKU-{i}", quantity=str(10 + n)) for i in range(10)]
            barrier.wait(timeout=30)
            response = client.post(URL, {"items": items}, format="json")
            with lock:
                answers.append(response)
        except BaseException as exc:
            with lock:
                failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(user, n)) for n, user in enumerate(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert [response.status_code for response in answers] == [200] * len(users)
    for i in range(10):
        assert Offer.objects.filter(external_ref=f"SKU-{i}").count() == 1
        outcomes = sorted(response.json()["results"][i]["result"] for response in answers)
        assert outcomes[0] == "created" and outcomes.count("created") == 1
        assert set(outcomes[1:]) <= {"updated", "unchanged"}


# ---- events_record --------------------------------------------------------------------------------


def test_events_record_inserts_in_order_and_dispatches_each_once_committed(
    monkeypatch, django_capture_on_commit_callbacks
):
    handled: list[tuple[str, int]] = []
    monkeypatch.setitem(core_events._SUBSCRIBERS, "test.subscribed", ["core.tasks.dispatch_events"])
    monkeypatch.setattr(
        core_events,
        "_dispatch",
        lambda event, producer=None: handled.append((event.name, event.aggregate_id)),
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        recorded = events_record(
            [
                PendingEvent(
                    name="test.subscribed", aggregate_type="offer", aggregate_id=1, payload={"n": 1}
                ),
                PendingEvent(name="test.quiet", aggregate_type="offer", aggregate_id=2, actor="user:7"),
                PendingEvent(
                    name="test.subscribed", aggregate_type="offer", aggregate_id=3, organisation_id=9
                ),
            ]
        )
    assert [e.pk for e in recorded] == sorted(e.pk for e in recorded)
    assert list(
        DomainEvent.objects.order_by("id").values_list(
            "name", "aggregate_id", "actor", "organisation_id", "payload"
        )
    ) == [
        ("test.subscribed", 1, "system", None, {"n": 1}),
        ("test.quiet", 2, "user:7", None, {}),
        ("test.subscribed", 3, "system", 9, {}),
    ]
    assert handled == []  # nothing before the commit
    assert len(callbacks) == 1
    callbacks[0]()
    assert handled == [("test.subscribed", 1), ("test.subscribed", 3)]
    assert events_record([]) == []


def test_the_relay_task_enqueues_the_subscribers_in_id_order(monkeypatch):
    handled: list[int] = []
    monkeypatch.setitem(core_events._SUBSCRIBERS, "test.subscribed", ["whatever"])
    monkeypatch.setattr(core_events, "_dispatch", lambda event, producer=None: handled.append(event.pk))
    recorded = events_record(
        [PendingEvent(name="test.subscribed", aggregate_type="offer", aggregate_id=n) for n in range(3)]
    )
    ids = [event.pk for event in recorded]
    assert dispatch_events.apply(kwargs={"event_ids": [ids[2], ids[0], ids[1], 10**9]}).get() == 3
    assert handled == ids


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("live_celery")
def test_a_real_worker_runs_each_subscriber_of_a_batch_from_one_relay_message(firm, cat):
    """Not eager: the request enqueues one message (core.tasks.dispatch_events) once committed; the
    worker enqueues matching's consumer for each `offer.published`, which consumes each event once."""
    from celery import current_app

    site = make_site(firm)
    offers = [make_offer(firm, site, cat) for _ in range(3)]
    sent: list[str] = []
    send_task = current_app.send_task

    def spy(name, *args, **kwargs):
        sent.append(name)
        return send_task(name, *args, **kwargs)

    current_app.send_task = spy
    try:
        with transaction.atomic():
            recorded = events_record(
                [
                    PendingEvent(
                        name="offer.published",
                        aggregate_type="offer",
                        aggregate_id=offer.pk,
                        payload={"status": "published"},
                    )
                    for offer in offers
                ]
            )
            assert sent == []
        ids = {event.pk for event in recorded}
        consumed = EventConsumption.objects.filter(consumer=ALERTS_CONSUMER, event_id__in=ids)
        assert wait_for(lambda: consumed.count() == 3), "the subscribers did not run"
    finally:
        current_app.send_task = send_task
    assert sent[0] == "core.tasks.dispatch_events"
    # Every subscriber of offer.published (matching's, and any other's), once per event.
    assert sorted(sent[1:]) == sorted(core_events._SUBSCRIBERS["offer.published"] * 3)
    assert "matching.tasks.match_published_offer" in sent
