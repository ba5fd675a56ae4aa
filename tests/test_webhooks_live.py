"""Webhooks end to end, as deployed: the API under gunicorn, a real Celery worker with its beat (the
sweep), a Redis broker of the test's own that is stopped and started again, and a receiving HTTP
server on loopback that de-duplicates on `webhook-id` the way the documentation asks receivers to.

One offer's life — published, claimed, accepted, handed over, confirmed — crosses a broker outage and a
worker killed with SIGKILL in the middle of a delivery. Every message arrives signed (checked with the
reference `standardwebhooks` package), in commit order, each event exactly once as an effect; nothing
is lost, and the killed delivery is sent again with the same `webhook-id`."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from rest_framework_simplejwt.tokens import RefreshToken
from standardwebhooks.webhooks import Webhook

from integrations import services
from integrations.models import DeliveryStatus, WebhookDelivery
from organisations.actors import Actor
from organisations.models import MembershipRole, OrganisationKind

from .conftest import database_env_for_tests, free_port, make_member, make_offer, make_org, serve_gunicorn

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server")]

ROOT = Path(__file__).resolve().parent.parent
LIFE = ["offer.published", "claim.requested", "claim.accepted", "handover.recorded", "handover.confirmed"]


class Broker:
    """A redis-server of this test's own, so stopping it disturbs nobody else."""

    def __init__(self):
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert wait_for(self._answers, 10), "redis-server did not start"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


class Worker:
    """`celery worker -B` (the beat runs the sweep every second) in a process group of its own."""

    def __init__(self, env: dict[str, str], log: Path):
        self.env, self.log = env, log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "celery"), "-A", "config", "worker", "-B", "--pool=solo"]
            + ["--loglevel=WARNING", "-s", str(self.log.with_suffix(".beat"))],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL to the worker and its beat: no shutdown, no acknowledgement, no clean-up."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None


class DedupingReceiver:
    """Applies each message once (keyed by `webhook-id`), answering 200 to a repeat. `hang_on` names an
    event type whose first request is held open (the worker is killed meanwhile)."""

    def __init__(self, secret_of: dict[str, str]):
        self.secret_of = secret_of
        self.requests: list[tuple[str, str]] = []  # (webhook-id, type), every request as received
        self.effects: dict[str, dict] = {}  # webhook-id → payload, applied once
        self.order: list[str] = []  # types in the order applied
        self.hang_on: str | None = None
        self.hanging = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {name.lower(): value for name, value in self.headers.items()}
                payload = Webhook(receiver.secret_of[self.path]).verify(body, headers)  # raises if forged
                message_id = headers["webhook-id"]
                with receiver.lock:
                    receiver.requests.append((message_id, payload["type"]))
                    hang = payload["type"] == receiver.hang_on and not receiver.hanging.is_set()
                if hang:
                    receiver.hanging.set()
                    time.sleep(8)  # the worker dies meanwhile; this answer goes nowhere
                    return
                with receiver.lock:
                    if message_id not in receiver.effects:
                        receiver.effects[message_id] = payload
                        receiver.order.append(payload["type"])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"


def wait_for(condition, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def call(base: str, user, method: str, path: str, body: dict | None = None) -> dict:
    token = RefreshToken.for_user(user).access_token
    request = urllib.request.Request(
        f"{base}/api/v1/{path}",
        data=json.dumps(body or {}).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        raise AssertionError(f"{method} {path}: {error.code} {error.read().decode()}") from None


def test_one_offers_life_arrives_signed_in_order_once_through_an_outage_and_a_killed_worker(
    transactional_db, settings, tmp_path
):
    settings.BOUCLE_WEBHOOKS_ALLOW_LOOPBACK = True
    firm = make_org(OrganisationKind.COMPANY, name="Menuiserie Nord")
    association = make_org(OrganisationKind.ASSOCIATION, name="Ressourcerie Sud")
    donor = make_member(firm, MembershipRole.ADMIN)
    recipient = make_member(association, MembershipRole.ADMIN)
    offer = make_offer(firm, status="draft", quantity=10, title="Planches de chêne")
    secret_of: dict[str, str] = {}
    receiver = DedupingReceiver(secret_of)
    endpoint, secret_of["/firm"] = services.endpoint_create(
        actor=Actor.for_user(donor), url=receiver.url("/firm"), event_types=LIFE
    )

    broker = Broker()
    broker.start()
    env = {
        **os.environ,
        **database_env_for_tests(),
        "DJANGO_SETTINGS_MODULE": "tests.webhook_settings",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CELERY_BROKER_URL": broker.url,
        "CELERY_RESULT_BACKEND": broker.url,
        "BOUCLE_WEBHOOK_SWEEP_SECONDS": "1",
        "BOUCLE_WEBHOOK_LEASE_SECONDS": "4",
        "BOUCLE_WEBHOOK_READ_TIMEOUT_SECONDS": "30",
    }
    worker = Worker(env, tmp_path / "worker.log")
    worker.start()
    try:
        with serve_gunicorn(env, workers=2) as base:
            # 1. All up: the offer is published.
            call(base, donor, "POST", f"offers/{offer.pk}/publish/")
            assert wait_for(lambda: receiver.order == LIFE[:1]), receiver.order

            # 2. The broker stops: the API still answers, the changes stand, nothing is sent yet.
            broker.stop()
            claim = call(base, recipient, "POST", "claims/", {"offer": offer.pk, "quantity": "4"})
            call(base, donor, "POST", f"claims/{claim['id']}/accept/")
            time.sleep(2)
            assert receiver.order == LIFE[:1]
            broker.start()  # empty, as after a crash: what was never enqueued is found by the sweep
            assert wait_for(lambda: receiver.order == LIFE[:3], 60), receiver.order

            # 3. The worker is killed while the handover's message is in flight, then restarted.
            receiver.hang_on = "handover.recorded"
            handover = call(base, recipient, "POST", f"claims/{claim['id']}/handover/", {"mass_kg": "38.5"})
            assert receiver.hanging.wait(30), "the handover's message never left"
            worker.kill()
            call(base, donor, "POST", f"handovers/{handover['id']}/confirm/")
            worker.start()
            assert wait_for(lambda: receiver.order == LIFE, 60), receiver.order
    finally:
        worker.kill()
        broker.stop()
        receiver.server.shutdown()

    # Each event once as an effect, in commit order; every message to the endpoint carried its own id.
    deliveries = list(WebhookDelivery.objects.filter(endpoint=endpoint).order_by("event_id"))
    assert [d.event_type for d in deliveries] == LIFE
    assert all(d.status == DeliveryStatus.SUCCEEDED for d in deliveries)
    assert list(receiver.effects) == [d.message_id for d in deliveries]
    assert [p["data"].get("offer") for p in receiver.effects.values()] == [offer.pk] * len(LIFE)
    # The killed delivery went out twice, with one webhook-id; the others once.
    sent = [message_id for message_id, _type in receiver.requests]
    killed = next(d for d in deliveries if d.event_type == "handover.recorded")
    assert sent.count(killed.message_id) == 2
    assert all(sent.count(d.message_id) == 1 for d in deliveries if d is not killed)
