"""State changes of offers. One function per change, in a transaction, each recording a domain event;
called alike by the API, the admin, commands, the demo and tasks."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.files import File
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, PreconditionFailed
from core.events import PendingEvent, event_record, events_record
from inventory.models import Category, Unit
from inventory.plausibility import mass_per_unit_check, quantity_check
from organisations.actors import Actor
from organisations.models import Organisation, OrganisationKind, Site

from .models import LIVE_STATUSES, Offer, OfferCondition, OfferMode, OfferPhoto, OfferStatus
from .photos import photo_clean, photo_metadata_found, photo_rebuild
from .rules import (
    EDITABLE_FIELDS,
    EDITABLE_STATUSES,
    FROZEN_AFTER_PUBLISH,
    MAX_PHOTOS_PER_OFFER,
    implied_mass_per_unit_kg,
    status_after_quantity_change,
)
from .selectors import offer_version

OFFERING_KINDS = (OrganisationKind.COMPANY, OrganisationKind.PUBLIC_AUTHORITY)
QUANTUM = Decimal("0.001")


@dataclass(frozen=True)
class OfferEvent:
    """A change of an offer as it happened (its payload says the status it left), recorded once the
    offer is saved: a new offer has its id only then."""

    offer: Offer
    name: str
    payload: dict[str, Any]


def _change(offer: Offer, name: str, **payload: Any) -> OfferEvent:
    return OfferEvent(offer, name, {"status": offer.status, **payload})


def _pending(event: OfferEvent, actor_label: str) -> PendingEvent:
    return PendingEvent(
        name=event.name,
        aggregate_type="offer",
        aggregate_id=event.offer.pk,
        actor=actor_label,
        organisation_id=event.offer.organisation_id,
        payload=event.payload,
    )


def _record_change(event: OfferEvent, actor_label: str) -> None:
    pending = _pending(event, actor_label)
    event_record(
        name=pending.name,
        aggregate_type=pending.aggregate_type,
        aggregate_id=pending.aggregate_id,
        actor=pending.actor,
        organisation_id=pending.organisation_id,
        payload=pending.payload,
    )


def offer_events_record(events: Sequence[OfferEvent], *, actor_label: str) -> None:
    """Record the changes of many saved offers in one insert, in the order given: the same rows as the
    one-offer services record for each in turn (exchange.bulk)."""
    events_record([_pending(event, actor_label) for event in events])


def _record(offer: Offer, name: str, actor_label: str, **payload: Any) -> None:
    _record_change(_change(offer, name, **payload), actor_label)


def _decimal_text(value: Decimal) -> str:
    return str(value.quantize(QUANTUM))


def _pk(ref: int | Site | Category) -> int:
    return ref.pk if isinstance(ref, Site | Category) else ref


@dataclass(frozen=True)
class OfferReferences:
    """What offers may name, loaded once for one offer or a whole batch: the active sites of the
    offering organisation and the active categories (new offers cannot use a retired one). Anything
    else reads as absent."""

    sites: Mapping[int, Site]
    categories: Mapping[int, Category]

    def site(self, ref: int | Site) -> Site | None:
        return self.sites.get(_pk(ref))

    def category(self, ref: int | Category) -> Category | None:
        return self.categories.get(_pk(ref))


def offer_references_load(
    *,
    organisation_id: int | None,
    sites: Iterable[int | Site] = (),
    categories: Iterable[int | Category] = (),
) -> OfferReferences:
    """At most two queries, whatever the number of offers; none for what is not asked."""
    site_ids = {_pk(ref) for ref in sites}
    category_ids = {_pk(ref) for ref in categories}
    found_sites = (
        Site.objects.filter(pk__in=site_ids, organisation_id=organisation_id, is_active=True)
        if site_ids
        else ()
    )
    found_categories = Category.objects.filter(pk__in=category_ids, is_active=True) if category_ids else ()
    return OfferReferences(
        sites={site.pk: site for site in found_sites},
        categories={category.pk: category for category in found_categories},
    )


def category_resolve(ref: int | Category) -> Category | None:
    """An active category (new offers cannot use a retired one)."""
    return offer_references_load(organisation_id=None, categories=[ref]).category(ref)


def _require_offering_organisation(organisation: Organisation) -> None:
    if organisation.kind not in OFFERING_KINDS:
        raise PermissionDenied(
            _("Only companies and public authorities post offers; associations and projects claim them."),
            code="organisation_kind_cannot_offer",
        )


def _require_verified(organisation: Organisation) -> None:
    if not organisation.is_verified:
        raise PermissionDenied(
            _("Your organisation must be verified by the operator before it publishes offers."),
            code="organisation_not_verified",
        )


def _validate(offer: Offer, *, now: dt.datetime, declared_mass: bool) -> None:
    """Business rules on the offer as it would be saved; every broken rule is reported at once, by field.
    `declared_mass` says whether the caller sent mass_per_unit_kg (it must then agree with kg and t)."""
    errors: dict[str, list[str]] = {}
    if offer.unit not in Unit.values:
        errors["unit"] = [_("Unknown unit.")]
    elif offer.quantity is None:
        errors["quantity"] = [_("The quantity must be greater than zero.")]
    else:
        try:
            quantity_check(offer.quantity, offer.unit)
        except InvalidInput as refusal:
            errors.update(refusal.field_errors)
    if offer.condition not in OfferCondition.values:
        errors["condition"] = [_("Unknown condition.")]
    implied = implied_mass_per_unit_kg(offer.unit)
    if implied is not None:
        if declared_mass and offer.mass_per_unit_kg is not None and offer.mass_per_unit_kg != implied:
            errors["mass_per_unit_kg"] = [
                _("A unit of %(unit)s weighs %(mass)s kg; leave this out or send that value.")
                % {"unit": offer.unit, "mass": implied}
            ]
    elif offer.mass_per_unit_kg is not None and offer.mass_per_unit_kg <= 0:
        errors["mass_per_unit_kg"] = [_("The mass per unit must be greater than zero.")]
    elif offer.mass_per_unit_kg is not None and offer.unit in Unit.values:
        implausible = mass_per_unit_check(offer.category, offer.unit, offer.mass_per_unit_kg)
        if implausible:
            errors["mass_per_unit_kg"] = [implausible]
    if offer.mode not in OfferMode.values:
        errors["mode"] = [_("Unknown mode.")]
    elif offer.mode == OfferMode.SALE and offer.price_eur is None:
        errors["price_eur"] = [_("A price is required for a sale.")]
    elif offer.mode != OfferMode.SALE and offer.price_eur is not None:
        errors["price_eur"] = [_("Only a sale has a price; remove it or set mode to sale.")]
    elif offer.price_eur is not None and offer.price_eur < 0:
        errors["price_eur"] = [_("The price cannot be negative.")]
    if offer.available_until is not None:
        if offer.available_until <= offer.available_from:
            errors["available_until"] = [_("The end of availability must come after its start.")]
        elif offer.status in (OfferStatus.PUBLISHED, OfferStatus.EXHAUSTED) and offer.available_until <= now:
            errors["available_until"] = [_("A published offer must stay available into the future.")]
    if not (offer.title or "").strip():
        errors["title"] = [_("A title is required.")]
    if errors:
        raise InvalidInput(_("The offer has invalid fields."), code="validation_error", field_errors=errors)


def _save_with_external_ref(offer: Offer, **save_kwargs: Any) -> None:
    """Save; a duplicate external reference is a 409 that names the offer holding it, even when a
    concurrent request took it between our check and our write. Only live offers hold their reference
    (LIVE_STATUSES): an ended one keeps it as history and does not stand in the way."""
    if offer.external_ref and offer.status in LIVE_STATUSES:
        existing = _live_holder_of_ref(offer)
        if existing is not None:
            _raise_external_ref_taken(offer.external_ref, existing)
    try:
        with transaction.atomic():
            offer.save(**save_kwargs)
    except IntegrityError as exc:
        if "offer_external_ref_unique" not in str(exc):
            raise
        _raise_external_ref_taken(offer.external_ref, _live_holder_of_ref(offer))


def _live_holder_of_ref(offer: Offer) -> int | None:
    """The other live offer of the organisation holding the offer's external reference."""
    return (
        Offer.objects.filter(
            organisation_id=offer.organisation_id, external_ref=offer.external_ref, status__in=LIVE_STATUSES
        )
        .exclude(pk=offer.pk)
        .values_list("pk", flat=True)
        .first()
    )


