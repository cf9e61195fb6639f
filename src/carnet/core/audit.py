"""The tamper-evident audit trail.

Every create, update, delete, import, export, login and permission change appends one entry with
who, when, from where and the field-level old and new values. Each entry stores the hash of the
previous one (SHA-256 over a canonical JSON form), so editing, removing or inserting any entry
breaks the chain; `carnet audit verify` recomputes it. A one-row head (last seq and hash), moved
in the same transaction as every append, catches what the chain alone cannot: entries cut from
the end, or added after it without going through `record`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from itertools import groupby
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text, bindparam, insert, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from carnet.core import clock
from carnet.core.context import Actor
from carnet.core.db import Base, JSONType, Prepared, insert_rows

GENESIS = "0" * 64


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_record", "record_type", "record_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True, nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor_label: Mapped[str] = mapped_column(String(200), default="")
    action: Mapped[str] = mapped_column(String(40), index=True)
    record_type: Mapped[str] = mapped_column(String(60), default="")
    record_id: Mapped[int | None] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(String(300), default="")
    changes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The last entry of the chain, written by `record` only."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    entry_hash: Mapped[str] = mapped_column(String(64))


HEAD_ID = 1


_PLAIN = (str, int, float, bool, type(None))


def jsonable(value: Any) -> Any:
    if type(value) in _PLAIN:  # most values: checked first, an import calls this millions of times
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value


_HASHED = (
    "seq",
    "occurred_at",
    "actor_id",
    "actor_label",
    "action",
    "record_type",
    "record_id",
    "summary",
    "changes",
    "ip",
    "user_agent",
    "request_id",
)


def _canonical(values: dict[str, Any]) -> bytes:
    body = {key: values[key] for key in _HASHED}
    body["occurred_at"] = values["occurred_at"].isoformat()
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compute_hash(prev_hash: str, entry: AuditEntry | dict[str, Any]) -> str:
    values = entry if isinstance(entry, dict) else {key: getattr(entry, key) for key in _HASHED}
    return hashlib.sha256(prev_hash.encode() + _canonical(values)).hexdigest()


def _lock_chain(db: Session) -> None:
    """Serialise appends so the chain never forks. SQLite write transactions are already serial."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(_LOCK_CHAIN)


# Built once: every write of a record appends an entry, and building these statements cost more
# Python than running them. Core statements, no ORM objects: nothing to flush or keep in the session.
_LOCK_CHAIN = text("SELECT pg_advisory_xact_lock(7301)")
_LAST_ENTRY = Prepared(
    lambda _dialect: (
        select(AuditEntry.__table__.c.seq, AuditEntry.__table__.c.entry_hash)
        .order_by(AuditEntry.__table__.c.seq.desc())
        .limit(1)
    )
)
_INSERT_ENTRIES = Prepared(lambda _dialect: insert(AuditEntry.__table__))
_MOVE_HEAD = Prepared(
    lambda _dialect: (
        update(AuditHead.__table__)
        .where(AuditHead.__table__.c.id == HEAD_ID)
        .values(seq=bindparam("head_seq"), entry_hash=bindparam("head_hash"))
    )
)
_INSERT_HEAD = Prepared(lambda _dialect: insert(AuditHead.__table__))


def record(
    db: Session,
    actor: Actor,
    action: str,
    record_type: str = "",
    record_id: int | None = None,
    changes: dict[str, Any] | None = None,
    summary: str = "",
) -> int:
    """Append one audit entry in the caller's transaction; returns its sequence number (0 inside
    `appended_together`, which appends it when the block ends)."""
    return record_many(db, actor, [Change(action, record_type, record_id, jsonable(changes or {}), summary)])


_PENDING = "audit_pending"


@contextmanager
def appended_together(db: Session) -> Iterator[None]:
    """Append the entries given to `record` and `record_many` inside the block when it ends, in
    order: one lock, one read of the last entry and one INSERT for a write that records several (a
    deal moved to a won stage records three). The block must end before the commit; nothing is
    appended when it raises. Nested blocks belong to the outer one."""
    if _PENDING in db.info:
        yield
        return
    db.connection()  # begins the transaction the entries belong to, if none has begun yet
    transaction = db.get_transaction()
    pending: list[tuple[Actor, Change]] = []
    db.info[_PENDING] = pending
    try:
        yield
    finally:
        db.info.pop(_PENDING, None)
    if pending and db.get_transaction() is not transaction:
        raise RuntimeError("the transaction ended before its audit entries were appended")
    for _, run in groupby(pending, key=lambda item: id(item[0])):  # one append per actor in turn
        items = list(run)
        _append(db, items[0][0], [change for _, change in items])


@dataclass
class Change:
    """One entry of `record_many`."""

    action: str
    record_type: str
    record_id: int | None
    changes: dict[str, Any]  # JSON-ready, as `diff` returns them
    summary: str


