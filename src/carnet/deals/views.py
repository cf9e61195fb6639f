"""HTML pages for deals: list, form, detail, the kanban board, and the deals panel of an
organisation or contact. Pipeline settings pages live in settings_views.py."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from carnet.accounts import service as accounts
from carnet.api.deps import DbDep
from carnet.core import customfields, lifecycle, listing, tags
from carnet.core.context import Actor
from carnet.core.errors import DomainError, ValidationFailed
from carnet.core.i18n import gettext
from carnet.deals import pipelines, service, settings_views
from carnet.deals.models import DEAL_STATUSES, Deal, Pipeline, Stage
from carnet.organisations import service as organisations
from carnet.web.forms import form_to_data
from carnet.web.lists import list_query, saved_views_context
from carnet.web.shell import WebActor, form_errors, redirect, render

router = APIRouter(include_in_schema=False)
deals = APIRouter(prefix="/deals")

FORM_FIELDS = (
    "title",
    "organisation_id",
    "contact_ids",
    "pipeline_id",
    "stage_id",
    "amount",
    "expected_close_date",
    "probability",
    "lost_reason",
    "source",
    "description",
    "owner_id",
    "tags",
)
BOARD_FILTERS = ("owner_id", "q")
# Columns a user can show in the list (key, English label); the first ones are the default.
COLUMNS = [
    ("title", "Title"),
    ("organisation", "Organisation"),
    ("stage", "Stage"),
    ("status", "Status"),
    ("amount", "Amount"),
    ("expected_close_date", "Expected close"),
    ("owner", "Owner"),
    ("tags", "Tags"),
    ("created_at", "Created"),
    ("pipeline", "Pipeline"),
    ("probability", "Probability"),
    ("source", "Source"),
    ("lost_reason", "Lost reason"),
    ("closed_at", "Closed on"),
    ("updated_at", "Updated"),
]
DEFAULT_COLUMNS = [
    "title",
    "organisation",
    "stage",
    "status",
    "amount",
    "expected_close_date",
    "owner",
    "tags",
    "created_at",
]
# Columns the deals listing sorts on (the same key).
SORT_KEYS = {
    "title",
    "status",
    "amount",
    "expected_close_date",
    "probability",
    "closed_at",
    "created_at",
    "updated_at",
}


def _t(actor: Actor, text: str, **params: Any) -> str:
    return gettext(text, actor.language, **params)


def duration(seconds: int, language: str) -> str:
    """A stay in a stage, to the minute: "3 j 4 h", "5 h 12 min", "7 min"."""
    minutes = seconds // 60
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    if days:
        return gettext("{days} d {hours} h", language, days=days, hours=hours)
    if hours:
        return gettext("{hours} h {minutes} min", language, hours=hours, minutes=minutes)
    return gettext("{minutes} min", language, minutes=minutes)


def _user_names(db: Session) -> dict[int, str]:
    return {u.id: u.full_name for u in accounts.list_users(db)}


def _pipeline_choices(db: Session, actor: Actor) -> tuple[list[Pipeline], dict[int, list[Stage]]]:
    rows = pipelines.usable_pipelines(db, actor)
    return rows, pipelines.stages_of(db, [p.id for p in rows])


# -- list --------------------------------------------------------------------------------------------


@deals.get("")
def list_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    query = list_query(request.query_params, COLUMNS, DEFAULT_COLUMNS)
    pipeline_rows, stage_map = _pipeline_choices(db, actor)
    error = None
    try:
        params = listing.parse_params(query.filters, default_sort="-created_at")
        rows, cursor = service.list_deals(db, actor, params)
        total = service.count_deals(db, actor, params)
    except ValidationFailed as exc:
        db.rollback()
        rows, cursor, total = [], None, 0
        error = "; ".join(form_errors(exc, actor.language).values()) or _t(actor, exc.message)
    stages = service.stage_map(db, {d.stage_id for d in rows})
    return render(
        request,
        "deals/list.html",
        rows=rows,
        next_cursor=cursor,
        total=total,
        params=query.params,
        columns=query.columns,
        all_columns=COLUMNS,
        sort_keys=SORT_KEYS,
        error=error,
        pipelines=pipeline_rows,
        pipeline_names=service.pipeline_names(db, {d.pipeline_id for d in rows}),
        stage_map=stage_map,
        stages=stages,
        statuses=DEAL_STATUSES,
        users=accounts.list_users(db, active_only=True),
        user_names=_user_names(db),
        org_names=organisations.names_by_id(
            db, actor, {d.organisation_id for d in rows if d.organisation_id}
        ),
        tag_map=tags.tags_for(db, service.RECORD_TYPE, [d.id for d in rows]),
        record_type=service.RECORD_TYPE,
        **saved_views_context(db, actor, service.RECORD_TYPE, query),
    )


# -- board -------------------------------------------------------------------------------------------


def _board_filters(values: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in values.items() if k in BOARD_FILTERS and v}


def _board_context(db: Session, actor: Actor, pipeline_id: Any, filters: dict[str, str]) -> dict[str, Any]:
    board = service.board(db, actor, pipeline_id, filters)
    cards = [d for c in board.columns for d in c.deals]
    return {
        "board": board,
        "filters": filters,
        "filters_qs": urlencode(filters),
        "org_names": organisations.names_by_id(
            db, actor, {d.organisation_id for d in cards if d.organisation_id}
        ),
        "user_names": _user_names(db),
    }


@deals.get("/board")
def board_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    lifecycle.require(actor, service.RECORD_TYPE, "read")
    pipeline_rows = pipelines.usable_pipelines(db, actor)
    filters = _board_filters(dict(request.query_params))
    chosen = request.query_params.get("pipeline_id")
    if not chosen:
        default = pipelines.default_pipeline(db, actor)
        chosen = str(default.id) if default else None
    context: dict[str, Any] = {"pipelines": pipeline_rows, "board": None, "filters": filters, "error": None}
    if chosen:
        context.update(_board_context(db, actor, chosen, filters))
    template = "deals/_board.html" if request.headers.get("hx-request") == "true" else "deals/board.html"
    return render(
        request, template, users=accounts.list_users(db, active_only=True), **{"error": None, **context}
    )


# -- create ------------------------------------------------------------------------------------------


def _form_context(db: Session, actor: Actor, deal: Deal | None, values: dict[str, Any]) -> dict[str, Any]:
    pipeline_rows, stage_map = _pipeline_choices(db, actor)
    org_id = _int(values.get("organisation_id"))
    contact_names: dict[int, str] = {}
    if org_id:
        contact_names.update(service.organisation_contacts(db, actor, org_id))
    chosen = [c for c in (_int(v) for v in values.get("contact_ids") or []) if c]
    contact_names.update(service.visible_contacts(db, actor, chosen))
    return {
        "deal": deal,
        "pipelines": pipeline_rows,
        "stage_map": stage_map,
        "users": accounts.list_users(db, active_only=True),
        "definitions": customfields.definitions(db, service.RECORD_TYPE),
        "org_name": organisations.names_by_id(db, actor, {org_id}).get(org_id) if org_id else None,
        "contact_choices": contact_names,
        "chosen_contacts": chosen,
    }


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@deals.get("/new")
def new_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    lifecycle.require(actor, service.RECORD_TYPE, "create")
    values: dict[str, Any] = {}
    org_id = _int(request.query_params.get("organisation_id"))
    if org_id and organisations.names_by_id(db, actor, {org_id}):
        values["organisation_id"] = org_id
    contact_id = _int(request.query_params.get("contact_id"))
    if contact_id and service.visible_contacts(db, actor, [contact_id]):
        values["contact_ids"] = [contact_id]
    default = pipelines.default_pipeline(db, actor)
    if default is not None:
        values["pipeline_id"] = default.id
        first = pipelines.first_open_stage(pipelines.stages(db, default))
        values["stage_id"] = first.id if first else None
    return render(
        request, "deals/form.html", values=values, errors={}, **_form_context(db, actor, None, values)
    )


def _form_values(form: Any) -> dict[str, Any]:
    values: dict[str, Any] = {k: v for k, v in form.items() if k != "contact_ids"}
    values["contact_ids"] = [v for v in form.getlist("contact_ids") if v]
    return values


@deals.post("/new")
async def create(request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    data = form_to_data(form, FORM_FIELDS, db, service.RECORD_TYPE)
    try:
        deal = service.create_deal(db, actor, data)
    except ValidationFailed as exc:
        db.rollback()
        values = _form_values(form)
        return render(
            request,
            "deals/form.html",
            status_code=422,
            values=values,
            errors=form_errors(exc, actor.language),
            **_form_context(db, actor, None, values),
        )
    return redirect(f"/deals/{deal.id}", flash=_t(actor, "Deal created"), request=request)


# -- deals panel of another record --------------------------------------------------------------------


@deals.get("/_for/{record_type}/{record_id}")
def for_record_panel(
    record_type: str, record_id: int, request: Request, db: DbDep, actor: WebActor
) -> Response:
    rows = service.for_record(db, actor, record_type, record_id)
    add_url = None
    if actor.can("deals:create"):
        key = "organisation_id" if record_type == "organisation" else "contact_id"
        add_url = f"/deals/new?{key}={record_id}"
    return render(
        request,
        "deals/_for_record.html",
        rows=rows,
        stages=service.stage_map(db, {d.stage_id for d in rows}),
        add_url=add_url,
    )


# -- detail, edit, move, delete -----------------------------------------------------------------------


def _detail_context(db: Session, actor: Actor, deal: Deal) -> dict[str, Any]:
    pipeline = db.get(Pipeline, deal.pipeline_id)
    stage_list = pipelines.stages(db, pipeline) if pipeline else []
    contact_ids = service.contacts_of(db, [deal.id]).get(deal.id, [])
    stays = service.stage_history(db, actor, deal)
    usable = pipeline is not None and pipelines.usable_pipeline(db, actor, pipeline.id) is not None
    return {
        "deal": deal,
        "pipeline": pipeline,
        "stages": stage_list,
        "stage": next((s for s in stage_list if s.id == deal.stage_id), None),
        "can_move": usable and actor.can("deals:update"),
        "won_stage": next((s for s in stage_list if s.kind == "won"), None),
        "lost_stages": [s for s in stage_list if s.kind == "lost"],
        "reopen_stage": pipelines.first_open_stage(stage_list),
        "org_name": organisations.names_by_id(db, actor, {deal.organisation_id}).get(deal.organisation_id)
        if deal.organisation_id
        else None,
        "contacts": service.visible_contacts(db, actor, contact_ids),
        "stays": [(s, duration(s.seconds, actor.language)) for s in stays],
        "tag_names": tags.tags_for(db, service.RECORD_TYPE, [deal.id]).get(deal.id, []),
        "definitions": customfields.definitions(db, service.RECORD_TYPE),
        "owner_name": _user_names(db).get(deal.owner_id) if deal.owner_id else None,
        "record_type": service.RECORD_TYPE,
        "rid": deal.id,
    }


@deals.get("/{deal_id}")
def detail_page(deal_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    deal = service.get_deal(db, actor, deal_id)
    return render(request, "deals/detail.html", error=None, **_detail_context(db, actor, deal))


@deals.get("/{deal_id}/edit")
def edit_page(deal_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    deal = service.get_deal(db, actor, deal_id)
    values: dict[str, Any] = service.snapshot(deal, service.contacts_of(db, [deal.id]).get(deal.id, []), [])
    values["amount"] = values["amount"] or ""
    values["tags"] = ", ".join(tags.tags_for(db, service.RECORD_TYPE, [deal.id]).get(deal.id, []))
    return render(
        request, "deals/form.html", values=values, errors={}, **_form_context(db, actor, deal, values)
    )


@deals.post("/{deal_id}/edit")
async def update(deal_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    deal = service.get_deal(db, actor, deal_id)
    form = await request.form()
    data = form_to_data(form, FORM_FIELDS, db, service.RECORD_TYPE)
    # The form posts the probability back unchanged: only an edited one overrides the stage's.
    if str(data.get("probability") or "") == str(deal.probability if deal.probability is not None else ""):
        data.pop("probability", None)
    version = _int(form.get("version"))
    try:
        service.update_deal(db, actor, deal, data, version)
    except ValidationFailed as exc:
        db.rollback()
        values = _form_values(form)
        return render(
            request,
            "deals/form.html",
            status_code=422,
            values=values,
            errors=form_errors(exc, actor.language),
            **_form_context(db, actor, deal, values),
        )
    return redirect(f"/deals/{deal.id}", flash=_t(actor, "Changes saved"), request=request)


@deals.post("/{deal_id}/move")
async def move(deal_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    """The stage change of the detail page (form post, redirect) and of the board (fetch with the
    CSRF header and `board=1`: answers the re-rendered board, with the error when it failed)."""
    deal = service.get_deal(db, actor, deal_id)
    form = await request.form()
    from_board = form.get("board") == "1"
    stage_id = _int(form.get("stage_id"))
    reason = str(form.get("lost_reason") or "").strip() or None
    error: str | None = None
    status = 200
    try:
        if stage_id is None:
            raise ValidationFailed.on("stage_id", "Unknown stage", "unknown")
        service.move_deal(db, actor, deal, stage_id, reason)
    except DomainError as exc:
        db.rollback()
        status = exc.status
        if exc.errors:
            error = "; ".join(form_errors(exc, actor.language).values())  # type: ignore[arg-type]
        else:
            error = _t(actor, exc.message, **exc.params)
        if not from_board:
            if not isinstance(exc, ValidationFailed):
                raise
            deal = service.get_deal(db, actor, deal_id)
            return render(
                request, "deals/detail.html", status_code=422, error=error, **_detail_context(db, actor, deal)
            )
    if from_board:
        filters = _board_filters(dict(parse_qsl(str(form.get("filters") or ""))))
        response = render(
            request,
            "deals/_board.html",
            status_code=status,
            error=error,
            **_board_context(db, actor, deal.pipeline_id, filters),
        )
        response.headers["X-Carnet-Board"] = "1"
        return response
    stage = db.get(Stage, deal.stage_id)
    message = {
        "won": _t(actor, "Deal won"),
        "lost": _t(actor, "Deal lost"),
    }.get(deal.status, _t(actor, "Deal moved to {stage}", stage=stage.name if stage else ""))
    return redirect(f"/deals/{deal.id}", flash=message, request=request)


@deals.post("/{deal_id}/delete")
async def delete(deal_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    deal = service.get_deal(db, actor, deal_id)
    service.delete_deal(db, actor, deal)
    return redirect("/deals", flash=_t(actor, "Deal deleted"), request=request)


router.include_router(deals)
router.include_router(settings_views.router)
