import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from core.models import DomainEvent
from exchange.models import OfferPhoto
from organisations.models import OrganisationKind

from .conftest import client_for, make_member, make_offer, make_org

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def image_bytes(fmt: str = "PNG", size=(32, 24)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(buffer, format=fmt)
    return buffer.getvalue()


def upload(data: bytes, name: str = "photo.png", content_type: str = "image/png"):
    return {"image": SimpleUploadedFile(name, data, content_type=content_type)}


def photos_url(offer) -> str:
    return f"/api/v1/offers/{offer.id}/photos/"


def stored_files(media) -> list[str]:
    return sorted(str(p.relative_to(media)) for p in media.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("fmt", "content_type", "extension"),
    [("PNG", "image/png", "png"), ("JPEG", "image/jpeg", "jpg"), ("WEBP", "image/webp", "webp")],
)
def test_owner_uploads_a_photo_and_anyone_who_sees_the_offer_gets_the_bytes(
    media, firm, association, fmt, content_type, extension
):
    offer = make_offer(firm)
    data = image_bytes(fmt)
    client = client_for(make_member(firm))
    # Name and declared type lie: the bytes decide.
    response = client.post(photos_url(offer), upload(data, "scan.txt", "text/plain"), format="multipart")
    assert response.status_code == 201, response.content
    photo = OfferPhoto.objects.get()
    got = response.json()
    assert got["id"] == photo.id
    # The stored photo is the one rebuilt from the pixels (tests/test_photo_metadata.py), not the upload.
    with photo.image.open("rb") as file:
        stored = file.read()
    assert (got["content_type"], got["width"], got["height"], got["size_bytes"]) == (
        content_type,
        32,
        24,
        len(stored),
    )
    assert got["url"] == f"http://testserver/api/v1/offers/{offer.id}/photos/{photo.id}/"
    assert photo.image.name.startswith(f"offers/{offer.id}/") and photo.image.name.endswith(f".{extension}")
    assert stored_files(media) == [photo.image.name]

    served = client_for(make_member(association)).get(got["url"].removeprefix("http://testserver"))
    assert served.status_code == 200
    assert served["Content-Type"] == content_type
    assert b"".join(served.streaming_content) == stored
    with Image.open(io.BytesIO(stored)) as image:
        assert (image.format, image.size) == (fmt, (32, 24))
        pixel = image.convert("RGB").getpixel((16, 12))
    # PNG is lossless; JPEG and WebP come back within a few levels.
    tolerance = 0 if fmt == "PNG" else 8
    assert all(abs(a - b) <= tolerance for a, b in zip(pixel, (200, 120, 40), strict=True)), pixel

    listed = client.get(f"/api/v1/offers/{offer.id}/").json()["photos"]
    assert [(p["id"], p["url"]) for p in listed] == [(photo.id, got["url"])]
    event = DomainEvent.objects.get(name="offer.updated")
    assert event.payload == {"status": "published", "fields": ["photos"], "photo_added": photo.id}


def test_an_image_accept_header_still_gets_the_bytes(firm):
    offer = make_offer(firm)
    client = client_for(make_member(firm))
    photo_id = client.post(photos_url(offer), upload(image_bytes()), format="multipart").json()["id"]
    served = client.get(f"{photos_url(offer)}{photo_id}/", HTTP_ACCEPT="image/avif,image/webp,image/*")
    assert (served.status_code, served["Content-Type"]) == (200, "image/png")


def test_photo_too_big_is_a_413_problem(settings, media, firm):
    offer = make_offer(firm)
    data = image_bytes(size=(64, 64))
    settings.BOUCLE_MAX_PHOTO_BYTES = len(data) - 1
    response = client_for(make_member(firm)).post(photos_url(offer), upload(data), format="multipart")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert (problem["code"], problem["max_bytes"]) == ("photo_too_large", len(data) - 1)
    assert [e["field"] for e in problem["errors"]] == ["image"]
    assert OfferPhoto.objects.count() == 0
    assert stored_files(media) == []


def test_default_limit_is_four_mebibytes(media, firm):
    offer = make_offer(firm)
    data = b"\xff\xd8\xff" + b"\0" * (4 * 1024 * 1024 - 2)  # one byte over 4 MiB, under the body limit
    response = client_for(make_member(firm)).post(
        photos_url(offer), upload(data, "big.jpg", "image/jpeg"), format="multipart"
    )
    assert (response.status_code, response.json()["code"]) == (413, "photo_too_large")
    assert OfferPhoto.objects.count() == 0


def test_not_an_image_is_a_400_problem(media, firm):
    offer = make_offer(firm)
    response = client_for(make_member(firm)).post(
        photos_url(offer),
        upload(b"%PDF-1.7 not a photo at all", "photo.jpg", "image/jpeg"),
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "not_an_image"
    assert OfferPhoto.objects.count() == 0
    assert stored_files(media) == []
    assert not DomainEvent.objects.filter(name="offer.updated").exists()


def test_a_truncated_png_is_not_an_image(firm):
    offer = make_offer(firm)
    data = image_bytes()[:-20]
    response = client_for(make_member(firm)).post(photos_url(offer), upload(data), format="multipart")
    assert (response.status_code, response.json()["code"]) == (400, "not_an_image")


def test_an_image_of_another_type_is_a_415_problem(media, firm):
    offer = make_offer(firm)
    response = client_for(make_member(firm)).post(
        photos_url(offer), upload(image_bytes("GIF"), "photo.png"), format="multipart"
    )
    assert response.status_code == 415
    assert (response.json()["code"], response.json()["detected_format"]) == ("unsupported_image_type", "GIF")
    assert OfferPhoto.objects.count() == 0
    assert stored_files(media) == []


def test_missing_file_is_a_validation_error(firm):
    offer = make_offer(firm)
    response = client_for(make_member(firm)).post(photos_url(offer), {}, format="multipart")
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["image"]


def test_a_ninth_photo_is_refused(media, firm):
    offer = make_offer(firm, status="draft")
    client = client_for(make_member(firm))
    for _ in range(8):
        assert client.post(photos_url(offer), upload(image_bytes()), format="multipart").status_code == 201
    response = client.post(photos_url(offer), upload(image_bytes()), format="multipart")
    assert response.status_code == 409
    assert (response.json()["code"], response.json()["max_photos"]) == ("too_many_photos", 8)
    assert OfferPhoto.objects.filter(offer=offer).count() == 8
    assert len(stored_files(media)) == 8
    assert list(OfferPhoto.objects.filter(offer=offer).values_list("position", flat=True)) == list(range(8))


@pytest.mark.parametrize("status", ["closed", "withdrawn", "expired"])
def test_no_new_photos_on_a_finished_offer(firm, status):
    offer = make_offer(firm, status=status)
    response = client_for(make_member(firm)).post(
        photos_url(offer), upload(image_bytes()), format="multipart"
    )
    assert (response.status_code, response.json()["code"]) == (409, "offer_status_conflict")


def test_owner_deletes_a_photo_and_its_file_goes_after_commit(
    media, firm, django_capture_on_commit_callbacks
):
    offer = make_offer(firm, status="closed")  # photos can be taken down whatever the status
    photo = OfferPhoto(offer=offer, content_type="image/png", size_bytes=10)
    from django.core.files.base import ContentFile

    photo.image.save("x.png", ContentFile(image_bytes()), save=True)
    assert stored_files(media) == [photo.image.name]
    client = client_for(make_member(firm))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete(f"{photos_url(offer)}{photo.id}/")
    assert response.status_code == 204
    assert OfferPhoto.objects.count() == 0
    assert stored_files(media) == []
    assert client.get(f"{photos_url(offer)}{photo.id}/").status_code == 404
    assert client.delete(f"{photos_url(offer)}{photo.id}/").status_code == 404


def test_photo_of_another_offer_is_absent(firm):
    offer, other = make_offer(firm), make_offer(firm)
    client = client_for(make_member(firm))
    photo_id = client.post(photos_url(offer), upload(image_bytes()), format="multipart").json()["id"]
    assert client.get(f"{photos_url(other)}{photo_id}/").status_code == 404
    assert client.delete(f"{photos_url(other)}{photo_id}/").status_code == 404
    assert OfferPhoto.objects.count() == 1


def test_associations_cannot_add_photos_to_someone_elses_offer(firm):
    offer = make_offer(firm)
    member = make_member(make_org(OrganisationKind.ASSOCIATION))
    response = client_for(member).post(photos_url(offer), upload(image_bytes()), format="multipart")
    assert response.status_code == 404
    assert OfferPhoto.objects.count() == 0
