"""The jobs admin page: queues, due and failed jobs with their error, retry and cancel."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from carnet.api.deps import DbDep
from carnet.background import service
from carnet.core.errors import (
    Conflict,
    ValidationFailed,
)
from carnet.settings import get_settings
from carnet.settings_ui.forms import error_message, t
from carnet.web.shell import WebActor, form_errors, redirect, render

router = APIRouter(include_in_schema=False)

FILTERS = ("status", "queue", "name")
BACK = "/settings/jobs"


@router.get("/settings/jobs")
def jobs_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    raw = {k: v for k, v in request.query_params.items() if k in (*FILTERS, "cursor")}
    errors: dict[str, str] = {}
    rows: list = []
    cursor = None
    try:
        rows, cursor = service.list_jobs(db, actor, raw)
    except ValidationFailed as exc:
        errors = form_errors(exc, actor.language)
    return render(
        request,
        "background/jobs.html",
        status_code=422 if errors else 200,
        jobs=rows,
        next_cursor=cursor,
        counts=service.counts(db, actor),
        lag=service.runner_lag(db),
        runner=get_settings().runner,
        filters={k: raw[k] for k in FILTERS if raw.get(k)},
        errors=errors,
    )


@router.post("/settings/jobs/{job_id}/retry")
async def retry_job(job_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    try:
        job = service.retry_job(db, actor, job_id)
    except Conflict as exc:
        return redirect(BACK, flash=error_message(actor, exc), request=request)
    return redirect(BACK, flash=t(actor, "Job #{id} will run now", id=job.id), request=request)


@router.post("/settings/jobs/{job_id}/cancel")
async def cancel_job(job_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    try:
        job = service.cancel_job(db, actor, job_id)
    except Conflict as exc:
        return redirect(BACK, flash=error_message(actor, exc), request=request)
    return redirect(BACK, flash=t(actor, "Job #{id} cancelled", id=job.id), request=request)
