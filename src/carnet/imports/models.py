from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from carnet.core import clock
from carnet.core.db import Base, IdMixin, JSONType

# uploaded -> mapped -> running -> done | failed; done -> undoing -> undone
STATUSES = ("uploaded", "mapped", "running", "done", "failed", "undoing", "undone")
ROW_STATUSES = ("created", "updated", "skipped", "failed")


class ImportJob(IdMixin, Base):
    """One file being imported: where it is, how its columns map, and how far the run went."""

    __tablename__ = "import_jobs"
    __table_args__ = (Index("ix_import_jobs_user_created", "user_id", "created_at"),)

    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    record_type: Mapped[str] = mapped_column(String(60))
    filename: Mapped[str] = mapped_column(String(255))
    stored_path: Mapped[str] = mapped_column(String(500))  # relative to CARNET_STORAGE_DIR
    file_format: Mapped[str] = mapped_column(String(10))  # csv | xlsx
    encoding: Mapped[str | None] = mapped_column(String(20))
    delimiter: Mapped[str | None] = mapped_column(String(1))
    size: Mapped[int] = mapped_column(Integer, default=0)
    headers: Mapped[list[str]] = mapped_column(JSONType, default=list)
    status: Mapped[str] = mapped_column(String(20), default="uploaded", index=True)
    mapping: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # header -> field key
    duplicate_mode: Mapped[str] = mapped_column(String(10), default="skip")
    match_keys: Mapped[list[str]] = mapped_column(JSONType, default=list)
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    started_at: Mapped[datetime | None] = mapped_column()
    heartbeat_at: Mapped[datetime | None] = mapped_column()  # a stale running job can be resumed
    finished_at: Mapped[datetime | None] = mapped_column()
    undone_at: Mapped[datetime | None] = mapped_column()
    undo_summary: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class ImportRow(IdMixin, Base):
    """The outcome of one line: what was written, why it failed, and what to put back on undo."""

    __tablename__ = "import_rows"
    __table_args__ = (UniqueConstraint("job_id", "line"),)

    job_id: Mapped[int] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(Integer)  # as in a spreadsheet: the header is line 1
    status: Mapped[str] = mapped_column(String(10))
    record_id: Mapped[int | None] = mapped_column(Integer)
    record_version: Mapped[int | None] = mapped_column(Integer)  # right after this import wrote it
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    previous: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # before an update, for undo
    cells: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # the failed row, for the report
    note: Mapped[str | None] = mapped_column(String(200))
    undo_status: Mapped[str | None] = mapped_column(String(10))  # undone | kept
    undo_note: Mapped[str | None] = mapped_column(String(200))
