"""Signed webhooks (integrations/): endpoints and secrets through the API, the fan-out of the outbox into
messages, and delivery to a real HTTP server on loopback, verified with the reference `standardwebhooks`
package. The worker-level drills (SIGKILL, Redis stopped) are in tests/test_webhooks_live.py."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from claims import services as claims_services
from core.events import event_record
from core.models import DomainEvent
from integrations import selectors, services, ssrf
from integrations.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from organisations.actors import Actor
from organisations.models import MembershipRole, OrganisationKind

from .conftest import client_for, client_for_key, make_api_key, make_member, make_offer, make_org
from .test_ssrf import HOSTILE, FakeDNS

pytestmark = pytest.mark.django_db

URL = "/api/v1/webhook-endpoints/"


class Receiver:
    """An HTTP server on loopback that records every request and answers what the test says."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answers: list[tuple[int, dict, bytes]] = []  # consumed in order; then 200
        self.delay_s = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                status, headers, payload = receiver.answers.pop(0) if receiver.answers else (200, {}, b"ok")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/boucle"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.BOUCLE_WEBHOOKS_ALLOW_LOOPBACK = True
    settings.BOUCLE_WEBHOOK_READ_TIMEOUT_SECONDS = 2
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def firm():
    return make_org(OrganisationKind.COMPANY, name="Menuiserie Nord")


@pytest.fixture
def admin(firm):
    return make_member(firm, MembershipRole.ADMIN)


def register(admin, url: str, types=("offer.published",)) -> tuple[WebhookEndpoint, str]:
    return services.endpoint_create(actor=Actor.for_user(admin), url=url, event_types=list(types))


def record(offer, name: str = "offer.published") -> DomainEvent:
    with transaction.atomic():
        return event_record(
            name=name,
            aggregate_type="offer",
            aggregate_id=offer.pk,
            organisation_id=offer.organisation_id,
            payload={"status": offer.status},
        )


def deliver_everything() -> None:
    services.events_fan_out()
    for _round in range(20):
        due = selectors.deliveries_due()
        if not due:
            return
        for delivery_id in due:
            services.delivery_attempt(delivery_id=delivery_id)


def verified(secret: str, request: dict) -> dict:
    headers = {name.lower(): value for name, value in request["headers"].items()}
    return Webhook(secret).verify(request["body"], headers)


# ---- endpoints through the API ---------------------------------------------------------------------


def test_an_admin_registers_an_endpoint_and_sees_its_secret_once(firm, admin, receiver):
    response = client_for(admin).post(
        URL, {"url": receiver.url, "event_types": ["offer.published", "claim.requested"]}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) == 50
    assert body["event_types"] == ["claim.requested", "offer.published"]
    assert body["is_active"] is True and body["organisation"] == firm.pk
    assert response["Location"].endswith(f"{URL}{body['id']}/")

    again = client_for(admin).get(f"{URL}{body['id']}/")
    assert again.status_code == 200 and "secret" not in again.json()
    assert WebhookEndpoint.objects.get().secret == body["secret"]


def test_members_and_keys_may_not_manage_endpoints(firm, admin, receiver):
    member = make_member(firm, MembershipRole.MEMBER)
    _key, raw = make_api_key(firm)
    payload = {"url": receiver.url, "event_types": ["offer.published"]}
    assert client_for(member).post(URL, payload, format="json").status_code == 403
    assert client_for_key(raw).post(URL, payload, format="json").status_code == 403
    endpoint, _secret = register(admin, receiver.url)
    other_admin = make_member(make_org(OrganisationKind.COMPANY, name="Autre"), MembershipRole.ADMIN)
    assert client_for(other_admin).get(f"{URL}{endpoint.pk}/").status_code == 404
    assert client_for(other_admin).get(URL).json()["results"] == []


