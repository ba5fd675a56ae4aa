"""A real Celery worker, against the real Redis broker, runs the e-mail task that verification enqueues
after commit (no eager mode here)."""

import time
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail

from config.celery import app as celery_app
from core.models import EventConsumption
from organisations.models import MembershipRole, OrganisationKind

from .conftest import client_for, make_member, make_org, make_user


@pytest.fixture
def live_celery():
    """The project's app, not eager, sending to and consuming from a queue no other test run shares."""
    queue = f"boucle-test-{uuid.uuid4().hex[:12]}"
    saved = (celery_app.conf.task_always_eager, celery_app.conf.task_default_queue)
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    try:
        with start_worker(
            celery_app, pool="solo", perform_ping_check=False, queues=[queue], shutdown_timeout=30
        ):
            yield queue
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_default_queue = saved


def wait_for(condition, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.slow
def test_verification_email_is_sent_by_a_real_worker(transactional_db, live_celery):
    operator = make_member(make_org(OrganisationKind.OPERATOR, name="Boucle Opérateur"))
    organisation = make_org(
        OrganisationKind.ASSOCIATION, verified=False, name="Repair Café Roubaix", rna="W595012345"
    )
    make_member(
        organisation,
        MembershipRole.ADMIN,
        user=make_user("john@example.org", first_name="John", preferred_language="en"),
    )

    response = client_for(operator).post(f"/api/v1/organisations/{organisation.pk}/verify/")
    assert response.status_code == 200, response.content

    assert wait_for(lambda: len(mail.outbox) == 1), "the worker did not send the verification e-mail"
    message = mail.outbox[0]
    assert message.to == ["john@example.org"]
    assert message.subject == "[Boucle] Your organisation is verified: Repair Café Roubaix"
    assert message.body.startswith("Hello John,")
    assert wait_for(lambda: EventConsumption.objects.filter(consumer="organisations.verified_email").exists())
