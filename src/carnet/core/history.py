"""A record's history tab: its audit entries, newest first."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.core.audit import AuditEntry


def for_record(db: Session, record_type: str, record_id: int, limit: int = 100) -> list[AuditEntry]:
    return list(
        db.scalars(
            select(AuditEntry)
            .where(AuditEntry.record_type == record_type, AuditEntry.record_id == record_id)
            .order_by(AuditEntry.seq.desc())
            .limit(limit)
        )
    )
