"""How an offer reads: its read shape (api/shapes.py) with what only some callers see (the exact site,
contacts, the donor's reference), decided by claims/selectors/reveal.py."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from claims.selectors import offers_shown_exactly
from exchange.models import Offer, OfferPhoto, OfferStatus, ValuationBasis
from exchange.rules import offer_mass_for
from exchange.selectors import offer_owned_by
from organisations.models import OrganisationKind

from ...actors import actor_of
from ...fields import POINT_SCHEMA, QUANTITY, GeoJSONPointField
from ...shapes import OfferPlainOut

DECIMAL_OUT_SCHEMA = {
    "type": ["string", "null"],
    "format": "decimal",
    "pattern": r"^-?\d{0,11}(?:\.\d{0,3})?$",
}


class OfferOrganisationOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=OrganisationKind.choices)


class OfferCategoryOut(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    path = serializers.CharField()
    name = serializers.CharField()


class OfferSiteOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    address = serializers.CharField()


class OfferContactOut(serializers.Serializer):
    email = serializers.CharField(source="organisation.email", help_text="Empty when none was given.")
    phone = serializers.CharField(source="organisation.phone")
    website = serializers.CharField(source="organisation.website")


class OfferPhotoOut(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.SerializerMethodField(help_text="Where the bytes are served (authenticated).")
    content_type = serializers.CharField()
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    size_bytes = serializers.IntegerField()
    created_at = serializers.DateTimeField()

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, photo: OfferPhoto) -> str:
        url = reverse("api:offer-photo", kwargs={"offer_id": photo.offer_id, "photo_id": photo.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url


class OfferValuationOut(serializers.Serializer):
    unit_value_eur = serializers.DecimalField(max_digits=12, decimal_places=2)
    basis = serializers.ChoiceField(source="valuation_basis", choices=ValuationBasis.choices)
    near_use_by = serializers.BooleanField()


class OfferOut(OfferPlainOut):
    """An offer. `site`, `contact`, `pickup_instructions` and `external_ref` are null, and `location` is
    approximate, unless the caller owns the offer or holds a claim on it that reveals the place (the
    claim's `location_revealed_at` has come; `external_ref` stays the owner's). Its plain fields are the
    offer's read shape (api/shapes.py)."""

    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=OfferStatus.choices)
    organisation = OfferOrganisationOut()
    category = OfferCategoryOut()
    description = serializers.CharField()
    reserved_quantity = serializers.DecimalField(
        **QUANTITY, help_text="Held by accepted claims not yet collected."
    )
    collected_quantity = serializers.DecimalField(
        **QUANTITY,
        help_text="Handed over (for a loan: out on loan now). quantity = remaining_quantity + "
        "reserved_quantity + collected_quantity, always.",
    )
    total_mass_kg = serializers.SerializerMethodField(
        help_text="quantity × mass per unit; else the category's typical mass × quantity (then "
        "`total_mass_is_estimated`); null when neither is known."
    )
    total_mass_is_estimated = serializers.SerializerMethodField()
    auto_accept_claims = serializers.BooleanField()
    location = serializers.SerializerMethodField()
    location_is_approximate = serializers.SerializerMethodField(
        help_text="True: the centre of a ~550 m grid cell around the site, the same on every request."
    )
    site = serializers.SerializerMethodField()
    contact = serializers.SerializerMethodField(help_text="The donor's contact.")
    pickup_instructions = serializers.SerializerMethodField()
    external_ref = serializers.SerializerMethodField(help_text="The donor's own reference.")
    valuation = serializers.SerializerMethodField(
        help_text="The donor's valuation for a tax receipt (a donation's stock value or cost price per "
        "unit): shown to the offering organisation and the operator only, null for everyone else and "
        "when the offer has none."
    )
    photos = OfferPhotoOut(many=True)
    published_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def _exact(self, offer: Offer) -> bool:
        return offer.pk in self.context["exact_ids"]

    @extend_schema_field(DECIMAL_OUT_SCHEMA)
    def get_total_mass_kg(self, offer: Offer) -> str | None:
        mass = offer_mass_for(offer, offer.quantity).mass_kg
        return None if mass is None else str(mass)

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_total_mass_is_estimated(self, offer: Offer) -> bool:
        return offer_mass_for(offer, offer.quantity).is_estimated

    @extend_schema_field(POINT_SCHEMA)
    def get_location(self, offer: Offer) -> dict:
        point = offer.location if self._exact(offer) else offer.public_location
        return GeoJSONPointField().to_representation(point)

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_location_is_approximate(self, offer: Offer) -> bool:
        return not self._exact(offer)

    @extend_schema_field(OfferSiteOut(allow_null=True))
    def get_site(self, offer: Offer) -> dict | None:
        return OfferSiteOut(offer.site).data if self._exact(offer) else None

    @extend_schema_field(OfferContactOut(allow_null=True))
    def get_contact(self, offer: Offer) -> dict | None:
        return OfferContactOut(offer).data if self._exact(offer) else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_pickup_instructions(self, offer: Offer) -> str | None:
        return offer.pickup_instructions if self._exact(offer) else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_external_ref(self, offer: Offer) -> str | None:
        return offer.external_ref if offer.organisation_id in self.context["actor"].organisation_ids else None

    @extend_schema_field(OfferValuationOut(allow_null=True))
    def get_valuation(self, offer: Offer) -> dict | None:
        actor = self.context["actor"]
        if offer.unit_value_eur is None or not (
            actor.is_operator or offer_owned_by(actor=actor, offer=offer)
        ):
            return None
        return OfferValuationOut(offer).data


def offer_out(request, offers: Offer | list[Offer]) -> dict | list:
    actor = actor_of(request)
    many = isinstance(offers, list)
    items = offers if isinstance(offers, list) else [offers]
    exact_ids = offers_shown_exactly(actor=actor, offers=items)
    context = {"request": request, "actor": actor, "exact_ids": exact_ids}
    return OfferOut(offers, many=many, context=context).data
