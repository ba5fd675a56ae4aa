"""Organisations: list, detail, update by admins, verification by the operator, the create command."""

import smtplib

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from core.models import DomainEvent, EventConsumption
from organisations.actors import Actor
from organisations.models import Membership, MembershipRole, Organisation, OrganisationKind, User

from .conftest import (
    CheckedClient,
    client_for,
    client_for_key,
    make_api_key,
    make_member,
    make_org,
    make_user,
)

pytestmark = pytest.mark.django_db


def test_members_list_their_organisations_operators_all(
    firm, association, operator_user, django_assert_max_num_queries
):
    make_org(name="Autre entreprise")
    member = make_member(firm, MembershipRole.MEMBER)
    make_member(association, MembershipRole.ADMIN, user=member)
    client = client_for(member)
    with django_assert_max_num_queries(4):
        response = client.get("/api/v1/organisations/")
    assert response.status_code == 200
    assert sorted(o["name"] for o in response.json()["results"]) == [
        "Menuiserie du Nord",
        "Repair Café Roubaix",
    ]

    for _ in range(10):
        make_org()
    with django_assert_max_num_queries(5):
        everything = client_for(operator_user).get("/api/v1/organisations/?limit=100")
    assert len(everything.json()["results"]) == Organisation.objects.count() == 14


def test_detail_shape(firm):
    firm.siret = "73282932000074"
    firm.save()
    body = (
        client_for(make_member(firm, MembershipRole.MEMBER)).get(f"/api/v1/organisations/{firm.pk}/").json()
    )
    assert {k: body[k] for k in ("id", "name", "kind", "siret", "rna", "verified")} == {
        "id": firm.pk,
        "name": "Menuiserie du Nord",
        "kind": "company",
        "siret": "73282932000074",
        "rna": "",
        "verified": True,
    }
    assert body["verified_at"] is not None


