"""Projects: every write goes through here (visibility, phase rules, tasks, audit, events).

A project runs through the phases of the template version it was created from. Exactly one phase is
`open` while the project runs; closing it checks its checklist and required fields, records the move,
opens the next phase and creates that phase's tasks (due `due_days` after the phase starts, at 09:00
Europe/Paris). Closing the last phase completes the project.

Events: `project.created`, `project.updated`, `project.deleted`, `project.phase_changed`,
`project.completed`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from carnet.core import records
from carnet.core.context import Actor
from carnet.core.errors import Conflict, ValidationFailed
from carnet.core.listing import ListParams
from carnet.projects.models import (
    Project,
    ProjectContact,
    ProjectDocument,
    ProjectMember,
    ProjectPhaseMove,
    ProjectSettings,
)
from carnet.tasks.models import Task

RECORD_TYPE = "project"
records.register(RECORD_TYPE, Project, "projects", "Project", "/projects")


class DuplicateProject(Conflict):
    """Another open project (active / on hold) exists for the same organisation and template."""

    code = "duplicate_project"
    title = "This establishment already has an open project from this template"

    def __init__(self, existing_id: int, message: str | None = None) -> None:
        super().__init__(message, existing_id=existing_id)
        self.existing_id = existing_id


class PhaseIncomplete(ValidationFailed):
    """The open phase cannot be closed: `errors` lists each missing item (field "checklist",
    "required_fields" or "documents", message in clear words)."""

    code = "phase_incomplete"
    title = "This phase cannot be closed yet"


@dataclass
class Health:
    status: str  # one of models.HEALTH
    reasons: list[str] = field(default_factory=list)  # English sentences, translated when shown
    # The `{n}`/`{date}` values of each reason, in the same order (for i18n.gettext(reason, **params)).
    params: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ChecklistItem:
    item: str
    done: bool
    by: str | None  # user name
    at: datetime | None


@dataclass
class ExpectedDocument:
    name: str
    filed: list[ProjectDocument]


@dataclass
class RequiredItem:
    key: str  # the definition's vocabulary entry ("target_date", "contact_role:pharmacist"...)
    label: str  # English, translated when shown
    params: dict[str, Any]
    met: bool


@dataclass
class PhaseView:
    position: int
    key: str
    name: str
    description: str | None
    state: str  # pending | open | closed
    started_at: datetime | None
    closed_at: datetime | None
    closed_by: str | None
    tasks: list[Task]
    checklist: list[ChecklistItem]
    documents: list[ExpectedDocument]
    required: list[RequiredItem]


@dataclass
class BoardCard:
    project: Project
    health: Health
    organisation_name: str
    overdue: int


@dataclass
class BoardColumn:
    position: int
    key: str
    name: str
    projects: list[BoardCard]


@dataclass
class TimelinePhase:
    position: int
    key: str
    name: str
    state: str
    started_at: datetime | None
    closed_at: datetime | None


@dataclass
class TimelineRow:
    project: Project
    organisation_name: str
    start: date
    target: date | None
    health: Health
    phases: list[TimelinePhase]


@dataclass
class BulkResult:
    created: list[Project]
    skipped: list[tuple[str, str]]  # (label, reason): reason is an English sentence


def visible_clause(db: Session, actor: Actor) -> ColumnElement[bool]:
    """The one visibility clause of projects: owner/department rule OR team member."""
    raise NotImplementedError


def get_project(db: Session, actor: Actor, project_id: Any) -> Project:
    """The project if visible, else NotFound."""
    raise NotImplementedError


def list_projects(
    db: Session,
    actor: Actor,
    params: ListParams,
    *,
    template_id: int | None = None,
    status: str | None = None,
    owner_id: int | None = None,
    region: str | None = None,
    health: str | None = None,
    phase: int | str | None = None,
) -> tuple[list[Project], str | None]:
    """Visible projects, cursor-paged. `region`: INSERT region code (projects.regions);
    `phase`: position or key of the open phase."""
    raise NotImplementedError


def create_project(db: Session, actor: Actor, data: dict[str, Any], *, allow_duplicate: bool = False) -> Project:
    """Create from the template's current version; opens phase 0 and creates its tasks.
    Raises DuplicateProject (see module docs)."""
    raise NotImplementedError


def update_project(
    db: Session, actor: Actor, project: Project, data: dict[str, Any], expected_version: int | None = None
) -> Project:
    """name, start/target dates, description, notes, owner, department, custom_fields, status
    (active / on_hold / cancelled)."""
    raise NotImplementedError


def delete_project(db: Session, actor: Actor, project: Project, expected_version: int | None = None) -> None:
    raise NotImplementedError


def close_phase(db: Session, actor: Actor, project: Project, position: int, note: str | None = None) -> Project:
    """Close the open phase (checks → PhaseIncomplete), open the next one with its tasks, or complete."""
    raise NotImplementedError


def reopen_phase(
    db: Session, actor: Actor, project: Project, position: int, note: str | None = None
) -> Project:
    """Reopen a closed phase; later phases become pending; a completed project becomes active."""
    raise NotImplementedError


def move_to_phase(db: Session, actor: Actor, project: Project, position: int) -> Project:
    """Board drag: forward closes each phase in turn (all or nothing), backward reopens."""
    raise NotImplementedError


def set_checklist_item(
    db: Session, actor: Actor, project: Project, position: int, item: str, done: bool
) -> Project:
    raise NotImplementedError


def add_member(db: Session, actor: Actor, project: Project, user_id: Any, role: str) -> ProjectMember:
    raise NotImplementedError


def remove_member(db: Session, actor: Actor, project: Project, user_id: Any) -> None:
    raise NotImplementedError


def add_contact(db: Session, actor: Actor, project: Project, contact_id: Any, role: str) -> ProjectContact:
    raise NotImplementedError


def remove_contact(db: Session, actor: Actor, project: Project, contact_id: Any) -> None:
    raise NotImplementedError


def link_deal(db: Session, actor: Actor, project: Project, deal_id: Any) -> None:
    raise NotImplementedError


def unlink_deal(db: Session, actor: Actor, project: Project, deal_id: Any) -> None:
    raise NotImplementedError


def file_document(
    db: Session,
    actor: Actor,
    project: Project,
    position: int,
    name: str,
    filename: str,
    content: bytes,
    content_type: str | None = None,
) -> ProjectDocument:
    """Store a file (core.attachments, on the project) against an expected document of a phase."""
    raise NotImplementedError


def remove_document(db: Session, actor: Actor, project: Project, document_id: Any) -> None:
    raise NotImplementedError


def health(db: Session, project: Project, *, today: date | None = None) -> Health:
    raise NotImplementedError


def health_many(db: Session, projects: list[Project], *, today: date | None = None) -> dict[int, Health]:
    raise NotImplementedError


def phases_overview(db: Session, actor: Actor, project: Project) -> list[PhaseView]:
    raise NotImplementedError


def phase_history(db: Session, actor: Actor, project: Project) -> list[ProjectPhaseMove]:
    raise NotImplementedError


def members(db: Session, project: Project) -> list[ProjectMember]:
    raise NotImplementedError


def contacts(db: Session, project: Project) -> list[ProjectContact]:
    raise NotImplementedError


def deals(db: Session, actor: Actor, project: Project) -> list[Any]:
    """The visible deals linked to the project."""
    raise NotImplementedError


def board(
    db: Session,
    actor: Actor,
    template_id: int,
    *,
    owner_id: int | None = None,
    region: str | None = None,
    status: str | None = None,
    health: str | None = None,
) -> list[BoardColumn]:
    raise NotImplementedError


def counts_by_phase(db: Session, actor: Actor, template_id: int) -> dict[int, int]:
    raise NotImplementedError


def overdue_counts(db: Session, project_ids: list[int]) -> dict[int, int]:
    raise NotImplementedError


def timeline_rows(
    db: Session,
    actor: Actor,
    *,
    template_id: int | None = None,
    owner_id: int | None = None,
    status: str | None = None,
) -> list[TimelineRow]:
    raise NotImplementedError


def my_projects(db: Session, actor: Actor, limit: int = 10) -> list[tuple[Project, Health]]:
    raise NotImplementedError


def bulk_create(
    db: Session,
    actor: Actor,
    *,
    template_id: Any,
    organisation_ids: list[int] | None = None,
    identifiers: str | None = None,
    owner_id: Any = None,
    start_date: Any = None,
    target_date: Any = None,
) -> BulkResult:
    raise NotImplementedError


def log_activity(db: Session, actor: Actor, project: Project, data: dict[str, Any]) -> Any:
    """Log an activity (call, meeting, visit, note...) about the project: it is an activity of the
    project's organisation, so it shows on the organisation's timeline and on the project's."""
    raise NotImplementedError


def active_templates(db: Session, actor: Actor) -> list[Any]:
    """The active project templates, by name (for pickers and the board's template switch)."""
    raise NotImplementedError


def to_read(db: Session, actor: Actor, project: Project) -> dict[str, Any]:
    """The API body of one project (phases with state and dates, health, members, contacts...)."""
    raise NotImplementedError


def get_settings(db: Session) -> ProjectSettings:
    raise NotImplementedError


def update_settings(db: Session, actor: Actor, data: dict[str, Any]) -> ProjectSettings:
    raise NotImplementedError
