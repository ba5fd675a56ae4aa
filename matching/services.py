"""State changes of needs, matches and alert preferences. One function per change, in a transaction."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from decimal import Decimal
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import InvalidInput, NotFound, PermissionDenied
from core.events import event_record
from exchange.models import Offer, OfferStatus
from inventory.models import Category
from organisations.actors import Actor
from organisations.emails import send_email
from organisations.models import RECIPIENT_KINDS, MembershipRole, Organisation, Site, User

from .models import (
    NEED_MAX_RADIUS_M,
    NEED_SETTABLE_STATUS_CHOICES,
    Match,
    MatchAlertMode,
    MatchAlertPreference,
    Need,
    NeedStatus,
)
from .scoring import category_generations, score_offer
from .selectors import category_lineage, match_alert_modes, needs_covering_offer

NEED_FIELDS = ("title", "description", "quantity_wanted", "unit", "radius_m", "deadline")
MAX_CATEGORIES_PER_NEED = 20
SETTABLE_STATUSES = tuple(value for value, _label in NEED_SETTABLE_STATUS_CHOICES)


def max_radius_m() -> int:
    """The API's cap on a need's radius; never above the database's ceiling."""
    return min(getattr(settings, "BOUCLE_MATCH_MAX_RADIUS_M", NEED_MAX_RADIUS_M), NEED_MAX_RADIUS_M)


def _invalid(errors: dict[str, list[str]]) -> InvalidInput:
    return InvalidInput(_("The need has invalid fields."), code="validation_error", field_errors=errors)


def _require_recipient(organisation: Organisation) -> None:
    if organisation.kind not in RECIPIENT_KINDS:
        raise PermissionDenied(
            _("Only associations and community projects post needs."), code="recipients_only"
        )


def _record(need: Need, name: str, actor: Actor, **payload: Any) -> None:
    event_record(
        name=name,
        aggregate_type="need",
        aggregate_id=need.pk,
        actor=actor.label,
        organisation_id=need.organisation_id,
        payload={"status": need.status, **payload},
    )


def _categories(category_ids: list[int], errors: dict[str, list[str]]) -> list[Category]:
    ids = list(dict.fromkeys(category_ids))
    if not ids:
        errors["categories"] = [_("Name at least one category.")]
        return []
    if len(ids) > MAX_CATEGORIES_PER_NEED:
        errors["categories"] = [_("At most %(n)d categories.") % {"n": MAX_CATEGORIES_PER_NEED}]
        return []
    found = list(Category.objects.filter(pk__in=ids, is_active=True))
    missing = sorted(set(ids) - {category.pk for category in found})
    if missing:
        errors["categories"] = [
            _("No such category: %(ids)s.") % {"ids": ", ".join(str(pk) for pk in missing)}
        ]
    return found


def _check(need: Need, errors: dict[str, list[str]], *, now: dt.datetime, deadline_changed: bool) -> None:
    """Rules on the assembled need; adds to `errors`."""
    cap = max_radius_m()
    if not 0 < need.radius_m <= cap:
        errors["radius_m"] = [_("The radius must be between 1 and %(cap)d metres.") % {"cap": cap}]
    if need.quantity_wanted is not None and need.quantity_wanted <= 0:
        errors["quantity_wanted"] = [_("The quantity must be positive.")]
    if need.quantity_wanted is not None and not need.unit:
        errors["unit"] = [_("Say in which unit the quantity counts.")]
    if need.quantity_wanted is None and need.unit:
        errors["quantity_wanted"] = [_("A unit without a quantity means nothing.")]
    if deadline_changed and need.deadline is not None and need.deadline <= now:
        errors["deadline"] = [_("The deadline is already past.")]


