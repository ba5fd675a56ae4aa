"""Offers: lots of surplus at a site, with a remaining quantity that claims draw from."""

from __future__ import annotations

from django.contrib.gis.db import models
from django.contrib.postgres.indexes import GinIndex, GistIndex
from django.contrib.postgres.search import SearchVectorField
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from core.models import TimeStampedModel
from inventory.models import Unit


class OfferStatus(models.TextChoices):
    DRAFT = "draft", _("draft")
    PUBLISHED = "published", _("published")
    EXHAUSTED = "exhausted", _("exhausted")  # everything reserved or collected
    CLOSED = "closed", _("closed")  # the firm closed it, or every claim was collected
    WITHDRAWN = "withdrawn", _("withdrawn")
    EXPIRED = "expired", _("expired")  # available_until passed


# Offers still running: an external reference names at most one of them per organisation. Once an
# offer ended (closed, withdrawn, expired) it keeps its reference as history, and the reference is
# free for a new offer.
LIVE_STATUSES = (OfferStatus.DRAFT, OfferStatus.PUBLISHED, OfferStatus.EXHAUSTED)


class OfferCondition(models.TextChoices):
    NEW = "new", _("new")
    GOOD = "good", _("good")
    FAIR = "fair", _("fair")
    FOR_PARTS = "for_parts", _("for parts")


class OfferMode(models.TextChoices):
    DONATION = "donation", _("donation")
    LOAN = "loan", _("loan")
    SALE = "sale", _("sale")


class ValuationBasis(models.TextChoices):
    """How a donor values what it gives, for a tax receipt (art. 238 bis CGI): never a sale price."""

    STOCK_VALUE = "stock_value", _("stock value")
    COST_PRICE = "cost_price", _("cost price")