def _raise_external_ref_taken(external_ref: str, offer_id: int | None) -> None:
    raise Conflict(
        _("Your organisation already has an offer with this external reference."),
        code="external_ref_taken",
        extra={"external_ref": external_ref, "offer_id": offer_id},
    )


def _lock_owned(actor: Actor, offer: Offer | int) -> Offer:
    """Reload the offer under a row lock, for a member (or key) of the organisation that offers it, or
    the operator (moderation, commands). Others read it as absent."""
    pk = offer.pk if isinstance(offer, Offer) else offer
    locked = (
        Offer.objects.select_for_update(of=("self",))
        .select_related("organisation", "category", "site")
        .filter(pk=pk)
        .first()
    )
    if locked is None or not (actor.is_member(locked.organisation_id) or actor.is_operator):
        raise NotFound(_("No such offer."))
    return locked


def offers_live_lock(*, organisation: Organisation, external_refs: Collection[str]) -> dict[str, Offer]:
    """The organisation's live offers holding these references (at most one each), with their site and
    category, locked in primary-key order as every lock of several offers is taken: what a batch
    changes (exchange.bulk), as _lock_owned is for one offer. The caller has checked that the actor
    acts for the organisation."""
    if not external_refs:
        return {}
    offers = list(
        Offer.objects.select_for_update()
        # Not read by a change: the search vector (a trigger's), the points (copied from the site).
        .defer("search_vector", "location", "public_location")
        .filter(organisation=organisation, external_ref__in=external_refs, status__in=LIVE_STATUSES)
        .order_by("pk")
    )
    # Few sites and categories for many offers: each read once, shared.
    sites = Site.objects.in_bulk({offer.site_id for offer in offers})
    categories = Category.objects.in_bulk({offer.category_id for offer in offers})
    live = {}
    for offer in offers:
        offer.organisation, offer.site, offer.category = (
            organisation,
            sites[offer.site_id],
            categories[offer.category_id],
        )
        live[offer.external_ref] = offer
    return live


