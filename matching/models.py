"""Needs (standing requests of associations and projects), the matches recorded when a published offer
falls in a need's area, and each organisation's choice of how it hears about them."""

from __future__ import annotations

from django.contrib.gis.db import models
from django.contrib.postgres.indexes import GistIndex
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.models import TimeStampedModel
from inventory.models import Unit

# The database's ceiling for a need's radius. The API's cap (settings.BOUCLE_MATCH_MAX_RADIUS_M) may be
# lower, never higher; the CHECK below holds every saved need to it, whatever the setting was then.
NEED_MAX_RADIUS_M = 100_000


class NeedStatus(models.TextChoices):
    OPEN = "open", _("open")
    FULFILLED = "fulfilled", _("fulfilled")
    CLOSED = "closed", _("closed")
    EXPIRED = "expired", _("expired")  # the deadline passed


# What a member may set; `expired` is the deadline sweep's to set.
NEED_SETTABLE_STATUS_CHOICES = [
    (s.value, s.label) for s in (NeedStatus.OPEN, NeedStatus.FULFILLED, NeedStatus.CLOSED)
]


class Need(TimeStampedModel):
    organisation = models.ForeignKey("organisations.Organisation", models.CASCADE, related_name="needs")
    created_by = models.ForeignKey("organisations.User", models.SET_NULL, null=True, related_name="+")
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    categories = models.ManyToManyField(
        "inventory.Category", through="NeedCategory", related_name="needs", verbose_name=_("categories")
    )
    quantity_wanted = models.DecimalField(
        _("quantity wanted"), max_digits=14, decimal_places=3, null=True, blank=True
    )
    unit = models.CharField(_("unit"), max_length=8, choices=Unit.choices, blank=True)
    site = models.ForeignKey(
        "organisations.Site",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="needs",
        verbose_name=_("site"),
    )
    # Copied from the site when there is one, so that matching is one indexed table.
    location = models.PointField(_("location"), geography=True, srid=4326, spatial_index=False)
    radius_m = models.PositiveIntegerField(_("radius (m)"))
    deadline = models.DateTimeField(_("deadline"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=NeedStatus.choices, default=NeedStatus.OPEN)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("need")
        verbose_name_plural = _("needs")
        constraints = [
            models.CheckConstraint(
                condition=Q(radius_m__gt=0) & Q(radius_m__lte=NEED_MAX_RADIUS_M), name="need_radius_range"
            ),
            models.CheckConstraint(
                condition=(Q(quantity_wanted__isnull=True) & Q(unit=""))
                | (Q(quantity_wanted__gt=0) & ~Q(unit="")),
                name="need_quantity_with_unit",
            ),
        ]
        indexes = [
            # Matching a published offer: open needs near it (ST_DWithin prefilter on this index).
            GistIndex(fields=["location"], name="need_open_location_gist", condition=Q(status="open")),
            models.Index(fields=["organisation", "status"], name="need_org_status"),
            # The expiry sweep: open needs whose deadline passed.
            models.Index(fields=["deadline"], name="need_open_deadline", condition=Q(status="open")),
        ]

    def __str__(self) -> str:
        return self.title

    def area_fields(self) -> dict:
        """What each NeedCategory row copies from the need (a trigger keeps them in step afterwards)."""
        return {name: getattr(self, name) for name in NEED_COPIED_FIELDS} | {
            "is_open": self.status == NeedStatus.OPEN
        }


# Fields of a need copied onto each of its NeedCategory rows (see the trigger in migration 0002).
NEED_COPIED_FIELDS = ("organisation_id", "location", "radius_m", "quantity_wanted", "unit", "deadline")


class NeedCategory(models.Model):
    """A category a need asked for, with a copy of what matching reads of the need. A database trigger
    copies every change of the need (migration 0002).

    The row also has `area`, a box (longitude, latitude) that contains the need's disc, which the
    database computes from `location` and `radius_m` on every write (a stored generated column,
    migration 0004; the ORM neither reads nor writes it). Finding the needs that cover a published
    offer is then an index-only GiST scan on (category, area) per category of the offer's lineage —
    the areas that hold its point — with no other table to visit (matching.selectors)."""

    need = models.ForeignKey(Need, models.CASCADE, related_name="areas")
    category = models.ForeignKey("inventory.Category", models.CASCADE, related_name="+")
    organisation = models.ForeignKey(
        "organisations.Organisation", models.CASCADE, related_name="+", db_index=False
    )
    location = models.PointField(geography=True, srid=4326, spatial_index=False)
    radius_m = models.PositiveIntegerField()
    quantity_wanted = models.DecimalField(max_digits=14, decimal_places=3, null=True)
    unit = models.CharField(max_length=8, blank=True)
    deadline = models.DateTimeField(null=True)
    is_open = models.BooleanField()

    class Meta:
        db_table = "matching_need_category"
        constraints = [models.UniqueConstraint(fields=["need", "category"], name="need_category_unique")]
        # The matching index, on (category, area) for open rows, is created with the `area` column
        # (migration 0004): Django has no field for a PostgreSQL box.


class SearchCell(models.Model):
    """A distinct public point of published offers. Public points are grid-cell centres
    (organisations.geo) shared by every offer of the cell: hundreds in the densest areas. Search walks
    these few thousand cells nearest first (GiST), then each cell's offers by id (btree), stopping at its
    limit (matching/search.py), instead of walking the offers' own GiST index among their ties.

    `x`, `y` are the point's longitude and latitude exactly as the offers' public point holds them: the
    key the offers' cell index is read by. A statement-level trigger on the offers' table adds the cell
    of every offer written as published, whatever writes it (migration 0003); the application never
    writes this table. Cells are only added: a cell whose offers all ended costs the walk one index
    probe, and concurrent writers never wait on each other's counts."""

    x = models.FloatField()
    y = models.FloatField()
    point = models.PointField(geography=True, srid=4326)

    class Meta:
        db_table = "matching_search_cell"
        constraints = [models.UniqueConstraint(fields=["x", "y"], name="search_cell_xy_unique")]

    def __str__(self) -> str:
        return f"{self.y:.4f}, {self.x:.4f}"


class Match(models.Model):
    """A published offer fell in an open need's area. Unique per (need, offer): a need hears of an offer
    once. `organisation` is the need's, copied so that lists and digests are one indexed table."""

    need = models.ForeignKey(Need, models.CASCADE, related_name="matches")
    offer = models.ForeignKey("exchange.Offer", models.CASCADE, related_name="matches")
    organisation = models.ForeignKey("organisations.Organisation", models.CASCADE, related_name="matches")
    score = models.FloatField(_("score"))
    parts = models.JSONField(_("score parts"), default=dict)
    distance_m = models.PositiveIntegerField(_("distance (m)"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    notified_at = models.DateTimeField(_("notified at"), null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("match")
        verbose_name_plural = _("matches")
        constraints = [models.UniqueConstraint(fields=["need", "offer"], name="match_need_offer_unique")]
        indexes = [
            models.Index(fields=["organisation", "id"], name="match_org_id"),
            models.Index(
                fields=["organisation", "id"], name="match_unnotified", condition=Q(notified_at__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"match need #{self.need_id} ↔ offer #{self.offer_id} ({self.score:.2f})"


class MatchAlertMode(models.TextChoices):
    IMMEDIATE = "immediate", _("immediately, one e-mail per new offer")
    DAILY = "daily", _("in a daily digest")
    OFF = "off", _("never")


class MatchAlertPreference(models.Model):
    """How an organisation hears about new matches. No row means the default, immediate."""

    organisation = models.OneToOneField(
        "organisations.Organisation", models.CASCADE, related_name="match_alert_preference"
    )
    mode = models.CharField(
        _("alert mode"), max_length=10, choices=MatchAlertMode.choices, default=MatchAlertMode.IMMEDIATE
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey("organisations.User", models.SET_NULL, null=True, related_name="+")

    class Meta:
        verbose_name = _("match alert preference")
        verbose_name_plural = _("match alert preferences")

    def __str__(self) -> str:
        return f"{self.organisation}: {self.mode}"