class Offer(TimeStampedModel):
    organisation = models.ForeignKey("organisations.Organisation", models.PROTECT, related_name="offers")
    site = models.ForeignKey("organisations.Site", models.PROTECT, related_name="offers")
    category = models.ForeignKey("inventory.Category", models.PROTECT, related_name="offers")
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    quantity = models.DecimalField(_("quantity"), max_digits=14, decimal_places=3)
    unit = models.CharField(_("unit"), max_length=8, choices=Unit.choices)
    remaining_quantity = models.DecimalField(
        _("remaining quantity"),
        max_digits=14,
        decimal_places=3,
        help_text=_("Not yet reserved by an accepted claim nor collected."),
    )
    # quantity = remaining + reserved + collected, always (CHECK below).
    reserved_quantity = models.DecimalField(
        _("reserved quantity"),
        max_digits=14,
        decimal_places=3,
        default=0,
        help_text=_("Held by accepted claims not yet collected."),
    )
    collected_quantity = models.DecimalField(
        _("collected quantity"),
        max_digits=14,
        decimal_places=3,
        default=0,
        help_text=_("Handed over (for a loan: out on loan now)."),
    )
    mass_per_unit_kg = models.DecimalField(
        _("mass per unit (kg)"),
        max_digits=14,
        decimal_places=3,
        null=True,
        blank=True,
        help_text=_("Declared by the donor; implied for kg and t."),
    )
    condition = models.CharField(_("condition"), max_length=10, choices=OfferCondition.choices)
    mode = models.CharField(_("mode"), max_length=10, choices=OfferMode.choices, default=OfferMode.DONATION)
    price_eur = models.DecimalField(_("price (EUR)"), max_digits=10, decimal_places=2, null=True, blank=True)
    # The donor's valuation of one unit, for a tax receipt (receipts/): a donation only, never a price.
    unit_value_eur = models.DecimalField(
        _("unit value (EUR)"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("The stock value or cost price of one unit, for a tax receipt; never a sale price."),
    )
    valuation_basis = models.CharField(
        _("valuation basis"),
        max_length=12,
        choices=ValuationBasis.choices,
        blank=True,
        default="",
        db_default="",
    )
    near_use_by = models.BooleanField(
        _("close to its use-by date"),
        default=False,
        db_default=False,
        help_text=_(
            "Food close to its use-by date, which the tax doctrine values at half; recorded, not applied."
        ),
    )
    available_from = models.DateTimeField(_("available from"))
    available_until = models.DateTimeField(_("available until"), null=True, blank=True)
    pickup_instructions = models.TextField(_("pickup instructions"), blank=True)
    external_ref = models.CharField(_("external reference"), max_length=100, blank=True)
    auto_accept_claims = models.BooleanField(_("accept claims automatically"), default=False)
    status = models.CharField(
        _("status"), max_length=10, choices=OfferStatus.choices, default=OfferStatus.DRAFT
    )
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    # Copied from the site (kept in step when the site moves) so that search is one indexed table.
    location = models.PointField(geography=True, srid=4326, spatial_index=False)
    public_location = models.PointField(geography=True, srid=4326, spatial_index=False)
    # French-aware full text (unaccent + french stemming), maintained by a database trigger.
    search_vector = SearchVectorField(null=True, editable=False)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("offer")
        verbose_name_plural = _("offers")
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="offer_quantity_positive"),
            models.CheckConstraint(
                condition=Q(remaining_quantity__gte=0)
                & Q(reserved_quantity__gte=0)
                & Q(collected_quantity__gte=0),
                name="offer_stock_parts_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(
                    quantity=F("remaining_quantity") + F("reserved_quantity") + F("collected_quantity")
                ),
                name="offer_stock_identity",
            ),
            models.CheckConstraint(
                condition=Q(mass_per_unit_kg__isnull=True) | Q(mass_per_unit_kg__gt=0),
                name="offer_mass_per_unit_positive",
            ),
            models.CheckConstraint(
                condition=(Q(mode=OfferMode.SALE) & Q(price_eur__gte=0))
                | (~Q(mode=OfferMode.SALE) & Q(price_eur__isnull=True)),
                name="offer_price_iff_sale",
            ),
            models.CheckConstraint(
                condition=(Q(unit_value_eur__isnull=True) & Q(valuation_basis=""))
                | (Q(unit_value_eur__isnull=False) & Q(valuation_basis__in=ValuationBasis.values)),
                name="offer_valuation_complete",
            ),
            models.CheckConstraint(
                condition=Q(unit_value_eur__isnull=True) | Q(unit_value_eur__gt=0),
                name="offer_unit_value_positive",
            ),
            models.CheckConstraint(
                condition=Q(unit_value_eur__isnull=True) | Q(mode=OfferMode.DONATION),
                name="offer_valuation_only_donation",
            ),
            models.CheckConstraint(
                condition=Q(available_until__isnull=True) | Q(available_until__gt=F("available_from")),
                name="offer_window_ordered",
            ),
            models.UniqueConstraint(
                fields=["organisation", "external_ref"],
                condition=~Q(external_ref="") & Q(status__in=LIVE_STATUSES),
                name="offer_external_ref_unique",
            ),
        ]
        indexes = [
            # Search: only live offers, nearest first on the public point (GiST, used by dwithin and <->).
            GistIndex(
                fields=["public_location"], name="offer_live_public_gist", condition=Q(status="published")
            ),
            GinIndex(fields=["search_vector"], name="offer_search_vector"),
            models.Index(fields=["organisation", "updated_at", "id"], name="offer_org_sync"),
            models.Index(fields=["status", "available_until"], name="offer_status_until"),
            # Market statistics select offers by publication period (impact/market.py).
            models.Index(fields=["published_at"], name="offer_published_at"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.quantity} {self.unit})"


def offer_photo_path(instance: OfferPhoto, filename: str) -> str:
    return f"offers/{instance.offer_id}/{filename}"


class OfferPhoto(models.Model):
    offer = models.ForeignKey(Offer, models.CASCADE, related_name="photos")
    image = models.ImageField(
        _("image"), upload_to=offer_photo_path, width_field="width", height_field="height"
    )
    width = models.PositiveIntegerField(null=True)
    height = models.PositiveIntegerField(null=True)
    content_type = models.CharField(max_length=32)
    size_bytes = models.PositiveIntegerField()
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("offer photo")
        verbose_name_plural = _("offer photos")


