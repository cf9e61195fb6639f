from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
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
        # The recurrence job walks the open recurring tasks by id.
        Index("ix_tasks_recurrence_status_id", "recurrence", "status", "id"),
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


class TaskReminder(Base):
    """A reminder sent for a task at one offset (days from its due date). The unique key makes a
    second run of the reminder job send nothing; a new due date gets its own reminders."""

    __tablename__ = "task_reminders"
    __table_args__ = (UniqueConstraint("task_id", "offset_days", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    offset_days: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column()
    sent_at: Mapped[datetime] = mapped_column()
    user_id: Mapped[int | None] = mapped_column(Integer)
