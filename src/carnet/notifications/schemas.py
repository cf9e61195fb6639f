from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    type: str
    title: str
    body: str
    record_type: str | None
    record_id: int | None
    url: str | None
    read_at: datetime | None
    created_at: datetime


class NotificationPage(BaseModel):
    items: list[NotificationRead]
    next_cursor: str | None = None
    unread_count: int


class PreferenceRead(BaseModel):
    type: str
    label: str
    in_app: bool
    email: bool


class PreferencesRead(BaseModel):
    items: list[PreferenceRead]


class PreferenceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str
    in_app: bool | None = None
    email: bool | None = None


class PreferencesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[PreferenceUpdate]


class MarkedRead(BaseModel):
    marked: int
    unread_count: int
