"""Projects: every write goes through here (visibility, phase rules, tasks, audit, events).

A project runs through the phases of the template version it was created from. Exactly one phase is
`open` while the project runs; closing it checks its checklist and required fields, records the move,
opens the next phase and creates that phase's tasks, or completes the project after the last phase.

Task due dates: a phase's start date is the project's start date for the first phase and the day
(Europe/Paris) the phase was opened for the others; a task is due `due_days` after it, at 09:00
Europe/Paris. Reopening a phase never creates its tasks again.

Visibility: the owner/department rule of every record, OR being a team member of the project
(`visible_clause`, used by every read). A visible project shows all its phase tasks.

Events: `project.created`, `project.updated`, `project.deleted`, `project.phase_changed`,
`project.completed`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, delete, exists, false, func, or_, select
from sqlalchemy.orm import Session

from carnet.accounts.models import User
from carnet.activities import links
from carnet.activities import service as activities
from carnet.core import (
    attachments,
    audit,
    clock,
    customfields,
    events,
    i18n,
    identifiers,
    inputs,
    lifecycle,
    ownership,
    permissions,
    records,
    search,
    timeline,
)
from carnet.core.context import Actor
from carnet.core.errors import (
    Conflict,
    DomainError,
    FieldError,
    FieldErrors,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from carnet.core.events import Event
from carnet.core.listing import Listing, ListParams, page
from carnet.core.text import fold
from carnet.deals import service as deals_service
from carnet.deals.models import Deal
from carnet.organisations import service as organisations
from carnet.organisations.models import Organisation
from carnet.projects import regions
from carnet.projects.models import (
    ACTIVE,
    CANCELLED,
    COMPLETED,
    CONTACT_ROLES,
    HEALTH,
    ON_HOLD,
    OPEN_STATUSES,
    PHASE_CLOSED,
    PHASE_OPEN,
    PHASE_PENDING,
    STATUSES,
    Project,
    ProjectContact,
    ProjectDeal,
    ProjectDocument,
    ProjectMember,
    ProjectPhase,
    ProjectPhaseMove,
    ProjectSettings,
    ProjectTask,
    ProjectTemplate,
    ProjectTemplateVersion,
)
from carnet.settings import get_settings as app_settings
from carnet.tasks import service as tasks
from carnet.tasks.models import Task

RECORD_TYPE = "project"
# Team members see the projects they are on: every generic read (tabs, attachments, tags) too.
records.register(
    RECORD_TYPE,
    Project,
    "projects",
    "Project",
    "/projects",
    visible=lambda db, actor: visible_clause(db, actor),
)
PARIS = ZoneInfo("Europe/Paris")
DUE_TIME = time(9, 0)  # phase tasks are due at 09:00 Paris time
HORIZON_DAYS = 14  # health: "late" past 14 days overdue, "at risk" within 14 days of the target
CONTACT_ROLE_LABELS = {
    "pharmacist": "Pharmacist",
    "biomedical_engineer": "Biomedical engineer",
    "head_of_department": "Head of department",
    "purchasing": "Purchasing",
    "management": "Management",
    "nursing_manager": "Nursing manager",
    "physician": "Physician",
    "other": "Other",
}
STATUS_LABELS = {ACTIVE: "Active", ON_HOLD: "On hold", COMPLETED: "Completed", CANCELLED: "Cancelled"}
HEALTH_LABELS = {"on_track": "On track", "at_risk": "At risk", "late": "Late"}
# Statuses `update_project` may set; `completed` comes only from closing the last phase.
SETTABLE_STATUSES = (ACTIVE, ON_HOLD, CANCELLED)

LISTING = Listing(
    model=Project,
    record_type=RECORD_TYPE,
    fields={
        "id": Project.id,
        "name": Project.name,
        "organisation_id": Project.organisation_id,
        "template_id": Project.template_id,
        "status": Project.status,
        "current_phase": Project.current_phase,
        "start_date": Project.start_date,
        "target_date": Project.target_date,
        "owner_id": Project.owner_id,
        "department_id": Project.department_id,
        "created_at": Project.created_at,
        "updated_at": Project.updated_at,
    },
    sortable={"name", "start_date", "target_date", "created_at", "updated_at"},
)


class DuplicateProject(Conflict):
    """Another open project (active / on hold) exists for the same organisation and template."""

    code = "duplicate_project"
    title = "This establishment already has an open project from this template"

    def __init__(self, existing_id: int | None, message: str | None = None) -> None:
        super().__init__(message)
        self.existing_id = existing_id  # None when the caller may not see that project


class PhaseIncomplete(ValidationFailed):
    """The open phase cannot be closed: `errors` lists each missing item (field "checklist",
    "required_fields" or "documents", message in clear words)."""

    code = "phase_incomplete"
    title = "This phase cannot be closed yet"


@dataclass
class Health:
    """`reasons` are English source sentences ("{n} tasks overdue"), `params` their values in the
    same order: shown as gettext(reasons[i], lang, **params[i]) (`translated`)."""

    status: str  # one of models.HEALTH
    reasons: list[str] = field(default_factory=list)
    params: list[dict[str, Any]] = field(default_factory=list)

    def translated(self, language: str) -> list[str]:
        return [i18n.gettext(text, language, **p) for text, p in zip(self.reasons, self.params, strict=True)]


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
    label: str  # English source, translated with `params` when shown
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
    skipped: list[tuple[str, str]]  # (label, reason): reason is an English source sentence


def today() -> date:
    """Business dates are French dates."""
    return clock.now().astimezone(PARIS).date()


def due_at(start: date, due_days: int) -> datetime:
    """A phase task's due time: `due_days` after the phase's start date, 09:00 Paris, in UTC."""
    return datetime.combine(start + timedelta(days=due_days), DUE_TIME, tzinfo=PARIS).astimezone(UTC)


# -- reading ---------------------------------------------------------------------------------------


def visible_clause(db: Session, actor: Actor) -> ColumnElement[bool]:
    """The one visibility clause of projects: the owner/department rule OR team membership."""
    rule = permissions.visible_for_model(db, actor, RECORD_TYPE, Project)
    if actor.user_id is None:
        return rule
    member = exists().where(ProjectMember.project_id == Project.id, ProjectMember.user_id == actor.user_id)
    return or_(rule, member)


def get_project(db: Session, actor: Actor, project_id: Any) -> Project:
    """The project if `actor` may read it, else NotFound (never a hint that it exists)."""
    if not actor.can("projects:read"):
        raise NotFound()
    try:
        number = int(project_id)
    except (TypeError, ValueError):
        raise NotFound()
    if not 0 < number <= lifecycle.MAX_ID:
        raise NotFound()
    project = db.scalar(select(Project).where(Project.id == number, visible_clause(db, actor)))
    if project is None:
        raise NotFound()
    return project


# -- the record picker (projects are not in the search index) ---------------------------------------


def _pick_statement(db: Session, actor: Actor) -> Any:
    """Visible projects with their client's name, the name only when the client is visible too."""
    client = and_(Organisation.id == Project.organisation_id, organisations.visible_clause(db, actor))
    return (
        select(Project.id, Project.name, Organisation.name.label("client"))
        .outerjoin(Organisation, client)
        .where(visible_clause(db, actor))
    )


def _pick_choice(row: Any) -> search.Choice:
    # a project named after its client ("Centre Hospitalier – CHU de Nice") needs no second mention
    client = row.client or ""
    return search.Choice(row.id, row.name, "" if client in row.name else client)


def pick_matching(db: Session, actor: Actor, query: str, limit: int) -> list[search.Choice]:
    """For a form's project picker: visible projects whose name contains `query` or whose client's
    name starts with it, accents and case aside; names starting with `query` first."""
    needle = fold(query)
    name = search.folded(Project.name)
    stmt = (
        _pick_statement(db, actor)
        .where(
            name.contains(needle, autoescape=True)
            | Project.organisation_id.in_(organisations.visible_ids_named(db, actor, needle))
        )
        .order_by(case((name.startswith(needle, autoescape=True), 0), else_=1), Project.name, Project.id)
        .limit(limit)
    )
    return [_pick_choice(r) for r in db.execute(stmt)]


def pick_one(db: Session, actor: Actor, project_id: int) -> search.Choice | None:
    row = db.execute(_pick_statement(db, actor).where(Project.id == project_id)).first()
    return _pick_choice(row) if row else None


search.register_lookup(RECORD_TYPE, pick_matching, pick_one)


def _filtered(
    db: Session,
    actor: Actor,
    *,
    template_id: Any = None,
    status: str | None = None,
    owner_id: Any = None,
    region: str | None = None,
    phase: int | str | None = None,
) -> Any:
    """The visible-projects statement with the filters that are columns or joins."""
    stmt = select(Project).where(visible_clause(db, actor))
    errors = FieldErrors()
    if template_id not in (None, ""):
        stmt = stmt.where(Project.template_id == _filter_int(template_id, "template_id", errors))
    if status not in (None, ""):
        wanted = [s.strip() for s in str(status).split(",") if s.strip()]
        if any(s not in STATUSES for s in wanted):
            errors.add("status", "Choose one of: {values}", "invalid_choice", values=", ".join(STATUSES))
        stmt = stmt.where(Project.status.in_(wanted))
    if owner_id not in (None, ""):
        stmt = stmt.where(Project.owner_id == _filter_int(owner_id, "owner_id", errors))
    if region not in (None, ""):
        if region not in regions.REGIONS:
            errors.add("region", "Unknown region", "invalid_choice")
        org_in_region = select(Organisation.id).where(
            regions.postal_code_clause(Organisation.postal_code, str(region))
        )
        stmt = stmt.where(Project.organisation_id.in_(org_in_region))
    if phase not in (None, ""):
        text = str(phase).strip()
        if text.isdigit():
            stmt = stmt.where(Project.current_phase == int(text), Project.status != COMPLETED)
        else:
            stmt = stmt.where(
                exists().where(
                    ProjectPhase.project_id == Project.id,
                    ProjectPhase.key == text,
                    ProjectPhase.state == PHASE_OPEN,
                )
            )
    errors.raise_if_any()
    return stmt