def test_an_unknown_event_type_is_a_field_error(admin, receiver):
    response = client_for(admin).post(
        URL, {"url": receiver.url, "event_types": ["offer.eaten"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert [error["field"] for error in response.json()["errors"]] == ["event_types.0"]


@pytest.fixture
def dns(monkeypatch) -> FakeDNS:
    fake = FakeDNS()
    monkeypatch.setattr(ssrf, "resolve_host", fake)
    return fake


@pytest.mark.parametrize(("url", "reason"), HOSTILE)
def test_a_hostile_url_is_refused_at_registration(admin, url, reason, dns):
    response = client_for(admin).post(URL, {"url": url, "event_types": ["offer.published"]}, format="json")
    assert response.status_code == 400, (url, response.content)
    body = response.json()
    assert body["code"] == "webhook_url_refused" and body["reason"] == reason
    assert [error["field"] for error in body["errors"]] == ["url"]
    assert not WebhookEndpoint.objects.exists()


def test_at_least_twenty_hostile_urls_are_tried():
    assert len(HOSTILE) >= 20


def test_update_disable_enable_and_delete(admin, receiver):
    endpoint, _secret = register(admin, receiver.url)
    client = client_for(admin)
    response = client.patch(f"{URL}{endpoint.pk}/", {"is_active": False}, format="json")
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert f"user:{admin.pk}" in response.json()["disabled_reason"]
    response = client.patch(
        f"{URL}{endpoint.pk}/", {"is_active": True, "event_types": ["claim.accepted"]}, format="json"
    )
    assert response.json()["is_active"] is True and response.json()["disabled_reason"] == ""
    assert response.json()["event_types"] == ["claim.accepted"]
    refused = client.patch(f"{URL}{endpoint.pk}/", {"url": "http://169.254.169.254/latest/"}, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "webhook_url_refused"
    assert client.delete(f"{URL}{endpoint.pk}/").status_code == 204
    assert not WebhookEndpoint.objects.exists()


# ---- signing ---------------------------------------------------------------------------------------


def test_a_message_is_signed_and_verifies_with_the_reference_library(firm, admin, receiver):
    endpoint, secret = register(admin, receiver.url)
    offer = make_offer(firm, title="Planches de chêne", external_ref="SKU-1")
    event = record(offer)
    deliver_everything()

    (request,) = receiver.requests
    payload = verified(secret, request)
    assert payload == {
        "id": f"evt_{event.pk}",
        "type": "offer.published",
        "timestamp": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "data": {
            "offer": offer.pk,
            "external_ref": "SKU-1",
            "status": "published",
            # The offer's plain fields: its read shape (exchange/shape.py), times in UTC.
            "title": "Planches de chêne",
            "quantity": "10.000",
            "unit": "piece",
            "remaining_quantity": "10.000",
            "mass_per_unit_kg": None,
            "condition": "good",
            "mode": "donation",
            "price_eur": None,
            "available_from": offer.available_from.isoformat().replace("+00:00", "Z"),
            "available_until": None,
            "summary": f"Offer {offer.pk} (Planches de chêne): published",
        },
    }
    delivery = WebhookDelivery.objects.get()
    assert request["headers"]["webhook-id"] == delivery.message_id
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["path"] == "/hooks/boucle"
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 1
    with pytest.raises(WebhookVerificationError):
        verified("whsec_" + "A" * 43 + "=", request)


def test_during_a_rotation_both_secrets_sign_then_only_the_new_one(firm, admin, receiver):
    endpoint, old = register(admin, receiver.url)
    client = client_for(admin)
    response = client.post(f"{URL}{endpoint.pk}/rotate-secret/", {"overlap_hours": 2}, format="json")
    assert response.status_code == 200
    new = response.json()["secret"]
    assert new != old and response.json()["previous_secret_expires_at"] is not None
    offer = make_offer(firm)
    record(offer)
    deliver_everything()
    request = receiver.requests[-1]
    assert len(request["headers"]["webhook-signature"].split(" ")) == 2
    assert verified(old, request) == verified(new, request)

    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(previous_secret_expires_at=timezone.now())
    record(offer, "offer.published")
    deliver_everything()
    request = receiver.requests[-1]
    assert len(request["headers"]["webhook-signature"].split(" ")) == 1
    verified(new, request)
    with pytest.raises(WebhookVerificationError):
        verified(old, request)


def test_a_rotation_overlap_is_bounded(admin, receiver):
    endpoint, _secret = register(admin, receiver.url)
    response = client_for(admin).post(
        f"{URL}{endpoint.pk}/rotate-secret/", {"overlap_hours": 500}, format="json"
    )
    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == ["overlap_hours"]


# ---- the fan-out -------------------------------------------------------------------------------------


def test_one_message_per_event_and_endpoint_however_often_the_fan_out_runs(firm, admin, receiver):
    register(admin, receiver.url)
    register(admin, receiver.url + "/second")
    event = record(make_offer(firm))
    assert services.events_fan_out() == 1
    assert services.events_fan_out() == 0
    assert WebhookDelivery.objects.filter(event=event).count() == 2
    assert len(set(WebhookDelivery.objects.values_list("message_id", flat=True))) == 2


def test_nothing_is_sent_for_a_rolled_back_change(firm, admin, receiver):
    register(admin, receiver.url)
    offer = make_offer(firm)
    with pytest.raises(RuntimeError), transaction.atomic():
        event_record(name="offer.published", aggregate_type="offer", aggregate_id=offer.pk)
        raise RuntimeError("the change fails")
    deliver_everything()
    assert not WebhookDelivery.objects.exists() and receiver.requests == []


def test_an_endpoint_hears_only_the_types_it_wants_and_events_after_it_exists(firm, admin, receiver):
    offer = make_offer(firm)
    before = record(offer)
    register(admin, receiver.url, types=("offer.expired",))
    record(offer, "offer.published")
    expired = record(offer, "offer.expired")
    deliver_everything()
    assert [json.loads(r["body"])["id"] for r in receiver.requests] == [f"evt_{expired.pk}"]
    assert not WebhookDelivery.objects.filter(event=before).exists()


def test_a_claim_is_told_to_both_parties_and_a_match_to_the_need(firm, admin, receiver, commit):
    association = make_org(OrganisationKind.ASSOCIATION, name="Ressourcerie Sud")
    recipient_admin = make_member(association, MembershipRole.ADMIN)
    firm_endpoint, firm_secret = register(admin, receiver.url + "/firm", ("claim.requested",))
    assoc_endpoint, assoc_secret = register(recipient_admin, receiver.url + "/assoc", ("claim.requested",))
    offer = make_offer(firm, quantity=10)
    with commit(execute=True):
        claim = claims_services.claim_request(
            actor=Actor.for_user(recipient_admin), offer_id=offer.pk, quantity=Decimal("3")
        )
    by_path = {r["path"]: r for r in receiver.requests}
    assert set(by_path) == {"/hooks/boucle/firm", "/hooks/boucle/assoc"}
    data = verified(firm_secret, by_path["/hooks/boucle/firm"])["data"]
    assert verified(assoc_secret, by_path["/hooks/boucle/assoc"])["data"] == data
    assert data == {
        "claim": claim.pk,
        "offer": offer.pk,
        "external_ref": None,
        "claimant": association.pk,
        "quantity": "3.000",
        "unit": "piece",
        "status": "requested",
        "summary": f"Claim {claim.pk} on offer {offer.pk}: requested",
    }
    text = json.dumps(data)
    assert "@" not in text and recipient_admin.email not in text  # never a person's contact data


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


# ---- delivery --------------------------------------------------------------------------------------------


def test_a_failure_is_retried_with_backoff_and_logged(firm, admin, receiver, settings):
    register(admin, receiver.url)
    receiver.answers = [(500, {}, b"boom")]
    record(make_offer(firm))
    services.events_fan_out()
    delivery = WebhookDelivery.objects.get()
    before = timezone.now()
    result = services.delivery_attempt(delivery_id=delivery.pk)
    assert result.succeeded is False and result.status_code == 500
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    wait = (delivery.next_attempt_at - before).total_seconds()
    assert 5 * 0.8 - 0.1 <= wait <= 5 * 1.2 + 1  # the first wait, with its jitter
    (attempt,) = delivery.attempt_log.all()
    assert (attempt.status_code, attempt.succeeded, attempt.response_body) == (500, False, "boom")
    assert selectors.deliveries_due() == []  # not before its time

    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert services.delivery_attempt(delivery_id=delivery.pk).succeeded is True
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 2
    assert [r["headers"]["webhook-id"] for r in receiver.requests] == [delivery.message_id] * 2


def test_the_schedule_spans_about_three_days_then_gives_up(firm, admin, receiver, settings):
    schedule = settings.BOUCLE_WEBHOOK_RETRY_SCHEDULE_SECONDS
    assert 2.5 * 86400 <= sum(schedule) <= 3.5 * 86400
    assert all(later > earlier for earlier, later in zip(schedule, schedule[1:], strict=False))
    settings.BOUCLE_WEBHOOK_RETRY_SCHEDULE_SECONDS = [1, 1]
    register(admin, receiver.url)
    receiver.answers = [(503, {}, b"")] * 3
    record(make_offer(firm))
    services.events_fan_out()
    delivery = WebhookDelivery.objects.get()
    for _attempt in range(3):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (DeliveryStatus.FAILED, 3, None)
    assert selectors.deliveries_due() == []


def test_jitter_spreads_the_waits():
    waits = {services.retry_delay(3).total_seconds() for _ in range(50)}
    assert len(waits) > 40 and min(waits) >= 1800 * 0.8 and max(waits) <= 1800 * 1.2
    assert services.retry_delay(10) is None


def test_410_disables_the_endpoint(firm, admin, receiver):
    endpoint, _secret = register(admin, receiver.url)
    receiver.answers = [(410, {}, b"gone")]
    offer = make_offer(firm)
    record(offer)
    deliver_everything()
    endpoint.refresh_from_db()
    assert endpoint.is_active is False and "410 Gone" in endpoint.disabled_reason
    assert WebhookDelivery.objects.get().status == DeliveryStatus.FAILED
    record(offer)
    deliver_everything()
    assert len(receiver.requests) == 1 and WebhookDelivery.objects.count() == 1


def test_a_redirect_is_not_followed(firm, admin, receiver):
    register(admin, receiver.url)
    receiver.answers = [(302, {"Location": receiver.url + "/elsewhere"}, b"")]
    record(make_offer(firm))
    deliver_everything()
    assert [r["path"] for r in receiver.requests] == ["/hooks/boucle"]
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempt_log.get().status_code == 302


def test_only_the_start_of_an_answer_is_read(firm, admin, receiver, settings):
    register(admin, receiver.url)
    receiver.answers = [(200, {}, b"x" * 1_000_000)]
    record(make_offer(firm))
    deliver_everything()
    attempt = WebhookDelivery.objects.get().attempt_log.get()
    assert attempt.succeeded and len(attempt.response_body) == settings.BOUCLE_WEBHOOK_RESPONSE_CAP_BYTES


def test_a_slow_receiver_times_out(firm, admin, receiver, settings):
    settings.BOUCLE_WEBHOOK_READ_TIMEOUT_SECONDS = 1
    register(admin, receiver.url)
    receiver.delay_s = 3
    record(make_offer(firm))
    services.events_fan_out()
    started = time.monotonic()
    result = services.delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk)
    assert time.monotonic() - started < 2.5
    assert result.succeeded is False and result.status_code is None and "timed out" in result.error


def test_one_offers_messages_wait_for_the_earlier_one(firm, admin, receiver):
    register(admin, receiver.url, ("offer.published", "offer.expired"))
    offer, other = make_offer(firm), make_offer(firm)
    receiver.answers = [(500, {}, b"")]
    first, second, elsewhere = record(offer), record(offer, "offer.expired"), record(other)
    services.events_fan_out()
    by_event = {d.event_id: d.pk for d in WebhookDelivery.objects.all()}
    assert selectors.deliveries_due() == [by_event[first.pk], by_event[elsewhere.pk]]
    services.delivery_attempt(delivery_id=by_event[first.pk])  # 500: waits for its retry
    assert services.delivery_attempt(delivery_id=by_event[second.pk]) is None  # still behind it
    assert selectors.deliveries_due() == [by_event[elsewhere.pk]]
    WebhookDelivery.objects.filter(pk=by_event[first.pk]).update(next_attempt_at=timezone.now())
    deliver_everything()
    ids = [json.loads(r["body"])["id"] for r in receiver.requests]
    assert ids.index(f"evt_{second.pk}") > max(i for i, v in enumerate(ids) if v == f"evt_{first.pk}")


def test_a_leased_message_is_not_sent_twice_at_once(firm, admin, receiver):
    register(admin, receiver.url)
    record(make_offer(firm))
    services.events_fan_out()
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(leased_until=timezone.now() + timedelta(seconds=30))
    assert services.delivery_attempt(delivery_id=delivery.pk) is None
    WebhookDelivery.objects.filter(pk=delivery.pk).update(leased_until=timezone.now() - timedelta(seconds=1))
    assert services.delivery_attempt(delivery_id=delivery.pk).succeeded is True


@pytest.mark.parametrize(("url", "reason"), [(url, reason) for url, reason in HOSTILE if len(url) <= 2048])
def test_a_hostile_url_is_refused_at_delivery(firm, admin, receiver, url, reason, dns, settings):
    endpoint, _secret = register(admin, receiver.url)
    settings.BOUCLE_WEBHOOKS_ALLOW_LOOPBACK = False
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url=url)  # as if the rule had changed since
    record(make_offer(firm))
    services.events_fan_out()
    result = services.delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk)
    assert result.succeeded is False and result.error == f"refused: {reason}"
    assert receiver.requests == []


def test_a_dns_rebinding_after_registration_is_refused_at_delivery(firm, admin, dns, settings):
    settings.BOUCLE_WEBHOOKS_ALLOW_LOOPBACK = False
    dns.queue["hooks.example.org"] = [["93.184.215.14"], ["127.0.0.1"], ["93.184.215.14", "169.254.169.254"]]
    register(admin, "https://hooks.example.org/boucle")
    record(make_offer(firm))
    services.events_fan_out()
    result = services.delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk)
    assert result.error == "refused: loopback"
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    assert (
        services.delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk).error == "refused: metadata"
    )
    assert [host for host, _port in dns.calls] == ["hooks.example.org"] * 3