# ---- file imports (exchange/imports.py) -----------------------------------------------------------


class ImportMapping(TimeStampedModel):
    """How an organisation's stock files read: offer field → the header of the column holding it, and
    values for fields no column holds. Saved under a name, reused by it."""

    organisation = models.ForeignKey(
        "organisations.Organisation", models.CASCADE, related_name="import_mappings"
    )
    name = models.CharField(_("name"), max_length=100)
    columns = models.JSONField(_("columns"), help_text=_("Offer field → column header in the file."))
    defaults = models.JSONField(_("defaults"), default=dict, blank=True)
    created_by = models.CharField(_("created by"), max_length=64)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("import mapping")
        verbose_name_plural = _("import mappings")
        constraints = [
            models.UniqueConstraint(fields=["organisation", "name"], name="import_mapping_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class ImportStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    FINISHED = "finished", _("finished")
    FAILED = "failed", _("failed")


class ImportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "XLSX"


def offer_import_path(instance: OfferImport, filename: str) -> str:
    return f"imports/{instance.organisation_id}/{filename}"


class OfferImport(TimeStampedModel):
    """A stock file sent to be turned into offers, row by row, through the bulk upsert. The file stays as
    it was sent; the mapping is a snapshot of what it was at the time (a saved mapping may change)."""

    organisation = models.ForeignKey(
        "organisations.Organisation", models.CASCADE, related_name="offer_imports"
    )
    # Who sent it: rebuilt into the Actor the worker acts as (neither: the platform, from a command).
    created_by = models.CharField(_("created by"), max_length=64)
    created_by_user = models.ForeignKey(
        "organisations.User", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by_api_key = models.ForeignKey(
        "organisations.ApiKey", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    file = models.FileField(_("file"), upload_to=offer_import_path)
    filename = models.CharField(_("file name"), max_length=255)
    file_format = models.CharField(_("format"), max_length=4, choices=ImportFormat.choices)
    size_bytes = models.PositiveIntegerField(_("size (bytes)"))
    sha256 = models.CharField(max_length=64)
    mapping_name = models.CharField(_("mapping"), max_length=100, blank=True)
    # The sender's language when it was sent: the row errors are written in it.
    language = models.CharField(_("language"), max_length=8, blank=True)
    columns = models.JSONField(_("columns"))
    defaults = models.JSONField(_("defaults"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=ImportStatus.choices, default=ImportStatus.QUEUED
    )
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_processed = models.PositiveIntegerField(_("rows processed"), default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0, help_text=_("Rows refused."))
    # [{row, column, field, code, message}], row as a spreadsheet numbers it (the header is row 1).
    errors = models.JSONField(_("errors"), default=list, blank=True)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.TextField(blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("offer import")
        verbose_name_plural = _("offer imports")
        constraints = [
            models.CheckConstraint(
                condition=Q(rows_processed__gte=0)
                & Q(rows_total__gte=0)
                & Q(created_count__gte=0)
                & Q(updated_count__gte=0)
                & Q(unchanged_count__gte=0)
                & Q(error_count__gte=0),
                name="offer_import_counts_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(rows_processed__lte=F("rows_total")), name="offer_import_processed_le_total"
            ),
            # Every processed row has exactly one outcome.
            models.CheckConstraint(
                condition=Q(
                    rows_processed=F("created_count")
                    + F("updated_count")
                    + F("unchanged_count")
                    + F("error_count")
                ),
                name="offer_import_outcomes_add_up",
            ),
            models.CheckConstraint(
                condition=~Q(status=ImportStatus.FINISHED) | Q(rows_processed=F("rows_total")),
                name="offer_import_finished_is_complete",
            ),
        ]
        indexes = [models.Index(fields=["organisation", "id"], name="offer_import_org")]

    def __str__(self) -> str:
        return f"{self.filename} ({self.status})"
