"""The import wizard: file, mapping, preview, progress, report (and undo)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from carnet.api.deps import DbDep
from carnet.core.errors import DomainError, ValidationFailed
from carnet.core.i18n import gettext
from carnet.imports import api as imports_api
from carnet.imports import service
from carnet.imports.models import ImportJob
from carnet.web.shell import WebActor, form_errors, redirect, render

router = APIRouter(prefix="/imports", include_in_schema=False)

STATUS_LABELS = {
    "uploaded": "Uploaded",
    "mapped": "Mapped",
    "running": "Running",
    "done": "Done",
    "failed": "Failed",
    "undoing": "Undoing",
    "undone": "Undone",
}
DUPLICATE_LABELS = {
    "skip": "Skip the row (keep the existing record)",
    "update": "Update the existing record",
    "create": "Create another record",
}
STEPS = ("File", "Mapping", "Preview", "Import", "Report")


def _common(job: ImportJob | None = None, step: int = 0) -> dict:
    return {
        "job": job,
        "steps": STEPS,
        "step": step,
        "status_labels": STATUS_LABELS,
        "importer": service.importer_for(job.record_type) if job else None,
    }


def _list(
    request: Request, db: DbDep, actor: WebActor, status_code: int = 200, error: str | None = None
) -> Response:
    writable = [i for i in service.importers() if actor.can(f"{i.module}:create")]
    return render(
        request,
        "imports/list.html",
        status_code=status_code,
        jobs=service.list_jobs(db, actor) if service.can_read(actor) else [],
        importers=writable,
        type_labels={i.record_type: i.label for i in service.importers()},
        error=error,
        can_import=actor.can("imports:create") and bool(writable),
        **_common(),
    )


@router.get("")
def list_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    return _list(request, db, actor)


@router.post("")
async def upload(request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    upload_file = form.get("file")
    if not isinstance(upload_file, UploadFile) or not upload_file.filename:
        return _list(request, db, actor, 422, gettext("Choose a file", actor.language))
    try:
        job = service.create_job(
            db, actor, str(form.get("record_type") or ""), upload_file.filename, upload_file.file
        )
    except ValidationFailed as exc:
        db.rollback()
        message = next(iter(form_errors(exc, actor.language).values()), "")
        return _list(request, db, actor, 422, message)
    return redirect(f"/imports/{job.id}", request=request)


@router.get("/{job_id}")
def job_page(job_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    job = service.get_job(db, actor, job_id)
    if job.status in ("uploaded", "mapped"):
        return _mapping(request, db, actor, job)
    if job.status in ("running", "undoing"):
        return render(request, "imports/progress.html", stale=service.is_stale(job), **_common(job, 3))
    return _report(request, db, actor, job)


def _mapping(
    request: Request,
    db: DbDep,
    actor: WebActor,
    job: ImportJob,
    errors: dict | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "imports/mapping.html",
        status_code=status_code,
        fields=service.fields_for(db, job),
        samples=service.samples(job),
        duplicate_labels=DUPLICATE_LABELS,
        errors=errors or {},
        **_common(job, 1),
    )


@router.post("/{job_id}/mapping")
async def save_mapping(job_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    job = service.get_job(db, actor, job_id)
    form = await request.form()
    mapping = {h: str(form.get(f"map-{i}") or "") or None for i, h in enumerate(job.headers)}
    keys = [str(k) for k in form.getlist("match_keys")]
    try:
        service.set_mapping(db, actor, job, mapping, str(form.get("duplicate_mode") or "skip"), keys)
    except ValidationFailed as exc:
        db.rollback()
        job.mapping = mapping  # show the user's choices again, with the errors
        return _mapping(request, db, actor, job, form_errors(exc, actor.language), 422)
    return redirect(f"/imports/{job.id}/preview", request=request)


@router.get("/{job_id}/preview")
def preview_page(job_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    job = service.get_job(db, actor, job_id)
    if job.status not in ("uploaded", "mapped"):
        return redirect(f"/imports/{job.id}")
    rows = service.preview(db, actor, job)
    fields = service.fields_for(db, job)
    mapped = [k for k in dict.fromkeys((job.mapping or {}).values()) if k]
    return render(
        request,
        "imports/preview.html",
        rows=rows,
        columns=[fields[k] for k in mapped if k in fields],
        errors_of=lambda row: imports_api.errors_read(job, row.errors, actor),
        **_common(job, 2),
    )


@router.post("/{job_id}/run")
async def run(job_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    job = service.get_job(db, actor, job_id)
    service.start_import(db, actor, job)
    return redirect(f"/imports/{job.id}", request=request)


@router.get("/{job_id}/progress")
def progress(job_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    """Polled every second by the progress page; once finished, the page reloads into the report."""
    job = service.get_job(db, actor, job_id)
    if job.status not in ("running", "undoing"):
        return Response(status_code=204, headers={"HX-Redirect": f"/imports/{job.id}"})
    return render(request, "imports/_progress.html", stale=service.is_stale(job), **_common(job, 3))


def _report(request: Request, db: DbDep, actor: WebActor, job: ImportJob) -> Response:
    failed = service.report_rows(db, job, "failed", limit=200)
    return render(
        request,
        "imports/report.html",
        failed_rows=failed,
        errors_of=lambda row: imports_api.errors_read(job, row.errors or [], actor),
        can_undo=job.status == "done" and (job.created or job.updated) > 0,
        **_common(job, 4),
    )


@router.get("/{job_id}/report.csv")
def report_csv(job_id: int, db: DbDep, actor: WebActor) -> Response:
    job = service.get_job(db, actor, job_id)
    return imports_api.report_file(db, job, actor)


@router.post("/{job_id}/undo")
async def undo(job_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    job = service.get_job(db, actor, job_id)
    try:
        service.start_undo(db, actor, job)
    except DomainError as exc:
        db.rollback()
        flash = gettext(exc.message, actor.language, **exc.params)
        return redirect(f"/imports/{job.id}", flash=flash, request=request)
    return redirect(
        f"/imports/{job.id}", flash=gettext("Undoing the import…", actor.language), request=request
    )