def _require_status(offer: Offer, allowed: tuple[str, ...], refusal: str) -> None:
    """`refusal` is a whole translated sentence around %(status)s: a verb slotted into one shared
    sentence cannot agree with its noun in French."""
    if offer.status not in allowed:
        raise Conflict(
            refusal % {"status": OfferStatus(offer.status).label},
            code="offer_status_conflict",
            extra={"offer_status": offer.status},
        )


@transaction.atomic
def offer_create(
    *,
    actor: Actor,
    organisation_id: int | None = None,
    site: int | Site,
    category: int | Category,
    title: str,
    quantity: Decimal,
    unit: str,
    condition: str,
    description: str = "",
    mass_per_unit_kg: Decimal | None = None,
    mode: str = OfferMode.DONATION,
    price_eur: Decimal | None = None,
    available_from: dt.datetime | None = None,
    available_until: dt.datetime | None = None,
    pickup_instructions: str = "",
    external_ref: str = "",
    auto_accept_claims: bool = False,
    publish: bool = False,
) -> Offer:
    """A new offer (a draft; published at once when `publish` is set and the organisation is verified)."""
    actor.require_write()
    organisation = actor.acting_organisation(organisation_id)
    _require_offering_organisation(organisation)
    now = timezone.now()
    offer, created = offer_new(
        organisation=organisation,
        references=offer_references_load(
            organisation_id=organisation.pk, sites=[site], categories=[category]
        ),
        now=now,
        site=site,
        category=category,
        title=title,
        description=description,
        quantity=quantity,
        unit=unit,
        mass_per_unit_kg=mass_per_unit_kg,
        condition=condition,
        mode=mode,
        price_eur=price_eur,
        available_from=available_from,
        available_until=available_until,
        pickup_instructions=pickup_instructions,
        external_ref=external_ref,
        auto_accept_claims=auto_accept_claims,
    )
    _save_with_external_ref(offer)
    _record_change(created, actor.label)
    if publish:
        return _publish(offer, actor.label, now)
    return offer


