"""Photos are stored and served rebuilt from their pixels: no GPS position, no Artist, no XMP, ICC profile,
comment or PNG text; upright by their EXIF orientation; first frame only; bombs refused (issue 8, item 1).
`manage.py strip_photo_metadata` rebuilds the photos stored before."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from PIL import ExifTags, Image, ImageCms
from PIL.PngImagePlugin import PngInfo

from exchange.models import OfferPhoto
from exchange.photos import photo_metadata_found

from .conftest import client_for, make_member, make_offer

pytestmark = pytest.mark.django_db

PHONE = "Jean Dupont 06 12 34 56 78"
# The exact site: Grand-Place de Roubaix, 50°41'29.76" N 3°10'28.56" E (tests/conftest.ROUBAIX).
GPS = {
    ExifTags.GPS.GPSLatitudeRef: "N",
    ExifTags.GPS.GPSLatitude: (50.0, 41.0, 29.76),
    ExifTags.GPS.GPSLongitudeRef: "E",
    ExifTags.GPS.GPSLongitude: (3.0, 10.0, 28.56),
}
XMP = f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><dc:creator>{PHONE}</dc:creator></x:xmpmeta>'.encode()
RED, BLUE = (220, 30, 30), (30, 30, 220)
FORMATS = [("JPEG", "image/jpeg", "jpg"), ("PNG", "image/png", "png"), ("WEBP", "image/webp", "webp")]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def exif_block(orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Artist] = PHONE
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.IFD.GPSInfo] = GPS
    return exif.tobytes()


def red_left_blue_right(size=(40, 20)) -> Image.Image:
    """Red on the left half, blue on the right: where they end up shows how the photo was turned."""
    image = Image.new("RGB", size, BLUE)
    image.paste(RED, (0, 0, size[0] // 2, size[1]))
    return image


def photo_with_everything(fmt: str, *, orientation: int = 1, image: Image.Image | None = None) -> bytes:
    """What a phone writes, and more: EXIF with GPS and Artist, XMP, an ICC profile, a comment or text."""
    image = image or red_left_blue_right()
    options = {
        "exif": exif_block(orientation),
        "icc_profile": ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
    }
    if fmt == "JPEG":
        options |= {"xmp": XMP, "comment": PHONE, "quality": 95}
    elif fmt == "WEBP":
        options |= {"xmp": XMP, "lossless": True}
    else:
        text = PngInfo()
        text.add_text("Author", PHONE)
        text.add_text("Comment", PHONE, zip=True)
        text.add_itxt("XML:com.adobe.xmp", XMP.decode())
        options["pnginfo"] = text
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def upload(client, offer, data: bytes, name: str = "IMG_0001.jpg"):
    return client.post(
        f"/api/v1/offers/{offer.id}/photos/",
        {"image": SimpleUploadedFile(name, data, content_type="image/jpeg")},
        format="multipart",
    )


def served_bytes(client, url: str) -> bytes:
    response = client.get(url.removeprefix("http://testserver"))
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def assert_no_metadata(data: bytes, original_exif: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    assert dict(image.getexif()) == {}
    assert image.getexif().get_ifd(ExifTags.IFD.GPSInfo) == {}
    assert not {"exif", "xmp", "icc_profile", "comment", "Author", "Comment", "XML:com.adobe.xmp"} & set(
        image.info
    )
    assert getattr(image, "text", {}) == {}
    assert PHONE.encode() not in data and b"06 12 34 56 78" not in data
    assert original_exif[6:] not in data  # the TIFF block that holds the GPS position
    assert b"xmpmeta" not in data and b"Exif\0\0" not in data
    assert photo_metadata_found(data) == []
    return image


def near(pixel, colour, tolerance=40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


@pytest.mark.parametrize(("fmt", "content_type", "extension"), FORMATS)
def test_the_photo_an_association_gets_has_no_gps_no_artist_no_metadata(
    media, firm, association, fmt, content_type, extension
):
    original = photo_with_everything(fmt)
    # The upload really carries what leaked: the exact site and a phone number.
    with Image.open(io.BytesIO(original)) as sent:
        assert sent.getexif().get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitude] == (50.0, 41.0, 29.76)
        assert sent.getexif()[ExifTags.Base.Artist] == PHONE
        assert {"exif", "icc_profile"} <= set(sent.info)
    offer = make_offer(firm)
    response = upload(client_for(make_member(firm)), offer, original)
    assert response.status_code == 201, response.content
    got = response.json()

    served = served_bytes(client_for(make_member(association)), got["url"])
    assert served != original
    image = assert_no_metadata(served, exif_block())
    assert image.format == fmt
    assert (image.width, image.height) == (got["width"], got["height"]) == (40, 20)
    assert near(image.convert("RGB").getpixel((5, 10)), RED) and near(
        image.convert("RGB").getpixel((35, 10)), BLUE
    )

    photo = OfferPhoto.objects.get()
    assert (photo.content_type, got["content_type"]) == (content_type, content_type)
    assert photo.image.name.endswith(f".{extension}")
    with photo.image.open("rb") as stored:
        assert stored.read() == served
    assert got["size_bytes"] == photo.size_bytes == len(served)
    assert sorted(p.name for p in media.rglob("*") if p.is_file()) == [photo.image.name.rsplit("/", 1)[1]]


@pytest.mark.parametrize(("fmt", "content_type", "extension"), FORMATS)
def test_the_exif_orientation_is_applied_before_it_is_dropped(firm, fmt, content_type, extension):
    # Orientation 6: the camera was held upright, the sensor's picture must turn 90° clockwise.
    offer = make_offer(firm)
    client = client_for(make_member(firm))
    response = upload(client, offer, photo_with_everything(fmt, orientation=6))
    assert response.status_code == 201, response.content
    assert (response.json()["width"], response.json()["height"]) == (20, 40)
    image = assert_no_metadata(served_bytes(client, response.json()["url"]), exif_block(6)).convert("RGB")
    assert image.size == (20, 40)
    assert near(image.getpixel((10, 5)), RED) and near(image.getpixel((10, 35)), BLUE)


@pytest.mark.parametrize(
    ("fmt", "mode", "colour"),
    [
        ("PNG", "RGBA", (0, 128, 0, 100)),
        ("PNG", "L", 90),
        ("PNG", "P", 3),
        ("WEBP", "RGBA", (0, 128, 0, 100)),
    ],
)
def test_transparency_and_grey_are_kept(firm, fmt, mode, colour):
    image = Image.new(mode, (16, 16), colour)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}), exif=exif_block())
    offer = make_offer(firm)
    client = client_for(make_member(firm))
    response = upload(client, offer, buffer.getvalue())
    assert response.status_code == 201, response.content
    stored = assert_no_metadata(served_bytes(client, response.json()["url"]), exif_block())
    if mode == "P":  # a palette becomes the colours it stood for
        assert stored.mode == "RGB"
        assert stored.getpixel((8, 8)) == image.convert("RGB").getpixel((8, 8))
    elif fmt == "WEBP":  # stored lossy
        assert stored.mode == mode
        assert near(stored.getpixel((8, 8)), colour[:3], tolerance=4) and stored.getpixel((8, 8))[3] == 100
    else:
        assert stored.mode == mode
        assert stored.getpixel((8, 8)) == colour


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_an_animated_image_keeps_its_first_frame(firm, fmt):
    frames = [Image.new("RGB", (24, 24), RED), Image.new("RGB", (24, 24), BLUE)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format=fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(io.BytesIO(buffer.getvalue())) as sent:
        assert sent.n_frames == 2
    offer = make_offer(firm)
    client = client_for(make_member(firm))
    response = upload(client, offer, buffer.getvalue())
    assert response.status_code == 201, response.content
    stored = assert_no_metadata(served_bytes(client, response.json()["url"]), exif_block())
    assert getattr(stored, "n_frames", 1) == 1
    assert near(stored.convert("RGB").getpixel((12, 12)), RED)


def test_an_mpo_camera_jpeg_is_stored_as_its_primary_jpeg(firm):
    # Phones write MPO (a JPEG followed by a depth or HDR map); it was refused as "MPO" before.
    buffer = io.BytesIO()
    primary = red_left_blue_right()
    primary.save(
        buffer,
        format="MPO",
        save_all=True,
        append_images=[Image.new("RGB", (40, 20), "white")],
        exif=exif_block(),
    )
    with Image.open(io.BytesIO(buffer.getvalue())) as sent:
        assert (sent.format, sent.n_frames) == ("MPO", 2)
    offer = make_offer(firm)
    client = client_for(make_member(firm))
    response = upload(client, offer, buffer.getvalue())
    assert response.status_code == 201, response.content
    assert response.json()["content_type"] == "image/jpeg"
    stored = assert_no_metadata(served_bytes(client, response.json()["url"]), exif_block())
    assert stored.format == "JPEG"
    assert near(stored.getpixel((5, 10)), RED)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width × height pixels in a few bytes (the pixels would follow, never read)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    "size",
    [(100_000, 100_000), (10_000, 10_000), (8_000, 8_000)],
    ids=["pillow-bomb-error", "pillow-bomb-warning", "over-60-megapixels"],
)
def test_a_decompression_bomb_is_a_413_problem_and_nothing_is_stored(media, firm, size):
    data = png_header_only(*size)
    assert len(data) < 100
    offer = make_offer(firm)
    response = upload(client_for(make_member(firm)), offer, data, "bomb.png")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert (problem["code"], problem["errors"]) == (
        "photo_too_large",
        [{"field": "image", "code": "photo_too_large", "message": problem["detail"]}],
    )
    assert OfferPhoto.objects.count() == 0
    assert not [p for p in media.rglob("*") if p.is_file()]


def test_a_jpeg_cut_short_is_not_an_image(media, firm):
    # Its header is whole, its pixels are not: only decoding tells (Pillow's verify() does not, for JPEG).
    buffer = io.BytesIO()
    Image.effect_noise((200, 200), 60).convert("RGB").save(buffer, format="JPEG", quality=95)
    data = buffer.getvalue()
    with Image.open(io.BytesIO(data[: len(data) * 7 // 10])) as cut:
        assert cut.size == (200, 200)
    offer = make_offer(firm)
    response = upload(client_for(make_member(firm)), offer, data[: len(data) * 7 // 10])
    assert (response.status_code, response.json()["code"]) == (400, "not_an_image")
    assert OfferPhoto.objects.count() == 0
    assert not [p for p in media.rglob("*") if p.is_file()]


# --- photos stored before: manage.py strip_photo_metadata ---------------------------------------------
def stored_photo(offer, data: bytes, name: str) -> OfferPhoto:
    """A photo as the old upload stored it: the bytes as sent."""
    photo = OfferPhoto(offer=offer, content_type="image/jpeg", size_bytes=len(data))
    photo.image.save(name, ContentFile(data), save=True)
    return photo


def test_the_command_rebuilds_old_photos_once_and_keeps_their_ids(
    media, firm, association, django_capture_on_commit_callbacks
):
    offer = make_offer(firm)
    leaking = stored_photo(offer, photo_with_everything("JPEG", orientation=6), "old.jpg")
    clean_data = io.BytesIO()
    Image.new("RGB", (8, 8), RED).save(clean_data, format="PNG")
    clean = stored_photo(offer, clean_data.getvalue(), "clean.png")
    old_name = leaking.image.name
    assert photo_metadata_found(leaking.image.open("rb").read())

    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("strip_photo_metadata", stdout=out)
    assert out.getvalue().strip() == "Photos rebuilt without metadata: 1; already clean: 1; unreadable: 0."

    leaking.refresh_from_db()
    assert leaking.image.name != old_name and leaking.image.name.startswith(f"offers/{offer.id}/")
    assert not (media / old_name).exists()
    served = served_bytes(
        client_for(make_member(association)), f"/api/v1/offers/{offer.id}/photos/{leaking.id}/"
    )
    image = assert_no_metadata(served, exif_block(6))
    assert (image.size, leaking.width, leaking.height) == ((20, 40), 20, 40)
    assert (leaking.content_type, leaking.size_bytes) == ("image/jpeg", len(served))
    clean_name = clean.image.name
    clean.refresh_from_db()
    assert clean.image.name == clean_name

    # Idempotent: a second run finds nothing to do and changes no file.
    before = sorted(p.name for p in media.rglob("*") if p.is_file())
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("strip_photo_metadata", stdout=out)
    assert out.getvalue().strip() == "Photos rebuilt without metadata: 0; already clean: 2; unreadable: 0."
    assert sorted(p.name for p in media.rglob("*") if p.is_file()) == before


def test_the_command_reports_an_unreadable_photo_and_cleans_the_others(
    media, firm, django_capture_on_commit_callbacks
):
    offer = make_offer(firm)
    broken = stored_photo(offer, b"not a photo at all", "broken.jpg")
    leaking = stored_photo(offer, photo_with_everything("WEBP"), "old.webp")
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="1 photo"), django_capture_on_commit_callbacks(execute=True):
        call_command("strip_photo_metadata", stdout=out, stderr=err)
    assert f"photo {broken.id}: " in err.getvalue()
    assert out.getvalue().strip() == "Photos rebuilt without metadata: 1; already clean: 0; unreadable: 1."
    leaking.refresh_from_db()
    assert photo_metadata_found(leaking.image.open("rb").read()) == []
