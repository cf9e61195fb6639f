"""API shapes for workflows, their versions, runs and templates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class WorkflowWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    definition: dict[str, Any] | None = Field(
        default=None, description="trigger, start and steps: see the workflow definition format"
    )
    webhook_rate: str | None = Field(default=None, max_length=40, description='e.g. "30/minute"')


class WorkflowCreate(WorkflowWrite):
    name: str = Field(min_length=1, max_length=200)


class WorkflowUpdate(WorkflowWrite):
    pass


class WorkflowRead(BaseModel):
    id: int
    name: str
    description: str
    active: bool
    current_version: int
    trigger_type: str
    record_type: str | None
    template_key: str | None
    definition: dict[str, Any]
    webhook_url: str | None = Field(
        description="Incoming-webhook path (webhook trigger only); keep it secret"
    )
    webhook_rate: str | None
    owner_id: int | None
    department_id: int | None
    activated_at: datetime | None
    runs: int
    failures: int
    last_run_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


class VersionRead(BaseModel):
    number: int
    definition: dict[str, Any]
    created_by_id: int | None
    created_at: datetime
    frozen: bool


class DefinitionCheck(BaseModel):
    definition: Any


class Problem(BaseModel):
    step: str | None
    field: str
    message: str


class ValidationRead(BaseModel):
    valid: bool
    problems: list[Problem]


class RecordRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record_type: str | None = None
    record_id: int | None = None


class RunStepRead(BaseModel):
    id: int
    step_id: str
    type: str
    attempt: int
    status: str
    input: dict[str, Any]
    output: dict[str, Any]
    error: str | None
    duration_ms: int | None
    started_at: datetime
    finished_at: datetime | None


class RunRead(BaseModel):
    id: int
    workflow_id: int
    version: int
    trigger_event_id: str
    trigger: dict[str, Any]
    record_type: str | None
    record_id: int | None
    status: str
    depth: int
    test: bool
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    current_step: str | None
    steps: list[RunStepRead] | None = None


class TestRunRead(BaseModel):
    run_id: int
    status: str
    steps: list[dict[str, Any]]


class TemplateRead(BaseModel):
    key: str
    name: str
    description: str
    trigger_type: str


class ExportDocument(BaseModel):
    format: str
    name: str
    description: str = ""
    definition: dict[str, Any]


class HookAccepted(BaseModel):
    run_id: int | None
    status: str
