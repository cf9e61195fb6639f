"""Domain events, appended to the outbox in the same transaction as the change they describe.

Consumers (webhooks, workflows, notifications) read them at least once, in order per record, and
deduplicate by event id. Nothing consumes them yet.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from carnet.core import clock
from carnet.core.audit import jsonable
from carnet.core.context import Actor
from carnet.core.db import Base, JSONType


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_record", "record_type", "record_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    type: Mapped[str] = mapped_column(String(80), index=True)
    record_type: Mapped[str] = mapped_column(String(60))
    record_id: Mapped[int | None] = mapped_column(Integer)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


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
    return event


def emit_many(db: Session, actor: Actor, items: list[tuple[str, str, int | None, dict[str, Any]]]) -> None:
    """One event per (type, record type, record id, payload), in order, with one INSERT. The
    payloads must be JSON-ready (a schema's `model_dump(mode="json")`, `audit.diff` changes)."""
    if not items:
        return
    now = clock.now()
    db.execute(
        insert(Event.__table__),
        [
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
        ],
    )
