"""State changes of an offer's photos: add (cleaned of their metadata first, exchange.photos), remove,
and strip a photo stored before uploads were cleaned."""

from __future__ import annotations

import uuid

from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext as _

from core.errors import Conflict, NotFound
from organisations.actors import Actor

from ..events import offer_record
from ..lifecycle import require_status
from ..models import Offer, OfferPhoto
from ..photos import photo_clean, photo_metadata_found, photo_rebuild
from ..rules import EDITABLE_STATUSES, MAX_PHOTOS_PER_OFFER
from .references import offer_lock_owned


def _stored_name(photo: OfferPhoto) -> str:
    """The photo's file name in storage: every saved photo has one."""
    name = photo.image.name
    if not name:
        raise ValueError(f"Photo {photo.pk} has no stored file.")
    return name


@transaction.atomic
def offer_photo_add(*, actor: Actor, offer: Offer | int, image: File) -> OfferPhoto:
    """Store a JPEG, PNG or WebP photo (type read from the bytes), rebuilt without its metadata (its GPS
    position above all: exchange.photos). At most MAX_PHOTOS_PER_OFFER: the offer's row lock serialises
    concurrent uploads, so the count cannot be overtaken. The image is decoded before the lock is taken."""
    actor.require_write()
    clean = photo_clean(image)
    offer = offer_lock_owned(actor, offer)
    require_status(
        offer, EDITABLE_STATUSES, _("The offer's status is %(status)s: it cannot be given photos.")
    )
    photos = list(offer.photos.values_list("position", flat=True))
    if len(photos) >= MAX_PHOTOS_PER_OFFER:
        raise Conflict(
            _("An offer has at most %(max)s photos.") % {"max": MAX_PHOTOS_PER_OFFER},
            code="too_many_photos",
            extra={"max_photos": MAX_PHOTOS_PER_OFFER},
        )
    photo = OfferPhoto(
        offer=offer,
        content_type=clean.content_type,
        size_bytes=len(clean.content),
        position=max(photos, default=-1) + 1,
    )
    name = f"{uuid.uuid4().hex}.{clean.extension}"
    # Named, or ImageField takes it for no file and leaves width and height empty.
    photo.image.save(name, ContentFile(clean.content, name=name), save=False)
    stored = _stored_name(photo)
    # The file is written before the row: remove it again if the row cannot be written.
    try:
        photo.save()
    except Exception:
        photo.image.storage.delete(stored)
        raise
    offer.save(update_fields=["updated_at"])
    offer_record(offer, "offer.updated", actor.label, fields=["photos"], photo_added=photo.pk)
    return photo


@transaction.atomic
def offer_photo_delete(*, actor: Actor, offer: Offer | int, photo_id: int) -> None:
    """Allowed in every status: a donor may always take a picture down. The file goes once committed."""
    actor.require_write()
    offer = offer_lock_owned(actor, offer)
    photo = offer.photos.filter(pk=photo_id).first()
    if photo is None:
        raise NotFound(_("No such photo."))
    storage, name = photo.image.storage, _stored_name(photo)
    photo.delete()
    transaction.on_commit(lambda: storage.delete(name))
    offer.save(update_fields=["updated_at"])
    offer_record(offer, "offer.updated", actor.label, fields=["photos"], photo_removed=photo_id)


def offer_photo_strip_metadata(*, photo_id: int) -> bool:
    """Rebuild a photo stored before uploads were cleaned (exchange.photos), keeping its id and URL: a
    new file, the row pointed at it, the old file removed once committed. False when the photo is gone
    or has nothing to strip, so running it again changes nothing. No lock is held while decoding: the
    row is switched only if it still names the file that was read. Raises PhotoRejected when the stored
    file cannot be read as a photo."""
    photo = OfferPhoto.objects.filter(pk=photo_id).first()
    if photo is None:
        return False
    storage, old_name = photo.image.storage, _stored_name(photo)
    with storage.open(old_name, "rb") as stored:
        data = stored.read()
    if not photo_metadata_found(data):
        return False
    clean = photo_rebuild(data)
    new_name = storage.save(
        photo.image.field.generate_filename(photo, f"{uuid.uuid4().hex}.{clean.extension}"),
        ContentFile(clean.content),
    )
    with transaction.atomic():
        switched = OfferPhoto.objects.filter(pk=photo_id, image=old_name).update(
            image=new_name,
            content_type=clean.content_type,
            size_bytes=len(clean.content),
            width=clean.width,
            height=clean.height,
        )
        if switched:
            transaction.on_commit(lambda: storage.delete(old_name))
    if not switched:  # deleted or replaced meanwhile
        storage.delete(new_name)
    return bool(switched)
