"""HTML pages for tasks: the grouped list, the board, forms, and the tasks fragment shown on
organisation, contact and deal pages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import FormData

from carnet.accounts import service as accounts
from carnet.activities import links
from carnet.activities.inputs import local_input_value
from carnet.api.deps import DbDep
from carnet.core import clock, customfields, listing, records
from carnet.core.errors import NotFound, ValidationFailed
from carnet.core.i18n import gettext
from carnet.search import service as search
from carnet.tasks import service
from carnet.tasks.models import PRIORITIES, RECURRENCES, STATUSES, Task
from carnet.web.forms import form_to_data
from carnet.web.shell import WebActor, form_errors, redirect, render

router = APIRouter(prefix="/tasks", include_in_schema=False)

FORM_FIELDS = (
    "title",
    "description",
    "due_at",
    "priority",
    "status",
    "owner_id",
    "record_type",
    "record_id",
    "recurrence",
)
QUICK_FIELDS = ("title", "due_at", "priority")
GROUPINGS = ("date", "priority", "assignee")
BOARD_STATUSES = ("todo", "in_progress", "done")
BOARD_LIMIT = 100
LIST_LIMIT = 200


def _t(actor: WebActor, text: str) -> str:
    return gettext(text, actor.language)


def _version(form: FormData) -> int | None:
    value = str(form.get("version") or "")
    return int(value) if value.isdigit() else None


def _row_info(db: DbDep, actor: WebActor, tasks: list[Task]) -> dict[int, dict[str, Any]]:
    """What a task row shows besides the task: assignee name, linked record, overdue flag. A few
    queries for the whole list, never one per row."""
    names = service.owner_names(db, {t.owner_id for t in tasks})
    labels = {
        rt: links.labels(db, actor, rt, {t.record_id for t in tasks if t.record_type == rt and t.record_id})
        for rt in links.LINKABLE_TYPES
    }
    now = clock.now()
    info: dict[int, dict[str, Any]] = {}
    for t in tasks:
        label = labels.get(t.record_type or "", {}).get(t.record_id or 0)
        info[t.id] = {
            "owner": names.get(t.owner_id or 0, ""),
            "record_label": label,
            "record_url": f"{links.URLS[t.record_type]}/{t.record_id}" if label and t.record_type else None,
            "overdue": service.is_overdue(t, now, actor.timezone),
            "late": t.status in service.OPEN_STATUSES and t.due_at is not None and t.due_at < now,
        }
    return info


def _labels() -> dict[str, Any]:
    return {
        "status_labels": service.STATUS_LABELS,
        "priority_labels": service.PRIORITY_LABELS,
        "recurrence_labels": service.RECURRENCE_LABELS,
    }


def _filters(raw: dict[str, str], actor: WebActor) -> dict[str, str]:
    """List-page filters → list filters. Defaults: open tasks assigned to me."""
    filters: dict[str, str] = {}
    status = raw.get("status", "open")
    if status == "open":
        filters["status"] = ",".join(service.OPEN_STATUSES)
    elif status in STATUSES:
        filters["status"] = status
    owner = raw.get("owner_id", "me")
    if owner == "me" and actor.user_id is not None:
        filters["owner_id"] = str(actor.user_id)
    elif owner.isdigit():
        filters["owner_id"] = owner
    if raw.get("priority") in PRIORITIES:
        filters["priority"] = raw["priority"]
    return filters


@router.get("")
def list_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    raw = {k: v for k, v in request.query_params.items() if v != ""}
    group = raw.get("group") if raw.get("group") in GROUPINGS else "date"
    filters = _filters(raw, actor)
    query = {**filters, "limit": str(LIST_LIMIT), "sort": "due_at"}
    if raw.get("q"):
        query["q"] = raw["q"]
    if raw.get("cursor"):
        query["cursor"] = raw["cursor"]
    rows, cursor = service.list_tasks(db, actor, listing.parse_params(query, default_sort="due_at"))
    info = _row_info(db, actor, rows)
    names = {t.owner_id: info[t.id]["owner"] for t in rows if t.owner_id}
    return render(
        request,
        "tasks/list.html",
        groups=service.group_tasks(rows, group, actor, names),
        group=group,
        info=info,
        params=raw,
        status=raw.get("status", "open"),
        owner=raw.get("owner_id", "me"),
        next_cursor=cursor,
        users=accounts.list_users(db),
        priorities=PRIORITIES,
        statuses=STATUSES,
        **_labels(),
    )


@router.get("/board")
def board_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    owner = request.query_params.get("owner_id", "me")
    base = _filters({"owner_id": owner, "status": "all"}, actor)
    columns = []
    for status in BOARD_STATUSES:
        sort = "-completed_at" if status == "done" else "due_at"
        params = listing.parse_params({**base, "status": status, "limit": str(BOARD_LIMIT), "sort": sort})
        rows, more = service.list_tasks(db, actor, params)
        columns.append({"status": status, "tasks": rows, "more": more is not None})
    info = _row_info(db, actor, [t for c in columns for t in c["tasks"]])
    return render(
        request,
        "tasks/board.html",
        columns=columns,
        info=info,
        owner=owner,
        users=accounts.list_users(db),
        **_labels(),
    )


@router.post("/{task_id}/status")
async def set_status(task_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    """Board drag and drop: `status` in the form; answers JSON for the board script."""
    task = service.get_task(db, actor, task_id)
    form = await request.form()
    try:
        service.update_task(db, actor, task, {"status": str(form.get("status") or "")})
    except ValidationFailed as exc:
        db.rollback()
        return JSONResponse({"errors": form_errors(exc, actor.language)}, status_code=422)
    nxt = service.next_occurrence(db, actor, task)
    return JSONResponse({"id": task.id, "status": task.status, "next_task_id": nxt.id if nxt else None})


@router.post("/{task_id}/toggle")
async def toggle(task_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    """The list checkbox: completes an open task, reopens a done one. Answers the row, plus the
    next occurrence's row when completing created one."""
    task = service.get_task(db, actor, task_id)
    had_next = service.next_occurrence(db, actor, task) is not None
    if task.status == "done":
        service.update_task(db, actor, task, {"status": "todo"})
    else:
        service.complete_task(db, actor, task)
    tasks = [task]
    nxt = service.next_occurrence(db, actor, task)
    if nxt is not None and not had_next:
        tasks.append(nxt)
    return render(
        request,
        "tasks/_rows.html",
        tasks=tasks,
        info=_row_info(db, actor, tasks),
        hide_record=request.query_params.get("compact") == "1",  # the row sits on its record's page
        **_labels(),
    )


