"""JSON routes of projects: /api/v1/projects (+ phases, checklist, history, members, contacts,
deals, documents), /api/v1/projects/bulk and /api/v1/projects/settings. The portal links live in
their own router."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from fastapi.responses import JSONResponse

from carnet.api.common import Page, body_dict, if_match_version, list_params, set_etag
from carnet.api.deps import ActorDep, DbDep, Requires
from carnet.api.problems import domain_error_response
from carnet.core import attachments, i18n
from carnet.core.context import Actor
from carnet.projects import service
from carnet.projects.models import ProjectDocument
from carnet.projects.schemas import (
    BulkCreate,
    BulkRead,
    ChecklistTick,
    ContactIn,
    DealLink,
    DocumentRead,
    MemberIn,
    PhaseMoveRead,
    PhaseNote,
    ProjectCreate,
    ProjectRead,
    ProjectUpdate,
    SettingsRead,
    SettingsUpdate,
)

router = APIRouter(tags=["projects"])
# Filters passed to the service by name rather than as listing columns.
NAMED_FILTERS = ("template_id", "status", "owner_id", "region", "health", "phase")


def _duplicate(request: Request, exc: service.DuplicateProject) -> JSONResponse:
    """409 problem with the existing project's id and links."""
    response = domain_error_response(request, exc)
    body = json.loads(response.body)
    body["existing_id"] = exc.existing_id
    if exc.existing_id is not None:  # only a project the caller may see is named
        body["existing_url"] = f"/api/v1/projects/{exc.existing_id}"
        body["existing_page"] = f"/projects/{exc.existing_id}"
    return JSONResponse(body, status_code=409, media_type=response.media_type)


def _read(db: Any, actor: Actor, project: Any, response: Response | None = None) -> dict[str, Any]:
    if response is not None:
        set_etag(response, project)
    return service.to_read(db, actor, project)


@router.get(
    "/projects/settings", response_model=SettingsRead, dependencies=[Depends(Requires("projects:read"))]
)
def get_settings(db: DbDep) -> dict[str, Any]:
    s = service.get_settings(db)
    return {
        "one_active_per_establishment": s.one_active_per_establishment,
        "portal_link_days": s.portal_link_days,
    }


