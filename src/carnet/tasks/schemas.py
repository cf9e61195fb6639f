from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class TaskWrite(BaseModel):
    """Fields a client may set. Unknown fields are refused (no mass assignment). `owner_id` is the
    assignee; the task's department follows the assignee's. Date-times must carry an offset."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=50_000)
    due_at: AwareDatetime | None = None
    priority: str | None = Field(default=None, max_length=10, description="urgent, high, normal, low")
    status: str | None = Field(default=None, max_length=12, description="todo, in_progress, done, cancelled")
    owner_id: int | None = Field(default=None, description="The assignee; defaults to you")
    record_type: str | None = Field(default=None, max_length=60, description="organisation, contact or deal")
    record_id: int | None = None
    recurrence: str | None = Field(default=None, max_length=10, description="daily, weekly, monthly")
    custom_fields: dict[str, Any] | None = None


class TaskCreate(TaskWrite):
    title: str = Field(min_length=1, max_length=200)


class TaskUpdate(TaskWrite):
    pass


class TaskRead(BaseModel):
    id: int
    title: str
    description: str | None
    due_at: datetime | None
    priority: str
    status: str
    owner_id: int | None
    department_id: int | None
    record_type: str | None
    record_id: int | None
    recurrence: str | None
    completed_at: datetime | None
    previous_task_id: int | None
    next_task_id: int | None
    overdue: bool
    custom_fields: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    created_by_id: int | None
    updated_by_id: int | None
