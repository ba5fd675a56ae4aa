"""Sites: located places of an organisation. CRUD by members of that organisation only."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.response import Response

from organisations import selectors, services
from organisations.models import Site

from ..actors import actor_of
from ..created import created
from ..fields import GeoJSONPointField
from ..idempotency import idempotent
from ..inputs import validated


class TerritoryRefOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    code = serializers.CharField()
    name = serializers.CharField()


class SiteOut(serializers.ModelSerializer):
    location = GeoJSONPointField()
    territory = TerritoryRefOut(allow_null=True)

    class Meta:
        model = Site
        fields = [
            "id",
            "organisation",
            "name",
            "address",
            "location",
            "opening_notes",
            "territory",
            "created_at",
            "updated_at",
        ]


class SiteCreateIn(serializers.Serializer):
    organisation = serializers.IntegerField(
        required=False, help_text="Organisation the site belongs to; optional when you belong to only one."
    )
    name = serializers.CharField(max_length=200)
    address = serializers.CharField(max_length=300, required=False, default="", allow_blank=True)
    location = GeoJSONPointField()
    opening_notes = serializers.CharField(required=False, default="", allow_blank=True, max_length=2000)


class SiteUpdateIn(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    address = serializers.CharField(max_length=300, required=False, allow_blank=True)
    location = GeoJSONPointField(required=False)
    opening_notes = serializers.CharField(required=False, allow_blank=True, max_length=2000)


SITE_LOCATION_RULE = (
    "The `location` ([longitude, latitude], WGS 84) must lie in one of the communes loaded in Boucle: the "
    "site takes that commune as its `territory`, and its handovers count in that territory's figures. A "
    "point outside every commune is refused: 400 `site_outside_territories` with a field error on "
    "`location`; when swapping latitude and longitude would land in a commune, the message names it and "
    "the problem carries `suggested_location`, the swapped GeoJSON Point. A deployment may accept such "
    "points (setting `BOUCLE_ALLOW_SITES_OUTSIDE_TERRITORIES`): the site then has `territory` null."
)


class SiteListView(ListAPIView):
    serializer_class = SiteOut

    def get_queryset(self):
        return selectors.sites_visible_to(actor=actor_of(self.request))

    @extend_schema(operation_id="sites_list", summary="Sites of your organisations")
    def get(self, request):
        return self.list(request)

    @extend_schema(
        operation_id="sites_create",
        summary="Add a site",
        description=SITE_LOCATION_RULE,
        request=SiteCreateIn,
        responses={201: SiteOut},
    )
    @idempotent
    def post(self, request):
        data = validated(SiteCreateIn, request)
        site = services.site_create(
            actor=actor_of(request), organisation_id=data.pop("organisation", None), **data
        )
        return created(request, SiteOut(site).data, "site-detail", site_id=site.pk)


class SiteDetailView(GenericAPIView):
    serializer_class = SiteOut

    def _site(self, request, site_id: int) -> Site:
        return selectors.site_get(actor=actor_of(request), site_id=site_id)

    @extend_schema(operation_id="sites_retrieve", summary="A site")
    def get(self, request, site_id: int):
        return Response(SiteOut(self._site(request, site_id)).data)

    @extend_schema(
        operation_id="sites_update",
        summary="Change a site",
        description="When `location` changes, the same rule as on creation. " + SITE_LOCATION_RULE,
        request=SiteUpdateIn,
        responses={200: SiteOut},
    )
    def patch(self, request, site_id: int):
        site = self._site(request, site_id)
        data = validated(SiteUpdateIn, request, partial=True)
        site = services.site_update(actor=actor_of(request), site=site, **data)
        return Response(SiteOut(site).data)

    @extend_schema(
        operation_id="sites_destroy",
        summary="Remove a site (kept as retired when offers or needs point to it)",
        responses={204: None},
    )
    def delete(self, request, site_id: int):
        services.site_delete(actor=actor_of(request), site=self._site(request, site_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("sites/", SiteListView.as_view(), name="sites"),
    path("sites/<int:site_id>/", SiteDetailView.as_view(), name="site-detail"),
]
