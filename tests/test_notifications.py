"""E-mail notifications to the people concerned by claims and handovers (claims/notifications.py), the
per-person preference on me/, and API answers in the person's preferred language."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from claims import services
from claims.models import Notification, NotificationMode, NotificationPreference
from claims.notifications import notification_digest_readers, notifications_record
from claims.tasks import notify_people, send_notification_digests
from core.models import DomainEvent
from organisations.actors import Actor
from organisations.models import MembershipRole, OrganisationKind

from .conftest import client_for, make_member, make_offer, make_org, make_user

pytestmark = pytest.mark.django_db

CLIENT = "https://app.boucle.test"


@pytest.fixture(autouse=True)
def _client_url(settings):
    settings.BOUCLE_CLIENT_URL = CLIENT


@pytest.fixture
def scene():
    donor = make_org(OrganisationKind.COMPANY, name="Menuiserie Nord")
    recipient = make_org(OrganisationKind.ASSOCIATION, name="Ressourcerie Sud")
    people = {
        "donor_fr": make_member(donor, user=make_user("donor-fr@example.org", preferred_language="fr")),
        "donor_en": make_member(
            donor, MembershipRole.MEMBER, user=make_user("donor-en@example.org", preferred_language="en")
        ),
        "recipient_fr": make_member(
            recipient, user=make_user("recip-fr@example.org", preferred_language="fr")
        ),
        "recipient_en": make_member(
            recipient, MembershipRole.MEMBER, user=make_user("recip-en@example.org", preferred_language="en")
        ),
    }
    make_member(donor, user=make_user("gone@example.org", is_active=False))
    offer = make_offer(donor, title="Planches de chêne", quantity=10)
    return {"donor": donor, "recipient": recipient, "offer": offer, **people}


def _request(scene, commit):
    with commit(execute=True):
        return services.claim_request(
            actor=Actor.for_user(scene["recipient_fr"]),
            offer_id=scene["offer"].pk,
            quantity=Decimal("3"),
            organisation_id=scene["recipient"].pk,
        )


def _accept(scene, claim, commit):
    with commit(execute=True):
        return services.claim_accept(actor=Actor.for_user(scene["donor_fr"]), claim_id=claim.pk)


def _by_address() -> dict[str, mail.EmailMessage]:
    addresses = [message.to[0] for message in mail.outbox]
    assert len(addresses) == len(set(addresses))  # nobody twice
    return {message.to[0]: message for message in mail.outbox}


def test_a_claim_request_tells_the_donors_members_each_in_their_language(
    scene, django_capture_on_commit_callbacks
):
    claim = _request(scene, django_capture_on_commit_callbacks)

    sent = _by_address()
    assert sorted(sent) == ["donor-en@example.org", "donor-fr@example.org"]
    fr, en = sent["donor-fr@example.org"], sent["donor-en@example.org"]
    assert fr.subject == "[Boucle] Nouvelle demande : Planches de chêne"
    assert en.subject == "[Boucle] New claim: Planches de chêne"
    assert "Ressourcerie Sud demande « Planches de chêne » (quantité : 3, unité : pièce)" in fr.body
    assert "À vous d'accepter ou de refuser la demande." in fr.body
    assert 'Ressourcerie Sud asks for "Planches de chêne" (quantity: 3, unit: piece)' in en.body
    for message in (fr, en):
        assert f"{CLIENT}/claims/{claim.pk}\n" in message.body
        assert "/api/" not in message.body
    assert Notification.objects.filter(claim=claim).count() == 2


def test_accepted_declined_and_expired_tell_the_recipients_members(scene, django_capture_on_commit_callbacks):
    commit = django_capture_on_commit_callbacks
    claim = _accept(scene, _request(scene, commit), commit)
    sent = _by_address()
    assert sorted(sent) == [
        "donor-en@example.org",
        "donor-fr@example.org",
        "recip-en@example.org",
        "recip-fr@example.org",
    ]
    assert sent["recip-fr@example.org"].subject == "[Boucle] Demande acceptée : Planches de chêne"
    assert sent["recip-en@example.org"].subject == "[Boucle] Claim accepted: Planches de chêne"
    assert (
        "Menuiserie Nord a accepté votre demande « Planches de chêne »" in sent["recip-fr@example.org"].body
    )
    assert 'Menuiserie Nord accepted your claim on "Planches de chêne"' in sent["recip-en@example.org"].body

    mail.outbox.clear()
    with commit(execute=True):
        assert services.claim_expire(claim_id=claim.pk, now=claim.pickup_deadline + timedelta(minutes=1))
    sent = _by_address()
    assert sorted(sent) == ["recip-en@example.org", "recip-fr@example.org"]
    assert sent["recip-fr@example.org"].subject == "[Boucle] Demande expirée : Planches de chêne"
    assert "le lot n'a pas été retiré avant le" in sent["recip-fr@example.org"].body
    assert sent["recip-en@example.org"].subject == "[Boucle] Claim expired: Planches de chêne"
    assert "the lot was not collected before" in sent["recip-en@example.org"].body

    other = _request(scene, commit)
    mail.outbox.clear()
    with commit(execute=True):
        services.claim_decline(
            actor=Actor.for_user(scene["donor_en"]), claim_id=other.pk, reason="Déjà donné"
        )
    sent = _by_address()
    assert sorted(sent) == ["recip-en@example.org", "recip-fr@example.org"]
    fr, en = sent["recip-fr@example.org"], sent["recip-en@example.org"]
    assert fr.subject == "[Boucle] Demande refusée : Planches de chêne"
    assert "Menuiserie Nord a refusé votre demande « Planches de chêne » : Déjà donné" in fr.body
    assert en.subject == "[Boucle] Claim declined: Planches de chêne"
    assert 'Menuiserie Nord declined your claim on "Planches de chêne": Déjà donné' in en.body
    assert f"{CLIENT}/claims/{other.pk}\n" in en.body


def test_a_handover_tells_the_other_party_and_a_dispute_the_recorder(
    scene, django_capture_on_commit_callbacks
):
    commit = django_capture_on_commit_callbacks
    claim = _accept(scene, _request(scene, commit), commit)
    mail.outbox.clear()
    with commit(execute=True):
        handover = services.handover_record(
            actor=Actor.for_user(scene["donor_fr"]), claim_id=claim.pk, mass_kg=Decimal("12")
        )
    sent = _by_address()
    assert sorted(sent) == ["recip-en@example.org", "recip-fr@example.org"]
    fr, en = sent["recip-fr@example.org"], sent["recip-en@example.org"]
    assert fr.subject == "[Boucle] Remise à confirmer : Planches de chêne"
    assert "Merci de la confirmer, ou de la contester si elle est inexacte." in fr.body
    assert en.subject == "[Boucle] Handover to confirm: Planches de chêne"
    assert "Please confirm it, or dispute it if it is wrong." in en.body
    assert f"{CLIENT}/handovers/{handover.pk}\n" in fr.body

    mail.outbox.clear()
    with commit(execute=True):
        services.handover_dispute(
            actor=Actor.for_user(scene["recipient_en"]), handover_id=handover.pk, reason="Il en manquait un"
        )
    sent = _by_address()
    assert sorted(sent) == ["donor-en@example.org", "donor-fr@example.org"]
    fr, en = sent["donor-fr@example.org"], sent["donor-en@example.org"]
    assert fr.subject == "[Boucle] Remise contestée : Planches de chêne"
    assert (
        "La remise de « Planches de chêne » que vous avez enregistrée est contestée : Il en manquait un"
        in fr.body
    )
    assert en.subject == "[Boucle] Handover disputed: Planches de chêne"
    assert 'The handover of "Planches de chêne" you recorded is disputed: Il en manquait un' in en.body


def test_a_person_who_turned_notifications_off_hears_nothing(scene, django_capture_on_commit_callbacks):
    NotificationPreference.objects.create(user=scene["donor_en"], mode=NotificationMode.OFF)
    claim = _request(scene, django_capture_on_commit_callbacks)
    assert [message.to for message in mail.outbox] == [["donor-fr@example.org"]]
    assert list(Notification.objects.filter(claim=claim).values_list("user_id", flat=True)) == [
        scene["donor_fr"].pk
    ]
    send_notification_digests()
    assert len(mail.outbox) == 1


def test_the_daily_digest_sends_one_email_with_every_pending_item(scene, django_capture_on_commit_callbacks):
    commit = django_capture_on_commit_callbacks
    for person in ("recipient_fr", "recipient_en"):
        NotificationPreference.objects.create(user=scene[person], mode=NotificationMode.DAILY)
    claim = _accept(scene, _request(scene, commit), commit)
    with commit(execute=True):
        handover = services.handover_record(
            actor=Actor.for_user(scene["donor_fr"]), claim_id=claim.pk, mass_kg=Decimal("12")
        )
    # Only the donors' immediate e-mail about the request went; the recipients wait for the digest.
    assert sorted(m.to[0] for m in mail.outbox) == ["donor-en@example.org", "donor-fr@example.org"]
    mail.outbox.clear()

    assert send_notification_digests() == 4
    sent = _by_address()
    assert sorted(sent) == ["recip-en@example.org", "recip-fr@example.org"]
    fr, en = sent["recip-fr@example.org"], sent["recip-en@example.org"]
    assert fr.subject == "[Boucle] Vos nouvelles du jour : 2 notifications"
    assert en.subject == "[Boucle] Your daily news: 2 notifications"
    assert "Menuiserie Nord a accepté votre demande « Planches de chêne »" in fr.body
    assert "Une remise de « Planches de chêne » (quantité : 3, unité : pièce) a été enregistrée" in fr.body
    assert 'Menuiserie Nord accepted your claim on "Planches de chêne"' in en.body
    assert 'A handover of "Planches de chêne" (quantity: 3, unit: piece) was recorded' in en.body
    for message in (fr, en):
        assert f"{CLIENT}/claims/{claim.pk}\n" in message.body
        assert f"{CLIENT}/handovers/{handover.pk}\n" in message.body

    mail.outbox.clear()
    assert send_notification_digests() == 0
    assert mail.outbox == []


def test_an_immediate_notification_whose_email_never_went_goes_with_the_digest(
    scene, django_capture_on_commit_callbacks
):
    claim = _request(scene, django_capture_on_commit_callbacks)
    Notification.objects.filter(claim=claim, user=scene["donor_en"]).update(sent_at=None)
    assert notification_digest_readers() == []  # not a straggler yet
    later = timezone.now() + timedelta(hours=2)
    assert notification_digest_readers(now=later) == [scene["donor_en"].pk]


def test_the_consumer_run_twice_tells_nobody_twice(scene, django_capture_on_commit_callbacks):
    claim = _request(scene, django_capture_on_commit_callbacks)
    event = DomainEvent.objects.get(name="claim.requested", aggregate_id=claim.pk)
    assert len(mail.outbox) == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert notify_people(event_id=event.pk) is False
        assert notify_people(event_id=event.pk) is False
    assert len(mail.outbox) == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert notifications_record(event) == []  # the (event, user) rows exist: nothing new, nothing to send
    assert Notification.objects.filter(event=event).count() == 2
    assert send_notification_digests() == 0
    assert len(mail.outbox) == 2


def test_a_missed_event_is_recorded_by_the_digest_run_once(scene, django_capture_on_commit_callbacks):
    claim = _request(scene, django_capture_on_commit_callbacks)
    event = DomainEvent.objects.get(name="claim.requested", aggregate_id=claim.pk)
    event.consumptions.all().delete()
    Notification.objects.all().delete()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        send_notification_digests()
        send_notification_digests()
    assert sorted(m.to[0] for m in mail.outbox) == ["donor-en@example.org", "donor-fr@example.org"]


def test_me_shows_and_changes_the_notification_preference(scene):
    client = client_for(scene["donor_en"])
    response = client.get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["notifications"] == "immediate"

    response = client.patch("/api/v1/me/", {"notifications": "daily"}, format="json")
    assert response.status_code == 200
    assert response.json()["notifications"] == "daily"
    assert NotificationPreference.objects.get(user=scene["donor_en"]).mode == "daily"

    response = client.patch(
        "/api/v1/me/", {"notifications": "weekly"}, format="json", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "notifications", "code": "invalid_choice", "message": '"weekly" is not a valid choice.'}
    ]
    assert NotificationPreference.objects.get(user=scene["donor_en"]).mode == "daily"


def test_answers_are_in_the_preferred_language_when_no_accept_language_is_sent(scene):
    english = client_for(scene["donor_en"])
    response = english.get("/api/v1/claims/999999/")
    assert response.status_code == 404
    assert response.json()["detail"] == "No such claim."
    assert response["Content-Language"] == "en"

    response = english.get("/api/v1/claims/999999/", HTTP_ACCEPT_LANGUAGE="fr")
    assert response.json()["detail"] == "Demande introuvable."
    assert response["Content-Language"] == "fr"

    french = client_for(scene["donor_fr"])
    response = french.get("/api/v1/claims/999999/")
    assert response.json()["detail"] == "Demande introuvable."
    response = french.get("/api/v1/claims/999999/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.json()["detail"] == "No such claim."
