"""The offer's read shape is declared once (exchange/shape.py, api/shapes.py): every response that shows
an offer, and the webhook payload, carries its plain fields as the model defines them, so a field added
to OFFER_FIELDS appears everywhere with no other change."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from api.endpoints.matches import MatchOfferOut
from api.endpoints.offers import OfferOut
from api.endpoints.search import OfferSearchHitOut, OfferSearchPropertiesOut
from api.endpoints.webhooks import _OfferData
from api.shapes import OfferPlainOut, offer_plain_converters
from exchange.models import Offer
from exchange.shape import OFFER_FIELDS, offer_plain_values
from integrations.messages import _offer_data
from matching.search import HIT_VALUES, HitCategory, HitOrganisation, OfferHit

from .conftest import make_offer

READERS = [OfferOut, OfferSearchPropertiesOut, OfferSearchHitOut, MatchOfferOut, _OfferData]


@pytest.mark.parametrize("reader", READERS, ids=lambda reader: reader.__name__)
def test_every_reader_of_an_offer_carries_the_plain_fields_as_generated(reader):
    assert issubclass(reader, OfferPlainOut)
    declared = reader._declared_fields
    for name in OFFER_FIELDS:
        field = declared[name]
        assert field is OfferPlainOut._declared_fields[name], name  # inherited, not redeclared


def test_the_plain_fields_follow_the_model_columns():
    fields = OfferPlainOut._declared_fields
    assert tuple(fields) == OFFER_FIELDS
    for name in OFFER_FIELDS:
        column = Offer._meta.get_field(name)
        field = fields[name]
        assert field.allow_null is column.null, name
        if column.choices:
            assert isinstance(field, serializers.ChoiceField)
            assert list(field.choices) == [value for value, _label in column.choices]
        elif isinstance(field, serializers.DecimalField):
            assert (field.max_digits, field.decimal_places) == (column.max_digits, column.decimal_places)
    assert isinstance(fields["available_from"], serializers.DateTimeField)
    assert isinstance(fields["title"], serializers.CharField)


def test_search_reads_the_plain_fields_and_writes_them_as_the_generated_fields_do():
    assert set(OFFER_FIELDS) <= set(HIT_VALUES)
    hit = OfferHit(
        id=1,
        fields={
            "title": "Planches",
            "quantity": Decimal("2.5"),
            "unit": "piece",
            "remaining_quantity": Decimal("1"),
            "mass_per_unit_kg": None,
            "condition": "good",
            "mode": "sale",
            "price_eur": Decimal("3"),
            "available_from": Offer._meta.get_field("available_from").to_python("2026-01-02T03:04:05Z"),
            "available_until": None,
        },
        organisation=HitOrganisation(2, "Firme", "company"),
        category=HitCategory(3, "wood", "Bois"),
        lon=3.17,
        lat=50.69,
        location_is_approximate=True,
        distance_m=12.34,
        photo_count=0,
    )
    assert hit.title == "Planches"  # a plain field reads as an attribute
    with pytest.raises(AttributeError):
        hit.no_such_field  # noqa: B018
    written = OfferSearchPropertiesOut().to_representation(hit)
    converters = offer_plain_converters()
    assert {name: written[name] for name in OFFER_FIELDS} == {
        "title": "Planches",
        "quantity": "2.500",
        "unit": "piece",
        "remaining_quantity": "1.000",
        "mass_per_unit_kg": None,
        "condition": "good",
        "mode": "sale",
        "price_eur": "3.00",
        "available_from": "2026-01-02T04:04:05+01:00",
        "available_until": None,
    }
    assert {name: converters[name](hit.fields[name]) for name in OFFER_FIELDS} == {
        name: written[name] for name in OFFER_FIELDS
    }


@pytest.mark.django_db
def test_the_webhook_payload_carries_the_plain_fields(firm):
    offer = Offer.objects.get(pk=make_offer(firm, title="Palettes", price_eur=None).pk)
    data = _offer_data(offer)
    assert set(OFFER_FIELDS) <= set(data)
    assert set(data) - set(OFFER_FIELDS) == {"offer", "external_ref", "status"}
    assert set(_OfferData._declared_fields) == set(data) | {"summary"}
    assert data["title"] == "Palettes" and data["quantity"] == "10.000"
    assert data["available_from"] == offer.available_from.isoformat().replace("+00:00", "Z")
    assert offer_plain_values(offer)["quantity"] == Decimal("10.000")


@settings(max_examples=300, deadline=None)
@given(
    quantity=st.one_of(
        st.none(), st.decimals(allow_nan=False, allow_infinity=False, places=3, max_value=10**12)
    ),
    price=st.one_of(
        st.none(), st.decimals(allow_nan=False, allow_infinity=False, min_value=0, max_value=10**6)
    ),
    moment=st.one_of(
        st.none(),
        st.datetimes(
            min_value=datetime(1970, 1, 2),
            max_value=datetime(2100, 1, 1),
            timezones=st.sampled_from([UTC, ZoneInfo("Europe/Paris"), ZoneInfo("America/Cayenne")]),
        ),
    ),
    zone=st.sampled_from(["Europe/Paris", "UTC", "Pacific/Noumea", "America/New_York"]),
)
def test_the_fast_conversions_write_what_the_fields_write(quantity, price, moment, zone):
    """The search writes its hits' plain fields with offer_plain_converters (the fields' own methods cost
    more than the query): each gives exactly its field's output, in the time zone active when it was made,
    across daylight-saving changes, for any decimal the column can hold and beyond."""
    values = {
        "quantity": quantity,
        "remaining_quantity": quantity,
        "mass_per_unit_kg": quantity,
        "price_eur": price,
        "available_from": moment,
        "available_until": moment,
    }
    fields = OfferPlainOut().fields
    with timezone.override(ZoneInfo(zone)):
        converters = offer_plain_converters()
        for name, value in values.items():
            expected = _outcome(partial(_nullable, fields[name]), value)
            assert _outcome(converters[name], value) == expected, (name, value)


def _outcome(write, value) -> tuple:
    """What writing gives: the text, or the error (a decimal too long for the field is refused)."""
    try:
        return ("value", write(value))
    except Exception as error:  # compared, not hidden
        return ("error", type(error))


def _nullable(field, value):
    return None if value is None else field.to_representation(value)
