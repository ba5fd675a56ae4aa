"""The operator's admin. Changes with a meaning in the domain (verifying, creating or editing an
organisation, placing a site, revoking a key, removing a member, deactivating a person or changing their
password, which end that person's sessions) go through the same services as the API, acting as the
logged-in operator; invitations and keys are created through the API, where their secret is handed over."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.contrib.gis.geos import Point
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.errors import DomainError, InvalidInput
from territories.rules import site_territory

from . import services
from .actors import Actor
from .models import ApiKey, Invitation, Membership, Organisation, Registration, Site, User
from .validators import IdentifierErrors, organisation_identifiers

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


def _actor(request) -> Actor:
    return Actor.for_user(request.user)


def _adopt(obj, saved) -> None:
    """Make the admin's in-memory object the row the service saved (the admin keeps using `obj`)."""
    obj.pk = saved.pk
    obj._state.adding = False
    obj.refresh_from_db()


class OperatorOnly(admin.ModelAdmin):
    """Saving here runs services that only operators may run: other staff may look, not change. Mixed
    in before the admin class it restricts."""

    def _is_operator(self, request) -> bool:
        return _actor(request).is_operator

    def has_add_permission(self, request, *args) -> bool:
        return super().has_add_permission(request, *args) and self._is_operator(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and self._is_operator(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and self._is_operator(request)


class MembershipsThroughServices:
    """A membership deleted in an inline is removed by membership_remove, which ends the person's
    sessions; added and edited ones are saved as usual."""

    def save_formset(self, request, form, formset, change):
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        for membership in formset.save(commit=False):
            membership.save()
        for membership in formset.deleted_objects:
            services.membership_remove(actor=_actor(request), membership_id=membership.pk)
        formset.save_m2m()


# --- People -------------------------------------------------------------------------------------------


class EmailUserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"]).lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(_("An account already exists for this e-mail address."))
        return email


class EmailUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class MembershipOfUserInline(admin.TabularInline):
    model = Membership
    fk_name = "user"
    extra = 0
    raw_id_fields = ("organisation",)
    fields = ("organisation", "role", "created_at")
    readonly_fields = ("created_at",)


@admin.register(User)
class UserAdmin(MembershipsThroughServices, DjangoUserAdmin):
    form = EmailUserChangeForm
    add_form = EmailUserCreationForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "preferred_language")}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),
    )
    list_display = ("email", "first_name", "last_name", "preferred_language", "is_staff", "is_active")
    list_filter = ("is_staff", "is_superuser", "is_active", "preferred_language")
    search_fields = ("email", "first_name", "last_name")
    ordering = ("email",)
    inlines = [MembershipOfUserInline]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            services.user_revoke_tokens(user=obj, reason="deactivated", actor=_actor(request).label)

    def user_change_password(self, request, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:  # the form was valid and saved
            user = self.get_object(request, unquote(id))
            services.user_revoke_tokens(user=user, reason="password_changed", actor=_actor(request).label)
            if user.pk == request.user.pk:
                update_session_auth_hash(request, user)  # an operator changing their own stays logged in
        return response


# --- Organisations ------------------------------------------------------------------------------------


class VerifiedFilter(admin.SimpleListFilter):
    title = _("verified")
    parameter_name = "verified"

    def lookups(self, request, model_admin):
        return [("yes", _("verified")), ("no", _("awaiting verification"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(verified_at__isnull=self.value() == "no")
        return queryset


class OrganisationAdminForm(forms.ModelForm):
    # Wider than stored: people type SIRETs with spaces; clean() stores the canonical form.
    siret = forms.CharField(label=_("SIRET"), required=False, max_length=20)
    rna = forms.CharField(label=_("RNA number"), required=False, max_length=14)
    website = forms.URLField(label=_("website"), required=False, max_length=200, assume_scheme="https")

    class Meta:
        model = Organisation
        fields = ["name", "kind", "siret", "rna", "description", "email", "phone", "website"]

    def clean(self):
        cleaned = super().clean()
        identifiers_changed = {"siret", "rna", "kind"} & set(self.changed_data)
        kind = cleaned.get("kind") or self.instance.kind
        if kind and (self.instance.pk is None or identifiers_changed):
            try:
                cleaned["siret"], cleaned["rna"] = organisation_identifiers(
                    kind=kind, siret=cleaned.get("siret", ""), rna=cleaned.get("rna", "")
                )
            except IdentifierErrors as exc:
                for field, field_messages in exc.errors.items():
                    self.add_error(field, field_messages)
        return cleaned


class MembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "organisation"
    extra = 0
    raw_id_fields = ("user",)
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)


@admin.register(Organisation)
class OrganisationAdmin(OperatorOnly, MembershipsThroughServices, admin.ModelAdmin):
    form = OrganisationAdminForm
    list_display = ("name", "kind", "siret", "rna", "is_verified", "created_at")
    list_filter = ("kind", VerifiedFilter)
    search_fields = ("name", "siret", "rna", "email")
    readonly_fields = ("verified_at", "verified_by", "created_at", "updated_at")
    inlines = [MembershipInline]
    actions = ["verify"]

    @admin.display(boolean=True, description=_("verified"), ordering="verified_at")
    def is_verified(self, obj: Organisation) -> bool:
        return obj.is_verified

    def get_readonly_fields(self, request, obj=None):
        # The kind is chosen once: statistics and rights depend on it.
        return (*self.readonly_fields, "kind") if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        fields = [f for f in services.ORGANISATION_FIELDS if f in form.cleaned_data]
        if change:
            changes = {f: form.cleaned_data[f] for f in fields if f in form.changed_data}
            saved = services.organisation_update(actor=_actor(request), organisation_id=obj.pk, **changes)
        else:
            saved = services.organisation_create(
                actor=_actor(request),
                kind=form.cleaned_data["kind"],
                **{f: form.cleaned_data[f] for f in fields},
            )
        _adopt(obj, saved)

    @admin.action(description=_("Verify the selected organisations"), permissions=["change"])
    def verify(self, request, queryset):
        actor = _actor(request)
        verified = 0
        for organisation_id in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                services.organisation_verify(actor=actor, organisation_id=organisation_id)
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                verified += 1
        if verified:
            self.message_user(
                request,
                ngettext("%(count)d organisation verified.", "%(count)d organisations verified.", verified)
                % {"count": verified},
                messages.SUCCESS,
            )


# --- Sites --------------------------------------------------------------------------------------------


class SiteAdminForm(forms.ModelForm):
    """Plain coordinates rather than a map widget: it works offline and says exactly what is stored."""

    latitude = forms.DecimalField(
        label=_("latitude"), max_digits=9, decimal_places=6, min_value=Decimal(-90), max_value=Decimal(90)
    )
    longitude = forms.DecimalField(
        label=_("longitude"), max_digits=10, decimal_places=6, min_value=Decimal(-180), max_value=Decimal(180)
    )

    class Meta:
        model = Site
        fields = ["organisation", "name", "address", "latitude", "longitude", "opening_notes"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.location is not None:
            self.initial.setdefault("latitude", round(Decimal(str(self.instance.location.y)), 6))
            self.initial.setdefault("longitude", round(Decimal(str(self.instance.location.x)), 6))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("latitude") is not None and cleaned.get("longitude") is not None:
            cleaned["location"] = Point(float(cleaned["longitude"]), float(cleaned["latitude"]), srid=4326)
            moved = self.instance.pk is None or {"latitude", "longitude"} & set(self.changed_data)
            if moved:
                # The rule site_create / site_update apply, shown on the form rather than as a crash.
                try:
                    site_territory(point=cleaned["location"])
                except InvalidInput as exc:
                    self.add_error(None, exc.message)
        return cleaned


@admin.register(Site)
class SiteAdmin(OperatorOnly, admin.ModelAdmin):
    form = SiteAdminForm
    list_display = ("name", "organisation", "territory", "is_active", "created_at")
    list_filter = ("is_active", "organisation__kind")
    search_fields = ("name", "address", "organisation__name")
    list_select_related = ("organisation", "territory")
    raw_id_fields = ("organisation",)
    readonly_fields = ("territory", "is_active", "created_at", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "organisation") if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            changes = {f: data[f] for f in services.SITE_FIELDS if f in form.changed_data}
            moved = {"latitude", "longitude"} & set(form.changed_data)
            saved = services.site_update(
                actor=_actor(request), site=obj, location=data["location"] if moved else None, **changes
            )
        else:
            saved = services.site_create(
                actor=_actor(request),
                organisation_id=data["organisation"].pk,
                name=data["name"],
                location=data["location"],
                address=data.get("address", ""),
                opening_notes=data.get("opening_notes", ""),
            )
        _adopt(obj, saved)

    def delete_model(self, request, obj):
        services.site_delete(actor=_actor(request), site=obj)

    def delete_queryset(self, request, queryset):
        for site in queryset.order_by("pk"):
            services.site_delete(actor=_actor(request), site=site)


# --- Invitations and API keys (created through the API, which hands over their secret) ---------------


class ReadOnly:
    def has_add_permission(self, request, *args) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Invitation)
class InvitationAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("email", "organisation", "role", "status", "created_at", "expires_at", "accepted_at")
    list_filter = ("role",)
    search_fields = ("email", "organisation__name")
    list_select_related = ("organisation",)
    readonly_fields = ("token_hash",)

    @admin.display(description=_("status"))
    def status(self, obj: Invitation) -> StrOrPromise:
        if obj.accepted_at:
            return _("accepted")
        return _("expired") if obj.expires_at <= timezone.now() else _("pending")


@admin.register(Registration)
class RegistrationAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("user", "organisation", "created_at", "expires_at", "confirmed_at")
    list_filter = (("confirmed_at", admin.EmptyFieldListFilter),)
    search_fields = ("user__email", "organisation__name")
    list_select_related = ("user", "organisation")
    readonly_fields = ("token_hash",)


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("prefix", "name", "organisation", "scopes", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("prefix", "name", "organisation__name")
    list_select_related = ("organisation",)
    readonly_fields = ("prefix", "key_hash")
    actions = ["revoke"]

    @admin.action(description=_("Revoke the selected API keys"))
    def revoke(self, request, queryset):
        actor = _actor(request)
        revoked = 0
        for key_id in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                services.api_key_revoke(actor=actor, api_key_id=key_id)
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                revoked += 1
        if revoked:
            self.message_user(
                request,
                ngettext("%(count)d API key revoked.", "%(count)d API keys revoked.", revoked)
                % {"count": revoked},
                messages.SUCCESS,
            )
