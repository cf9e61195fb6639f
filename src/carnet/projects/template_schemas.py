"""API shapes of project templates. A definition is sent as plain JSON and validated by
projects.definition.parse_definition, so its errors carry paths such as
`definition.phases[2].tasks[0].due_days`; the read shapes below document it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DEFINITION_HELP = (
    '{"phases": [{"key", "name", "description", "tasks": [{"title", "description", "due_days", '
    '"priority", "assignee": {"type": "owner" | "user" (+ "user_id") | "member_role" (+ "role")}}], '
    '"checklist": [...], "documents": [...], "required_fields": [...]}]}'
)
DEFINITION_EXAMPLE: dict[str, Any] = {
    "phases": [
        {
            "key": "qualification",
            "name": "Qualification",
            "tasks": [
                {"title": "Identifier les interlocuteurs clés", "due_days": 7, "assignee": {"type": "owner"}}
            ],
            "checklist": ["Besoin clinique identifié"],
            "documents": ["Fiche établissement"],
            "required_fields": ["target_date", "contact_role:pharmacist"],
        }
    ]
}


class AssigneeRead(BaseModel):
    type: Literal["owner", "user", "member_role"]
    user_id: int | None = None
    role: str | None = None


class TaskTemplateRead(BaseModel):
    title: str
    description: str | None = None
    due_days: int = Field(description="Due that many days after the phase starts")
    priority: str = Field(description="urgent, high, normal or low")
    assignee: AssigneeRead


class PhaseRead(BaseModel):
    key: str
    name: str
    description: str | None = None
    tasks: list[TaskTemplateRead]
    checklist: list[str]
    documents: list[str] = Field(description="Names of the documents the phase expects")
    required_fields: list[str] = Field(
        description="target_date, description, notes, deal, deal_won, custom:<key>, "
        "contact_role:<role>, member_role:<role>, document:<expected document of this phase>"
    )


class DefinitionRead(BaseModel):
    phases: list[PhaseRead]


class ProjectTemplateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=500)
    description: str | None = None
    definition: dict[str, Any] | None = Field(
        default=None, description=DEFINITION_HELP, examples=[DEFINITION_EXAMPLE]
    )


class ProjectTemplateUpdate(BaseModel):
    """A `definition` that differs from the current version's adds a version."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=500)
    description: str | None = None
    active: bool | None = Field(
        default=None, description="Archived templates (false) are not offered for new projects"
    )
    definition: dict[str, Any] | None = Field(default=None, description=DEFINITION_HELP)


class DuplicateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=500, description="Name of the copy")


class ProjectTemplateRead(BaseModel):
    id: int
    name: str
    description: str | None
    active: bool
    current_version: int
    phase_count: int
    project_count: int = Field(description="Projects created from any version of this template")
    definition: DefinitionRead = Field(description="The current version's definition")
    created_at: datetime
    updated_at: datetime


class ProjectTemplateVersionRead(BaseModel):
    number: int
    definition: DefinitionRead
    created_at: datetime
    created_by_id: int | None


class ProjectTemplateVersionSummary(BaseModel):
    number: int
    phase_count: int
    project_count: int = Field(description="Projects started from this version")
    created_at: datetime
    created_by_id: int | None


class ProjectTemplateExport(BaseModel):
    """The file `/export` downloads and `/import` takes."""

    format: Literal["carnet.project-template"]
    format_version: Literal[1]
    name: str
    description: str | None
    version: int
    definition: DefinitionRead