# ---- the delivery log and replay -----------------------------------------------------------------------


def test_the_log_lists_attempts_and_a_replay_sends_the_same_message(firm, admin, receiver):
    endpoint, _secret = register(admin, receiver.url)
    receiver.answers = [(500, {}, b"first")]
    event = record(make_offer(firm))
    services.events_fan_out()
    delivery = WebhookDelivery.objects.get()
    services.delivery_attempt(delivery_id=delivery.pk)
    client = client_for(admin)
    listed = client.get("/api/v1/webhook-deliveries/", {"endpoint": endpoint.pk}).json()["results"]
    assert [(d["id"], d["event"], d["status"], d["attempts"]) for d in listed] == [
        (delivery.pk, event.pk, "pending", 1)
    ]
    (attempt,) = listed[0]["attempt_log"]
    assert (
        attempt["status_code"] == 500 and attempt["response_body"] == "first" and attempt["duration_ms"] >= 0
    )
    assert listed[0]["payload"]["id"] == f"evt_{event.pk}"

    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    services.delivery_attempt(delivery_id=delivery.pk)
    assert len(receiver.requests) == 2
    response = client.post(f"/api/v1/webhook-deliveries/{delivery.pk}/replay/")
    assert response.status_code == 202 and response.json()["status"] == "pending"
    deliver_everything()
    assert [r["headers"]["webhook-id"] for r in receiver.requests] == [delivery.message_id] * 3
    assert [r["body"] for r in receiver.requests] == [delivery.body.encode()] * 3
    detail = client.get(f"/api/v1/webhook-deliveries/{delivery.pk}/").json()
    assert detail["status"] == "succeeded" and len(detail["attempt_log"]) == 3


