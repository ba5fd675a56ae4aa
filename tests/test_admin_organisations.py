"""The operator's admin: verifying, editing organisations, placing sites by coordinates, revoking keys."""

import pytest
from django.core import mail
from django.test import Client

from core.models import DomainEvent
from organisations.models import ApiKey, Organisation, OrganisationKind, Site, User

from .conftest import ROUBAIX, make_api_key, make_member, make_org, make_site, make_user

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/organisations/organisation/"


@pytest.fixture
def admin_client(operator_user) -> Client:
    operator_user.is_staff = True
    operator_user.is_superuser = True
    operator_user.save()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")  # messages checked in English; the admin is French by default
    client.force_login(operator_user)
    return client


def test_verify_action_uses_the_service(admin_client, operator_user, django_capture_on_commit_callbacks):
    pending = make_org(OrganisationKind.ASSOCIATION, verified=False, name="Repair Café", rna="W595012345")
    make_member(pending, user=make_user("amina@example.org"))
    already = make_org(name="Déjà vérifiée")
    verified_at = already.verified_at
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            CHANGELIST, {"action": "verify", "_selected_action": [pending.pk, already.pk]}, follow=True
        )
    assert response.status_code == 200
    assert "2 organisations verified." in response.content.decode()
    pending.refresh_from_db()
    already.refresh_from_db()
    assert pending.verified_by == operator_user
    assert already.verified_at == verified_at
    assert list(
        DomainEvent.objects.filter(name="organisation.verified").values_list("aggregate_id", flat=True)
    ) == [pending.pk]
    assert [m.to for m in mail.outbox] == [["amina@example.org"]]


def test_changelist_filters_and_search(admin_client):
    make_org(OrganisationKind.ASSOCIATION, verified=False, name="Repair Café")
    make_org(name="Menuiserie", siret="73282932000074")
    page = admin_client.get(CHANGELIST, {"verified": "no", "kind__exact": "association"})
    assert page.status_code == 200
    assert list(page.context["cl"].queryset.values_list("name", flat=True)) == ["Repair Café"]
    found = admin_client.get(CHANGELIST, {"q": "73282932000074"})
    assert list(found.context["cl"].queryset.values_list("name", flat=True)) == ["Menuiserie"]
    org = Organisation.objects.get(name="Menuiserie")
    assert admin_client.get(f"{CHANGELIST}{org.pk}/change/").status_code == 200


def test_admin_creates_a_public_authority_and_validates_the_siret(admin_client):
    data = {
        "name": "Ville de Roubaix",
        "kind": "public_authority",
        "siret": "215 905 126 00012",
        "rna": "",
        "description": "",
        "email": "",
        "phone": "",
        "website": "",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    refused = admin_client.post(f"{CHANGELIST}add/", data)
    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors == {
        "siret": ["This SIRET fails its check digit; check for a typing error."]
    }
    assert Organisation.objects.filter(kind="public_authority").count() == 0
    created = admin_client.post(f"{CHANGELIST}add/", {**data, "siret": "215 905 126 00011"})
    assert created.status_code == 302, created.context["adminform"].form.errors if created.context else None
    org = Organisation.objects.get(kind="public_authority")
    assert (org.name, org.siret, org.verified_at) == ("Ville de Roubaix", "21590512600011", None)
    assert DomainEvent.objects.get(name="organisation.created").aggregate_id == org.pk


def test_site_admin_builds_the_point_from_coordinates(admin_client, firm):
    data = {
        "organisation": firm.pk,
        "name": "Cour de chargement",
        "address": "12 rue de l'Épeule, Roubaix",
        "latitude": "50.6916",
        "longitude": "3.1746",
        "opening_notes": "",
    }
    response = admin_client.post("/admin/organisations/site/add/", data)
    assert response.status_code == 302, (
        response.context["adminform"].form.errors if response.context else None
    )
    site = Site.objects.get()
    assert (round(site.location.x, 6), round(site.location.y, 6)) == (3.1746, 50.6916)
    assert site.public_location is not None

    edit = admin_client.get(f"/admin/organisations/site/{site.pk}/change/")
    assert edit.status_code == 200
    assert float(edit.context["adminform"].form.initial["latitude"]) == 50.6916

    moved = admin_client.post(
        f"/admin/organisations/site/{site.pk}/change/", {**data, "latitude": "50.6900", "longitude": "3.1800"}
    )
    assert moved.status_code == 302
    site.refresh_from_db()
    assert (round(site.location.x, 6), round(site.location.y, 6)) == (3.18, 50.69)

    out_of_range = admin_client.post("/admin/organisations/site/add/", {**data, "latitude": "91"})
    assert out_of_range.status_code == 200
    assert list(out_of_range.context["adminform"].form.errors) == ["latitude"]
    assert Site.objects.count() == 1


def test_site_admin_delete_retires_through_the_service(admin_client, firm):
    site = make_site(firm, ROUBAIX)
    response = admin_client.post(f"/admin/organisations/site/{site.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Site.objects.filter(pk=site.pk).exists()


def test_revoke_action_and_read_only_keys(admin_client, firm):
    key, _raw = make_api_key(firm)
    page = admin_client.get(f"/admin/organisations/apikey/{key.pk}/change/")
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    response = admin_client.post(
        "/admin/organisations/apikey/", {"action": "revoke", "_selected_action": [key.pk]}, follow=True
    )
    assert "1 API key revoked." in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert admin_client.get("/admin/organisations/apikey/add/").status_code == 403
    assert ApiKey.objects.count() == 1


def test_user_admin_is_email_based(admin_client):
    response = admin_client.post(
        "/admin/organisations/user/add/",
        {
            "email": "Nouveau@Example.org",
            "usable_password": "true",
            "password1": "ressourcerie-2026!",
            "password2": "ressourcerie-2026!",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, (
        response.context["adminform"].form.errors if response.context else None
    )
    assert User.objects.filter(email="nouveau@example.org").exists()
    assert admin_client.get("/admin/organisations/user/").status_code == 200
    assert admin_client.get("/admin/organisations/invitation/").status_code == 200


def test_staff_who_are_not_operators_cannot_change_organisations():
    from django.contrib.auth.models import Permission

    pending = make_org(verified=False, siret="73282932000074")
    staff = make_user("staff@example.org", is_staff=True)
    staff.user_permissions.set(
        Permission.objects.filter(codename__in=["view_organisation", "change_organisation"])
    )
    client = Client()
    client.force_login(staff)
    client.post(CHANGELIST, {"action": "verify", "_selected_action": [pending.pk]})
    pending.refresh_from_db()
    assert pending.verified_at is None
    page = client.get(f"{CHANGELIST}{pending.pk}/change/")
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
