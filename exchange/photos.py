"""Checking an uploaded photo: its size, and its type as Pillow reads it from the bytes themselves (the
file name and the client's content type are not trusted)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from django.conf import settings
from django.core.files import File
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from core.errors import InvalidInput

# Pillow format → (content type served back, file extension stored).
ALLOWED_FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
# Far beyond any phone camera; refuses decompression bombs (a few KB that decode to gigapixels).
MAX_PIXELS = 60_000_000


class PhotoRejected(InvalidInput):
    """The upload is not an acceptable photo. `reason`: too_large, not_an_image or unsupported_type (the
    HTTP layer answers 413, 400 and 415 respectively)."""

    def __init__(self, message: str, *, reason: str, **kwargs):
        super().__init__(message, field_errors={"image": [message]}, **kwargs)
        self.reason = reason


@dataclass(frozen=True)
class PhotoInfo:
    content_type: str
    extension: str
    size_bytes: int


def photo_inspect(upload: File) -> PhotoInfo:
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
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(upload) as image:
                image_format = image.format
                width, height = image.size
                image.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PhotoRejected(
            _("The photo has too many pixels."), reason="too_large", code="photo_too_large"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise PhotoRejected(
            _("This file is not an image Boucle can read."), reason="not_an_image", code="not_an_image"
        ) from None
    finally:
        upload.seek(0)
    if image_format not in ALLOWED_FORMATS:
        raise PhotoRejected(
            _("Photos must be JPEG, PNG or WebP."),
            reason="unsupported_type",
            code="unsupported_image_type",
            extra={"detected_format": image_format},
        )
    if width * height > MAX_PIXELS:
        raise PhotoRejected(_("The photo has too many pixels."), reason="too_large", code="photo_too_large")
    content_type, extension = ALLOWED_FORMATS[image_format]
    return PhotoInfo(content_type=content_type, extension=extension, size_bytes=upload.size)
