"""The projects settings page: one active project per establishment and template, and how long a
new portal link stays valid by default."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from carnet.api.deps import DbDep
from carnet.core.context import Actor
from carnet.core.errors import PermissionDenied, ValidationFailed
from carnet.core.i18n import gettext
from carnet.projects import service
from carnet.web.shell import WebActor, form_errors, redirect, render

router = APIRouter(prefix="/settings/projects", include_in_schema=False)


def _require_settings_access(actor: Actor) -> None:
    """Module settings are for managers and administrators (the service checks it again on save)."""
    if not (actor.is_admin or actor.is_manager):
        raise PermissionDenied()


@router.get("")
def settings_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    _require_settings_access(actor)
    settings = service.get_settings(db)
    values = {
        "one_active_per_establishment": settings.one_active_per_establishment,
        "portal_link_days": settings.portal_link_days,
    }
    return render(request, "projects/settings.html", values=values, errors={})


@router.post("")
async def save_settings(request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    data = {
        "one_active_per_establishment": "one_active_per_establishment" in form,
        "portal_link_days": str(form.get("portal_link_days") or "").strip(),
    }
    try:
        service.update_settings(db, actor, data)
    except ValidationFailed as exc:
        db.rollback()
        return render(
            request,
            "projects/settings.html",
            status_code=422,
            values=data,
            errors=form_errors(exc, actor.language),
        )
    return redirect("/settings/projects", flash=gettext("Settings saved", actor.language), request=request)