@router.patch("/projects/settings", response_model=SettingsRead)
def update_settings(body: SettingsUpdate, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Admins and managers."""
    s = service.update_settings(db, actor, body_dict(body))
    return {
        "one_active_per_establishment": s.one_active_per_establishment,
        "portal_link_days": s.portal_link_days,
    }


@router.post("/projects/bulk", status_code=201, response_model=BulkRead)
def bulk_create(body: BulkCreate, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """One project per establishment (organisation ids and/or pasted SIREN / SIRET / FINESS
    numbers); what could not be created is listed in `skipped` with the reason."""
    data = body_dict(body)
    result = service.bulk_create(db, actor, **data)
    return {
        "created": [service.to_read(db, actor, p) for p in result.created],
        "skipped": [
            {"label": label, "reason": i18n.gettext(reason, actor.language)}
            for label, reason in result.skipped
        ],
    }


@router.get("/projects", response_model=Page[ProjectRead], dependencies=[Depends(Requires("projects:read"))])
def list_projects(request: Request, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Filters: `template_id`, `status=active,on_hold`, `owner_id`, `region` (INSEE region code of
    the establishment), `health` (on_track, at_risk, late), `phase` (position or key of the open
    phase), `organisation_id`, `target_date__lte`..., `created_since`, `updated_since`; `q`
    searches the name; `sort=target_date|-updated_at|...`."""
    params = list_params(request)
    named = {k: params.filters.pop(k) for k in NAMED_FILTERS if k in params.filters}
    rows, cursor = service.list_projects(db, actor, params, **named)
    return {"items": [service.to_read(db, actor, p) for p in rows], "next_cursor": cursor}


@router.post("/projects", status_code=201, response_model=ProjectRead)
def create_project(
    body: ProjectCreate, request: Request, db: DbDep, actor: ActorDep, response: Response
) -> Any:
    """From the template's current version: phase 0 opens with its tasks. When the establishment
    already has an open project of the template: 409 `duplicate_project` with `existing_id`
    (`allow_duplicate: true` creates it anyway when the setting one_active_per_establishment is off)."""
    data = body_dict(body)
    allow = bool(data.pop("allow_duplicate", False))
    try:
        project = service.create_project(db, actor, data, allow_duplicate=allow)
    except service.DuplicateProject as exc:
        return _duplicate(request, exc)
    response.headers["Location"] = f"/api/v1/projects/{project.id}"
    return _read(db, actor, project, response)


@router.get("/projects/{project_id}", response_model=ProjectRead)
def get_project(project_id: int, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    return _read(db, actor, service.get_project(db, actor, project_id), response)


@router.patch("/projects/{project_id}", response_model=ProjectRead)
def update_project(
    project_id: int, body: ProjectUpdate, request: Request, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    """Name, dates, description, notes, owner, department, custom fields, status (active, on_hold,
    cancelled; a project completes by closing its last phase)."""
    project = service.get_project(db, actor, project_id)
    project = service.update_project(db, actor, project, body_dict(body), if_match_version(request))
    return _read(db, actor, project, response)


@router.delete("/projects/{project_id}", status_code=204)
def delete_project(project_id: int, request: Request, db: DbDep, actor: ActorDep) -> Response:
    project = service.get_project(db, actor, project_id)
    service.delete_project(db, actor, project, if_match_version(request))
    return Response(status_code=204)


@router.post("/projects/{project_id}/phases/{phase}/close", response_model=ProjectRead)
def close_phase(
    project_id: int, phase: str, db: DbDep, actor: ActorDep, response: Response, body: PhaseNote | None = None
) -> dict[str, Any]:
    """Close the open phase (`phase`: position or key). 422 `phase_incomplete` lists each missing
    checklist item or required field in `errors`; nothing changes then."""
    project = service.get_project(db, actor, project_id)
    project = service.close_phase(db, actor, project, phase, body.note if body else None)
    return _read(db, actor, project, response)


@router.post("/projects/{project_id}/phases/{phase}/reopen", response_model=ProjectRead)
def reopen_phase(
    project_id: int, phase: str, db: DbDep, actor: ActorDep, response: Response, body: PhaseNote | None = None
) -> dict[str, Any]:
    """Reopen a closed phase; the phases after it are pending again."""
    project = service.get_project(db, actor, project_id)
    project = service.reopen_phase(db, actor, project, phase, body.note if body else None)
    return _read(db, actor, project, response)


@router.post("/projects/{project_id}/phases/{phase}/move", response_model=ProjectRead)
def move_to_phase(
    project_id: int, phase: str, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    """The board move: forward closes each phase in turn with its checks (all or nothing),
    backward reopens."""
    project = service.get_project(db, actor, project_id)
    project = service.move_to_phase(db, actor, project, phase)
    return _read(db, actor, project, response)


@router.put("/projects/{project_id}/phases/{phase}/checklist", response_model=ProjectRead)
def tick_checklist(
    project_id: int, phase: str, body: ChecklistTick, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    project = service.get_project(db, actor, project_id)
    project = service.set_checklist_item(db, actor, project, phase, body.item, body.done)
    return _read(db, actor, project, response)


@router.get("/projects/{project_id}/history", response_model=list[PhaseMoveRead])
def phase_history(project_id: int, db: DbDep, actor: ActorDep) -> list[dict[str, Any]]:
    """Every phase move: opened, closed, reopened, completed; oldest first."""
    project = service.get_project(db, actor, project_id)
    return [
        {"position": m.position, "action": m.action, "at": m.at, "user_id": m.user_id, "note": m.note}
        for m in service.phase_history(db, actor, project)
    ]


@router.post("/projects/{project_id}/members", status_code=201, response_model=ProjectRead)
def add_member(
    project_id: int, body: MemberIn, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    project = service.get_project(db, actor, project_id)
    service.add_member(db, actor, project, body.user_id, body.role)
    return _read(db, actor, project, response)


@router.delete("/projects/{project_id}/members/{user_id}", status_code=204)
def remove_member(project_id: int, user_id: int, db: DbDep, actor: ActorDep) -> Response:
    project = service.get_project(db, actor, project_id)
    service.remove_member(db, actor, project, user_id)
    return Response(status_code=204)


@router.post("/projects/{project_id}/contacts", status_code=201, response_model=ProjectRead)
def add_contact(
    project_id: int, body: ContactIn, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    project = service.get_project(db, actor, project_id)
    service.add_contact(db, actor, project, body.contact_id, body.role)
    return _read(db, actor, project, response)


@router.delete("/projects/{project_id}/contacts/{contact_id}", status_code=204)
def remove_contact(project_id: int, contact_id: int, db: DbDep, actor: ActorDep) -> Response:
    project = service.get_project(db, actor, project_id)
    service.remove_contact(db, actor, project, contact_id)
    return Response(status_code=204)


@router.post("/projects/{project_id}/deals", status_code=201, response_model=ProjectRead)
def link_deal(
    project_id: int, body: DealLink, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    project = service.get_project(db, actor, project_id)
    service.link_deal(db, actor, project, body.deal_id)
    return _read(db, actor, project, response)


@router.delete("/projects/{project_id}/deals/{deal_id}", status_code=204)
def unlink_deal(project_id: int, deal_id: int, db: DbDep, actor: ActorDep) -> Response:
    project = service.get_project(db, actor, project_id)
    service.unlink_deal(db, actor, project, deal_id)
    return Response(status_code=204)


def _document(db: Any, doc: ProjectDocument) -> dict[str, Any]:
    att = db.get(attachments.Attachment, doc.attachment_id)
    return {
        "id": doc.id,
        "position": doc.position,
        "name": doc.name,
        "attachment_id": doc.attachment_id,
        "filename": att.filename if att is not None else None,
        "filed_at": doc.filed_at,
        "filed_by_id": doc.filed_by_id,
    }


@router.get("/projects/{project_id}/documents", response_model=list[DocumentRead])
def list_documents(project_id: int, db: DbDep, actor: ActorDep) -> list[dict[str, Any]]:
    project = service.get_project(db, actor, project_id)
    return [_document(db, d) for d in service.documents(db, project)]


@router.post("/projects/{project_id}/phases/{phase}/documents", status_code=201, response_model=DocumentRead)
async def file_document(
    project_id: int,
    phase: str,
    db: DbDep,
    actor: ActorDep,
    name: str = Form(..., description="The expected document's name in the phase"),
    file: UploadFile = File(...),
) -> dict[str, Any]:
    """Multipart upload of a file for one of the phase's expected documents."""
    content = await file.read()
    project = service.get_project(db, actor, project_id)
    doc = service.file_document(
        db, actor, project, phase, name, file.filename or "document", content, file.content_type
    )
    return _document(db, doc)


@router.delete("/projects/{project_id}/documents/{document_id}", status_code=204)
def remove_document(project_id: int, document_id: int, db: DbDep, actor: ActorDep) -> Response:
    project = service.get_project(db, actor, project_id)
    service.remove_document(db, actor, project, document_id)
    return Response(status_code=204)
