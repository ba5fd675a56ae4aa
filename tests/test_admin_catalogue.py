from decimal import Decimal

import pytest
from django.test import Client

from inventory.models import Category, EmissionFactor, FactorVersion
from inventory.selectors import current_factor_version, factor_for

from .conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


def test_catalogue_and_territory_admin_pages_load(admin_client, catalogue, mel_territories):
    version = FactorVersion.objects.get(code="2026.1")
    pages = [
        "/admin/inventory/category/",
        "/admin/inventory/category/?q=canap",
        f"/admin/inventory/category/{catalogue['sofa'].pk}/change/",
        "/admin/inventory/category/add/",
        "/admin/inventory/factorversion/",
        f"/admin/inventory/factorversion/{version.pk}/change/",
        "/admin/inventory/factorversion/add/",
        "/admin/territories/territory/",
        "/admin/territories/territory/?q=roubaix",
        "/admin/territories/territory/?kind__exact=commune",
        f"/admin/territories/territory/{mel_territories['59512'].pk}/change/",
    ]
    for page in pages:
        assert admin_client.get(page).status_code == 200, page


def test_factors_are_shown_read_only(admin_client, catalogue):
    page = admin_client.get(f"/admin/inventory/category/{catalogue['sofa'].pk}/change/").content.decode()
    assert "179,1000" in page or "179.1000" in page
    assert 'name="factors-0-kgco2e"' not in page
    version = FactorVersion.objects.get(code="2026.1")
    page = admin_client.get(f"/admin/inventory/factorversion/{version.pk}/change/").content.decode()
    assert 'name="factors-0-kgco2e"' not in page
    assert 'name="code"' not in page


def test_territory_geometry_is_a_summary_not_a_map(admin_client, mel_territories):
    page = admin_client.get(
        f"/admin/territories/territory/{mel_territories['59512'].pk}/change/"
    ).content.decode()
    # The admin speaks the default language, French.
    assert "MultiPolygon de 1 polygone(s)" in page
    assert "openlayers" not in page.lower()
    assert 'name="geometry"' not in page


def test_a_new_factor_version_from_the_admin_creates_new_rows(admin_client, catalogue):
    old_rows = list(EmissionFactor.objects.order_by("id").values_list("id", "kgco2e", "source"))
    base = FactorVersion.objects.get(code="2026.1")
    response = admin_client.post(
        "/admin/inventory/factorversion/add/",
        {
            "code": "2027.1",
            "title": "Sofa revised",
            "notes": "",
            "copy_from": base.pk,
            "changes": "sofa,per_item,150.5,sourced,ADEME Impact CO2, 2027 update",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    new = FactorVersion.objects.get(code="2027.1")
    assert current_factor_version() == new
    assert new.factors.count() == 34
    assert (
        list(EmissionFactor.objects.filter(version=base).order_by("id").values_list("id", "kgco2e", "source"))
        == old_rows
    )
    sofa = factor_for(catalogue["sofa"])
    assert (sofa.factor.kgco2e, sofa.factor.source) == (Decimal("150.5"), "ADEME Impact CO2, 2027 update")


def test_a_bad_factor_line_is_a_form_error(admin_client, catalogue):
    response = admin_client.post(
        "/admin/inventory/factorversion/add/",
        {"code": "2027.1", "title": "Bad", "copy_from": "", "changes": "no_such,per_kg,1,sourced,somewhere"},
    )
    assert response.status_code == 200
    assert "Ligne 1 (no_such) : Catégorie introuvable." in response.content.decode()
    assert not FactorVersion.objects.filter(code="2027.1").exists()


def test_moving_a_category_in_the_admin_moves_its_branch(admin_client, catalogue):
    office = catalogue["office_furniture"]
    response = admin_client.post(
        f"/admin/inventory/category/{office.pk}/change/",
        {
            "parent": catalogue["mixed_household_reuse"].pk,
            "name_fr": office.name_fr,
            "name_en": office.name_en,
            "default_unit": office.default_unit,
            "typical_mass_kg": "",
            "typical_mass_source": "",
            "list_of_waste_code": office.list_of_waste_code,
            "sort_order": office.sort_order,
            "is_active": "on",
            "factors-TOTAL_FORMS": "0",
            "factors-INITIAL_FORMS": "0",
            "factors-MIN_NUM_FORMS": "0",
            "factors-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert (
        Category.objects.get(key="office_desk").path == "mixed_household_reuse/office_furniture/office_desk"
    )
    # A category cannot be put under its own branch.
    response = admin_client.post(
        f"/admin/inventory/category/{catalogue['furniture'].pk}/change/",
        {
            "parent": catalogue["sofa"].pk,
            "name_fr": "Mobilier",
            "name_en": "Furniture",
            "default_unit": "piece",
            "sort_order": 1,
            "is_active": "on",
            "factors-TOTAL_FORMS": "0",
            "factors-INITIAL_FORMS": "0",
            "factors-MIN_NUM_FORMS": "0",
            "factors-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 200
    assert "Une catégorie ne peut pas être placée sous elle-même." in response.content.decode()
    assert Category.objects.get(key="furniture").parent is None
