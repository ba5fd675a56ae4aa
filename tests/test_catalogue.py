import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, transaction
from django.utils import translation

from core.errors import Conflict, InvalidInput
from inventory.models import Category, EmissionFactor, FactorVersion
from inventory.reference import CATALOGUE_CSV, FACTORS_CSV, read_factors
from inventory.selectors import current_factor_version, factor_for
from inventory.services import factor_version_publish

from .conftest import client_for, make_member, make_org

pytestmark = pytest.mark.django_db

SOFA_SOURCE = (
    "ADEME Impact CO2 dataset (production phases of a fabric sofa); mass: Furniture Re-use Network "
    "standard weights 2009 (2-seater sofa 37 kg)"
)
ROOTS = [
    "mixed_household_reuse",
    "furniture",
    "eee",
    "textiles",
    "construction_materials",
    "wood",
    "metals",
    "plastics",
    "paper_cardboard",
    "glass",
    "packaging_pallets",
    "office_supplies",
    "tools_machines",
]


def _snapshot() -> tuple[list, list]:
    categories = list(
        Category.objects.order_by("id").values_list(
            "id",
            "key",
            "parent_id",
            "path",
            "name_fr",
            "name_en",
            "default_unit",
            "typical_mass_kg",
            "typical_mass_source",
            "list_of_waste_code",
            "sort_order",
        )
    )
    factors = list(
        EmissionFactor.objects.order_by("id").values_list(
            "id", "version_id", "category_id", "basis", "kgco2e", "source", "status", "created_at"
        )
    )
    return categories, factors


def _load(**options) -> str:
    out = io.StringIO()
    call_command("load_catalogue", stdout=out, **options)
    return out.getvalue()


# --- loading ---------------------------------------------------------------------------------------


def test_load_catalogue_loads_the_tree_and_version_2026_1():
    assert "66 categories created" in _load()
    version = FactorVersion.objects.get()
    assert (version.code, version.title) == ("2026.1", "Boucle reference factors 2026.1")
    assert version.published_at is not None
    assert current_factor_version() == version
    assert (
        list(Category.objects.filter(parent=None).order_by("sort_order").values_list("key", flat=True))
        == ROOTS
    )
    # Every reference row is used; a few are shared (pallets → wood, power tools → electronics…).
    assert EmissionFactor.objects.count() == 34
    assert set(EmissionFactor.objects.values_list("source", flat=True)) == {
        row.source for row in read_factors().values()
    }

    sofa = Category.objects.get(key="sofa")
    assert (sofa.path, sofa.name_fr, sofa.name_en, sofa.default_unit) == (
        "furniture/sofa",
        "Canapé",
        "Sofa",
        "piece",
    )
    assert sofa.typical_mass_kg == Decimal("37")
    assert sofa.typical_mass_source == "Furniture Re-use Network standard weights 2009 (2-seater sofa 37 kg)"
    assert sofa.list_of_waste_code == "20 03 07"
    factor = sofa.factors.get()
    assert (factor.basis, factor.kgco2e, factor.source, factor.status) == (
        "per_item",
        Decimal("179.1"),
        SOFA_SOURCE,
        "sourced",
    )
    pallets = Category.objects.get(key="pallets")
    assert (pallets.default_unit, pallets.typical_mass_kg) == ("pallet", Decimal("25"))
    assert pallets.typical_mass_source.startswith("EPAL product sheet")
    assert Category.objects.get(key="fridge").list_of_waste_code == "20 01 23*"
    assert Category.objects.get(key="laptop").path == "eee/it_equipment/laptop"
    assert EmissionFactor.objects.get(category__key="textiles").status == "indicative"


def test_load_catalogue_twice_changes_nothing():
    _load()
    before = _snapshot()
    assert _load() == (
        "Catalogue: 0 categories created, 0 updated, 66 unchanged; factor version 2026.1 unchanged.\n"
    )
    assert _snapshot() == before


