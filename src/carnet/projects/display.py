"""What the project pages show besides the service's answers: English labels of the codes (the
templates translate them), form value parsing, and a few read-only look-ups of display names
(phase and template names) on rows the pages already hold, one query per page."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from carnet.core import clock
from carnet.core.errors import DomainError
from carnet.core.i18n import gettext
from carnet.projects import service
from carnet.projects.models import (
    Project,
    ProjectPhase,
    ProjectTemplate,
    ProjectTemplateVersion,
)

PARIS = ZoneInfo("Europe/Paris")

STATUS_BADGES = {"active": "open", "on_hold": "former", "completed": "won", "cancelled": "lost"}
PHASE_STATE_LABELS = {"closed": "Closed", "open": "In progress", "pending": "To come"}
MOVE_LABELS = {
    "opened": "Phase opened",
    "closed": "Phase closed",
    "reopened": "Phase reopened",
    "completed": "Project completed",
}


def labels_context() -> dict[str, Any]:
    return {
        "status_labels": service.STATUS_LABELS,
        "status_badges": STATUS_BADGES,
        "health_labels": service.HEALTH_LABELS,
        "phase_state_labels": PHASE_STATE_LABELS,
        "move_labels": MOVE_LABELS,
        "contact_role_labels": service.CONTACT_ROLE_LABELS,
    }


def paris_today() -> date:
    """Business dates are French dates."""
    return clock.now().astimezone(PARIS).date()


def as_int(value: Any) -> int | None:
    """A form or query value as a positive id, None when empty or not a number."""
    text = str(value or "").strip()
    return int(text) if text.isdigit() and 0 < int(text) < 2**31 else None


def required_text(item: service.RequiredItem, lang: str) -> str:
    """A required field's sentence in `lang`, its role name translated too."""
    params = {k: gettext(v, lang) if k == "role" else v for k, v in item.params.items()}
    return gettext(item.label, lang, **params)


def as_position(value: Any) -> int | None:
    """A phase position (0-based) from a form value, None when empty or not a number."""
    text = str(value or "").strip()
    return int(text) if text.isdigit() and int(text) < 1000 else None


def incomplete_items(exc: DomainError, lang: str) -> list[str]:
    """Every missing item of a refused phase close, translated (form_errors keeps one per field);
    the error's own message when it carries no field errors (a cancelled project...)."""
    if exc.errors:
        return [gettext(e.message, lang, **e.params) for e in exc.errors]
    return [gettext(exc.message, lang, **exc.params)]


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
