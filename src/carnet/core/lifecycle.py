"""What every record write does besides the write itself: audit entry, domain event, search
document, and the optimistic-concurrency check. Services call these inside their transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.core import audit, events, permissions, records, search, tags
from carnet.core.context import Actor
from carnet.core.errors import NotFound, PermissionDenied, PreconditionFailed

MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL; a larger one cannot exist


def get_visible(db: Session, actor: Actor, record_type: str, record_id: Any, *options: Any) -> Any:
    """The record if `actor` may read it, else NotFound (never a hint that it exists)."""
    rt = records.get(record_type)
    if not actor.can(f"{rt.module}:read"):
        raise NotFound()
    try:
        record_id = int(record_id)
    except (TypeError, ValueError):
        raise NotFound()
    if not 0 < record_id <= MAX_ID:
        raise NotFound()
    stmt = select(rt.model).where(
        rt.model.id == record_id, permissions.visible_for_model(db, actor, record_type, rt.model)
    )
    if options:
        stmt = stmt.options(*options)
    obj = db.scalars(stmt).unique().first()
    if obj is None:
        raise NotFound()
    return obj


def require(actor: Actor, record_type: str, action: str) -> None:
    if not actor.can(f"{records.get(record_type).module}:{action}"):
        raise PermissionDenied()


def check_version(obj: Any, expected: int | None) -> None:
    if expected is not None and obj.version != expected:
        raise PreconditionFailed()


def created(
    db: Session,
    actor: Actor,
    record_type: str,
    obj: Any,
    snapshot: dict[str, Any],
    summary: str,
    payload: dict[str, Any],
) -> None:
    audit.record(db, actor, "create", record_type, obj.id, audit.diff({}, snapshot), summary)
    events.emit(db, actor, f"{record_type}.created", record_type, obj.id, payload)


def updated(
    db: Session,
    actor: Actor,
    record_type: str,
    obj: Any,
    before: dict[str, Any],
    after: dict[str, Any],
    summary: str,
    payload: dict[str, Any],
) -> dict[str, Any]:
    changes = audit.diff(before, after)
    if changes:
        audit.record(db, actor, "update", record_type, obj.id, changes, summary)
        events.emit(db, actor, f"{record_type}.updated", record_type, obj.id, {**payload, "changes": changes})
    return changes


def deleted(
    db: Session,
    actor: Actor,
    record_type: str,
    obj: Any,
    snapshot: dict[str, Any],
    summary: str,
    payload: dict[str, Any],
) -> None:
    audit.record(db, actor, "delete", record_type, obj.id, audit.diff(snapshot, {}), summary)
    events.emit(db, actor, f"{record_type}.deleted", record_type, obj.id, payload)
    tags.remove_record(db, record_type, obj.id)
    search.remove_record(db, record_type, obj.id)