def test_load_catalogue_updates_names_and_units_but_not_factors(tmp_path):
    _load()
    _categories, factors_before = _snapshot()
    edited = (
        CATALOGUE_CSV.read_text(encoding="utf-8")
        .replace("sofa,furniture,Canapé,Sofa,piece", "sofa,furniture,Canapé convertible,Sofa bed,piece")
        .replace(
            "shelving,furniture,Étagère,Shelving unit,piece", "shelving,office_furniture,Étagère,Shelving,m"
        )
    )
    catalogue = tmp_path / "catalogue.csv"
    catalogue.write_text(edited, encoding="utf-8")
    # sofa renamed; shelving moved, which also renumbers its old and new siblings (sort order)
    assert "0 categories created, 7 updated, 59 unchanged" in _load(catalogue=catalogue)
    sofa = Category.objects.get(key="sofa")
    assert (sofa.name_fr, sofa.name_en) == ("Canapé convertible", "Sofa bed")
    shelving = Category.objects.get(key="shelving")
    assert (shelving.path, shelving.depth, shelving.default_unit) == (
        "furniture/office_furniture/shelving",
        2,
        "m",
    )
    assert _snapshot()[1] == factors_before


def test_load_catalogue_refuses_to_rewrite_a_published_factor(tmp_path):
    _load()
    before = _snapshot()
    edited = FACTORS_CSV.read_text(encoding="utf-8").replace(",per_item,179.1,37,", ",per_item,200,37,")
    factors = tmp_path / "reference-factors.csv"
    factors.write_text(edited, encoding="utf-8")
    catalogue = tmp_path / "catalogue.csv"
    catalogue.write_text(
        CATALOGUE_CSV.read_text(encoding="utf-8").replace("Canapé,Sofa", "Canapé (nouveau nom),Sofa"),
        encoding="utf-8",
    )
    with (
        translation.override("en"),
        pytest.raises(
            CommandError, match=r"2026\.1 is already published.*sofa\.kgco2e: published 179\.1000 ≠ file 200"
        ),
    ):
        _load(factors=factors, catalogue=catalogue)
    assert _snapshot() == before  # nothing half-done: not even the renamed category
    # Under a new version code the same files publish a new version instead.
    assert "factor version 2026.2 published" in _load(
        factors=factors, catalogue=catalogue, factor_version="2026.2"
    )
    assert factor_for(Category.objects.get(key="sofa"), "2026.1").factor.kgco2e == Decimal("179.1")
    assert factor_for(Category.objects.get(key="sofa")).factor.kgco2e == Decimal("200")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("bogus,furniture,Truc,Thing,barrel,,,,", "default_unit 'barrel'"),
        ("bogus,nowhere,Truc,Thing,kg,,,,", "bogus's parent 'nowhere' is not in the file"),
        ("bogus,furniture,Truc,Thing,kg,,no_such_factor,,", "factor_key 'no_such_factor'"),
        ("bogus,furniture,Truc,Thing,kg,,,-3,somewhere", "typical_mass_kg '-3' must be above 0"),
        ("Bad Key,furniture,Truc,Thing,kg,,,,", "key 'Bad Key'"),
    ],
)
def test_load_catalogue_rejects_a_bad_catalogue_file(tmp_path, line, message):
    catalogue = tmp_path / "catalogue.csv"
    catalogue.write_text(CATALOGUE_CSV.read_text(encoding="utf-8") + line + "\n", encoding="utf-8")
    with pytest.raises(CommandError, match="The catalogue files are not valid") as excinfo:
        _load(catalogue=catalogue)
    assert message in str(excinfo.value)
    assert Category.objects.count() == 0


# --- factor resolution and versions ------------------------------------------------------------------


def test_factor_for_resolves_up_the_tree(catalogue):
    own = factor_for(catalogue["laptop"])
    assert (own.category.key, own.factor.kgco2e, own.factor.basis) == ("laptop", Decimal("182.6"), "per_item")
    assert not own.inherited_by(catalogue["laptop"])
    desk = factor_for(catalogue["office_desk"])  # office_desk → office_furniture → furniture
    assert (desk.category.key, desk.factor.kgco2e, desk.factor.basis) == (
        "furniture",
        Decimal("1.83"),
        "per_kg",
    )
    assert desk.inherited_by(catalogue["office_desk"])
    printer = factor_for(catalogue["printer"])  # printer → it_equipment → eee (electronics by weight)
    assert (printer.category.key, printer.factor.kgco2e, printer.factor.status) == (
        "eee",
        Decimal("15.8"),
        "indicative",
    )
    tiles = factor_for(catalogue["tiles"])  # no factor in the branch: the fallback
    assert (tiles.category.key, tiles.factor.kgco2e) == ("mixed_household_reuse", Decimal("0.51"))
    assert factor_for(catalogue["tiles"], version=current_factor_version()).factor == tiles.factor


