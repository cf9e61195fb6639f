"""Global search over every registered record type, rate limited per user.

The matching itself (tokenisation, full-text index, ranking, visibility) lives in `core.search`;
this module adds what the API and the UI share: the per-user rate limit, the limits on the
number of results and the grouping by record type for the results page.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from carnet.core import ratelimit, records
from carnet.core import search as core_search
from carnet.core.context import Actor
from carnet.core.search import SearchHit
from carnet.settings import get_settings

MAX_LIMIT = 50
SUGGEST_LIMIT = 8
PER_TYPE_LIMIT = 25


@dataclass
class ResultGroup:
    record_type: str
    label: str  # English, translated when rendered
    hits: list[SearchHit]


def _throttle(actor: Actor) -> None:
    ratelimit.hit(get_settings().rate_limit_search, "search", str(actor.user_id))


def search(
    db: Session, actor: Actor, query: str, limit: int = 20, record_types: list[str] | None = None
) -> list[SearchHit]:
    """The best matches across record types (at most MAX_LIMIT)."""
    _throttle(actor)
    return core_search.search(db, actor, query, max(1, min(limit, MAX_LIMIT)), record_types)


def grouped(db: Session, actor: Actor, query: str) -> list[ResultGroup]:
    """For the results page: the best matches of each record type the actor may read."""
    _throttle(actor)
    groups = []
    for name, rt in records.REGISTRY.items():
        if not actor.can(f"{rt.module}:read"):
            continue
        hits = core_search.search(db, actor, query, PER_TYPE_LIMIT, [name])
        if hits:
            groups.append(ResultGroup(name, rt.label, hits))
    return groups


# Record types a form's picker finds through the search index; the others it may pick (projects,
# quotes) are looked up in their own table (core.search.LOOKUPS).
INDEXED_PICKABLE = ("organisation", "contact", "deal")
PICK_LIMIT = 15


def pickable(record_type: str) -> bool:
    return record_type in INDEXED_PICKABLE or record_type in core_search.LOOKUPS


def pick(
    db: Session, actor: Actor, record_type: str, query: str, selected: int | None
) -> tuple[SearchHit | None, list[SearchHit]]:
    """For a form's record picker: the currently selected record (if visible) and the records of
    `record_type` matching `query`, without the selected one."""
    current = core_search.hit_for(db, actor, record_type, selected) if selected else None
    hits: list[SearchHit] = []
    if query:
        _throttle(actor)
        if record_type in INDEXED_PICKABLE:
            hits = core_search.search(db, actor, query, PICK_LIMIT, [record_type])
        else:
            hits = core_search.lookup(db, actor, record_type, query, PICK_LIMIT)
    return current, [h for h in hits if current is None or h.record_id != current.record_id]


def choice_label(db: Session, actor: Actor, record_type: str | None, record_id: object) -> str | None:
    """What a picker shows for its current value ("DEV-2026-0012 · Boulangerie Martin"), rendered
    with the form so the name shows at once (and without JavaScript); None when the value is not
    a record `actor` may see, and the picker keeps its number only."""
    raw = str(record_id or "")
    if not record_type or not pickable(record_type) or not raw.isdigit() or not 0 < int(raw) < 2**31:
        return None
    hit = core_search.hit_for(db, actor, record_type, int(raw))
    if hit is None:
        return None
    return f"{hit.title} · {hit.subtitle}" if hit.subtitle else hit.title


def type_label(record_type: str) -> str:
    return records.REGISTRY[record_type].label
