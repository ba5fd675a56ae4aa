"""State changes of the catalogue: categories and versioned emission factors.

Factor rows are facts that handovers are stamped with: a published version is never rewritten (the
database refuses UPDATE and DELETE on factor rows). A correction is a new version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Conflict, InvalidInput
from core.events import event_record

from .models import Category, EmissionFactor, FactorBasis, FactorStatus, FactorVersion
from .reference import CategoryRow, FactorRow
from .selectors import factor_version_get

# (basis, kg CO2e per basis unit, source, status)
FactorSpec = tuple[str, Decimal | str | int | float, str, str]

CATEGORY_FIELDS = (
    "name_fr",
    "name_en",
    "default_unit",
    "list_of_waste_code",
    "typical_mass_kg",
    "typical_mass_source",
)


def _factor_value(value: Decimal | str | int | float) -> Decimal:
    number = Decimal(str(value).strip())
    # Stored with 4 decimal places; more precision would be silently rounded away.
    if not number.is_finite() or number < 0 or number != number.quantize(Decimal("0.0001")):
        raise InvalidOperation
    return number.quantize(Decimal("0.0001"))


def _spec_problems(basis: str, value: Any, source: str, status: str) -> tuple[list[str], Decimal | None]:
    problems = []
    if basis not in FactorBasis.values:
        problems.append(_("Basis must be one of %(choices)s.") % {"choices": ", ".join(FactorBasis.values)})
    if status not in FactorStatus.values:
        problems.append(_("Status must be one of %(choices)s.") % {"choices": ", ".join(FactorStatus.values)})
    if not str(source or "").strip():
        problems.append(_("A factor needs its source."))
    try:
        kgco2e = _factor_value(value)
    except (InvalidOperation, ValueError, TypeError):
        problems.append(_("The value must be a number ≥ 0 with at most 4 decimal places."))
        kgco2e = None
    return problems, kgco2e


def factor_spec_problem(*, key: str, basis: str, value: Any, source: str, status: str) -> str | None:
    """What is wrong with one factor of a version to publish (for forms), or None."""
    problems, _value = _spec_problems(basis, value, source, status)
    if not Category.objects.filter(key=key).exists():
        problems.insert(0, _("No such category."))
    return " ".join(problems) or None


@transaction.atomic
def factor_version_publish(
    *,
    code: str,
    title: str,
    factors: Mapping[str, FactorSpec],
    notes: str = "",
    copy_from: FactorVersion | str | None = None,
    recorded_by: str = "system",
) -> FactorVersion:
    """Publish a new factor version: `factors` maps category keys to (basis, value, source, status).
    With `copy_from`, every factor of that version is carried over unless `factors` replaces it. Rows of
    older versions are never touched."""
    code, title = code.strip(), title.strip()
    errors: dict[str, list[str]] = {}
    if not code:
        errors["code"] = [_("A version needs a code, e.g. 2027.1.")]
    if not title:
        errors["title"] = [_("A version needs a title.")]
    merged: dict[str, FactorSpec] = {}
    if copy_from is not None:
        base = copy_from if isinstance(copy_from, FactorVersion) else factor_version_get(code=copy_from)
        for row in EmissionFactor.objects.filter(version=base).select_related("category"):
            merged[row.category.key] = (row.basis, row.kgco2e, row.source, row.status)
    merged.update(factors)
    categories = {c.key: c for c in Category.objects.filter(key__in=merged)}
    rows: list[EmissionFactor] = []
    for key, spec in sorted(merged.items()):
        field = f"factors.{key}"
        try:
            basis, value, source, status = spec
        except (TypeError, ValueError):
            errors[field] = [_("Expected (basis, value, source, status).")]
            continue
        problems, kgco2e = _spec_problems(basis, value, source, status)
        if key not in categories:
            problems.insert(0, _("No such category."))
        if problems or kgco2e is None:  # no value without a problem saying so
            errors[field] = problems
            continue
        rows.append(
            EmissionFactor(
                category=categories[key],
                basis=basis,
                kgco2e=kgco2e,
                source=str(source).strip(),
                status=status,
            )
        )
    if not rows and not errors:
        errors["factors"] = [_("A version needs at least one factor.")]
    if errors:
        raise InvalidInput(_("The factor version is not valid."), field_errors=errors)
    try:
        with transaction.atomic():
            version = FactorVersion.objects.create(
                code=code, title=title, notes=notes, published_at=timezone.now()
            )
    except IntegrityError:
        raise Conflict(
            _("Factor version %(code)s already exists; versions are never rewritten.") % {"code": code},
            code="version_exists",
        ) from None
    for row in rows:
        row.version = version
    EmissionFactor.objects.bulk_create(rows)
    event_record(
        name="factor_version.published",
        aggregate_type="factor_version",
        aggregate_id=version.pk,
        actor=recorded_by,
        payload={"code": code, "factors": len(rows)},
    )
    return version


@transaction.atomic
def category_save(*, category: Category) -> Category:
    """Save a category edited by hand (admin) and carry a change of parent down to its descendants'
    materialised paths."""
    old_path = Category.objects.filter(pk=category.pk).values_list("path", flat=True).first()
    category.full_clean()
    category.save()
    if old_path and old_path != category.path:
        _descendant_paths_refresh(category, old_path)
    return category


def _descendant_paths_refresh(category: Category, old_path: str) -> None:
    paths = {category.pk: category.path}
    for node in Category.objects.filter(path__startswith=f"{old_path}/").order_by("depth"):
        assert node.parent_id is not None  # a descendant: it has a parent
        node.path = f"{paths[node.parent_id]}/{node.key}"
        node.depth = node.path.count("/")
        Category.objects.filter(pk=node.pk).update(path=node.path, depth=node.depth)
        paths[node.pk] = node.path


@dataclass
class CatalogueLoadResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    version_code: str = ""
    version_created: bool = False


@transaction.atomic
def catalogue_load(
    *,
    categories: list[CategoryRow],
    factors: dict[str, FactorRow],
    version_code: str,
    version_title: str,
    version_notes: str = "",
) -> CatalogueLoadResult:
    """Bring the catalogue in line with its data files. Categories are upserted by key (names, units,
    masses, codes, place in the tree); categories absent from the files are left alone. The factor
    version is created once; when it exists already its rows must equal the files exactly, otherwise
    nothing is written and Conflict lists the differences: publish a new version instead."""
    result = CatalogueLoadResult(version_code=version_code)
    existing = {c.key: c for c in Category.objects.select_for_update().order_by("id")}
    sibling_rank: dict[str, int] = {}
    for row in categories:  # parents come first
        sort_order = sibling_rank.get(row.parent_key, 0)
        sibling_rank[row.parent_key] = sort_order + 1
        wanted: dict[str, Any] = {field: getattr(row, field) for field in CATEGORY_FIELDS}
        wanted["sort_order"] = sort_order
        parent = existing[row.parent_key] if row.parent_key else None
        category = existing.get(row.key)
        if category is None:
            category = Category(key=row.key, parent=parent, **wanted)
            category.save()
            existing[row.key] = category
            result.created += 1
            continue
        old_path = category.path
        changed = category.parent_id != (parent.pk if parent else None) or any(
            getattr(category, field) != value for field, value in wanted.items()
        )
        if not changed:
            result.unchanged += 1
            continue
        category.parent = parent
        for field, value in wanted.items():
            setattr(category, field, value)
        category.save()
        if category.path != old_path:
            _descendant_paths_refresh(category, old_path)
            existing = {c.key: c for c in Category.objects.order_by("id")}
        result.updated += 1

    expected = {row.key: (factors[row.factor_key], existing[row.key]) for row in categories if row.factor_key}
    version = FactorVersion.objects.filter(code=version_code).first()
    if version is None:
        factor_version_publish(
            code=version_code,
            title=version_title,
            notes=version_notes,
            factors={
                key: (ref.basis, ref.kgco2e, ref.source, ref.status)
                for key, (ref, _category) in expected.items()
            },
        )
        result.version_created = True
        return result
    differences = _factor_differences(version, expected)
    if differences:
        raise Conflict(
            _(
                "Factor version %(version)s is already published and the data files now say otherwise. "
                "Published factors are never rewritten: publish a new version (factor_version_publish) "
                "instead. Differences: %(differences)s"
            )
            % {"version": version_code, "differences": "; ".join(differences)},
            code="factor_version_frozen",
            extra={"differences": differences},
        )
    return result


def _factor_differences(version: FactorVersion, expected: dict[str, tuple[FactorRow, Category]]) -> list[str]:
    stored = {
        f.category.key: f for f in EmissionFactor.objects.filter(version=version).select_related("category")
    }
    differences = []
    for key in sorted(set(stored) | set(expected)):
        if key not in expected:
            differences.append(f"{key}: in version {version.code} but linked to no factor in the files")
            continue
        if key not in stored:
            differences.append(f"{key}: not in version {version.code}")
            continue
        ref, row = expected[key][0], stored[key]
        for field, old, new in (
            ("basis", row.basis, ref.basis),
            ("kgco2e", row.kgco2e, ref.kgco2e),
            ("source", row.source, ref.source),
            ("status", row.status, ref.status),
        ):
            if old != new:
                differences.append(f"{key}.{field}: published {old!s} ≠ file {new!s}")
    return differences
