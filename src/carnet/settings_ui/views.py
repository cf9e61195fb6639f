"""HTML pages of the settings area, the profile, the audit trail and saved views. The pages live
in views_*.py by sub-concept; this module assembles their routers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from carnet.api.deps import DbDep
from carnet.core import records
from carnet.core.errors import PermissionDenied, ValidationFailed
from carnet.settings_ui import service, views_audit, views_emails, views_fields, views_people, views_profile
from carnet.settings_ui.forms import t, text
from carnet.web.shell import WebActor, form_errors, redirect, render, templates

router = APIRouter(include_in_schema=False)

# The settings sub-navigation shows the sections the user may manage, on every settings page.
templates.env.globals["settings_sections"] = service.settings_sections


@router.get("/settings")
def settings_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    sections = service.settings_sections(actor)
    if not sections:
        raise PermissionDenied()
    return render(request, "settings_ui/index.html", sections=sections)


@router.post("/saved-views")
async def save_view(request: Request, db: DbDep, actor: WebActor) -> Response:
    """The "save current view" form of a list page: back to the list, now on the saved view."""
    form = await request.form()
    record_type = text(form, "record_type")
    columns = [c for c in form.getlist("columns") if isinstance(c, str) and c]
    data = {
        "record_type": record_type,
        "name": text(form, "name"),
        "query": text(form, "query"),
        "columns": columns,
    }
    rt = records.REGISTRY.get(record_type)
    back = rt.url_prefix if rt is not None else "/"
    try:
        view = service.create_saved_view(db, actor, data)
    except ValidationFailed as exc:
        db.rollback()
        message = "; ".join(form_errors(exc, actor.language).values())
        query = service.clean_query(data["query"])
        return redirect(f"{back}?{query}" if query else back, flash=message, request=request)
    target = f"{back}?{view.query}" if view.query else back
    return redirect(target, flash=t(actor, "View saved: {name}", name=view.name), request=request)


@router.post("/saved-views/{view_id}/delete")
async def delete_view(view_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    view = service.get_saved_view(db, actor, view_id)
    service.delete_saved_view(db, actor, view)
    return redirect("/profile#saved-views", flash=t(actor, "View deleted"), request=request)


for _module in (views_people, views_fields, views_audit, views_emails, views_profile):
    router.include_router(_module.router)
