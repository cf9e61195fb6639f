from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from carnet.core.db import Base, RecordMixin

PRIORITIES = ("urgent", "high", "normal", "low")
STATUSES = ("todo", "in_progress", "done", "cancelled")
RECURRENCES = ("daily", "weekly", "monthly")


class Task(RecordMixin, Base):
    """`owner_id` is the assignee; visibility keys on it like on every record."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_owner_status_due", "owner_id", "status", "due_at"),
        Index("ix_tasks_record", "record_type", "record_id"),
    )

    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime | None] = mapped_column(index=True)
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    status: Mapped[str] = mapped_column(String(12), default="todo", index=True)
    record_type: Mapped[str | None] = mapped_column(String(60))
    record_id: Mapped[int | None] = mapped_column(Integer)
    recurrence: Mapped[str | None] = mapped_column(String(10))
    completed_at: Mapped[datetime | None] = mapped_column()
    # Indexed: finding a task's next occurrence, and SET NULL when a task is deleted, stay cheap.
    previous_task_id: Mapped[int | None] = mapped_column(
        ForeignKey("tasks.id", ondelete="SET NULL"), index=True
    )
