"""API shapes of the settings screens: custom fields, tags, saved views and the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Write(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- custom fields --------------------------------------------------------------------------------------


class CustomFieldWrite(_Write):
    label: str | None = Field(default=None, max_length=120)
    required: bool | None = None
    default: Any = None
    help_text: str | None = Field(default=None, max_length=2000)
    options: list[str] | None = Field(default=None, max_length=200)
    position: int | None = Field(default=None, ge=-10_000, le=10_000)


class CustomFieldCreate(CustomFieldWrite):
    record_type: str = Field(max_length=60)
    key: str = Field(max_length=50, description="Lower-case letters, digits and underscores")
    field_type: str = Field(max_length=20, description="text, long_text, number, money, date, ...")
    label: str = Field(min_length=1, max_length=120)


class CustomFieldUpdate(CustomFieldWrite):
    pass


class CustomFieldRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    record_type: str
    key: str
    label: str
    field_type: str
    required: bool
    default: Any
    help_text: str
    options: list[str]
    position: int
    created_at: datetime
    updated_at: datetime


# -- tags ------------------------------------------------------------------------------------------------------


class TagWrite(_Write):
    name: str | None = Field(default=None, max_length=60)
    color: str | None = Field(default=None, max_length=20, description="#rrggbb or empty")


class TagCreate(TagWrite):
    record_type: str = Field(max_length=60)
    name: str = Field(min_length=1, max_length=60)


class TagUpdate(TagWrite):
    pass


class TagRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    record_type: str
    name: str
    color: str
    created_at: datetime
    updated_at: datetime


# -- saved views --------------------------------------------------------------------------------------------------


class SavedViewCreate(_Write):
    record_type: str = Field(max_length=60)
    name: str = Field(min_length=1, max_length=120)
    query: str = Field(default="", max_length=2000, description="The list's query string (filters, sort)")
    columns: list[str] = Field(default_factory=list, max_length=50)


class SavedViewRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    record_type: str
    name: str
    query: str
    columns: list[str]
    created_at: datetime


# -- audit ---------------------------------------------------------------------------------------------------------


class AuditEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    seq: int
    occurred_at: datetime
    actor_id: int | None
    actor_label: str
    action: str
    record_type: str
    record_id: int | None
    summary: str
    changes: dict[str, Any]
    ip: str | None
    user_agent: str | None
    request_id: str | None
