"""Activities (calls, emails, meetings, visits, notes): every write goes through here, and the
timeline of organisations, contacts and deals reads their activities from here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from carnet.accounts.models import User
from carnet.activities import links
from carnet.activities.inputs import clean_datetime, clean_minutes
from carnet.activities.models import ACTIVITY_KINDS, Activity, ActivityParticipant
from carnet.activities.schemas import ActivityRead
from carnet.core import clock, customfields, lifecycle, ownership, permissions, records, timeline
from carnet.core.context import Actor
from carnet.core.db import in_ids
from carnet.core.errors import FieldErrors
from carnet.core.listing import Listing, ListParams, page

RECORD_TYPE = "activity"
records.register(RECORD_TYPE, Activity, "activities", "Activity", "/activities")

EXCERPT_CHARS = 300
TEXT_FIELDS = {"subject": 200, "outcome": 200}
LINK_FIELDS = {"organisation_id": "organisation", "contact_id": "contact", "deal_id": "deal"}


LISTING = Listing(
    model=Activity,
    record_type=RECORD_TYPE,
    fields={
        "id": Activity.id,
        "kind": Activity.kind,
        "subject": Activity.subject,
        "outcome": Activity.outcome,
        "occurred_at": Activity.occurred_at,
        "duration_minutes": Activity.duration_minutes,
        "organisation_id": Activity.organisation_id,
        "contact_id": Activity.contact_id,
        "deal_id": Activity.deal_id,
        "owner_id": Activity.owner_id,
        "department_id": Activity.department_id,
        "created_at": Activity.created_at,
        "updated_at": Activity.updated_at,
    },
    sortable={"occurred_at", "kind", "subject", "duration_minutes", "created_at", "updated_at"},
)


def visible_clause(db: Session, actor: Actor) -> ColumnElement[bool]:
    return permissions.visible_for_model(db, actor, RECORD_TYPE, Activity)


# -- reading --------------------------------------------------------------------------------------


def _participants(db: Session, activity_ids: list[int]) -> dict[int, tuple[list[int], list[int]]]:
    out: dict[int, tuple[list[int], list[int]]] = {i: ([], []) for i in activity_ids}
    if not activity_ids:
        return out
    rows = db.execute(
        select(ActivityParticipant.activity_id, ActivityParticipant.user_id, ActivityParticipant.contact_id)
        .where(in_ids(db, ActivityParticipant.activity_id, activity_ids))
        .order_by(ActivityParticipant.id)
    )
    for row in rows:
        users, contacts = out[row.activity_id]
        if row.user_id is not None:
            users.append(row.user_id)
        if row.contact_id is not None:
            contacts.append(row.contact_id)
    return out


def to_read(act: Activity, user_ids: list[int], contact_ids: list[int]) -> dict[str, Any]:
    skip = ("participant_user_ids", "participant_contact_ids")
    return ActivityRead(
        **{c: getattr(act, c) for c in ActivityRead.model_fields if c not in skip},
        participant_user_ids=user_ids,
        participant_contact_ids=contact_ids,
    ).model_dump(mode="json")


def reads(db: Session, acts: list[Activity]) -> list[dict[str, Any]]:
    parts = _participants(db, [a.id for a in acts])
    return [to_read(a, *parts[a.id]) for a in acts]


def snapshot(act: Activity, user_ids: list[int], contact_ids: list[int]) -> dict[str, Any]:
    return {
        "kind": act.kind,
        "subject": act.subject,
        "body": act.body,
        "occurred_at": act.occurred_at,
        "duration_minutes": act.duration_minutes,
        "outcome": act.outcome,
        "organisation_id": act.organisation_id,
        "contact_id": act.contact_id,
        "deal_id": act.deal_id,
        "participant_user_ids": sorted(user_ids),
        "participant_contact_ids": sorted(contact_ids),
        "owner_id": act.owner_id,
        "department_id": act.department_id,
        "custom_fields": dict(act.custom_fields or {}),
    }


def get_activity(db: Session, actor: Actor, activity_id: Any) -> Activity:
    return lifecycle.get_visible(db, actor, RECORD_TYPE, activity_id)


def list_activities(db: Session, actor: Actor, params: ListParams) -> tuple[list[Activity], str | None]:
    """Filters: kind, organisation_id, contact_id, deal_id, owner_id, occurred_at__gte/__lte,
    cf.<key>; `q` searches the subject."""
    lifecycle.require(actor, RECORD_TYPE, "read")
    stmt = select(Activity).where(visible_clause(db, actor))
    if params.q:
        stmt = stmt.where(func.lower(Activity.subject).contains(params.q.strip().lower(), autoescape=True))
    return page(db, LISTING, stmt, params)


def count_activities(db: Session, actor: Actor, params: ListParams, cap: int | None = None) -> int:
    """Visible activities matching the filters; with `cap`, counting stops at cap + 1 so a list
    page over millions of rows does not scan them all to print a number."""
    stmt = select(Activity.id).where(visible_clause(db, actor))
    if params.q:
        stmt = stmt.where(func.lower(Activity.subject).contains(params.q.strip().lower(), autoescape=True))
    stmt = LISTING.apply_filters(stmt, params)
    if cap is not None:
        stmt = stmt.limit(cap + 1)
    return db.scalar(select(func.count()).select_from(stmt.subquery())) or 0


def recent_for_user(db: Session, actor: Actor, limit: int = 10) -> list[Activity]:
    """The actor's own latest activities (not the planned ones), newest first."""
    if not actor.can("activities:read") or actor.user_id is None:
        return []
    return list(
        db.scalars(
            select(Activity)
            .where(
                Activity.owner_id == actor.user_id,
                Activity.occurred_at <= clock.now(),
                visible_clause(db, actor),
            )
            .order_by(Activity.occurred_at.desc(), Activity.id.desc())
            .limit(limit)
        )
    )