def offer_new(
    *,
    organisation: Organisation,
    references: OfferReferences,
    now: dt.datetime,
    site: int | Site,
    category: int | Category,
    title: str,
    quantity: Decimal,
    unit: str,
    condition: str,
    description: str = "",
    mass_per_unit_kg: Decimal | None = None,
    mode: str = OfferMode.DONATION,
    price_eur: Decimal | None = None,
    available_from: dt.datetime | None = None,
    available_until: dt.datetime | None = None,
    pickup_instructions: str = "",
    external_ref: str = "",
    auto_accept_claims: bool = False,
) -> tuple[Offer, OfferEvent]:
    """The draft offer_create saves, checked as it checks it, and its `offer.created`; nothing is read
    nor written (the site and category are looked up in `references`). Raises InvalidInput."""
    errors: dict[str, list[str]] = {}
    site_obj = references.site(site)
    if site_obj is None:
        errors["site"] = [_("No such active site in your organisation.")]
    category_obj = references.category(category)
    if category_obj is None:
        errors["category"] = [_("No such category.")]
    if errors:
        raise InvalidInput(_("The offer has invalid fields."), code="validation_error", field_errors=errors)
    offer = Offer(
        organisation=organisation,
        site=site_obj,
        category=category_obj,
        title=title,
        description=description,
        quantity=quantity,
        remaining_quantity=quantity,
        unit=unit,
        mass_per_unit_kg=mass_per_unit_kg,
        condition=condition,
        mode=mode,
        price_eur=price_eur,
        available_from=available_from or now,
        available_until=available_until,
        pickup_instructions=pickup_instructions,
        external_ref=external_ref,
        auto_accept_claims=auto_accept_claims,
        status=OfferStatus.DRAFT,
        location=site_obj.location,
        public_location=site_obj.public_location,
    )
    _validate(offer, now=now, declared_mass=mass_per_unit_kg is not None)
    offer.mass_per_unit_kg = implied_mass_per_unit_kg(unit) or mass_per_unit_kg
    return offer, _change(offer, "offer.created")


@transaction.atomic
def offer_update(
    *, actor: Actor, offer: Offer | int, expected_versions: Collection[str] | None = None, **changes: Any
) -> Offer:
    """Change the fields given (others stay). Site, category, unit and mode are fixed once published.
    The quantity may not drop below what accepted claims already reserved (409 with reserved_quantity);
    the row lock makes that check and the write one step with respect to claims. `expected_versions`:
    change nothing (PreconditionFailed) unless the locked row's `offer_version` is one of them."""
    actor.require_write()
    offer = _lock_owned(actor, offer)
    if expected_versions is not None and offer_version(offer) not in expected_versions:
        raise PreconditionFailed(_("The offer has changed since you read it: read it again, then retry."))
    references = offer_references_load(
        organisation_id=offer.organisation_id,
        sites=[changes["site"]] if "site" in changes else [],
        categories=[changes["category"]] if "category" in changes else [],
    )
    updated = offer_changes_apply(offer, changes, references=references, now=timezone.now())
    if updated is None:
        return offer
    _save_with_external_ref(offer)
    _record_change(updated, actor.label)
    return offer


