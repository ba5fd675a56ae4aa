"""Security headers on every answer (config.security): a strict Content-Security-Policy on HTML pages
(dashboard, admin, docs, error pages), a load-nothing one elsewhere, and the other headers on all of them;
and, in a real browser, the pages work under that policy (issue 8, item 9)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client, override_settings

from organisations.models import MembershipRole

from .conftest import make_member, make_user
from .test_dashboard import CHROMIUM_ARGS, PASSWORD, YEAR, build_ledger

pytestmark = pytest.mark.django_db

HTML_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
OTHER_CSP = "default-src 'none'; frame-ancestors 'none'"
EVERYWHERE = {
    "Permissions-Policy": "camera=(), geolocation=(), microphone=(), payment=(), usb=()",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def security_headers(response) -> dict[str, str | None]:
    return {name: response.headers.get(name) for name in ("Content-Security-Policy", *EVERYWHERE)}


@pytest.fixture
def staff(operator_org):
    user = make_member(operator_org, MembershipRole.ADMIN, make_user(is_staff=True, is_superuser=True))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def mayor_client(mel_territories, catalogue):
    ledger = build_ledger(mel_territories, catalogue)
    client = Client()
    client.force_login(make_member(ledger.roubaix, MembershipRole.MEMBER))
    return client


@pytest.mark.parametrize(
    ("page", "status"),
    [
        ("dashboard-login", 200),
        ("dashboard", 200),
        ("dashboard-not-found", 404),
        ("admin-login", 200),
        ("admin-index", 200),
        ("admin-changelist", 200),
        ("docs", 200),
        ("debug-404", 404),
    ],
)
def test_every_html_page_has_the_strict_policy_and_the_headers(request, page, status):
    def get():
        if page == "dashboard-login":
            return Client().get("/dashboard/login/")
        if page == "dashboard":
            return request.getfixturevalue("mayor_client").get(f"/dashboard/?{YEAR}")
        if page == "dashboard-not-found":  # the dashboard's own 404 page
            return request.getfixturevalue("mayor_client").get(f"/dashboard/?{YEAR}&territory=59350")
        if page == "admin-login":
            return Client().get("/admin/login/")
        if page == "admin-index":
            return request.getfixturevalue("staff").get("/admin/")
        if page == "admin-changelist":
            return request.getfixturevalue("staff").get("/admin/exchange/offer/")
        if page == "docs":
            return Client().get("/api/docs/")
        with override_settings(DEBUG=True):  # Django's technical page, development profile
            return Client().get("/dashboard/no-such-page/")

    response = get()
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    assert security_headers(response) == {"Content-Security-Policy": HTML_CSP, **EVERYWHERE}


@pytest.mark.parametrize(
    ("path", "status", "content_type"),
    [
        ("/api/v1/offers/", 401, "application/problem+json"),
        ("/api/v1/no-such-route/", 404, "application/problem+json"),
        ("/api/schema/", 200, "application/vnd.oai.openapi"),
        ("/api/docs/?script=", 200, "application/javascript"),
        ("/healthz", 200, "application/json"),
    ],
)
def test_every_other_answer_loads_nothing_and_has_the_headers(path, status, content_type):
    response = Client().get(path)
    assert (response.status_code, response["Content-Type"].split(";")[0]) == (status, content_type)
    assert security_headers(response) == {"Content-Security-Policy": OTHER_CSP, **EVERYWHERE}


@override_settings(BOUCLE_MAX_REQUEST_BYTES=10)
def test_an_answer_given_before_the_views_has_the_headers_too():
    # The size limit answers from its middleware, before XFrameOptionsMiddleware would see anything.
    response = Client().post("/api/v1/auth/token/", {"email": "x" * 50}, content_type="application/json")
    assert response.status_code == 413
    assert security_headers(response) == {"Content-Security-Policy": OTHER_CSP, **EVERYWHERE}


def test_the_docs_page_has_no_inline_script_or_style():
    html = Client().get("/api/docs/").content.decode()
    assert "<style" not in html and "style=" not in html
    assert html.count("<script") == html.count("<script src=") == 3
    assert '<script src="/api/docs/?script="></script>' in html


def test_the_dashboard_has_no_inline_script_style_or_handler(mayor_client):
    html = mayor_client.get(f"/dashboard/?{YEAR}").content.decode()
    assert 'class="swatch"' in html  # the chart legend is drawn
    assert "style=" not in html and "<style" not in html and "<script" not in html
    assert " onclick=" not in html and " onload=" not in html


# ---------------------------------------------------------------------------------------------------
# In a real browser: no violation, and the pages still do their job
# ---------------------------------------------------------------------------------------------------

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${where}`);
});
"""


@pytest.mark.slow
def test_the_pages_work_in_a_real_browser_under_the_policy(live_server, mel_territories, catalogue):
    from playwright.sync_api import sync_playwright

    ledger = build_ledger(mel_territories, catalogue)
    mayor = make_member(ledger.roubaix, MembershipRole.MEMBER, make_user(password=PASSWORD))
    operator = make_user(password=PASSWORD, is_staff=True, is_superuser=True)
    origin = live_server.url
    violations, errors = [], []

    def visit(page, path: str) -> None:
        page.goto(f"{origin}{path}")
        page.wait_for_load_state("networkidle")
        for violation in page.evaluate("window.__cspViolations"):
            violations.append(f"{path}: {violation}")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(locale="fr-FR").new_page()
            page.add_init_script(RECORD_VIOLATIONS)
            page.on(
                "console",
                lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
            )
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))

            visit(page, "/api/docs/")
            page.wait_for_selector(".opblock")
            paths = page.eval_on_selector_all(".opblock-summary-path", "els => els.map(e => e.dataset.path)")
            assert "/api/v1/offers/" in paths and len(paths) > 40, paths

            visit(page, "/dashboard/login/")
            page.fill("input[name=username]", mayor.email)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{origin}/dashboard/")
            visit(page, f"/dashboard/?{YEAR}")
            assert page.locator("svg.map path.commune").count() == 95
            assert page.locator("ul.legend li[data-group] svg.swatch rect").count() >= 1
            swatch = page.locator("ul.legend li[data-group] svg.swatch").first.bounding_box()
            assert (round(swatch["width"]), round(swatch["height"])) == (14, 14)

            visit(page, "/admin/login/")
            page.fill("input[name=username]", operator.email)
            page.fill("input[name=password]", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_load_state("networkidle")
            assert urlsplit(page.url).path == "/admin/"
            for path in ("/admin/", "/admin/exchange/offer/", "/admin/organisations/site/add/"):
                visit(page, path)
            assert page.locator("input[name=latitude]").count() == 1
        finally:
            browser.close()

    assert violations == []
    assert errors == []
