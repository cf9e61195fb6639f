"""JSON routes for custom field definitions, tags, saved views and the audit trail."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from carnet.api.common import Page, body_dict, list_params
from carnet.api.deps import ActorDep, DbDep
from carnet.settings_ui import service
from carnet.settings_ui.schemas import (
    AuditEntryRead,
    CustomFieldCreate,
    CustomFieldRead,
    CustomFieldUpdate,
    SavedViewCreate,
    SavedViewRead,
    TagCreate,
    TagRead,
    TagUpdate,
)

router = APIRouter()


# -- custom fields ------------------------------------------------------------------------------------------


@router.get("/custom-fields", response_model=Page[CustomFieldRead], tags=["custom fields"])
def list_custom_fields(request: Request, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Custom field definitions. Filters: `record_type`, `key`, `field_type`...; `sort=position`."""
    rows, cursor = service.page_custom_fields(db, actor, list_params(request, default_sort="id"))
    return {"items": rows, "next_cursor": cursor}


@router.post("/custom-fields", status_code=201, response_model=CustomFieldRead, tags=["custom fields"])
def create_custom_field(body: CustomFieldCreate, db: DbDep, actor: ActorDep, response: Response) -> Any:
    defn = service.create_custom_field(db, actor, body_dict(body))
    response.headers["Location"] = f"/api/v1/custom-fields/{defn.id}"
    return defn


@router.get("/custom-fields/{definition_id}", response_model=CustomFieldRead, tags=["custom fields"])
def get_custom_field(definition_id: int, db: DbDep, actor: ActorDep) -> Any:
    return service.find_custom_field(db, actor, definition_id)


@router.patch("/custom-fields/{definition_id}", response_model=CustomFieldRead, tags=["custom fields"])
def update_custom_field(definition_id: int, body: CustomFieldUpdate, db: DbDep, actor: ActorDep) -> Any:
    """Change label, required, default, help text, options or position (key, type and record type
    are fixed once created)."""
    defn = service.find_custom_field(db, actor, definition_id)
    return service.update_custom_field(db, actor, defn, body_dict(body))


@router.delete("/custom-fields/{definition_id}", status_code=204, tags=["custom fields"])
def delete_custom_field(definition_id: int, db: DbDep, actor: ActorDep) -> Response:
    defn = service.find_custom_field(db, actor, definition_id)
    service.delete_custom_field(db, actor, defn)
    return Response(status_code=204)


# -- tags ------------------------------------------------------------------------------------------------------


@router.get("/tags", response_model=Page[TagRead], tags=["tags"])
def list_tags(request: Request, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Tags. Filters: `record_type`, `name`, `name__contains`; `sort=name`."""
    rows, cursor = service.page_tags(db, actor, list_params(request, default_sort="id"))
    return {"items": rows, "next_cursor": cursor}


@router.post("/tags", status_code=201, response_model=TagRead, tags=["tags"])
def create_tag(body: TagCreate, db: DbDep, actor: ActorDep, response: Response) -> Any:
    tag = service.create_tag(db, actor, body_dict(body))
    response.headers["Location"] = f"/api/v1/tags/{tag.id}"
    return tag


@router.get("/tags/{tag_id}", response_model=TagRead, tags=["tags"])
def get_tag(tag_id: int, db: DbDep, actor: ActorDep) -> Any:
    return service.find_tag(db, actor, tag_id)


@router.patch("/tags/{tag_id}", response_model=TagRead, tags=["tags"])
def update_tag(tag_id: int, body: TagUpdate, db: DbDep, actor: ActorDep) -> Any:
    tag = service.find_tag(db, actor, tag_id)
    return service.update_tag(db, actor, tag, body_dict(body))


@router.delete("/tags/{tag_id}", status_code=204, tags=["tags"])
def delete_tag(tag_id: int, db: DbDep, actor: ActorDep) -> Response:
    tag = service.find_tag(db, actor, tag_id)
    service.delete_tag(db, actor, tag)
    return Response(status_code=204)


# -- saved views ----------------------------------------------------------------------------------------------


@router.get("/saved-views", response_model=Page[SavedViewRead], tags=["saved views"])
def list_saved_views(request: Request, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """My saved list views. Filter: `record_type`."""
    rows, cursor = service.page_saved_views(db, actor, list_params(request, default_sort="id"))
    return {"items": rows, "next_cursor": cursor}


@router.post("/saved-views", status_code=201, response_model=SavedViewRead, tags=["saved views"])
def create_saved_view(body: SavedViewCreate, db: DbDep, actor: ActorDep, response: Response) -> Any:
    view = service.create_saved_view(db, actor, body_dict(body))
    response.headers["Location"] = f"/api/v1/saved-views/{view.id}"
    return view


@router.get("/saved-views/{view_id}", response_model=SavedViewRead, tags=["saved views"])
def get_saved_view(view_id: int, db: DbDep, actor: ActorDep) -> Any:
    return service.get_saved_view(db, actor, view_id)


@router.delete("/saved-views/{view_id}", status_code=204, tags=["saved views"])
def delete_saved_view(view_id: int, db: DbDep, actor: ActorDep) -> Response:
    view = service.get_saved_view(db, actor, view_id)
    service.delete_saved_view(db, actor, view)
    return Response(status_code=204)


# -- audit trail ------------------------------------------------------------------------------------------------


@router.get("/audit", response_model=Page[AuditEntryRead], tags=["audit"])
def list_audit_entries(request: Request, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """The audit trail, newest first (needs `audit:read`). Filters: `actor_id`, `action`,
    `record_type`, `record_id`, `occurred_at__gte`, `occurred_at__lte`."""
    rows, cursor = service.page_audit(db, actor, list_params(request, default_sort="-id"))
    return {"items": rows, "next_cursor": cursor}
