import io
import json

import pytest
from django.contrib.gis.geos import Point
from django.core.management import call_command
from django.core.management.base import CommandError

from organisations.models import MembershipRole, Site
from territories.models import Territory
from territories.selectors import territory_containing

from .conftest import client_for, make_member

pytestmark = pytest.mark.django_db

MEL_FILE = "territories/data/mel-communes.geojson"
MEL_SOURCE = (
    "ADMIN EXPRESS (IGN) via the france-geojson compilation, Licence Ouverte / Open Licence; "
    "decoupage-administratif (Etalab), Licence Ouverte / Open Licence"
)
SQUARE = [[[3.0, 50.0], [3.1, 50.0], [3.1, 50.1], [3.0, 50.1], [3.0, 50.0]]]


def _load(path, *args) -> str:
    out = io.StringIO()
    call_command("load_territories", str(path), *args, stdout=out)
    return out.getvalue()


def _write(tmp_path, content, name="territories.geojson"):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def _collection(*features, **extra) -> dict:
    return {"type": "FeatureCollection", "features": list(features), **extra}


def _feature(properties: dict, coordinates=SQUARE, geometry_type="Polygon") -> dict:
    return {
        "type": "Feature",
        "properties": properties,
        "geometry": {"type": geometry_type, "coordinates": coordinates},
    }


# --- the command ----------------------------------------------------------------------------------


def test_load_the_mel_communes_as_provisioning_does():
    out = _load(MEL_FILE, "--kind", "commune", "--code-field", "code_insee")
    assert out == "Territories (commune) from mel-communes.geojson: 95 created, 0 updated, 0 unchanged.\n"
    assert Territory.objects.filter(kind="commune").count() == 95
    roubaix = Territory.objects.get(kind="commune", code="59512")
    assert (roubaix.name, roubaix.population, roubaix.properties) == (
        "Roubaix",
        98286,
        {"postcodes": ["59100"]},
    )
    assert roubaix.source == MEL_SOURCE
    assert roubaix.geometry.geom_type == "MultiPolygon"
    assert roubaix.geometry.valid
    assert Territory.objects.get(code="59009").name == "Villeneuve-d'Ascq"


def test_loading_twice_changes_nothing():
    _load(MEL_FILE, "--kind", "commune", "--code-field", "code_insee")
    before = list(
        Territory.objects.order_by("id").values_list("id", "code", "name", "population", "updated_at")
    )
    out = _load(MEL_FILE, "--kind", "commune", "--code-field", "code_insee")
    assert out == "Territories (commune) from mel-communes.geojson: 0 created, 0 updated, 95 unchanged.\n"
    assert (
        list(Territory.objects.order_by("id").values_list("id", "code", "name", "population", "updated_at"))
        == before
    )


def test_a_changed_file_updates_by_kind_and_code(tmp_path):
    first = _write(
        tmp_path,
        _collection(_feature({"ref": "A1", "label": "Quartier A", "habitants": 1200, "zone": "nord"})),
    )
    args = [
        "--kind",
        "district",
        "--code-field",
        "ref",
        "--name-field",
        "label",
        "--population-field",
        "habitants",
    ]
    assert "1 created" in _load(first, *args, "--source", "Ville de Roubaix, open data")
    second = _write(
        tmp_path,
        _collection(
            _feature({"ref": "A1", "label": "Quartier A (Épeule)", "habitants": "1300", "zone": "nord"}),
            _feature(
                {"ref": "B2", "label": "Quartier B"},
                [[[[3.2, 50.0], [3.3, 50.0], [3.3, 50.1], [3.2, 50.0]]]],
                "MultiPolygon",
            ),
        ),
        "second.geojson",
    )
    assert "1 created, 1 updated, 0 unchanged" in _load(
        second, *args, "--source", "Ville de Roubaix, open data"
    )
    a1 = Territory.objects.get(kind="district", code="A1")
    assert (a1.name, a1.population, a1.properties, a1.source) == (
        "Quartier A (Épeule)",
        1300,
        {"zone": "nord"},
        "Ville de Roubaix, open data",
    )
    assert Territory.objects.get(code="B2").population is None
    assert Territory.objects.get(code="B2").source == "Ville de Roubaix, open data"


