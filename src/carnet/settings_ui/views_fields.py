"""Settings pages for custom fields and tags, per record type."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from carnet.api.deps import DbDep
from carnet.core.context import Actor
from carnet.core.customfields import FIELD_TYPES, CustomFieldDefinition
from carnet.core.errors import Conflict, ValidationFailed
from carnet.settings_ui import service
from carnet.settings_ui.forms import checked, error_message, t, text, values_of
from carnet.web.shell import WebActor, form_errors, redirect, render

router = APIRouter(prefix="/settings", include_in_schema=False)


def _record_type(actor: Actor, requested: str | None) -> str | None:
    """The record type asked for, or the first one the actor can read."""
    names = [rt.name for rt in service.record_types(actor)]
    if requested in names:
        return requested
    return names[0] if names else None


def _default_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- custom fields -----------------------------------------------------------------------------------------


def _custom_fields_page(
    request: Request,
    db: DbDep,
    actor: Actor,
    record_type: str | None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "settings_ui/custom_fields.html",
        status_code=status_code,
        record_types=service.record_types(actor),
        record_type=record_type,
        definitions=service.list_custom_fields(db, actor, record_type) if record_type else [],
        field_types=FIELD_TYPES,
        values=values or {"field_type": "text"},
        errors=errors or {},
        error=error,
    )


def _custom_field_data(form: Any) -> dict[str, Any]:
    return {
        "label": text(form, "label"),
        "required": checked(form, "required"),
        "default": text(form, "default") or None,
        "help_text": text(form, "help_text"),
        "options": text(form, "options"),
        "position": text(form, "position") or 0,
    }


@router.get("/custom-fields")
def custom_fields_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "custom_fields")
    record_type = _record_type(actor, request.query_params.get("record_type"))
    return _custom_fields_page(request, db, actor, record_type)


@router.post("/custom-fields")
async def create_custom_field(request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "custom_fields")
    form = await request.form()
    data = _custom_field_data(form)
    data.update(
        record_type=text(form, "record_type"), key=text(form, "key"), field_type=text(form, "field_type")
    )
    try:
        service.create_custom_field(db, actor, data)
    except ValidationFailed as exc:
        db.rollback()
        record_type = _record_type(actor, data["record_type"])
        return _custom_fields_page(
            request,
            db,
            actor,
            record_type,
            values_of(form),
            form_errors(exc, actor.language),
            status_code=422,
        )
    return redirect(
        f"/settings/custom-fields?record_type={data['record_type']}",
        flash=t(actor, "Custom field created"),
        request=request,
    )


def _custom_field_form(
    request: Request,
    defn: CustomFieldDefinition,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    return render(
        request,
        "settings_ui/custom_field_form.html",
        status_code=status,
        defn=defn,
        values=values,
        errors=errors,
    )


@router.get("/custom-fields/{definition_id}/edit")
def edit_custom_field_page(definition_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "custom_fields")
    defn = service.find_custom_field(db, actor, definition_id)
    values = {
        "label": defn.label,
        "required": "1" if defn.required else "",
        "default": _default_text(defn.default),
        "help_text": defn.help_text,
        "options": "\n".join(defn.options or []),
        "position": defn.position,
    }
    return _custom_field_form(request, defn, values, {})


@router.post("/custom-fields/{definition_id}/edit")
async def update_custom_field(definition_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "custom_fields")
    defn = service.find_custom_field(db, actor, definition_id)
    form = await request.form()
    data = _custom_field_data(form)
    if defn.field_type not in ("select", "multi_select"):
        data.pop("options")
    try:
        service.update_custom_field(db, actor, defn, data)
    except ValidationFailed as exc:
        db.rollback()
        return _custom_field_form(request, defn, values_of(form), form_errors(exc, actor.language), 422)
    return redirect(
        f"/settings/custom-fields?record_type={defn.record_type}",
        flash=t(actor, "Changes saved"),
        request=request,
    )


@router.post("/custom-fields/{definition_id}/delete")
async def delete_custom_field(definition_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "custom_fields")
    defn = service.find_custom_field(db, actor, definition_id)
    record_type = defn.record_type
    try:
        service.delete_custom_field(db, actor, defn)
    except Conflict as exc:
        db.rollback()
        return _custom_fields_page(
            request, db, actor, record_type, error=error_message(actor, exc), status_code=409
        )
    return redirect(
        f"/settings/custom-fields?record_type={record_type}",
        flash=t(actor, "Custom field deleted"),
        request=request,
    )


# -- tags ------------------------------------------------------------------------------------------------------


def _tags_page(
    request: Request,
    db: DbDep,
    actor: Actor,
    record_type: str | None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    edit_id: int | None = None,
    edit_values: dict[str, Any] | None = None,
    edit_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    rows = service.list_tags(db, actor, record_type) if record_type else []
    return render(
        request,
        "settings_ui/tags.html",
        status_code=status_code,
        record_types=service.record_types(actor),
        record_type=record_type,
        tags=rows,
        usage=service.tag_usage(db, actor, [tag.id for tag in rows]),
        values=values or {},
        errors=errors or {},
        edit_id=edit_id,
        edit_values=edit_values or {},
        edit_errors=edit_errors or {},
    )


@router.get("/tags")
def tags_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "tags")
    return _tags_page(request, db, actor, _record_type(actor, request.query_params.get("record_type")))


@router.post("/tags")
async def create_tag(request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "tags")
    form = await request.form()
    data = {
        "record_type": text(form, "record_type"),
        "name": text(form, "name"),
        "color": text(form, "color"),
    }
    try:
        service.create_tag(db, actor, data)
    except ValidationFailed as exc:
        db.rollback()
        record_type = _record_type(actor, data["record_type"])
        return _tags_page(
            request,
            db,
            actor,
            record_type,
            values_of(form),
            form_errors(exc, actor.language),
            status_code=422,
        )
    return redirect(
        f"/settings/tags?record_type={data['record_type']}", flash=t(actor, "Tag created"), request=request
    )


@router.post("/tags/{tag_id}/edit")
async def update_tag(tag_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "tags")
    tag = service.find_tag(db, actor, tag_id)
    form = await request.form()
    try:
        service.update_tag(db, actor, tag, {"name": text(form, "name"), "color": text(form, "color")})
    except ValidationFailed as exc:
        db.rollback()
        return _tags_page(
            request,
            db,
            actor,
            tag.record_type,
            edit_id=tag.id,
            edit_values=values_of(form),
            edit_errors=form_errors(exc, actor.language),
            status_code=422,
        )
    return redirect(
        f"/settings/tags?record_type={tag.record_type}", flash=t(actor, "Changes saved"), request=request
    )


@router.post("/tags/{tag_id}/delete")
async def delete_tag(tag_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "tags")
    tag = service.find_tag(db, actor, tag_id)
    record_type = tag.record_type
    service.delete_tag(db, actor, tag)
    return redirect(
        f"/settings/tags?record_type={record_type}", flash=t(actor, "Tag deleted"), request=request
    )