def _filter_int(value: Any, name: str, errors: FieldErrors) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        errors.add(name, "Must be a number", "invalid_type")
        return 0


def _check_health(value: str | None) -> None:
    if value not in (None, "") and value not in HEALTH:
        raise ValidationFailed.on(
            "health", "Choose one of: {values}", "invalid_choice", values=", ".join(HEALTH)
        )


def list_projects(
    db: Session,
    actor: Actor,
    params: ListParams,
    *,
    template_id: Any = None,
    status: str | None = None,
    owner_id: Any = None,
    region: str | None = None,
    health: str | None = None,
    phase: int | str | None = None,
) -> tuple[list[Project], str | None]:
    """Visible projects, cursor-paged (`params` filters on the listing fields apply too).
    `region`: INSEE region code of the establishment's postal code (projects.regions);
    `phase`: position (0-based) or key of the open phase; `health`: on_track / at_risk / late
    (computed, so the candidates are judged first, then paged)."""
    lifecycle.require(actor, RECORD_TYPE, "read")
    _check_health(health)
    stmt = _filtered(
        db, actor, template_id=template_id, status=status, owner_id=owner_id, region=region, phase=phase
    )
    if params.q:
        stmt = stmt.where(func.lower(Project.name).contains(params.q.strip().lower(), autoescape=True))
    if health:
        ids = _ids_with_health(db, stmt, health)
        stmt = stmt.where(Project.id.in_(ids) if ids else false())
    return page(db, LISTING, stmt, params)


def _ids_with_health(db: Session, stmt: Any, wanted: str) -> list[int]:
    candidates = list(db.scalars(stmt))
    judged = health_many(db, candidates)
    return [p.id for p in candidates if judged[p.id].status == wanted]


def _definition(db: Session, project: Project) -> dict[str, Any]:
    version = db.get(ProjectTemplateVersion, project.template_version_id)
    return dict(version.definition) if version is not None else {"phases": []}


def _phase_defs(db: Session, project: Project) -> list[dict[str, Any]]:
    return list(_definition(db, project).get("phases") or [])


def _phases(db: Session, project: Project) -> list[ProjectPhase]:
    return list(
        db.scalars(
            select(ProjectPhase).where(ProjectPhase.project_id == project.id).order_by(ProjectPhase.position)
        )
    )


def _template(db: Session, project: Project) -> ProjectTemplate | None:
    return db.get(ProjectTemplate, project.template_id)


def _user_names(db: Session, ids: set[int | None]) -> dict[int, str]:
    return tasks.owner_names(db, ids)


def _organisation_names(db: Session, ids: set[int]) -> dict[int, str]:
    """Names of the establishments of visible projects (part of what the project shows)."""
    if not ids:
        return {}
    return dict(db.execute(select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids))).all())


def members(db: Session, project: Project) -> list[ProjectMember]:
    return list(
        db.scalars(
            select(ProjectMember).where(ProjectMember.project_id == project.id).order_by(ProjectMember.id)
        )
    )


def contacts(db: Session, project: Project) -> list[ProjectContact]:
    return list(
        db.scalars(
            select(ProjectContact).where(ProjectContact.project_id == project.id).order_by(ProjectContact.id)
        )
    )


def _deal_ids(db: Session, project: Project) -> list[int]:
    return sorted(db.scalars(select(ProjectDeal.deal_id).where(ProjectDeal.project_id == project.id)))


def deals(db: Session, actor: Actor, project: Project) -> list[Deal]:
    """The deals linked to the project that `actor` may see."""
    if not actor.can("deals:read"):
        return []
    return list(
        db.scalars(
            select(Deal)
            .join(ProjectDeal, ProjectDeal.deal_id == Deal.id)
            .where(ProjectDeal.project_id == project.id, deals_service.visible_clause(db, actor))
            .order_by(Deal.id)
        )
    )


def phase_history(db: Session, actor: Actor, project: Project) -> list[ProjectPhaseMove]:
    """Every open, close, reopen and completion, oldest first."""
    lifecycle.require(actor, RECORD_TYPE, "read")
    return list(
        db.scalars(
            select(ProjectPhaseMove)
            .where(ProjectPhaseMove.project_id == project.id)
            .order_by(ProjectPhaseMove.at, ProjectPhaseMove.id)
        )
    )


def active_templates(db: Session, actor: Actor) -> list[ProjectTemplate]:
    """The active project templates, by name (for pickers and the board's template switch)."""
    lifecycle.require(actor, RECORD_TYPE, "read")
    return list(
        db.scalars(
            select(ProjectTemplate).where(ProjectTemplate.active.is_(True)).order_by(ProjectTemplate.name)
        )
    )


def get_settings(db: Session) -> ProjectSettings:
    """The module settings (defaults until someone saves them)."""
    found = db.get(ProjectSettings, 1)
    if found is not None:
        return found
    return ProjectSettings(id=1, one_active_per_establishment=True, portal_link_days=90)


def update_settings(db: Session, actor: Actor, data: dict[str, Any]) -> ProjectSettings:
    """Admins and managers with `projects:update` change the module settings."""
    if not (actor.is_admin or (actor.is_manager and actor.can("projects:update"))):
        raise PermissionDenied()
    errors = FieldErrors()
    current = get_settings(db)
    before = {
        "one_active_per_establishment": current.one_active_per_establishment,
        "portal_link_days": current.portal_link_days,
    }
    after = dict(before)
    if "one_active_per_establishment" in data:
        value = data["one_active_per_establishment"]
        if not isinstance(value, bool):
            errors.add("one_active_per_establishment", "Must be true or false", "invalid_type")
        else:
            after["one_active_per_establishment"] = value
    if "portal_link_days" in data:
        after["portal_link_days"] = inputs.number_in_range(
            data["portal_link_days"], "portal_link_days", errors, 1, 730
        )
    errors.raise_if_any()
    changes = audit.diff(before, after)
    if not changes:
        return current
    row = db.get(ProjectSettings, 1)
    if row is None:
        row = ProjectSettings(id=1)
        db.add(row)
    row.one_active_per_establishment = after["one_active_per_establishment"]
    row.portal_link_days = after["portal_link_days"]
    db.flush()
    audit.record(db, actor, "update", "project_settings", 1, changes, "Project settings")
    db.commit()
    return row


# -- validation ------------------------------------------------------------------------------------


def _active_user(db: Session, user_id: int) -> bool:
    return db.scalar(select(User.id).where(User.id == user_id, User.active.is_(True))) is not None


def _clean_role(value: Any, name: str, errors: FieldErrors) -> str | None:
    role = inputs.text(value, name, 60, errors)
    if role is None and not any(e.field == name for e in errors.errors):
        errors.add(name, "This field is required", "required")
    return role


def _clean_contact_role(value: Any, name: str, errors: FieldErrors) -> str | None:
    role = value or "other"
    if role not in CONTACT_ROLES:
        errors.add(name, "Choose one of: {values}", "invalid_choice", values=", ".join(CONTACT_ROLES))
        return None
    return str(role)


def _clean_members(db: Session, value: Any, errors: FieldErrors) -> list[tuple[int, str]]:
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        errors.add("members", "Must be a list", "invalid_type")
        return []
    out: dict[int, str] = {}
    for i, row in enumerate(value):
        if not isinstance(row, dict):
            errors.add(f"members[{i}]", "Must be an object", "invalid_type")
            continue
        user_id = inputs.number_in_range(row.get("user_id"), f"members[{i}].user_id", errors)
        role = _clean_role(row.get("role"), f"members[{i}].role", errors)
        if user_id is None:
            if not any(e.field == f"members[{i}].user_id" for e in errors.errors):
                errors.add(f"members[{i}].user_id", "This field is required", "required")
            continue
        if not _active_user(db, user_id):
            errors.add(f"members[{i}].user_id", "Unknown user", "unknown")
            continue
        if role is not None:
            out[user_id] = role
    return sorted(out.items())


def _clean_contacts(db: Session, actor: Actor, value: Any, errors: FieldErrors) -> list[tuple[int, str]]:
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        errors.add("contacts", "Must be a list", "invalid_type")
        return []
    out: dict[int, str] = {}
    for i, row in enumerate(value):
        if not isinstance(row, dict):
            errors.add(f"contacts[{i}]", "Must be an object", "invalid_type")
            continue
        name = f"contacts[{i}].contact_id"
        contact_id = inputs.number_in_range(row.get("contact_id"), name, errors)
        role = _clean_contact_role(row.get("role"), f"contacts[{i}].role", errors)
        if contact_id is None:
            if not any(e.field == name for e in errors.errors):
                errors.add(name, "This field is required", "required")
            continue
        links.require_visible(db, actor, "contact", contact_id, name, errors)
        if role is not None:
            out[contact_id] = role
    return sorted(out.items())


