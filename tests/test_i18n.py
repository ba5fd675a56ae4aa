"""French first, English too: the same API answers in the language the caller asks for, and the
catalogues hold a translation for every message. Texts are asserted exactly, in both languages."""

import shutil
import subprocess

import pytest
from django.conf import settings

from organisations.models import MembershipRole

from .conftest import client_for, make_member, make_offer, make_org, make_site

pytestmark = pytest.mark.django_db

POINT = {"type": "Point", "coordinates": [3.1746, 50.6916]}


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response["Content-Language"] in ("fr", "en")
    body = response.json()
    assert body["code"] == code
    return body


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "fr",
            {
                "title": "Données invalides",
                "detail": "La requête contient des champs invalides.",
                "errors": [
                    ("name", "Ce champ est obligatoire."),
                    ("location", "La latitude doit être comprise entre -90 et 90."),
                ],
            },
        ),
        (
            "en",
            {
                "title": "Invalid input",
                "detail": "The request has invalid fields.",
                "errors": [
                    ("name", "This field is required."),
                    ("location", "Latitude must be between -90 and 90."),
                ],
            },
        ),
    ],
)
def test_a_validation_error_speaks_the_callers_language(firm, language, expected):
    client = client_for(make_member(firm))
    bad_point = {"type": "Point", "coordinates": [3.17, 91]}
    response = client.post(
        "/api/v1/sites/", {"location": bad_point}, format="json", HTTP_ACCEPT_LANGUAGE=language
    )
    body = problem(response, 400, "validation_error")
    assert response["Content-Language"] == language
    assert {
        "title": body["title"],
        "detail": body["detail"],
        "errors": [(e["field"], e["message"]) for e in body["errors"]],
    } == expected


@pytest.mark.parametrize(
    ("language", "title", "detail"),
    [("fr", "Introuvable", "Site introuvable."), ("en", "Not found", "No such site.")],
)
def test_a_404_speaks_the_callers_language(firm, language, title, detail):
    site = make_site(firm)
    stranger = client_for(make_member(make_org(name="Autre")))
    response = stranger.get(f"/api/v1/sites/{site.pk}/", HTTP_ACCEPT_LANGUAGE=language)
    body = problem(response, 404, "not_found")
    assert (body["title"], body["detail"]) == (title, detail)


@pytest.mark.parametrize(
    ("language", "title", "detail"),
    [
        ("fr", "Conflit", "Le statut de l’offre est « clôturée » : elle ne peut pas être retirée."),
        ("en", "Conflict", "The offer's status is closed: it cannot be withdrawn."),
    ],
)
def test_a_domain_conflict_speaks_the_callers_language(firm, language, title, detail):
    offer = make_offer(firm, status="closed")
    client = client_for(make_member(firm, MembershipRole.MEMBER))
    response = client.post(f"/api/v1/offers/{offer.pk}/withdraw/", HTTP_ACCEPT_LANGUAGE=language)
    body = problem(response, 409, "offer_status_conflict")
    assert (body["title"], body["detail"], body["offer_status"]) == (title, detail, "closed")


@pytest.mark.parametrize(
    ("language", "names"),
    [
        (
            None,
            {
                "furniture": "Mobilier",
                "sofa": "Canapé",
                "mixed_household_reuse": "Biens réemployables (mélange)",
            },
        ),
        (
            "fr",
            {
                "furniture": "Mobilier",
                "sofa": "Canapé",
                "mixed_household_reuse": "Biens réemployables (mélange)",
            },
        ),
        ("en", {"furniture": "Furniture", "sofa": "Sofa", "mixed_household_reuse": "Mixed reusable goods"}),
    ],
)
def test_category_names_follow_the_callers_language_french_by_default(anon, catalogue, language, names):
    headers = {"HTTP_ACCEPT_LANGUAGE": language} if language else {}
    response = anon.get("/api/v1/categories/", **headers)
    assert response.status_code == 200
    assert "Accept-Language" in response["Vary"]
    seen = {}

    def walk(nodes):
        for node in nodes:
            seen[node["key"]] = node["name"]
            assert (node["name_fr"], node["name_en"]) == (
                catalogue[node["key"]].name_fr,
                catalogue[node["key"]].name_en,
            )
            walk(node["children"])

    walk(response.json())
    assert {key: seen[key] for key in names} == names


@pytest.mark.parametrize(
    ("language", "messages"),
    [
        (
            "fr",
            [
                "Ce mot de passe est trop court. Il doit contenir au minimum 10 caractères.",
                "Ce mot de passe est trop courant.",
                "Ce mot de passe est entièrement numérique.",
            ],
        ),
        (
            "en",
            [
                "This password is too short. It must contain at least 10 characters.",
                "This password is too common.",
                "This password is entirely numeric.",
            ],
        ),
    ],
)
def test_a_weak_password_is_refused_in_the_callers_language(anon, language, messages):
    body = {
        "email": "claire.lemaire@example.org",
        "password": "123456",
        "first_name": "Claire",
        "last_name": "Lemaire",
        "organisation": {"name": "Menuiserie Lemaire", "kind": "company", "siret": "732 829 320 00074"},
    }
    response = anon.post("/api/v1/auth/register/", body, format="json", HTTP_ACCEPT_LANGUAGE=language)
    problem_body = problem(response, 400, "validation_error")
    assert [(e["field"], e["message"]) for e in problem_body["errors"]] == [
        ("password", message) for message in messages
    ]


# --- catalogues ------------------------------------------------------------------------------------
# tests/test_errors.py checks the project catalogue (locale/); the dashboard has its own (web/locale/).
WEB_PO = settings.BASE_DIR / "web" / "locale" / "fr" / "LC_MESSAGES" / "django.po"


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="gettext is installed by make test's provisioning")
def test_dashboard_catalogue_is_complete():
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(WEB_PO)],
        capture_output=True,
        text=True,
        env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, result.stderr


def test_dashboard_catalogue_is_compiled_and_up_to_date():
    mo = WEB_PO.with_suffix(".mo")
    assert mo.is_file() and mo.stat().st_mtime >= WEB_PO.stat().st_mtime, (
        "compile the translations: .venv/bin/python manage.py compilemessages --ignore=.venv --ignore=.local"
    )
