"""Settings pages for pipelines and their stages (people who manage pipelines only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from carnet.accounts import service as accounts
from carnet.api.deps import DbDep
from carnet.core.context import Actor
from carnet.core.errors import DomainError, PermissionDenied
from carnet.core.i18n import gettext
from carnet.deals import pipelines
from carnet.deals.models import STAGE_KINDS, Pipeline
from carnet.web.shell import WebActor, form_errors, redirect, render

router = APIRouter(prefix="/settings/pipelines")


def _require(actor: Actor) -> None:
    if not pipelines.can_manage(actor):
        raise PermissionDenied()


def _message(exc: DomainError, actor: Actor) -> str:
    if exc.errors:
        return "; ".join(form_errors(exc, actor.language).values())  # type: ignore[arg-type]
    return gettext(exc.message, actor.language, **exc.params)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _stage_data(form: Any) -> dict[str, Any]:
    """Stage fields from a form; numbers that do not parse are passed on for the service to refuse."""
    data: dict[str, Any] = {}
    for key in ("name", "kind", "color"):
        if key in form:
            data[key] = str(form.get(key) or "").strip()
    for key in ("probability", "rotting_days"):
        if key in form:
            raw = str(form.get(key) or "").strip()
            data[key] = _int(raw) if raw.lstrip("-").isdigit() else (None if raw == "" else raw)
    return data


def _list_page(
    request: Request, db: Session, actor: Actor, status: int = 200, error: str | None = None
) -> Response:
    rows = pipelines.list_pipelines(db, actor, include_inactive=True)
    stage_map = pipelines.stages_of(db, [p.id for p in rows])
    counts = pipelines.deal_counts(db, [p.id for p in rows])
    return render(
        request,
        "deals/settings_pipelines.html",
        status_code=status,
        rows=rows,
        stage_map=stage_map,
        deal_totals={p.id: sum(counts.get(s.id, 0) for s in stage_map.get(p.id, [])) for p in rows},
        departments={d.id: d.name for d in accounts.list_departments(db)},
        error=error,
    )


def _edit_page(
    request: Request,
    db: Session,
    actor: Actor,
    pipeline: Pipeline,
    status: int = 200,
    error: str | None = None,
) -> Response:
    stage_list = pipelines.stages(db, pipeline)
    return render(
        request,
        "deals/settings_pipeline.html",
        status_code=status,
        pipeline=pipeline,
        stages=stage_list,
        counts=pipelines.deal_counts(db, [pipeline.id]),
        departments=accounts.list_departments(db),
        kinds=STAGE_KINDS,
        error=error,
    )


@router.get("")
def list_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    _require(actor)
    return _list_page(request, db, actor)


@router.post("")
async def create(request: Request, db: DbDep, actor: WebActor) -> Response:
    _require(actor)
    form = await request.form()
    data = {"name": str(form.get("name") or ""), "department_id": _int(form.get("department_id"))}
    try:
        pipeline = pipelines.create_pipeline(db, actor, data)
    except DomainError as exc:
        db.rollback()
        return _list_page(request, db, actor, exc.status, _message(exc, actor))
    return redirect(
        f"/settings/pipelines/{pipeline.id}",
        flash=gettext("Pipeline created", actor.language),
        request=request,
    )


@router.get("/{pipeline_id}")
def edit_page(pipeline_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    _require(actor)
    return _edit_page(request, db, actor, pipelines.get_pipeline(db, actor, pipeline_id))


async def _run(
    request: Request, db: Session, actor: Actor, pipeline_id: int, action: Any, done: str
) -> Response:
    """Run one settings action; errors re-render the page with the message."""
    _require(actor)
    pipeline = pipelines.get_pipeline(db, actor, pipeline_id)
    form = await request.form()
    try:
        action(pipeline, form)
    except DomainError as exc:
        db.rollback()
        pipeline = pipelines.get_pipeline(db, actor, pipeline_id)
        return _edit_page(request, db, actor, pipeline, exc.status, _message(exc, actor))
    return redirect(
        f"/settings/pipelines/{pipeline_id}", flash=gettext(done, actor.language), request=request
    )


@router.post("/{pipeline_id}")
async def update(pipeline_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    def action(pipeline: Pipeline, form: Any) -> None:
        data = {
            "name": str(form.get("name") or ""),
            "department_id": _int(form.get("department_id")),
            "is_default": form.get("is_default") == "1",
            "active": form.get("active") == "1",
        }
        pipelines.update_pipeline(db, actor, pipeline, data, _int(form.get("version")))

    return await _run(request, db, actor, pipeline_id, action, "Changes saved")


@router.post("/{pipeline_id}/delete")
async def delete(pipeline_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    _require(actor)
    pipeline = pipelines.get_pipeline(db, actor, pipeline_id)
    try:
        pipelines.delete_pipeline(db, actor, pipeline)
    except DomainError as exc:
        db.rollback()
        pipeline = pipelines.get_pipeline(db, actor, pipeline_id)
        return _edit_page(request, db, actor, pipeline, exc.status, _message(exc, actor))
    return redirect("/settings/pipelines", flash=gettext("Pipeline deleted", actor.language), request=request)


@router.post("/{pipeline_id}/stages")
async def create_stage(pipeline_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    def action(pipeline: Pipeline, form: Any) -> None:
        pipelines.create_stage(db, actor, pipeline, _stage_data(form))

    return await _run(request, db, actor, pipeline_id, action, "Stage added")


@router.post("/{pipeline_id}/stages/{stage_id}")
async def update_stage(
    pipeline_id: int, stage_id: int, request: Request, db: DbDep, actor: WebActor
) -> Response:
    def action(pipeline: Pipeline, form: Any) -> None:
        stage = pipelines.get_stage(db, pipeline, stage_id)
        pipelines.update_stage(db, actor, pipeline, stage, _stage_data(form))

    return await _run(request, db, actor, pipeline_id, action, "Changes saved")


@router.post("/{pipeline_id}/stages/{stage_id}/move")
async def move_stage(
    pipeline_id: int, stage_id: int, request: Request, db: DbDep, actor: WebActor
) -> Response:
    """Up / down buttons: one position earlier or later."""

    def action(pipeline: Pipeline, form: Any) -> None:
        stage = pipelines.get_stage(db, pipeline, stage_id)
        step = -1 if form.get("direction") == "up" else 1
        pipelines.update_stage(db, actor, pipeline, stage, {"position": max(0, stage.position + step)})

    return await _run(request, db, actor, pipeline_id, action, "Changes saved")


@router.post("/{pipeline_id}/stages/{stage_id}/delete")
async def delete_stage(
    pipeline_id: int, stage_id: int, request: Request, db: DbDep, actor: WebActor
) -> Response:
    def action(pipeline: Pipeline, form: Any) -> None:
        stage = pipelines.get_stage(db, pipeline, stage_id)
        pipelines.delete_stage(db, actor, pipeline, stage, _int(form.get("target_stage_id")))

    return await _run(request, db, actor, pipeline_id, action, "Stage deleted")
