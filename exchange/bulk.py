"""Many offers at once, keyed by the firm's own reference (`external_ref`): what an integration sends
from its stock or ERP system. Every rule keeps its one home in exchange.services and exchange.lifecycle:
an item is checked and applied in memory by the same steps as the one-offer services (offer_new,
offer_changes_apply, offer_publish_apply, offer_withdraw_apply), then the batch is written set-based: the
live offers locked in one query, the sites and categories read in two, the new offers inserted in one
statement, the changed ones updated in one, and their events recorded in one insert, in item order,
exactly the events the one-offer services would have recorded item after item.

- Items are handled in input order; a refused item changes nothing and spoils no other. The batch is
  one transaction: a crash leaves nothing of it, so a retry starts from where the batch began.
- A reference names the organisation's live offer (draft, published, exhausted) holding it. None: the
  item creates an offer. An ended offer (closed, withdrawn, expired) keeps its reference as history;
  the next item with that reference creates a new offer.
- `status` in an item: "published" publishes (a new offer at once, a draft after its changes; a
  published or exhausted offer stays as it is); "withdrawn" withdraws after the changes (and, with no
  live offer under the reference, changes nothing).
- A reference given twice in one batch: the second item is refused, so that the result of a batch
  never depends on how its items are grouped.
- A concurrent request may create a live offer under one of the batch's new references between the
  lock and the insert: the live-reference unique index refuses the insert, and the batch's new items
  are then applied one by one through the one-offer services (the reference's live offer is then
  updated), each in its own savepoint.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError, InvalidInput
from organisations.actors import Actor
from organisations.models import Organisation, Site

from . import lifecycle, services
from .models import LIVE_STATUSES, Offer, OfferStatus
from .rules import EDITABLE_FIELDS, VALUATION_FIELDS

MAX_ITEMS = 1000
CREATED, UPDATED, UNCHANGED, ERROR = "created", "updated", "unchanged", "error"
TARGET_STATUSES = (OfferStatus.PUBLISHED, OfferStatus.WITHDRAWN)
LIVE_REF_INDEX = "offer_external_ref_unique"


class ItemRefused(Exception):
    """Raised by an upsert's `validate` hook when an item's input is refused. `problem` is the caller's
    own error (the API: its input serializer's ValidationError), handed back in the item's result."""

    def __init__(self, problem: Exception):
        super().__init__(str(problem))
        self.problem = problem


@dataclass(frozen=True)
class UpsertResult:
    index: int
    external_ref: str | None
    result: str  # CREATED, UPDATED, UNCHANGED or ERROR
    offer_id: int | None = None
    error: Exception | None = None  # a DomainError, or an ItemRefused's problem


# (raw item, True to create / False to update) → the item's validated fields; raises ItemRefused.
Validator = Callable[[Mapping[str, Any], bool], dict[str, Any]]


@dataclass
class _Item:
    """An item read and checked, waiting for the batch's writes."""

    index: int
    ref: str | None
    raw: Mapping[str, Any]
    current: Offer | None  # the live offer holding the reference, locked
    data: dict[str, Any] = field(default_factory=dict)
    target: str | None = None
    offer: Offer | None = None  # to insert (current is None) or to update
    events: list[services.OfferEvent] = field(default_factory=list)


def _reference(item: Any) -> str | None:
    ref = item.get("external_ref") if isinstance(item, Mapping) else None
    return ref.strip() if isinstance(ref, str) and ref.strip() else None


@transaction.atomic
def offers_upsert(
    *,
    actor: Actor,
    organisation_id: int | None = None,
    items: Sequence[Mapping[str, Any]],
    validate: Validator | None = None,
) -> list[UpsertResult]:
    """One result per item, in input order. Who may: as for offer_create (members and write keys of a
    company or public authority, the operator naming one); refused for the whole batch otherwise.
    `validate` turns a raw item into the fields of offer_create (creating) or offer_update (updating),
    `external_ref` and an optional `status` among them; without it items are taken as already valid.
    A constant number of queries whatever the number of items (but for the race above)."""
    actor.require_write()
    organisation = actor.acting_organisation(organisation_id)
    lifecycle.require_offering_organisation(organisation)
    refs = [_reference(raw) for raw in items]
    live = services.offers_live_lock(organisation=organisation, external_refs={r for r in refs if r})
    results: dict[int, UpsertResult] = {}
    pending: list[_Item] = []
    seen: set[str] = set()
    for index, (raw, ref) in enumerate(zip(items, refs, strict=True)):
        item = _Item(index, ref, raw, live.get(ref) if ref is not None else None)
        try:
            _read(item, seen, validate)
        except ItemRefused as refusal:
            results[index] = _error(item, refusal.problem)
        except DomainError as error:
            results[index] = _error(item, error)
        else:
            pending.append(item)

    now = timezone.now()
    references = services.offer_references_load(
        organisation_id=organisation.pk,
        sites=_named(pending, "site"),
        categories=_named(pending, "category"),
    )
    to_insert: list[_Item] = []
    to_update: list[_Item] = []
    for item in pending:
        try:
            _apply(item, organisation, references, now)
        except DomainError as error:
            results[item.index] = _error(item, error)
            continue
        if not item.events:
            offer_id = item.current.pk if item.current else None
            results[item.index] = UpsertResult(item.index, item.ref, UNCHANGED, offer_id)
        elif item.current is None:
            to_insert.append(item)
        else:
            to_update.append(item)

    alone = []  # items whose batch write the live-reference index refused
    if not _insert([_to_write(item) for item in to_insert], now):
        alone += to_insert
        to_insert = []
    if not _update([_to_write(item) for item in to_update], now):
        alone += to_update
        to_update = []
    written = sorted(to_insert + to_update, key=lambda item: item.index)
    services.offer_events_record(
        [event for item in written for event in item.events], actor_label=actor.label
    )
    for item in written:
        result = CREATED if item.current is None else UPDATED
        results[item.index] = UpsertResult(item.index, item.ref, result, _to_write(item).pk)
    for item in sorted(alone, key=lambda item: item.index):
        results[item.index] = _upsert_alone(actor, organisation, item, validate)
    return [results[index] for index in range(len(items))]


def _error(item: _Item, error: Exception) -> UpsertResult:
    return UpsertResult(item.index, item.ref, ERROR, item.current.pk if item.current else None, error)


def _creating(item: _Item) -> bool:
    # Withdrawing what is not live checks the fields as changes, and changes nothing.
    wants_withdrawal = isinstance(item.raw, Mapping) and item.raw.get("status") == OfferStatus.WITHDRAWN
    return item.current is None and not wants_withdrawal


def _read(item: _Item, seen: set[str], validate: Validator | None) -> None:
    if item.ref is not None and item.ref in seen:
        raise InvalidInput(
            _("The offer has invalid fields."),
            code="validation_error",
            field_errors={"external_ref": [_("This reference is already in an earlier item.")]},
        )
    if item.ref is not None:
        seen.add(item.ref)
    item.data = dict(validate(item.raw, _creating(item)) if validate else item.raw)
    item.target = item.data.pop("status", None)


def _named(items: list[_Item], name: str) -> set[Any]:
    """The sites (or categories) the items name, by id or as objects."""
    named = (item.data.get(name) for item in items)
    return {value for value in named if isinstance(value, int) or hasattr(value, "pk")}


def _apply(
    item: _Item, organisation: Organisation, references: services.OfferReferences, now: dt.datetime
) -> None:
    """The item's steps in memory, in the order its one-offer services take them: `item.offer` and
    `item.events` set when it changes something. Raises the DomainError the item alone would meet."""
    if item.current is None:
        if item.target == OfferStatus.WITHDRAWN:
            return
        offer, created = services.offer_new(
            organisation=organisation, references=references, now=now, **item.data
        )
        events = [created]
        if item.target == OfferStatus.PUBLISHED:
            events.append(services.offer_publish_apply(offer, now=now))
    else:
        offer = item.current
        updated = services.offer_changes_apply(offer, item.data, references=references, now=now)
        events = [updated] if updated is not None else []
        if item.target == OfferStatus.PUBLISHED and offer.status == OfferStatus.DRAFT:
            events.append(services.offer_publish_apply(offer, now=now))
        elif item.target == OfferStatus.WITHDRAWN:
            events.append(services.offer_withdraw_apply(offer, now=now))
    item.offer, item.events = offer, events


# Written by a change of an offer (the stock that claims hold, reserved and collected, is theirs).
_CHANGED_FIELDS = (
    *EDITABLE_FIELDS,
    *VALUATION_FIELDS,
    "remaining_quantity",
    "status",
    "published_at",
    "closed_at",
    "updated_at",
)
# The points follow the site (copied when it changes): read from the site's row, in the statement.
_POINTS = ("location", "public_location")
_GEOGRAPHY = ("location", "public_location")


def _to_write(item: _Item) -> Offer:
    """The offer an item read and checked will write (set for every item that reaches the writes)."""
    if item.offer is None:
        raise RuntimeError(f"item {item.index} reached the writes without an offer")
    return item.offer


def _column(name: str) -> models.Field:
    """The concrete field of Offer behind `name` (every name the writes use is a column)."""
    column = Offer._meta.get_field(name)
    if not isinstance(column, models.Field):
        raise TypeError(f"Offer.{name} is not a column")
    return column


def _column_name(name: str) -> str:
    column = _column(name).column
    if column is None:
        raise TypeError(f"Offer.{name} has no column")
    return column


def _unnest(names: Sequence[str], offers: list[Offer]) -> tuple[str, list[str], list[list[Any]]]:
    """`unnest(%s::type[], …) AS v(column, …)`, the value of each column in v (geography travels as
    hex EWKB text), and one array parameter per column: a statement of fixed size, whatever the
    number of offers, that PostgreSQL parses once."""
    fields = [_column(name) for name in names]
    casts, values, arrays = [], [], []
    for f in fields:
        if f.name in _GEOGRAPHY:
            casts.append("%s::text[]")
            values.append(f"v.{f.column}::geography")
            hexewkb: dict[int, str] = {}  # new offers share their site's points
            arrays.append(
                [
                    hexewkb.get(id(point)) or hexewkb.setdefault(id(point), point.hexewkb.decode())
                    for point in (getattr(offer, f.attname) for offer in offers)
                ]
            )
        else:
            # As the model holds them: psycopg adapts these (str, int, bool, Decimal, aware datetime)
            # by itself, and get_db_prep_save would cost more than the statement.
            casts.append(f"%s::{f.db_type(connection)}[]")
            values.append(f"v.{f.column}")
            arrays.append([getattr(offer, f.attname) for offer in offers])
    source = f"unnest({', '.join(casts)}) AS v({', '.join(_column_name(f.name) for f in fields)})"
    return source, values, arrays


def _insert(offers: list[Offer], now: dt.datetime) -> bool:
    """One INSERT … SELECT FROM unnest(…) of the new offers, their ids set in order; False (nothing
    written) when the live-reference index refuses it: a concurrent request took one of the
    references since the lock."""
    if not offers:
        return True
    for offer in offers:
        offer.created_at = offer.updated_at = now
    names = [
        f.name
        for f in Offer._meta.concrete_fields
        if not f.primary_key and f.name != "search_vector"  # a trigger writes it
    ]
    source, values, arrays = _unnest(names, offers)
    columns = ", ".join(_column_name(name) for name in names)
    sql = (
        f"INSERT INTO {Offer._meta.db_table} ({columns}) "
        f"SELECT {', '.join(values)} FROM {source} RETURNING id"
    )
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, arrays)
            ids = [row[0] for row in cursor.fetchall()]
    except IntegrityError as exc:
        if LIVE_REF_INDEX not in str(exc):
            raise
        return False
    # Rows are inserted, and their ids drawn, in the order of the arrays (as Django's bulk_create relies).
    for offer, pk in zip(offers, ids, strict=True):
        offer.pk = pk
        offer._state.adding = False
    return True


