"""API shapes for projects. Dates are ISO 8601; phases are addressed by position (0-based) or key."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: int
    role: str = Field(max_length=60, description='Free text: "formateur", "ingénieur d\'application"...')


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_id: int
    role: str = Field(
        default="other",
        description="pharmacist, biomedical_engineer, head_of_department, purchasing, management, "
        "nursing_manager, physician or other",
    )


class ProjectFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    start_date: date | None = None
    target_date: date | None = None
    description: str | None = Field(default=None, max_length=10000)
    notes: str | None = Field(default=None, max_length=10000)
    owner_id: int | None = None
    department_id: int | None = None
    custom_fields: dict[str, Any] | None = None


class ProjectCreate(ProjectFields):
    organisation_id: int = Field(description="The establishment")
    template_id: int = Field(description="Starts from the template's current version")
    members: list[MemberIn] | None = None
    contacts: list[ContactIn] | None = None
    deal_ids: list[int] | None = None
    allow_duplicate: bool = Field(
        default=False,
        description="Create even when the establishment has an open project of this template "
        "(only when the setting one_active_per_establishment is off)",
    )


class ProjectUpdate(ProjectFields):
    status: str | None = Field(default=None, description="active, on_hold or cancelled")


class TemplateRef(BaseModel):
    id: int
    name: str | None
    version: int | None


class PhaseRef(BaseModel):
    position: int
    key: str
    name: str


class PhaseRead(PhaseRef):
    state: str = Field(description="pending, open or closed")
    started_at: datetime | None
    closed_at: datetime | None
    closed_by_id: int | None
    checklist: dict[str, bool]


class HealthRead(BaseModel):
    status: str = Field(description="on_track, at_risk or late")
    reasons: list[str]


class ProjectRead(BaseModel):
    id: int
    name: str
    organisation_id: int
    template: TemplateRef
    status: str
    start_date: date
    target_date: date | None
    completed_at: datetime | None
    current_phase: PhaseRef | None
    phases: list[PhaseRead]
    health: HealthRead
    members: list[MemberIn]
    contacts: list[ContactIn]
    deal_ids: list[int]
    description: str | None
    notes: str | None
    owner_id: int | None
    department_id: int | None
    custom_fields: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime


class PhaseNote(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=2000)


class ChecklistTick(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: str = Field(max_length=200)
    done: bool


class PhaseMoveRead(BaseModel):
    position: int
    action: str = Field(description="opened, closed, reopened or completed")
    at: datetime
    user_id: int | None
    note: str | None


class DealLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deal_id: int


class DocumentRead(BaseModel):
    id: int
    position: int
    name: str
    attachment_id: int
    filename: str | None
    filed_at: datetime
    filed_by_id: int | None


class BulkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template_id: int
    organisation_ids: list[int] | None = None
    identifiers: str | None = Field(
        default=None, max_length=100000, description="Pasted SIREN / SIRET / FINESS numbers"
    )
    owner_id: int | None = None
    start_date: date | None = None
    target_date: date | None = None


class SkippedRead(BaseModel):
    label: str
    reason: str


class BulkRead(BaseModel):
    created: list[ProjectRead]
    skipped: list[SkippedRead]


class SettingsRead(BaseModel):
    one_active_per_establishment: bool
    portal_link_days: int


class SettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    one_active_per_establishment: bool | None = None
    portal_link_days: int | None = None
