"""JSON routes of project templates: /api/v1/project-templates (+ versions, duplicate, export,
import). Rules, permissions and audit live in template_service."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from carnet.api.common import Page, body_dict
from carnet.api.deps import ActorDep, DbDep, Requires
from carnet.projects import template_service as service
from carnet.projects.definition import slugify
from carnet.projects.models import ProjectTemplate
from carnet.projects.template_schemas import (
    DuplicateRequest,
    ProjectTemplateCreate,
    ProjectTemplateExport,
    ProjectTemplateRead,
    ProjectTemplateUpdate,
    ProjectTemplateVersionRead,
    ProjectTemplateVersionSummary,
)

# Definitions are answered as stored: `response_model_exclude_unset` keeps an assignee
# {"type": "owner"} from growing `user_id: null, role: null`.
router = APIRouter(prefix="/project-templates", tags=["project templates"])
READ = [Depends(Requires("project_templates:read"))]


def _read(db: Session, template: ProjectTemplate) -> dict[str, Any]:
    count = service.usage_counts(db, [template.id]).get(template.id, 0)
    return service.to_read(template, service.get_version(db, template), count)


def _created(db: Session, template: ProjectTemplate, response: Response) -> dict[str, Any]:
    response.headers["Location"] = f"/api/v1/project-templates/{template.id}"
    return _read(db, template)


def filename_for(name: str, number: int) -> str:
    """An ASCII file name for the download: "Centre Hospitalier" v2 → centre-hospitalier-v2.json."""
    return f"{slugify(name).replace('_', '-')}-v{number}.json"


@router.get(
    "", response_model=Page[ProjectTemplateRead], response_model_exclude_unset=True, dependencies=READ
)
def list_templates(db: DbDep, actor: ActorDep, include_inactive: bool = False) -> dict[str, Any]:
    """Active templates by name (`include_inactive=true` adds the archived ones), each with its
    current definition."""
    rows = service.list_templates(db, actor, include_inactive)
    versions = service.current_versions(db, rows)
    counts = service.usage_counts(db, [t.id for t in rows])
    items = [service.to_read(t, versions[t.id], counts.get(t.id, 0)) for t in rows]
    return {"items": items, "next_cursor": None}


@router.post("", status_code=201, response_model=ProjectTemplateRead, response_model_exclude_unset=True)
def create_template(
    body: ProjectTemplateCreate, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    """Version 1 holds `definition`."""
    return _created(db, service.create_template(db, actor, body_dict(body)), response)


@router.post(
    "/import", status_code=201, response_model=ProjectTemplateRead, response_model_exclude_unset=True
)
def import_template(
    db: DbDep,
    actor: ActorDep,
    response: Response,
    document: Annotated[dict[str, Any], Body(description="A file made by `/export`")],
    name: Annotated[str | None, Query(max_length=500, description="Import under this name instead")] = None,
) -> dict[str, Any]:
    """A new template (version 1) from an exported file. A name already used here is a field
    error on `name`: send another one in the `name` query parameter."""
    return _created(db, service.import_template(db, actor, document, name), response)


@router.get(
    "/{template_id}", response_model=ProjectTemplateRead, response_model_exclude_unset=True, dependencies=READ
)
def get_template(template_id: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    return _read(db, service.get_template(db, actor, template_id))


@router.patch("/{template_id}", response_model=ProjectTemplateRead, response_model_exclude_unset=True)
def update_template(
    template_id: int, body: ProjectTemplateUpdate, db: DbDep, actor: ActorDep
) -> dict[str, Any]:
    """Name, description, active; a changed `definition` adds a version (409 when another save
    added it first)."""
    template = service.get_template(db, actor, template_id)
    return _read(db, service.update_template(db, actor, template, body_dict(body)))


@router.delete("/{template_id}", status_code=204)
def delete_template(template_id: int, db: DbDep, actor: ActorDep) -> Response:
    """409 `template_in_use` when a project uses it: archive it (`active: false`) instead."""
    service.delete_template(db, actor, service.get_template(db, actor, template_id))
    return Response(status_code=204)


@router.get("/{template_id}/versions", response_model=Page[ProjectTemplateVersionSummary], dependencies=READ)
def list_versions(template_id: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Newest first."""
    template = service.get_template(db, actor, template_id)
    counts = service.version_usage_counts(db, template)
    items = [
        {
            "number": v.number,
            "phase_count": len(v.definition.get("phases", [])),
            "project_count": counts.get(v.number, 0),
            "created_at": v.created_at,
            "created_by_id": v.created_by_id,
        }
        for v in service.list_versions(db, template)
    ]
    return {"items": items, "next_cursor": None}


@router.get(
    "/{template_id}/versions/{number}",
    response_model=ProjectTemplateVersionRead,
    response_model_exclude_unset=True,
    dependencies=READ,
)
def get_version(template_id: int, number: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    template = service.get_template(db, actor, template_id)
    return service.version_to_read(service.get_version(db, template, number))


@router.post(
    "/{template_id}/duplicate",
    status_code=201,
    response_model=ProjectTemplateRead,
    response_model_exclude_unset=True,
)
def duplicate_template(
    template_id: int, body: DuplicateRequest, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    """A new template whose version 1 copies this one's current version."""
    template = service.get_template(db, actor, template_id)
    return _created(db, service.duplicate_template(db, actor, template, body.name), response)


@router.get(
    "/{template_id}/export",
    response_model=ProjectTemplateExport,
    response_model_exclude_unset=True,
    dependencies=READ,
    responses={200: {"description": "A JSON file download (Content-Disposition: attachment)"}},
)
def export_template(
    template_id: int,
    db: DbDep,
    actor: ActorDep,
    version: Annotated[int | None, Query(ge=1, description="Default: the current version")] = None,
) -> Response:
    template = service.get_template(db, actor, template_id)
    document = service.export_template(db, actor, template, version)
    filename = filename_for(template.name, document["version"])
    return JSONResponse(document, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
