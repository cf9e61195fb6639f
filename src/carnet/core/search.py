"""Global search over records: one `search_documents` row per searchable record, holding folded
(accent- and case-free) text, plus the owner and department the visibility filter needs.

SQLite matches with an FTS5 index (prefix queries, bm25 ranking); PostgreSQL with a stored
`simple` tsvector column and its GIN index (prefix queries, ts_rank). Both are created by the
migrations (raw SQL: the model does not declare them); this module is the dialect seam. On
PostgreSQL, a query that matches nothing is tried again with its unknown words replaced by the
closest words of the documents' vocabulary (a typo in a name).

Queries are tokenised by `core.text.search_tokens` into words that are safe to quote (no FTS5 or
tsquery operator ever reaches the engine) and phone numbers or identifiers typed with spaces are
joined into the digit-only form they are indexed under.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    case,
    cast,
    delete,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
    union,
)
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql import Executable

from carnet.core import permissions, records
from carnet.core.context import Actor
from carnet.core.db import Base, ids_param, in_ids, insert_rows
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
    new_text = doc is None or doc.body != values["body"]  # not when a deal moves or changes owner
    if doc is None:
        db.add(SearchDocument(record_type=record_type, record_id=record_id, **values))
    else:
        for key, value in values.items():
            setattr(doc, key, value)
    if new_text:
        remember_words(db, [values["body"]])


def index_records(db: Session, record_type: str, documents: list[Document], new: bool = False) -> None:
    """Write the documents of many records of one type: the old ones go in one DELETE, the new
    ones in one INSERT. The session must hold no SearchDocument object of these records.
    `new`: records created in this transaction (ids just reserved by `lifecycle.insert_new`),
    which have no document yet: no DELETE (it probed the unique index once per record)."""
    if not documents:
        return
    if not new:
        remove_records(db, record_type, [d.record_id for d in documents])
    rows = [{"record_type": record_type, "record_id": d.record_id, **d.values()} for d in documents]
    insert_rows(db, SearchDocument.__table__, rows)
    remember_words(db, [row["body"] for row in rows])


# -- the vocabulary, for typo tolerance (PostgreSQL) ------------------------------------------------
# `search_words` (migration 0069; its trigram index is raw SQL, like the tsvector) holds the words
# of every document: runs of WORD_MIN to WORD_MAX letters of the folded text. Only PostgreSQL fills
# it. When a search finds nothing, each word of the query that is not in it is replaced by the word
# most like it (pg_trgm's similarity, at least 0.3, the extension's default threshold), and the
# search runs again: "dupond" finds Dupont.
_WORD = re.compile(r"[a-z]+")
WORD_MIN, WORD_MAX = 4, 40

# Declared for the metadata (`carnet restore` drops the tables a backup predates by it); written
# and read with the SQL below, which says what PostgreSQL does with it.
SEARCH_WORDS = Table(
    "search_words", Base.metadata, Column("word", String(WORD_MAX), nullable=False, index=True)
)


def words_of(texts: list[str]) -> list[str]:
    """The vocabulary words of folded texts, sorted."""
    return sorted({w for t in texts for w in _WORD.findall(t) if WORD_MIN <= len(w) <= WORD_MAX})


# Inserted only when missing, without a unique constraint to wait on: a word two transactions add
# at once is stored twice, which lookups do not mind, rather than one writer waiting for another.
_ADD_WORDS = text(
    "INSERT INTO search_words (word) SELECT w FROM unnest(CAST(:words AS varchar[])) AS w"
    " WHERE NOT EXISTS (SELECT 1 FROM search_words AS known WHERE known.word = w)"
)
# Words of the documents the vocabulary lacks (documents a bulk load wrote directly)
_MISSING_WORDS = (
    "SELECT DISTINCT w FROM search_documents, regexp_split_to_table(body, '[^a-z]+') AS w"
    f" WHERE length(w) BETWEEN {WORD_MIN} AND {WORD_MAX}"
    " AND NOT EXISTS (SELECT 1 FROM search_words AS known WHERE known.word = w)"
)
_CLOSEST_WORDS = text(
    "SELECT (SELECT w.word FROM search_words AS w WHERE w.word % t.token"
    " ORDER BY similarity(w.word, t.token) DESC, w.word LIMIT 1)"
    " FROM unnest(CAST(:tokens AS varchar[])) WITH ORDINALITY AS t(token, n) ORDER BY t.n"
)


def remember_words(db: Session, bodies: list[str]) -> None:
    """Add the words of these document bodies to the vocabulary (PostgreSQL)."""
    if db.get_bind().dialect.name != "postgresql":
        return
    words = words_of(bodies)
    if words:
        db.execute(_ADD_WORDS, {"words": words})


def add_missing_words(db: Session) -> int:
    """Complete the vocabulary from every document (after a bulk load that wrote documents
    directly); returns how many words it lacked."""
    if db.get_bind().dialect.name != "postgresql":
        return 0
    return db.execute(text(f"INSERT INTO search_words (word) {_MISSING_WORDS}")).rowcount


def corrected_tokens(db: Session, tokens: list[str]) -> list[str]:
    """`tokens` with each word the vocabulary lacks replaced by its closest word (PostgreSQL);
    numbers, short words and words without a close one stay as they are."""
    candidates = [t for t in tokens if t.isalpha() and t.isascii() and WORD_MIN <= len(t) <= WORD_MAX]
    if not candidates or db.get_bind().dialect.name != "postgresql":
        return tokens
    closest = dict(zip(candidates, db.execute(_CLOSEST_WORDS, {"tokens": candidates}).scalars(), strict=True))
    return [closest.get(t) or t for t in tokens]


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
MAX_TOKENS = 8
ANCHOR_CHARS = 3


def _visible(dialect: str, kinds: tuple[str, ...]) -> ColumnElement[bool]:
    """Visibility over documents of many record types: one clause per visibility kind present
    (`permissions.visibility`), the record types of each kind and the user's ids bound at
    execution, so one statement serves every user whose kinds are the same."""
    docs = SearchDocument.__table__.c
    user_id, department_id = bindparam("user_id", type_=Integer), bindparam("department_id", type_=Integer)
    return or_(
        *[
            ids_param(dialect, docs.record_type, f"types_{kind}", String)
            & permissions.visibility_clause(kind, docs.owner_id, docs.department_id, user_id, department_id)
            for kind in kinds
        ]
    )


def _literal(name: str) -> Any:
    """A query string bound at execution but written into the SQL text: PostgreSQL plans LIKE
    'x%' on an index and estimates a tsquery only from a constant, and psycopg turns a statement
    run five times into a prepared one, whose generic plan would see a parameter instead."""
    return bindparam(name, type_=String, literal_execute=True)


def _ranking(docs: Any) -> list[Any]:
    """Titles starting with the query first (the body starts with the folded title), then those
    starting with its first word; the engine's rank and shorter titles after."""
    return [
        case((docs.body.like(_literal("query_prefix")), 0), else_=1),
        case((docs.body.like(_literal("word_prefix")), 0), else_=1),
    ]


