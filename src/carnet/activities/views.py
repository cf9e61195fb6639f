"""HTML pages for activities, and the quick-add form shown on organisation, contact and deal pages."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from carnet.accounts import service as accounts
from carnet.activities import links, service
from carnet.activities.inputs import day_range, local_input_value
from carnet.activities.models import ACTIVITY_KINDS, Activity
from carnet.api.deps import DbDep
from carnet.core import clock, customfields, listing, timeline
from carnet.core.errors import NotFound, ValidationFailed
from carnet.core.i18n import gettext
from carnet.web.forms import form_to_data
from carnet.web.shell import WebActor, form_errors, redirect, render

router = APIRouter(prefix="/activities", include_in_schema=False)

KIND_LABELS = {"call": "Call", "email": "Email", "meeting": "Meeting", "visit": "Visit", "note": "Note"}
FORM_FIELDS = (
    "kind",
    "subject",
    "body",
    "occurred_at",
    "duration_minutes",
    "outcome",
    "organisation_id",
    "contact_id",
    "deal_id",
    "owner_id",
)
QUICK_FIELDS = ("kind", "subject", "body", "occurred_at", "duration_minutes")
RECORD_FIELDS = {"organisation": "organisation_id", "contact": "contact_id", "deal": "deal_id"}
COUNT_CAP = 10_000


def _t(actor: WebActor, text: str) -> str:
    return gettext(text, actor.language)


def _form_data(form: FormData, db: DbDep) -> dict[str, Any]:
    data = form_to_data(form, FORM_FIELDS, db, service.RECORD_TYPE)
    if "_participants_present" in form:
        data["participant_user_ids"] = [v for v in form.getlist("participant_user_ids") if str(v).strip()]
        raw = str(form.get("participant_contact_ids") or "")
        data["participant_contact_ids"] = [p.strip() for p in raw.replace("\n", ",").split(",") if p.strip()]
    return data


def _version(form: FormData) -> int | None:
    value = str(form.get("version") or "")
    return int(value) if value.isdigit() else None


def _link_labels(db: DbDep, actor: WebActor, acts: list[Activity]) -> dict[str, dict[int, str]]:
    """Names of the linked records the viewer may see: one query per record type."""
    return {
        rt: links.labels(db, actor, rt, {getattr(a, field) for a in acts})
        for rt, field in RECORD_FIELDS.items()
    }


def _form_context(db: DbDep) -> dict[str, Any]:
    return {
        "kinds": [(k, KIND_LABELS[k]) for k in ACTIVITY_KINDS],
        "users": accounts.list_users(db, active_only=True),
        "definitions": customfields.definitions(db, service.RECORD_TYPE),
    }


def _list_params(raw: dict[str, str], actor: WebActor) -> tuple[listing.ListParams, dict[str, str]]:
    """Query string of the list page → list parameters; `from`/`to` are whole days in the user's
    time zone."""
    api_raw = {k: v for k, v in raw.items() if k in ("kind", "owner_id", "q", "cursor") and v}
    try:
        day_from = date.fromisoformat(raw["from"]) if raw.get("from") else None
        day_to = date.fromisoformat(raw["to"]) if raw.get("to") else None
    except ValueError:
        day_from = day_to = None
    start, end = day_range(day_from, day_to, actor.timezone)
    if start:
        api_raw["occurred_at__gte"] = start.isoformat()
    if end:
        api_raw["occurred_at__lte"] = (end - timedelta(microseconds=1)).isoformat()
    return listing.parse_params(api_raw, default_sort="-occurred_at"), raw


@router.get("")
def list_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    raw = {k: v for k, v in request.query_params.items() if v != ""}
    params, shown = _list_params(raw, actor)
    rows, cursor = service.list_activities(db, actor, params)
    return render(
        request,
        "activities/list.html",
        rows=rows,
        next_cursor=cursor,
        params=shown,
        kinds=[(k, KIND_LABELS[k]) for k in ACTIVITY_KINDS],
        kind_labels=KIND_LABELS,
        users=accounts.list_users(db),
        owners=service.owner_names(db, {a.owner_id for a in rows}),
        labels=_link_labels(db, actor, rows),
        total=service.count_activities(db, actor, params, cap=COUNT_CAP),
        count_cap=COUNT_CAP,
    )


@router.get("/new")
def new_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    values: dict[str, Any] = {
        "kind": request.query_params.get("kind") or "call",
        "occurred_at": local_input_value(clock.now(), actor.timezone),
    }
    for field in RECORD_FIELDS.values():
        if request.query_params.get(field):
            values[field] = request.query_params[field]
    return render(request, "activities/form.html", act=None, values=values, errors={}, **_form_context(db))


@router.post("/new")
async def create(request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    try:
        act = service.create_activity(db, actor, _form_data(form, db))
    except ValidationFailed as exc:
        db.rollback()
        values = dict(form)
        values["participant_user_ids"] = form.getlist("participant_user_ids")
        return render(
            request,
            "activities/form.html",
            status_code=422,
            act=None,
            values=values,
            errors=form_errors(exc, actor.language),
            **_form_context(db),
        )
    return redirect(f"/activities/{act.id}", flash=_t(actor, "Activity saved"), request=request)


@router.get("/_quick_add")
def quick_add_form(
    request: Request, db: DbDep, actor: WebActor, record_type: str, record_id: int
) -> Response:
    if record_type not in RECORD_FIELDS or not links.is_visible(db, actor, record_type, record_id):
        raise NotFound()
    if not actor.can("activities:create"):
        return HTMLResponse("")
    return _quick_form(request, actor, record_type, record_id, {}, {})


def _quick_form(
    request: Request,
    actor: WebActor,
    record_type: str,
    record_id: int,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
    oob: bool = False,
) -> HTMLResponse:
    now_value = local_input_value(clock.now(), actor.timezone)
    values = {"kind": "call", "occurred_at": now_value, **values}
    return render(
        request,
        "activities/_quick_add.html",
        now_value=values.get("_now_value") or now_value,
        status_code=status_code,
        record_type=record_type,
        record_id=record_id,
        values=values,
        errors=errors,
        kinds=[(k, KIND_LABELS[k]) for k in ACTIVITY_KINDS],
        oob=oob,
    )


@router.post("/_quick_add")
async def quick_add(request: Request, db: DbDep, actor: WebActor) -> Response:
    """Creates the activity and answers with the record's refreshed timeline (for `#record-tab`);
    on invalid input, answers with the form and its errors, retargeted onto the form itself."""
    form = await request.form()
    record_type = str(form.get("record_type") or "")
    try:
        record_id = int(str(form.get("record_id") or ""))
    except ValueError:
        raise NotFound()
    if record_type not in RECORD_FIELDS:
        raise NotFound()
    data = form_to_data(form, QUICK_FIELDS)
    data[RECORD_FIELDS[record_type]] = record_id
    if data.get("occurred_at") and data["occurred_at"] == form.get("_now_value"):
        # Left at the prefilled minute: log it at the actual time, so it sorts after this minute's events.
        data.pop("occurred_at")
    is_htmx = request.headers.get("hx-request") == "true"
    try:
        service.create_activity(db, actor, data)
    except ValidationFailed as exc:
        db.rollback()
        errors = form_errors(exc, actor.language)
        # The linked record itself was refused: say it on the form, not on a hidden field.
        if RECORD_FIELDS[record_type] in errors or "links" in errors:
            errors["form"] = errors.pop(RECORD_FIELDS[record_type], None) or errors.pop("links")
        response = _quick_form(
            request, actor, record_type, record_id, dict(form), errors, status_code=200 if is_htmx else 422
        )
        # htmx does not swap 4xx answers: a 200 retargeted onto the form shows the errors in place.
        response.headers["HX-Retarget"] = "#activity-quick-add"
        response.headers["HX-Reswap"] = "outerHTML"
        return response
    if not is_htmx:
        prefix = {"organisation": "/organisations", "contact": "/contacts", "deal": "/deals"}[record_type]
        return redirect(f"{prefix}/{record_id}", flash=_t(actor, "Activity saved"), request=request)
    items = timeline.for_record(db, actor, record_type, record_id)
    return render(
        request,
        "activities/_quick_add_result.html",
        items=items,
        record_type=record_type,
        record_id=record_id,
        values={"kind": "call", "occurred_at": local_input_value(clock.now(), actor.timezone)},
        now_value=local_input_value(clock.now(), actor.timezone),
        errors={},
        kinds=[(k, KIND_LABELS[k]) for k in ACTIVITY_KINDS],
        oob=True,
    )


@router.get("/{activity_id}")
def detail_page(activity_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    act = service.get_activity(db, actor, activity_id)
    read = service.reads(db, [act])[0]
    user_ids, contact_ids = read["participant_user_ids"], read["participant_contact_ids"]
    return render(
        request,
        "activities/detail.html",
        act=act,
        kind_labels=KIND_LABELS,
        labels=_link_labels(db, actor, [act]),
        owner=service.owner_names(db, {act.owner_id}).get(act.owner_id or 0),
        participant_users=service.owner_names(db, set(user_ids)),
        participant_contacts=links.labels(db, actor, "contact", set(contact_ids)),
        definitions=customfields.definitions(db, service.RECORD_TYPE),
    )


@router.get("/{activity_id}/edit")
def edit_page(activity_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    act = service.get_activity(db, actor, activity_id)
    read = service.reads(db, [act])[0]
    values = {
        **read,
        "occurred_at": local_input_value(act.occurred_at, actor.timezone),
        "participant_user_ids": [str(u) for u in read["participant_user_ids"]],
        "participant_contact_ids": ", ".join(str(c) for c in read["participant_contact_ids"]),
    }
    return render(request, "activities/form.html", act=act, values=values, errors={}, **_form_context(db))


@router.post("/{activity_id}/edit")
async def update(activity_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    act = service.get_activity(db, actor, activity_id)
    form = await request.form()
    version = _version(form)
    try:
        service.update_activity(db, actor, act, _form_data(form, db), version)
    except ValidationFailed as exc:
        db.rollback()
        values = dict(form)
        values["participant_user_ids"] = form.getlist("participant_user_ids")
        return render(
            request,
            "activities/form.html",
            status_code=422,
            act=act,
            values=values,
            errors=form_errors(exc, actor.language),
            **_form_context(db),
        )
    return redirect(f"/activities/{act.id}", flash=_t(actor, "Changes saved"), request=request)


@router.post("/{activity_id}/delete")
async def delete(activity_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    act = service.get_activity(db, actor, activity_id)
    service.delete_activity(db, actor, act)
    return redirect("/activities", flash=_t(actor, "Activity deleted"), request=request)
