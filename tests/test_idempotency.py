"""Idempotency-Key (api.idempotency), through POST /api/v1/sites/ and a few test-only views."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView
from rest_framework_simplejwt.tokens import RefreshToken

from api.endpoints.sites import SiteListView
from api.idempotency import idempotent
from api.models import IdempotencyRecord, IdempotencyState
from api.tasks import prune_idempotency_keys
from config.urls import urlpatterns as project_urlpatterns
from core.errors import Conflict
from organisations.models import MembershipRole, Site

from .conftest import client_for, client_for_key, make_api_key, make_member, make_org
from .openapi import spec

POINT = {"type": "Point", "coordinates": [3.1746, 50.6916]}
SITE = {"name": "Cour de chargement", "location": POINT}


def _post(client, body=SITE, key="order-1", url="/api/v1/sites/"):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


# A test-only URLconf: the project's routes, the sites view under a second path, and views that fail.
class _CrashAfterWriteView(APIView):
    @extend_schema(exclude=True)
    @idempotent
    def post(self, request):
        make_org(name="Written before the crash")
        raise RuntimeError("kaboom")


class _ConflictView(APIView):
    @extend_schema(exclude=True)
    @idempotent
    def post(self, request):
        make_org(name="Written before the conflict")
        raise Conflict("Not now.", code="not_now")


class _AnonymousView(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(exclude=True)
    @idempotent
    def post(self, request):
        return Response({"ok": True}, status=201)


urlpatterns = [
    *project_urlpatterns,
    path("api/v1/sites-again/", SiteListView.as_view()),
    path("api/v1/crash/", _CrashAfterWriteView.as_view()),
    path("api/v1/conflict/", _ConflictView.as_view()),
    path("api/v1/anonymous/", _AnonymousView.as_view()),
]
handler500 = "api.errors.handler500"


def _plain_client(user) -> APIClient:
    """An unchecked client (the test-only routes are not in openapi.yaml)."""
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.mark.django_db
def test_replay_returns_the_identical_answer_and_creates_one_site(firm):
    client = client_for(make_member(firm, MembershipRole.MEMBER))
    first = _post(client)
    second = _post(client)
    assert first.status_code == 201, first.content
    assert not first.has_header("Idempotent-Replayed")
    assert second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    assert second["Content-Type"] == first["Content-Type"] == "application/json"
    assert second.content == first.content
    assert Site.objects.filter(organisation=firm).count() == 1
    record = IdempotencyRecord.objects.get()
    assert (record.scope, record.key, record.method, record.path, record.state, record.response_status) == (
        f"org:{firm.pk}",
        "order-1",
        "POST",
        "/api/v1/sites/",
        IdempotencyState.COMPLETED,
        201,
    )


@pytest.mark.django_db
def test_key_order_of_the_json_body_does_not_matter(firm):
    client = client_for(make_member(firm))
    first = _post(client, {"name": "Atelier", "location": POINT})
    second = _post(client, {"location": POINT, "name": "Atelier"})
    assert second["Idempotent-Replayed"] == "true"
    assert second.content == first.content
    assert Site.objects.count() == 1


@pytest.mark.django_db
def test_same_key_with_another_body_is_422(firm):
    client = client_for(make_member(firm))
    assert _post(client).status_code == 201
    response = _post(client, {**SITE, "name": "Autre dépôt"})
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert (body["code"], body["status"], body["instance"]) == (
        "idempotency_key_reused",
        422,
        "/api/v1/sites/",
    )
    assert list(Site.objects.values_list("name", flat=True)) == ["Cour de chargement"]


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="tests.test_idempotency")
def test_same_key_on_another_path_is_422(firm):
    user = make_member(firm)
    assert _post(client_for(user)).status_code == 201
    response = _post(_plain_client(user), url="/api/v1/sites-again/")
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert Site.objects.count() == 1


@pytest.mark.django_db
def test_two_organisations_use_the_same_key_independently(firm, association):
    firm_client = client_for(make_member(firm))
    association_client = client_for(make_member(association))
    first = _post(firm_client)
    second = _post(association_client)
    assert (first.status_code, second.status_code) == (201, 201)
    assert not second.has_header("Idempotent-Replayed")
    assert first.json()["organisation"] == firm.pk
    assert second.json()["organisation"] == association.pk
    assert sorted(IdempotencyRecord.objects.values_list("scope", flat=True)) == sorted(
        [f"org:{firm.pk}", f"org:{association.pk}"]
    )


@pytest.mark.django_db
def test_key_is_shared_by_everyone_acting_for_the_organisation(firm):
    """A colleague or the organisation's API key replays the same answer: the key is the organisation's."""
    first = _post(client_for(make_member(firm)))
    _key, raw = make_api_key(firm)
    by_key = _post(client_for_key(raw))
    by_colleague = _post(client_for(make_member(firm)))
    assert by_key["Idempotent-Replayed"] == by_colleague["Idempotent-Replayed"] == "true"
    assert by_key.content == by_colleague.content == first.content
    assert Site.objects.count() == 1


@pytest.mark.django_db
def test_person_with_several_organisations_has_a_personal_scope(firm, association):
    user = make_member(firm)
    make_member(association, user=user)
    response = _post(client_for(user), {**SITE, "organisation": association.pk})
    assert response.status_code == 201
    assert IdempotencyRecord.objects.get().scope == f"user:{user.pk}"


@pytest.mark.django_db
def test_validation_errors_are_replayed_and_a_corrected_body_needs_a_new_key(firm):
    client = client_for(make_member(firm))
    bad = {"name": "X", "location": {"type": "Point", "coordinates": [3.17, 91]}}
    first = _post(client, bad)
    second = _post(client, bad)
    assert (first.status_code, second.status_code) == (400, 400)
    assert second["Idempotent-Replayed"] == "true"
    assert second["Content-Type"] == "application/problem+json"
    assert second.content == first.content
    assert _post(client, SITE).status_code == 422
    assert _post(client, SITE, key="order-2").status_code == 201
    assert Site.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw_key", ["", "x" * 256, "clé", "tab\tinside"], ids=["empty", "too-long", "non-ascii", "control"]
)
def test_malformed_key_is_a_400_problem(firm, raw_key):
    response = _post(client_for(make_member(firm)), key=raw_key)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert Site.objects.count() == 0
    assert IdempotencyRecord.objects.count() == 0


@pytest.mark.django_db
def test_quoted_key_of_the_ietf_draft_is_the_same_key(firm):
    client = client_for(make_member(firm))
    _post(client, key="abc-123")
    assert _post(client, key='"abc-123"')["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_without_a_key_every_request_runs(firm):
    client = client_for(make_member(firm))
    for _ in range(2):
        assert client.post("/api/v1/sites/", SITE, format="json").status_code == 201
    assert Site.objects.count() == 2
    assert IdempotencyRecord.objects.count() == 0


@pytest.mark.django_db
def test_running_request_answers_409_until_its_lease_expires(firm):
    client = client_for(make_member(firm))
    _post(client)
    # Make the record look like a request still running (same fingerprint, no answer yet).
    IdempotencyRecord.objects.update(
        state=IdempotencyState.IN_PROGRESS, locked_until=timezone.now() + timedelta(minutes=1)
    )
    busy = _post(client)
    assert busy.status_code == 409
    assert busy["Retry-After"] == "1"
    assert busy.json()["code"] == "idempotency_in_progress"
    # The holder died (its lease ran out): the next retry takes over and runs the request.
    IdempotencyRecord.objects.update(locked_until=timezone.now() - timedelta(seconds=1))
    retried = _post(client)
    assert retried.status_code == 201
    assert not retried.has_header("Idempotent-Replayed")
    assert IdempotencyRecord.objects.get().state == IdempotencyState.COMPLETED
    assert _post(client)["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="tests.test_idempotency")
def test_crash_rolls_back_the_writes_and_releases_the_key(firm):
    client = _plain_client(make_member(firm))
    for _ in range(2):  # released, so the retry runs again (and crashes again)
        response = _post(client, {}, url="/api/v1/crash/")
        assert response.status_code == 500
        assert response.json()["code"] == "server_error"
        assert IdempotencyRecord.objects.count() == 0
    assert not type(firm).objects.filter(name="Written before the crash").exists()


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="tests.test_idempotency")
def test_conflict_is_not_stored_and_rolls_back(firm):
    client = _plain_client(make_member(firm))
    for _ in range(2):
        response = _post(client, {}, url="/api/v1/conflict/")
        assert response.status_code == 409
        assert response.json()["code"] == "not_now"
        assert not response.has_header("Idempotent-Replayed")
    assert IdempotencyRecord.objects.count() == 0
    assert not type(firm).objects.filter(name="Written before the conflict").exists()


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="tests.test_idempotency")
def test_anonymous_callers_are_not_deduplicated():
    client = APIClient()
    for _ in range(2):
        response = client.post("/api/v1/anonymous/", {}, format="json", HTTP_IDEMPOTENCY_KEY="k")
        assert response.status_code == 201
        assert not response.has_header("Idempotent-Replayed")
    assert IdempotencyRecord.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_ten_parallel_requests_with_one_key_create_one_site():
    firm = make_org(name="Menuiserie du Nord")
    user = make_member(firm)
    clients = [client_for(user) for _ in range(10)]
    barrier = threading.Barrier(len(clients))
    answers: list[tuple[int, str | None, bytes]] = []
    errors: list[BaseException] = []

    def post(client):
        try:
            barrier.wait(timeout=20)
            response = _post(client, key="parallel-1")
            answers.append((response.status_code, response.get("Idempotent-Replayed"), response.content))
        except BaseException as exc:  # surfaced below: an assertion in a thread would be lost
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(answers) == 10
    assert {status for status, _replayed, _body in answers} <= {201, 409}
    originals = [body for status, replayed, body in answers if status == 201 and replayed is None]
    replays = [body for status, replayed, body in answers if status == 201 and replayed == "true"]
    assert len(originals) == 1
    assert all(body == originals[0] for body in replays)
    assert Site.objects.count() == 1
    assert IdempotencyRecord.objects.get().state == IdempotencyState.COMPLETED


@pytest.mark.django_db
def test_pruning_deletes_only_records_older_than_a_day(firm):
    client = client_for(make_member(firm))
    for key in ("old", "recent"):
        _post(client, {**SITE, "name": key}, key=key)
    IdempotencyRecord.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
    IdempotencyRecord.objects.filter(key="recent").update(created_at=timezone.now() - timedelta(hours=23))
    assert prune_idempotency_keys.apply().get() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["recent"]
    # Forgotten: the same key now creates again.
    assert not _post(client, {**SITE, "name": "old"}, key="old").has_header("Idempotent-Replayed")
    assert Site.objects.filter(name="old").count() == 2


def test_pruning_runs_hourly_from_beat():
    from django.conf import settings

    entries = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == prune_idempotency_keys.name]
    assert prune_idempotency_keys.name == "api.tasks.prune_idempotency_keys"
    assert [entry["schedule"] for entry in entries] == [3600.0]


def test_schema_documents_the_header_on_decorated_operations_only():
    def header_names(operation):
        return [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]

    sites = spec()["paths"]["/api/v1/sites/"]
    assert header_names(sites["post"]) == ["Idempotency-Key"]
    assert header_names(sites["get"]) == []
