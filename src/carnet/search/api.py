"""JSON route for the global search."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from carnet.api.deps import ActorDep, DbDep
from carnet.search import service

router = APIRouter(prefix="/search", tags=["search"])


class SearchHitRead(BaseModel):
    record_type: str
    record_id: int
    title: str
    subtitle: str
    url: str


class SearchResults(BaseModel):
    items: list[SearchHitRead]


@router.get("", response_model=SearchResults)
def search(
    db: DbDep,
    actor: ActorDep,
    q: str = Query("", max_length=200),
    limit: int = Query(20, ge=1, le=service.MAX_LIMIT),
    types: str = Query("", description="Comma-separated record types, e.g. `organisation,contact`"),
) -> dict[str, Any]:
    """Records matching every word of `q` (accent- and case-insensitive, prefixes while typing,
    phone numbers and SIREN/SIRET with or without spaces), among those you may see. Titles
    starting with the query come first. On PostgreSQL, a query that matches nothing is tried again
    with its unknown words replaced by the closest words of the records (a typo: `dupond` finds
    Dupont). Rate limited per user (CARNET_RATE_LIMIT_SEARCH)."""
    record_types = [t.strip() for t in types.split(",") if t.strip()] or None
    hits = service.search(db, actor, q, limit, record_types)
    return {"items": [hit.__dict__ for hit in hits]}
