"""Project templates: every write goes through here (permissions, validation, versions, audit).

A template's content lives in frozen versions: saving a changed definition adds version N+1 and
makes it current, so the projects started from an earlier version keep theirs. An unchanged
definition adds no version. Two saves racing for the same number are told apart by the unique
(template_id, number) constraint: the second gets a 409. A template some project uses cannot be
deleted; it can be archived (active = False) so new projects no longer offer it.

Permission module "project_templates": read for everyone who works with projects, create / update /
delete for administrators and managers. Changes are audited under the record type
"project_template" (no domain events: templates are configuration, not records).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carnet.core import audit
from carnet.core.context import Actor
from carnet.core.db import get_database
from carnet.core.errors import Conflict, FieldErrors, NotFound, PermissionDenied, ValidationFailed
from carnet.projects.definition import parse_definition
from carnet.projects.models import Project, ProjectTemplate, ProjectTemplateVersion

RECORD_TYPE = "project_template"
MODULE = "project_templates"
EXPORT_FORMAT = "carnet.project-template"
EXPORT_FORMAT_VERSION = 1
NAME_MAX = 120
DESCRIPTION_MAX = 2000


def require(actor: Actor, action: str) -> None:
    if not actor.can(f"{MODULE}:{action}"):
        raise PermissionDenied()


def can(actor: Actor, action: str) -> bool:
    return actor.can(f"{MODULE}:{action}")


# -- reading -----------------------------------------------------------------------------------------


def list_templates(db: Session, actor: Actor, include_inactive: bool = False) -> list[ProjectTemplate]:
    require(actor, "read")
    stmt = select(ProjectTemplate)
    if not include_inactive:
        stmt = stmt.where(ProjectTemplate.active.is_(True))
    return list(db.scalars(stmt.order_by(func.lower(ProjectTemplate.name), ProjectTemplate.id)))


def get_template(db: Session, actor: Actor, template_id: Any) -> ProjectTemplate:
    require(actor, "read")
    try:
        template_id = int(template_id)
    except (TypeError, ValueError):
        raise NotFound()
    template = db.get(ProjectTemplate, template_id) if 0 < template_id < 2**31 else None
    if template is None:
        raise NotFound()
    return template


def get_version(db: Session, template: ProjectTemplate, number: int | None = None) -> ProjectTemplateVersion:
    """The version `number` of `template` (its current version when None)."""
    wanted = template.current_version if number is None else number
    version = db.scalar(
        select(ProjectTemplateVersion).where(
            ProjectTemplateVersion.template_id == template.id, ProjectTemplateVersion.number == wanted
        )
    )
    if version is None:
        raise NotFound()
    return version


def list_versions(db: Session, template: ProjectTemplate) -> list[ProjectTemplateVersion]:
    """Newest first."""
    return list(
        db.scalars(
            select(ProjectTemplateVersion)
            .where(ProjectTemplateVersion.template_id == template.id)
            .order_by(ProjectTemplateVersion.number.desc())
        )
    )


def current_versions(db: Session, templates: list[ProjectTemplate]) -> dict[int, ProjectTemplateVersion]:
    """The current version of each template (one query)."""
    if not templates:
        return {}
    wanted = {(t.id, t.current_version) for t in templates}
    rows = db.scalars(
        select(ProjectTemplateVersion).where(
            ProjectTemplateVersion.template_id.in_([t.id for t in templates])
        )
    )
    return {v.template_id: v for v in rows if (v.template_id, v.number) in wanted}


def usage_counts(db: Session, template_ids: list[int]) -> dict[int, int]:
    """How many projects (whatever their status) were created from each template."""
    if not template_ids:
        return {}
    rows = db.execute(
        select(Project.template_id, func.count())
        .where(Project.template_id.in_(template_ids))
        .group_by(Project.template_id)
    )
    return {template_id: int(n) for template_id, n in rows}


def version_usage_counts(db: Session, template: ProjectTemplate) -> dict[int, int]:
    """Projects per version number of `template`."""
    rows = db.execute(
        select(ProjectTemplateVersion.number, func.count(Project.id))
        .join(Project, Project.template_version_id == ProjectTemplateVersion.id)
        .where(ProjectTemplateVersion.template_id == template.id)
        .group_by(ProjectTemplateVersion.number)
    )
    counts: dict[int, int] = defaultdict(int)
    for number, n in rows:
        counts[number] = int(n)
    return counts


def to_read(template: ProjectTemplate, version: ProjectTemplateVersion, projects: int = 0) -> dict[str, Any]:
    return {
        "id": template.id,
        "name": template.name,
        "description": template.description,
        "active": template.active,
        "current_version": template.current_version,
        "phase_count": len(version.definition.get("phases", [])),
        "project_count": projects,
        "definition": version.definition,
        "created_at": template.created_at,
        "updated_at": template.updated_at,
    }


def version_to_read(version: ProjectTemplateVersion) -> dict[str, Any]:
    return {
        "number": version.number,
        "definition": version.definition,
        "created_at": version.created_at,
        "created_by_id": version.created_by_id,
    }


def _snapshot(template: ProjectTemplate) -> dict[str, Any]:
    """What the audit trail compares (the definition itself is in the frozen versions)."""
    return {
        "name": template.name,
        "description": template.description,
        "active": template.active,
        "current_version": template.current_version,
    }


# -- validation --------------------------------------------------------------------------------------


def _text(value: Any, name: str, max_len: int, errors: FieldErrors, required: bool = False) -> str | None:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.add(name, "Enter text", "invalid_type")
        return None
    value = value.strip()
    if required and not value:
        errors.add(name, "This field is required", "required")
    elif len(value) > max_len:
        errors.add(name, "At most {max} characters", "too_long", max=max_len)
    return value or None


def _name_taken(db: Session, name: str, exclude_id: int | None = None) -> bool:
    stmt = select(ProjectTemplate.id).where(func.lower(ProjectTemplate.name) == name.lower())
    if exclude_id is not None:
        stmt = stmt.where(ProjectTemplate.id != exclude_id)
    return db.scalar(stmt.limit(1)) is not None


def _clean_name(db: Session, value: Any, errors: FieldErrors, exclude_id: int | None = None) -> str | None:
    name = _text(value, "name", NAME_MAX, errors, required=True)
    if name and _name_taken(db, name, exclude_id):
        errors.add("name", "A template with this name already exists", "duplicate")
    return name


def _definition(value: Any, errors: FieldErrors) -> dict[str, Any] | None:
    """The parsed definition; its errors keep their paths, prefixed with `definition.`."""
    try:
        return parse_definition(value)
    except ValidationFailed as exc:
        for err in exc.errors:
            errors.add(f"definition.{err.field}", err.message, err.code, **err.params)
        return None


def _bool(value: Any, name: str, errors: FieldErrors) -> bool | None:
    if isinstance(value, bool):
        return value
    errors.add(name, "Choose yes or no", "invalid_type")
    return None


# -- writing -----------------------------------------------------------------------------------------


def _add_template(
    db: Session, actor: Actor, name: str, description: str | None, definition: dict[str, Any]
) -> ProjectTemplate:
    """Insert the template and its version 1; a name taken meanwhile is a field error."""
    template = ProjectTemplate(
        name=name,
        description=description,
        active=True,
        current_version=1,
        created_by_id=actor.user_id,
        updated_by_id=actor.user_id,
    )
    try:
        with db.begin_nested():
            db.add(template)
            db.flush()
    except IntegrityError:  # the same name committed by a concurrent request
        raise ValidationFailed.on("name", "A template with this name already exists", "duplicate")
    db.add(
        ProjectTemplateVersion(
            template_id=template.id, number=1, definition=definition, created_by_id=actor.user_id
        )
    )
    db.flush()
    return template


def create_template(db: Session, actor: Actor, data: dict[str, Any]) -> ProjectTemplate:
    """data: name, description (optional), definition."""
    require(actor, "create")
    errors = FieldErrors()
    name = _clean_name(db, data.get("name"), errors)
    description = _text(data.get("description"), "description", DESCRIPTION_MAX, errors)
    definition = _definition(data.get("definition"), errors)
    errors.raise_if_any()
    assert name is not None and definition is not None
    template = _add_template(db, actor, name, description, definition)
    audit.record(
        db,
        actor,
        "create",
        RECORD_TYPE,
        template.id,
        audit.diff({}, {**_snapshot(template), "phases": _phase_names(definition)}),
        template.name,
    )
    db.commit()
    return template


def _phase_names(definition: dict[str, Any]) -> list[str]:
    return [phase["name"] for phase in definition["phases"]]


def update_template(
    db: Session, actor: Actor, template: ProjectTemplate, data: dict[str, Any]
) -> ProjectTemplate:
    """data: any of name, description, active, definition. A definition that differs from the
    current version's adds a version; an identical one adds none."""
    require(actor, "update")
    errors = FieldErrors()
    changes: dict[str, Any] = {}
    if "name" in data:
        changes["name"] = _clean_name(db, data["name"], errors, exclude_id=template.id)
    if "description" in data:
        changes["description"] = _text(data["description"], "description", DESCRIPTION_MAX, errors)
    if "active" in data:
        changes["active"] = _bool(data["active"], "active", errors)
    definition = _definition(data["definition"], errors) if "definition" in data else None
    errors.raise_if_any()

    before = _snapshot(template)
    current = get_version(db, template)
    new_version = definition is not None and definition != current.definition
    for key, value in changes.items():
        setattr(template, key, value)
    if new_version:
        assert definition is not None
        number = template.current_version + 1
        try:
            with db.begin_nested():
                db.add(
                    ProjectTemplateVersion(
                        template_id=template.id,
                        number=number,
                        definition=definition,
                        created_by_id=actor.user_id,
                    )
                )
                db.flush()
        except IntegrityError:  # another save took this number first
            raise Conflict(
                "This template was changed by someone else meanwhile; reload it and save again",
                code="template_version_conflict",
            )
        template.current_version = number
    after = _snapshot(template)
    diff = audit.diff(before, after)
    if new_version:
        assert definition is not None
        diff["phases"] = {"old": _phase_names(current.definition), "new": _phase_names(definition)}
    if diff:
        template.updated_by_id = actor.user_id
        db.flush()
        summary = f"{template.name} v{template.current_version}" if new_version else template.name
        audit.record(db, actor, "update", RECORD_TYPE, template.id, diff, summary)
    db.commit()
    return template