def record_many(db: Session, actor: Actor, items: list[Change]) -> int:
    """Append one entry per item in the caller's transaction, with one INSERT: the chain is built
    in memory from the last entry, under the chain's lock, and the head moves to the last one.
    Call it last in a transaction that writes many records, so other writers wait for the lock
    as briefly as possible. Returns the sequence number of the last entry (0 when none, or inside
    `appended_together`, which appends them when the block ends)."""
    pending: list[tuple[Actor, Change]] | None = db.info.get(_PENDING)
    if pending is not None:
        pending.extend((actor, item) for item in items)
        return 0
    return _append(db, actor, items)


def _append(db: Session, actor: Actor, items: list[Change]) -> int:
    if not items:
        return 0
    _lock_chain(db)
    last = db.execute(_LAST_ENTRY(db)).first()
    seq, prev_hash = (last.seq, last.entry_hash) if last else (0, GENESIS)
    now = clock.now()
    user_agent = (actor.user_agent or "")[:500] or None
    rows = []
    for item in items:
        seq += 1
        values: dict[str, Any] = {
            "seq": seq,
            "occurred_at": now,
            "actor_id": actor.user_id,
            "actor_label": actor.label,
            "action": item.action,
            "record_type": item.record_type,
            "record_id": item.record_id,
            "summary": item.summary[:300],
            "changes": item.changes,
            "ip": actor.ip,
            "user_agent": user_agent,
            "request_id": actor.request_id,
            "prev_hash": prev_hash,
        }
        prev_hash = values["entry_hash"] = compute_hash(prev_hash, values)
        rows.append(values)
    insert_rows(db, AuditEntry.__table__, rows, _INSERT_ENTRIES(db))
    moved = db.execute(_MOVE_HEAD(db), {"head_seq": seq, "head_hash": prev_hash})
    if moved.rowcount == 0:  # the first entry ever
        db.execute(_INSERT_HEAD(db), {"id": HEAD_ID, "seq": seq, "entry_hash": prev_hash})
    return seq


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Field-level {field: {"old": a, "new": b}} for the fields that changed."""
    if not old:  # a creation (imports diff thousands): every field that holds something
        return _created(new)
    out: dict[str, Any] = {}
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key), new.get(key)
        # Most values are plain already: jsonable is only called for the others (an import
        # diffs a snapshot of twenty fields per record).
        if type(a) not in _PLAIN:
            a = jsonable(a)
        if type(b) not in _PLAIN:
            b = jsonable(b)
        if a != b:
            out[key] = {"old": a, "new": b}
    return out


def _created(new: dict[str, Any]) -> dict[str, Any]:
    """`diff({}, new)`: the fields of `new` that are not None, in the same order."""
    out: dict[str, Any] = {}
    for key in sorted(new):
        value = new[key]
        if type(value) not in _PLAIN:
            value = jsonable(value)
        if value is not None:
            out[key] = {"old": None, "new": value}
    return out


@dataclass
class VerifyResult:
    checked: int
    ok: bool
    first_bad_seq: int | None = None
    problem: str = ""


def _head(db: Session) -> Any:
    return db.execute(select(AuditHead.seq, AuditHead.entry_hash).where(AuditHead.id == HEAD_ID)).first()


def verify(db: Session, batch: int = 5000) -> VerifyResult:
    """Recompute the chain; report the first altered, removed or inserted entry.

    Safe while the application appends: the head is read before the entries (what it names must
    still be there, unchanged) and again after them (nothing may lie beyond it)."""
    start = _head(db)
    prev_hash = GENESIS
    expected_seq = 1
    checked = 0
    last_id = 0
    while True:
        rows = db.scalars(
            select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id).limit(batch)
        ).all()
        if not rows:
            return _check_ends(start, _head(db), checked, prev_hash)
        for entry in rows:
            last_id = entry.id
            if entry.seq != expected_seq:
                return VerifyResult(
                    checked, False, expected_seq, f"entry {expected_seq} is missing or out of order"
                )
            if entry.prev_hash != prev_hash:
                return VerifyResult(
                    checked, False, entry.seq, f"entry {entry.seq} does not link to the previous one"
                )
            if compute_hash(prev_hash, entry) != entry.entry_hash or (
                start is not None and entry.seq == start.seq and entry.entry_hash != start.entry_hash
            ):
                return VerifyResult(checked, False, entry.seq, f"entry {entry.seq} was altered")
            prev_hash = entry.entry_hash
            expected_seq += 1
            checked += 1
        db.expunge_all()


def _check_ends(start: Any, end: Any, checked: int, last_hash: str) -> VerifyResult:
    """The chain holds `checked` valid entries: it must reach the head read before verifying,
    and go no further than the head read after."""
    if start is not None and checked < start.seq:
        return VerifyResult(checked, False, checked + 1, f"entries {checked + 1} to {start.seq} were removed")
    if end is None:
        if checked:
            return VerifyResult(checked, False, checked, "the record of the last entry is missing")
        return VerifyResult(checked=0, ok=True)
    if checked > end.seq:
        return VerifyResult(
            end.seq, False, end.seq + 1, f"entry {end.seq + 1} was added after the recorded end"
        )
    if checked == end.seq and last_hash != end.entry_hash:
        return VerifyResult(checked, False, checked, f"entry {checked} was altered")
    return VerifyResult(checked=checked, ok=True)
