"""JSON routes for imports: upload, mapping, preview, run, status, report, undo."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import Response
from sqlalchemy.orm import Session

from carnet.api.common import Page
from carnet.api.deps import ActorDep, DbDep
from carnet.core.context import Actor
from carnet.core.errors import ValidationFailed
from carnet.imports import service
from carnet.imports.models import ROW_STATUSES, ImportJob, ImportRow
from carnet.imports.schemas import (
    ImportJobRead,
    ImportMappingWrite,
    PreviewRead,
    ReportPage,
)

router = APIRouter(prefix="/imports", tags=["imports"])


def job_read(db: Session, job: ImportJob) -> dict[str, Any]:
    fields = service.fields_for(db, job)
    return {
        **{c: getattr(job, c) for c in ImportJobRead.model_fields if hasattr(ImportJob, c)},
        "mapping": {h: (job.mapping or {}).get(h) for h in job.headers},
        "progress": service.progress(job),
        "fields": [
            {"key": f.key, "label": f.label, "required": f.required, "many": f.many} for f in fields.values()
        ],
    }


def errors_read(job: ImportJob, errors: list[dict[str, Any]], actor: Actor) -> list[dict[str, Any]]:
    return [
        {
            "field": e.get("field") or "",
            "column": service.column_of(job, e.get("field") or ""),
            "code": e.get("code") or "invalid",
            "message": service.error_text(e, actor.language),
        }
        for e in errors
    ]


def _row_read(job: ImportJob, row: ImportRow, actor: Actor) -> dict[str, Any]:
    return {
        "line": row.line,
        "status": row.status,
        "record_id": row.record_id,
        "note": row.note,
        "errors": errors_read(job, row.errors or [], actor),
        "undo_status": row.undo_status,
        "undo_note": row.undo_note,
    }


def report_file(db: Session, job: ImportJob, actor: Actor) -> Response:
    """The failed rows as a CSV download (built here: the request's session ends with the route)."""
    content = "".join(service.report_csv(db, job, actor.language)).encode("utf-8")
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{job.id}-errors.csv"'},
    )


@router.get("", response_model=Page[ImportJobRead])
def list_imports(db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Your imports, newest first (administrators see everyone's)."""
    return {"items": [job_read(db, j) for j in service.list_jobs(db, actor)], "next_cursor": None}


@router.post("", status_code=201, response_model=ImportJobRead)
def upload(
    db: DbDep,
    actor: ActorDep,
    file: UploadFile = File(...),
    record_type: str = Form(..., description="`organisation` (or the module name, `organisations`)"),
) -> dict[str, Any]:
    """Upload a CSV (`;` or `,`, UTF-8 or Windows-1252) or XLSX file. The answer holds the file's
    columns, the importable fields and a suggested `mapping`. Larger than CARNET_IMPORT_MAX_BYTES: 413."""
    job = service.create_job(db, actor, record_type, file.filename or "import", file.file)
    return job_read(db, job)


@router.get("/{job_id}", response_model=ImportJobRead)
def get_import(job_id: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Status and counts; poll it while `status` is `running`."""
    return job_read(db, service.get_job(db, actor, job_id))


@router.post("/{job_id}/mapping", response_model=ImportJobRead)
def set_mapping(job_id: int, body: ImportMappingWrite, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Confirm which column goes to which field, and what to do with duplicates (`skip`, `update`
    or `create`), matched on `match_keys` (for organisations: `siret`, `siren`)."""
    job = service.get_job(db, actor, job_id)
    job = service.set_mapping(db, actor, job, body.mapping, body.duplicate_mode, body.match_keys)
    return job_read(db, job)


@router.get("/{job_id}/preview", response_model=PreviewRead)
def preview(job_id: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """The first 20 rows as they would be imported, each validated by the real service in a
    transaction that is rolled back."""
    job = service.get_job(db, actor, job_id)
    rows = service.preview(db, actor, job)
    return {
        "items": [
            {
                "line": r.line,
                "action": r.action,
                "values": r.values,
                "errors": errors_read(job, r.errors, actor),
            }
            for r in rows
        ]
    }


@router.post("/{job_id}/run", status_code=202, response_model=ImportJobRead)
def run(job_id: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Start the import in the background; poll `GET /imports/{id}` for progress."""
    job = service.start_import(db, actor, service.get_job(db, actor, job_id))
    return job_read(db, job)


@router.get("/{job_id}/report", response_model=ReportPage)
def report(
    job_id: int,
    db: DbDep,
    actor: ActorDep,
    status: str | None = Query(None, description="created, updated, skipped or failed"),
    cursor: str | None = None,
    limit: int = Query(200, ge=1, le=1000),
    format: str = Query("json", description="`json`, or `csv` for the failed rows as a file"),
) -> Any:
    """One entry per row with its line number (the header is line 1) and, for failed rows, the
    reasons. `format=csv` downloads the failed rows with their original cells."""
    job = service.get_job(db, actor, job_id)
    if format == "csv":
        return report_file(db, job, actor)
    if format != "json":
        raise ValidationFailed.on("format", "Choose one of: {values}", "invalid_choice", values="json, csv")
    if status is not None and status not in ROW_STATUSES:
        raise ValidationFailed.on(
            "status", "Choose one of: {values}", "invalid_choice", values=", ".join(ROW_STATUSES)
        )
    try:
        after = int(cursor) if cursor else 0
    except ValueError:
        raise ValidationFailed.on("cursor", "Invalid cursor", "invalid_cursor")
    rows = service.report_rows(db, job, status, after, limit + 1)
    next_cursor = str(rows[limit - 1].line) if len(rows) > limit else None
    return {"items": [_row_read(job, r, actor) for r in rows[:limit]], "next_cursor": next_cursor}


@router.post("/{job_id}/undo", status_code=202, response_model=ImportJobRead)
def undo(job_id: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Delete the records the import created and restore those it updated (records changed
    since the import are kept). Runs in the background; the status becomes `undone`."""
    job = service.start_undo(db, actor, service.get_job(db, actor, job_id))
    return job_read(db, job)
