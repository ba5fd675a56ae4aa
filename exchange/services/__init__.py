"""State changes of offers, by part: `offers` (create, edit, publish, withdraw, close), `photos`, and
`references` (what an offer may name, and the row locks). The statuses and the stock are
exchange.lifecycle's; the events exchange.events'. Callers import from here."""

from ..events import OfferEvent, offer_events_record
from ..lifecycle import offer_publish_apply, offer_withdraw_apply, offers_expire_due
from .offers import (
    offer_changes_apply,
    offer_close,
    offer_create,
    offer_new,
    offer_publish,
    offer_update,
    offer_withdraw,
)
from .photos import offer_photo_add, offer_photo_delete, offer_photo_strip_metadata
from .references import (
    OfferReferences,
    category_resolve,
    offer_lock_owned,
    offer_references_load,
    offers_live_lock,
)

__all__ = [
    "OfferEvent",
    "OfferReferences",
    "category_resolve",
    "offer_changes_apply",
    "offer_close",
    "offer_create",
    "offer_events_record",
    "offer_lock_owned",
    "offer_new",
    "offer_photo_add",
    "offer_photo_delete",
    "offer_photo_strip_metadata",
    "offer_publish",
    "offer_publish_apply",
    "offer_references_load",
    "offer_update",
    "offer_withdraw",
    "offer_withdraw_apply",
    "offers_expire_due",
    "offers_live_lock",
]
