from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ImportFieldRead(BaseModel):
    key: str
    label: str
    required: bool
    many: bool


class ImportJobRead(BaseModel):
    id: int
    user_id: int | None
    record_type: str
    filename: str
    file_format: str
    encoding: str | None
    delimiter: str | None
    size: int
    headers: list[str]
    status: str
    mapping: dict[str, str | None]
    duplicate_mode: str
    match_keys: list[str]
    total: int
    processed: int
    created: int
    updated: int
    skipped: int
    failed: int
    progress: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    undone_at: datetime | None
    undo_summary: dict[str, Any]
    fields: list[ImportFieldRead]


class ImportMappingWrite(BaseModel):
    """`mapping`: file column -> field key (`null` or "" to ignore the column)."""

    model_config = ConfigDict(extra="forbid")

    mapping: dict[str, str | None] = Field(max_length=500)
    duplicate_mode: Literal["skip", "update", "create"] = "skip"
    match_keys: list[str] | None = Field(default=None, max_length=10)


class RowErrorRead(BaseModel):
    field: str
    column: str
    code: str
    message: str


class PreviewRowRead(BaseModel):
    line: int
    action: str
    values: dict[str, Any]
    errors: list[RowErrorRead]


class PreviewRead(BaseModel):
    items: list[PreviewRowRead]


class ReportRowRead(BaseModel):
    line: int
    status: str
    record_id: int | None
    note: str | None
    errors: list[RowErrorRead]
    undo_status: str | None
    undo_note: str | None


class ReportPage(BaseModel):
    items: list[ReportRowRead]
    next_cursor: str | None = None
