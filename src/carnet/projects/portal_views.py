"""HTML of the establishment portal: the public pages at /p/<token> (no account) and the in-app
management fragment at /projects/<id>/portal (links and requests), which the project page embeds
with `hx-get`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from carnet.api.deps import DbDep, client_ip
from carnet.core import ratelimit
from carnet.core.context import Actor
from carnet.core.errors import NotFound, RateLimited, ValidationFailed
from carnet.projects import portal
from carnet.projects.models import PortalLink, Project
from carnet.settings import get_settings
from carnet.web.shell import WebActor, form_errors, lang_of, render

router = APIRouter(include_in_schema=False)
# The token is a secret: no referrer leaves these pages, no search engine keeps them, no cache.
PUBLIC_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Cache-Control": "no-store",
}
REQUEST_FIELDS = ("kind", "name", "email", "phone", "message")


# -- public pages ------------------------------------------------------------------------------------


def _public(request: Request, template: str, status: int = 200, **extra: Any) -> Response:
    headers = dict(PUBLIC_HEADERS)
    headers.update(extra.pop("headers", None) or {})
    return render(request, template, status_code=status, headers=headers, **extra)


def _unavailable(request: Request, exc: Exception) -> Response:
    """The one page for unknown, expired or revoked links and for too many requests: it says what
    happened and never whether a project exists."""
    if isinstance(exc, RateLimited):
        return _public(request, "portal/unavailable.html", 429, reason="rate_limited", headers=exc.headers)
    if isinstance(exc, portal.LinkGone):
        return _public(request, "portal/unavailable.html", 410, reason="gone")
    return _public(request, "portal/unavailable.html", 404, reason="not_found")


def _limit_views(request: Request) -> None:
    ratelimit.hit(get_settings().rate_limit_portal_views, "portal-ip", client_ip(request) or "-")


def _page(
    request: Request,
    db: Session,
    link: PortalLink,
    token: str,
    status: int = 200,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    return _public(
        request,
        "portal/public.html",
        status,
        view=portal.portal_view(db, link),
        token=token,
        form_token=portal.form_token(link),
        values=values or {"kind": ""},
        errors=errors or {},
        kinds=portal.KIND_LABELS,
    )


@router.get("/p/{token}")
def public_page(token: str, request: Request, db: DbDep) -> Response:
    try:
        _limit_views(request)
        link = portal.link_for_token(db, token)
    except (NotFound, portal.LinkGone, RateLimited) as exc:
        return _unavailable(request, exc)
    portal.record_view(db, link)
    return _page(request, db, link, token)


@router.post("/p/{token}")
async def public_submit(token: str, request: Request, db: DbDep) -> Response:
    try:
        _limit_views(request)
        link = portal.link_for_token(db, token)
        # Counted per link on every attempt: a leaked link cannot flood the owner's tasks.
        ratelimit.hit(get_settings().rate_limit_portal_requests, "portal-link", str(link.id))
    except (NotFound, portal.LinkGone, RateLimited) as exc:
        return _unavailable(request, exc)
    form = await request.form()
    values = {name: str(form.get(name) or "") for name in REQUEST_FIELDS}
    try:
        portal.submit_request(
            db,
            token,
            dict(values),
            client_ip(request),
            request.headers.get("user-agent"),
            form.get("form_token"),
        )
    except ValidationFailed as exc:
        db.rollback()
        return _page(request, db, link, token, 422, values, form_errors(exc, lang_of(request)))
    except (NotFound, portal.LinkGone) as exc:  # revoked between the two reads
        db.rollback()
        return _unavailable(request, exc)
    return _public(request, "portal/thanks.html", view=portal.portal_view(db, link), token=token)


# -- in-app management (fragment) ---------------------------------------------------------------------


def _manage(
    request: Request,
    db: Session,
    actor: Actor,
    project: Project,
    *,
    created: portal.CreatedLink | None = None,
    link_values: dict[str, Any] | None = None,
    link_errors: dict[str, str] | None = None,
    answer_for: int | None = None,
    answer_values: dict[str, Any] | None = None,
    answer_errors: dict[str, str] | None = None,
    extend_for: int | None = None,
    extend_errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    # htmx swaps only 2xx answers: a fragment with field errors stays 200 for htmx, 422 otherwise.
    if status != 200 and request.headers.get("hx-request") == "true":
        status = 200
    template = "portal/_manage.html" if request.headers.get("hx-request") == "true" else "portal/manage.html"
    return render(
        request,
        template,
        status_code=status,
        project=project,
        links=portal.list_links(db, actor, project),
        requests=portal.list_requests(db, actor, project),
        link_state=portal.link_state,
        created=created,
        link_values=link_values
        or {"expires_in_days": str(min(portal.link_days_default(db), portal.MAX_LINK_DAYS))},
        link_errors=link_errors or {},
        answer_for=answer_for,
        answer_values=answer_values or {},
        answer_errors=answer_errors or {},
        extend_for=extend_for,
        extend_errors=extend_errors or {},
        kinds=portal.KIND_LABELS,
        share_labels=portal.SHARE_LABELS,
        can_update=actor.can("projects:update"),
    )


@router.get("/projects/{project_id}/portal")
def manage(project_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    return _manage(request, db, actor, portal.get_project(db, actor, project_id))


@router.post("/projects/{project_id}/portal/links")
async def create_link(project_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    project = portal.get_project(db, actor, project_id)
    form = await request.form()
    data: dict[str, Any] = {
        "label": form.get("label"),
        "expires_in_days": form.get("expires_in_days"),
        "shares": {
            **{flag: form.get(flag) == "on" for flag in portal.SHARE_FLAGS},
            "message": form.get("message"),
            "contact_phone": form.get("contact_phone"),
        },
    }
    try:
        created = portal.create_link(db, actor, project, data)
    except ValidationFailed as exc:
        db.rollback()
        # "shares.message" is shown next to the message box (form_errors also files it under
        # "shares", which is only for an error about the parts themselves).
        found = form_errors(exc, actor.language)
        nested = any(e.field.startswith("shares.") for e in exc.errors)
        errors = {k.removeprefix("shares."): v for k, v in found.items() if not (k == "shares" and nested)}
        return _manage(request, db, actor, project, link_values=dict(form), link_errors=errors, status=422)
    return _manage(request, db, actor, project, created=created)


@router.post("/projects/{project_id}/portal/links/{link_id}/revoke")
async def revoke_link(
    project_id: int, link_id: int, request: Request, db: DbDep, actor: WebActor
) -> Response:
    project = portal.get_project(db, actor, project_id)
    portal.revoke_link(db, actor, project, portal.get_link(db, actor, project, link_id))
    return _manage(request, db, actor, project)


@router.post("/projects/{project_id}/portal/links/{link_id}/extend")
async def extend_link(
    project_id: int, link_id: int, request: Request, db: DbDep, actor: WebActor
) -> Response:
    project = portal.get_project(db, actor, project_id)
    link = portal.get_link(db, actor, project, link_id)
    form = await request.form()
    try:
        portal.extend_link(db, actor, project, link, form.get("days"))
    except ValidationFailed as exc:
        db.rollback()
        errors = form_errors(exc, actor.language)
        return _manage(request, db, actor, project, extend_for=link.id, extend_errors=errors, status=422)
    return _manage(request, db, actor, project)


@router.post("/projects/{project_id}/portal/requests/{request_id}/answer")
async def answer_request(
    project_id: int, request_id: int, request: Request, db: DbDep, actor: WebActor
) -> Response:
    project = portal.get_project(db, actor, project_id)
    row = portal.get_request(db, actor, project, request_id)
    form = await request.form()
    try:
        portal.answer_request(db, actor, project, row, form.get("message"))
    except ValidationFailed as exc:
        db.rollback()
        return _manage(
            request,
            db,
            actor,
            project,
            answer_for=row.id,
            answer_values=dict(form),
            answer_errors=form_errors(exc, actor.language),
            status=422,
        )
    return _manage(request, db, actor, project)
