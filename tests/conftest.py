from __future__ import annotations

import itertools

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from organisations.models import Membership, MembershipRole, Organisation, OrganisationKind, Site, User

from .openapi import check_response

_seq = itertools.count(1)

ROUBAIX = Point(3.1746, 50.6916, srid=4326)  # Grand-Place de Roubaix (lon, lat)


class CheckedClient(APIClient):
    """An API client whose every answer is checked against openapi.yaml (status, type, body)."""

    check_schema = True

    def generic(self, method, path, *args, **kwargs):
        response = super().generic(method, path, *args, **kwargs)
        if self.check_schema and path.startswith("/api/v1/"):
            check_response(method, path.split("?")[0], response)
        return response


@pytest.fixture
def anon() -> CheckedClient:
    return CheckedClient()


def client_for(user: User) -> CheckedClient:
    client = CheckedClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def client_for_key(raw_key: str) -> CheckedClient:
    client = CheckedClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    return client


def make_user(email: str | None = None, password: str = "correct-horse-battery-9", **extra) -> User:
    return User.objects.create_user(email or f"user{next(_seq)}@example.org", password, **extra)


def make_org(
    kind: str = OrganisationKind.COMPANY, *, verified: bool = True, name: str | None = None, **extra
) -> Organisation:
    return Organisation.objects.create(
        name=name or f"{kind} {next(_seq)}",
        kind=kind,
        verified_at=timezone.now() if verified else None,
        **extra,
    )


def make_member(
    organisation: Organisation, role: str = MembershipRole.ADMIN, user: User | None = None
) -> User:
    user = user or make_user()
    Membership.objects.create(user=user, organisation=organisation, role=role)
    return user


def make_site(organisation: Organisation, point: Point = ROUBAIX, name: str = "Dépôt") -> Site:
    return Site.objects.create(organisation=organisation, name=name, location=point)


@pytest.fixture
def firm() -> Organisation:
    return make_org(OrganisationKind.COMPANY, name="Menuiserie du Nord")


@pytest.fixture
def association() -> Organisation:
    return make_org(OrganisationKind.ASSOCIATION, name="Repair Café Roubaix")


@pytest.fixture
def operator_org() -> Organisation:
    return make_org(OrganisationKind.OPERATOR, name="Boucle Opérateur")


@pytest.fixture
def operator_user(operator_org) -> User:
    return make_member(operator_org, MembershipRole.ADMIN)