def test_factor_for_without_any_version_is_none():
    category = Category.objects.create(key="lonely", name_fr="Seul", name_en="Alone")
    assert factor_for(category) is None


def test_a_new_version_never_rewrites_an_old_one(catalogue):
    old_version = FactorVersion.objects.get(code="2026.1")
    _categories, old_rows = _snapshot()
    new_version = factor_version_publish(
        code="2027.1",
        title="Checked against DESNZ 2024",
        copy_from="2026.1",
        factors={
            "sofa": ("per_item", "150.5", "ADEME Impact CO2 (2027 update)", "sourced"),
            "textiles": ("per_kg", Decimal("6.9"), "UK DESNZ 2024, official dataset", "sourced"),
        },
    )
    assert current_factor_version() == new_version
    # Old rows are byte-identical, and still answer for the old version.
    assert _snapshot()[1][: len(old_rows)] == old_rows
    assert EmissionFactor.objects.filter(version=old_version).count() == 34
    assert EmissionFactor.objects.filter(version=new_version).count() == 34
    sofa = catalogue["sofa"]
    assert factor_for(sofa, version=old_version).factor.kgco2e == Decimal("179.1")
    assert factor_for(sofa, version="2026.1").factor.kgco2e == Decimal("179.1")
    assert factor_for(sofa).factor.kgco2e == Decimal("150.5")
    assert factor_for(sofa).factor.version == new_version
    jeans = factor_for(catalogue["jeans"])  # carried over from 2026.1 as a new row of 2027.1
    assert (jeans.factor.kgco2e, jeans.factor.version.code) == (Decimal("23.2"), "2027.1")
    assert factor_for(catalogue["textiles_by_weight"]).factor.status == "sourced"
    assert factor_for(catalogue["textiles_by_weight"], "2026.1").factor.status == "indicative"


def test_factor_rows_refuse_update_and_delete_in_the_database(catalogue):
    factor = EmissionFactor.objects.get(category__key="sofa")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        EmissionFactor.objects.filter(pk=factor.pk).update(kgco2e=1)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        EmissionFactor.objects.filter(pk=factor.pk).delete()
    factor.refresh_from_db()
    assert factor.kgco2e == Decimal("179.1")


def test_publishing_an_existing_version_code_is_a_conflict(catalogue):
    with pytest.raises(Conflict) as excinfo:
        factor_version_publish(
            code="2026.1", title="again", factors={"sofa": ("per_item", 1, "x", "sourced")}
        )
    assert excinfo.value.code == "version_exists"
    assert FactorVersion.objects.count() == 1


def test_publishing_invalid_factors_writes_nothing(catalogue):
    # The messages are written in the caller's language; this test reads them in English.
    with translation.override("en"), pytest.raises(InvalidInput) as excinfo:
        factor_version_publish(
            code="2027.1",
            title="bad",
            factors={
                "sofa": ("per_tonne", "-1", "", "guess"),
                "no_such_category": ("per_kg", "1", "somewhere", "sourced"),
                "laptop": ("per_item", "1.23456", "too precise", "sourced"),
            },
        )
    assert excinfo.value.field_errors == {
        "factors.laptop": ["The value must be a number ≥ 0 with at most 4 decimal places."],
        "factors.no_such_category": ["No such category."],
        "factors.sofa": [
            "Basis must be one of per_kg, per_item.",
            "Status must be one of sourced, sourced-secondary, indicative.",
            "A factor needs its source.",
            "The value must be a number ≥ 0 with at most 4 decimal places.",
        ],
    }
    assert list(FactorVersion.objects.values_list("code", flat=True)) == ["2026.1"]


# --- GET categories/ ------------------------------------------------------------------------------


def _find(nodes: list[dict], key: str) -> dict | None:
    for node in nodes:
        if node["key"] == key:
            return node
        found = _find(node["children"], key)
        if found:
            return found
    return None