def test_a_disabled_endpoint_cannot_replay(firm, admin, receiver):
    endpoint, _secret = register(admin, receiver.url)
    record(make_offer(firm))
    deliver_everything()
    services.endpoint_update(actor=Actor.for_user(admin), endpoint_id=endpoint.pk, is_active=False)
    response = client_for(admin).post(
        f"/api/v1/webhook-deliveries/{WebhookDelivery.objects.get().pk}/replay/"
    )
    assert response.status_code == 409 and response.json()["code"] == "webhook_endpoint_disabled"


def test_another_organisations_log_is_absent(firm, admin, receiver):
    register(admin, receiver.url)
    record(make_offer(firm))
    deliver_everything()
    delivery = WebhookDelivery.objects.get()
    stranger = make_member(make_org(OrganisationKind.COMPANY, name="Autre"), MembershipRole.ADMIN)
    client = client_for(stranger)
    assert client.get("/api/v1/webhook-deliveries/").json()["results"] == []
    assert client.get(f"/api/v1/webhook-deliveries/{delivery.pk}/").status_code == 404
    assert client.post(f"/api/v1/webhook-deliveries/{delivery.pk}/replay/").status_code == 404
    member = make_member(firm, MembershipRole.MEMBER)
    assert client_for(member).get(f"/api/v1/webhook-deliveries/{delivery.pk}/").status_code == 403
    assert client_for(member).get("/api/v1/webhook-deliveries/").json()["results"] == []