def _update(offers: list[Offer], now: dt.datetime) -> bool:
    """One UPDATE … FROM unnest(…) of the changed offers (locked by offers_live_lock), their
    updated_at moved to now; False (nothing written) when the live-reference index refuses it."""
    if not offers:
        return True
    before = [offer.updated_at for offer in offers]
    for offer in offers:
        offer.updated_at = now
    source, values, arrays = _unnest(["id", *_CHANGED_FIELDS], offers)
    columns = [_column_name(name) for name in _CHANGED_FIELDS]
    assignments = [f"{column} = {value}" for column, value in zip(columns, values[1:], strict=True)]
    assignments += [
        f"{point} = CASE WHEN o.site_id = v.site_id THEN o.{point} ELSE s.{point} END" for point in _POINTS
    ]
    sql = (
        f"UPDATE {Offer._meta.db_table} AS o SET {', '.join(assignments)} "
        f"FROM {source} JOIN {Site._meta.db_table} AS s ON s.id = v.site_id WHERE o.id = v.id"
    )
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, arrays)
    except IntegrityError as exc:
        if LIVE_REF_INDEX not in str(exc):
            raise
        for offer, stamp in zip(offers, before, strict=True):
            offer.updated_at = stamp
        return False
    return True


def _upsert_alone(
    actor: Actor, organisation: Organisation, item: _Item, validate: Validator | None
) -> UpsertResult:
    """An item the batch write could not take, applied on its own through the one-offer services, in its
    own savepoint, against the live offer holding its reference now."""
    current = (
        Offer.objects.filter(organisation=organisation, external_ref=item.ref, status__in=LIVE_STATUSES)
        .values("pk", "updated_at")
        .first()
        if item.ref is not None
        else None
    )
    try:
        with transaction.atomic():
            result, offer_id = _upsert_one(actor, organisation.pk, item.raw, current, validate)
    except ItemRefused as refusal:
        return UpsertResult(item.index, item.ref, ERROR, current["pk"] if current else None, refusal.problem)
    except DomainError as error:
        return UpsertResult(item.index, item.ref, ERROR, current["pk"] if current else None, error)
    return UpsertResult(item.index, item.ref, result, offer_id)


def _upsert_one(
    actor: Actor,
    organisation_id: int,
    raw: Mapping[str, Any],
    current: Mapping[str, Any] | None,
    validate: Validator | None,
) -> tuple[str, int | None]:
    wants_withdrawal = isinstance(raw, Mapping) and raw.get("status") == OfferStatus.WITHDRAWN
    creating = current is None and not wants_withdrawal
    data = dict(validate(raw, creating) if validate else raw)
    target = data.pop("status", None)
    if current is None:
        if target == OfferStatus.WITHDRAWN:
            return UNCHANGED, None
        offer = services.offer_create(
            actor=actor, organisation_id=organisation_id, publish=target == OfferStatus.PUBLISHED, **data
        )
        return CREATED, offer.pk
    offer = services.offer_update(actor=actor, offer=current["pk"], **data)
    if target == OfferStatus.PUBLISHED and offer.status == OfferStatus.DRAFT:
        offer = services.offer_publish(actor=actor, offer=offer)
    elif target == OfferStatus.WITHDRAWN:
        offer = services.offer_withdraw(actor=actor, offer=offer)
    # Every change of an offer moves its updated_at (services save with it).
    return (UPDATED if offer.updated_at != current["updated_at"] else UNCHANGED), offer.pk