def owner_names(db: Session, user_ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    rows = db.execute(select(User.id, User.first_name, User.last_name, User.email).where(User.id.in_(ids)))
    return {r.id: f"{r.first_name} {r.last_name}".strip() or r.email for r in rows}


def excerpt(text: str | None, limit: int = EXCERPT_CHARS) -> str:
    """At most `limit` characters, cut at a word boundary when one is near, with an ellipsis."""
    text = text or ""
    if len(text) <= limit:
        return text.strip()
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.8:
        cut = cut[:space]
    return cut.rstrip() + "…"


# -- writing --------------------------------------------------------------------------------------


def _clean_ids(value: Any, field: str, errors: FieldErrors) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        errors.add(field, "Must be a list of ids", "invalid_type")
        return []
    out: list[int] = []
    for item in value:
        try:
            number = int(item)
        except (TypeError, ValueError):
            errors.add(field, "Must be a list of ids", "invalid_type")
            return []
        if number not in out:
            out.append(number)
    return out


def _apply(
    db: Session, actor: Actor, act: Activity, data: dict[str, Any], creating: bool
) -> tuple[list[int], list[int]] | None:
    """Validate `data` into `act`; returns new (user ids, contact ids) of participants when given."""
    errors = FieldErrors()
    if creating or "kind" in data:
        act.kind = (data.get("kind") or "").strip().lower()
        if act.kind not in ACTIVITY_KINDS:
            errors.add("kind", "Choose one of: {values}", "invalid_choice", values=", ".join(ACTIVITY_KINDS))
    for name in ("subject", "body", "outcome"):
        if name in data:
            value = data[name]
            value = value.strip() if isinstance(value, str) else value
            setattr(act, name, value or None)
    if creating or "subject" in data:
        if not act.subject:
            errors.add("subject", "This field is required", "required")
    for name, limit in TEXT_FIELDS.items():
        value = getattr(act, name)
        if value and len(value) > limit:
            errors.add(name, "At most {max} characters", "too_long", max=limit)
    if "occurred_at" in data and data["occurred_at"] not in (None, ""):
        act.occurred_at = clean_datetime(data["occurred_at"], actor.timezone, "occurred_at", errors)
    elif creating:
        act.occurred_at = clock.now()
    elif "occurred_at" in data:
        errors.add("occurred_at", "This field is required", "required")
    if "duration_minutes" in data:
        act.duration_minutes = clean_minutes(data["duration_minutes"], "duration_minutes", errors)
    _apply_links(db, actor, act, data, errors)
    participants = None
    if "participant_user_ids" in data or "participant_contact_ids" in data or creating:
        participants = _clean_participants(db, actor, act, data, errors)
    act.owner_id, act.department_id = ownership.resolve(
        db, actor, data, None if creating else act.owner_id, None if creating else act.department_id, errors
    )
    if "custom_fields" in data or creating:
        act.custom_fields = customfields.validate(
            db, RECORD_TYPE, data.get("custom_fields"), None if creating else act.custom_fields, errors
        )
    errors.raise_if_any()
    act.updated_by_id = actor.user_id
    return participants


def _apply_links(db: Session, actor: Actor, act: Activity, data: dict[str, Any], errors: FieldErrors) -> None:
    touched = False
    link_errors = FieldErrors()
    for field, record_type in LINK_FIELDS.items():
        if field not in data:
            continue
        touched = True
        value = data[field]
        if value is not None and value != getattr(act, field):
            links.require_visible(db, actor, record_type, value, field, link_errors)
        setattr(act, field, value)
    if link_errors:
        errors.errors.extend(link_errors.errors)
        return
    # A call logged on a deal or a contact also belongs on its organisation's timeline.
    if touched and act.organisation_id is None:
        if act.deal_id is not None:
            act.organisation_id = links.organisation_of_deal(db, act.deal_id)
        if act.organisation_id is None and act.contact_id is not None:
            act.organisation_id = links.sole_organisation_of_contact(db, act.contact_id)
    if act.organisation_id is None and act.contact_id is None and act.deal_id is None:
        errors.add("links", "Link the activity to an organisation, a contact or a deal", "link_required")


def _clean_participants(
    db: Session, actor: Actor, act: Activity, data: dict[str, Any], errors: FieldErrors
) -> tuple[list[int], list[int]]:
    current_users, current_contacts = _participants(db, [act.id])[act.id] if act.id is not None else ([], [])
    user_ids = (
        _clean_ids(data["participant_user_ids"], "participant_user_ids", errors)
        if "participant_user_ids" in data
        else current_users
    )
    contact_ids = (
        _clean_ids(data["participant_contact_ids"], "participant_contact_ids", errors)
        if "participant_contact_ids" in data
        else current_contacts
    )
    new_users = set(user_ids) - set(current_users)
    if new_users:
        known = set(db.scalars(select(User.id).where(User.id.in_(new_users))))
        if new_users - known:
            errors.add("participant_user_ids", "Unknown user", "unknown")
    for contact_id in set(contact_ids) - set(current_contacts):
        field_errors = FieldErrors()
        links.require_visible(db, actor, "contact", contact_id, "participant_contact_ids", field_errors)
        if field_errors:
            errors.add("participant_contact_ids", "Unknown contact", "unknown")
            break
    return user_ids, contact_ids


def _store_participants(db: Session, act: Activity, user_ids: list[int], contact_ids: list[int]) -> None:
    db.execute(delete(ActivityParticipant).where(ActivityParticipant.activity_id == act.id))
    db.add_all([ActivityParticipant(activity_id=act.id, user_id=u) for u in user_ids])
    db.add_all([ActivityParticipant(activity_id=act.id, contact_id=c) for c in contact_ids])


def create_activity(db: Session, actor: Actor, data: dict[str, Any]) -> Activity:
    lifecycle.require(actor, RECORD_TYPE, "create")
    act = Activity(created_by_id=actor.user_id, custom_fields={})
    user_ids, contact_ids = _apply(db, actor, act, data, creating=True) or ([], [])
    db.add(act)
    db.flush()
    _store_participants(db, act, user_ids, contact_ids)
    lifecycle.created(
        db,
        actor,
        RECORD_TYPE,
        act,
        snapshot(act, user_ids, contact_ids),
        act.subject,
        to_read(act, user_ids, contact_ids),
    )
    db.commit()
    return act


def update_activity(
    db: Session, actor: Actor, act: Activity, data: dict[str, Any], expected_version: int | None = None
) -> Activity:
    lifecycle.require(actor, RECORD_TYPE, "update")
    lifecycle.check_version(act, expected_version)
    old_users, old_contacts = _participants(db, [act.id])[act.id]
    before = snapshot(act, old_users, old_contacts)
    participants = _apply(db, actor, act, data, creating=False)
    user_ids, contact_ids = participants if participants is not None else (old_users, old_contacts)
    after = snapshot(act, user_ids, contact_ids)
    if before == after:
        db.rollback()
        return act
    if participants is not None and (sorted(old_users), sorted(old_contacts)) != (
        sorted(user_ids),
        sorted(contact_ids),
    ):
        _store_participants(db, act, user_ids, contact_ids)
    # Participants live in their own table: touch the row so the version (ETag) moves too.
    act.updated_at = clock.now()
    db.flush()
    lifecycle.updated(
        db, actor, RECORD_TYPE, act, before, after, act.subject, to_read(act, user_ids, contact_ids)
    )
    db.commit()
    return act


def delete_activity(db: Session, actor: Actor, act: Activity, expected_version: int | None = None) -> None:
    lifecycle.require(actor, RECORD_TYPE, "delete")
    lifecycle.check_version(act, expected_version)
    user_ids, contact_ids = _participants(db, [act.id])[act.id]
    lifecycle.deleted(
        db,
        actor,
        RECORD_TYPE,
        act,
        snapshot(act, user_ids, contact_ids),
        act.subject,
        to_read(act, user_ids, contact_ids),
    )
    db.delete(act)
    db.commit()


# -- timeline -------------------------------------------------------------------------------------

_TIMELINE_COLUMNS = {
    "organisation": Activity.organisation_id,
    "contact": Activity.contact_id,
    "deal": Activity.deal_id,
}


@timeline.register
def timeline_items(
    db: Session, actor: Actor, record_type: str, record_id: int, limit: int
) -> list[timeline.TimelineItem]:
    """The record's visible activities, newest first: one indexed query ((link, occurred_at)
    index, LIMIT in SQL), owner names joined in, body cut in SQL so big notes are not loaded."""
    column = _TIMELINE_COLUMNS.get(record_type)
    if column is None or not actor.can("activities:read"):
        return []
    rows = db.execute(
        select(
            Activity.id,
            Activity.kind,
            Activity.subject,
            func.substr(Activity.body, 1, EXCERPT_CHARS + 1).label("body"),
            Activity.occurred_at,
            Activity.duration_minutes,
            Activity.outcome,
            User.first_name,
            User.last_name,
            User.email,
        )
        .outerjoin(User, User.id == Activity.owner_id)
        .where(column == record_id, visible_clause(db, actor))
        .order_by(Activity.occurred_at.desc(), Activity.id.desc())
        .limit(limit)
    )
    items = []
    for r in rows:
        by = f"{r.first_name or ''} {r.last_name or ''}".strip() or (r.email or "")
        meta: dict[str, Any] = {"by": by, "id": r.id}
        if r.duration_minutes is not None:
            meta["duration_minutes"] = r.duration_minutes
        if r.outcome:
            meta["outcome"] = r.outcome
        items.append(
            timeline.TimelineItem(
                when=r.occurred_at,
                kind=r.kind,
                title=r.subject,
                body=excerpt(r.body),
                url=f"/activities/{r.id}",
                meta=meta,
            )
        )
    return items
