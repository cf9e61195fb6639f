"""HTML pages of projects: the list with counts per phase, the creation form (with the duplicate
warning), the board (drag a card to another phase), the managers' timeline and, through the
routers included at the bottom, the project page, bulk creation and the module settings."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

from babel import dates as babel_dates
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from carnet.accounts import service as accounts
from carnet.api.deps import DbDep
from carnet.core import i18n, lifecycle, listing
from carnet.core.context import Actor
from carnet.core.errors import DomainError, PermissionDenied, ValidationFailed
from carnet.core.i18n import gettext
from carnet.organisations import service as organisations
from carnet.projects import bulk_views, detail_views, service, settings_views
from carnet.projects.display import as_int, as_position, incomplete_items, labels_context
from carnet.projects.models import HEALTH, STATUSES
from carnet.web.forms import form_to_data
from carnet.web.shell import WebActor, form_errors, redirect, render

router = APIRouter(include_in_schema=False)
projects = APIRouter(prefix="/projects", include_in_schema=False)

LIST_FILTERS = ("template_id", "status", "owner_id", "region", "health", "phase")
BOARD_FILTERS = ("owner_id", "region", "status", "health")
TIMELINE_FILTERS = ("template_id", "owner_id", "status")
FORM_FIELDS = (
    "name",
    "organisation_id",
    "template_id",
    "owner_id",
    "start_date",
    "target_date",
    "description",
)


def _t(actor: Actor, text: str, **params: Any) -> str:
    return gettext(text, actor.language, **params)


def _clean(values: dict[str, str], keys: tuple[str, ...]) -> dict[str, str]:
    return {k: v for k, v in values.items() if k in keys and v}


def _regions() -> list[tuple[str, str]]:
    """(code, name) of the French regions the region filter offers."""
    from carnet.projects.regions import REGIONS

    return sorted(((code, name) for code, (name, _depts) in REGIONS.items()), key=lambda c: c[1])


def _filter_context(db: Session, actor: Actor) -> dict[str, Any]:
    users = accounts.list_users(db, active_only=True)
    return {
        "templates": service.active_templates(db, actor),
        "users": users,
        "user_names": {u.id: u.full_name for u in users},
        "statuses": STATUSES,
        "healths": HEALTH,
        "regions": _regions(),
        **labels_context(),
    }


# -- list ------------------------------------------------------------------------------------------


@projects.get("")
def list_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    lifecycle.require(actor, service.RECORD_TYPE, "read")
    filters = _clean(dict(request.query_params), LIST_FILTERS)
    context = _filter_context(db, actor)
    template_id = as_int(filters.get("template_id"))
    error = None
    try:
        params = listing.parse_params(
            {k: v for k, v in request.query_params.items() if k in ("cursor", "sort") and v},
            default_sort="-id",
        )
        rows, cursor = service.list_projects(
            db,
            actor,
            params,
            template_id=template_id,
            status=filters.get("status"),
            owner_id=as_int(filters.get("owner_id")),
            region=filters.get("region"),
            health=filters.get("health"),
            phase=filters.get("phase"),
        )
    except ValidationFailed as exc:
        db.rollback()
        rows, cursor = [], None
        error = "; ".join(form_errors(exc, actor.language).values())
    phases = service.template_phases(db, template_id) if template_id else []
    counts = service.counts_by_phase(db, actor, template_id) if template_id else {}
    return render(
        request,
        "projects/list.html",
        rows=rows,
        next_cursor=cursor,
        params=filters,
        error=error,
        phases=phases,
        counts=counts,
        health=service.health_many(db, rows),
        overdue=service.overdue_counts(db, [p.id for p in rows]),
        org_names=organisations.names_by_id(db, actor, {p.organisation_id for p in rows}),
        current_phases=service.phase_names(db, rows),
        template_names={t.id: t.name for t in context["templates"]},
        **context,
    )


# -- creation --------------------------------------------------------------------------------------


def _new_context(db: Session, actor: Actor, values: dict[str, Any]) -> dict[str, Any]:
    org_id = as_int(values.get("organisation_id"))
    org_name = organisations.names_by_id(db, actor, {org_id}).get(org_id) if org_id else None
    return {
        "values": values,
        "chosen_org": {"id": org_id, "name": org_name} if org_name else None,
        "templates": service.active_templates(db, actor),
        "users": accounts.list_users(db, active_only=True),
    }


@projects.get("/new")
def new_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    lifecycle.require(actor, service.RECORD_TYPE, "create")
    values: dict[str, Any] = {
        "owner_id": actor.user_id,
        "start_date": service.today().isoformat(),
        "organisation_id": request.query_params.get("organisation_id", ""),
        "template_id": request.query_params.get("template_id", ""),
    }
    return render(request, "projects/new.html", errors={}, duplicate=None, **_new_context(db, actor, values))


@projects.post("/new")
async def create(request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    data = form_to_data(form, FORM_FIELDS)
    allow_duplicate = form.get("allow_duplicate") == "1"
    try:
        project = service.create_project(db, actor, data, allow_duplicate=allow_duplicate)
    except service.DuplicateProject as exc:
        db.rollback()
        settings = service.get_settings(db)
        duplicate = {
            "existing_id": exc.existing_id,
            "can_override": not settings.one_active_per_establishment,
        }
        return render(
            request,
            "projects/new.html",
            status_code=409,
            errors={},
            duplicate=duplicate,
            **_new_context(db, actor, data),
        )
    except ValidationFailed as exc:
        db.rollback()
        return render(
            request,
            "projects/new.html",
            status_code=422,
            errors=form_errors(exc, actor.language),
            duplicate=None,
            **_new_context(db, actor, data),
        )
    return redirect(f"/projects/{project.id}", flash=_t(actor, "Project created"), request=request)


# -- board -----------------------------------------------------------------------------------------


def _board_context(
    db: Session, actor: Actor, template_id: int | None, filters: dict[str, str]
) -> dict[str, Any]:
    columns = (
        service.board(
            db,
            actor,
            template_id,
            owner_id=as_int(filters.get("owner_id")),
            region=filters.get("region"),
            status=filters.get("status"),
            health=filters.get("health"),
        )
        if template_id
        else []
    )
    return {
        "columns": columns,
        "template_id": template_id,
        "filters": filters,
        "filters_qs": urlencode(filters),
        "can_move": actor.can("projects:update"),
    }


def _default_template(db: Session, actor: Actor, requested: str | None) -> int | None:
    chosen = as_int(requested)
    if chosen:
        return chosen
    templates = service.active_templates(db, actor)
    return templates[0].id if templates else None


@projects.get("/board")
def board_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    lifecycle.require(actor, service.RECORD_TYPE, "read")
    filters = _clean(dict(request.query_params), BOARD_FILTERS)
    template_id = _default_template(db, actor, request.query_params.get("template_id"))
    context = _filter_context(db, actor)
    board = _board_context(db, actor, template_id, filters)
    template = (
        "projects/_board.html" if request.headers.get("hx-request") == "true" else "projects/board.html"
    )
    return render(request, template, error=None, missing=[], **context, **board)


@projects.post("/{project_id}/move")
async def move(project_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    """The board's drag and drop (fetch with the CSRF header): answers the re-rendered board, with
    the refusal's missing items when the phase checks stopped the move."""
    project = service.get_project(db, actor, project_id)
    form = await request.form()
    filters = _clean(dict(parse_qsl(str(form.get("filters") or ""))), BOARD_FILTERS)
    template_id = as_int(form.get("template_id")) or project.template_id
    position = as_position(form.get("position"))
    status, error, missing = 200, None, []
    try:
        if position is None:
            raise ValidationFailed.on("position", "Unknown phase", "unknown")
        service.move_to_phase(db, actor, project, position)
    except service.PhaseIncomplete as exc:
        db.rollback()
        status = exc.status
        error = _t(actor, "{name} cannot move yet:", name=project.name)
        missing = incomplete_items(exc, actor.language)
    except DomainError as exc:
        db.rollback()
        status = exc.status
        if isinstance(exc, ValidationFailed) and exc.errors:
            error = "; ".join(form_errors(exc, actor.language).values())
        else:
            error = _t(actor, exc.message, **exc.params)
    response = render(
        request,
        "projects/_board.html",
        status_code=status,
        error=error,
        missing=missing,
        **_filter_context(db, actor),
        **_board_context(db, actor, template_id, filters),
    )
    response.headers["X-Carnet-Board"] = "1"
    return response


