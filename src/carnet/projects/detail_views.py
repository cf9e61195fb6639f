"""The project page: header, phases as a stepper with the open phase's tasks, checklist, expected
documents and required fields, closing and reopening, team, key contacts, linked deals, notes,
phase history, edit and delete. Every action posts here and goes through the projects service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from carnet.accounts import service as accounts
from carnet.api.deps import DbDep
from carnet.contacts import service as contacts_service
from carnet.core import attachments, clock, listing
from carnet.core.context import Actor
from carnet.core.errors import Conflict, ValidationFailed
from carnet.core.i18n import gettext
from carnet.deals import service as deals_service
from carnet.organisations import service as organisations
from carnet.projects import service
from carnet.projects.display import as_int, incomplete_items, labels_context, required_text
from carnet.projects.models import CONTACT_ROLES, PHASE_OPEN, Project
from carnet.tasks import service as tasks_service
from carnet.web.forms import form_to_data
from carnet.web.shell import WebActor, form_errors, redirect, render

router = APIRouter(prefix="/projects", include_in_schema=False)

EDIT_FIELDS = ("name", "start_date", "target_date", "description", "notes", "owner_id", "status")
DEAL_CHOICES_LIMIT = 50
CONTACT_CHOICES_LIMIT = 100


def _t(actor: Actor, text: str, **params: Any) -> str:
    return gettext(text, actor.language, **params)


def _task_info(db: Session, actor: Actor, phases: list[service.PhaseView]) -> dict[int, dict[str, Any]]:
    """What tasks/_row.html shows besides the task (same keys as the tasks pages)."""
    tasks = [t for p in phases for t in p.tasks]
    names = tasks_service.owner_names(db, {t.owner_id for t in tasks})
    now = clock.now()
    return {
        t.id: {
            "owner": names.get(t.owner_id or 0, ""),
            "record_label": None,
            "record_url": None,
            "overdue": tasks_service.is_overdue(t, now, actor.timezone),
            "late": t.status in tasks_service.OPEN_STATUSES and t.due_at is not None and t.due_at < now,
        }
        for t in tasks
    }


def _phases_context(
    db: Session, actor: Actor, project: Project, blocked: list[str] | None = None
) -> dict[str, Any]:
    phases = service.phases_overview(db, actor, project)
    files = {f.id: f for f in attachments.list_for(db, service.RECORD_TYPE, project.id)}
    return {
        "project": project,
        "phases": phases,
        "open_phase": next((p for p in phases if p.state == PHASE_OPEN), None),
        "files": files,
        "task_info": _task_info(db, actor, phases),
        "blocked": blocked or [],
        "required_text": lambda item: required_text(item, actor.language),
        "can_update": actor.can("projects:update"),
        "hide_record": True,
        "task_status_labels": tasks_service.STATUS_LABELS,
        "priority_labels": tasks_service.PRIORITY_LABELS,
        "recurrence_labels": tasks_service.RECURRENCE_LABELS,
        **labels_context(),
    }


def _detail(db: Session, actor: Actor, project: Project, **extra: Any) -> dict[str, Any]:
    users = accounts.list_users(db, active_only=False)
    user_names = {u.id: u.full_name for u in users}
    team = service.members(db, project)
    key_contacts = service.contacts(db, project)
    linked = service.deals(db, actor, project)
    template_name, version_number = service.template_label(db, project)
    org_name = organisations.names_by_id(db, actor, {project.organisation_id}).get(project.organisation_id)
    can_read_contacts = actor.can("contacts:read")
    contact_choices = (
        contacts_service.for_organisation(db, actor, project.organisation_id, limit=CONTACT_CHOICES_LIMIT)
        if can_read_contacts
        else []
    )
    contact_names = (
        contacts_service.names_by_id(db, actor, {c.contact_id for c in key_contacts})
        if can_read_contacts
        else {}
    )
    deal_choices: list[Any] = []
    if actor.can("deals:read"):
        params = listing.ListParams(
            filters={"organisation_id": str(project.organisation_id)}, sort="-id", limit=DEAL_CHOICES_LIMIT
        )
        deal_choices, _cursor = deals_service.list_deals(db, actor, params)
    linked_ids = {d.id for d in linked}
    health = service.health(db, project)
    context: dict[str, Any] = {
        "org_name": org_name,
        "template_name": template_name,
        "version_number": version_number,
        "health": health,
        "owner_name": user_names.get(project.owner_id or 0, ""),
        "user_names": user_names,
        "users": [u for u in users if u.active],
        "team": team,
        "key_contacts": key_contacts,
        "contact_names": contact_names,
        "contact_choices": [c for c in contact_choices if c.id not in {k.contact_id for k in key_contacts}],
        "contact_roles": CONTACT_ROLES,
        "linked_deals": linked,
        "deal_choices": [d for d in deal_choices if d.id not in linked_ids],
        "history": service.phase_history(db, actor, project),
        "editable_statuses": service.SETTABLE_STATUSES,
        "can_delete": actor.can("projects:delete"),
        "record_type": service.RECORD_TYPE,
        "rid": project.id,
        "errors": {},
        "values": {},
        "open_dialog": None,
        **_phases_context(db, actor, project),
    }
    context.update(extra)
    return context


@router.get("/{project_id}")
def detail_page(project_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    project = service.get_project(db, actor, project_id)
    return render(request, "projects/detail.html", **_detail(db, actor, project))


async def _act(
    request: Request,
    db: Session,
    actor: Actor,
    project_id: int,
    action: Callable[[Project, Any], str],
    dialog: str | None = None,
) -> Response:
    """Run one service call from a form post; on refusal the page comes back with the errors next
    to the fields (and the dialog open), nothing written."""
    project = service.get_project(db, actor, project_id)
    form = await request.form()
    try:
        message = action(project, form)
    except (ValidationFailed, Conflict) as exc:
        db.rollback()
        project = service.get_project(db, actor, project_id)
        errors = (
            form_errors(exc, actor.language)
            if isinstance(exc, ValidationFailed)
            else {"form": _t(actor, exc.message, **exc.params)}
        )
        return render(
            request,
            "projects/detail.html",
            status_code=exc.status,
            **_detail(db, actor, project, errors=errors, values=dict(form), open_dialog=dialog),
        )
    return redirect(f"/projects/{project_id}", flash=message, request=request)


# -- phases ----------------------------------------------------------------------------------------


def _phases_fragment(
    request: Request, db: Session, actor: Actor, project: Project, blocked: list[str] | None = None
) -> Response:
    return render(request, "projects/_phases.html", **_phases_context(db, actor, project, blocked))


@router.post("/{project_id}/phases/{position}/close")
async def close_phase(
    project_id: int, position: int, request: Request, db: DbDep, actor: WebActor
) -> Response:
    """Answers the phases section with the missing items when refused (htmx), the full page with
    them (422) for a plain form post; a closed phase reloads the page (new tasks, health)."""
    project = service.get_project(db, actor, project_id)
    form = await request.form()
    note = str(form.get("note") or "").strip() or None
    try:
        service.close_phase(db, actor, project, position, note)
    except (ValidationFailed, Conflict) as exc:
        db.rollback()
        project = service.get_project(db, actor, project_id)
        missing = incomplete_items(exc, actor.language)
        if request.headers.get("hx-request") == "true":
            return _phases_fragment(request, db, actor, project, missing)
        context = _detail(db, actor, project)
        context.update(_phases_context(db, actor, project, missing))
        return render(request, "projects/detail.html", status_code=exc.status, **context)
    message = _t(actor, "Project completed") if project.status == "completed" else _t(actor, "Phase closed")
    return redirect(f"/projects/{project_id}", flash=message, request=request)


@router.post("/{project_id}/phases/{position}/reopen")
async def reopen_phase(
    project_id: int, position: int, request: Request, db: DbDep, actor: WebActor
) -> Response:
    def action(project: Project, form: Any) -> str:
        service.reopen_phase(db, actor, project, position, str(form.get("note") or "").strip() or None)
        return _t(actor, "Phase reopened")

    return await _act(request, db, actor, project_id, action)


@router.post("/{project_id}/phases/{position}/checklist")
async def tick(project_id: int, position: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    """A checklist box (htmx): answers the phases section; a plain post goes back to the page."""
    project = service.get_project(db, actor, project_id)
    form = await request.form()
    item = str(form.get("item") or "")
    done = form.get("done") in ("1", "on", "true")
    error: list[str] = []
    try:
        service.set_checklist_item(db, actor, project, position, item, done)
    except (ValidationFailed, Conflict) as exc:
        db.rollback()
        project = service.get_project(db, actor, project_id)
        error = incomplete_items(exc, actor.language)
    if request.headers.get("hx-request") == "true":
        return _phases_fragment(request, db, actor, project, error)
    return redirect(f"/projects/{project_id}", request=request)


@router.post("/{project_id}/phases/{position}/documents")
async def file_document(
    project_id: int, position: int, request: Request, db: DbDep, actor: WebActor
) -> Response:
    def action(project: Project, form: Any) -> str:
        upload = form.get("file")
        name = str(form.get("name") or "")
        if upload is None or isinstance(upload, str) or not upload.filename:
            raise ValidationFailed.on(f"document.{name}", "Choose a file", "required")
        content = _read_upload(upload)
        service.file_document(
            db, actor, project, position, name, upload.filename, content, upload.content_type
        )
        return _t(actor, "Document filed: {name}", name=name)

    return await _act(request, db, actor, project_id, action)


def _read_upload(upload: Any) -> bytes:
    upload.file.seek(0)
    return upload.file.read()


@router.post("/{project_id}/documents/{document_id}/delete")
async def remove_document(
    project_id: int, document_id: int, request: Request, db: DbDep, actor: WebActor
) -> Response:
    def action(project: Project, form: Any) -> str:
        service.remove_document(db, actor, project, document_id)
        return _t(actor, "Document removed")

    return await _act(request, db, actor, project_id, action)


# -- team, contacts, deals, notes ------------------------------------------------------------------


@router.post("/{project_id}/members")
async def add_member(project_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    def action(project: Project, form: Any) -> str:
        service.add_member(
            db, actor, project, as_int(form.get("user_id")), str(form.get("role") or "").strip()
        )
        return _t(actor, "Team member added")

    return await _act(request, db, actor, project_id, action)


@router.post("/{project_id}/members/{user_id}/delete")
async def remove_member(
    project_id: int, user_id: int, request: Request, db: DbDep, actor: WebActor
) -> Response:
    def action(project: Project, form: Any) -> str:
        service.remove_member(db, actor, project, user_id)
        return _t(actor, "Team member removed")

    return await _act(request, db, actor, project_id, action)


@router.post("/{project_id}/contacts")
async def add_contact(project_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    def action(project: Project, form: Any) -> str:
        service.add_contact(
            db, actor, project, as_int(form.get("contact_id")), str(form.get("contact_role") or "")
        )
        return _t(actor, "Key contact added")

    return await _act(request, db, actor, project_id, action)


@router.post("/{project_id}/contacts/{contact_id}/delete")
async def remove_contact(
    project_id: int, contact_id: int, request: Request, db: DbDep, actor: WebActor
) -> Response:
    def action(project: Project, form: Any) -> str:
        service.remove_contact(db, actor, project, contact_id)
        return _t(actor, "Key contact removed")

    return await _act(request, db, actor, project_id, action)


@router.post("/{project_id}/deals")
async def link_deal(project_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    def action(project: Project, form: Any) -> str:
        service.link_deal(db, actor, project, as_int(form.get("deal_id")))
        return _t(actor, "Deal linked")

    return await _act(request, db, actor, project_id, action)


@router.post("/{project_id}/deals/{deal_id}/delete")
async def unlink_deal(
    project_id: int, deal_id: int, request: Request, db: DbDep, actor: WebActor
) -> Response:
    def action(project: Project, form: Any) -> str:
        service.unlink_deal(db, actor, project, deal_id)
        return _t(actor, "Deal unlinked")

    return await _act(request, db, actor, project_id, action)


@router.post("/{project_id}/activities")
async def log_activity(project_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    """A note (or call, meeting...) about the project, on the organisation's timeline too."""

    def action(project: Project, form: Any) -> str:
        data = form_to_data(form, ("kind", "subject", "body"))
        service.log_activity(db, actor, project, data)
        return _t(actor, "Activity logged")

    return await _act(request, db, actor, project_id, action, dialog="activity")


# -- edit, delete ----------------------------------------------------------------------------------


@router.post("/{project_id}/edit")
async def edit(project_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    def action(project: Project, form: Any) -> str:
        data = form_to_data(form, EDIT_FIELDS)
        version = as_int(form.get("version"))
        service.update_project(db, actor, project, data, version)
        return _t(actor, "Changes saved")

    return await _act(request, db, actor, project_id, action, dialog="edit")


@router.post("/{project_id}/delete")
async def delete(project_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    project = service.get_project(db, actor, project_id)
    form = await request.form()
    service.delete_project(db, actor, project, as_int(form.get("version")))
    return redirect("/projects", flash=_t(actor, "Project deleted"), request=request)