def _postgres_search(kinds: tuple[str, ...]) -> Executable:
    """Ranks a bounded set of candidates, not every match: a common word ("paris", "martin")
    matches tens of thousands of documents at the large size, and ranking them all is what costs.
    The candidates are the documents starting with the query (the best answers, read in the order
    of the text_pattern_ops index on left(body, 100), migration 0011) and, only when fewer than
    `limit` do, the first CANDIDATES other matches of the GIN-indexed tsvector (migration 0009).

    The GIN index looks up the "anchor" tokens only (`_tsqueries`); every token is then checked on
    the rows it returns with `ts_match_vq`, the function behind @@, which no index answers."""
    docs = SearchDocument.__table__
    vector = literal_column("tsv")  # the stored column; the model does not declare it (PostgreSQL only)
    tsquery = cast(_literal("tsquery"), TSQUERY)
    visible = _visible("postgresql", kinds)
    limit = bindparam("limit", type_=Integer, literal_execute=True)  # planned as a constant too
    head = func.left(docs.c.body, literal_column(str(PREFIX_CHARS)))  # as the index has it
    every_token = func.ts_match_vq(vector, tsquery)
    starting = (
        select(docs.c.id)
        .where(head.like(_literal("query_prefix")), every_token, visible)
        .order_by(head)
        .limit(limit)
        .cte("starting")
        .prefix_with("MATERIALIZED")  # run once, read twice
    )
    # Checked once before the scan: when `limit` documents start with the query, they rank first
    # whatever the rest, and the scan (whose cost grows with the number of matches) never runs.
    too_few = select(func.count()).select_from(starting).scalar_subquery() < limit
    anchor = vector.op("@@")(cast(_literal("anchor"), TSQUERY))
    others = select(docs.c.id).where(anchor, every_token, visible, too_few).limit(CANDIDATES)
    candidates = union(select(starting.c.id), others).subquery("candidates")
    return (
        select(docs.c.record_type, docs.c.record_id, docs.c.title, docs.c.subtitle)
        .where(docs.c.id.in_(select(candidates.c.id)))
        .order_by(
            *_ranking(docs.c), func.ts_rank(vector, tsquery).desc(), func.length(docs.c.title), docs.c.id
        )
        .limit(limit)
    )


def _tsqueries(tokens: list[str]) -> tuple[str, str]:
    """(every token, the anchor tokens) as tsquery text: lexeme prefixes written as they are, not
    parsed by to_tsquery, which would split "saint-etienne" into a phrase of three prefixes, and
    "villeneuve-d" into one with 'd':*, matching every word starting with d (the documents hold
    the whole hyphenated word as a lexeme too, so "saint-eti" finds "saint-etienne").
    The anchor leaves out tokens shorter than ANCHOR_CHARS when there are longer ones: for
    "le havre", GIN gathers the postings of every lexeme starting with "le" (160 ms at a million
    documents) while those of "havre" take 1 ms, and the rows found are checked for "le" anyway."""
    prefixes = [f"'{t}':*" for t in tokens]  # tokens hold no quote (see search_tokens)
    anchor = [p for t, p in zip(tokens, prefixes, strict=True) if len(t) >= ANCHOR_CHARS] or prefixes
    return " & ".join(prefixes), " & ".join(anchor)


