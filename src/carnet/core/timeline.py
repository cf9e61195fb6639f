"""A record's timeline: items from several providers merged newest first. Domains register
providers (activities register theirs), so a low-level record never imports a higher-level one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from carnet.core.context import Actor
from carnet.core.db import Prepared
from carnet.core.events import Event


@dataclass
class TimelineItem:
    when: datetime
    kind: str  # call, email, meeting, visit, note, task, change, event
    title: str
    body: str = ""
    url: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


Provider = Callable[[Session, Actor, str, int, int], list[TimelineItem]]
PROVIDERS: list[Provider] = []

# Business events worth showing on a timeline, with their English title templates.
NAMED_EVENTS = {
    "organisation.created": "Organisation created",
    "contact.created": "Contact created",
    "deal.created": "Deal created",
    "deal.stage_changed": "Moved from {from_stage} to {to_stage}",
    "deal.won": "Deal won",
    "deal.lost": "Deal lost",
    "task.completed": "Task completed: {title}",
}


def register(provider: Provider) -> Provider:
    PROVIDERS.append(provider)
    return provider


def _events_statement(_dialect: str) -> Any:
    events = Event.__table__.c
    return (
        select(events.type, events.occurred_at, events.payload)
        .where(
            events.record_type == bindparam("record_type"),
            events.record_id == bindparam("record_id"),
            events.type.in_(list(NAMED_EVENTS)),
        )
        .order_by(events.id.desc())
        .limit(bindparam("limit"))
    )


# Plain columns, built once: the statement runs on every timeline read.
EVENTS = Prepared(_events_statement)


@register
def _events(db: Session, actor: Actor, record_type: str, record_id: int, limit: int) -> list[TimelineItem]:
    rows = db.execute(EVENTS(db), {"record_type": record_type, "record_id": record_id, "limit": limit})
    items = []
    for ev in rows:
        params = {
            "from_stage": ev.payload.get("from_stage_name", ""),
            "to_stage": ev.payload.get("to_stage_name", ""),
            "title": ev.payload.get("title", ""),
        }
        items.append(
            TimelineItem(
                when=ev.occurred_at,
                kind="event",
                title=NAMED_EVENTS[ev.type],
                meta={"params": params, "type": ev.type},
            )
        )
    return items


def for_record(
    db: Session, actor: Actor, record_type: str, record_id: int, limit: int = 50
) -> list[TimelineItem]:
    items: list[TimelineItem] = []
    for provider in PROVIDERS:
        items.extend(provider(db, actor, record_type, record_id, limit))
    items.sort(key=lambda i: i.when, reverse=True)
    return items[:limit]
