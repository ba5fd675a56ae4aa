"""The catalogue: categories of materials and equipment, units, and versioned CO2e factors."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from core.i18n import localized

if TYPE_CHECKING:
    from .selectors import ResolvedFactor


class Unit(models.TextChoices):
    KG = "kg", _("kilogram")
    TONNE = "t", _("tonne")
    PIECE = "piece", _("piece")
    METRE = "m", _("metre")
    SQUARE_METRE = "m2", _("square metre")
    CUBIC_METRE = "m3", _("cubic metre")
    LITRE = "l", _("litre")
    PALLET = "pallet", _("pallet")


# Units whose quantity *is* a mass: mass per unit is implied.
MASS_UNITS_KG: dict[str, Decimal] = {Unit.KG: Decimal("1"), Unit.TONNE: Decimal("1000")}


class FactorBasis(models.TextChoices):
    PER_KG = "per_kg", _("per kilogram")
    PER_ITEM = "per_item", _("per item")


class FactorStatus(models.TextChoices):
    SOURCED = "sourced", _("sourced")
    SOURCED_SECONDARY = "sourced-secondary", _("sourced (secondary)")
    INDICATIVE = "indicative", _("indicative (not yet checked against the official dataset)")


class Category(models.Model):
    """A node of the catalogue tree. `path` is the materialised key path ("furniture/sofa") so that
    "this category and its descendants" is one indexed prefix match."""

    # Set by inventory.selectors.categories_tree on the instances it returns (not columns).
    tree_children: list[Category]
    resolved_factor: ResolvedFactor | None

    key = models.SlugField(_("key"), max_length=64, unique=True)
    parent = models.ForeignKey("self", models.PROTECT, null=True, blank=True, related_name="children")
    path = models.CharField(_("path"), max_length=512, unique=True, editable=False)
    depth = models.PositiveSmallIntegerField(default=0, editable=False)
    name_fr = models.CharField(_("name (French)"), max_length=120)
    name_en = models.CharField(_("name (English)"), max_length=120)
    default_unit = models.CharField(_("default unit"), max_length=8, choices=Unit.choices, default=Unit.KG)
    typical_mass_kg = models.DecimalField(
        _("typical mass per unit (kg)"), max_digits=12, decimal_places=3, null=True, blank=True
    )
    typical_mass_source = models.CharField(_("source of the typical mass"), max_length=300, blank=True)
    # The plausible mass of one unit (inventory/plausibility.py): set by the operator, else derived from
    # the typical mass, else the physical bounds of the unit.
    mass_min_kg = models.DecimalField(
        _("least plausible mass per unit (kg)"), max_digits=12, decimal_places=3, null=True, blank=True
    )
    mass_max_kg = models.DecimalField(
        _("greatest plausible mass per unit (kg)"), max_digits=12, decimal_places=3, null=True, blank=True
    )
    list_of_waste_code = models.CharField(_("European List of Waste code"), max_length=12, blank=True)
    sort_order = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["path"]
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        constraints = [
            models.CheckConstraint(
                condition=Q(typical_mass_kg__isnull=True) | Q(typical_mass_kg__gt=0),
                name="category_typical_mass_positive",
            ),
            models.CheckConstraint(
                condition=(Q(mass_min_kg__isnull=True) & Q(mass_max_kg__isnull=True))
                | (Q(mass_min_kg__gt=0) & Q(mass_max_kg__gt=F("mass_min_kg"))),
                name="category_mass_range_ordered",
            ),
        ]
        indexes = [
            models.Index(fields=["path"], name="category_path_prefix", opclasses=["varchar_pattern_ops"])
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.path})"

    def save(self, *args, **kwargs):
        self.path = f"{self.parent.path}/{self.key}" if self.parent_id else self.key
        self.depth = self.path.count("/")
        super().save(*args, **kwargs)

    def clean(self) -> None:
        # A category may not sit under itself or one of its descendants: the tree would loop.
        if self.parent_id and self.pk:
            ancestor = self.parent
            while ancestor is not None:
                if ancestor.pk == self.pk:
                    raise ValidationError({"parent": _("A category cannot be placed under itself.")})
                ancestor = ancestor.parent
        if (self.mass_min_kg is None) != (self.mass_max_kg is None):
            raise ValidationError(_("Give both ends of the plausible mass range, or neither."))
        if (
            self.mass_min_kg is not None
            and self.mass_max_kg is not None
            and not 0 < self.mass_min_kg < self.mass_max_kg
        ):
            raise ValidationError(
                {"mass_max_kg": _("The greatest plausible mass must exceed the least, which must exceed 0.")}
            )

    @property
    def name(self) -> str:
        return localized(self.name_fr, self.name_en)


class FactorVersion(models.Model):
    """A published set of emission factors ("2026.1"). Versions are never rewritten: a correction is a
    new version. Handovers stamp the version they used; statistics may be restated with another."""

    code = models.CharField(_("version"), max_length=32, unique=True)
    title = models.CharField(_("title"), max_length=200)
    notes = models.TextField(_("notes"), blank=True)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-published_at", "-id"]
        verbose_name = _("factor version")
        verbose_name_plural = _("factor versions")

    def __str__(self) -> str:
        return self.code


class EmissionFactor(models.Model):
    """kg CO2e avoided per kg (or per item) reused, for one category in one factor version."""

    version = models.ForeignKey(FactorVersion, models.PROTECT, related_name="factors")
    category = models.ForeignKey(Category, models.PROTECT, related_name="factors")
    basis = models.CharField(_("basis"), max_length=8, choices=FactorBasis.choices)
    kgco2e = models.DecimalField(_("kg CO2e avoided per basis unit"), max_digits=12, decimal_places=4)
    source = models.TextField(_("source"))
    status = models.CharField(_("status"), max_length=20, choices=FactorStatus.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["category__path", "version__code"]
        verbose_name = _("emission factor")
        verbose_name_plural = _("emission factors")
        constraints = [
            models.UniqueConstraint(fields=["version", "category"], name="factor_one_per_category_version"),
            models.CheckConstraint(condition=Q(kgco2e__gte=0), name="factor_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.category.key} {self.version.code}: {self.kgco2e} kg CO2e {self.basis}"
