"""Invitations: an org admin invites by e-mail; the code turns into a membership."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from core.models import DomainEvent
from organisations.models import Invitation, Membership, MembershipRole, User
from organisations.tokens import hash_token

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

PASSWORD = "ressourcerie-2026!"


def invite(client, organisation, email="nadia@example.org", role="member", capture=None):
    with capture(execute=True):
        response = client.post(
            f"/api/v1/organisations/{organisation.pk}/invitations/",
            {"email": email, "role": role},
            format="json",
        )
    assert response.status_code == 201, response.content
    token = re.search(r"^  (\S{40,})$", mail.outbox[-1].body, re.M).group(1)
    return response.json(), token


def test_admin_invites_and_a_new_person_joins(firm, django_capture_on_commit_callbacks):
    admin = make_member(firm, user=make_user("chef@menuiserie.example", first_name="Paul"))
    body, token = invite(
        client_for(admin), firm, "Nadia@Example.org", capture=django_capture_on_commit_callbacks
    )
    invitation = Invitation.objects.get()
    assert body["email"] == "nadia@example.org"
    assert (body["role"], body["status"], body["invited_by"], body["organisation"]) == (
        "member",
        "pending",
        admin.pk,
        firm.pk,
    )
    assert "token" not in body
    assert invitation.token_hash == hash_token(token)
    assert token not in invitation.token_hash
    assert timedelta(days=6, hours=23) < invitation.expires_at - timezone.now() <= timedelta(days=7)
    message = mail.outbox[-1]
    assert message.to == ["nadia@example.org"]
    # Nobody has an account for the address yet: the inviter's language (French).
    assert message.subject == "[Boucle] Invitation à rejoindre Menuiserie du Nord"
    assert "Paul vous invite" in message.body

    response = CheckedClient().post(
        "/api/v1/auth/invitations/accept/",
        {
            "token": token,
            "password": PASSWORD,
            "first_name": "Nadia",
            "last_name": "Benali",
            "preferred_language": "en",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    user = User.objects.get(email="nadia@example.org")
    assert user.check_password(PASSWORD)
    assert (user.first_name, user.last_name, user.preferred_language) == ("Nadia", "Benali", "en")
    assert response.json()["memberships"] == [
        {
            "organisation": {
                "id": firm.pk,
                "name": "Menuiserie du Nord",
                "kind": "company",
                "verified": True,
            },
            "role": "member",
        }
    ]
    invitation.refresh_from_db()
    assert invitation.accepted_by == user
    assert invitation.accepted_at is not None
    assert DomainEvent.objects.get(name="invitation.accepted").payload["role"] == "member"

    again = CheckedClient().post(
        "/api/v1/auth/invitations/accept/",
        {"token": token, "password": PASSWORD, "first_name": "N", "last_name": "B"},
        format="json",
    )
    assert again.status_code == 400
    assert again.json()["code"] == "invitation_used"


def test_existing_account_must_be_logged_in_as_the_invited_address(firm, django_capture_on_commit_callbacks):
    invitee = make_user("nadia@example.org", preferred_language="en")
    _body, token = invite(
        client_for(make_member(firm)), firm, role="admin", capture=django_capture_on_commit_callbacks
    )
    assert mail.outbox[-1].subject == "[Boucle] Invitation to join Menuiserie du Nord"
    assert "as an administrator" in mail.outbox[-1].body

    anonymous = CheckedClient().post("/api/v1/auth/invitations/accept/", {"token": token}, format="json")
    assert anonymous.status_code == 403
    assert anonymous.json()["code"] == "login_required"
    someone_else = client_for(make_user("other@example.org")).post(
        "/api/v1/auth/invitations/accept/", {"token": token}, format="json"
    )
    assert someone_else.status_code == 403
    assert someone_else.json()["code"] == "wrong_account"
    assert not Membership.objects.filter(user=invitee).exists()

    joined = client_for(invitee).post("/api/v1/auth/invitations/accept/", {"token": token}, format="json")
    assert joined.status_code == 201, joined.content
    assert Membership.objects.get(user=invitee).role == MembershipRole.ADMIN
    assert invitee.check_password("correct-horse-battery-9")  # untouched


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"password": PASSWORD, "first_name": "Nadia"}, ["last_name"]),
        ({"first_name": "Nadia", "last_name": "Benali"}, ["password"]),
        ({"password": "nadia123", "first_name": "Nadia", "last_name": "Benali"}, ["password"]),
    ],
)
def test_new_account_needs_password_and_names(firm, django_capture_on_commit_callbacks, body, fields):
    _body, token = invite(client_for(make_member(firm)), firm, capture=django_capture_on_commit_callbacks)
    response = CheckedClient().post(
        "/api/v1/auth/invitations/accept/", {"token": token, **body}, format="json"
    )
    assert response.status_code == 400
    assert sorted({e["field"] for e in response.json()["errors"]}) == fields
    assert not User.objects.filter(email="nadia@example.org").exists()
    assert Invitation.objects.get().accepted_at is None


def test_unknown_and_expired_tokens(firm, django_capture_on_commit_callbacks):
    _body, token = invite(client_for(make_member(firm)), firm, capture=django_capture_on_commit_callbacks)
    details = {"password": PASSWORD, "first_name": "Nadia", "last_name": "Benali"}
    unknown = CheckedClient().post(
        "/api/v1/auth/invitations/accept/", {"token": "x" * 43, **details}, format="json"
    )
    assert unknown.status_code == 400
    assert (unknown.json()["code"], unknown.json()["errors"][0]["field"]) == ("invitation_invalid", "token")
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = CheckedClient().post(
        "/api/v1/auth/invitations/accept/", {"token": token, **details}, format="json"
    )
    assert expired.status_code == 400
    assert expired.json()["code"] == "invitation_expired"
    missing = CheckedClient().post("/api/v1/auth/invitations/accept/", {}, format="json")
    assert [e["field"] for e in missing.json()["errors"]] == ["token"]
    assert not User.objects.filter(email="nadia@example.org").exists()


def test_inviting_a_member_is_a_conflict(firm):
    member = make_member(firm, MembershipRole.MEMBER, user=make_user("nadia@example.org"))
    response = client_for(make_member(firm)).post(
        f"/api/v1/organisations/{firm.pk}/invitations/", {"email": "NADIA@example.org"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "already_member"
    assert member.memberships.count() == 1
    assert Invitation.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["email"]),
        ({"email": "nadia"}, ["email"]),
        ({"email": "n@example.org", "role": "owner"}, ["role"]),
    ],
)
def test_bad_invitation_input(firm, body, fields):
    response = client_for(make_member(firm)).post(
        f"/api/v1/organisations/{firm.pk}/invitations/", body, format="json"
    )
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == fields
    assert Invitation.objects.count() == 0


def test_list_is_for_admins(firm, django_capture_on_commit_callbacks, django_assert_max_num_queries):
    admin_client = client_for(make_member(firm))
    for n in range(3):
        invite(admin_client, firm, f"p{n}@example.org", capture=django_capture_on_commit_callbacks)
    with django_assert_max_num_queries(4):
        listed = admin_client.get(f"/api/v1/organisations/{firm.pk}/invitations/")
    assert [i["email"] for i in listed.json()["results"]] == [
        "p2@example.org",
        "p1@example.org",
        "p0@example.org",
    ]

    member_client = client_for(make_member(firm, MembershipRole.MEMBER))
    assert member_client.get(f"/api/v1/organisations/{firm.pk}/invitations/").status_code == 403
    created = member_client.post(
        f"/api/v1/organisations/{firm.pk}/invitations/", {"email": "z@example.org"}, format="json"
    )
    assert created.status_code == 403
    _key, raw = make_api_key(firm)
    assert (
        client_for_key(raw)
        .post(f"/api/v1/organisations/{firm.pk}/invitations/", {"email": "z@example.org"}, format="json")
        .status_code
        == 403
    )
    assert Invitation.objects.count() == 3


def test_invitation_email_not_sent_for_a_used_invitation(firm):
    from organisations.tasks import send_invitation_email

    invitation = Invitation.objects.create(
        organisation=firm,
        email="late@example.org",
        token_hash=hash_token("t" * 43),
        expires_at=timezone.now() + timedelta(days=1),
        accepted_at=timezone.now(),
    )
    assert (
        send_invitation_email.apply(kwargs={"invitation_id": invitation.pk, "token": "t" * 43}).get() is False
    )
    assert mail.outbox == []
    Invitation.objects.filter(pk=invitation.pk).update(accepted_at=None)
    assert (
        send_invitation_email.apply(kwargs={"invitation_id": invitation.pk, "token": "u" * 43}).get() is False
    )
    assert (
        send_invitation_email.apply(kwargs={"invitation_id": invitation.pk, "token": "t" * 43}).get() is True
    )
    assert [m.to for m in mail.outbox] == [["late@example.org"]]


def test_stranger_org_cannot_accept_into_or_list(firm):
    stranger = client_for(make_member(make_org()))
    assert stranger.get(f"/api/v1/organisations/{firm.pk}/invitations/").status_code == 404
