"""GeoJSON by URL (issue 10): `?format=geojson` wins over the `Accept` header, so GIS clients that open a
URL (GDAL's ogrinfo, QGIS) get the FeatureCollection. They send `Accept: text/plain, application/json`,
which DRF answered 406 for `territories/?format=geojson` and `offers/search/?format=geojson`.

The last test runs GDAL's `ogrinfo` (Debian package gdal-bin, installed by scripts/provision.sh) against
the API served by gunicorn; without ogrinfo it fails, it never skips."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from django.contrib.gis.geos import Point
from rest_framework_simplejwt.tokens import RefreshToken

from organisations.models import OrganisationKind

from .conftest import ROUBAIX, client_for, make_member, make_offer, make_org, make_site

pytestmark = pytest.mark.django_db

GDAL_ACCEPT = "text/plain, application/json"  # what GDAL's GeoJSON driver sends over HTTP
SEARCH = f"/api/v1/offers/search/?lat={ROUBAIX.y}&lon={ROUBAIX.x}&radius_km=5"
YEAR = "from=2025-01-01&to=2025-12-31"


@pytest.fixture
def hits(firm):
    """Three published offers near the Grand-Place of Roubaix, and a draft that search never shows."""
    site = make_site(firm, Point(3.18, 50.69, srid=4326))
    offers = [make_offer(firm, site=site) for _ in range(3)]
    make_offer(firm, site=site, status="draft")
    return offers


@pytest.fixture
def recipient():
    return make_member(make_org(OrganisationKind.ASSOCIATION))


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/territories/?limit=500&format=geojson",
        f"{SEARCH}&format=geojson",
        f"/api/v1/stats/territories/?{YEAR}&format=geojson",
    ],
)
def test_format_geojson_wins_over_a_gis_clients_accept(mel_territories, hits, recipient, operator_user, path):
    caller = operator_user if "/stats/" in path else recipient
    response = client_for(caller).get(path, HTTP_ACCEPT=GDAL_ACCEPT)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/geo+json"
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert len(body["features"]) == (3 if "search" in path else 95)


def test_format_json_wins_over_accept_geojson(mel_territories):
    response = client_for(make_member(make_org())).get(
        "/api/v1/territories/?format=json", HTTP_ACCEPT="application/geo+json"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "features" not in response.json()


def test_without_format_accept_still_decides(mel_territories):
    client = client_for(make_member(make_org()))
    assert client.get("/api/v1/territories/", HTTP_ACCEPT=GDAL_ACCEPT)["Content-Type"] == "application/json"
    geojson = client.get("/api/v1/territories/", HTTP_ACCEPT="application/geo+json")
    assert geojson["Content-Type"] == "application/geo+json"
    refused = client.get("/api/v1/territories/", HTTP_ACCEPT="text/plain")
    assert refused.status_code == 406


# ---- GDAL over HTTP ---------------------------------------------------------------------------------


def ogrinfo(url: str, token: str) -> str:
    """`ogrinfo -ro -so -al` on a URL, authenticated with GDAL_HTTP_HEADERS; its report, or a failure."""
    binary = shutil.which("ogrinfo")
    assert binary, "ogrinfo is missing: install gdal-bin (scripts/provision.sh does)"
    env = {
        **os.environ,
        "GDAL_HTTP_HEADERS": f"Authorization: Bearer {token}",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    result = subprocess.run(
        [binary, "-ro", "-so", "-al", url], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"ogrinfo {url} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def layer_summary(report: str) -> dict:
    def one(pattern: str) -> str:
        found = re.search(pattern, report, re.MULTILINE)
        assert found, f"no {pattern!r} in:\n{report}"
        return found.group(1).strip()

    wkt = one(r"^Layer SRS WKT:\n((?:.+\n)+?)Data axis")
    return {
        "layers": re.findall(r"^Layer name: (.+)$", report, re.MULTILINE),
        "geometry": one(r"^Geometry: (.+)$"),
        "features": int(one(r"^Feature Count: (\d+)$")),
        "crs": (
            re.match(r'GEOGCRS\["([^"]+)"', wkt).group(1),
            re.search(r'ID\["EPSG",(\d+)\]\]$', wkt).group(1),
        ),
        "axes": one(r"^Data axis to CRS axis mapping: (.+)$"),
    }


def test_ogrinfo_opens_territories_search_and_statistics_by_url(
    gunicorn_server, mel_territories, hits, recipient, operator_user
):
    recipient_token = str(RefreshToken.for_user(recipient).access_token)
    operator_token = str(RefreshToken.for_user(operator_user).access_token)
    cases = [
        ("/api/v1/territories/?limit=500&format=geojson", recipient_token, "Multi Polygon", 95),
        (f"{SEARCH}&format=geojson", recipient_token, "Point", 3),
        (f"/api/v1/stats/territories/?{YEAR}&format=geojson", operator_token, "Multi Polygon", 95),
    ]
    for path, token, geometry, count in cases:
        summary = layer_summary(ogrinfo(f"{gunicorn_server}{path}", token))
        assert summary == {
            "layers": ["OGRGeoJSON"],
            "geometry": geometry,
            "features": count,
            "crs": ("WGS 84", "4326"),
            "axes": "2,1",  # GeoJSON is lon, lat; EPSG:4326 is lat, lon
        }, path