# -- timeline (managers) ---------------------------------------------------------------------------


def _month_starts(first: date, last: date) -> list[date]:
    months = []
    current = first.replace(day=1)
    while current <= last:
        months.append(current)
        current = (current + timedelta(days=32)).replace(day=1)
    return months


def _timeline_geometry(rows: list[service.TimelineRow], today: date, lang: str) -> dict[str, Any]:
    """Positions in percent of the shown period (whole months around every bar and today)."""
    if not rows:
        return {"months": [], "bars": [], "today_left": None}
    starts = [r.start for r in rows]
    ends = [r.target or today for r in rows]
    for r in rows:
        ends += [p.closed_at.date() for p in r.phases if p.closed_at]
    first = min([*starts, today]).replace(day=1)
    last_month = max([*ends, today]).replace(day=1)
    end = (last_month + timedelta(days=32)).replace(day=1)  # the day after the last shown month
    span = (end - first).days

    def pct(day: date) -> float:
        return round(max(0, min(span, (day - first).days)) / span * 100, 3)

    months = []
    starts_of_months = _month_starts(first, last_month)
    for i, m in enumerate(starts_of_months):
        following = starts_of_months[i + 1] if i + 1 < len(starts_of_months) else end
        label = babel_dates.format_date(m, "LLL y", locale=i18n.LOCALES[lang])
        months.append({"date": m, "label": label, "left": pct(m), "width": round(pct(following) - pct(m), 3)})
    bars = []
    for r in rows:
        bar_end = max(r.target or today, r.start + timedelta(days=1))
        segments = []
        for p in r.phases:
            if p.state == "pending" or p.started_at is None:
                continue
            seg_start = p.started_at.date()
            seg_end = p.closed_at.date() if p.state == "closed" and p.closed_at else today
            seg_end = max(seg_end, seg_start + timedelta(days=1))
            segments.append(
                {
                    "name": p.name,
                    "state": p.state,
                    "left": pct(seg_start),
                    "width": max(round(pct(seg_end) - pct(seg_start), 3), 0.4),
                    "start": seg_start,
                    "end": seg_end if p.state == "closed" else None,
                }
            )
        bars.append(
            {
                "row": r,
                "left": pct(r.start),
                "width": max(round(pct(bar_end) - pct(r.start), 3), 0.4),
                "segments": segments,
            }
        )
    return {"months": months, "bars": bars, "today_left": pct(today)}


