"""People, organisations, their memberships, sites and API keys."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.contrib.gis.db import models
from django.contrib.postgres.fields import ArrayField
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from core.models import TimeStampedModel

from .geo import approximate_point


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        # Log-in by e-mail ignores case, as addresses are unique regardless of case.
        return self.get(email__iexact=username)


class User(AbstractUser):
    """A person. Logs in with an e-mail address; acts through memberships of organisations."""

    # Django's documented way to drop an inherited field; the stubs type AbstractUser.username as str.
    username = None  # type: ignore[assignment]
    email = models.EmailField(_("e-mail address"), unique=True)
    preferred_language = models.CharField(
        _("preferred language"), max_length=2, choices=[("fr", "Français"), ("en", "English")], default="fr"
    )
    # Every token and dashboard session carries the epoch it was opened in; revoking them all
    # (services.user_revoke_tokens) moves the epoch on. A counter, not a time: a token's `iat` has whole
    # seconds, so it could not tell a token issued just before a revocation from one issued just after.
    token_epoch = models.PositiveIntegerField(
        _("session epoch"),
        default=0,
        editable=False,
        help_text=_("Goes up each time every session of this person is ended."),
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []
    # The stubs type AbstractUser.objects as contrib.auth's UserManager, whose methods take a username;
    # this model has none, so it has its own manager.
    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email

    # Django keeps an HMAC of the password in each session and ends the session when it no longer
    # matches (a password change or reset). Mixing the epoch in ends dashboard sessions on every
    # revocation too. Epoch 0 keeps Django's own value, so sessions opened before epochs existed live on.
    def get_session_auth_hash(self) -> str:
        if not self.token_epoch:
            return super().get_session_auth_hash()
        return self._epoch_session_hash(secret=None)

    def get_session_auth_fallback_hash(self) -> Iterator[str]:
        if not self.token_epoch:
            yield from super().get_session_auth_fallback_hash()
            return
        for secret in settings.SECRET_KEY_FALLBACKS:
            yield self._epoch_session_hash(secret=secret)

    def _epoch_session_hash(self, *, secret: str | bytes | None) -> str:
        return salted_hmac(
            "organisations.User.session_hash",
            f"{self.password}\x00{self.token_epoch}",
            secret=secret,
            algorithm="sha256",
        ).hexdigest()


class OrganisationKind(models.TextChoices):
    COMPANY = "company", _("company")
    ASSOCIATION = "association", _("association")
    PROJECT = "project", _("community project")
    PUBLIC_AUTHORITY = "public_authority", _("public authority")
    OPERATOR = "operator", _("operator")


SELF_REGISTERED_KINDS = (OrganisationKind.COMPANY, OrganisationKind.ASSOCIATION, OrganisationKind.PROJECT)
SELF_REGISTERED_KIND_CHOICES = [(kind.value, kind.label) for kind in SELF_REGISTERED_KINDS]
RECIPIENT_KINDS = (OrganisationKind.ASSOCIATION, OrganisationKind.PROJECT)


class TaxReceiptStatus(models.TextChoices):
    """Whether an association may issue tax receipts for gifts (art. 200 and 238 bis CGI): it declares
    its general-interest status with the evidence, the operator verifies or refuses it."""

    NONE = "", _("none")
    DECLARED = "declared", _("declared")
    VERIFIED = "verified", _("verified")
    REFUSED = "refused", _("refused")


class Organisation(TimeStampedModel):
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=OrganisationKind.choices)
    siret = models.CharField(_("SIRET"), max_length=14, blank=True)
    rna = models.CharField(_("RNA number"), max_length=10, blank=True)
    description = models.TextField(_("description"), blank=True)
    email = models.EmailField(_("contact e-mail"), blank=True)
    phone = models.CharField(_("contact phone"), max_length=32, blank=True)
    website = models.URLField(_("website"), blank=True)
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    verified_by = models.ForeignKey(
        "organisations.User", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Tax receipts (organisations/services/tax_receipts.py, receipts/): associations only.
    tax_receipt_status = models.CharField(
        _("tax receipt status"),
        max_length=10,
        choices=TaxReceiptStatus.choices,
        blank=True,
        default="",
        db_default="",
    )
    tax_receipt_evidence = models.TextField(
        _("tax receipt evidence"),
        blank=True,
        default="",
        db_default="",
        help_text=_("The rescrit fiscal reference or the legal basis (art. 200 and 238 bis CGI)."),
    )
    tax_receipt_declared_at = models.DateTimeField(_("tax receipt status declared at"), null=True, blank=True)
    tax_receipt_verified_at = models.DateTimeField(_("tax receipt status decided at"), null=True, blank=True)
    tax_receipt_verified_by = models.ForeignKey(
        "organisations.User", models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        constraints = [
            models.CheckConstraint(
                condition=Q(siret="") | Q(siret__regex=r"^[0-9]{14}$"), name="org_siret_format"
            ),
            models.CheckConstraint(condition=Q(rna="") | Q(rna__regex=r"^W[0-9]{9}$"), name="org_rna_format"),
            models.UniqueConstraint(fields=["siret"], condition=~Q(siret=""), name="org_siret_unique"),
            models.UniqueConstraint(fields=["rna"], condition=~Q(rna=""), name="org_rna_unique"),
            models.CheckConstraint(
                condition=Q(tax_receipt_status="")
                | (Q(kind=OrganisationKind.ASSOCIATION) & Q(tax_receipt_status__in=TaxReceiptStatus.values)),
                name="org_tax_receipt_association_only",
            ),
            models.CheckConstraint(
                condition=~Q(tax_receipt_status__in=[TaxReceiptStatus.VERIFIED, TaxReceiptStatus.REFUSED])
                | Q(tax_receipt_verified_at__isnull=False),
                name="org_tax_receipt_decision_dated",
            ),
            models.CheckConstraint(
                condition=~Q(tax_receipt_status=TaxReceiptStatus.DECLARED)
                | (~Q(tax_receipt_evidence="") & Q(tax_receipt_declared_at__isnull=False)),
                name="org_tax_receipt_declared_with_evidence",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None


class MembershipRole(models.TextChoices):
    ADMIN = "admin", _("administrator")
    MEMBER = "member", _("member")


class Membership(TimeStampedModel):
    user = models.ForeignKey(User, models.CASCADE, related_name="memberships")
    organisation = models.ForeignKey(Organisation, models.CASCADE, related_name="memberships")
    role = models.CharField(
        _("role"), max_length=8, choices=MembershipRole.choices, default=MembershipRole.MEMBER
    )

    class Meta:
        ordering = ["organisation_id", "id"]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [models.UniqueConstraint(fields=["user", "organisation"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organisation} ({self.role})"


class Invitation(TimeStampedModel):
    """An org admin invites a person by e-mail; the token (stored hashed) turns into a membership."""

    organisation = models.ForeignKey(Organisation, models.CASCADE, related_name="invitations")
    email = models.EmailField(_("e-mail address"))
    role = models.CharField(
        _("role"), max_length=8, choices=MembershipRole.choices, default=MembershipRole.MEMBER
    )
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, models.SET_NULL, null=True, related_name="+")
    expires_at = models.DateTimeField(_("expires at"))
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    accepted_by = models.ForeignKey(User, models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")

    def __str__(self) -> str:
        return f"{self.email} → {self.organisation} ({self.role})"


class Registration(TimeStampedModel):
    """A sign-up waiting for its e-mail address to be confirmed. Until then the person cannot log in and
    the organisation waits outside the operator's list; unconfirmed ones are deleted once expired. The
    confirmation code goes out by e-mail only: the database keeps its SHA-256."""

    user = models.OneToOneField(User, models.CASCADE, related_name="registration")
    organisation = models.OneToOneField(Organisation, models.CASCADE, related_name="registration")
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(_("expires at"))
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("registration")
        verbose_name_plural = _("registrations")
        indexes = [
            models.Index(
                fields=["expires_at"], condition=Q(confirmed_at__isnull=True), name="registration_pending"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.organisation}"

    @property
    def is_pending(self) -> bool:
        return self.confirmed_at is None


class Site(TimeStampedModel):
    """A located place of an organisation: a pickup yard, a shop, an association's depot."""

    organisation = models.ForeignKey(Organisation, models.CASCADE, related_name="sites")
    name = models.CharField(_("name"), max_length=200)
    address = models.CharField(_("address"), max_length=300, blank=True)
    location = models.PointField(_("location"), geography=True, srid=4326)
    public_location = models.PointField(
        _("approximate public location"),
        geography=True,
        srid=4326,
        editable=False,
        help_text=_("Centre of a ~550 m grid cell; what people other than the owner see."),
    )
    opening_notes = models.TextField(_("opening notes"), blank=True)
    territory = models.ForeignKey(
        "territories.Territory", models.SET_NULL, null=True, blank=True, related_name="sites"
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["organisation_id", "name", "id"]
        verbose_name = _("site")
        verbose_name_plural = _("sites")

    def __str__(self) -> str:
        return f"{self.name} — {self.organisation}"

    def save(self, *args, **kwargs):
        self.public_location = approximate_point(self.location)
        if kwargs.get("update_fields") and "location" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "public_location"}
        super().save(*args, **kwargs)


class ApiKeyScope(models.TextChoices):
    READ = "read", _("read")
    WRITE = "write", _("write")


class ApiKey(models.Model):
    """An organisation's key for its stock system. The secret is shown once; only its SHA-256 is kept
    (keys carry 256 random bits, so a fast hash is enough). `prefix` identifies the key in lists."""

    organisation = models.ForeignKey(Organisation, models.CASCADE, related_name="api_keys")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = ArrayField(models.CharField(max_length=16, choices=ApiKeyScope.choices), default=list)
    created_by = models.ForeignKey(User, models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        constraints = [
            models.CheckConstraint(condition=Q(scopes__len__gt=0), name="apikey_has_scope"),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.organisation})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
