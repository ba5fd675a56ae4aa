"""Who is acting. Every service and selector takes an `Actor`: a person (through their memberships) or
an organisation's API key. Scoping starts here, so it cannot be forgotten further down."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from django.db import connection
from django.db.models import Model
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import InvalidInput, NotFound, PermissionDenied

from .models import ApiKey, ApiKeyScope, Membership, MembershipRole, Organisation, OrganisationKind, User


def _column(model: type[Model], name: str) -> str:
    field = model._meta.get_field(name)
    return connection.ops.quote_name(str(getattr(field, "column", name)))


def person_with_memberships(user_id: object) -> User | None:
    """The person of id `user_id`, with their memberships read in the same query: what an Actor built on
    them reads as its roles. The person's own requests start here (api.authentication): one round trip
    where there were two, in plain SQL (the ORM's aggregate costs more to build than the query takes)."""
    member, person_id = _column(Membership, "user"), _column(User, "id")
    held = (
        f"FROM {connection.ops.quote_name(Membership._meta.db_table)} m "
        f"WHERE m.{member} = p.{person_id} ORDER BY m.{_column(Membership, 'id')}"
    )
    sql = (
        f"SELECT p.*, ARRAY(SELECT m.{_column(Membership, 'organisation')} {held}) "
        f"AS membership_organisation_ids, ARRAY(SELECT m.{_column(Membership, 'role')} {held}) "
        f"AS membership_roles_read FROM {connection.ops.quote_name(User._meta.db_table)} p "
        f"WHERE p.{person_id} = %s"
    )
    return next(iter(User.objects.raw(sql, [user_id])), None)


@dataclass(frozen=True)
class Actor:
    user: User | None = None
    api_key: ApiKey | None = None
    # The platform itself: management commands and periodic tasks, run by whoever holds the server.
    system: bool = False

    @classmethod
    def for_user(cls, user: User) -> Actor:
        return cls(user=user)

    @classmethod
    def for_api_key(cls, key: ApiKey) -> Actor:
        return cls(api_key=key)

    @classmethod
    def for_system(cls) -> Actor:
        return cls(system=True)

    @cached_property
    def roles(self) -> dict[int, str]:
        """organisation id → role. An API key acts as a member of its own organisation only."""
        if self.api_key is not None:
            return {self.api_key.organisation_id: MembershipRole.MEMBER}
        if self.user is None or not self.user.is_active:
            return {}
        read = getattr(self.user, "membership_organisation_ids", None)  # person_with_memberships
        if read is not None:
            return dict(zip(read, self.user.membership_roles_read, strict=True))  # type: ignore[attr-defined]
        return dict(Membership.objects.filter(user=self.user).values_list("organisation_id", "role"))

    @property
    def organisation_ids(self) -> set[int]:
        return set(self.roles)

    @cached_property
    def is_operator(self) -> bool:
        """Operators run the platform: superusers, and members of a verified operator organisation."""
        if self.system:
            return True
        if self.user is None:
            return False
        if self.user.is_superuser:
            return True
        return Organisation.objects.filter(
            id__in=self.organisation_ids, kind=OrganisationKind.OPERATOR, verified_at__isnull=False
        ).exists()

    def clock(self, now: datetime | None = None) -> datetime:
        """The moment of a change: now, or the moment given, which only the system may give (the
        seeding path writes history with its dates)."""
        if now is None:
            return timezone.now()
        if not self.system:
            raise ValueError("Only the system actor may set the clock (seeding path).")
        return now

    @property
    def label(self) -> str:
        if self.api_key is not None:
            return f"api-key:{self.api_key.prefix}"
        if self.system:
            return "system"
        return f"user:{self.user.pk}" if self.user else "anonymous"

    def is_member(self, organisation_id: int) -> bool:
        return organisation_id in self.roles

    def is_admin(self, organisation_id: int) -> bool:
        return self.api_key is None and self.roles.get(organisation_id) == MembershipRole.ADMIN

    def can_write(self) -> bool:
        return self.api_key is None or ApiKeyScope.WRITE in self.api_key.scopes

    def require_member(self, organisation_id: int) -> None:
        """Out of scope reads as absent (404), never as forbidden."""
        if not self.is_member(organisation_id) and not self.is_operator:
            raise NotFound(_("No such object."))

    def require_admin(self, organisation_id: int) -> None:
        self.require_member(organisation_id)
        if not self.is_admin(organisation_id) and not self.is_operator:
            raise PermissionDenied(_("Only an administrator of this organisation may do this."))

    def require_write(self) -> None:
        if not self.can_write():
            raise PermissionDenied(_("This API key has no write scope."), code="scope_required")

    def acting_organisation(self, organisation_id: int | None = None) -> Organisation:
        """The organisation a write acts for: the one named, else the only one the actor belongs to."""
        if organisation_id is None:
            if len(self.roles) != 1:
                raise InvalidInput(
                    _("Say which organisation this is for."),
                    field_errors={"organisation": [_("Required when you belong to several organisations.")]},
                )
            (organisation_id,) = self.roles
        if not self.is_member(organisation_id) and not self.is_operator:
            raise NotFound(_("No such organisation."))
        organisation = Organisation.objects.filter(pk=organisation_id).first()
        if organisation is None:
            raise NotFound(_("No such organisation."))
        return organisation
