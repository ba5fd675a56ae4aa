"""Uploaded photos: checked, then rebuilt from their pixels alone.

A phone photo carries the exact place it was taken (EXIF GPS), often the owner's name or phone number
(Artist, XMP, IPTC), comments and thumbnails. Served as uploaded, it would undo the approximate public
location of the offer's site. So every accepted photo is decoded by Pillow and encoded anew with
nothing but its pixels:

- the EXIF orientation is applied first, so the picture stays upright without its EXIF;
- colours described by an embedded ICC profile are converted to sRGB, then the profile is dropped;
- no EXIF, GPS, XMP, IPTC, ICC profile, comment or PNG text chunk is written;
- an image of several frames (animated PNG or WebP; MPO, the JPEG variant cameras write with a depth
  or HDR map) keeps its first frame only, the one viewers without animation support show: a still of
  the lot is what an offer needs, and refusing would turn away ordinary phone JPEGs (MPO).

The type is read from the bytes themselves (the file name and the client's content type are not
trusted), and the format is kept: JPEG stays JPEG (quality 85), PNG stays PNG, WebP stays WebP
(quality 85).
"""

from __future__ import annotations

import contextlib
import io
import struct
import warnings
from dataclasses import dataclass

from django.conf import settings
from django.core.files import File
from django.utils.translation import gettext as _
from PIL import Image, ImageCms, ImageOps

from core.errors import InvalidInput

# Pillow's name for what the bytes are → the format stored (MPO is a JPEG with extra pictures after it).
ACCEPTED_FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WEBP"}
# Stored format → (content type served back, file extension, encoder options).
STORED_FORMATS = {
    "JPEG": ("image/jpeg", "jpg", {"quality": 85, "optimize": True}),
    "PNG": ("image/png", "png", {}),
    "WEBP": ("image/webp", "webp", {"quality": 85, "method": 4}),
}
# Far beyond any phone camera; refuses decompression bombs (a few KB that decode to gigapixels) before a
# pixel is decoded.
MAX_PIXELS = 60_000_000
# What Pillow reports of a file it encoded itself: container facts, nothing about the picture's origin.
_NEUTRAL_INFO = {
    "jfif",
    "jfif_version",
    "jfif_unit",
    "jfif_density",
    "dpi",
    "progressive",
    "progression",
    "transparency",
    "background",
    "duration",
    "loop",
    "timestamp",
}
# What a malformed file makes Pillow raise while decoding it.
_UNREADABLE = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)


class PhotoRejected(InvalidInput):
    """The upload is not an acceptable photo. `reason`: too_large, not_an_image or unsupported_type (the
    HTTP layer answers 413, 400 and 415 respectively)."""

    def __init__(self, message: str, *, reason: str, **kwargs):
        super().__init__(message, field_errors={"image": [message]}, **kwargs)
        self.reason = reason


@dataclass(frozen=True)
class CleanPhoto:
    """A photo rebuilt from its pixels: `content` is what gets stored and served."""

    content: bytes
    content_type: str
    extension: str
    width: int
    height: int


def _too_many_pixels() -> PhotoRejected:
    return PhotoRejected(_("The photo has too many pixels."), reason="too_large", code="photo_too_large")


def _not_an_image() -> PhotoRejected:
    return PhotoRejected(
        _("This file is not an image Boucle can read."), reason="not_an_image", code="not_an_image"
    )