# -- the tasks of a record (fragment for detail pages) --------------------------------------------


def _record_fragment(
    request: Request,
    db: DbDep,
    actor: WebActor,
    record_type: str,
    record_id: int,
    values: dict[str, Any],
    errors: dict[str, str],
) -> Response:
    tasks = service.for_record(db, actor, record_type, record_id)
    return render(
        request,
        "tasks/_for_record.html",
        tasks=tasks,
        info=_row_info(db, actor, tasks),
        record_type=record_type,
        record_id=record_id,
        values=values,
        errors=errors,
        priorities=PRIORITIES,
        **_labels(),
    )


def _check_record(db: DbDep, actor: WebActor, record_type: str, record_id: int) -> None:
    if record_type not in links.LINKABLE_TYPES or not links.is_visible(db, actor, record_type, record_id):
        raise NotFound()


@router.get("/_for/{record_type}/{record_id}")
def record_tasks(record_type: str, record_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    _check_record(db, actor, record_type, record_id)
    return _record_fragment(request, db, actor, record_type, record_id, {"priority": "normal"}, {})


@router.post("/_for/{record_type}/{record_id}")
async def record_task_add(
    record_type: str, record_id: int, request: Request, db: DbDep, actor: WebActor
) -> Response:
    _check_record(db, actor, record_type, record_id)
    form = await request.form()
    data = form_to_data(form, QUICK_FIELDS)
    data.update(record_type=record_type, record_id=record_id)
    try:
        service.create_task(db, actor, data)
    except ValidationFailed as exc:
        db.rollback()
        response = _record_fragment(
            request, db, actor, record_type, record_id, dict(form), form_errors(exc, actor.language)
        )
        # htmx only swaps 2xx answers; plain form posts get the usual 422.
        if request.headers.get("hx-request") != "true":
            response.status_code = 422
        return response
    return _record_fragment(request, db, actor, record_type, record_id, {"priority": "normal"}, {})


# -- create, read, update, delete -----------------------------------------------------------------


def _form_context(db: DbDep, actor: WebActor, values: dict[str, Any]) -> dict[str, Any]:
    return {
        "users": accounts.list_users(db, active_only=True),
        "priorities": PRIORITIES,
        "statuses": STATUSES,
        "recurrences": RECURRENCES,
        "record_type_choices": [(rt, _t(actor, records.get(rt).label)) for rt in links.LINKABLE_TYPES],
        # the linked record's name, shown by its picker with the page
        "record_label": search.choice_label(db, actor, values.get("record_type"), values.get("record_id")),
        "definitions": customfields.definitions(db, service.RECORD_TYPE),
        **_labels(),
    }


@router.get("/new")
def new_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    values: dict[str, Any] = {"priority": "normal", "owner_id": actor.user_id}
    for key in ("record_type", "record_id"):
        if request.query_params.get(key):
            values[key] = request.query_params[key]
    return render(
        request, "tasks/form.html", task=None, values=values, errors={}, **_form_context(db, actor, values)
    )


@router.post("/new")
async def create(request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    try:
        task = service.create_task(db, actor, form_to_data(form, FORM_FIELDS, db, service.RECORD_TYPE))
    except ValidationFailed as exc:
        db.rollback()
        return render(
            request,
            "tasks/form.html",
            status_code=422,
            task=None,
            values=dict(form),
            errors=form_errors(exc, actor.language),
            **_form_context(db, actor, dict(form)),
        )
    return redirect(f"/tasks/{task.id}", flash=_t(actor, "Task created"), request=request)


@router.get("/{task_id}")
def detail_page(task_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    task = service.get_task(db, actor, task_id)
    return render(
        request,
        "tasks/detail.html",
        task=task,
        info=_row_info(db, actor, [task])[task.id],
        next_task=service.next_occurrence(db, actor, task),
        previous_task=service.previous_occurrence(db, actor, task),
        definitions=customfields.definitions(db, service.RECORD_TYPE),
        **_labels(),
    )


@router.get("/{task_id}/edit")
def edit_page(task_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    task = service.get_task(db, actor, task_id)
    values = {**service.snapshot(task), "due_at": local_input_value(task.due_at, actor.timezone)}
    return render(
        request, "tasks/form.html", task=task, values=values, errors={}, **_form_context(db, actor, values)
    )


@router.post("/{task_id}/edit")
async def update(task_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    task = service.get_task(db, actor, task_id)
    form = await request.form()
    try:
        service.update_task(
            db, actor, task, form_to_data(form, FORM_FIELDS, db, service.RECORD_TYPE), _version(form)
        )
    except ValidationFailed as exc:
        db.rollback()
        return render(
            request,
            "tasks/form.html",
            status_code=422,
            task=task,
            values=dict(form),
            errors=form_errors(exc, actor.language),
            **_form_context(db, actor, dict(form)),
        )
    return redirect(f"/tasks/{task.id}", flash=_t(actor, "Changes saved"), request=request)


@router.post("/{task_id}/complete")
async def complete(task_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    task = service.get_task(db, actor, task_id)
    service.complete_task(db, actor, task)
    return redirect(f"/tasks/{task.id}", flash=_t(actor, "Task completed"), request=request)


@router.post("/{task_id}/delete")
async def delete(task_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    task = service.get_task(db, actor, task_id)
    service.delete_task(db, actor, task)
    return redirect("/tasks", flash=_t(actor, "Task deleted"), request=request)
