"""Global search over records: one `search_documents` row per searchable record, holding folded
(accent- and case-free) text, plus the owner and department the visibility filter needs.

SQLite matches with an FTS5 index (prefix queries, bm25 ranking); PostgreSQL with a `simple`
tsvector GIN index (prefix queries, ts_rank) and a trigram index for substrings of numbers. Both
indexes are created by the migration; this module is the dialect seam.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from carnet.core import permissions, records
from carnet.core.context import Actor
from carnet.core.db import Base
from carnet.core.text import digits, fold, search_tokens


class SearchDocument(Base):
    __tablename__ = "search_documents"
    __table_args__ = (
        UniqueConstraint("record_type", "record_id"),
        Index("ix_search_documents_visibility", "record_type", "department_id", "owner_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_type: Mapped[str] = mapped_column(String(60))
    record_id: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    subtitle: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[int | None] = mapped_column(Integer)
    department_id: Mapped[int | None] = mapped_column(Integer)


@dataclass
class SearchHit:
    record_type: str
    record_id: int
    title: str
    subtitle: str
    url: str


def document_text(*parts: str | None, numbers: tuple[str | None, ...] = ()) -> str:
    """Folded words of `parts`, plus digit-only forms of phone numbers and identifiers."""
    words = [fold(p) for p in parts if p]
    for number in numbers:
        if number:
            d = digits(number)
            words.append(d)
            if d.startswith("33") and len(d) == 11:  # +33 6 12... also found as 06 12...
                words.append("0" + d[2:])
    return " ".join(w for w in words if w)


def index_record(
    db: Session,
    record_type: str,
    record_id: int,
    title: str,
    subtitle: str,
    body: str,
    owner_id: int | None,
    department_id: int | None,
) -> None:
    values = {
        "title": title[:300],
        "subtitle": (subtitle or "")[:300],
        "body": body,
        "owner_id": owner_id,
        "department_id": department_id,
    }
    doc = db.scalar(
        select(SearchDocument).where(
            SearchDocument.record_type == record_type, SearchDocument.record_id == record_id
        )
    )
    if doc is None:
        db.add(SearchDocument(record_type=record_type, record_id=record_id, **values))
    else:
        for key, value in values.items():
            setattr(doc, key, value)


def remove_record(db: Session, record_type: str, record_id: int) -> None:
    db.execute(
        delete(SearchDocument).where(
            SearchDocument.record_type == record_type, SearchDocument.record_id == record_id
        )
    )


def _match_clause(db: Session, tokens: list[str]) -> tuple[Any, Any]:
    """(where clause, rank expression) for the dialect."""
    if db.get_bind().dialect.name == "postgresql":
        query = " & ".join(f"{t.replace(chr(39), '')}:*" for t in tokens)
        tsquery = func.to_tsquery("simple", query)
        vector = func.to_tsvector("simple", SearchDocument.body)
        return vector.op("@@")(tsquery), func.ts_rank(vector, tsquery).desc()
    fts = " ".join('"' + t.replace('"', "") + '"*' for t in tokens)
    match_ids = text("SELECT rowid FROM search_fts WHERE search_fts MATCH :fts").bindparams(fts=fts)
    return SearchDocument.id.in_(match_ids), literal_column("0")


def search(
    db: Session, actor: Actor, query: str, limit: int = 20, record_types: list[str] | None = None
) -> list[SearchHit]:
    tokens = search_tokens(query)[:8]
    if not tokens:
        return []
    allowed = [
        rt
        for rt in (record_types or list(records.REGISTRY))
        if rt in records.REGISTRY and actor.can(f"{records.REGISTRY[rt].module}:read")
    ]
    if not allowed:
        return []
    match, rank = _match_clause(db, tokens)
    visibility = [
        (SearchDocument.record_type == rt)
        & permissions.visible(db, actor, rt, SearchDocument.owner_id, SearchDocument.department_id)
        for rt in allowed
    ]
    from sqlalchemy import or_

    # Exact title prefix first, then full-text rank, then shorter titles.
    starts = SearchDocument.body.like(tokens[0] + "%")
    stmt = (
        select(SearchDocument)
        .where(match, or_(*visibility))
        .order_by(starts.desc(), rank, func.length(SearchDocument.title), SearchDocument.id)
        .limit(limit)
    )
    hits = []
    for doc in db.scalars(stmt):
        prefix = records.REGISTRY[doc.record_type].url_prefix
        hits.append(
            SearchHit(doc.record_type, doc.record_id, doc.title, doc.subtitle, f"{prefix}/{doc.record_id}")
        )
    return hits
