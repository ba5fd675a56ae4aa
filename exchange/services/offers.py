"""State changes of offers: create, edit, publish, withdraw, close. One function per change, in a
transaction, each recording a domain event; called alike by the API, the admin, commands, the demo and
tasks. What each status allows is exchange.lifecycle's; the in-memory `*_apply` halves are shared with
the bulk path (exchange.bulk)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Conflict, InvalidInput, PreconditionFailed
from inventory.models import Category, Unit
from inventory.plausibility import mass_per_unit_check, quantity_check
from organisations.actors import Actor
from organisations.models import Organisation, Site

from ..events import OfferEvent, offer_change, offer_change_record
from ..lifecycle import (
    LIVE_STOCK_STATUSES,
    offer_close_apply,
    offer_publish_apply,
    offer_withdraw_apply,
    require_offering_organisation,
    require_status,
    status_after_quantity_change,
)
from ..models import LIVE_STATUSES, Offer, OfferCondition, OfferMode, OfferStatus
from ..rules import (
    EDITABLE_FIELDS,
    EDITABLE_STATUSES,
    FROZEN_AFTER_PUBLISH,
    VALUATION_FIELDS,
    implied_mass_per_unit_kg,
    quantity_text,
    valuation_errors,
)
from ..selectors import offer_version
from .references import OfferReferences, offer_lock_owned, offer_references_load


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
        elif offer.status in LIVE_STOCK_STATUSES and offer.available_until <= now:
            errors["available_until"] = [_("A published offer must stay available into the future.")]
    if not (offer.title or "").strip():
        errors["title"] = [_("A title is required.")]
    errors.update(valuation_errors(offer))
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
    unit_value_eur: Decimal | None = None,
    valuation_basis: str = "",
    near_use_by: bool = False,
    publish: bool = False,
) -> Offer:
    """A new offer (a draft; published at once when `publish` is set and the organisation is verified)."""
    actor.require_write()
    organisation = actor.acting_organisation(organisation_id)
    require_offering_organisation(organisation)
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
        unit_value_eur=unit_value_eur,
        valuation_basis=valuation_basis,
        near_use_by=near_use_by,
    )
    _save_with_external_ref(offer)
    offer_change_record(created, actor.label)
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
    unit_value_eur: Decimal | None = None,
    valuation_basis: str = "",
    near_use_by: bool = False,
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
    if site_obj is None or category_obj is None:
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
        unit_value_eur=unit_value_eur,
        valuation_basis=valuation_basis,
        near_use_by=near_use_by,
        status=OfferStatus.DRAFT,
        location=site_obj.location,
        public_location=site_obj.public_location,
    )
    _validate(offer, now=now, declared_mass=mass_per_unit_kg is not None)
    offer.mass_per_unit_kg = implied_mass_per_unit_kg(unit) or mass_per_unit_kg
    return offer, offer_change(offer, "offer.created")


@transaction.atomic
def offer_update(
    *, actor: Actor, offer: Offer | int, expected_versions: Collection[str] | None = None, **changes: Any
) -> Offer:
    """Change the fields given (others stay). Site, category, unit and mode are fixed once published.
    The quantity may not drop below what accepted claims already reserved (409 with reserved_quantity);
    the row lock makes that check and the write one step with respect to claims. `expected_versions`:
    change nothing (PreconditionFailed) unless the locked row's `offer_version` is one of them."""
    actor.require_write()
    offer = offer_lock_owned(actor, offer)
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
    offer_change_record(updated, actor.label)
    return offer


def offer_changes_apply(
    offer: Offer, changes: Mapping[str, Any], *, references: OfferReferences, now: dt.datetime
) -> OfferEvent | None:
    """What offer_update does to the locked offer, in memory: every rule of an edit checked (status,
    site and category looked up in `references`, fields frozen once published, the fields' own rules,
    the quantity against what claims hold), the offer changed, and its `offer.updated`; None when
    nothing differs. Nothing is read nor written. Raises InvalidInput or Conflict; the offer may then
    be half-changed, so the caller drops it."""
    fields = (*EDITABLE_FIELDS, *VALUATION_FIELDS)
    unknown = set(changes) - set(fields)
    if unknown:
        raise TypeError(f"offer_update() got unexpected fields {sorted(unknown)!r}")
    require_status(offer, EDITABLE_STATUSES, _("The offer's status is %(status)s: it cannot be edited."))
    changes = dict(changes)
    before = {name: getattr(offer, name) for name in fields if name not in ("site", "category")}
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
                    "reserved_quantity": quantity_text(offer.reserved_quantity),
                    "collected_quantity": quantity_text(offer.collected_quantity),
                },
            )
        offer.remaining_quantity = offer.quantity - held
        offer.status = status_after_quantity_change(offer)

    changed = sorted(
        name
        for name in fields
        if (getattr(offer, f"{name}_id") if name in ("site", "category") else getattr(offer, name))
        != before[name]
    )
    return offer_change(offer, "offer.updated", fields=changed) if changed else None


def _publish(offer: Offer, actor_label: str, now: dt.datetime) -> Offer:
    published = offer_publish_apply(offer, now=now)
    offer.save(update_fields=["status", "published_at", "updated_at"])
    offer_change_record(published, actor_label)
    return offer


@transaction.atomic
def offer_publish(*, actor: Actor, offer: Offer | int) -> Offer:
    actor.require_write()
    offer = offer_lock_owned(actor, offer)
    require_status(
        offer, (OfferStatus.DRAFT,), _("The offer's status is %(status)s: it cannot be published.")
    )
    return _publish(offer, actor.label, timezone.now())


@transaction.atomic
def offer_withdraw(*, actor: Actor, offer: Offer | int) -> Offer:
    """The firm takes back a draft or a published offer no accepted claim holds part of (what was
    already collected stays collected). The operator may withdraw any offer (moderation)."""
    actor.require_write()
    offer = offer_lock_owned(actor, offer)
    withdrawn = offer_withdraw_apply(offer, now=timezone.now())
    offer.save(update_fields=["status", "closed_at", "updated_at"])
    offer_change_record(withdrawn, actor.label)
    return offer


@transaction.atomic
def offer_close(*, actor: Actor, offer: Offer | int) -> Offer:
    """No new claims; claims already accepted may still be collected."""
    actor.require_write()
    offer = offer_lock_owned(actor, offer)
    closed = offer_close_apply(offer, now=timezone.now())
    offer.save(update_fields=["status", "closed_at", "updated_at"])
    offer_change_record(closed, actor.label)
    return offer