def _clean_deal_ids(db: Session, actor: Actor, value: Any, errors: FieldErrors) -> list[int]:
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        errors.add("deal_ids", "Must be a list", "invalid_type")
        return []
    out: set[int] = set()
    for i, raw in enumerate(value):
        deal_id = inputs.number_in_range(raw, f"deal_ids[{i}]", errors)
        if deal_id is None:
            continue
        links.require_visible(db, actor, "deal", deal_id, f"deal_ids[{i}]", errors)
        out.add(deal_id)
    return sorted(out)


def snapshot(db: Session, project: Project) -> dict[str, Any]:
    """What the audit trail compares (links included, so adding a member is an audited change)."""
    return {
        "name": project.name,
        "organisation_id": project.organisation_id,
        "template_id": project.template_id,
        "template_version_id": project.template_version_id,
        "status": project.status,
        "start_date": project.start_date,
        "target_date": project.target_date,
        "current_phase": project.current_phase,
        "completed_at": project.completed_at,
        "description": project.description,
        "notes": project.notes,
        "owner_id": project.owner_id,
        "department_id": project.department_id,
        "custom_fields": dict(project.custom_fields or {}),
        "members": [f"{m.user_id}:{m.role}" for m in members(db, project)],
        "contacts": [f"{c.contact_id}:{c.role}" for c in contacts(db, project)],
        "deal_ids": _deal_ids(db, project),
    }


def _payload(db: Session, project: Project, **extra: Any) -> dict[str, Any]:
    phase = db.scalar(
        select(ProjectPhase).where(
            ProjectPhase.project_id == project.id, ProjectPhase.position == project.current_phase
        )
    )
    version = db.get(ProjectTemplateVersion, project.template_version_id)
    return {
        "project_id": project.id,
        "name": project.name,
        "organisation_id": project.organisation_id,
        "template_id": project.template_id,
        "template_version": version.number if version is not None else None,
        "status": project.status,
        "current_phase": project.current_phase,
        "phase_key": phase.key if phase is not None else None,
        "phase_name": phase.name if phase is not None else None,
        "start_date": project.start_date.isoformat(),
        "target_date": project.target_date.isoformat() if project.target_date else None,
        "owner_id": project.owner_id,
        "department_id": project.department_id,
        **extra,
    }


# -- tasks of a phase ------------------------------------------------------------------------------


def _assignee(db: Session, project: Project, spec: Any, roles: dict[str, int]) -> int | None:
    """The user a template task goes to (definition.md): the owner by default and as fallback."""
    spec = spec if isinstance(spec, dict) else {"type": "owner"}
    kind = spec.get("type") or "owner"
    if kind == "user":
        try:
            user_id = int(spec.get("user_id"))
        except (TypeError, ValueError):
            return project.owner_id
        return user_id if _active_user(db, user_id) else project.owner_id
    if kind == "member_role":
        wanted = str(spec.get("role") or "").strip().casefold()
        user_id = roles.get(wanted)
        return user_id if user_id is not None and _active_user(db, user_id) else project.owner_id
    return project.owner_id


def _phase_start(project: Project, phase: ProjectPhase) -> date:
    if phase.position == 0:
        return project.start_date
    opened = phase.started_at or clock.now()
    return opened.astimezone(PARIS).date()


def _create_phase_tasks(
    db: Session, actor: Actor, project: Project, phase: ProjectPhase, phase_def: dict[str, Any]
) -> list[Task]:
    """The phase's template tasks, once: a reopened then closed-again phase keeps its first ones."""
    already = db.scalar(
        select(ProjectTask.task_id).where(
            ProjectTask.project_id == project.id, ProjectTask.position == phase.position
        )
    )
    if already is not None:
        return []
    roles: dict[str, int] = {}
    for member in members(db, project):
        roles.setdefault(member.role.strip().casefold(), member.user_id)
    start = _phase_start(project, phase)
    created = []
    for index, spec in enumerate(phase_def.get("tasks") or []):
        owner_id = _assignee(db, project, spec.get("assignee"), roles)
        task = tasks.add_task(
            db,
            actor,
            {
                "title": str(spec.get("title") or "")[:200],
                "description": spec.get("description") or None,
                "due_at": due_at(start, int(spec.get("due_days") or 0)),
                "priority": spec.get("priority") or "normal",
                "owner_id": owner_id,
            },
            record=(RECORD_TYPE, project.id),
            assignee_checked=True,
        )
        db.add(
            ProjectTask(task_id=task.id, project_id=project.id, position=phase.position, template_task=index)
        )
        created.append(task)
    db.flush()
    return created


def _move(db: Session, actor: Actor, project: Project, position: int, action: str, note: str | None) -> None:
    db.add(
        ProjectPhaseMove(
            project_id=project.id,
            position=position,
            action=action,
            at=clock.now(),
            user_id=actor.user_id,
            note=note,
        )
    )


# -- create / update / delete ------------------------------------------------------------------------


def _duplicate_of(
    db: Session, organisation_id: int, template_id: int, exclude: int | None = None
) -> int | None:
    stmt = select(Project.id).where(
        Project.organisation_id == organisation_id,
        Project.template_id == template_id,
        Project.status.in_(OPEN_STATUSES),
    )
    if exclude is not None:
        stmt = stmt.where(Project.id != exclude)
    return db.scalar(stmt.order_by(Project.id).limit(1))


def check_duplicate(
    db: Session,
    actor: Actor,
    organisation_id: int,
    template_id: int,
    *,
    allow_duplicate: bool = False,
) -> None:
    """Raise DuplicateProject when an open project of this establishment and template exists: always
    when the setting `one_active_per_establishment` is on, unless confirmed when it is off. The
    existing project is named only to a caller who may see it."""
    existing = _duplicate_of(db, organisation_id, template_id)
    if existing is None:
        return
    if get_settings(db).one_active_per_establishment or not allow_duplicate:
        shown = db.scalar(select(Project.id).where(Project.id == existing, visible_clause(db, actor)))
        raise DuplicateProject(shown)


def create_project(
    db: Session, actor: Actor, data: dict[str, Any], *, allow_duplicate: bool = False
) -> Project:
    """Create from the template's CURRENT version: every phase row, phase 0 open with its tasks.
    Data: organisation_id and template_id (required), name (default "<template> – <organisation>"),
    owner_id, department_id, start_date (default today, Paris), target_date, description, notes,
    members [{user_id, role}], contacts [{contact_id, role}], deal_ids, custom_fields.
    Raises DuplicateProject (see `check_duplicate`)."""
    project = _create(db, actor, data, allow_duplicate=allow_duplicate)
    db.commit()
    return project


def _create(db: Session, actor: Actor, data: dict[str, Any], *, allow_duplicate: bool) -> Project:
    lifecycle.require(actor, RECORD_TYPE, "create")
    errors = FieldErrors()
    with db.no_autoflush:
        template, version = _clean_template(db, data.get("template_id"), errors)
        org_id = inputs.number_in_range(data.get("organisation_id"), "organisation_id", errors)
        if org_id is None and not any(e.field == "organisation_id" for e in errors.errors):
            errors.add("organisation_id", "Choose the establishment", "required")
        elif org_id is not None:
            organisations.require_visible_id(db, actor, org_id, "organisation_id", errors)
        name = inputs.text(data.get("name"), "name", 200, errors)
        start = inputs.day(data.get("start_date"), "start_date", errors) or today()
        target = inputs.day(data.get("target_date"), "target_date", errors)
        if target is not None and target < start:
            errors.add("target_date", "The target date is before the start date", "before_start")
        description = inputs.text(data.get("description"), "description", 10000, errors)
        notes = inputs.text(data.get("notes"), "notes", 10000, errors)
        owner_id, dept_id = ownership.resolve(db, actor, data, None, None, errors)
        member_rows = _clean_members(db, data.get("members"), errors)
        contact_rows = _clean_contacts(db, actor, data.get("contacts"), errors)
        deal_ids = _clean_deal_ids(db, actor, data.get("deal_ids"), errors)
        custom = customfields.validate(db, RECORD_TYPE, data.get("custom_fields"), None, errors)
    errors.raise_if_any()
    assert template is not None and version is not None and org_id is not None
    check_duplicate(db, actor, org_id, template.id, allow_duplicate=allow_duplicate)
    if name is None:
        org_name = _organisation_names(db, {org_id}).get(org_id, "")
        name = f"{template.name} – {org_name}"[:200]
    project = Project(
        name=name,
        organisation_id=org_id,
        template_id=template.id,
        template_version_id=version.id,
        status=ACTIVE,
        start_date=start,
        target_date=target,
        current_phase=0,
        description=description,
        notes=notes,
        owner_id=owner_id,
        department_id=dept_id,
        custom_fields=custom,
        created_by_id=actor.user_id,
        updated_by_id=actor.user_id,
    )
    db.add(project)
    db.flush()
    db.add_all(ProjectMember(project_id=project.id, user_id=u, role=r) for u, r in member_rows)
    db.add_all(ProjectContact(project_id=project.id, contact_id=c, role=r) for c, r in contact_rows)
    db.add_all(ProjectDeal(project_id=project.id, deal_id=d) for d in deal_ids)
    phase_defs = list(version.definition.get("phases") or [])
    now = clock.now()
    phases = [
        ProjectPhase(
            project_id=project.id,
            position=i,
            key=str(p.get("key") or f"phase_{i}"),
            name=str(p.get("name") or f"Phase {i + 1}")[:120],
            state=PHASE_OPEN if i == 0 else PHASE_PENDING,
            started_at=now if i == 0 else None,
            checklist={},
        )
        for i, p in enumerate(phase_defs)
    ]
    db.add_all(phases)
    db.flush()
    lifecycle.created(
        db, actor, RECORD_TYPE, project, snapshot(db, project), project.name, _payload(db, project)
    )
    if phases:
        _move(db, actor, project, 0, "opened", None)
        _create_phase_tasks(db, actor, project, phases[0], phase_defs[0])
    return project


