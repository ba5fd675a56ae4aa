"""A request's language does not outlive its test (tests/conftest.py `_language_reset`): the test client
leaves the language LocaleMiddleware activated in the thread, and a later test relying on the default
language (French) would read English. The two tests run in this order."""

import pytest
from django.conf import settings
from django.utils import translation

pytestmark = pytest.mark.django_db


def test_a_request_in_english_activates_english(anon):
    anon.get("/api/v1/categories/", HTTP_ACCEPT_LANGUAGE="en")
    assert translation.get_language() == "en"


def test_the_next_test_starts_in_the_settings_language():
    assert settings.LANGUAGE_CODE == "fr"
    assert translation.get_language() == "fr"
