"""manage.py strip_photo_metadata — rebuild the offer photos stored before uploads were cleaned.

Since exchange.photos, every uploaded photo is stored re-encoded without metadata (no GPS position, no
Artist, no XMP…). Photos stored earlier are kept as uploaded; this rebuilds them the same way, keeping
their ids and URLs. Safe to run at any time and any number of times: a photo without metadata is left
untouched, so a second run rebuilds nothing."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from exchange.models import OfferPhoto
from exchange.photos import PhotoRejected
from exchange.services import offer_photo_strip_metadata


class Command(BaseCommand):
    help = "Re-encode stored offer photos that still carry metadata (EXIF, GPS, XMP…); idempotent."

    def handle(self, *args, **options):
        rebuilt = clean = failed = 0
        for photo_id in OfferPhoto.objects.order_by("pk").values_list("pk", flat=True).iterator():
            try:
                changed = offer_photo_strip_metadata(photo_id=photo_id)
            except (PhotoRejected, OSError) as error:
                # An unreadable or missing file is reported, not fatal: the others still get cleaned.
                failed += 1
                self.stderr.write(f"photo {photo_id}: {getattr(error, 'message', error)}")
                continue
            if changed:
                rebuilt += 1
            else:
                clean += 1
        self.stdout.write(
            f"Photos rebuilt without metadata: {rebuilt}; already clean: {clean}; unreadable: {failed}."
        )
        if failed:
            raise CommandError(f"{failed} photo(s) could not be read; remove them or replace their files.")
