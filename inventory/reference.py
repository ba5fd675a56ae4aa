"""Reading the catalogue's data files (inventory/data/): the category tree and the reference factors.

Pure parsing and validation, no database: `inventory.services.catalogue_load` writes what this returns.
Every problem is reported with its file and line, all at once, as a `ReferenceFileError`."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from .models import FactorBasis, FactorStatus, Unit

DATA_DIR = Path(__file__).resolve().parent / "data"
CATALOGUE_CSV = DATA_DIR / "catalogue.csv"
FACTORS_CSV = DATA_DIR / "reference-factors.csv"

FACTOR_COLUMNS = (
    "key",
    "label_en",
    "label_fr",
    "basis",
    "factor_kgco2e",
    "typical_mass_kg",
    "list_of_waste_code",
    "source",
    "status",
)
CATALOGUE_COLUMNS = (
    "key",
    "parent_key",
    "name_fr",
    "name_en",
    "default_unit",
    "list_of_waste_code",
    "factor_key",
)
CATALOGUE_OPTIONAL_COLUMNS = ("typical_mass_kg", "typical_mass_source")
# In reference-factors.csv a row's source may name the source of its typical mass after this marker.
MASS_SOURCE_MARKER = "; mass: "


class ReferenceFileError(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class FactorRow:
    key: str
    basis: str
    kgco2e: Decimal
    source: str
    status: str
    typical_mass_kg: Decimal | None
    typical_mass_source: str
    list_of_waste_code: str


@dataclass(frozen=True)
class CategoryRow:
    key: str
    parent_key: str
    name_fr: str
    name_en: str
    default_unit: str
    list_of_waste_code: str
    factor_key: str
    typical_mass_kg: Decimal | None
    typical_mass_source: str


def _decimal(value: str, *, where: str, column: str, problems: list[str], positive: bool) -> Decimal | None:
    value = value.strip()
    if not value:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        problems.append(f"{where}: {column} {value!r} is not a number")
        return None
    if not number.is_finite() or number < 0 or (positive and number == 0):
        problems.append(f"{where}: {column} {value!r} must be {'above' if positive else 'at least'} 0")
        return None
    return number


def _rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise ReferenceFileError([f"{path.name}: missing column(s) {', '.join(missing)}"])
            return [
                (line, {k: (v or "").strip() for k, v in row.items() if k})
                for line, row in enumerate(reader, start=2)
            ]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ReferenceFileError([f"{path}: cannot be read as UTF-8 CSV ({exc})"]) from exc


def read_factors(path: Path = FACTORS_CSV) -> dict[str, FactorRow]:
    problems: list[str] = []
    factors: dict[str, FactorRow] = {}
    for line, row in _rows(path, FACTOR_COLUMNS):
        where = f"{path.name}:{line}"
        key = row["key"]
        if not key:
            problems.append(f"{where}: empty key")
            continue
        if key in factors:
            problems.append(f"{where}: duplicate key {key!r}")
        if row["basis"] not in FactorBasis.values:
            problems.append(f"{where}: basis {row['basis']!r} is not one of {', '.join(FactorBasis.values)}")
        if row["status"] not in FactorStatus.values:
            problems.append(
                f"{where}: status {row['status']!r} is not one of {', '.join(FactorStatus.values)}"
            )
        if not row["source"]:
            problems.append(f"{where}: a factor needs its source")
        kgco2e = _decimal(
            row["factor_kgco2e"], where=where, column="factor_kgco2e", problems=problems, positive=False
        )
        if kgco2e is None and not row["factor_kgco2e"]:
            problems.append(f"{where}: factor_kgco2e is empty")
        mass = _decimal(
            row["typical_mass_kg"], where=where, column="typical_mass_kg", problems=problems, positive=True
        )
        source = row["source"]
        mass_source = source.split(MASS_SOURCE_MARKER, 1)[1] if MASS_SOURCE_MARKER in source else source
        factors[key] = FactorRow(
            key=key,
            basis=row["basis"],
            kgco2e=kgco2e if kgco2e is not None else Decimal(0),
            source=source,
            status=row["status"],
            typical_mass_kg=mass,
            typical_mass_source=mass_source if mass is not None else "",
            list_of_waste_code=row["list_of_waste_code"],
        )
    if problems:
        raise ReferenceFileError(problems)
    return factors


def read_catalogue(path: Path = CATALOGUE_CSV, *, factors: dict[str, FactorRow]) -> list[CategoryRow]:
    """The categories, parents before children. A category's typical mass is its own column when given,
    else the one of the reference row it links to (that row describes the same item)."""
    problems: list[str] = []
    rows: dict[str, CategoryRow] = {}
    for line, row in _rows(path, CATALOGUE_COLUMNS):
        where = f"{path.name}:{line}"
        key = row["key"]
        if not key or not key.replace("_", "").isalnum() or key != key.lower():
            problems.append(f"{where}: key {key!r} must be lower-case letters, digits and underscores")
            continue
        if key in rows:
            problems.append(f"{where}: duplicate key {key!r}")
        if not row["name_fr"] or not row["name_en"]:
            problems.append(f"{where}: {key} needs both name_fr and name_en")
        if row["default_unit"] not in Unit.values:
            problems.append(
                f"{where}: default_unit {row['default_unit']!r} is not one of {', '.join(Unit.values)}"
            )
        factor = factors.get(row["factor_key"]) if row["factor_key"] else None
        if row["factor_key"] and factor is None:
            problems.append(
                f"{where}: factor_key {row['factor_key']!r} is not a row of the reference factors"
            )
        mass = _decimal(
            row.get("typical_mass_kg", ""),
            where=where,
            column="typical_mass_kg",
            problems=problems,
            positive=True,
        )
        mass_source = row.get("typical_mass_source", "")
        if mass is not None and not mass_source:
            problems.append(f"{where}: a typical mass needs its source (typical_mass_source)")
        if mass is None and factor is not None and factor.typical_mass_kg is not None:
            mass, mass_source = factor.typical_mass_kg, factor.typical_mass_source
        rows[key] = CategoryRow(
            key=key,
            parent_key=row["parent_key"],
            name_fr=row["name_fr"],
            name_en=row["name_en"],
            default_unit=row["default_unit"],
            list_of_waste_code=row["list_of_waste_code"],
            factor_key=row["factor_key"],
            typical_mass_kg=mass,
            typical_mass_source=mass_source if mass is not None else "",
        )
    for category in rows.values():
        if category.parent_key and category.parent_key not in rows:
            problems.append(
                f"{path.name}: {category.key}'s parent {category.parent_key!r} is not in the file"
            )
    unused = sorted(set(factors) - {r.factor_key for r in rows.values()})
    if unused:
        problems.append(f"{path.name}: reference factor(s) linked to no category: {', '.join(unused)}")
    if problems:
        raise ReferenceFileError(problems)
    return _parents_first(rows, path)


def _parents_first(rows: dict[str, CategoryRow], path: Path) -> list[CategoryRow]:
    ordered: list[CategoryRow] = []
    placed: set[str] = set()
    pending = list(rows.values())
    while pending:
        ready = [r for r in pending if not r.parent_key or r.parent_key in placed]
        if not ready:
            raise ReferenceFileError([f"{path.name}: cycle among {', '.join(r.key for r in pending)}"])
        ordered += ready
        placed.update(r.key for r in ready)
        pending = [r for r in pending if r.key not in placed]
    return ordered