def test_an_invalid_polygon_is_repaired(tmp_path):
    bowtie = [[[3.0, 50.0], [3.1, 50.1], [3.1, 50.0], [3.0, 50.1], [3.0, 50.0]]]  # self-intersecting
    path = _write(tmp_path, _collection(_feature({"code": "X", "name": "Nœud"}, bowtie)))
    assert "1 created, 0 updated, 0 unchanged, 1 geometries repaired" in _load(
        path, "--kind", "other", "--code-field", "code"
    )
    territory = Territory.objects.get(code="X")
    assert territory.geometry.valid
    assert territory.geometry.geom_type == "MultiPolygon"
    assert len(territory.geometry) == 2
    assert territory.source == "territories.geojson"
    # The repaired form is what is compared next time: a second run writes nothing.
    assert "0 created, 0 updated, 1 unchanged" in _load(path, "--kind", "other", "--code-field", "code")


def test_a_legacy_crs_is_reprojected_to_wgs84(tmp_path):
    # Lambert-93 (EPSG:2154) square around the Grand-Place de Roubaix.
    square = [[[711500, 7065500], [713000, 7065500], [713000, 7066800], [711500, 7066800], [711500, 7065500]]]
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}}
    path = _write(tmp_path, _collection(_feature({"code": "L93", "name": "Carré"}, square), crs=crs))
    _load(path, "--kind", "other", "--code-field", "code")
    west, south, east, north = Territory.objects.get(code="L93").geometry.extent
    assert 3.15 < west < east < 3.20
    assert 50.68 < south < north < 50.71


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("this is not json", "mel.geojson: not JSON"),
        ({"type": "Feature", "properties": {}, "geometry": None}, "not a GeoJSON FeatureCollection"),
        (_collection(), "the FeatureCollection has no features"),
        (_collection(_feature({"name": "Sans code"})), "feature 0: missing code field 'code_insee'"),
        (_collection(_feature({"code_insee": "1"})), "feature 0 (code_insee=1): missing name field 'name'"),
        (
            _collection(
                _feature({"code_insee": "1", "name": "A"}), _feature({"code_insee": "1", "name": "B"})
            ),
            "feature 1 (code_insee=1): duplicate code",
        ),
        (
            _collection(
                {
                    "type": "Feature",
                    "properties": {"code_insee": "1", "name": "A"},
                    "geometry": {"type": "Point", "coordinates": [3, 50]},
                }
            ),
            "geometry must be a Polygon or MultiPolygon, not 'Point'",
        ),
        (
            _collection(
                {"type": "Feature", "properties": {"code_insee": "1", "name": "A"}, "geometry": None}
            ),
            "geometry must be a Polygon or MultiPolygon, not None",
        ),
        (_collection(_feature({"code_insee": "1", "name": "A", "population": "many"})), "population 'many'"),
        (
            _collection(
                _feature({"code_insee": "1", "name": "A"}),
                crs={"type": "name", "properties": {"name": "local"}},
            ),
            "unsupported coordinate reference system 'local'",
        ),
    ],
)
def test_a_bad_file_is_a_clear_command_error(tmp_path, content, message):
    path = _write(tmp_path, content, "mel.geojson")
    with pytest.raises(CommandError) as excinfo:
        _load(path, "--kind", "commune", "--code-field", "code_insee")
    assert message in str(excinfo.value)
    assert Territory.objects.count() == 0


def test_a_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        _load(tmp_path / "absent.geojson", "--kind", "commune", "--code-field", "code_insee")


def test_code_field_and_kind_are_required():
    with pytest.raises(CommandError, match="--code-field"):
        _load(MEL_FILE, "--kind", "commune")
    with pytest.raises(CommandError, match="invalid choice: 'planet'"):
        _load(MEL_FILE, "--kind", "planet", "--code-field", "code_insee")


# --- point in territory -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lon", "lat", "code"),
    [
        (3.1746, 50.6916, "59512"),  # Grand-Place de Roubaix
        (3.0630, 50.6370, "59350"),  # Lille centre (Grand'Place)
        (3.1610, 50.7236, "59599"),  # Tourcoing centre
        (3.1417, 50.6233, "59009"),  # Villeneuve-d'Ascq, hôtel de ville
        (2.3522, 48.8566, None),  # Paris, outside the MEL
    ],
)
def test_territory_containing_a_point(mel_territories, lon, lat, code):
    found = territory_containing(point=Point(lon, lat, srid=4326))
    assert (found.code if found else None) == code