def test_admin_updates_details_and_an_event_is_recorded():
    org = make_org(OrganisationKind.ASSOCIATION, verified=False, rna="W595012345")
    admin = make_member(org)
    response = client_for(admin).patch(
        f"/api/v1/organisations/{org.pk}/",
        {"name": "Repair Café Roubaix-Est", "phone": "03 20 11 22 33", "siret": "443 061 841 00047"},
        format="json",
    )
    assert response.status_code == 200, response.content
    org.refresh_from_db()
    assert (org.name, org.phone, org.siret, org.rna) == (
        "Repair Café Roubaix-Est",
        "03 20 11 22 33",
        "44306184100047",
        "W595012345",
    )
    event = DomainEvent.objects.get(name="organisation.updated")
    assert event.payload == {"fields": ["name", "phone", "siret"]}
    assert event.actor == f"user:{admin.pk}"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"kind": "public_authority"}, ["kind"]),
        ({"verified": True, "verified_at": "2026-01-01T00:00:00Z"}, ["verified", "verified_at"]),
        ({"siret": ""}, ["siret"]),  # a company keeps a SIRET
        ({"siret": "73282932000075"}, ["siret"]),
        ({"rna": "W1"}, ["rna"]),
        ({"name": ""}, ["name"]),
        ({"name": 12, "website": "not a url"}, ["name", "website"]),
        ({"email": ["a@b.c"]}, ["email"]),
    ],
)
def test_bad_updates_are_400_and_change_nothing(body, fields):
    org = make_org(siret="73282932000074", name="Menuiserie du Nord")
    response = client_for(make_member(org)).patch(f"/api/v1/organisations/{org.pk}/", body, format="json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert sorted({e["field"] for e in response.json()["errors"]}) == fields
    org.refresh_from_db()
    assert (org.name, org.kind, org.siret, org.rna) == ("Menuiserie du Nord", "company", "73282932000074", "")
    assert not DomainEvent.objects.filter(name="organisation.updated").exists()


def test_siret_taken_by_another_organisation_is_a_field_error():
    make_org(siret="44306184100047")
    org = make_org(siret="73282932000074")
    response = client_for(make_member(org)).patch(
        f"/api/v1/organisations/{org.pk}/", {"siret": "44306184100047"}, format="json"
    )
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["siret"]


def test_verified_identity_changes_only_through_the_operator(operator_user):
    org = make_org(siret="73282932000074")
    admin_client = client_for(make_member(org))
    response = admin_client.patch(
        f"/api/v1/organisations/{org.pk}/", {"siret": "44306184100047"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "verified_identity"
    # Re-sending the same value, spaced differently, is no change.
    same = admin_client.patch(
        f"/api/v1/organisations/{org.pk}/", {"siret": "732 829 320 00074"}, format="json"
    )
    assert same.status_code == 200
    by_operator = client_for(operator_user).patch(
        f"/api/v1/organisations/{org.pk}/", {"siret": "44306184100047"}, format="json"
    )
    assert by_operator.status_code == 200
    assert by_operator.json()["siret"] == "44306184100047"


def test_plain_members_may_not_edit(firm):
    response = client_for(make_member(firm, MembershipRole.MEMBER)).patch(
        f"/api/v1/organisations/{firm.pk}/", {"name": "Mine"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    firm.refresh_from_db()
    assert firm.name == "Menuiserie du Nord"


def test_operator_verifies_once_and_admins_are_told_in_their_language(
    operator_user, django_capture_on_commit_callbacks
):
    org = make_org(OrganisationKind.ASSOCIATION, verified=False, name="Repair Café Roubaix", rna="W595012345")
    make_member(org, MembershipRole.ADMIN, user=make_user("amina@example.org", first_name="Amina"))
    make_member(
        org,
        MembershipRole.ADMIN,
        user=make_user("john@example.org", first_name="John", preferred_language="en"),
    )
    make_member(org, MembershipRole.MEMBER, user=make_user("member@example.org"))
    client = client_for(operator_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/organisations/{org.pk}/verify/")
    assert response.status_code == 200, response.content
    assert response.json()["verified"] is True
    org.refresh_from_db()
    assert org.verified_by == operator_user
    assert org.verified_at is not None
    event = DomainEvent.objects.get(name="organisation.verified")
    assert (event.aggregate_id, event.actor) == (org.pk, f"user:{operator_user.pk}")
    sent = sorted((m.to[0], m.subject) for m in mail.outbox)
    assert sent == [
        ("amina@example.org", "[Boucle] Votre organisation est vérifiée : Repair Café Roubaix"),
        ("john@example.org", "[Boucle] Your organisation is verified: Repair Café Roubaix"),
    ]
    assert "Bonjour Amina" in next(m.body for m in mail.outbox if m.to == ["amina@example.org"])

    first_verified_at = org.verified_at
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = client.post(f"/api/v1/organisations/{org.pk}/verify/")
    assert again.status_code == 200
    assert callbacks == []
    org.refresh_from_db()
    assert org.verified_at == first_verified_at
    assert DomainEvent.objects.filter(name="organisation.verified").count() == 1
    assert len(mail.outbox) == 2


def test_verification_email_task_is_idempotent(operator_user, django_capture_on_commit_callbacks):
    from organisations.tasks import send_verified_email

    org = make_org(verified=False, siret="73282932000074")
    make_member(org)
    with django_capture_on_commit_callbacks(execute=True):
        client_for(operator_user).post(f"/api/v1/organisations/{org.pk}/verify/")
    event = DomainEvent.objects.get(name="organisation.verified")
    assert send_verified_email.apply(kwargs={"event_id": event.pk}).get() is False
    assert len(mail.outbox) == 1


def test_only_the_operator_verifies(firm):
    org = make_org(verified=False)
    admin = make_member(org)
    response = client_for(admin).post(f"/api/v1/organisations/{org.pk}/verify/")
    assert response.status_code == 403
    assert client_for(make_member(firm)).post(f"/api/v1/organisations/{org.pk}/verify/").status_code == 404
    _key, raw = make_api_key(org)
    assert client_for_key(raw).post(f"/api/v1/organisations/{org.pk}/verify/").status_code == 403
    org.refresh_from_db()
    assert org.verified_at is None


def test_unverified_operator_organisation_is_no_operator():
    org = make_org(verified=False)
    pretender = make_member(make_org(OrganisationKind.OPERATOR, verified=False))
    assert client_for(pretender).post(f"/api/v1/organisations/{org.pk}/verify/").status_code == 404


def test_verify_unknown_organisation_is_404(operator_user):
    assert client_for(operator_user).post("/api/v1/organisations/999999/verify/").status_code == 404


def test_another_organisation_gets_404_on_every_organisation_route(firm):
    stranger = client_for(make_member(make_org(name="Concurrent")))
    routes = [
        ("get", f"/api/v1/organisations/{firm.pk}/", None),
        ("patch", f"/api/v1/organisations/{firm.pk}/", {"name": "Pris"}),
        ("post", f"/api/v1/organisations/{firm.pk}/verify/", None),
        ("get", f"/api/v1/organisations/{firm.pk}/invitations/", None),
        ("post", f"/api/v1/organisations/{firm.pk}/invitations/", {"email": "x@example.org"}),
    ]
    for method, path, body in routes:
        response = getattr(stranger, method)(path, body, format="json")
        assert response.status_code == 404, (method, path, response.content)
        assert response.json()["code"] == "not_found"
    assert [o["name"] for o in stranger.get("/api/v1/organisations/").json()["results"]] == ["Concurrent"]
    firm.refresh_from_db()
    assert firm.name == "Menuiserie du Nord"


def test_anonymous_gets_401_on_organisation_routes(firm):
    client = CheckedClient()
    assert client.get("/api/v1/organisations/").status_code == 401
    assert client.get(f"/api/v1/organisations/{firm.pk}/").status_code == 401
    assert client.post(f"/api/v1/organisations/{firm.pk}/verify/").status_code == 401


# --- create_organisation command ---------------------------------------------------------------------


def test_command_creates_a_verified_public_authority_and_is_idempotent(django_capture_on_commit_callbacks):
    args = [
        "--kind=public_authority",
        "--name=Ville de Roubaix",
        "--admin-email=Economie.Circulaire@ville-roubaix.example",
        "--password=Grand-Place-1911!",
        "--siret=21590512600011",
        "--verified",
    ]
    with django_capture_on_commit_callbacks(execute=True):
        call_command("create_organisation", *args)
        call_command("create_organisation", *args)
    org = Organisation.objects.get()
    assert (org.name, org.kind, org.siret, org.is_verified, org.verified_by) == (
        "Ville de Roubaix",
        "public_authority",
        "21590512600011",
        True,
        None,
    )
    user = User.objects.get()
    assert user.email == "economie.circulaire@ville-roubaix.example"
    assert user.check_password("Grand-Place-1911!")
    assert not user.is_staff
    assert list(Membership.objects.values_list("user_id", "organisation_id", "role")) == [
        (user.pk, org.pk, "admin")
    ]
    assert DomainEvent.objects.filter(name="organisation.verified").count() == 1
    assert DomainEvent.objects.get(name="organisation.created").actor == "system"
    assert [m.to for m in mail.outbox] == [["economie.circulaire@ville-roubaix.example"]]


def test_command_operator_admin_runs_the_admin():
    call_command(
        "create_organisation",
        "--kind=operator",
        "--name=Boucle MEL",
        "--admin-email=ops@boucle.example",
        "--verified",
    )
    user = User.objects.get()
    assert (user.is_staff, user.is_superuser, user.has_usable_password()) == (True, True, False)
    from organisations.actors import Actor

    assert Actor.for_user(user).is_operator


def test_command_refuses_bad_identifiers_and_weak_passwords():
    with pytest.raises(CommandError, match="siret: La clé de contrôle de ce SIRET est fausse"):
        call_command(
            "create_organisation",
            "--kind=public_authority",
            "--name=X",
            "--admin-email=x@example.org",
            "--siret=21590512600012",
        )
    with pytest.raises(CommandError, match="password"):
        call_command(
            "create_organisation",
            "--kind=operator",
            "--name=Y",
            "--admin-email=y@example.org",
            "--password=1234",
        )
    assert Organisation.objects.count() == 0
    assert User.objects.count() == 0


# --- authorization matrix: every route of this area, every kind of outsider ---------------------------


def _outsider(kind: str):
    other = make_org(name="Concurrent")
    if kind == "key":
        _key, raw = make_api_key(other)
        return client_for_key(raw)
    return client_for(make_member(other, MembershipRole.ADMIN if kind == "admin" else MembershipRole.MEMBER))


@pytest.mark.parametrize("outsider", ["admin", "member", "key"])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/v1/organisations/{org}/", None),
        ("patch", "/api/v1/organisations/{org}/", {"name": "Pris"}),
        ("post", "/api/v1/organisations/{org}/verify/", None),
        ("get", "/api/v1/organisations/{org}/invitations/", None),
        ("post", "/api/v1/organisations/{org}/invitations/", {"email": "x@example.org"}),
        ("delete", "/api/v1/api-keys/{key}/", None),
        ("get", "/api/v1/api-keys/?organisation={org}", None),
        ("post", "/api/v1/api-keys/", {"organisation": "{org}", "name": "x", "scopes": ["read"]}),
        (
            "post",
            "/api/v1/sites/",
            {
                "organisation": "{org}",
                "name": "x",
                "location": {"type": "Point", "coordinates": [3.17, 50.69]},
            },
        ),
    ],
)
def test_outsiders_get_404(firm, outsider, method, path, body):
    key, _raw = make_api_key(firm)
    client = _outsider(outsider)
    if body and body.get("organisation") == "{org}":
        body = {**body, "organisation": firm.pk}
    response = getattr(client, method)(path.format(org=firm.pk, key=key.pk), body, format="json")
    assert response.status_code == 404, response.content
    assert response.json()["code"] == "not_found"
    firm.refresh_from_db()
    key.refresh_from_db()
    assert (firm.name, key.revoked_at, firm.invitations.count(), firm.api_keys.count()) == (
        "Menuiserie du Nord",
        None,
        0,
        1,
    )


# --- tasks -------------------------------------------------------------------------------------------


def test_daily_reminder_lists_pending_organisations_oldest_first(settings):
    from organisations.tasks import remind_pending_verifications

    settings.BOUCLE_OPERATOR_EMAIL = "operateur@boucle.example"
    assert remind_pending_verifications.apply().get() == 0
    assert mail.outbox == []
    make_org(OrganisationKind.ASSOCIATION, verified=False, name="Repair Café", rna="W595012345")
    make_org(verified=False, name="Menuiserie Lemaire", siret="73282932000074")
    make_org(OrganisationKind.PUBLIC_AUTHORITY, verified=False, name="Ville")  # not self-registered
    make_org(name="Déjà vérifiée")
    assert remind_pending_verifications.apply().get() == 2
    (message,) = mail.outbox
    assert message.to == ["operateur@boucle.example"]
    assert message.subject == "[Boucle] 2 organisations en attente de vérification"
    assert message.body.index("Repair Café (association, RNA W595012345)") < message.body.index(
        "Menuiserie Lemaire (company, SIRET 73282932000074)"
    )


def test_reminder_is_scheduled_daily():
    from django.conf import settings

    from config.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["organisations-remind-pending-verifications"]
    assert entry["task"] in app.tasks
    assert (entry["schedule"].hour, entry["schedule"].minute) == ({9}, {0})


class FailingBackend:
    """An e-mail backend whose server answers with `error` (set by the test)."""

    error: Exception = OSError()

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise FailingBackend.error


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (smtplib.SMTPServerDisconnected("gone"), True),
        (ConnectionRefusedError(), True),
        (smtplib.SMTPResponseException(451, b"try later"), True),
        (smtplib.SMTPRecipientsRefused({"amina@example.org": (550, b"no such user")}), False),
        (smtplib.SMTPResponseException(554, b"rejected"), False),
    ],
)
def test_only_transient_mail_failures_are_retried(settings, operator_user, error, retried):
    from celery.exceptions import Retry

    from organisations.services import organisation_verify
    from organisations.tasks import send_verified_email

    org = make_org(verified=False, siret="73282932000074")
    make_member(org, user=make_user("amina@example.org"))
    organisation_verify(actor=Actor.for_user(operator_user), organisation_id=org.pk)
    event = DomainEvent.objects.get(name="organisation.verified")
    settings.EMAIL_BACKEND = "tests.test_organisations.FailingBackend"
    FailingBackend.error = error
    with pytest.raises(Retry if retried else type(error)):
        send_verified_email.apply(kwargs={"event_id": event.pk}, throw=True)
    # Nothing recorded as done: a retry (or a later sweep) still sends it.
    assert not EventConsumption.objects.filter(event=event).exists()
