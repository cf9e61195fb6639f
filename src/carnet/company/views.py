"""The company settings page (legal identity, bank, documents, logo) and the logo image."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from carnet.api.deps import DbDep
from carnet.company import service
from carnet.company.models import OPERATION_CATEGORIES
from carnet.core.errors import NotFound, PermissionDenied, ValidationFailed
from carnet.core.i18n import gettext
from carnet.documents import terms
from carnet.web.shell import WebActor, form_errors, lang_of, redirect, render

router = APIRouter(prefix="/settings/company", include_in_schema=False)
CATEGORY_LABELS = {"goods": "Goods", "services": "Services", "mixed": "Goods and services"}


def _page(
    request: Request, company: Any, values: dict[str, Any], errors: dict[str, str], status: int = 200
) -> Response:
    return render(
        request,
        "company/settings.html",
        status_code=status,
        company=company,
        values=values,
        errors=errors,
        terms_choices=[(t, gettext(terms.LABELS[t], lang_of(request))) for t in terms.TERMS],
        categories=[(c, CATEGORY_LABELS[c]) for c in OPERATION_CATEGORIES],
    )


@router.get("")
def settings_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    if not actor.can("company:update"):
        raise PermissionDenied()
    company = service.get_company(db)
    return _page(request, company, service.snapshot(company), {})


@router.post("")
async def save(request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    data: dict[str, Any] = {
        k: (str(v).strip() if isinstance(v, str) else v)
        for k, v in form.items()
        if k in service.EDITABLE and k != "vat_on_debits"
    }
    data["vat_on_debits"] = form.get("vat_on_debits") == "on"
    try:
        version = int(str(form.get("version") or ""))
    except ValueError:
        version = None
    try:
        service.update_company(db, actor, data, version)
    except ValidationFailed as exc:
        db.rollback()
        return _page(request, service.get_company(db), data, form_errors(exc, actor.language), 422)
    return redirect("/settings/company", flash=gettext("Changes saved", actor.language), request=request)


@router.post("/logo")
async def upload_logo(request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    upload = form.get("logo")
    if form.get("remove") == "1":
        service.remove_logo(db, actor)
        return redirect("/settings/company", flash=gettext("Logo removed", actor.language), request=request)
    content = await upload.read() if upload is not None and hasattr(upload, "read") else b""
    try:
        service.set_logo(db, actor, content, getattr(upload, "content_type", "") or "")
    except ValidationFailed as exc:
        db.rollback()
        company = service.get_company(db)
        return _page(request, company, service.snapshot(company), form_errors(exc, actor.language), 422)
    return redirect("/settings/company", flash=gettext("Logo saved", actor.language), request=request)


@router.get("/logo")
def logo(db: DbDep, actor: WebActor) -> Response:
    company = service.read_company(db, actor)
    if not company.logo_content_type or not company.logo:
        raise NotFound()
    return Response(
        company.logo, media_type=company.logo_content_type, headers={"Cache-Control": "private, max-age=60"}
    )