def test_a_site_created_through_the_api_knows_its_commune(mel_territories, firm):
    client = client_for(make_member(firm, MembershipRole.MEMBER))
    response = client.post(
        "/api/v1/sites/",
        {"name": "Cour", "location": {"type": "Point", "coordinates": [3.1746, 50.6916]}},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["territory"] == {
        "id": mel_territories["59512"].id,
        "kind": "commune",
        "code": "59512",
        "name": "Roubaix",
    }
    assert Site.objects.get(pk=response.json()["id"]).territory == mel_territories["59512"]


# --- GET territories/ ------------------------------------------------------------------------------


def test_territories_list_is_public_json_without_geometry(anon, mel_territories):
    response = anon.get("/api/v1/territories/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert (body["next"], body["previous"]) == (None, None)
    assert len(body["results"]) == 95
    codes = [t["code"] for t in body["results"]]
    assert codes == sorted(codes)
    roubaix = next(t for t in body["results"] if t["code"] == "59512")
    assert roubaix == {
        "id": mel_territories["59512"].id,
        "kind": "commune",
        "code": "59512",
        "name": "Roubaix",
        "population": 98286,
    }


def test_territories_filters(anon, mel_territories):
    body = anon.get("/api/v1/territories/?kind=commune&code=59512,59350").json()
    assert [(t["code"], t["name"]) for t in body["results"]] == [("59350", "Lille"), ("59512", "Roubaix")]
    assert anon.get("/api/v1/territories/?kind=district").json()["results"] == []
    bad = anon.get("/api/v1/territories/?kind=planet")
    assert bad.status_code == 400
    assert bad["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in bad.json()["errors"]] == ["kind"]


def _ring_area(ring: list) -> float:
    return sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(ring, ring[1:], strict=False)) / 2


@pytest.mark.parametrize("how", ["accept", "format"])
def test_territories_as_geojson(anon, mel_territories, how):
    if how == "accept":
        response = anon.get("/api/v1/territories/?code=59512,59350", HTTP_ACCEPT="application/geo+json")
    else:
        response = anon.get("/api/v1/territories/?code=59512,59350&format=geojson")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/geo+json"
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert (body["next"], body["previous"]) == (None, None)
    assert [f["properties"]["name"] for f in body["features"]] == ["Lille", "Roubaix"]
    roubaix = body["features"][1]
    assert roubaix["type"] == "Feature"
    assert roubaix["id"] == mel_territories["59512"].id
    assert roubaix["properties"] == {
        "id": mel_territories["59512"].id,
        "kind": "commune",
        "code": "59512",
        "name": "Roubaix",
        "population": 98286,
    }
    assert roubaix["geometry"]["type"] == "MultiPolygon"
    exterior = roubaix["geometry"]["coordinates"][0][0]
    assert exterior[0] == exterior[-1]
    assert _ring_area(exterior) > 0  # RFC 7946: exterior rings counterclockwise
    assert all(len(str(c).split(".")[-1]) <= 6 for point in exterior for c in point)
    assert "Accept" in response["Vary"]


def test_territories_pages_with_a_limit(anon, mel_territories):
    first = anon.get("/api/v1/territories/?limit=60").json()
    assert len(first["results"]) == 60
    second = anon.get(first["next"].replace("http://testserver", "")).json()
    assert len(second["results"]) == 35
    assert second["next"] is None
    assert {t["code"] for t in first["results"]} | {t["code"] for t in second["results"]} == set(
        mel_territories
    )
    geo = anon.get("/api/v1/territories/?limit=60&format=geojson").json()
    assert len(geo["features"]) == 60
    assert "format=geojson" in geo["next"]
    rest = anon.get(geo["next"].replace("http://testserver", "")).json()
    assert len(rest["features"]) == 35


def test_territories_error_under_geojson_is_a_problem(anon, mel_territories):
    response = anon.get("/api/v1/territories/?kind=planet", HTTP_ACCEPT="application/geo+json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


def test_territories_query_count(anon, mel_territories, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):
        anon.get("/api/v1/territories/")
    with django_assert_max_num_queries(1):
        anon.get("/api/v1/territories/", HTTP_ACCEPT="application/geo+json")
