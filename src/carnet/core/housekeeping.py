"""Housekeeping rows with a retention period: request logs, idempotency records, expired sessions.
`carnet maintenance` purges them; the audit trail is never touched."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, String, Text, UniqueConstraint, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from carnet.core import clock
from carnet.core.db import Base, JSONType


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
    """(label, table, where clause) of every purge `carnet maintenance` runs."""
    from sqlalchemy import column, table

    now = clock.now()
    sessions = table("user_sessions", column("expires_at"))
    return [
        ("request logs", RequestLog.__table__, RequestLog.occurred_at < now - retention["request_logs"]),
        (
            "idempotency keys",
            IdempotencyRecord.__table__,
            IdempotencyRecord.created_at < now - retention["idempotency"],
        ),
        ("expired sessions", sessions, sessions.c.expires_at < now),
    ]


def count(db: Session, target: Any, where: Any) -> int:
    return db.scalar(select(func.count()).select_from(target).where(where)) or 0


def purge(db: Session, target: Any, where: Any) -> int:
    return db.execute(delete(target).where(where)).rowcount or 0
