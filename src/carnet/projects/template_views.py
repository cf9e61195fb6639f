"""Settings pages of project templates: list, editor (phases and tasks reordered by drag and drop),
version history with read-only old versions, duplicate, export, import, delete.

The editor is rendered here, input by input, each input named by its definition path
(`phases[2].tasks[0].due_days`), so the service's field errors are shown next to the input they
are about; a small script (static/js/project-templates.js) adds, removes and reorders phases, tasks
and items, and serialises the whole definition into one hidden JSON field on save.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from carnet.accounts import service as accounts
from carnet.api.deps import DbDep
from carnet.core.context import Actor
from carnet.core.errors import DomainError, FieldErrors, PermissionDenied, ValidationFailed
from carnet.core.i18n import gettext
from carnet.projects import template_service as service
from carnet.projects.definition import REQUIRED_FIELD_KINDS, split_required_field
from carnet.projects.models import CONTACT_ROLES, ProjectTemplate
from carnet.projects.template_api import filename_for
from carnet.tasks.models import PRIORITIES
from carnet.web.shell import WebActor, form_errors, redirect, render

router = APIRouter(prefix="/settings/project-templates", include_in_schema=False)
BASE = "/settings/project-templates"
MAX_UPLOAD = 1_000_000  # an exported template is a few kilobytes


def _t(actor: Actor, text: str, **params: Any) -> str:
    return gettext(text, actor.language, **params)


def _require_read(actor: Actor) -> None:
    if not service.can(actor, "read"):
        raise PermissionDenied()


# -- the editor's form shape ---------------------------------------------------------------------------


def _str(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def form_shape(definition: Any) -> list[dict[str, Any]]:
    """The phases of a definition (valid or as a user sent it) as plain strings for the inputs,
    keeping every position so that error paths still point at the right input."""
    phases = definition.get("phases") if isinstance(definition, dict) else None
    out = []
    for raw in _list(phases):
        phase = raw if isinstance(raw, dict) else {}
        tasks = []
        for task_raw in _list(phase.get("tasks")):
            task = task_raw if isinstance(task_raw, dict) else {}
            assignee = task.get("assignee") if isinstance(task.get("assignee"), dict) else {}
            tasks.append(
                {
                    "title": _str(task.get("title")),
                    "description": _str(task.get("description")),
                    "due_days": _str(task.get("due_days")),
                    "priority": _str(task.get("priority")) or "normal",
                    "assignee_type": _str(assignee.get("type")) or "owner",
                    "user_id": _str(assignee.get("user_id")),
                    "role": _str(assignee.get("role")),
                }
            )
        required = []
        for value in _list(phase.get("required_fields")):
            kind, param = split_required_field(_str(value))
            required.append({"kind": kind, "param": param or ""})
        out.append(
            {
                "key": _str(phase.get("key")),
                "name": _str(phase.get("name")),
                "description": _str(phase.get("description")),
                "tasks": tasks,
                "checklist": [_str(v) for v in _list(phase.get("checklist"))],
                "documents": [_str(v) for v in _list(phase.get("documents"))],
                "required_fields": required,
            }
        )
    return out


BLANK_DEFINITION: dict[str, Any] = {"phases": [{"name": "", "tasks": [], "checklist": [], "documents": []}]}


def _editor(
    request: Request,
    db: Session,
    actor: Actor,
    template: ProjectTemplate | None,
    values: dict[str, Any],
    definition: Any,
    status: int = 200,
    errors: dict[str, str] | None = None,
    error: str | None = None,
) -> Response:
    versions = service.list_versions(db, template) if template else []
    return render(
        request,
        "projects/templates_edit.html",
        status_code=status,
        project_template=template,
        values=values,
        phases=form_shape(definition),
        errors=errors or {},
        error_list=_error_list(errors or {}),
        error=error,
        versions=versions,
        version_counts=service.version_usage_counts(db, template) if template else {},
        project_count=service.usage_counts(db, [template.id]).get(template.id, 0) if template else 0,
        users=accounts.list_users(db, active_only=True),
        priorities=PRIORITIES,
        contact_roles=CONTACT_ROLES,
        required_kinds=REQUIRED_FIELD_KINDS,
        can_edit=service.can(actor, "update" if template else "create"),
        can_create=service.can(actor, "create"),
        can_delete=service.can(actor, "delete"),
    )


def _error_list(errors: dict[str, str]) -> list[tuple[str, str]]:
    """Definition errors for the summary at the top of the editor (each is also shown in place)."""
    return [(path, message) for path, message in errors.items() if path.startswith("definition.")]


def _parse_form(form: Any, errors: FieldErrors) -> tuple[dict[str, Any], Any]:
    values = {
        "name": str(form.get("name") or ""),
        "description": str(form.get("description") or ""),
        "active": form.get("active") == "1",
    }
    raw = str(form.get("definition") or "")
    try:
        definition = json.loads(raw) if raw else None
    except ValueError:
        errors.add("definition", "The editor sent an unreadable definition; reload the page", "invalid")
        definition = None
    return values, definition


def _failed(exc: DomainError, actor: Actor) -> tuple[dict[str, str], str | None]:
    if isinstance(exc, ValidationFailed) and exc.errors:
        return form_errors(exc, actor.language), _t(actor, exc.title)
    return {}, _t(actor, exc.message, **exc.params)


# -- pages -----------------------------------------------------------------------------------------------


@router.get("")
def list_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    return _list_page(request, db, actor)


def _list_page(
    request: Request,
    db: Session,
    actor: Actor,
    status: int = 200,
    import_errors: dict[str, str] | None = None,
) -> Response:
    _require_read(actor)
    rows = service.list_templates(db, actor, include_inactive=True)
    return render(
        request,
        "projects/templates_list.html",
        status_code=status,
        rows=rows,
        versions=service.current_versions(db, rows),
        counts=service.usage_counts(db, [t.id for t in rows]),
        can_create=service.can(actor, "create"),
        import_errors=import_errors or {},
    )


@router.get("/new")
def new_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require(actor, "create")
    return _editor(
        request, db, actor, None, {"name": "", "description": "", "active": True}, BLANK_DEFINITION
    )


@router.post("/new")
async def create(request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require(actor, "create")
    errors = FieldErrors()
    values, definition = _parse_form(await request.form(), errors)
    try:
        errors.raise_if_any()
        data = {"name": values["name"], "description": values["description"], "definition": definition}
        template = service.create_template(db, actor, data)
    except DomainError as exc:
        db.rollback()
        field_errors, message = _failed(exc, actor)
        return _editor(request, db, actor, None, values, definition, exc.status, field_errors, message)
    return redirect(f"{BASE}/{template.id}", flash=_t(actor, "Template created"), request=request)


@router.post("/import")
async def import_file(request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require(actor, "create")
    form = await request.form()
    upload = form.get("file")
    name = str(form.get("name") or "").strip() or None
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationFailed.on("file", "Choose a file", "required")
        content = await upload.read(MAX_UPLOAD + 1)
        if len(content) > MAX_UPLOAD:
            raise ValidationFailed.on("file", "This file is too large", "too_large")
        try:
            document = json.loads(content.decode("utf-8-sig"))
        except ValueError:
            raise ValidationFailed.on("file", "This is not a Carnet project template file", "invalid_format")
        template = service.import_template(db, actor, document, name)
    except DomainError as exc:
        db.rollback()
        field_errors, message = _failed(exc, actor)
        if not field_errors:
            field_errors = {"file": message or ""}
        return _list_page(request, db, actor, exc.status, field_errors)
    return redirect(f"{BASE}/{template.id}", flash=_t(actor, "Template imported"), request=request)


@router.get("/{template_id}")
def edit_page(template_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    template = service.get_template(db, actor, template_id)
    values = {"name": template.name, "description": template.description or "", "active": template.active}
    return _editor(request, db, actor, template, values, service.get_version(db, template).definition)


@router.post("/{template_id}")
async def update(template_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    template = service.get_template(db, actor, template_id)
    errors = FieldErrors()
    values, definition = _parse_form(await request.form(), errors)
    before = template.current_version
    try:
        errors.raise_if_any()
        template = service.update_template(db, actor, template, {**values, "definition": definition})
    except DomainError as exc:
        db.rollback()
        template = service.get_template(db, actor, template_id)
        field_errors, message = _failed(exc, actor)
        return _editor(request, db, actor, template, values, definition, exc.status, field_errors, message)
    if template.current_version != before:
        done = _t(actor, "Saved as version {number}", number=template.current_version)
    else:
        done = _t(actor, "Changes saved")
    return redirect(f"{BASE}/{template.id}", flash=done, request=request)


@router.get("/{template_id}/versions/{number}")
def version_page(template_id: int, number: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    template = service.get_template(db, actor, template_id)
    version = service.get_version(db, template, number)
    return render(
        request,
        "projects/templates_version.html",
        project_template=template,
        version=version,
        users={u.id: u for u in accounts.list_users(db)},
    )


@router.post("/{template_id}/duplicate")
async def duplicate(template_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    template = service.get_template(db, actor, template_id)
    form = await request.form()
    try:
        copy = service.duplicate_template(db, actor, template, str(form.get("copy_name") or ""))
    except DomainError as exc:
        db.rollback()
        template = service.get_template(db, actor, template_id)
        values = {"name": template.name, "description": template.description or "", "active": template.active}
        field_errors, message = _failed(exc, actor)
        if "name" in field_errors:
            field_errors["copy_name"] = field_errors.pop("name")
        definition = service.get_version(db, template).definition
        return _editor(request, db, actor, template, values, definition, exc.status, field_errors, message)
    return redirect(f"{BASE}/{copy.id}", flash=_t(actor, "Template duplicated"), request=request)


@router.get("/{template_id}/export")
def export(template_id: int, db: DbDep, actor: WebActor, version: int | None = None) -> Response:
    template = service.get_template(db, actor, template_id)
    document = service.export_template(db, actor, template, version)
    filename = filename_for(template.name, document["version"])
    return JSONResponse(document, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.post("/{template_id}/delete")
async def delete(template_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    template = service.get_template(db, actor, template_id)
    try:
        service.delete_template(db, actor, template)
    except DomainError as exc:
        db.rollback()
        template = service.get_template(db, actor, template_id)
        values = {"name": template.name, "description": template.description or "", "active": template.active}
        definition = service.get_version(db, template).definition
        _errors, message = _failed(exc, actor)
        return _editor(request, db, actor, template, values, definition, exc.status, error=message)
    return redirect(BASE, flash=_t(actor, "Template deleted"), request=request)