def offer_changes_apply(
    offer: Offer, changes: Mapping[str, Any], *, references: OfferReferences, now: dt.datetime
) -> OfferEvent | None:
    """What offer_update does to the locked offer, in memory: every rule of an edit checked (status,
    site and category looked up in `references`, fields frozen once published, the fields' own rules,
    the quantity against what claims hold), the offer changed, and its `offer.updated`; None when
    nothing differs. Nothing is read nor written. Raises InvalidInput or Conflict; the offer may then
    be half-changed, so the caller drops it."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"offer_update() got unexpected fields {sorted(unknown)!r}")
    _require_status(offer, EDITABLE_STATUSES, _("The offer's status is %(status)s: it cannot be edited."))
    changes = dict(changes)
    before = {name: getattr(offer, name) for name in EDITABLE_FIELDS if name not in ("site", "category")}
    before["site"] = offer.site_id
    before["category"] = offer.category_id

    errors: dict[str, list[str]] = {}
    if "site" in changes:
        site = references.site(changes.pop("site"))
        if site is None:
            errors["site"] = [_("No such active site in your organisation.")]
        elif site.pk != offer.site_id:
            offer.site, offer.location, offer.public_location = site, site.location, site.public_location
    if "category" in changes:
        category = references.category(changes.pop("category"))
        if category is None:
            errors["category"] = [_("No such category.")]
        else:
            offer.category = category
    if errors:
        raise InvalidInput(_("The offer has invalid fields."), code="validation_error", field_errors=errors)
    for name, value in changes.items():
        setattr(offer, name, value)
    if offer.status != OfferStatus.DRAFT:
        frozen = {
            name: [_("This cannot change once the offer is published.")]
            for name in FROZEN_AFTER_PUBLISH
            if (getattr(offer, f"{name}_id", None) if name in ("site", "category") else getattr(offer, name))
            != before[name]
        }
        if frozen:
            raise InvalidInput(
                _("The offer has invalid fields."), code="validation_error", field_errors=frozen
            )

    declared_mass = changes.get("mass_per_unit_kg") is not None
    implied = implied_mass_per_unit_kg(offer.unit)
    if implied is None and before["unit"] != offer.unit and implied_mass_per_unit_kg(before["unit"]):
        # Leaving kg/t: the implied mass no longer means anything unless a new one was sent.
        offer.mass_per_unit_kg = changes.get("mass_per_unit_kg")
    _validate(offer, now=now, declared_mass=declared_mass)
    if implied is not None:
        offer.mass_per_unit_kg = implied

    if offer.quantity != before["quantity"]:
        held = offer.reserved_quantity + offer.collected_quantity
        if offer.quantity < held:
            raise Conflict(
                _("Accepted claims and handovers already account for more than this quantity."),
                code="quantity_below_reserved",
                extra={
                    "reserved_quantity": _decimal_text(offer.reserved_quantity),
                    "collected_quantity": _decimal_text(offer.collected_quantity),
                },
            )
        offer.remaining_quantity = offer.quantity - held
        offer.status = status_after_quantity_change(offer)

    changed = sorted(
        name
        for name in EDITABLE_FIELDS
        if (getattr(offer, f"{name}_id") if name in ("site", "category") else getattr(offer, name))
        != before[name]
    )
    return _change(offer, "offer.updated", fields=changed) if changed else None


def _publish(offer: Offer, actor_label: str, now: dt.datetime) -> Offer:
    published = offer_publish_apply(offer, now=now)
    offer.save(update_fields=["status", "published_at", "updated_at"])
    _record_change(published, actor_label)
    return offer


def offer_publish_apply(offer: Offer, *, now: dt.datetime) -> OfferEvent:
    """Publish a draft in memory, its rules checked (the organisation may offer and is verified, the
    site is active, the window is not over), and its `offer.published`. Raises PermissionDenied or
    Conflict."""
    _require_offering_organisation(offer.organisation)
    _require_verified(offer.organisation)
    if not offer.site.is_active:
        raise Conflict(_("This offer's site has been retired; move the offer first."), code="site_retired")
    if offer.available_until is not None and offer.available_until <= now:
        raise Conflict(
            _("The availability window of this offer is over; extend it before publishing."),
            code="offer_window_over",
        )
    offer.status = OfferStatus.PUBLISHED
    offer.published_at = now
    return _change(offer, "offer.published", category_id=offer.category_id, site_id=offer.site_id)


@transaction.atomic
def offer_publish(*, actor: Actor, offer: Offer | int) -> Offer:
    actor.require_write()
    offer = _lock_owned(actor, offer)
    _require_status(
        offer, (OfferStatus.DRAFT,), _("The offer's status is %(status)s: it cannot be published.")
    )
    return _publish(offer, actor.label, timezone.now())


@transaction.atomic
def offer_withdraw(*, actor: Actor, offer: Offer | int) -> Offer:
    """The firm takes back a draft or a published offer no accepted claim holds part of (what was
    already collected stays collected). The operator may withdraw any offer (moderation)."""
    actor.require_write()
    offer = _lock_owned(actor, offer)
    withdrawn = offer_withdraw_apply(offer, now=timezone.now())
    offer.save(update_fields=["status", "closed_at", "updated_at"])
    _record_change(withdrawn, actor.label)
    return offer


def offer_withdraw_apply(offer: Offer, *, now: dt.datetime) -> OfferEvent:
    """Withdraw the locked offer in memory, its rules checked, and its `offer.withdrawn`. Raises
    Conflict."""
    _require_status(
        offer,
        (OfferStatus.DRAFT, OfferStatus.PUBLISHED),
        _("The offer's status is %(status)s: it cannot be withdrawn."),
    )
    if offer.reserved_quantity:
        raise Conflict(
            _("Accepted claims hold part of this offer: close it instead, so they can still be collected."),
            code="offer_has_reservations",
            extra={"reserved_quantity": _decimal_text(offer.reserved_quantity)},
        )
    offer.status = OfferStatus.WITHDRAWN
    offer.closed_at = now
    return _change(offer, "offer.withdrawn")


@transaction.atomic
def offer_close(*, actor: Actor, offer: Offer | int) -> Offer:
    """No new claims; claims already accepted may still be collected."""
    actor.require_write()
    offer = _lock_owned(actor, offer)
    _require_status(
        offer,
        (OfferStatus.PUBLISHED, OfferStatus.EXHAUSTED),
        _("The offer's status is %(status)s: it cannot be closed."),
    )
    offer.status = OfferStatus.CLOSED
    offer.closed_at = timezone.now()
    offer.save(update_fields=["status", "closed_at", "updated_at"])
    _record(offer, "offer.closed", actor.label)
    return offer


def offers_expire_due(*, now: dt.datetime | None = None, batch_size: int = 500) -> int:
    """Published offers whose availability ended become expired; returns how many. Safe to run twice or
    concurrently: each batch locks its rows (skipping rows another run holds) and re-checks the status."""
    now = now or timezone.now()
    expired = 0
    while True:
        with transaction.atomic():
            offers = list(
                Offer.objects.select_for_update(skip_locked=True)
                .filter(status=OfferStatus.PUBLISHED, available_until__lte=now)
                .order_by("pk")
                .only("pk", "organisation_id", "status")[:batch_size]
            )
            if not offers:
                return expired
            Offer.objects.filter(pk__in=[o.pk for o in offers]).update(
                status=OfferStatus.EXPIRED, updated_at=timezone.now()
            )
            for offer in offers:
                offer.status = OfferStatus.EXPIRED
                _record(offer, "offer.expired", "system")
            expired += len(offers)


@transaction.atomic
def offer_photo_add(*, actor: Actor, offer: Offer | int, image: File) -> OfferPhoto:
    """Store a JPEG, PNG or WebP photo (type read from the bytes), rebuilt without its metadata (its GPS
    position above all: exchange.photos). At most MAX_PHOTOS_PER_OFFER: the offer's row lock serialises
    concurrent uploads, so the count cannot be overtaken. The image is decoded before the lock is taken."""
    actor.require_write()
    clean = photo_clean(image)
    offer = _lock_owned(actor, offer)
    _require_status(
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
    stored = photo.image.name
    # The file is written before the row: remove it again if the row cannot be written.
    try:
        photo.save()
    except Exception:
        photo.image.storage.delete(stored)
        raise
    offer.save(update_fields=["updated_at"])
    _record(offer, "offer.updated", actor.label, fields=["photos"], photo_added=photo.pk)
    return photo


@transaction.atomic
def offer_photo_delete(*, actor: Actor, offer: Offer | int, photo_id: int) -> None:
    """Allowed in every status: a donor may always take a picture down. The file goes once committed."""
    actor.require_write()
    offer = _lock_owned(actor, offer)
    photo = offer.photos.filter(pk=photo_id).first()
    if photo is None:
        raise NotFound(_("No such photo."))
    storage, name = photo.image.storage, photo.image.name
    photo.delete()
    transaction.on_commit(lambda: storage.delete(name))
    offer.save(update_fields=["updated_at"])
    _record(offer, "offer.updated", actor.label, fields=["photos"], photo_removed=photo_id)


def offer_photo_strip_metadata(*, photo_id: int) -> bool:
    """Rebuild a photo stored before uploads were cleaned (exchange.photos), keeping its id and URL: a
    new file, the row pointed at it, the old file removed once committed. False when the photo is gone
    or has nothing to strip, so running it again changes nothing. No lock is held while decoding: the
    row is switched only if it still names the file that was read. Raises PhotoRejected when the stored
    file cannot be read as a photo."""
    photo = OfferPhoto.objects.filter(pk=photo_id).first()
    if photo is None:
        return False
    storage, old_name = photo.image.storage, photo.image.name
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
