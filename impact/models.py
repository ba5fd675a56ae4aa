"""Statistics derived from the handover ledger: rollups kept in step with it by a database trigger,
the territories each public authority may see, and the monthly reports.

Rollups hold sums in grams (bigint): the ledger's masses and CO2e have three decimals in kg, so grams
are exact, and integer sums are much faster to aggregate than numeric ones. They are never written by
Python except by `rollups_rebuild` (impact.rollups), which recomputes them from the ledger. Loans are
not in them (impact.diverted)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class RollupSums(models.Model):
    category = models.ForeignKey("inventory.Category", models.PROTECT, related_name="+", db_index=False)
    territory = models.ForeignKey(
        "territories.Territory", models.PROTECT, null=True, related_name="+", db_index=False
    )
    donor_kind = models.CharField(max_length=20)
    recipient_kind = models.CharField(max_length=20)
    factor_version = models.CharField(max_length=32)
    handovers = models.BigIntegerField(help_text=_("rows net of reversals: +1 per handover, -1 per reversal"))
    mass_g = models.BigIntegerField()
    co2e_g = models.BigIntegerField()
    weighed_g = models.BigIntegerField()
    declared_g = models.BigIntegerField()
    estimated_g = models.BigIntegerField()
    # Rows flagged `outlier` (a confirmed mass outside the plausible bounds): net count and grams.
    outliers = models.BigIntegerField(default=0, db_default=0, help_text=_("outlier rows net of reversals"))
    outlier_g = models.BigIntegerField(default=0, db_default=0)

    class Meta:
        abstract = True


class DailyRollup(RollupSums):
    """Ledger sums per day (Europe/Paris) × category × territory × donor/recipient kind × factor version."""

    day = models.DateField()

    class Meta:
        verbose_name = _("daily rollup")
        verbose_name_plural = _("daily rollups")
        constraints = [
            # NULLS NOT DISTINCT: rows without a territory share one key, so the trigger's upsert works.
            models.UniqueConstraint(
                fields=["day", "category", "territory", "donor_kind", "recipient_kind", "factor_version"],
                name="impact_daily_rollup_key",
                nulls_distinct=False,
            )
        ]
        indexes = [models.Index(fields=["territory", "day"], name="impact_daily_territory_day")]


class MonthlyRollup(RollupSums):
    """The same sums per calendar month (Europe/Paris): a year is read from a few rows per month
    instead of one per day; the partial months at the edges of a period come from DailyRollup."""

    month = models.DateField(help_text=_("first day of the month"))

    class Meta:
        verbose_name = _("monthly rollup")
        verbose_name_plural = _("monthly rollups")
        constraints = [
            models.UniqueConstraint(
                fields=["month", "category", "territory", "donor_kind", "recipient_kind", "factor_version"],
                name="impact_monthly_rollup_key",
                nulls_distinct=False,
            )
        ]
        indexes = [models.Index(fields=["territory", "month"], name="impact_monthly_territory_month")]


class PartyMonthlyRollup(models.Model):
    """Net handovers per month × organisation and side × territory and kinds, for distinct counts (how
    many donors, how many recipients), which cannot be added up from sums. No category: recipients take
    from many donors, and a category dimension would make this table as large as the ledger; distinct
    counts under a category filter read the ledger."""

    month = models.DateField()
    role = models.CharField(max_length=10, choices=[("donor", _("donor")), ("recipient", _("recipient"))])
    organisation = models.ForeignKey(
        "organisations.Organisation", models.PROTECT, related_name="+", db_index=False
    )
    territory = models.ForeignKey(
        "territories.Territory", models.PROTECT, null=True, related_name="+", db_index=False
    )
    donor_kind = models.CharField(max_length=20)
    recipient_kind = models.CharField(max_length=20)
    handovers = models.BigIntegerField()

    class Meta:
        verbose_name = _("monthly rollup per organisation")
        verbose_name_plural = _("monthly rollups per organisation")
        constraints = [
            models.UniqueConstraint(
                fields=["month", "role", "organisation", "territory", "donor_kind", "recipient_kind"],
                name="impact_party_rollup_key_v2",
                nulls_distinct=False,
            )
        ]


class FactorUsage(models.Model):
    """Each distinct factor stamp the ledger holds for a (factor version, category): what a report
    cites as its sources without scanning the ledger."""

    factor_version = models.CharField(max_length=32)
    category = models.ForeignKey("inventory.Category", models.PROTECT, related_name="+", db_index=False)
    factor_basis = models.CharField(max_length=8)
    factor_kgco2e = models.DecimalField(max_digits=12, decimal_places=4)
    factor_status = models.CharField(max_length=20)
    factor_source = models.TextField()
    source_md5 = models.CharField(max_length=32)

    class Meta:
        verbose_name = _("factor used")
        verbose_name_plural = _("factors used")
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "factor_version",
                    "category",
                    "factor_basis",
                    "factor_kgco2e",
                    "factor_status",
                    "source_md5",
                ],
                name="impact_factor_usage_key",
            )
        ]


class PublicAuthorityTerritory(models.Model):
    """A public authority sees the statistics of the territories the operator links it to (the city of
    Roubaix: commune 59512; the Métropole: its 95 communes)."""

    organisation = models.ForeignKey(
        "organisations.Organisation",
        models.CASCADE,
        related_name="authority_territories",
        limit_choices_to={"kind": "public_authority"},
        verbose_name=_("public authority"),
    )
    territory = models.ForeignKey(
        "territories.Territory", models.CASCADE, related_name="authority_links", verbose_name=_("territory")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["organisation_id", "territory_id"]
        verbose_name = _("territory of a public authority")
        verbose_name_plural = _("territories of public authorities")
        constraints = [
            models.UniqueConstraint(fields=["organisation", "territory"], name="authority_territory_unique")
        ]

    def __str__(self) -> str:
        return f"{self.organisation_id} → {self.territory_id}"


def report_path(instance: MonthlyReport, filename: str) -> str:
    return f"reports/{instance.month:%Y-%m}/{filename}"


class MonthlyReport(models.Model):
    """Last month's figures for one territory (or, with no territory, for all of them), as CSV and as
    printable HTML. Built once per (territory, month) by impact.tasks.build_monthly_reports."""

    territory = models.ForeignKey(
        "territories.Territory",
        models.CASCADE,
        null=True,
        blank=True,
        related_name="monthly_reports",
        verbose_name=_("territory"),
        help_text=_("Empty: every territory together."),
    )
    month = models.DateField(_("month"), help_text=_("first day of the month"))
    csv_file = models.FileField(_("CSV file"), upload_to=report_path, max_length=200)
    html_file = models.FileField(_("HTML file"), upload_to=report_path, max_length=200)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-month", "territory_id", "id"]
        verbose_name = _("monthly report")
        verbose_name_plural = _("monthly reports")
        constraints = [
            models.UniqueConstraint(
                fields=["territory", "month"], name="monthly_report_unique", nulls_distinct=False
            )
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.territory_id or 'all'}"


class DataVersion(models.Model):
    """The version of one source of the statistics (impact.versions): a new random token each time a
    transaction that changed the source commits, written by the database, never by Python."""

    source = models.CharField(_("source"), max_length=16, primary_key=True)
    token = models.UUIDField(_("token"))
    bumps = models.BigIntegerField(_("bumps"), default=0)
    changed_at = models.DateTimeField(_("changed at"))

    class Meta:
        verbose_name = _("data version")
        verbose_name_plural = _("data versions")

    def __str__(self) -> str:
        return f"{self.source} {self.token}"


class OutcomeUse(models.TextChoices):
    """What a collected lot became, as the city's programme counts it (circular economy, youth,
    well-being)."""

    DIGITAL_INCLUSION = "digital_inclusion", _("digital-inclusion kits")
    YOUTH_WORKSHOP = "youth_workshop", _("youth workshop")
    HOME_FURNISHING = "home_furnishing", _("furnishing a home")
    TRAINING = "training", _("training or integration through work")
    COMMUNITY_SPACE = "community_space", _("community space or event")
    FOOD_AID = "food_aid", _("food aid")
    REPAIR_REUSE = "repair_reuse", _("repaired and passed on")
    OTHER = "other", _("other")


class OutcomeReport(models.Model):
    """What a collected lot became, reported by its recipient: one per claim (its handover, whatever
    corrections its ledger rows had), editable until `editable_until`, then fixed. The database refuses
    an update after that moment and any delete (migration impact/0006); impact.outcomes writes it and
    counts it in the statistics."""

    claim = models.OneToOneField(
        "claims.Claim", models.PROTECT, related_name="outcome_report", verbose_name=_("claim")
    )
    people_reached = models.PositiveIntegerField(_("people reached"))
    young_people = models.PositiveIntegerField(_("of whom young people (under 26)"), default=0)
    seniors = models.PositiveIntegerField(_("of whom seniors (over 60)"), default=0)
    use = models.CharField(_("use"), max_length=20, choices=OutcomeUse.choices)
    use_detail = models.CharField(_("use, in a few words"), max_length=300, blank=True)
    volunteer_hours = models.DecimalField(
        _("volunteer hours"), max_digits=7, decimal_places=1, null=True, blank=True
    )
    reported_at = models.DateTimeField(_("reported at"))
    reported_by = models.CharField(_("reported by"), max_length=64)
    updated_at = models.DateTimeField(_("updated at"))
    updated_by = models.CharField(_("updated by"), max_length=64)
    editable_until = models.DateTimeField(_("editable until"))

    class Meta:
        ordering = ["-id"]
        verbose_name = _("outcome report")
        verbose_name_plural = _("outcome reports")
        constraints = [
            # Under 26 and over 60 are disjoint: together at most everyone reached.
            models.CheckConstraint(
                condition=models.Q(young_people__lte=models.F("people_reached") - models.F("seniors")),
                name="outcome_ages_within_people",
            ),
            models.CheckConstraint(
                condition=models.Q(volunteer_hours__isnull=True) | models.Q(volunteer_hours__gte=0),
                name="outcome_volunteer_hours_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(editable_until__gte=models.F("reported_at"))
                & models.Q(updated_at__gte=models.F("reported_at")),
                name="outcome_moments_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"outcome of claim #{self.claim_id}: {self.people_reached} people ({self.use})"
