"""ETag on a single offer and If-Match on its PATCH (issue 10): a client that read an offer changes it
only if nobody changed it since, else 412 `precondition_failed` and nothing changes. The tag is strong,
the same for every reader, and changes whenever the offer does."""

from __future__ import annotations

import re

import pytest

from exchange.models import Offer

from .conftest import client_for, make_claim, make_member, make_offer, make_org

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
STALE_EN = "The offer has changed since you read it: read it again, then retry."


@pytest.fixture
def offer(firm):
    return make_offer(firm, quantity=10)


@pytest.fixture
def owner(firm):
    return client_for(make_member(firm))


def url(offer) -> str:
    return f"/api/v1/offers/{offer.pk}/"


def tag_of(client, offer) -> str:
    response = client.get(url(offer))
    assert response.status_code == 200
    return response["ETag"]


def assert_precondition_failed(response, offer: Offer, before: Offer) -> None:
    assert response.status_code == 412, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:boucle:problem:precondition_failed",
        "title": "Precondition failed",
        "status": 412,
        "detail": STALE_EN,
        "code": "precondition_failed",
        "instance": url(offer),
    }
    after = Offer.objects.get(pk=offer.pk)
    assert (after.title, after.quantity, after.updated_at) == (
        before.title,
        before.quantity,
        before.updated_at,
    )
    assert "ETag" not in response


def test_an_offer_has_a_strong_etag_the_same_for_every_reader(offer, owner, association):
    tag = tag_of(owner, offer)
    assert re.fullmatch(r'"[0-9a-f]{32}"', tag)
    assert tag_of(owner, offer) == tag
    # another organisation sees the approximate place, but the same version of the same offer
    assert tag_of(client_for(make_member(association)), offer) == tag


def test_the_etag_changes_whenever_the_offer_does(offer, owner):
    tags = [tag_of(owner, offer)]
    response = owner.patch(url(offer), {"title": "Planches de chêne"}, format="json")
    assert response.status_code == 200
    assert response["ETag"] == tag_of(owner, offer) != tags[-1]  # the PATCH answers with the new tag
    tags.append(response["ETag"])
    make_claim(Offer.objects.get(pk=offer.pk), accept=True)  # the quantities move: a new version
    tags.append(tag_of(owner, offer))
    owner.post(f"{url(offer)}close/")
    tags.append(tag_of(owner, offer))
    assert len(set(tags)) == 4


def test_if_match_with_the_current_tag_applies_the_change(offer, owner):
    tag = tag_of(owner, offer)
    response = owner.patch(url(offer), {"title": "Nouveau titre"}, format="json", HTTP_IF_MATCH=tag)
    assert response.status_code == 200
    assert response.json()["title"] == "Nouveau titre"
    assert response["ETag"] != tag


def test_a_stale_tag_is_412_and_nothing_changes(offer, owner):
    """Two editors read the same version; the first to write wins, the second is told."""
    tag = tag_of(owner, offer)
    other = client_for(make_member(offer.organisation))
    first = other.patch(url(offer), {"quantity": "12"}, format="json", HTTP_IF_MATCH=tag)
    assert first.status_code == 200
    before = Offer.objects.get(pk=offer.pk)
    second = owner.patch(url(offer), {"title": "Écrasé ?"}, format="json", HTTP_IF_MATCH=tag, **EN)
    assert_precondition_failed(second, offer, before)
    assert before.quantity == 12


@pytest.mark.parametrize(
    "header",
    [
        '"0123456789abcdef0123456789abcdef"',  # a tag of no version
        "W/{tag}",  # the current tag, weak: If-Match compares strongly
        "{bare}",  # without its quotes
        "",
    ],
)
def test_if_match_naming_no_current_version_is_412(offer, owner, header):
    tag = tag_of(owner, offer)
    header = header.format(tag=tag, bare=tag.strip('"'))
    before = Offer.objects.get(pk=offer.pk)
    response = owner.patch(url(offer), {"title": "Autre"}, format="json", HTTP_IF_MATCH=header, **EN)
    assert_precondition_failed(response, offer, before)


@pytest.mark.parametrize("header", ["*", '"0123456789abcdef0123456789abcdef", {tag}', None])
def test_star_a_list_holding_the_tag_and_no_header_apply_the_change(offer, owner, header):
    tag = tag_of(owner, offer)
    extra = {} if header is None else {"HTTP_IF_MATCH": header.format(tag=tag)}
    response = owner.patch(url(offer), {"title": "Accepté"}, format="json", **extra)
    assert response.status_code == 200
    assert Offer.objects.get(pk=offer.pk).title == "Accepté"


def test_a_precondition_on_another_organisations_offer_is_still_404(offer):
    stranger = client_for(make_member(make_org()))
    response = stranger.patch(url(offer), {"title": "x"}, format="json", HTTP_IF_MATCH='"nope"')
    assert response.status_code == 404
