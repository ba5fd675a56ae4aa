"""SIRET and RNA checks (pure functions, no database)."""

import pytest
from django.utils import translation

from organisations.validators import (
    IdentifierError,
    IdentifierErrors,
    luhn_valid,
    organisation_identifiers,
    validate_rna,
    validate_siret,
)


@pytest.fixture(autouse=True)
def english():
    """Messages are checked in English here; French (the default) is checked once below."""
    with translation.override("en"):
        yield


def test_messages_are_french_by_default():
    with translation.override("fr"), pytest.raises(IdentifierErrors) as caught:
        organisation_identifiers(kind="company", siret="", rna="")
    assert caught.value.errors == {"siret": ["Une entreprise doit indiquer son SIRET."]}


@pytest.mark.parametrize(
    ("digits", "valid"),
    [
        ("732829320", True),
        ("732829321", False),
        ("0", True),
        ("18", True),
        ("79927398713", True),
        ("1", False),
    ],
)
def test_luhn(digits, valid):
    assert luhn_valid(digits) is valid


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("73282932000074", "73282932000074"),
        ("732 829 320 00074", "73282932000074"),
        ("732.829.320.00074", "73282932000074"),
        ("55210055400013", "55210055400013"),
        ("44306184100047", "44306184100047"),
        # La Poste: the head office passes Luhn, the other establishments the sum-of-digits rule.
        ("35600000000048", "35600000000048"),
        ("35600000049837", "35600000049837"),
        ("356 000 000 12346", "35600000012346"),
    ],
)
def test_valid_sirets_are_normalised(raw, expected):
    assert validate_siret(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "A SIRET is 14 digits (e.g. 732 829 320 00074)."),
        ("7328293200007", "A SIRET is 14 digits (e.g. 732 829 320 00074)."),
        ("732829320000745", "A SIRET is 14 digits (e.g. 732 829 320 00074)."),
        ("7328293200007A", "A SIRET is 14 digits (e.g. 732 829 320 00074)."),
        ("78012998700020", "This SIRET fails its check digit; check for a typing error."),
        ("73282932000075", "This SIRET fails its check digit; check for a typing error."),
        ("73282932100074", "The SIREN part (first 9 digits) fails its check digit."),
        ("35600000049838", "This SIRET fails its check digit; check for a typing error."),
    ],
)
def test_malformed_sirets_say_why(raw, message):
    with pytest.raises(IdentifierError) as caught:
        validate_siret(raw)
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("W595012345", "W595012345"), ("w595012345", "W595012345"), (" W 595 012 345 ", "W595012345")],
)
def test_valid_rna(raw, expected):
    assert validate_rna(raw) == expected


@pytest.mark.parametrize("raw", ["", "W59501234", "W5950123456", "X595012345", "595012345", "W59501234A"])
def test_malformed_rna(raw):
    with pytest.raises(IdentifierError) as caught:
        validate_rna(raw)
    assert caught.value.message == "An RNA number is the letter W followed by 9 digits (e.g. W595012345)."


@pytest.mark.parametrize(
    ("kind", "siret", "rna", "expected"),
    [
        ("company", "73282932000074", "", ("73282932000074", "")),
        ("association", "", "W595012345", ("", "W595012345")),
        ("association", "73282932000074", "", ("73282932000074", "")),
        ("association", "73282932000074", "W595012345", ("73282932000074", "W595012345")),
        ("project", "", "", ("", "")),
        ("project", "", "w595012345", ("", "W595012345")),
        ("public_authority", "", "", ("", "")),
        ("public_authority", "21590512600011", "", ("21590512600011", "")),
    ],
)
def test_identifiers_by_kind(kind, siret, rna, expected):
    assert organisation_identifiers(kind=kind, siret=siret, rna=rna) == expected


@pytest.mark.parametrize(
    ("kind", "siret", "rna", "errors"),
    [
        ("company", "", "", {"siret": ["A company must give its SIRET."]}),
        ("company", "   ", "W595012345", {"siret": ["A company must give its SIRET."]}),
        ("company", "123", "", {"siret": ["A SIRET is 14 digits (e.g. 732 829 320 00074)."]}),
        ("association", "", "", {"rna": ["An association must give its RNA number or its SIRET."]}),
        (
            "association",
            "",
            "W12",
            {"rna": ["An RNA number is the letter W followed by 9 digits (e.g. W595012345)."]},
        ),
        (
            "project",
            "73282932000075",
            "W12",
            {
                "siret": ["This SIRET fails its check digit; check for a typing error."],
                "rna": ["An RNA number is the letter W followed by 9 digits (e.g. W595012345)."],
            },
        ),
    ],
)
def test_identifier_errors_by_field(kind, siret, rna, errors):
    with pytest.raises(IdentifierErrors) as caught:
        organisation_identifiers(kind=kind, siret=siret, rna=rna)
    assert caught.value.errors == errors
