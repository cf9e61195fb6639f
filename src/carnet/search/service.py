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


# Record types a form's picker may search (those the search index holds).
PICKABLE = ("organisation", "contact", "deal")
PICK_LIMIT = 15


def pick(
    db: Session, actor: Actor, record_type: str, query: str, selected: int | None
) -> tuple[SearchHit | None, list[SearchHit]]:
    """For a form's record picker: the currently selected record (if visible) and the records of
    `record_type` matching `query`, without the selected one."""
    current = core_search.hit_for(db, actor, record_type, selected) if selected else None
    hits: list[SearchHit] = []
    if query:
        _throttle(actor)
        hits = core_search.search(db, actor, query, PICK_LIMIT, [record_type])
    return current, [h for h in hits if current is None or h.record_id != current.record_id]


def type_label(record_type: str) -> str:
    return records.REGISTRY[record_type].label