def test_categories_tree_is_public_and_french_by_default(anon, catalogue):
    response = anon.get("/api/v1/categories/")
    assert response.status_code == 200
    assert response["Content-Language"] == "fr"
    tree = response.json()
    assert [node["key"] for node in tree] == ROOTS
    furniture = tree[1]
    assert (furniture["name"], furniture["path"], furniture["factor"]["inherited_from"]) == (
        "Mobilier",
        "furniture",
        None,
    )
    assert [c["key"] for c in furniture["children"]] == [
        "sofa",
        "wooden_chair",
        "wooden_table",
        "wardrobe",
        "shelving",
        "office_furniture",
    ]
    assert furniture["children"][0] == {
        "id": catalogue["sofa"].id,
        "key": "sofa",
        "path": "furniture/sofa",
        "name": "Canapé",
        "name_fr": "Canapé",
        "name_en": "Sofa",
        "default_unit": "piece",
        "typical_mass_kg": 37.0,
        "typical_mass_source": "Furniture Re-use Network standard weights 2009 (2-seater sofa 37 kg)",
        "list_of_waste_code": "20 03 07",
        "plausible_mass_per_unit": {"min_kg": 9.25, "max_kg": 148.0, "basis": "typical"},  # 37 kg ÷ 4 to × 4
        "factor": {
            "version": "2026.1",
            "basis": "per_item",
            "kgco2e": 179.1,
            "source": SOFA_SOURCE,
            "status": "sourced",
            "inherited_from": None,
        },
        "children": [],
    }
    desk = _find(tree, "office_desk")
    assert desk["factor"] == {
        "version": "2026.1",
        "basis": "per_kg",
        "kgco2e": 1.83,
        "source": "ADEME Base Carbone: new furniture 1830 kg CO2e per tonne (quoted by agence2degres.be)",
        "status": "sourced-secondary",
        "inherited_from": "furniture",
    }
    assert _find(tree, "tiles")["factor"]["inherited_from"] == "mixed_household_reuse"
    assert _find(tree, "tiles")["typical_mass_kg"] is None


@pytest.mark.parametrize("accept_language", ["en", "en-GB,en;q=0.9,fr;q=0.5"])
def test_categories_names_follow_accept_language(anon, catalogue, accept_language):
    tree = anon.get("/api/v1/categories/", HTTP_ACCEPT_LANGUAGE=accept_language).json()
    assert [node["name"] for node in tree[:3]] == [
        "Mixed reusable goods",
        "Furniture",
        "Electrical and electronic equipment",
    ]
    assert _find(tree, "washing_machine")["name"] == "Washing machine"
    assert _find(tree, "washing_machine")["name_fr"] == "Lave-linge"


def test_categories_serve_the_current_version_or_the_one_asked(anon, catalogue):
    factor_version_publish(
        code="2027.1",
        title="Sofa revised",
        copy_from="2026.1",
        factors={"sofa": ("per_item", "150.5", "ADEME Impact CO2 (2027 update)", "sourced")},
    )
    current = _find(anon.get("/api/v1/categories/").json(), "sofa")["factor"]
    assert (current["version"], current["kgco2e"], current["source"]) == (
        "2027.1",
        150.5,
        "ADEME Impact CO2 (2027 update)",
    )
    old = _find(anon.get("/api/v1/categories/?factor_version=2026.1").json(), "sofa")["factor"]
    assert (old["version"], old["kgco2e"]) == ("2026.1", 179.1)
    missing = anon.get("/api/v1/categories/?factor_version=1999.1")
    assert missing.status_code == 404
    assert missing["Content-Type"] == "application/problem+json"
    assert missing.json()["code"] == "not_found"


def test_categories_hide_an_inactive_branch(anon, catalogue):
    Category.objects.filter(key="office_furniture").update(is_active=False)
    tree = anon.get("/api/v1/categories/").json()
    assert _find(tree, "office_furniture") is None
    assert _find(tree, "office_desk") is None
    assert _find(tree, "sofa") is not None


def test_categories_for_a_signed_in_member(catalogue):
    client = client_for(make_member(make_org()))
    response = client.get("/api/v1/categories/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert response.json()[1]["name"] == "Furniture"


def test_categories_without_any_factor_version(anon):
    Category.objects.create(key="solo", name_fr="Seul", name_en="Alone")
    assert anon.get("/api/v1/categories/").json()[0]["factor"] is None


def test_categories_query_count_does_not_grow_with_the_tree(anon, catalogue, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):
        anon.get("/api/v1/categories/")
    parent = catalogue["office_furniture"]
    for number in range(30):
        Category.objects.create(
            key=f"extra_{number}", parent=parent, name_fr=f"X{number}", name_en=f"X{number}"
        )
    factor_version_publish(code="2027.1", title="more", copy_from="2026.1", factors={})
    with django_assert_max_num_queries(3):
        response = anon.get("/api/v1/categories/")
    assert len(_find(response.json(), "office_furniture")["children"]) == 34
