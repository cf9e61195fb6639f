"""Domain events, appended to the outbox in the same transaction as the change they describe.

Consumers (webhooks, workflows, notifications) register with `@consumer(name)`. The dispatcher
(`dispatch_pending`, called by the job runners) hands each new event to every consumer in event-id
order, inside one transaction that also marks the events dispatched: a consumer's database work (a
delivery row, a job) commits together with the mark, so nothing is lost between commit and delivery
and nothing is handed over twice. One dispatcher runs at a time (an advisory lock on PostgreSQL, the
single writer on SQLite), which keeps the order per record. A consumer that raises is rolled back to
its savepoint and retried later for that event by a job; the others go on.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Index, Integer, String, func, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from carnet.core import clock, jobs
from carnet.core.audit import jsonable
from carnet.core.context import Actor
from carnet.core.db import Base, JSONType, get_database, in_ids, insert_rows

log = logging.getLogger("carnet.events")
DISPATCH_LOCK = 7302  # pg advisory lock key of the single dispatcher (audit uses 7301)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_record", "record_type", "record_id", "id"),
        Index(
            "ix_events_pending",
            "id",
            postgresql_where=text("dispatched_at IS NULL"),
            sqlite_where=text("dispatched_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    type: Mapped[str] = mapped_column(String(80), index=True)
    record_type: Mapped[str] = mapped_column(String(60))
    record_id: Mapped[int | None] = mapped_column(Integer)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    dispatched_at: Mapped[datetime | None] = mapped_column()


_emit_hooks: list[Callable[[Session], None]] = []


def on_emit(hook: Callable[[Session], None]) -> None:
    """Called with the session each time an event is appended (the runner wakes after its commit)."""
    _emit_hooks.append(hook)


_insert_hooks: list[Callable[[Session, list[dict[str, Any]]], None]] = []


def on_insert_many(hook: Callable[[Session, list[dict[str, Any]]], None]) -> None:
    """Called with the rows `emit_many` inserts (they bypass the ORM, so flush hooks miss them)."""
    _insert_hooks.append(hook)


def emit(
    db: Session,
    actor: Actor,
    event_type: str,
    record_type: str,
    record_id: int | None,
    payload: dict[str, Any],
) -> Event:
    event = Event(
        type=event_type,
        record_type=record_type,
        record_id=record_id,
        actor_id=actor.user_id,
        occurred_at=clock.now(),
        payload=jsonable(payload),
    )
    db.add(event)
    for hook in _emit_hooks:
        hook(db)
    return event


def emit_many(db: Session, actor: Actor, items: list[tuple[str, str, int | None, dict[str, Any]]]) -> None:
    """One event per (type, record type, record id, payload), in order, with one INSERT. The
    payloads must be JSON-ready (a schema's `model_dump(mode="json")`, `audit.diff` changes)."""
    if not items:
        return
    now = clock.now()
    rows = [
        {
            "event_id": str(uuid.uuid4()),
            "type": event_type,
            "record_type": record_type,
            "record_id": record_id,
            "actor_id": actor.user_id,
            "occurred_at": now,
            "payload": payload,
        }
        for event_type, record_type, record_id, payload in items
    ]
    insert_rows(db, Event.__table__, rows)
    for insert_hook in _insert_hooks:
        insert_hook(db, rows)
    for hook in _emit_hooks:
        hook(db)


Handler = Callable[[Session, Event], None]
BatchHandler = Callable[[Session, list[Event]], None]
_consumers: dict[str, Handler | BatchHandler] = {}
_batch_consumers: set[str] = set()  # consumers that take the whole batch of events in one call


def consumer(name: str, *, batch: bool = False) -> Callable[[Any], Any]:
    """Register `handler(db, event)`, called once per event inside the dispatcher's transaction;
    with `batch=True`, `handler(db, events)` takes the dispatch batch's events (in order) at once,
    so it can read and write for all of them with a few statements. If it raises, it is called
    again event by event (`[event]`) to isolate the culprit.

    Do only database work there (rows, `jobs.enqueue`) and deduplicate by `event.event_id`."""

    def register(handler: Any) -> Any:
        if name in _consumers and _consumers[name] is not handler:
            raise ValueError(f"event consumer {name!r} is already registered")
        _consumers[name] = handler
        if batch:
            _batch_consumers.add(name)
        else:
            _batch_consumers.discard(name)
        return handler

    return register


def _call(db: Session, name: str, handler: Any, batch: list[Event]) -> None:
    if name in _batch_consumers:
        handler(db, batch)
    else:
        for event in batch:
            handler(db, event)


def consumers() -> dict[str, Handler | BatchHandler]:
    return dict(_consumers)


BATCH_CACHE = "carnet.dispatch_cache"


def batch_cached(db: Session, key: str, load: Callable[[], Any]) -> Any:
    """Memoise `load()` for the current dispatch batch (e.g. the active webhook endpoints or the
    enabled workflows), so a consumer costs one query per batch rather than one per event.
    Outside a dispatch batch (a consumer called directly, a retried event) it just loads."""
    cache: dict[str, Any] | None = db.info.get(BATCH_CACHE)
    if cache is None:
        return load()
    if key not in cache:
        cache[key] = load()
    return cache[key]


def _consume_batch(db: Session, name: str, handler: Any, batch: list[Event]) -> None:
    """The whole batch in one savepoint (cheap); if it fails, event by event to isolate the culprit."""
    try:
        with db.begin_nested():
            _call(db, name, handler, batch)
        return
    except Exception:
        pass
    for event in batch:
        try:
            with db.begin_nested():
                _call(db, name, handler, [event])
        except Exception as exc:
            log.warning("consumer %s failed on event %s (%s): %s", name, event.id, event.type, exc)
            jobs.enqueue(
                db,
                "events.consume",
                {"consumer": name, "event_id": event.id},
                due_at=clock.now() + jobs.backoff(1),
                key=f"consume:{name}:{event.event_id}",
            )


DISPATCH_BATCH = 500


def dispatch_pending(limit: int = DISPATCH_BATCH) -> int:
    """Hand the next undispatched events to every consumer; returns how many were dispatched."""
    with get_database().begin() as db:
        if db.get_bind().dialect.name == "postgresql":
            if not db.scalar(select(func.pg_try_advisory_xact_lock(DISPATCH_LOCK))):
                return 0  # another process is dispatching; it keeps the order
        batch = list(
            db.scalars(select(Event).where(Event.dispatched_at.is_(None)).order_by(Event.id).limit(limit))
        )
        if not batch:
            return 0
        db.info[BATCH_CACHE] = {}
        for name, handler in list(_consumers.items()):
            _consume_batch(db, name, handler, batch)
        db.execute(
            update(Event)
            .where(in_ids(db, Event.id, [event.id for event in batch]))
            .values(dispatched_at=clock.now())
            .execution_options(synchronize_session=False)
        )
    return len(batch)


def pending_count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Event).where(Event.dispatched_at.is_(None))) or 0


@jobs.task("events.consume", max_attempts=12, backoff_base=timedelta(minutes=1))
def _consume_again(payload: dict[str, Any]) -> None:
    """A consumer that failed on an event gets it again, with backoff, until it succeeds."""
    handler = _consumers.get(payload["consumer"])
    if handler is None:
        return  # the consumer no longer exists
    with get_database().begin() as db:
        event = db.get(Event, payload["event_id"])
        if event is not None:
            _call(db, payload["consumer"], handler, [event])