def duplicate_template(db: Session, actor: Actor, template: ProjectTemplate, name: Any) -> ProjectTemplate:
    """A new template named `name` whose version 1 is a copy of the current version of `template`."""
    require(actor, "create")
    errors = FieldErrors()
    clean = _clean_name(db, name, errors)
    errors.raise_if_any()
    assert clean is not None
    source = get_version(db, template)
    copy = _add_template(db, actor, clean, template.description, dict(source.definition))
    audit.record(
        db,
        actor,
        "create",
        RECORD_TYPE,
        copy.id,
        audit.diff({}, {**_snapshot(copy), "copied_from": f"{template.name} v{source.number}"}),
        copy.name,
    )
    db.commit()
    return copy


def export_template(
    db: Session, actor: Actor, template: ProjectTemplate, number: int | None = None
) -> dict[str, Any]:
    """The JSON document of version `number` (the current one when None), for import elsewhere."""
    require(actor, "read")
    version = get_version(db, template, number)
    # A download is a GET (read-only session): its audit entry gets a short write transaction.
    with get_database().begin() as wdb:
        audit.record(
            wdb,
            actor,
            "export",
            RECORD_TYPE,
            template.id,
            {"version": version.number},
            f"{template.name} v{version.number}",
        )
    return {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_FORMAT_VERSION,
        "name": template.name,
        "description": template.description,
        "version": version.number,
        "definition": version.definition,
    }


