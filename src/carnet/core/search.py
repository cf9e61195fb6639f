"""Global search over records: one `search_documents` row per searchable record, holding folded
(accent- and case-free) text, plus the owner and department the visibility filter needs.

SQLite matches with an FTS5 index (prefix queries, bm25 ranking); PostgreSQL with a stored
`simple` tsvector column and its GIN index (prefix queries, ts_rank). Both are created by the
migrations (raw SQL: the model does not declare them); this
module is the dialect seam. Queries are tokenised by `core.text.search_tokens` into words that are
safe to quote (no FTS5 or tsquery operator ever reaches the engine) and phone numbers or
identifiers typed with spaces are joined into the digit-only form they are indexed under.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    case,
    delete,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
    true,
    union,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from carnet.core import permissions, records
from carnet.core.context import Actor
from carnet.core.db import Base, in_ids, insert_rows
from carnet.core.text import digits, fold, search_tokens

_ADDRESS_PUNCTUATION = re.compile(r"[.@]+")


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
    """Folded words of `parts`, plus digit-only forms of phone numbers and identifiers.

    Put the record's title first: ranking puts documents whose text starts with the query first.
    Emails and web addresses are also indexed split on '.' and '@', so "dupont" finds
    jean.dupont@acme.fr and "boulangerie" finds www.boulangerie-martin.fr.
    """
    words = []
    for part in parts:
        folded = fold(part)
        if not folded:
            continue
        words.append(folded)
        split = _ADDRESS_PUNCTUATION.sub(" ", folded).strip()
        if split != folded:
            words.append(split)
    for number in numbers:
        if number:
            d = digits(number)
            words.append(d)
            if d.startswith("33") and len(d) == 11:  # +33 6 12... also found as 06 12...
                words.append("0" + d[2:])
    return " ".join(w for w in words if w)


@dataclass
class Document:
    """The search document of one record, as `index_records` writes it."""

    record_id: int
    title: str
    subtitle: str
    body: str
    owner_id: int | None
    department_id: int | None

    def values(self) -> dict[str, Any]:
        folded_title = fold(self.title)
        body = self.body
        if not body.startswith(folded_title):  # ranking relies on the body starting with the title
            body = f"{folded_title} {body}".strip()
        return {
            "title": self.title[:300],
            "subtitle": (self.subtitle or "")[:300],
            "body": body,
            "owner_id": self.owner_id,
            "department_id": self.department_id,
        }


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
    values = Document(record_id, title, subtitle, body, owner_id, department_id).values()
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


def index_records(db: Session, record_type: str, documents: list[Document], new: bool = False) -> None:
    """Write the documents of many records of one type: the old ones go in one DELETE, the new
    ones in one INSERT. The session must hold no SearchDocument object of these records.
    `new`: records created in this transaction (ids just reserved by `lifecycle.insert_new`),
    which have no document yet: no DELETE (it probed the unique index once per record)."""
    if not documents:
        return
    if not new:
        remove_records(db, record_type, [d.record_id for d in documents])
    insert_rows(
        db,
        SearchDocument.__table__,
        [{"record_type": record_type, "record_id": d.record_id, **d.values()} for d in documents],
    )


# Records whose search text carries another record's name (a contact or a deal carries its
# organisation's) register a re-indexer here, so a rename refreshes them. Lower-level domains
# call `reindex_dependents` without knowing who depends on them.
DEPENDENTS: dict[str, list[Callable[[Session, int], None]]] = {}


def register_dependent(record_type: str, reindex: Callable[[Session, int], None]) -> None:
    DEPENDENTS.setdefault(record_type, []).append(reindex)


def reindex_dependents(db: Session, record_type: str, record_id: int) -> None:
    for reindex in DEPENDENTS.get(record_type, []):
        reindex(db, record_id)


def remove_record(db: Session, record_type: str, record_id: int) -> None:
    remove_records(db, record_type, [record_id])


def remove_records(db: Session, record_type: str, record_ids: list[int]) -> None:
    db.execute(
        delete(SearchDocument).where(
            SearchDocument.record_type == record_type, in_ids(db, SearchDocument.record_id, record_ids)
        )
    )


CANDIDATES = 100
PREFIX_CHARS = 100


def _match(db: Session, tokens: list[str]) -> tuple[Any, Any, Any]:
    """(from clause, where clause, rank ordering) for the dialect.

    Tokens come from `search_tokens`: at least one letter or digit and only [\\w@.-], so quoting
    them cannot produce an FTS5 or tsquery syntax error; the query string itself is a bound
    parameter. Every token is a prefix and all of them must match.
    """
    if db.get_bind().dialect.name == "postgresql":
        query = " & ".join(f"'{t}':*" for t in tokens)
        tsquery = func.to_tsquery(literal_column("'simple'"), query)
        # The stored, GIN-indexed column (migration 0009): ranking reads it instead of recomputing
        # the vector of every matching row.
        vector = literal_column("search_documents.tsv")
        return SearchDocument, vector.op("@@")(tsquery), func.ts_rank(vector, tsquery).desc()
    fts_query = " ".join(f'"{t}"*' for t in tokens)
    fts = (
        select(literal_column("rowid").label("doc_id"), literal_column("bm25(search_fts)").label("score"))
        .select_from(table("search_fts"))
        .where(text("search_fts MATCH :fts_query").bindparams(fts_query=fts_query))
        .subquery("fts")
    )
    joined = SearchDocument.__table__.join(fts, fts.c.doc_id == SearchDocument.id)
    return joined, true(), fts.c.score.asc()  # bm25: lower is better


def search(
    db: Session, actor: Actor, query: str, limit: int = 20, record_types: list[str] | None = None
) -> list[SearchHit]:
    """The records of `record_types` (default: all) matching every word of `query` as a prefix,
    that `actor` may read. Titles starting with the query come first, then the best full-text
    rank, then shorter titles."""
    tokens = search_tokens(query)[:8]
    if not tokens or sum(len(t) for t in tokens) < 2:
        return []
    allowed = [
        rt
        for rt in (record_types or list(records.REGISTRY))
        if rt in records.REGISTRY and actor.can(f"{records.REGISTRY[rt].module}:read")
    ]
    if not allowed:
        return []
    source, match, rank = _match(db, tokens)
    visibility = [
        (SearchDocument.record_type == rt)
        & permissions.visible(db, actor, rt, SearchDocument.owner_id, SearchDocument.department_id)
        for rt in allowed
    ]
    # Tokens hold no LIKE wildcard ('%' and '_' are separators), so plain prefixes are safe.
    starts_with_query = case((SearchDocument.body.like(" ".join(tokens) + "%"), 0), else_=1)
    starts_with_word = case((SearchDocument.body.like(tokens[0] + "%"), 0), else_=1)
    where = [match, or_(*visibility)]
    if db.get_bind().dialect.name == "postgresql":
        # A common word ("paris", "martin") matches tens of thousands of documents at the large
        # size, and ranking them all is what costs. Rank a bounded candidate set instead: the
        # documents whose text starts with the query (the best answers, found through the trigram
        # index) plus the first CANDIDATES matches.
        visible_matches = select(SearchDocument.id).where(*where)
        # left(body, 100): the expression of the text_pattern_ops btree index (migration 0011)
        starting = visible_matches.where(
            func.left(SearchDocument.body, PREFIX_CHARS).like(" ".join(tokens) + "%")
        ).limit(limit)
        starting_ids = list(db.scalars(starting))
        if len(starting_ids) == limit:
            # Enough documents start with the query, and those rank first whatever the rest: the
            # full-text scan, whose cost grows with the number of matches, is not needed at all.
            where = [SearchDocument.id.in_(starting_ids)]
        else:
            candidates = union(starting, visible_matches.limit(CANDIDATES)).subquery()
            where = [SearchDocument.id.in_(select(candidates.c.id)), match]
    stmt = (
        select(SearchDocument)
        .select_from(source)
        .where(*where)
        .order_by(
            starts_with_query,
            starts_with_word,
            rank,
            func.length(SearchDocument.title),
            SearchDocument.id,
        )
        .limit(limit)
    )
    hits = []
    for doc in db.scalars(stmt):
        prefix = records.REGISTRY[doc.record_type].url_prefix
        hits.append(
            SearchHit(doc.record_type, doc.record_id, doc.title, doc.subtitle, f"{prefix}/{doc.record_id}")
        )
    return hits


def hit_for(db: Session, actor: Actor, record_type: str, record_id: int) -> SearchHit | None:
    """The title of one record for `actor` (a picker showing its current value); None when the
    record is neither indexed nor looked up (see LOOKUPS), or not visible to them."""
    rt = records.REGISTRY.get(record_type)
    if rt is None or not actor.can(f"{rt.module}:read"):
        return None
    if record_type in LOOKUPS:
        choice = LOOKUPS[record_type].one(db, actor, record_id)
        return _lookup_hit(record_type, choice) if choice else None
    doc = db.scalar(
        select(SearchDocument).where(
            SearchDocument.record_type == record_type,
            SearchDocument.record_id == record_id,
            permissions.visible(
                db, actor, record_type, SearchDocument.owner_id, SearchDocument.department_id
            ),
        )
    )
    if doc is None:
        return None
    return SearchHit(record_type, record_id, doc.title, doc.subtitle, f"{rt.url_prefix}/{record_id}")


# -- record types outside the index -----------------------------------------------------------------
# A form's record picker may also choose records the index does not hold (projects, quotes). Their
# service registers a lookup that matches a name or number directly in its own table, filtered by
# its own visibility rule: a handful of rows per keystroke needs no index of its own.


def folded(expression: Any) -> ColumnElement[str]:
    """`expression` folded in SQL as `core.text.fold` folds in Python (lower case, no accents): the
    function `carnet_fold`, created by migration 0066 on PostgreSQL, registered on every SQLite
    connection by `core.db`. Compare it with a folded needle: `folded(Project.name).contains(fold(q))`."""
    return func.carnet_fold(expression, type_=String)


@dataclass(frozen=True)
class Choice:
    """One record a picker offers: its title and a line to tell it apart (the client, the city)."""

    record_id: int
    title: str
    subtitle: str = ""


@dataclass(frozen=True)
class Lookup:
    matching: Callable[[Session, Actor, str, int], list[Choice]]  # (db, actor, query, limit), best first
    one: Callable[[Session, Actor, int], Choice | None]  # None when not visible to the actor


LOOKUPS: dict[str, Lookup] = {}


def register_lookup(
    record_type: str,
    matching: Callable[[Session, Actor, str, int], list[Choice]],
    one: Callable[[Session, Actor, int], Choice | None],
) -> None:
    LOOKUPS[record_type] = Lookup(matching, one)


def _lookup_hit(record_type: str, choice: Choice) -> SearchHit:
    prefix = records.REGISTRY[record_type].url_prefix
    return SearchHit(
        record_type, choice.record_id, choice.title, choice.subtitle, f"{prefix}/{choice.record_id}"
    )


def lookup(db: Session, actor: Actor, record_type: str, query: str, limit: int) -> list[SearchHit]:
    """The records of a looked-up type matching `query` that `actor` may read (empty when the
    actor may not read that type at all)."""
    rt = records.REGISTRY.get(record_type)
    query = query.strip()
    if record_type not in LOOKUPS or rt is None or not query or not actor.can(f"{rt.module}:read"):
        return []
    return [_lookup_hit(record_type, c) for c in LOOKUPS[record_type].matching(db, actor, query, limit)]