def _place(need: Need, *, site_id: int | None, location: Point | None, errors: dict[str, list[str]]) -> None:
    """A need is located at one of its organisation's active sites, or at a point given."""
    if site_id is not None and location is not None:
        errors["site"] = [_("Give a site or a location, not both.")]
        return
    if site_id is not None:
        site = Site.objects.filter(pk=site_id, organisation_id=need.organisation_id, is_active=True).first()
        if site is None:
            errors["site"] = [_("No such active site in your organisation.")]
            return
        need.site, need.location = site, site.location
    elif location is not None:
        need.site, need.location = None, location


@transaction.atomic
def need_create(
    *,
    actor: Actor,
    organisation_id: int | None = None,
    title: str,
    categories: list[int],
    radius_m: int,
    description: str = "",
    quantity_wanted: Decimal | None = None,
    unit: str = "",
    site: int | None = None,
    location: Point | None = None,
    deadline: dt.datetime | None = None,
) -> Need:
    actor.require_write()
    organisation = actor.acting_organisation(organisation_id)
    _require_recipient(organisation)
    now = timezone.now()
    need = Need(
        organisation=organisation,
        created_by=actor.user,
        title=title,
        description=description,
        quantity_wanted=quantity_wanted,
        unit=unit,
        radius_m=radius_m,
        deadline=deadline,
    )
    errors: dict[str, list[str]] = {}
    category_objs = _categories(categories, errors)
    if site is None and location is None:
        errors["location"] = [_("Give a site of yours or a location.")]
    _place(need, site_id=site, location=location, errors=errors)
    _check(need, errors, now=now, deadline_changed=True)
    if errors:
        raise _invalid(errors)
    need.save()
    need.categories.set(category_objs, through_defaults=need.area_fields())
    _record(need, "need.created", actor)
    return need


@transaction.atomic
def need_update(
    *,
    actor: Actor,
    need: Need | int,
    categories: list[int] | None = None,
    site: int | None = None,
    location: Point | None = None,
    status: str | None = None,
    **changes: Any,
) -> Need:
    """Change the fields given. Reopening a need needs a deadline still ahead (or none)."""
    unknown = set(changes) - set(NEED_FIELDS)
    if unknown:
        raise TypeError(f"need_update() got unexpected fields {sorted(unknown)!r}")
    actor.require_write()
    need_id = need.pk if isinstance(need, Need) else need
    locked = Need.objects.select_for_update().filter(pk=need_id).first()
    if locked is None:
        raise NotFound(_("No such need."))
    need = locked
    actor.require_member(need.organisation_id)
    now = timezone.now()
    errors: dict[str, list[str]] = {}
    for name, value in changes.items():
        setattr(need, name, value)
    if "quantity_wanted" in changes and changes["quantity_wanted"] is None and "unit" not in changes:
        need.unit = ""
    category_objs = _categories(categories, errors) if categories is not None else None
    _place(need, site_id=site, location=location, errors=errors)
    if status is not None:
        if status not in SETTABLE_STATUSES:
            errors["status"] = [_("A need may be set open, fulfilled or closed.")]
        elif status == NeedStatus.OPEN and need.deadline is not None and need.deadline <= now:
            errors["deadline"] = [_("Move the deadline ahead to reopen this need.")]
        else:
            need.status = status
    _check(need, errors, now=now, deadline_changed="deadline" in changes)
    if errors:
        raise _invalid(errors)
    need.save()
    if category_objs is not None:
        need.categories.set(category_objs, through_defaults=need.area_fields())
    given = {"categories": categories, "site": site, "location": location, "status": status}
    fields = sorted([*changes, *(name for name, value in given.items() if value is not None)])
    _record(need, "need.updated", actor, fields=fields)
    return need


@transaction.atomic
def need_delete(*, actor: Actor, need: Need) -> None:
    """Removes the need and the matches recorded for it (suggestions, not facts)."""
    actor.require_write()
    actor.require_member(need.organisation_id)
    _record(need, "need.deleted", actor)
    need.delete()