def _clean_template(
    db: Session, value: Any, errors: FieldErrors
) -> tuple[ProjectTemplate | None, ProjectTemplateVersion | None]:
    template_id = inputs.number_in_range(value, "template_id", errors)
    if template_id is None:
        if not any(e.field == "template_id" for e in errors.errors):
            errors.add("template_id", "Choose a template", "required")
        return None, None
    template = db.get(ProjectTemplate, template_id)
    if template is None:
        errors.add("template_id", "Unknown template", "unknown")
        return None, None
    if not template.active:
        errors.add("template_id", "This template is archived", "inactive")
        return None, None
    version = db.scalar(
        select(ProjectTemplateVersion).where(
            ProjectTemplateVersion.template_id == template.id,
            ProjectTemplateVersion.number == template.current_version,
        )
    )
    if version is None or not (version.definition or {}).get("phases"):
        errors.add("template_id", "This template has no phases", "empty_template")
        return None, None
    return template, version


def update_project(
    db: Session, actor: Actor, project: Project, data: dict[str, Any], expected_version: int | None = None
) -> Project:
    """Change name, start/target dates, description, notes, owner, department, custom fields and
    status (active / on hold / cancelled; `completed` only by closing the last phase)."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    lifecycle.check_version(project, expected_version)
    before = snapshot(db, project)
    errors = FieldErrors()
    values: dict[str, Any] = {}
    with db.no_autoflush:
        if "name" in data:
            values["name"] = inputs.text(data["name"], "name", 200, errors)
            if values["name"] is None and not any(e.field == "name" for e in errors.errors):
                errors.add("name", "This field is required", "required")
        for key in ("description", "notes"):
            if key in data:
                values[key] = inputs.text(data[key], key, 10000, errors)
        if "start_date" in data:
            values["start_date"] = inputs.day(data["start_date"], "start_date", errors)
            if values["start_date"] is None and not any(e.field == "start_date" for e in errors.errors):
                errors.add("start_date", "This field is required", "required")
        if "target_date" in data:
            values["target_date"] = inputs.day(data["target_date"], "target_date", errors)
        if "status" in data and data["status"] != project.status:
            if data["status"] == COMPLETED:
                errors.add("status", "A project is completed by closing its last phase", "close_last_phase")
            elif project.status == COMPLETED:
                errors.add("status", "Reopen a phase to resume a completed project", "completed")
            elif data["status"] not in SETTABLE_STATUSES:
                errors.add(
                    "status", "Choose one of: {values}", "invalid_choice", values=", ".join(SETTABLE_STATUSES)
                )
            else:
                values["status"] = data["status"]
        if "owner_id" in data or "department_id" in data:
            values["owner_id"], values["department_id"] = ownership.resolve(
                db, actor, data, project.owner_id, project.department_id, errors
            )
        if "custom_fields" in data:
            values["custom_fields"] = customfields.validate(
                db, RECORD_TYPE, data["custom_fields"], project.custom_fields, errors
            )
    start = values.get("start_date", project.start_date)
    target = values.get("target_date", project.target_date)
    if start is not None and target is not None and target < start:
        errors.add("target_date", "The target date is before the start date", "before_start")
    errors.raise_if_any()
    for key, value in values.items():
        setattr(project, key, value)
    after = snapshot(db, project)
    if before == after:
        db.rollback()
        return project
    project.updated_by_id = actor.user_id
    db.flush()
    lifecycle.updated(db, actor, RECORD_TYPE, project, before, after, project.name, _payload(db, project))
    db.commit()
    return project


def delete_project(db: Session, actor: Actor, project: Project, expected_version: int | None = None) -> None:
    """Deleting removes the project, its phases, history and links; its tasks stay, unlinked from
    the project's phases (they are the assignees' work history)."""
    lifecycle.require(actor, RECORD_TYPE, "delete")
    lifecycle.check_version(project, expected_version)
    lifecycle.deleted(
        db, actor, RECORD_TYPE, project, snapshot(db, project), project.name, _payload(db, project)
    )
    for model in (ProjectTask, ProjectPhaseMove, ProjectPhase, ProjectMember, ProjectContact, ProjectDeal):
        db.execute(delete(model).where(model.project_id == project.id))
    for doc in db.scalars(select(ProjectDocument).where(ProjectDocument.project_id == project.id)):
        db.delete(doc)
    db.delete(project)
    db.commit()


records.register_actions(RECORD_TYPE, get_project, update_project, delete_project)


# -- links: members, key contacts, deals ----------------------------------------------------------


def _touch(db: Session, actor: Actor, project: Project, before: dict[str, Any]) -> None:
    """Audit + `project.updated` for a change of links, and a new version of the project row."""
    project.updated_by_id = actor.user_id
    project.updated_at = clock.now()
    db.flush()
    lifecycle.updated(
        db, actor, RECORD_TYPE, project, before, snapshot(db, project), project.name, _payload(db, project)
    )
    db.commit()


def add_member(db: Session, actor: Actor, project: Project, user_id: Any, role: Any) -> ProjectMember:
    """Add a team member (or change their role)."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    errors = FieldErrors()
    uid = inputs.number_in_range(user_id, "user_id", errors)
    clean_role = _clean_role(role, "role", errors)
    if uid is not None and not _active_user(db, uid):
        errors.add("user_id", "Unknown user", "unknown")
    elif uid is None and not errors:
        errors.add("user_id", "This field is required", "required")
    errors.raise_if_any()
    assert uid is not None and clean_role is not None
    before = snapshot(db, project)
    member = db.scalar(
        select(ProjectMember).where(ProjectMember.project_id == project.id, ProjectMember.user_id == uid)
    )
    if member is None:
        member = ProjectMember(project_id=project.id, user_id=uid, role=clean_role)
        db.add(member)
    else:
        member.role = clean_role
    _touch(db, actor, project, before)
    return member


def remove_member(db: Session, actor: Actor, project: Project, user_id: Any) -> None:
    _remove_link(db, actor, project, ProjectMember.user_id, user_id)


def add_contact(db: Session, actor: Actor, project: Project, contact_id: Any, role: Any) -> ProjectContact:
    """Link a key contact with their role in the project (or change the role)."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    errors = FieldErrors()
    cid = inputs.number_in_range(contact_id, "contact_id", errors)
    clean_role = _clean_contact_role(role, "role", errors)
    if cid is None and not errors:
        errors.add("contact_id", "This field is required", "required")
    elif cid is not None:
        links.require_visible(db, actor, "contact", cid, "contact_id", errors)
    errors.raise_if_any()
    assert cid is not None and clean_role is not None
    before = snapshot(db, project)
    link = db.scalar(
        select(ProjectContact).where(
            ProjectContact.project_id == project.id, ProjectContact.contact_id == cid
        )
    )
    if link is None:
        link = ProjectContact(project_id=project.id, contact_id=cid, role=clean_role)
        db.add(link)
    else:
        link.role = clean_role
    _touch(db, actor, project, before)
    return link


def remove_contact(db: Session, actor: Actor, project: Project, contact_id: Any) -> None:
    _remove_link(db, actor, project, ProjectContact.contact_id, contact_id)


def link_deal(db: Session, actor: Actor, project: Project, deal_id: Any) -> None:
    lifecycle.require(actor, RECORD_TYPE, "update")
    errors = FieldErrors()
    did = inputs.number_in_range(deal_id, "deal_id", errors)
    if did is None and not errors:
        errors.add("deal_id", "This field is required", "required")
    elif did is not None:
        links.require_visible(db, actor, "deal", did, "deal_id", errors)
    errors.raise_if_any()
    assert did is not None
    if did in _deal_ids(db, project):
        return
    before = snapshot(db, project)
    db.add(ProjectDeal(project_id=project.id, deal_id=did))
    db.flush()
    _touch(db, actor, project, before)


def unlink_deal(db: Session, actor: Actor, project: Project, deal_id: Any) -> None:
    _remove_link(db, actor, project, ProjectDeal.deal_id, deal_id)


def _remove_link(db: Session, actor: Actor, project: Project, key: Any, value: Any) -> None:
    """Remove one team member, key contact or deal link (`key` is its column); 404 when absent."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    model = key.class_
    link = db.scalar(select(model).where(model.project_id == project.id, key == _id_or_404(value)))
    if link is None:
        raise NotFound()
    before = snapshot(db, project)
    db.delete(link)
    db.flush()
    _touch(db, actor, project, before)


