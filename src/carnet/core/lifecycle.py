"""What every record write does besides the write itself: audit entry, domain event, search
document, and the optimistic-concurrency check. Services call these inside their transaction."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session

from carnet.core import audit, clock, events, permissions, records, search, tags
from carnet.core.context import Actor
from carnet.core.db import insert_rows
from carnet.core.errors import NotFound, PermissionDenied, PreconditionFailed

MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL; a larger one cannot exist


def get_visible(db: Session, actor: Actor, record_type: str, record_id: Any, *options: Any) -> Any:
    """The record if `actor` may read it, else NotFound (never a hint that it exists)."""
    model, where = _visible_where(db, actor, record_type, record_id)
    stmt = select(model).where(*where)
    if options:
        stmt = stmt.options(*options)
    obj = db.scalars(stmt).unique().first()
    if obj is None:
        raise NotFound()
    return obj


def require_visible(db: Session, actor: Actor, record_type: str, record_id: Any) -> int:
    """`get_visible` for a caller that needs only the answer (a record's timeline, history or
    attachments): the record's id, read alone, no object built; NotFound as `get_visible`."""
    model, where = _visible_where(db, actor, record_type, record_id)
    found = db.scalar(select(model.__table__.c.id).where(*where))
    if found is None:
        raise NotFound()
    return found


def _visible_where(db: Session, actor: Actor, record_type: str, record_id: Any) -> tuple[Any, list[Any]]:
    """(model, WHERE clauses) selecting the record if `actor` may read it; NotFound when the
    actor may read no record of the type or the id cannot exist."""
    rt = records.get(record_type)
    if not actor.can(f"{rt.module}:read"):
        raise NotFound()
    try:
        record_id = int(record_id)
    except (TypeError, ValueError):
        raise NotFound()
    if not 0 < record_id <= MAX_ID:
        raise NotFound()
    clause = (
        rt.visible(db, actor)
        if rt.visible
        else permissions.visible_for_model(db, actor, record_type, rt.model)
    )
    return rt.model, [rt.model.id == record_id, clause]


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


# -- set-based writes (imports) ------------------------------------------------------------------


@cache
def _draft_class(model: Any) -> type:
    columns = {attr.key: None for attr in inspect(model).column_attrs}
    properties = {
        name: value
        for klass in reversed(model.__mro__)
        for name, value in vars(klass).items()
        if isinstance(value, property)
    }

    def __init__(self: Any, **values: Any) -> None:
        self.__dict__.update(values)

    return type(f"{model.__name__}Draft", (), {**columns, **properties, "__init__": __init__})


def draft(model: Any, **values: Any) -> Any:
    """A new record of `model` for a set-based create, to validate and then write with
    `insert_new`: a plain object with the model's column attributes (None until set, as on a
    new ORM object) and its properties, without the ORM's instrumentation, which cost more than
    the validation itself on every attribute read and write. It never enters a session."""
    return _draft_class(model)(**values)


def insert_new(db: Session, model: Any, objs: list[Any]) -> None:
    """INSERT validated, transient records (or drafts) of `model` in one statement (several round
    trips at most) and give each its id. Column defaults the objects do not set are filled in on
    the objects first, so they read the same as records the ORM wrote. The objects stay out of the
    session."""
    if not objs:
        return
    now = clock.now()
    columns = [(attr.key, attr.columns[0]) for attr in inspect(model).column_attrs if attr.key != "id"]
    rows = []
    for obj in objs:
        state = obj.__dict__
        for key, column in columns:
            if key in state:
                continue
            default = column.default
            if key in ("created_at", "updated_at"):
                value: Any = now
            elif default is None:
                value = None
            elif default.is_scalar:
                value = default.arg
            else:
                value = default.arg(None)
            # Straight into the instance's dict: the object is transient and never flushed, so the
            # ORM's change tracking (microseconds per attribute, per record) has nothing to track.
            state[key] = value
        rows.append({column.name: state[key] for key, column in columns})
    table = model.__table__
    for obj, row, new_id in zip(objs, rows, _new_ids(db, table, len(rows)), strict=True):
        obj.id = row["id"] = new_id
    insert_rows(db, table, rows)


def _new_ids(db: Session, table: Any, count: int) -> list[int]:
    """`count` ids for new rows of `table`, reserved before the INSERT so that it needs no
    RETURNING in row order (which SQLAlchemy can only give on SQLite one row at a time).
    PostgreSQL hands them out from the id sequence in one query; SQLite write transactions are
    exclusive, so the ids after the largest are ours until the commit."""
    if db.get_bind().dialect.name == "postgresql":
        sequence = f"pg_get_serial_sequence('{table.name}', 'id')"
        return list(
            db.scalars(text(f"SELECT nextval({sequence}) FROM generate_series(1, :n)").bindparams(n=count))
        )
    start = (db.scalar(select(func.max(table.c.id))) or 0) + 1
    return list(range(start, start + count))


@dataclass
class Written:
    """A record a set-based write created or changed, for its audit entry and event."""

    obj: Any
    before: dict[str, Any]  # {} for a created record
    after: dict[str, Any]
    summary: str
    payload: dict[str, Any]


def created_many(db: Session, actor: Actor, record_type: str, written: list[Written]) -> None:
    """`created` for many records: one event each, then their audit entries (call it last: the
    audit chain stays locked until the transaction ends)."""
    events.emit_many(
        db, actor, [(f"{record_type}.created", record_type, w.obj.id, w.payload) for w in written]
    )
    audit.record_many(
        db,
        actor,
        [audit.Change("create", record_type, w.obj.id, audit.diff({}, w.after), w.summary) for w in written],
    )


def updated_many(db: Session, actor: Actor, record_type: str, written: list[Written]) -> None:
    """`updated` for many records (those with no change get neither entry nor event)."""
    changes = [(w, audit.diff(w.before, w.after)) for w in written]
    changes = [(w, c) for w, c in changes if c]
    events.emit_many(
        db,
        actor,
        [(f"{record_type}.updated", record_type, w.obj.id, {**w.payload, "changes": c}) for w, c in changes],
    )
    audit.record_many(
        db, actor, [audit.Change("update", record_type, w.obj.id, c, w.summary) for w, c in changes]
    )