@transaction.atomic
def needs_expire_due(*, now: dt.datetime | None = None) -> int:
    """Open needs whose deadline passed become expired (a periodic task)."""
    return Need.objects.filter(status=NeedStatus.OPEN, deadline__lte=now or timezone.now()).update(
        status=NeedStatus.EXPIRED, updated_at=timezone.now()
    )


@transaction.atomic
def match_alert_preference_set(*, actor: Actor, organisation_id: int, mode: str) -> MatchAlertPreference:
    actor.require_admin(organisation_id)
    if mode not in MatchAlertMode.values:
        raise _invalid({"mode": [_("Choose immediate, daily or off.")]})
    preference, _created = MatchAlertPreference.objects.update_or_create(
        organisation_id=organisation_id, defaults={"mode": mode, "updated_by": actor.user}
    )
    return preference


@transaction.atomic
def matches_record_for_offer(*, offer: Offer, now: dt.datetime | None = None) -> list[int]:
    """Records a Match for every open need of another organisation whose area covers the published
    offer (once per need and offer, however often it is called), and schedules the immediate alerts
    for after the commit. Returns the ids of the matches created by this call."""
    from . import tasks  # tasks import this module

    if offer.status != OfferStatus.PUBLISHED or offer.remaining_quantity <= 0:
        return []
    now = now or timezone.now()
    lineage = category_lineage(category=offer.category)
    covering = needs_covering_offer(offer=offer, lineage=lineage, now=now)
    if not covering:
        return []
    candidates = []
    for row in covering:
        score = score_offer(
            distance_m=row.distance_m,
            radius_m=row.radius_m,
            generations=category_generations(
                offer_path=offer.category.path, need_paths=[lineage[pk] for pk in row.category_ids]
            ),
            quantity_wanted=row.quantity_wanted,
            wanted_unit=row.unit,
            remaining_quantity=offer.remaining_quantity,
            offer_unit=offer.unit,
            available_until=offer.available_until,
            published_at=offer.published_at,
            now=now,
        )
        candidates.append(
            Match(
                need_id=row.need_id,
                offer_id=offer.pk,
                organisation_id=row.organisation_id,
                score=score.total,
                parts=score.parts,
                distance_m=round(row.distance_m),
            )
        )
    new = _insert_new_matches(offer=offer, candidates=candidates, now=now)
    by_organisation: dict[int, list[int]] = defaultdict(list)
    for match_id, organisation_id in new:
        by_organisation[organisation_id].append(match_id)
        event_record(
            name="match.created",
            aggregate_type="match",
            aggregate_id=match_id,
            organisation_id=organisation_id,
            payload={"offer": offer.pk},
        )
    modes = match_alert_modes(organisation_ids=list(by_organisation))
    for organisation_id, match_ids in by_organisation.items():
        if modes[organisation_id] == MatchAlertMode.IMMEDIATE:
            transaction.on_commit(
                partial(tasks.send_match_alert.delay, organisation_id=organisation_id, match_ids=match_ids),
                robust=True,
            )
    return [match_id for match_id, _org in new]


# One statement for the batch; ON CONFLICT keeps the (need, offer) pair unique without a prior read,
# and RETURNING names exactly the rows this call created, so only those are announced.
_INSERT_MATCHES_SQL = f"""
INSERT INTO {Match._meta.db_table} (need_id, offer_id, organisation_id, score, parts, distance_m, created_at)
SELECT t.need_id, %(offer_id)s, t.organisation_id, t.score, t.parts::jsonb, t.distance_m, %(now)s
FROM unnest(%(need_ids)s::bigint[], %(organisation_ids)s::bigint[], %(scores)s::float8[],
            %(parts)s::text[], %(distances)s::integer[])
     AS t(need_id, organisation_id, score, parts, distance_m)
ORDER BY t.need_id
ON CONFLICT (need_id, offer_id) DO NOTHING
RETURNING id, organisation_id
"""