def _id_or_404(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise NotFound()
    if not 0 < number <= lifecycle.MAX_ID:
        raise NotFound()
    return number


# -- phases: checks, close, reopen, move -------------------------------------------------------------


def _phase(db: Session, project: Project, position: Any) -> ProjectPhase:
    """The phase at `position` (a number) or with that key; NotFound otherwise."""
    text = str(position).strip()
    stmt = select(ProjectPhase).where(ProjectPhase.project_id == project.id)
    if text.lstrip("-").isdigit():
        stmt = stmt.where(ProjectPhase.position == int(text))
    else:
        stmt = stmt.where(ProjectPhase.key == text)
    found = db.scalar(stmt)
    if found is None:
        raise NotFound("Unknown phase")
    return found


def _required_items(
    db: Session, project: Project, phase: ProjectPhase, phase_def: dict[str, Any]
) -> list[RequiredItem]:
    """Each required field of the phase with its English label and whether it is satisfied."""
    contact_roles = {c.role for c in contacts(db, project)}
    member_roles = {m.role.strip().casefold() for m in members(db, project)}
    deal_ids = _deal_ids(db, project)
    filed = {
        d.name
        for d in db.scalars(
            select(ProjectDocument).where(
                ProjectDocument.project_id == project.id, ProjectDocument.position == phase.position
            )
        )
    }
    labels = {d.key: d.label for d in customfields.definitions(db, RECORD_TYPE)}
    items = []
    for key in phase_def.get("required_fields") or []:
        kind, _, arg = str(key).partition(":")
        label, params, met = "Required: {what}", {"what": key}, False
        if kind in ("target_date", "description", "notes"):
            label, params = _field_label(kind), {}
            met = getattr(project, kind) not in (None, "")
        elif kind == "custom":
            label, params = "Required: the field {name}", {"name": labels.get(arg, arg)}
            met = (project.custom_fields or {}).get(arg) not in (None, "", [])
        elif kind == "contact_role":
            label, params = (
                "Required: a key contact with the role {role}",
                {"role": CONTACT_ROLE_LABELS.get(arg, arg)},
            )
            met = arg in contact_roles
        elif kind == "member_role":
            label, params = "Required: a team member with the role {role}", {"role": arg}
            met = arg.strip().casefold() in member_roles
        elif kind == "deal":
            label, params = "Required: a linked deal", {}
            met = bool(deal_ids)
        elif kind == "deal_won":
            label, params = "Required: a won deal linked to the project", {}
            met = bool(deal_ids) and (
                db.scalar(select(Deal.id).where(Deal.id.in_(deal_ids), Deal.status == "won").limit(1))
                is not None
            )
        elif kind == "document":
            label, params = "Required: the document {name}", {"name": arg}
            met = arg in filed
        items.append(RequiredItem(key=str(key), label=label, params=params, met=met))
    return items


def _field_label(kind: str) -> str:
    return {
        "target_date": "Required: a target date",
        "description": "Required: a description",
        "notes": "Required: notes",
    }[kind]


def _missing(
    db: Session, actor: Actor, project: Project, phase: ProjectPhase, phase_def: dict[str, Any]
) -> list[FieldError]:
    """What stops the phase from closing, one error per missing item, in the actor's language
    for the role names (the message itself is translated when rendered)."""
    missing: list[FieldError] = []
    ticks = phase.checklist or {}
    for item in phase_def.get("checklist") or []:
        if not (ticks.get(item) or {}).get("done"):
            missing.append(
                FieldError("checklist", "Checklist item not done: {item}", "checklist_item", {"item": item})
            )
    for req in _required_items(db, project, phase, phase_def):
        if req.met:
            continue
        params = dict(req.params)
        if "role" in params and req.key.startswith("contact_role:"):
            params["role"] = i18n.gettext(params["role"], actor.language)
        field_name = "documents" if req.key.startswith("document:") else "required_fields"
        missing.append(FieldError(field_name, req.label, "required_item", params))
    return missing


def _require_running(project: Project) -> None:
    if project.status == CANCELLED:
        raise Conflict("This project is cancelled", code="project_cancelled")
    if project.status == COMPLETED:
        raise Conflict("This project is completed: reopen a phase first", code="project_completed")


def _close_open_phase(db: Session, actor: Actor, project: Project, note: str | None) -> None:
    """Close the open phase and open the next one (or complete the project), without committing."""
    phases = _phases(db, project)
    defs = _phase_defs(db, project)
    current = phases[project.current_phase]
    missing = _missing(db, actor, project, current, defs[current.position])
    if missing:
        raise PhaseIncomplete(errors=missing)
    before = {"current_phase": project.current_phase, "status": project.status}
    now = clock.now()
    current.state = PHASE_CLOSED
    current.closed_at = now
    current.closed_by_id = actor.user_id
    _move(db, actor, project, current.position, "closed", note)
    following = phases[current.position + 1] if current.position + 1 < len(phases) else None
    project.current_phase = current.position + 1
    if following is None:
        project.status = COMPLETED
        project.completed_at = now
        _move(db, actor, project, current.position, "completed", None)
    else:
        following.state = PHASE_OPEN
        following.started_at = now
        following.closed_at = None
        following.closed_by_id = None
        _move(db, actor, project, following.position, "opened", None)
    project.updated_by_id = actor.user_id
    db.flush()
    if following is not None:
        _create_phase_tasks(db, actor, project, following, defs[following.position])
    after = {"current_phase": project.current_phase, "status": project.status}
    audit.record(
        db,
        actor,
        "phase_closed",
        RECORD_TYPE,
        project.id,
        audit.diff(before, after),
        f"{project.name}: {current.name}",
    )
    payload = _payload(
        db,
        project,
        action="closed",
        from_phase=current.key,
        from_phase_name=current.name,
        from_position=current.position,
        to_phase=following.key if following else None,
        to_phase_name=following.name if following else None,
        to_position=following.position if following else None,
        note=note,
    )
    events.emit(db, actor, "project.phase_changed", RECORD_TYPE, project.id, payload)
    if following is None:
        events.emit(db, actor, "project.completed", RECORD_TYPE, project.id, _payload(db, project))


def close_phase(
    db: Session, actor: Actor, project: Project, position: Any, note: str | None = None
) -> Project:
    """Close the open phase (`position`: its number or key). Every checklist item must be ticked and
    every required field met, else PhaseIncomplete lists each missing item and nothing changes.
    Then the next phase opens with its tasks, or the project completes after the last phase."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    _require_running(project)
    phase = _phase(db, project, position)
    if phase.position != project.current_phase or phase.state != PHASE_OPEN:
        raise Conflict("Only the open phase can be closed", code="not_open_phase")
    clean_note = _clean_note(note)
    try:
        _close_open_phase(db, actor, project, clean_note)
    except DomainError:
        db.rollback()
        raise
    db.commit()
    return project


def _clean_note(note: Any) -> str | None:
    errors = FieldErrors()
    clean = inputs.text(note, "note", 2000, errors)
    errors.raise_if_any()
    return clean


def reopen_phase(
    db: Session, actor: Actor, project: Project, position: Any, note: str | None = None
) -> Project:
    """Reopen an earlier, closed phase: the phases after it become pending again, a completed
    project becomes active again. Its tasks are not created again. Event project.phase_changed."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    if project.status == CANCELLED:
        raise Conflict("This project is cancelled", code="project_cancelled")
    phase = _phase(db, project, position)
    if phase.state != PHASE_CLOSED or phase.position >= project.current_phase:
        raise Conflict("Only a closed phase can be reopened", code="not_closed_phase")
    clean_note = _clean_note(note)
    _reopen(db, actor, project, phase, clean_note)
    db.commit()
    return project


def _reopen(db: Session, actor: Actor, project: Project, phase: ProjectPhase, note: str | None) -> None:
    phases = _phases(db, project)
    previous = phases[project.current_phase] if project.current_phase < len(phases) else None
    before = {"current_phase": project.current_phase, "status": project.status}
    for later in phases[phase.position + 1 :]:
        later.state = PHASE_PENDING
        later.started_at = None
        later.closed_at = None
        later.closed_by_id = None
    phase.state = PHASE_OPEN
    phase.closed_at = None
    phase.closed_by_id = None
    project.current_phase = phase.position
    if project.status == COMPLETED:
        project.status = ACTIVE
        project.completed_at = None
    project.updated_by_id = actor.user_id
    _move(db, actor, project, phase.position, "reopened", note)
    db.flush()
    after = {"current_phase": project.current_phase, "status": project.status}
    audit.record(
        db,
        actor,
        "phase_reopened",
        RECORD_TYPE,
        project.id,
        audit.diff(before, after),
        f"{project.name}: {phase.name}",
    )
    payload = _payload(
        db,
        project,
        action="reopened",
        from_phase=previous.key if previous else None,
        from_phase_name=previous.name if previous else None,
        from_position=previous.position if previous else None,
        to_phase=phase.key,
        to_phase_name=phase.name,
        to_position=phase.position,
        note=note,
    )
    events.emit(db, actor, "project.phase_changed", RECORD_TYPE, project.id, payload)


def move_to_phase(db: Session, actor: Actor, project: Project, position: Any) -> Project:
    """The board drag. Forward: close each phase in turn with its checks; the first incomplete one
    raises PhaseIncomplete and NOTHING changes (not even the phases before it). Backward: reopen."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    target = _phase(db, project, position)
    if target.position == project.current_phase and project.status != COMPLETED:
        return project
    if target.position < project.current_phase:
        if project.status == CANCELLED:
            raise Conflict("This project is cancelled", code="project_cancelled")
        _reopen(db, actor, project, target, None)
        db.commit()
        return project
    _require_running(project)
    try:
        while project.current_phase < target.position:
            _close_open_phase(db, actor, project, None)
    except DomainError:
        db.rollback()
        raise
    db.commit()
    return project


def set_checklist_item(
    db: Session, actor: Actor, project: Project, position: Any, item: str, done: bool
) -> Project:
    """Tick or untick a checklist item of a phase (who and when are kept)."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    if project.status == CANCELLED:
        raise Conflict("This project is cancelled", code="project_cancelled")
    phase = _phase(db, project, position)
    phase_def = _phase_defs(db, project)[phase.position]
    if item not in (phase_def.get("checklist") or []):
        raise ValidationFailed.on("item", "Unknown checklist item", "unknown")
    if not isinstance(done, bool):
        raise ValidationFailed.on("done", "Must be true or false", "invalid_type")
    ticks = dict(phase.checklist or {})
    was = bool((ticks.get(item) or {}).get("done"))
    if was == done:
        return project
    ticks[item] = {"done": done, "by": actor.user_id, "at": clock.now().isoformat()}
    phase.checklist = ticks  # a new dict, so the JSON column is written
    project.updated_by_id = actor.user_id
    project.updated_at = clock.now()
    db.flush()
    name = f"checklist.{phase.key}.{item}"
    lifecycle.updated(
        db, actor, RECORD_TYPE, project, {name: was}, {name: done}, project.name, _payload(db, project)
    )
    db.commit()
    return project


# -- documents -------------------------------------------------------------------------------------


def file_document(
    db: Session,
    actor: Actor,
    project: Project,
    position: Any,
    name: str,
    filename: str,
    content: bytes,
    content_type: str | None = None,
) -> ProjectDocument:
    """Store a file (core.attachments, on the project; the type is judged from the file itself,
    `content_type` is the sender's claim and not trusted) against an expected document of a phase."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    phase = _phase(db, project, position)
    expected = _phase_defs(db, project)[phase.position].get("documents") or []
    if name not in expected:
        raise ValidationFailed.on("name", "This phase expects no document with this name", "unknown")
    before = _document_names(db, project, phase, name)
    att = attachments.store(db, actor, RECORD_TYPE, project.id, filename, content)
    doc = ProjectDocument(
        project_id=project.id,
        position=phase.position,
        name=name,
        attachment_id=att.id,
        filed_at=clock.now(),
        filed_by_id=actor.user_id,
    )
    db.add(doc)
    project.updated_by_id = actor.user_id
    project.updated_at = clock.now()
    db.flush()
    key = f"documents.{phase.key}.{name}"
    lifecycle.updated(
        db,
        actor,
        RECORD_TYPE,
        project,
        {key: before},
        {key: _document_names(db, project, phase, name)},
        project.name,
        _payload(db, project),
    )
    db.commit()
    return doc


def _document_names(db: Session, project: Project, phase: ProjectPhase, name: str) -> list[str]:
    rows = db.execute(
        select(attachments.Attachment.filename)
        .join(ProjectDocument, ProjectDocument.attachment_id == attachments.Attachment.id)
        .where(
            ProjectDocument.project_id == project.id,
            ProjectDocument.position == phase.position,
            ProjectDocument.name == name,
        )
        .order_by(ProjectDocument.id)
    )
    return [r[0] for r in rows]


def documents(db: Session, project: Project) -> list[ProjectDocument]:
    return list(
        db.scalars(
            select(ProjectDocument)
            .where(ProjectDocument.project_id == project.id)
            .order_by(ProjectDocument.position, ProjectDocument.name, ProjectDocument.id)
        )
    )


def remove_document(db: Session, actor: Actor, project: Project, document_id: Any) -> None:
    lifecycle.require(actor, RECORD_TYPE, "update")
    doc = db.scalar(
        select(ProjectDocument).where(
            ProjectDocument.id == _id_or_404(document_id), ProjectDocument.project_id == project.id
        )
    )
    if doc is None:
        raise NotFound()
    phase = _phase(db, project, doc.position)
    before = _document_names(db, project, phase, doc.name)
    att = db.get(attachments.Attachment, doc.attachment_id)
    db.delete(doc)
    db.flush()
    if att is not None:
        attachments.delete(db, actor, att)
    project.updated_by_id = actor.user_id
    project.updated_at = clock.now()
    db.flush()
    key = f"documents.{phase.key}.{doc.name}"
    lifecycle.updated(
        db,
        actor,
        RECORD_TYPE,
        project,
        {key: before},
        {key: _document_names(db, project, phase, doc.name)},
        project.name,
        _payload(db, project),
    )
    db.commit()


# -- health ----------------------------------------------------------------------------------------


def _overdue_rows(db: Session, project_ids: list[int], now: datetime) -> dict[int, tuple[int, int]]:
    """Per project: (open tasks overdue, open tasks overdue by more than 14 days), one query."""
    if not project_ids:
        return {}
    start = tasks.today_start(now, "Europe/Paris")
    long_ago = start - timedelta(days=HORIZON_DAYS)
    rows = db.execute(
        select(
            Task.record_id,
            func.count(),
            func.sum(case((Task.due_at < long_ago, 1), else_=0)),
        )
        .where(
            Task.record_type == RECORD_TYPE,
            Task.record_id.in_(project_ids),
            Task.status.in_(tasks.OPEN_STATUSES),
            Task.due_at < start,
        )
        .group_by(Task.record_id)
    )
    return {r[0]: (int(r[1]), int(r[2] or 0)) for r in rows}


def overdue_counts(db: Session, project_ids: list[int]) -> dict[int, int]:
    """Open tasks past their due day, per project (0 when none)."""
    rows = _overdue_rows(db, list(project_ids), clock.now())
    return {pid: rows.get(pid, (0, 0))[0] for pid in project_ids}


def _phase_counts(db: Session, project_ids: list[int]) -> dict[int, int]:
    if not project_ids:
        return {}
    rows = db.execute(
        select(ProjectPhase.project_id, func.count())
        .where(ProjectPhase.project_id.in_(project_ids))
        .group_by(ProjectPhase.project_id)
    )
    return {r[0]: int(r[1]) for r in rows}


def _judge(project: Project, overdue: int, long_overdue: int, phases_left: int, on: date) -> Health:
    if project.status in (COMPLETED, CANCELLED):
        return Health("on_track")
    late: list[tuple[str, dict[str, Any]]] = []
    risk: list[tuple[str, dict[str, Any]]] = []
    if project.target_date is not None and project.target_date < on:
        late.append(("Target date {date} passed", {"date": project.target_date.isoformat()}))
    if long_overdue:
        text = (
            "1 task overdue by more than {days} days"
            if long_overdue == 1
            else "{n} tasks overdue by more than {days} days"
        )
        late.append((text, {"n": long_overdue, "days": HORIZON_DAYS}))
    if overdue:
        risk.append(("1 task overdue" if overdue == 1 else "{n} tasks overdue", {"n": overdue}))
    if (
        project.target_date is not None
        and on <= project.target_date <= on + timedelta(days=HORIZON_DAYS)
        and phases_left > 1
    ):
        risk.append(
            (
                "Target date {date} within {days} days with {n} phases left",
                {"date": project.target_date.isoformat(), "days": HORIZON_DAYS, "n": phases_left},
            )
        )
    if project.status == ON_HOLD:
        risk.append(("Project on hold", {}))
    status = "late" if late else "at_risk" if risk else "on_track"
    sources = late + risk
    return Health(status, [text for text, _ in sources], [params for _, params in sources])


def health(db: Session, project: Project, *, today: date | None = None) -> Health:
    """on track / at risk / late, with the reasons (see `health_many`)."""
    return health_many(db, [project], today=today)[project.id]


def health_many(db: Session, projects: list[Project], *, today: date | None = None) -> dict[int, Health]:
    """Late when the target date is past (not completed) or a task is overdue by more than 14 days;
    at risk when a task is overdue, the target date is within 14 days with more than one phase
    left, or the project is on hold; on track otherwise. Completed / cancelled: on track."""
    now = clock.now()
    on = today or now.astimezone(PARIS).date()
    ids = [p.id for p in projects]
    overdue = _overdue_rows(db, ids, now)
    counts = _phase_counts(db, ids)
    out = {}
    for p in projects:
        late_n = overdue.get(p.id, (0, 0))
        left = max(counts.get(p.id, 0) - p.current_phase, 0)
        out[p.id] = _judge(p, late_n[0], late_n[1], left, on)
    return out


# -- views' reads ------------------------------------------------------------------------------------


def phases_overview(db: Session, actor: Actor, project: Project) -> list[PhaseView]:
    """Each phase with its state, dates, who closed it, tasks, checklist, documents and required
    fields (met or not). Tasks need `tasks:read`."""
    lifecycle.require(actor, RECORD_TYPE, "read")
    phases = _phases(db, project)
    defs = _phase_defs(db, project)
    task_rows: dict[int, list[Task]] = {p.position: [] for p in phases}
    if actor.can("tasks:read"):
        for link, task in db.execute(
            select(ProjectTask, Task)
            .join(Task, Task.id == ProjectTask.task_id)
            .where(ProjectTask.project_id == project.id)
            .order_by(ProjectTask.position, Task.due_at, Task.id)
        ):
            task_rows.setdefault(link.position, []).append(task)
    docs: dict[tuple[int, str], list[ProjectDocument]] = {}
    for doc in documents(db, project):
        docs.setdefault((doc.position, doc.name), []).append(doc)
    user_ids: set[int | None] = {p.closed_by_id for p in phases}
    for p in phases:
        user_ids |= {(t or {}).get("by") for t in (p.checklist or {}).values()}
    names = _user_names(db, user_ids)
    out = []
    for phase in phases:
        phase_def = defs[phase.position] if phase.position < len(defs) else {}
        ticks = phase.checklist or {}
        checklist = []
        for item in phase_def.get("checklist") or []:
            tick = ticks.get(item) or {}
            at = tick.get("at")
            checklist.append(
                ChecklistItem(
                    item=item,
                    done=bool(tick.get("done")),
                    by=names.get(tick.get("by")) if tick.get("by") else None,
                    at=datetime.fromisoformat(at) if at else None,
                )
            )
        out.append(
            PhaseView(
                position=phase.position,
                key=phase.key,
                name=phase.name,
                description=phase_def.get("description"),
                state=phase.state,
                started_at=phase.started_at,
                closed_at=phase.closed_at,
                closed_by=names.get(phase.closed_by_id) if phase.closed_by_id else None,
                tasks=task_rows.get(phase.position, []),
                checklist=checklist,
                documents=[
                    ExpectedDocument(name, docs.get((phase.position, name), []))
                    for name in phase_def.get("documents") or []
                ],
                required=_required_items(db, project, phase, phase_def),
            )
        )
    return out


def _current_phases(db: Session, template_id: int) -> list[dict[str, Any]]:
    template = db.get(ProjectTemplate, template_id)
    if template is None:
        raise NotFound()
    version = db.scalar(
        select(ProjectTemplateVersion).where(
            ProjectTemplateVersion.template_id == template.id,
            ProjectTemplateVersion.number == template.current_version,
        )
    )
    return list((version.definition if version else {}).get("phases") or [])


def board(
    db: Session,
    actor: Actor,
    template_id: Any,
    *,
    owner_id: Any = None,
    region: str | None = None,
    status: str | None = None,
    health: str | None = None,
) -> list[BoardColumn]:
    """Columns = the phases of the template's CURRENT version; cards = the visible projects of the
    template (open ones unless `status` says otherwise). A project started from an older version
    sits in the column of its open phase's key, else at its position (the last column at most)."""
    lifecycle.require(actor, RECORD_TYPE, "read")
    _check_health(health)
    tid = _id_or_404(template_id)
    phase_defs = _current_phases(db, tid)
    columns = [
        BoardColumn(position=i, key=str(p.get("key")), name=str(p.get("name")), projects=[])
        for i, p in enumerate(phase_defs)
    ]
    if not columns:
        return []
    stmt = _filtered(
        db, actor, template_id=tid, status=status or ",".join(OPEN_STATUSES), owner_id=owner_id, region=region
    )
    projects = list(db.scalars(stmt.order_by(Project.target_date.asc().nulls_last(), Project.id)))
    ids = [p.id for p in projects]
    judged = health_many(db, projects)
    overdue = overdue_counts(db, ids)
    orgs = _organisation_names(db, {p.organisation_id for p in projects})
    open_keys = dict(
        db.execute(
            select(ProjectPhase.project_id, ProjectPhase.key).where(
                ProjectPhase.project_id.in_(ids) if ids else false(), ProjectPhase.state == PHASE_OPEN
            )
        ).all()
    )
    by_key = {c.key: c for c in columns}
    for p in projects:
        if health and judged[p.id].status != health:
            continue
        column = by_key.get(open_keys.get(p.id, "")) or columns[min(p.current_phase, len(columns) - 1)]
        column.projects.append(
            BoardCard(p, judged[p.id], orgs.get(p.organisation_id, ""), overdue.get(p.id, 0))
        )
    return columns


def counts_by_phase(db: Session, actor: Actor, template_id: Any) -> dict[int, int]:
    """Open (active / on hold) visible projects of a template per open-phase position."""
    lifecycle.require(actor, RECORD_TYPE, "read")
    rows = db.execute(
        select(Project.current_phase, func.count())
        .where(
            Project.template_id == _id_or_404(template_id),
            Project.status.in_(OPEN_STATUSES),
            visible_clause(db, actor),
        )
        .group_by(Project.current_phase)
    )
    return {int(r[0]): int(r[1]) for r in rows}


def timeline_rows(
    db: Session,
    actor: Actor,
    *,
    template_id: Any = None,
    owner_id: Any = None,
    status: str | None = None,
) -> list[TimelineRow]:
    """For the managers' timeline: each visible project (open ones unless `status` says otherwise)
    from start to target with its phases' dates, soonest start first."""
    lifecycle.require(actor, RECORD_TYPE, "read")
    stmt = _filtered(
        db, actor, template_id=template_id, status=status or ",".join(OPEN_STATUSES), owner_id=owner_id
    )
    projects = list(db.scalars(stmt.order_by(Project.start_date, Project.id)))
    ids = [p.id for p in projects]
    phases: dict[int, list[TimelinePhase]] = {i: [] for i in ids}
    if ids:
        for ph in db.scalars(
            select(ProjectPhase)
            .where(ProjectPhase.project_id.in_(ids))
            .order_by(ProjectPhase.project_id, ProjectPhase.position)
        ):
            phases[ph.project_id].append(
                TimelinePhase(ph.position, ph.key, ph.name, ph.state, ph.started_at, ph.closed_at)
            )
    judged = health_many(db, projects)
    orgs = _organisation_names(db, {p.organisation_id for p in projects})
    return [
        TimelineRow(
            p, orgs.get(p.organisation_id, ""), p.start_date, p.target_date, judged[p.id], phases[p.id]
        )
        for p in projects
    ]


def my_projects(db: Session, actor: Actor, limit: int = 10) -> list[tuple[Project, Health]]:
    """The actor's open projects (owner or team member), soonest target first."""
    if actor.user_id is None or not actor.can("projects:read"):
        return []
    member = exists().where(ProjectMember.project_id == Project.id, ProjectMember.user_id == actor.user_id)
    projects = list(
        db.scalars(
            select(Project)
            .where(
                or_(Project.owner_id == actor.user_id, member),
                Project.status.in_(OPEN_STATUSES),
                visible_clause(db, actor),
            )
            .order_by(Project.target_date.asc().nulls_last(), Project.id)
            .limit(limit)
        )
    )
    judged = health_many(db, projects)
    return [(p, judged[p.id]) for p in projects]


def for_organisation(
    db: Session, actor: Actor, organisation_id: int, limit: int = 20
) -> list[tuple[Project, Health]]:
    """The visible projects of one establishment, open ones first, for the side panel of its page."""
    if not actor.can("projects:read"):
        return []
    projects = list(
        db.scalars(
            select(Project)
            .where(Project.organisation_id == organisation_id, visible_clause(db, actor))
            .order_by(Project.status.not_in(OPEN_STATUSES), Project.start_date.desc(), Project.id.desc())
            .limit(limit)
        )
    )
    judged = health_many(db, projects)
    return [(p, judged[p.id]) for p in projects]


def to_read(db: Session, actor: Actor, project: Project) -> dict[str, Any]:
    """The API body of one project: phases with state and dates, current phase, health with its
    reasons (in the actor's language), members, contacts, deal ids, template and version number."""
    return _read_in(db, project, actor.language)


def reads(db: Session, projects: list[Project]) -> list[dict[str, Any]]:
    """`to_read` of each project for readers without an actor (workflow variables, webhooks):
    health reasons in the installation's default language."""
    language = app_settings().default_language
    return [_read_in(db, p, language) for p in projects]


def _read_in(db: Session, project: Project, language: str) -> dict[str, Any]:
    version = db.get(ProjectTemplateVersion, project.template_version_id)
    template = _template(db, project)
    judged = health(db, project)
    phases = _phases(db, project)
    current = phases[project.current_phase] if project.current_phase < len(phases) else None
    return {
        "id": project.id,
        "name": project.name,
        "organisation_id": project.organisation_id,
        "template": {
            "id": project.template_id,
            "name": template.name if template else None,
            "version": version.number if version else None,
        },
        "status": project.status,
        "start_date": project.start_date,
        "target_date": project.target_date,
        "completed_at": project.completed_at,
        "current_phase": (
            {"position": current.position, "key": current.key, "name": current.name} if current else None
        ),
        "phases": [
            {
                "position": ph.position,
                "key": ph.key,
                "name": ph.name,
                "state": ph.state,
                "started_at": ph.started_at,
                "closed_at": ph.closed_at,
                "closed_by_id": ph.closed_by_id,
                "checklist": {k: bool((v or {}).get("done")) for k, v in (ph.checklist or {}).items()},
            }
            for ph in phases
        ],
        "health": {"status": judged.status, "reasons": judged.translated(language)},
        "members": [{"user_id": m.user_id, "role": m.role} for m in members(db, project)],
        "contacts": [{"contact_id": c.contact_id, "role": c.role} for c in contacts(db, project)],
        "deal_ids": _deal_ids(db, project),
        "description": project.description,
        "notes": project.notes,
        "owner_id": project.owner_id,
        "department_id": project.department_id,
        "custom_fields": dict(project.custom_fields or {}),
        "version": project.version,
        "created_at": project.created_at,
        "updated_at": project.updated_at,
    }


# -- bulk creation -----------------------------------------------------------------------------------

_SEPARATORS = re.compile(r"[\n\r,;\t]+")


def _tokens(text: str) -> list[str]:
    """Numbers pasted one per line or separated by commas, semicolons or spaces; spaces inside one
    number ("123 456 789") are kept together when the piece is a number once they are removed."""
    out: list[str] = []
    for piece in _SEPARATORS.split(text or ""):
        piece = piece.strip()
        if not piece:
            continue
        joined = re.sub(r"\s+", "", piece)
        if re.fullmatch(r"\d{9}|\d{14}|(\d{2}|2[ABab])[0-9A-Za-z]{6}\d", joined):
            out.append(joined.upper())
        else:
            out.extend(piece.split())
    return out


def _resolve_number(db: Session, actor: Actor, token: str) -> tuple[Organisation | None, str | None]:
    """(organisation, None) or (None, reason) for one pasted SIREN / SIRET / FINESS number."""
    finess = identifiers.clean_finess(token, FieldErrors())
    # 9 digits may be a SIREN or a FINESS (legal entity or site); 14 digits a SIRET.
    if not finess and not re.fullmatch(r"\d{9}|\d{14}", token):
        return None, "Not a SIREN, SIRET or FINESS number"
    org = None
    if finess:
        org = db.scalar(
            select(Organisation)
            .where(
                or_(Organisation.finess == finess, Organisation.finess_ej == finess),
                organisations.visible_clause(db, actor),
            )
            .order_by(Organisation.id)
            .limit(1)
        )
    if org is None and token.isdigit():
        org = organisations.find_by_number(db, actor, token)
    if org is None:
        return None, "No visible organisation has this number"
    return org, None


def bulk_create(
    db: Session,
    actor: Actor,
    *,
    template_id: Any,
    organisation_ids: list[Any] | None = None,
    identifiers: str | None = None,
    owner_id: Any = None,
    start_date: Any = None,
    target_date: Any = None,
) -> BulkResult:
    """One project per establishment, from organisation ids and/or pasted SIREN / SIRET / FINESS
    numbers. Unknown, invalid, repeated entries and establishments that already have an open
    project of the template are reported in `skipped`, never dropped silently. The created ones
    are written in one transaction (all or nothing)."""
    lifecycle.require(actor, RECORD_TYPE, "create")
    errors = FieldErrors()
    common: dict[str, Any] = {
        "template_id": template_id,
        "start_date": start_date,
        "target_date": target_date,
    }
    if owner_id not in (None, ""):
        common["owner_id"] = owner_id
    _clean_template(db, template_id, errors)
    inputs.day(start_date, "start_date", errors)
    inputs.day(target_date, "target_date", errors)
    if owner_id not in (None, ""):
        ownership.resolve(db, actor, {"owner_id": owner_id}, None, None, errors)
    if not organisation_ids and not (identifiers or "").strip():
        errors.add("organisation_ids", "Choose the establishments or paste their numbers", "required")
    errors.raise_if_any()
    wanted: list[tuple[str, int | None, str | None]] = []  # (label, organisation id, reason)
    for raw in organisation_ids or []:
        try:
            org_id = int(raw)
        except (TypeError, ValueError):
            wanted.append((str(raw), None, "Unknown organisation"))
            continue
        check = FieldErrors()
        organisations.require_visible_id(db, actor, org_id, "organisation_id", check)
        wanted.append((f"#{org_id}", None if check else org_id, "Unknown organisation" if check else None))
    for token in _tokens(identifiers or ""):
        org, reason = _resolve_number(db, actor, token)
        wanted.append((token, org.id if org else None, reason))
    names = _organisation_names(db, {o for _, o, _ in wanted if o is not None})
    created: list[Project] = []
    skipped: list[tuple[str, str]] = []
    seen: set[int] = set()
    try:
        for label, org_id, reason in wanted:
            if org_id is None:
                skipped.append((label, reason or "Unknown organisation"))
                continue
            shown = (
                names.get(org_id, label) if label.startswith("#") else f"{label} ({names.get(org_id, '')})"
            )
            if org_id in seen:
                skipped.append((shown, "Listed twice"))
                continue
            seen.add(org_id)
            try:
                # The duplicate check comes before any write of `_create`.
                created.append(
                    _create(db, actor, {**common, "organisation_id": org_id}, allow_duplicate=False)
                )
            except DuplicateProject:
                skipped.append((shown, "An open project from this template already exists"))
    except DomainError:
        db.rollback()
        raise
    db.commit()
    return BulkResult(created, skipped)


# -- activities and timeline -------------------------------------------------------------------------


def log_activity(db: Session, actor: Actor, project: Project, data: dict[str, Any]) -> Any:
    """Log an activity (call, meeting, visit, note...) about the project: it is an activity of the
    project's organisation (kept as the organisation's history, and shown on the project's
    timeline), optionally on one of the project's deals."""
    lifecycle.require(actor, RECORD_TYPE, "read")
    values = {k: v for k, v in data.items() if k not in ("organisation_id", "contact_id")}
    if values.get("deal_id") not in (None, "") and _int_or_none(values["deal_id"]) not in _deal_ids(
        db, project
    ):
        raise ValidationFailed.on("deal_id", "Choose a deal linked to the project", "unknown")
    return activities.create_activity(db, actor, {**values, "organisation_id": project.organisation_id})


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


TIMELINE_EVENTS = {
    "project.created": "Project created: {name}",
    "project.phase_changed": "{name}: {from_phase} → {to_phase}",
    "project.completed": "Project completed: {name}",
}


@timeline.register
def timeline_items(
    db: Session, actor: Actor, record_type: str, record_id: int, limit: int
) -> list[timeline.TimelineItem]:
    """A project's timeline: its events (creation, phase moves, completion) and the activities of
    its organisation since the project started (its tasks come from the tasks provider). An
    organisation's timeline gets the events and tasks of its visible projects (the activities are
    its own already)."""
    if record_type not in (RECORD_TYPE, "organisation") or not actor.can("projects:read"):
        return []
    if record_type == RECORD_TYPE:
        project = db.scalar(select(Project).where(Project.id == record_id, visible_clause(db, actor)))
        if project is None:
            return []
        ids = [project.id]
    else:
        project = None
        ids = list(
            db.scalars(
                select(Project.id).where(Project.organisation_id == record_id, visible_clause(db, actor))
            )
        )
    if not ids:
        return []
    items = _event_items(db, actor, ids, limit, on_organisation=project is None)
    # A project's own tasks come from the tasks provider (projects are a linkable record type);
    # the organisation's timeline gets those of its projects from here.
    if project is None and actor.can("tasks:read"):
        items.extend(_task_items(db, actor, ids, limit))
    if project is not None:
        start = datetime.combine(project.start_date, time(0), tzinfo=PARIS)
        items.extend(
            i
            for i in activities.timeline_items(db, actor, "organisation", project.organisation_id, limit)
            if i.when >= start
        )
    return items


def _event_items(
    db: Session, actor: Actor, ids: list[int], limit: int, *, on_organisation: bool
) -> list[timeline.TimelineItem]:
    rows = db.scalars(
        select(Event)
        .where(
            Event.record_type == RECORD_TYPE, Event.record_id.in_(ids), Event.type.in_(list(TIMELINE_EVENTS))
        )
        .order_by(Event.id.desc())
        .limit(limit)
    )
    lang = actor.language
    items = []
    for ev in rows:
        to_phase = ev.payload.get("to_phase_name") or i18n.gettext("Project completed", lang)
        params = {
            "name": ev.payload.get("name", ""),
            "from_phase": ev.payload.get("from_phase_name") or "",
            "to_phase": to_phase,
        }
        items.append(
            timeline.TimelineItem(
                when=ev.occurred_at,
                kind="event",
                title=TIMELINE_EVENTS[ev.type],
                body=ev.payload.get("note") or "",
                url=f"/projects/{ev.record_id}" if on_organisation else None,
                meta={"params": params, "type": ev.type},
            )
        )
    return items


def _task_items(db: Session, actor: Actor, ids: list[int], limit: int) -> list[timeline.TimelineItem]:
    when = func.coalesce(Task.completed_at, Task.due_at, Task.created_at)
    rows = db.execute(
        select(Task.id, Task.title, Task.status, Task.due_at, Task.owner_id, when.label("when"))
        .where(Task.record_type == RECORD_TYPE, Task.record_id.in_(ids), tasks.visible_clause(db, actor))
        .order_by(when.desc(), Task.id.desc())
        .limit(limit)
    )
    rows = list(rows)
    names = _user_names(db, {r.owner_id for r in rows})
    lang, tz = actor.language, actor.timezone
    items = []
    for r in rows:
        body = i18n.gettext(tasks.STATUS_LABELS.get(r.status, r.status), lang)
        if r.due_at is not None:
            body += " · " + i18n.gettext("Due {date}", lang, date=i18n.format_datetime(r.due_at, lang, tz))
        items.append(
            timeline.TimelineItem(
                when=r.when,
                kind="task",
                title=r.title,
                body=body,
                url=f"/tasks/{r.id}",
                meta={"by": names.get(r.owner_id, ""), "id": r.id, "status": r.status},
            )
        )
    return items


# -- display look-ups (names the pages show for rows they already hold) -----------------------


def phase_names(db: Session, projects: list[Project]) -> dict[int, str]:
    """The open phase's name of each project (absent for a completed project), in one query."""
    if not projects:
        return {}
    wanted = {p.id: p.current_phase for p in projects}
    rows = db.execute(
        select(ProjectPhase.project_id, ProjectPhase.position, ProjectPhase.name).where(
            ProjectPhase.project_id.in_(list(wanted))
        )
    ).all()
    return {pid: name for pid, position, name in rows if wanted.get(pid) == position}


def template_phases(db: Session, template_id: int | None) -> list[tuple[int, str, str]]:
    """(position, key, name) of the phases of a template's current version."""
    if not template_id:
        return []
    definition = db.scalar(
        select(ProjectTemplateVersion.definition)
        .join(
            ProjectTemplate,
            and_(
                ProjectTemplate.id == ProjectTemplateVersion.template_id,
                ProjectTemplate.current_version == ProjectTemplateVersion.number,
            ),
        )
        .where(ProjectTemplate.id == template_id)
    )
    phases = (definition or {}).get("phases", [])
    return [(i, str(p.get("key", "")), str(p.get("name", ""))) for i, p in enumerate(phases)]


def template_label(db: Session, project: Project) -> tuple[str, int | None]:
    """The project's template name and the number of the version it started from."""
    row = db.execute(
        select(ProjectTemplate.name, ProjectTemplateVersion.number)
        .join(ProjectTemplateVersion, ProjectTemplateVersion.template_id == ProjectTemplate.id)
        .where(ProjectTemplateVersion.id == project.template_version_id)
    ).first()
    return (row[0], row[1]) if row else ("", None)
