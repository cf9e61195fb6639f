"""Housekeeping rows with a retention period: request logs, idempotency records, expired sessions.
`carnet maintenance` purges them; the audit trail is never touched."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, String, Text, UniqueConstraint, delete, func, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from carnet.core import clock
from carnet.core.db import Base, JSONType, UTCDateTime, get_database

log = logging.getLogger("carnet.http")


class RequestLog(Base):
    __tablename__ = "request_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    request_id: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    status: Mapped[int] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(Integer)
    token_id: Mapped[int | None] = mapped_column(Integer)
    ip: Mapped[str | None] = mapped_column(String(64))


class RequestLogWriter:
    """Writes request log rows with group commit: a row waits only for the insert already running,
    and rows that arrive meanwhile go in the next insert, together. One client alone gets one
    insert per request, at once; concurrent clients share transactions instead of each paying a
    commit. Nothing is held back for later, so nothing is lost when the process stops."""

    def __init__(self) -> None:
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._writing = False

    def write(self, row: dict[str, Any]) -> None:
        with self._lock:
            self._pending.append(row)
            if self._writing:
                return  # the thread inserting now takes this row in its next batch
            self._writing = True
        try:
            while True:
                with self._lock:
                    batch, self._pending = self._pending, []
                    if not batch:
                        self._writing = False
                        return
                self._insert(batch)
        except BaseException:
            with self._lock:
                self._writing = False
            raise

    @staticmethod
    def _insert(batch: list[dict[str, Any]]) -> None:
        try:
            with get_database().begin() as db:
                db.execute(insert(RequestLog), batch)
        except Exception:  # a request log must never break the request
            log.warning("could not write %d request log row(s)", len(batch), exc_info=True)


REQUEST_LOG = RequestLogWriter()


class IdempotencyRecord(Base):
    """A POST answered once under an Idempotency-Key, replayed for retries of the same request."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("principal", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255))
    principal: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    headers: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)


def purge_targets(retention: dict[str, timedelta]) -> list[tuple[str, Any, Any]]:
    """(label, table, where clause) of every purge `carnet maintenance` runs.

    `retention` holds "request_logs", "idempotency" and "session_idle" (the idle timeout: a session
    unused for that long can never be used again, whatever its absolute expiry says)."""
    from sqlalchemy import column, or_, table

    now = clock.now()
    # user_sessions belongs to accounts, which core must not import: a lightweight table is enough.
    sessions = table("user_sessions", column("id"), column("expires_at"), column("last_seen_at"))
    return [
        ("request logs", RequestLog.__table__, RequestLog.occurred_at < now - retention["request_logs"]),
        (
            "idempotency keys",
            IdempotencyRecord.__table__,
            IdempotencyRecord.created_at < now - retention["idempotency"],
        ),
        (
            "expired sessions",
            sessions,
            or_(
                sessions.c.expires_at <= _param(now),
                sessions.c.last_seen_at <= _param(now - retention["session_idle"]),
            ),
        ),
    ]


def _param(value: datetime) -> Any:
    """A datetime bound the way UTCDateTime columns store it (naive UTC on SQLite)."""
    from sqlalchemy import bindparam

    return bindparam(None, value, type_=UTCDateTime())


def count(db: Session, target: Any, where: Any) -> int:
    return db.scalar(select(func.count()).select_from(target).where(where)) or 0


def purge(db: Session, target: Any, where: Any, batch: int = 5000) -> int:
    """Delete in batches, committing each, so a long purge never holds the write lock for long."""
    total = 0
    while True:
        ids = select(target.c.id).where(where).limit(batch).scalar_subquery()
        deleted = db.execute(delete(target).where(target.c.id.in_(ids))).rowcount or 0
        db.commit()
        total += deleted
        if deleted < batch:
            return total


# Purges that domains register (e.g. finished imports and their files): (label, func) where
# func(db, settings, dry_run) returns the number of rows purged (or that would be).
PURGERS: list[tuple[str, Any]] = []


def register_purger(label: str, func: Any) -> None:
    PURGERS.append((label, func))


# Derived data that domains store and `carnet maintenance` checks against its source (e.g. stored
# totals): (label, func) where func(db, settings, dry_run) returns how many rows had drifted,
# repaired unless dry_run. 0 is the healthy answer.
RECOMPUTES: list[tuple[str, Any]] = []


def register_recompute(label: str, func: Any) -> None:
    RECOMPUTES.append((label, func))