def _insert_new_matches(*, offer: Offer, candidates: list[Match], now: dt.datetime) -> list[tuple[int, int]]:
    """(match id, organisation id) of the rows inserted now; pairs already recorded are skipped."""
    params: dict[str, int | dt.datetime | list[int] | list[float] | list[str]] = {
        "offer_id": offer.pk,
        "now": now,
        "need_ids": [m.need_id for m in candidates],
        "organisation_ids": [m.organisation_id for m in candidates],
        "scores": [m.score for m in candidates],
        "parts": [json.dumps(m.parts) for m in candidates],
        "distances": [m.distance_m for m in candidates],
    }
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_MATCHES_SQL, params)
        return sorted(cursor.fetchall())


# Matches of organisations in immediate mode that are still unannounced after this long (their alert
# failed, or they switched modes) go out with the next daily digest.
STRAGGLER_DELAY = dt.timedelta(hours=1)


def _alert_recipients(organisation: Organisation) -> list[tuple[str, str]]:
    """(e-mail, language) of the organisation's active administrators; its contact address, in French,
    when it has none."""
    admins = list(
        User.objects.filter(
            memberships__organisation=organisation, memberships__role=MembershipRole.ADMIN, is_active=True
        )
        .order_by("id")
        .values_list("email", "preferred_language")
    )
    if admins:
        return admins
    return [(organisation.email, "fr")] if organisation.email else []


@transaction.atomic
def match_alerts_send(
    *, organisation_id: int, match_ids: list[int] | None = None, created_before: dt.datetime | None = None
) -> int:
    """E-mails the organisation's administrators about its unannounced matches (those named, or all of
    them up to `created_before`) and marks them notified. The rows are locked and re-checked first, so
    two runs never announce the same match twice; a failed send rolls the marks back for a retry."""
    pending = Match.objects.filter(organisation_id=organisation_id, notified_at__isnull=True)
    if match_ids is not None:
        pending = pending.filter(pk__in=match_ids)
    if created_before is not None:
        pending = pending.filter(created_at__lt=created_before)
    locked = list(pending.order_by("id").select_for_update().values_list("id", flat=True))
    if not locked:
        return 0
    organisation = Organisation.objects.get(pk=organisation_id)
    recipients = _alert_recipients(organisation)
    if not recipients:
        return 0
    matches = list(
        Match.objects.filter(pk__in=locked)
        .select_related("need", "offer__category", "offer__organisation")
        .order_by("offer_id", "-score", "id")
    )
    Match.objects.filter(pk__in=locked).update(notified_at=timezone.now())
    name = "match_alert" if match_ids is not None else "match_digest"
    for email, language in recipients:
        send_email(name, to=email, language=language, context=_alert_context(organisation, matches))
    return len(matches)


def _alert_context(organisation: Organisation, matches: list[Match]) -> dict[str, Any]:
    offers: dict[int, dict[str, Any]] = {}
    for match in matches:
        entry = offers.setdefault(match.offer_id, {"offer": match.offer, "matches": []})
        entry["matches"].append(match)
    for entry in offers.values():
        entry["distance_km"] = round(min(m.distance_m for m in entry["matches"]) / 1000, 1)
    return {"organisation": organisation, "offers": list(offers.values()), "count": len(matches)}


def match_digests_send(*, now: dt.datetime | None = None) -> int:
    """The daily digest: each organisation in daily mode hears of all its unannounced matches, those in
    immediate mode of the ones their alert missed. One transaction per organisation."""
    now = now or timezone.now()
    organisation_ids = sorted(
        Match.objects.filter(notified_at__isnull=True).values_list("organisation_id", flat=True).distinct()
    )
    sent = 0
    for organisation_id, mode in match_alert_modes(organisation_ids=organisation_ids).items():
        if mode == MatchAlertMode.DAILY:
            sent += match_alerts_send(organisation_id=organisation_id)
        elif mode == MatchAlertMode.IMMEDIATE:
            sent += match_alerts_send(organisation_id=organisation_id, created_before=now - STRAGGLER_DELAY)
    return sent
