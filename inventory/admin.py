"""Admin of the catalogue. Categories are edited in place; factors never are: a published factor row
is a fact (the database refuses changes), and a new factor version is created through
`factor_version_publish`, from the "Add factor version" form."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, TypedDict

from django import forms
from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from .models import Category, EmissionFactor, FactorVersion
from .selectors import current_factor_version
from .services import category_save, factor_spec_problem, factor_version_publish

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

FACTOR_FIELDS = ("category", "version", "basis", "kgco2e", "status", "source", "created_at")


class _FactorTotal(TypedDict):
    factor_total: int


class ReadOnlyFactorInline(admin.TabularInline):
    model = EmissionFactor
    fields = FACTOR_FIELDS
    readonly_fields = FACTOR_FIELDS
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class CategoryFactorInline(ReadOnlyFactorInline):
    ordering = ("-version__published_at", "-version_id")
    verbose_name_plural = _("emission factors (one per factor version; read-only)")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("version", "category")


class VersionFactorInline(ReadOnlyFactorInline):
    ordering = ("category__path",)
    verbose_name_plural = _("emission factors of this version (read-only)")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("version", "category")


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = (
        "path",
        "name_fr",
        "name_en",
        "default_unit",
        "typical_mass_kg",
        "list_of_waste_code",
        "is_active",
    )
    list_filter = ("is_active", "default_unit", "depth")
    search_fields = ("key", "path", "name_fr", "name_en", "list_of_waste_code")
    ordering = ("path",)
    list_select_related = True
    autocomplete_fields = ("parent",)
    readonly_fields = ("path", "depth")
    fields = (
        "key",
        "parent",
        "path",
        "depth",
        "name_fr",
        "name_en",
        "default_unit",
        "typical_mass_kg",
        "typical_mass_source",
        "mass_min_kg",
        "mass_max_kg",
        "list_of_waste_code",
        "sort_order",
        "is_active",
    )
    inlines = [CategoryFactorInline]

    def get_readonly_fields(self, request, obj=None):
        # Keys are identifiers clients and data files rely on: fixed once created.
        return ("key", *self.readonly_fields) if obj is not None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        category_save(category=obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # offers and factors point to categories: retire one with "is active" instead


class FactorVersionAddForm(forms.ModelForm):
    """A new version: every factor of the base version, with the changes pasted as CSV lines."""

    copy_from = forms.ModelChoiceField(
        queryset=FactorVersion.objects.filter(published_at__isnull=False),
        required=False,
        label=_("start from version"),
        help_text=_("Every factor of this version is carried over unless a line below replaces it."),
    )
    changes = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "cols": 100}),
        label=_("new or changed factors (CSV)"),
        help_text=_(
            "One line per factor: category_key,basis,kgco2e,status,source — basis is per_kg or per_item; "
            "status is sourced, sourced-secondary or indicative."
        ),
    )

    class Meta:
        model = FactorVersion
        fields = ("code", "title", "notes")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["copy_from"].initial = current_factor_version()

    def clean_changes(self) -> dict[str, tuple[str, str, str, str]]:
        factors: dict[str, tuple[str, str, str, str]] = {}
        text = self.cleaned_data.get("changes") or ""
        for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
            if not row or not "".join(row).strip():
                continue
            if len(row) < 5:
                raise forms.ValidationError(
                    _("Line %(n)d: expected category_key,basis,kgco2e,status,source."), params={"n": number}
                )
            key, basis, value, status = (cell.strip() for cell in row[:4])
            source = ",".join(row[4:]).strip()
            problem = factor_spec_problem(key=key, basis=basis, value=value, source=source, status=status)
            if problem:
                raise forms.ValidationError(
                    _("Line %(n)d (%(key)s): %(problem)s"),
                    params={"n": number, "key": key, "problem": problem},
                )
            factors[key] = (basis, value, source, status)
        return factors

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("copy_from") and not cleaned.get("changes"):
            raise forms.ValidationError(_("Start from a version, or give at least one factor."))
        return cleaned


@admin.register(FactorVersion)
class FactorVersionAdmin(admin.ModelAdmin):
    list_display = ("code", "title", "published_at", "factor_count")
    search_fields = ("code", "title")
    ordering = ("-published_at", "-id")
    inlines = [VersionFactorInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(factor_total=Count("factors"))

    @admin.display(description=_("factors"), ordering="factor_total")
    def factor_count(self, obj: WithAnnotations[FactorVersion, _FactorTotal]) -> int:
        return obj.factor_total

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = FactorVersionAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("code", "title", "notes", "copy_from", "changes")
        return ("code", "title", "notes", "published_at", "created_at")

    def get_readonly_fields(self, request, obj=None):
        return ("code", "title", "notes", "published_at", "created_at") if obj is not None else ()

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return  # a published version is read-only
        version = factor_version_publish(
            code=form.cleaned_data["code"],
            title=form.cleaned_data["title"],
            notes=form.cleaned_data.get("notes", ""),
            factors=form.cleaned_data["changes"],
            copy_from=form.cleaned_data.get("copy_from"),
            recorded_by=f"user:{request.user.pk}",
        )
        obj.pk = version.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        pass  # factors are created by the service, never through inlines
