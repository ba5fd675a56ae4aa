"""Territories: named polygons (communes, districts, IRIS…) that group statistics and locate sites."""

from django.contrib.gis.db import models
from django.utils.translation import gettext_lazy as _


class TerritoryKind(models.TextChoices):
    COMMUNE = "commune", _("commune")
    DISTRICT = "district", _("district")
    IRIS = "iris", _("IRIS")
    EPCI = "epci", _("intercommunality")
    OTHER = "other", _("other")


class Territory(models.Model):
    kind = models.CharField(_("kind"), max_length=16, choices=TerritoryKind.choices)
    code = models.CharField(_("code"), max_length=32, help_text=_("e.g. the INSEE code of a commune"))
    name = models.CharField(_("name"), max_length=200)
    population = models.PositiveIntegerField(_("population"), null=True, blank=True)
    properties = models.JSONField(_("other attributes"), default=dict, blank=True)
    source = models.CharField(_("source and licence"), max_length=500, blank=True)
    geometry = models.MultiPolygonField(_("boundary"), srid=4326)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "code"]
        verbose_name = _("territory")
        verbose_name_plural = _("territories")
        constraints = [models.UniqueConstraint(fields=["kind", "code"], name="territory_unique_kind_code")]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"