def _open(data: bytes) -> Image.Image:
    """The image, its header read and its size checked, no pixel decoded yet."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels() from None
    except _UNREADABLE:
        raise _not_an_image() from None
    if image.format not in ACCEPTED_FORMATS:
        image.close()
        raise PhotoRejected(
            _("Photos must be JPEG, PNG or WebP."),
            reason="unsupported_type",
            code="unsupported_image_type",
            extra={"detected_format": image.format},
        )
    width, height = image.size
    if width * height > MAX_PIXELS:
        image.close()
        raise _too_many_pixels()
    return image


def _to_srgb(image: Image.Image, mode: str) -> Image.Image:
    """`image` in `mode`, its colours converted from its ICC profile to sRGB when it has one."""
    icc_profile = image.info.get("icc_profile")
    if icc_profile and image.mode in ("RGB", "RGBA", "CMYK"):
        # With a broken profile, the pixels as they are are the best guess.
        with contextlib.suppress(ImageCms.PyCMSError, OSError, ValueError):
            converted = ImageCms.profileToProfile(
                image,
                ImageCms.ImageCmsProfile(io.BytesIO(icc_profile)),
                ImageCms.createProfile("sRGB"),
                outputMode="RGBA" if image.mode == "RGBA" else "RGB",
            )
            if converted is not None:  # None only when converting in place, which this does not ask
                image = converted
    return image if image.mode == mode else image.convert(mode)


def _output_mode(image: Image.Image, stored_format: str) -> str:
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if stored_format == "JPEG":
        return "L" if image.mode in ("1", "L") else "RGB"
    if has_alpha:
        return "LA" if stored_format == "PNG" and image.mode in ("L", "LA", "La") else "RGBA"
    if stored_format == "PNG" and image.mode in ("1", "L", "I", "I;16"):
        return image.mode
    return "RGB"


def photo_rebuild(data: bytes) -> CleanPhoto:
    """The photo in `data` encoded anew from its first frame's pixels, upright, in sRGB, without any
    metadata. Raises PhotoRejected for what is not a readable JPEG, PNG or WebP of at most MAX_PIXELS."""
    with _open(data) as image:
        assert image.format is not None  # _open refused any image of another (or no) format
        stored_format = ACCEPTED_FORMATS[image.format]
        try:
            image.verify()  # a whole file, right checksums (PNG); decoding finds what else is broken
        except _UNREADABLE:
            raise _not_an_image() from None
    content_type, extension, options = STORED_FORMATS[stored_format]
    try:
        with Image.open(io.BytesIO(data)) as image:  # verify() leaves an image unusable: read it again
            image.seek(0)
            image.load()
            upright = ImageOps.exif_transpose(image)
            pixels = _to_srgb(upright, _output_mode(upright, stored_format))
            pixels.info = {}  # encoders fall back on it (a JPEG comment, a PNG ICC profile)
            out = io.BytesIO()
            pixels.save(out, format=stored_format, **options)
    except _UNREADABLE:
        raise _not_an_image() from None
    return CleanPhoto(
        content=out.getvalue(),
        content_type=content_type,
        extension=extension,
        width=pixels.width,
        height=pixels.height,
    )


def photo_clean(upload: File) -> CleanPhoto:
    """An uploaded photo, checked for size then rebuilt (photo_rebuild)."""
    max_bytes = settings.BOUCLE_MAX_PHOTO_BYTES
    if upload.size > max_bytes:
        raise PhotoRejected(
            _("The photo is larger than %(max)s bytes.") % {"max": max_bytes},
            reason="too_large",
            code="photo_too_large",
            extra={"max_bytes": max_bytes},
        )
    upload.seek(0)
    try:
        return photo_rebuild(upload.read())
    finally:
        upload.seek(0)


def photo_metadata_found(data: bytes) -> list[str]:
    """What in the image file `data` is more than its pixels: EXIF tags, info entries (XMP, ICC profile,
    comment, PNG text…), JPEG application segments other than JFIF, PNG private chunks, extra frames.
    Empty for what photo_rebuild writes; photos stored before it existed are told apart this way. Raises
    PhotoRejected as photo_rebuild does."""
    with _open(data) as image:
        try:
            image.load()  # PNG text after the pixels is read with them
            exif = image.getexif()
        except _UNREADABLE:
            raise _not_an_image() from None
        found = [f"exif:{tag}" for tag in exif]
        found += sorted(str(key) for key in image.info if key not in _NEUTRAL_INFO)
        found += [
            marker
            for marker, content in getattr(image, "applist", [])
            if not (marker == "APP0" and content.startswith(b"JFIF\0"))
        ]
        found += [f"chunk:{chunk[0].decode('latin-1')}" for chunk in getattr(image, "private_chunks", [])]
        if getattr(image, "n_frames", 1) > 1:
            found.append("frames")
    return found
