"""The ledger is append-only in the database itself: whoever asks (raw ORM, raw SQL, the admin), rows of
claims_handover and of their confirmations are never updated nor deleted."""

from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction

from claims import services
from claims.models import Handover, HandoverConfirmation
from organisations.actors import Actor
from organisations.models import OrganisationKind

from .conftest import client_for, make_claim, make_member, make_offer, make_org

pytestmark = pytest.mark.django_db


@pytest.fixture
def handover(firm, association):
    claim = make_claim(make_offer(firm, quantity=3), association, 2, accept=True)
    return services.handover_record(actor=Actor.for_system(), claim_id=claim.pk, mass_kg=Decimal("7"))


def _refused(action) -> str:
    with pytest.raises(DatabaseError) as excinfo, transaction.atomic():
        action()
    return str(excinfo.value)


def test_orm_update_is_refused(handover):
    message = _refused(lambda: Handover.objects.filter(pk=handover.pk).update(mass_kg=Decimal("700")))
    assert "claims_handover rows are append-only: UPDATE refused" in message
    handover.refresh_from_db()
    assert handover.mass_kg == Decimal("7.000")


def test_orm_delete_is_refused(handover):
    message = _refused(lambda: Handover.objects.filter(pk=handover.pk).delete())
    assert "DELETE refused" in message
    assert Handover.objects.filter(pk=handover.pk).exists()


def test_saving_an_existing_row_is_refused(handover):
    handover.quantity = Decimal("1")
    _refused(handover.save)
    _refused(handover.delete)
    assert Handover.objects.get(pk=handover.pk).quantity == Decimal("2.000")


def test_raw_sql_is_refused(handover):
    def raw():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE claims_handover SET co2e_avoided_kg = 0 WHERE id = %s", [handover.pk])

    assert "UPDATE refused" in _refused(raw)


def test_confirmations_are_append_only_too(handover, firm):
    services.handover_confirm(actor=Actor.for_user(make_member(firm)), handover_id=handover.pk)
    answer = HandoverConfirmation.objects.get(handover=handover)
    _refused(lambda: HandoverConfirmation.objects.filter(pk=answer.pk).update(state="disputed"))
    _refused(lambda: HandoverConfirmation.objects.filter(pk=answer.pk).delete())
    assert HandoverConfirmation.objects.get(handover=handover).state == "confirmed"


def test_reversal_appends_and_leaves_the_original_untouched(handover):
    before = Handover.objects.filter(pk=handover.pk).values().get()
    services.handover_reverse(actor=Actor.for_system(), handover_id=handover.pk, reason="saisie en double")
    assert Handover.objects.filter(pk=handover.pk).values().get() == before
    assert Handover.objects.count() == 2


@pytest.fixture
def admin_client_(operator_org):
    superuser = make_member(operator_org)
    superuser.is_staff = superuser.is_superuser = True
    superuser.save()
    client = client_for(superuser)
    client.check_schema = False
    client.force_login(superuser)
    return client


def test_the_admin_shows_the_ledger_read_only(admin_client_, handover):
    assert admin_client_.get("/admin/claims/handover/").status_code == 200
    page = admin_client_.get(f"/admin/claims/handover/{handover.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content  # a view page, no form to save
    posted = admin_client_.post(f"/admin/claims/handover/{handover.pk}/change/", {"mass_kg": "1"})
    assert posted.status_code == 403
    assert admin_client_.get(f"/admin/claims/handover/{handover.pk}/delete/").status_code == 403
    assert (
        admin_client_.post(f"/admin/claims/handover/{handover.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert admin_client_.get("/admin/claims/handover/add/").status_code == 403
    bulk = admin_client_.post(
        "/admin/claims/handover/",
        {"action": "delete_selected", "_selected_action": [handover.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 302)
    assert Handover.objects.filter(pk=handover.pk).exists()
    assert Handover.objects.get(pk=handover.pk).mass_kg == Decimal("7.000")


def test_one_row_per_claim_is_a_database_constraint(handover):
    with pytest.raises(DatabaseError), transaction.atomic():
        Handover.objects.create(
            **{
                f.attname: getattr(handover, f.attname)
                for f in Handover._meta.concrete_fields
                if f.attname not in ("id", "recorded_at")
            }
        )


def test_a_row_between_one_organisation_and_itself_is_refused(handover):
    association = make_org(OrganisationKind.ASSOCIATION)
    values = {
        f.attname: getattr(handover, f.attname)
        for f in Handover._meta.concrete_fields
        if f.attname not in ("id", "recorded_at")
    }
    values.update(donor_id=association.pk, recipient_id=association.pk, reverses_id=handover.pk)
    values.update(quantity=-handover.quantity, mass_kg=-handover.mass_kg)
    with pytest.raises(DatabaseError), transaction.atomic():
        Handover.objects.create(**values)