def import_template(db: Session, actor: Actor, document: Any, name: Any = None) -> ProjectTemplate:
    """A new template from an exported document; `name`, when given, replaces the document's (the
    way out of a name already used here)."""
    require(actor, "create")
    errors = FieldErrors()
    if not isinstance(document, dict):
        raise ValidationFailed.on("file", "This is not a Carnet project template file", "invalid_format")
    if document.get("format") != EXPORT_FORMAT:
        raise ValidationFailed.on("format", "This is not a Carnet project template file", "invalid_format")
    if document.get("format_version") != EXPORT_FORMAT_VERSION:
        raise ValidationFailed.on(
            "format_version",
            "Unsupported file version: {value}",
            "unsupported",
            value=document.get("format_version"),
        )
    chosen = name if isinstance(name, str) and name.strip() else document.get("name")
    clean = _clean_name(db, chosen, errors)
    description = _text(document.get("description"), "description", DESCRIPTION_MAX, errors)
    definition = _definition(document.get("definition"), errors)
    errors.raise_if_any()
    assert clean is not None and definition is not None
    template = _add_template(db, actor, clean, description, definition)
    audit.record(
        db,
        actor,
        "import",
        RECORD_TYPE,
        template.id,
        audit.diff({}, {**_snapshot(template), "phases": _phase_names(definition)}),
        template.name,
    )
    db.commit()
    return template


def delete_template(db: Session, actor: Actor, template: ProjectTemplate) -> None:
    """Refused (409) while any project uses the template: archive it instead."""
    require(actor, "delete")
    used = usage_counts(db, [template.id]).get(template.id, 0)
    if used:
        raise Conflict(
            "{count} project(s) use this template: archive it instead (untick Active)",
            code="template_in_use",
            count=used,
        )
    snapshot = _snapshot(template)
    template_id, name = template.id, template.name
    db.execute(delete(ProjectTemplateVersion).where(ProjectTemplateVersion.template_id == template_id))
    db.delete(template)
    db.flush()
    audit.record(db, actor, "delete", RECORD_TYPE, template_id, audit.diff(snapshot, {}), name)
    db.commit()
