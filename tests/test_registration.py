"""Signing up without telling anyone which addresses have accounts: the same 202 either way, a
confirmation code for a new address, an e-mail to the owner of an existing one, and unconfirmed
sign-ups deleted once expired."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core import mail
from django.db import connection
from django.utils import timezone

from core.models import DomainEvent
from organisations import services
from organisations.actors import Actor
from organisations.models import Membership, MembershipRole, Organisation, Registration, User
from organisations.selectors import organisations_pending_verification
from organisations.tokens import hash_token

from .conftest import CheckedClient, make_member, make_org, make_user
from .conftest import registration as signup_body

pytestmark = pytest.mark.django_db

PASSWORD = "lin-et-chanvre-1852"
ACCEPTED_EN = {"detail": "Check your e-mail: we have sent a message to this address to go on."}


def registration(**overrides) -> dict:
    return signup_body(PASSWORD, **overrides)


def register(body: dict, language: str = "en", capture=None):
    def post():
        return CheckedClient().post(
            "/api/v1/auth/register/", body, format="json", HTTP_ACCEPT_LANGUAGE=language
        )

    if capture is None:
        return post()
    with capture(execute=True):
        return post()


def confirm(token: str, capture=None):
    def post():
        return CheckedClient().post("/api/v1/auth/register/confirm/", {"token": token}, format="json")

    if capture is None:
        return post()
    with capture(execute=True):
        return post()


def code_in(message) -> str:
    return re.search(r"^  (\S{40,})$", message.body, re.M).group(1)


def test_a_new_address_gets_an_inactive_account_and_a_confirmation_code(django_capture_on_commit_callbacks):
    response = register(registration(), capture=django_capture_on_commit_callbacks)
    assert response.status_code == 202, response.content
    assert response.json() == ACCEPTED_EN
    user = User.objects.get()
    organisation = Organisation.objects.get()
    assert user.email == "claire.lemaire@example.org"
    assert user.is_active is False
    assert user.check_password(PASSWORD)
    assert (organisation.name, organisation.siret, organisation.verified_at) == (
        "Menuiserie Lemaire",
        "73282932000074",
        None,
    )
    assert list(Membership.objects.values_list("user_id", "organisation_id", "role")) == [
        (user.pk, organisation.pk, MembershipRole.ADMIN)
    ]
    pending = Registration.objects.get()
    assert (pending.user, pending.organisation, pending.confirmed_at) == (user, organisation, None)
    days = 7  # BOUCLE_REGISTRATION_CONFIRM_DAYS
    assert (
        timedelta(days=days) - timedelta(minutes=1)
        < pending.expires_at - timezone.now()
        <= timedelta(days=days)
    )
    # The operator hears of it only once the address is confirmed.
    assert not DomainEvent.objects.filter(name="organisation.registered").exists()
    assert DomainEvent.objects.get(name="registration.requested").aggregate_id == pending.pk

    (message,) = mail.outbox
    assert message.to == ["claire.lemaire@example.org"]
    assert message.subject == "[Boucle] Confirmez votre inscription : Menuiserie Lemaire"  # her language
    assert "POST /api/v1/auth/register/confirm/" in message.body
    code = code_in(message)
    assert pending.token_hash == hash_token(code)
    assert code not in pending.token_hash

    # Until confirmed, logging in reads exactly like a wrong password.
    login = CheckedClient().post(
        "/api/v1/auth/token/", {"email": user.email, "password": PASSWORD}, format="json"
    )
    unknown = CheckedClient().post(
        "/api/v1/auth/token/", {"email": "nobody@example.org", "password": PASSWORD}, format="json"
    )
    assert login.status_code == unknown.status_code == 401
    assert login.json() == {**unknown.json()}
    assert login.json()["code"] == "no_active_account"


def test_the_confirmation_code_activates_logs_in_and_tells_the_operator(
    django_capture_on_commit_callbacks, settings
):
    settings.BOUCLE_OPERATOR_EMAIL = "operateur@boucle.example"
    register(registration(), capture=django_capture_on_commit_callbacks)
    code = code_in(mail.outbox[0])

    response = confirm(code, capture=django_capture_on_commit_callbacks)

    assert response.status_code == 200, response.content
    user = User.objects.get()
    organisation = Organisation.objects.get()
    body = response.json()
    assert sorted(body) == ["access", "account", "refresh"]
    assert body["account"] == {
        "id": user.pk,
        "email": "claire.lemaire@example.org",
        "first_name": "Claire",
        "last_name": "Lemaire",
        "preferred_language": "fr",
        "notifications": "immediate",
        "is_operator": False,
        "memberships": [
            {
                "organisation": {
                    "id": organisation.pk,
                    "name": "Menuiserie Lemaire",
                    "kind": "company",
                    "verified": False,
                },
                "role": "admin",
            }
        ],
    }
    client = CheckedClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    assert client.get("/api/v1/me/").json()["id"] == user.pk
    assert (
        CheckedClient()
        .post("/api/v1/auth/token/refresh/", {"refresh": body["refresh"]}, format="json")
        .status_code
        == 200
    )
    assert user.is_active is True
    assert Registration.objects.get().confirmed_at is not None
    event = DomainEvent.objects.get(name="organisation.registered")
    assert (event.aggregate_id, event.organisation_id, event.actor, event.payload) == (
        organisation.pk,
        organisation.pk,
        f"user:{user.pk}",
        {"kind": "company"},
    )
    notice = mail.outbox[-1]
    assert notice.to == ["operateur@boucle.example"]
    assert notice.subject == "[Boucle] Nouvelle organisation à vérifier : Menuiserie Lemaire"
    assert "SIRET : 73282932000074" in notice.body
    assert "claire.lemaire@example.org" in notice.body
    assert len(mail.outbox) == 2

    again = confirm(code)
    assert again.status_code == 400
    assert again.json()["code"] == "registration_token_invalid"
    assert [e["field"] for e in again.json()["errors"]] == ["token"]


@pytest.mark.parametrize("token", ["", "x" * 43, "not a code"])
def test_unknown_confirmation_codes_are_refused(token):
    response = confirm(token)
    assert response.status_code == 400
    assert response.json()["code"] == ("validation_error" if not token else "registration_token_invalid")


def test_an_expired_code_is_refused_and_not_sent_again(django_capture_on_commit_callbacks):
    register(registration(), capture=django_capture_on_commit_callbacks)
    code = code_in(mail.outbox[0])
    Registration.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = confirm(code)
    assert response.status_code == 400
    assert response.json()["code"] == "registration_token_invalid"
    assert User.objects.get().is_active is False
    again = register(registration(), capture=django_capture_on_commit_callbacks)
    assert (again.status_code, again.json()) == (202, ACCEPTED_EN)
    assert len(mail.outbox) == 1


def test_an_address_with_an_account_gets_the_same_answer_and_its_owner_an_email(
    django_capture_on_commit_callbacks,
):
    owner = make_user("claire.lemaire@example.org", password="mon-vrai-mot-2026", preferred_language="en")
    taken = register(registration(), capture=django_capture_on_commit_callbacks)
    fresh = register(
        registration(email="someone.new@example.org", organisation={"siret": "44306184100047"}),
        capture=django_capture_on_commit_callbacks,
    )
    assert (taken.status_code, taken["Content-Type"], taken.json()) == (
        fresh.status_code,
        fresh["Content-Type"],
        fresh.json(),
    )
    assert taken.json() == ACCEPTED_EN
    # Nothing changed for the owner; only the new address got an account.
    owner.refresh_from_db()
    assert owner.check_password("mon-vrai-mot-2026")
    assert owner.is_active
    assert list(Organisation.objects.values_list("siret", flat=True)) == ["44306184100047"]
    assert not Registration.objects.filter(user=owner).exists()
    notice, confirmation = mail.outbox
    assert notice.to == ["claire.lemaire@example.org"]
    assert notice.subject == "[Boucle] Someone tried to sign up with your address"  # the owner's language
    assert "You already have an account: nothing was created or changed." in notice.body
    assert 'POST /api/v1/auth/password/reset/ {"email": "claire.lemaire@example.org"}' in notice.body
    assert confirmation.to == ["someone.new@example.org"]
    assert DomainEvent.objects.get(name="registration.address_taken").aggregate_id == owner.pk


def test_the_owners_email_is_in_their_language(django_capture_on_commit_callbacks):
    make_user("claire.lemaire@example.org", preferred_language="fr")
    register(registration(preferred_language="en"), capture=django_capture_on_commit_callbacks)
    (notice,) = mail.outbox
    assert notice.subject == "[Boucle] Tentative d'inscription avec votre adresse"
    assert "Vous avez déjà un compte : rien n'a été créé ni modifié." in notice.body


def test_a_deactivated_account_gets_the_same_answer_and_no_email(django_capture_on_commit_callbacks):
    make_user("claire.lemaire@example.org", is_active=False)
    response = register(registration(), capture=django_capture_on_commit_callbacks)
    assert (response.status_code, response.json()) == (202, ACCEPTED_EN)
    assert mail.outbox == []
    assert Organisation.objects.count() == 0


class CountingHasher(MD5PasswordHasher):
    algorithm = "counting_md5"
    encoded = 0

    def encode(self, password, salt):
        CountingHasher.encoded += 1
        return super().encode(password, salt)


def test_both_answers_cost_one_password_hash(settings):
    """The time an answer takes must not tell either: the costly part, hashing the password, happens
    whether or not the address has an account."""
    settings.PASSWORD_HASHERS = ["tests.test_registration.CountingHasher"]
    CountingHasher.encoded = 0
    body = registration(organisation={"kind": "project", "siret": ""})
    assert register(body).status_code == 202
    assert CountingHasher.encoded == 1
    assert register(body).status_code == 202  # the address now has a (pending) account
    assert CountingHasher.encoded == 2
    User.objects.update(is_active=True)
    Registration.objects.update(confirmed_at=timezone.now())
    assert register(body).status_code == 202  # a confirmed account
    assert CountingHasher.encoded == 3


def test_an_unconfirmed_sign_up_gets_a_fresh_code_and_keeps_its_details(django_capture_on_commit_callbacks):
    register(registration(), capture=django_capture_on_commit_callbacks)
    first_code = code_in(mail.outbox[0])
    pending = Registration.objects.get()
    again = register(
        registration(password="un-autre-mot-2026", organisation={"name": "Autre nom"}),
        capture=django_capture_on_commit_callbacks,
    )
    assert (again.status_code, again.json()) == (202, ACCEPTED_EN)
    assert len(mail.outbox) == 2
    second_code = code_in(mail.outbox[1])
    assert second_code != first_code
    assert "Menuiserie Lemaire" in mail.outbox[1].subject
    resent = Registration.objects.get()
    assert resent.pk == pending.pk
    assert resent.expires_at == pending.expires_at  # re-registering does not keep a sign-up alive
    assert list(Organisation.objects.values_list("name", flat=True)) == ["Menuiserie Lemaire"]
    assert User.objects.get().check_password(PASSWORD)
    assert confirm(first_code).json()["code"] == "registration_token_invalid"
    assert confirm(second_code).status_code == 200


def test_input_errors_do_not_depend_on_the_address():
    make_user("claire.lemaire@example.org")
    weak_taken = register(registration(password="123456"))
    weak_fresh = register(registration(email="new@example.org", password="123456"))
    assert weak_taken.status_code == weak_fresh.status_code == 400
    assert [e["field"] for e in weak_taken.json()["errors"]] == ["password"] * 3
    assert {k: v for k, v in weak_taken.json().items() if k != "errors"} == {
        k: v for k, v in weak_fresh.json().items() if k != "errors"
    }
    assert [(e["code"], e["message"]) for e in weak_taken.json()["errors"]] == [
        (e["code"], e["message"]) for e in weak_fresh.json()["errors"]
    ]
    assert Organisation.objects.count() == 0


def test_the_beat_deletes_sign_ups_left_unconfirmed_past_their_expiry(
    django_capture_on_commit_callbacks, settings
):
    from organisations.tasks import prune_unconfirmed_registrations

    register(registration(), capture=django_capture_on_commit_callbacks)
    register(
        registration(email="recent@example.org", organisation={"siret": "44306184100047"}),
        capture=django_capture_on_commit_callbacks,
    )
    register(
        registration(
            email="joined@example.org", organisation={"kind": "project", "siret": "", "name": "Joined"}
        ),
        capture=django_capture_on_commit_callbacks,
    )
    register(
        registration(
            email="activated@example.org", organisation={"kind": "project", "siret": "", "name": "Activée"}
        ),
        capture=django_capture_on_commit_callbacks,
    )
    User.objects.filter(email="activated@example.org").update(is_active=True)  # by the operator, by hand
    confirmed = make_user("confirmed@example.org")
    confirmed_org = make_org(verified=False, name="Confirmed")
    make_member(confirmed_org, user=confirmed)
    Registration.objects.create(
        user=confirmed,
        organisation=confirmed_org,
        token_hash="0" * 64,
        expires_at=timezone.now() - timedelta(days=30),
        confirmed_at=timezone.now() - timedelta(days=37),
    )
    past = timezone.now() - timedelta(seconds=1)
    Registration.objects.filter(
        user__email__in=["claire.lemaire@example.org", "joined@example.org", "activated@example.org"]
    ).update(expires_at=past)
    joined = Organisation.objects.get(name="Joined")
    make_member(joined, MembershipRole.MEMBER)  # the operator added someone meanwhile

    assert prune_unconfirmed_registrations.delay().get() == 2

    assert sorted(User.objects.filter(registration__isnull=False).values_list("email", flat=True)) == [
        "activated@example.org",
        "confirmed@example.org",
        "recent@example.org",
    ]
    assert not User.objects.filter(email__in=["claire.lemaire@example.org", "joined@example.org"]).exists()
    assert sorted(Organisation.objects.values_list("name", flat=True)) == [
        "Activée",
        "Confirmed",
        "Joined",
        "Menuiserie Lemaire",
    ]
    assert not Organisation.objects.filter(siret="73282932000074").exists()
    assert DomainEvent.objects.filter(name="registration.expired").count() == 2
    assert settings.CELERY_BEAT_SCHEDULE["organisations-prune-unconfirmed-registrations"] == {
        "task": prune_unconfirmed_registrations.name,
        "schedule": 3600.0,
    }
    # The address is free again.
    mail.outbox.clear()
    assert register(registration(), capture=django_capture_on_commit_callbacks).status_code == 202
    assert mail.outbox[0].subject == "[Boucle] Confirmez votre inscription : Menuiserie Lemaire"


def test_unconfirmed_sign_ups_wait_outside_the_operators_list(django_capture_on_commit_callbacks):
    register(registration(), capture=django_capture_on_commit_callbacks)
    code = code_in(mail.outbox[0])
    operator = Actor.for_system()
    old_style = make_org(verified=False, name="Inscrite avant les confirmations")
    assert list(organisations_pending_verification(actor=operator)) == [old_style]
    confirm(code)
    assert [o.name for o in organisations_pending_verification(actor=operator)] == [
        "Menuiserie Lemaire",  # signed up first
        "Inscrite avant les confirmations",
    ]


def test_concurrent_sign_ups_of_one_address_make_one_account(transactional_db):
    """Two sign-ups racing for one address: one account, and the loser reads like an address that has
    one (never a 500, never an error that would tell)."""
    barrier = threading.Barrier(2)
    outcomes: list = []

    def sign_up(n: int) -> None:
        try:
            barrier.wait()
            services.organisation_register(
                email=f"{'Claire' if n else 'claire'}@example.org",
                password=PASSWORD,
                first_name="Claire",
                last_name="Lemaire",
                preferred_language="fr",
                organisation={"name": f"Projet {n}", "kind": "project"},
            )
            outcomes.append("accepted")
        except Exception as exc:  # whatever escaped is the failure to report
            outcomes.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=sign_up, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcomes == ["accepted", "accepted"]
    assert User.objects.count() == 1
    assert Organisation.objects.count() == 1
    assert Registration.objects.count() == 1


def test_the_answer_is_in_french_by_default():
    response = register(registration(), language="fr")
    assert response.json() == {
        "detail": "Consultez votre messagerie : nous avons envoyé un message à cette adresse pour continuer."
    }