@projects.get("/timeline")
def timeline_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    lifecycle.require(actor, service.RECORD_TYPE, "read")
    if not (actor.is_manager or actor.is_admin):
        raise PermissionDenied("The timeline is for managers")
    filters = _clean(dict(request.query_params), TIMELINE_FILTERS)
    rows = service.timeline_rows(
        db,
        actor,
        template_id=as_int(filters.get("template_id")),
        owner_id=as_int(filters.get("owner_id")),
        status=filters.get("status"),
    )
    today = service.today()
    return render(
        request,
        "projects/timeline.html",
        params=filters,
        today=today,
        **_timeline_geometry(rows, today, actor.language),
        **_filter_context(db, actor),
    )


@projects.get("/_for/organisation/{org_id}")
def organisation_panel(org_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    """The establishment's projects, for the side panel of its page."""
    organisations.get_organisation(db, actor, org_id)  # 404 when not visible
    rows = service.for_organisation(db, actor, org_id)
    return render(
        request,
        "projects/_for_organisation.html",
        rows=rows,
        phase_names=service.phase_names(db, [p for p, _health in rows]),
        add_url=f"/projects/new?organisation_id={org_id}" if actor.can("projects:create") else None,
        **labels_context(),
    )


router.include_router(projects)
router.include_router(bulk_views.router)
router.include_router(detail_views.router)
router.include_router(settings_views.router)
