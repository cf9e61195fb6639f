from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class ActivityWrite(BaseModel):
    """Fields a client may set. Unknown fields are refused (no mass assignment). Date-times must
    carry an offset (`2026-05-12T14:30:00+02:00` or `...Z`)."""

    model_config = ConfigDict(extra="forbid")

    kind: str | None = Field(default=None, max_length=10, description="call, email, meeting, visit, note")
    subject: str | None = Field(default=None, max_length=200)
    body: str | None = Field(default=None, max_length=50_000)
    occurred_at: AwareDatetime | None = Field(default=None, description="Defaults to now")
    duration_minutes: int | None = Field(default=None, ge=0, le=100_000)
    outcome: str | None = Field(default=None, max_length=200)
    organisation_id: int | None = None
    contact_id: int | None = None
    deal_id: int | None = None
    participant_user_ids: list[int] | None = Field(default=None, max_length=50)
    participant_contact_ids: list[int] | None = Field(default=None, max_length=50)
    owner_id: int | None = None
    department_id: int | None = None
    custom_fields: dict[str, Any] | None = None


class ActivityCreate(ActivityWrite):
    kind: str = Field(max_length=10, description="call, email, meeting, visit, note")
    subject: str = Field(min_length=1, max_length=200)


class ActivityUpdate(ActivityWrite):
    pass


class ActivityRead(BaseModel):
    id: int
    kind: str
    subject: str
    body: str | None
    occurred_at: datetime
    duration_minutes: int | None
    outcome: str | None
    organisation_id: int | None
    contact_id: int | None
    deal_id: int | None
    participant_user_ids: list[int]
    participant_contact_ids: list[int]
    owner_id: int | None
    department_id: int | None
    custom_fields: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    created_by_id: int | None
    updated_by_id: int | None