def _sqlite_search(kinds: tuple[str, ...]) -> Executable:
    """FTS5 matches every prefix; bm25 ranks (lower is better)."""
    docs = SearchDocument.__table__
    fts = (
        select(literal_column("rowid").label("doc_id"), literal_column("bm25(search_fts)").label("score"))
        .select_from(table("search_fts"))
        .where(literal_column("search_fts").op("MATCH")(bindparam("fts_query", type_=String)))
        .subquery("fts")
    )
    return (
        select(docs.c.record_type, docs.c.record_id, docs.c.title, docs.c.subtitle)
        .select_from(docs.join(fts, fts.c.doc_id == docs.c.id))
        .where(_visible("sqlite", kinds))
        .order_by(*_ranking(docs.c), fts.c.score.asc(), func.length(docs.c.title), docs.c.id)
        .limit(bindparam("limit", type_=Integer))
    )


# One statement per dialect and set of visibility kinds (at most 7 sets), built once: building a
# statement of this size and its cache key costs SQLAlchemy more Python than the rest of a search.
_STATEMENTS: dict[tuple[str, tuple[str, ...]], Executable] = {}


def search_statement(
    dialect: str,
    tokens: list[str],
    limit: int,
    types_of: dict[str, list[str]],
    user_id: int | None = None,
    department_id: int | None = None,
) -> tuple[Executable, dict[str, Any]]:
    """The statement of a search and its parameters. `tokens` from `search_tokens`; `types_of`:
    the record types to search by visibility kind (`permissions.visibility`: all, own or
    department), for the user `user_id` of `department_id`. The bench runs it directly too."""
    kinds = tuple(sorted(types_of))
    statement = _STATEMENTS.get((dialect, kinds))
    if statement is None:
        build = _postgres_search if dialect == "postgresql" else _sqlite_search
        statement = _STATEMENTS[(dialect, kinds)] = build(kinds)
    params: dict[str, Any] = {
        "query_prefix": " ".join(tokens) + "%",
        "word_prefix": tokens[0] + "%",
        "limit": limit,
        "user_id": user_id,
        "department_id": department_id,
        **{f"types_{kind}": types for kind, types in types_of.items()},
    }
    if dialect == "postgresql":
        params["tsquery"], params["anchor"] = _tsqueries(tokens)  # every token a prefix
    else:
        params["fts_query"] = " ".join(f'"{t}"*' for t in tokens)
    return statement, params


def search(
    db: Session, actor: Actor, query: str, limit: int = 20, record_types: list[str] | None = None
) -> list[SearchHit]:
    """The records of `record_types` (default: all) matching every word of `query` as a prefix,
    that `actor` may read. Titles starting with the query come first, then those starting with
    its first word, then the best full-text rank, then shorter titles. When nothing matches, the
    words of `query` the documents' vocabulary lacks are replaced by their closest words and the
    search runs again (PostgreSQL: `corrected_tokens`).

    Tokens come from `search_tokens`: at least one letter or digit and only [\\w@.-], so quoting
    them cannot produce an FTS5 or tsquery syntax error, and they hold no LIKE wildcard ('%' and
    '_' are separators); the query strings themselves are bound parameters (which SQLAlchemy
    writes into the SQL as quoted literals, see `_literal`)."""
    tokens = search_tokens(query)[:MAX_TOKENS]
    if not tokens or sum(len(t) for t in tokens) < 2:
        return []
    types_of: dict[str, list[str]] = {}
    for rt in record_types or list(records.REGISTRY):
        if rt in records.REGISTRY and actor.can(f"{records.REGISTRY[rt].module}:read"):
            kind = permissions.visibility(db, actor, rt)
            if kind != "none":
                types_of.setdefault(kind, []).append(rt)
    if not types_of:
        return []
    dialect = db.get_bind().dialect.name
    statement, params = search_statement(dialect, tokens, limit, types_of, actor.user_id, actor.department_id)
    rows = db.execute(statement, params).all()
    if not rows and (corrected := corrected_tokens(db, tokens)) != tokens:  # a typo? ("dupond")
        statement, params = search_statement(
            dialect, corrected, limit, types_of, actor.user_id, actor.department_id
        )
        rows = db.execute(statement, params).all()
    return [
        SearchHit(rt, record_id, title, subtitle, f"{records.REGISTRY[rt].url_prefix}/{record_id}")
        for rt, record_id, title, subtitle in rows
    ]


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
    function `carnet_fold`, created by migration 0067 on PostgreSQL, registered on every SQLite
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
