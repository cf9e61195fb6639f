"""Imports: upload, column mapping, preview, the run in chunks, the report and the undo.

Record types plug in through `core.importing` (each domain's `transfer.py`, loaded here); every
record is written through its domain service, so validation, permissions, audit entries, events
and the search index are the same as for a record typed in by hand.

The run is set-based: rows are read CHUNK_SIZE at a time, every row of the chunk is validated in
Python, duplicates are looked up for the whole chunk in a few queries, and the valid rows are
written with one statement per table (records, links, tags, search documents, events, audit
entries). A bad row is reported and writes nothing; it never stops the good ones. Each chunk is
one transaction together with its row outcomes and the job's counters, so the progress the UI
polls is always consistent with the rows written, and a run that died (a restart) resumes after
the last committed chunk. Should the database still refuse a chunk, that chunk alone is redone
row by row, each row on a savepoint.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from carnet.core import audit, clock, housekeeping, i18n, importing
from carnet.core.context import Actor
from carnet.core.db import Database, get_database, insert_rows
from carnet.core.errors import (
    Conflict,
    DomainError,
    FieldError,
    FieldErrors,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    ValidationFailed,
)
from carnet.core.importing import DUPLICATE_MODES, Importer, ImportField
from carnet.core.jobs import enqueue as enqueue_job
from carnet.imports import files
from carnet.imports.models import ImportJob, ImportRow
from carnet.settings import get_settings

log = logging.getLogger("carnet.imports")

# Rows per transaction of a run. A chunk appends its audit entries last, so the audit chain's lock
# (core/audit.py) is held for milliseconds whatever the size; the size bounds memory and how much a
# crash makes the run redo.
CHUNK_SIZE = 1000
UNDO_BATCH_SIZE = 50  # the undo goes through the services record by record
PREVIEW_ROWS = 20
STALE_AFTER = timedelta(minutes=5)  # a running job without a heartbeat for this long may resume
RECORD_TYPE = "import"


# -- plug-ins ---------------------------------------------------------------------------------------


def _load_plugins() -> None:
    """Import every `carnet.<domain>.transfer` module: each registers its importer/exporter."""
    import importlib
    import importlib.util
    import pkgutil

    import carnet

    for module in pkgutil.iter_modules(carnet.__path__):
        if not module.ispkg:
            continue
        name = f"carnet.{module.name}.transfer"
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)


def importer_for(record_type: str) -> Importer:
    found = importing.find(record_type)
    if found is None:
        _load_plugins()
        found = importing.find(record_type)
    if found is None:
        raise ValidationFailed.on("record_type", "This kind of record cannot be imported", "unknown")
    return found


def importers() -> list[Importer]:
    _load_plugins()
    return list(importing.REGISTRY.values())


# -- jobs -------------------------------------------------------------------------------------------


def can_read(actor: Actor) -> bool:
    return actor.can("imports:read") or actor.can("imports:create")


def get_job(db: Session, actor: Actor, job_id: Any) -> ImportJob:
    """The job if it is the actor's (admins see every job); NotFound otherwise."""
    try:
        job = db.get(ImportJob, int(job_id))
    except (TypeError, ValueError):
        raise NotFound()
    if job is None or not can_read(actor) or (job.user_id != actor.user_id and not actor.is_admin):
        raise NotFound()
    return job


def list_jobs(db: Session, actor: Actor, limit: int = 50) -> list[ImportJob]:
    if not can_read(actor):
        raise PermissionDenied()
    stmt = select(ImportJob).order_by(ImportJob.id.desc()).limit(limit)
    if not actor.is_admin:
        stmt = stmt.where(ImportJob.user_id == actor.user_id)
    return list(db.scalars(stmt))


def fields_for(db: Session, job: ImportJob) -> dict[str, ImportField]:
    return importer_for(job.record_type).all_fields(db)


def progress(job: ImportJob) -> int:
    """Percentage of rows processed (100 once finished)."""
    if job.status in ("done", "undone", "undoing"):
        return 100
    return int(job.processed * 100 / job.total) if job.total else 0


def _require_write(actor: Actor, importer: Importer, duplicate_mode: str | None = None) -> None:
    """`imports:create` plus the record module's create (and update when duplicates update);
    before a mode is chosen, create or update."""
    module = importer.module
    if duplicate_mode is None:
        allowed = actor.can(f"{module}:create") or actor.can(f"{module}:update")
    elif duplicate_mode == "update":
        allowed = actor.can(f"{module}:create") and actor.can(f"{module}:update")
    else:
        allowed = actor.can(f"{module}:create")
    if not (allowed and actor.can("imports:create")):
        raise PermissionDenied()


def _storage() -> Path:
    folder = Path(get_settings().storage_dir) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _path(job: ImportJob) -> Path:
    return Path(get_settings().storage_dir) / job.stored_path


def create_job(db: Session, actor: Actor, record_type: str, filename: str, content: IO[bytes]) -> ImportJob:
    """Store the uploaded file, detect its format and headers, suggest a mapping."""
    importer = importer_for(record_type)
    _require_write(actor, importer)
    limit = get_settings().import_max_bytes
    filename = Path(filename or "import").name[:255] or "import"
    suffix = ".xlsx" if filename.lower().endswith(".xlsx") else ".csv"
    stored = Path("imports") / f"{uuid.uuid4().hex}{suffix}"
    target = _storage() / stored.name
    size = 0
    with target.open("wb") as out:
        while chunk := content.read(1024 * 1024):
            size += len(chunk)
            if size > limit:
                out.close()
                target.unlink(missing_ok=True)
                raise PayloadTooLarge("The file is larger than {limit} MB", limit=limit // (1024 * 1024) or 1)
            out.write(chunk)
    try:
        info = files.inspect(target, filename)
    except files.UnreadableFile as exc:
        target.unlink(missing_ok=True)
        raise ValidationFailed.on("file", str(exc), "unreadable")
    if info.file_format == "xlsx" and suffix != ".xlsx":
        renamed = target.with_suffix(".xlsx")
        target.rename(renamed)
        stored = stored.with_suffix(".xlsx")
    fields = importer.all_fields(db)
    job = ImportJob(
        user_id=actor.user_id,
        record_type=importer.record_type,
        filename=filename,
        stored_path=str(stored),
        file_format=info.file_format,
        encoding=info.encoding,
        delimiter=info.delimiter,
        size=size,
        headers=info.headers,
        status="uploaded",
        mapping=importing.suggest_mapping(fields, info.headers),
        duplicate_mode="skip",
        match_keys=list(importer.match_keys),
        total=info.total,
        created_at=clock.now(),
    )
    db.add(job)
    db.commit()
    return job


def set_mapping(
    db: Session,
    actor: Actor,
    job: ImportJob,
    mapping: dict[str, str | None],
    duplicate_mode: str = "skip",
    match_keys: list[str] | None = None,
) -> ImportJob:
    importer = importer_for(job.record_type)
    if job.status not in ("uploaded", "mapped"):
        raise Conflict("This import has already run")
    errors = FieldErrors()
    if duplicate_mode not in DUPLICATE_MODES:
        errors.add(
            "duplicate_mode", "Choose one of: {values}", "invalid_choice", values=", ".join(DUPLICATE_MODES)
        )
    else:
        _require_write(actor, importer, duplicate_mode)
    keys = list(importer.match_keys) if match_keys is None else match_keys
    for key in keys:
        if key not in importer.match_keys:
            errors.add(
                "match_keys",
                "Choose among: {values}",
                "invalid_choice",
                values=", ".join(importer.match_keys),
            )
    clean = importing.check_mapping(importer.all_fields(db), job.headers, mapping, errors)
    errors.raise_if_any()
    job.mapping = {h: clean.get(h) for h in job.headers}
    job.duplicate_mode = duplicate_mode
    job.match_keys = keys
    job.status = "mapped"
    db.commit()
    return job


def samples(job: ImportJob, per_column: int = 3, max_rows: int = 50) -> dict[str, list[str]]:
    """A few non-empty values of each column, to help choose the mapping."""
    out: dict[str, list[str]] = {h: [] for h in job.headers}
    for count, (_line, cells) in enumerate(files.rows(_path(job), _info(job)), start=1):
        for header, value in cells.items():
            if value.strip() and len(out[header]) < per_column:
                out[header].append(value.strip()[:80])
        if count >= max_rows:
            break
    return out


# -- rows, a chunk at a time ------------------------------------------------------------------------


@dataclass
class RowOutcome:
    line: int
    status: str  # created | updated | skipped | failed
    record_id: int | None = None
    record_version: int | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    previous: dict[str, Any] | None = None
    note: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def _error_dicts(errors: list[FieldError]) -> list[dict[str, Any]]:
    return [
        {"field": e.field, "code": e.code, "message": e.message, "params": audit.jsonable(e.params)}
        for e in errors
    ]


def _failed(line: int, exc: DomainError, data: dict[str, Any]) -> RowOutcome:
    found = exc.errors or [FieldError("", exc.message, exc.code, exc.params)]
    return RowOutcome(line, "failed", errors=_error_dicts(found), data=data)


@dataclass
class _Context:
    importer: Importer
    fields: dict[str, ImportField]
    mapping: dict[str, str]
    duplicate_mode: str
    match_keys: tuple[str, ...]

    @classmethod
    def of(cls, db: Session, job: ImportJob) -> _Context:
        importer = importer_for(job.record_type)
        mapping = {h: k for h, k in (job.mapping or {}).items() if k}
        return cls(
            importer, importer.all_fields(db), mapping, job.duplicate_mode, tuple(job.match_keys or ())
        )

    @property
    def matching(self) -> bool:
        return self.duplicate_mode != "create" and bool(self.match_keys)


def _apply_chunk(
    db: Session, actor: Actor, ctx: _Context, rows: list[tuple[int, dict[str, str]]]
) -> list[RowOutcome]:
    """Validate and write a chunk of rows through the record type's set-based service calls,
    without committing. Every row gets an outcome, in file order; a bad row is reported and
    writes nothing, the others are written.

    Rows that share a duplicate key with an earlier row of the chunk (the same SIREN twice in a
    file) wait for a later pass, so that they find the record the earlier row wrote, as they
    would if the file were imported row by row."""
    importer = ctx.importer
    outcomes: dict[int, RowOutcome] = {}
    pending: list[tuple[int, dict[str, Any]]] = []
    built = []
    for line, cells in rows:
        data, errors = importing.build_data(db, importer.record_type, ctx.fields, ctx.mapping, cells)
        if errors:
            outcomes[line] = RowOutcome(line, "failed", errors=_error_dicts(errors.errors), data=data)
        else:
            built.append((line, data))
    prepared = (
        importer.prepare(db, actor, [d for _, d in built]) if importer.prepare else [d for _, d in built]
    )
    for (line, data), result in zip(built, prepared, strict=True):
        if isinstance(result, DomainError):
            outcomes[line] = _failed(line, result, data)
        else:
            pending.append((line, result))
    while pending:
        found: list[Any] = [None] * len(pending)
        if ctx.matching:
            try:
                found = importer.find_existing(db, actor, [d for _, d in pending], ctx.match_keys)
            except DomainError as exc:  # the actor may not read these records: no row can be written
                outcomes.update({line: _failed(line, exc, data) for line, data in pending})
                break
        creates: list[tuple[int, dict[str, Any]]] = []
        updates: list[tuple[int, Any, dict[str, Any]]] = []
        later: list[tuple[int, dict[str, Any]]] = []
        seen_keys: set[tuple[str, str]] = set()
        seen_ids: set[int] = set()
        for (line, data), existing in zip(pending, found, strict=True):
            keys = importer.match_values(data, ctx.match_keys) if ctx.matching else set()
            if keys & seen_keys or (existing is not None and existing.id in seen_ids):
                later.append((line, data))
                continue
            seen_keys |= keys
            if existing is None:
                creates.append((line, data))
                continue
            seen_ids.add(existing.id)
            if ctx.duplicate_mode == "skip":
                outcomes[line] = RowOutcome(line, "skipped", existing.id, note="Already exists", data=data)
            else:
                updates.append((line, existing, data))
        if updates:
            assert importer.update_many is not None  # record types with duplicate keys can update
            results = _all_or_error(importer.update_many, db, actor, [(r, d) for _, r, d in updates])
            for (line, _, data), result in zip(updates, results, strict=True):
                if isinstance(result, DomainError):
                    outcomes[line] = _failed(line, result, data)
                elif not result.changed:
                    outcomes[line] = RowOutcome(
                        line, "skipped", result.record.id, note="Already up to date", data=data
                    )
                else:
                    outcomes[line] = RowOutcome(
                        line,
                        "updated",
                        result.record.id,
                        result.record.version,
                        previous=audit.jsonable(result.previous),
                        data=data,
                    )
        if creates:
            records = _all_or_error(importer.create_many, db, actor, [d for _, d in creates])
            for (line, data), record in zip(creates, records, strict=True):
                if isinstance(record, DomainError):
                    outcomes[line] = _failed(line, record, data)
                else:
                    outcomes[line] = RowOutcome(line, "created", record.id, record.version, data=data)
        db.flush()
        pending = later
    return [outcomes[line] for line, _ in rows]


def _all_or_error(
    write: Callable[[Session, Actor, list[Any]], list[Any]], db: Session, actor: Actor, items: list[Any]
) -> list[Any]:
    """The results of a set-based write, or its error for every row when it refused them all
    (the actor lost the permission to create or update since the import started)."""
    try:
        return write(db, actor, items)
    except DomainError as exc:
        return [exc] * len(items)


def _apply_rows_one_by_one(
    db: Session, actor: Actor, ctx: _Context, rows: list[tuple[int, dict[str, str]]]
) -> list[RowOutcome]:
    """When the database refused a whole chunk (a constraint validation cannot see, a deadlock),
    each row on its own savepoint: only the row the database refuses fails."""
    outcomes = []
    for line, cells in rows:
        try:
            with db.begin_nested():
                outcomes += _apply_chunk(db, actor, ctx, [(line, cells)])
        except SQLAlchemyError:
            log.exception("import row %s could not be saved", line)
            error = FieldError("", "This row could not be saved", "database_error")
            outcomes.append(RowOutcome(line, "failed", errors=_error_dicts([error])))
    return outcomes


# -- preview ----------------------------------------------------------------------------------------


@dataclass
class PreviewRow:
    line: int
    action: str  # create | update | skip | error
    values: dict[str, Any]
    errors: list[dict[str, Any]]


_ACTIONS = {"created": "create", "updated": "update", "skipped": "skip", "failed": "error"}


def preview(db: Session, actor: Actor, job: ImportJob, limit: int = PREVIEW_ROWS) -> list[PreviewRow]:
    """What the first rows would do, validated and written by the real services in a transaction
    that is rolled back: nothing is kept."""
    if job.status not in ("uploaded", "mapped"):
        raise Conflict("This import has already run")
    ctx = _Context.of(db, job)
    _require_write(actor, ctx.importer, job.duplicate_mode)
    rows = list(itertools.islice(files.rows(_path(job), _info(job)), limit))
    scratch = get_database().session()
    try:
        outcomes = _apply_chunk(scratch, actor, ctx, rows)
    finally:
        scratch.rollback()
        scratch.close()
    return [PreviewRow(o.line, _ACTIONS[o.status], o.data, o.errors) for o in outcomes]


def _info(job: ImportJob) -> files.FileInfo:
    return files.FileInfo(job.file_format, job.encoding, job.delimiter, list(job.headers), job.total)


# -- the run ----------------------------------------------------------------------------------------


def is_stale(job: ImportJob) -> bool:
    """A running import or undo whose worker stopped (the server restarted): it may resume."""
    return job.status in ("running", "undoing") and (
        job.heartbeat_at is None or job.heartbeat_at < clock.now() - STALE_AFTER
    )


def start_import(db: Session, actor: Actor, job: ImportJob) -> ImportJob:
    """Mark the import running (or resume a stale run) and enqueue its `imports.run` job in the
    same transaction; the job runner then calls `run_import`."""
    importer = importer_for(job.record_type)
    _require_write(actor, importer, job.duplicate_mode)
    if job.status == "uploaded":
        raise Conflict("Confirm the column mapping first")
    if job.status == "running" and not is_stale(job):
        raise Conflict("This import is already running")
    if job.status not in ("mapped", "running"):
        raise Conflict("This import has already run")
    job.status = "running"
    job.started_at = job.started_at or clock.now()
    job.heartbeat_at = clock.now()
    _enqueue(db, actor, "imports.run", job)
    db.commit()
    return job


def run_import(job_id: int, actor: Actor) -> None:
    """Process every row not yet processed, chunk after chunk, then finish the job. Runs on its
    own sessions (in a background thread, in the CLI, or inline in tests)."""
    database = get_database()
    with database.begin() as db:
        job = db.get(ImportJob, job_id)
        if job is None or job.status != "running":
            return
        info = _info(job)
        path = _path(job)
        ctx = _Context.of(db, job)
        last_line = db.scalar(select(func.max(ImportRow.line)).where(ImportRow.job_id == job_id)) or 0
    try:
        chunk: list[tuple[int, dict[str, str]]] = []
        for row in files.rows(path, info, after_line=last_line):
            chunk.append(row)
            if len(chunk) >= CHUNK_SIZE:
                _run_chunk(database, actor, job_id, ctx, chunk)
                chunk = []
        if chunk:
            _run_chunk(database, actor, job_id, ctx, chunk)
    except files.UnreadableFile as exc:  # the file changed or vanished since the upload
        _finish(database, actor, job_id, "failed", str(exc)[:1000])
        return
    except Exception:  # the database went away...: the job says so, the log says why
        log.exception("import %s failed", job_id)
        _finish(database, actor, job_id, "failed", "The import stopped because of an unexpected error")
        return
    _finish(database, actor, job_id, "done", None)


def _run_chunk(
    database: Database, actor: Actor, job_id: int, ctx: _Context, chunk: list[tuple[int, dict[str, str]]]
) -> None:
    """One transaction: the chunk's records (with their audit entries, events and search
    documents), its row outcomes in one insert and the job's counters, committed together."""
    try:
        with database.begin() as db:
            _record_chunk(db, job_id, chunk, _apply_chunk(db, actor, ctx, chunk))
    except SQLAlchemyError:
        log.warning(
            "import %s: a chunk from line %s is retried row by row", job_id, chunk[0][0], exc_info=True
        )
        with database.begin() as db:
            _record_chunk(db, job_id, chunk, _apply_rows_one_by_one(db, actor, ctx, chunk))


def _record_chunk(
    db: Session, job_id: int, chunk: list[tuple[int, dict[str, str]]], outcomes: list[RowOutcome]
) -> None:
    cells_of = dict(chunk)
    counts = dict.fromkeys(("created", "updated", "skipped", "failed"), 0)
    for outcome in outcomes:
        counts[outcome.status] += 1
    insert_rows(
        db,
        ImportRow.__table__,
        [
            {
                "job_id": job_id,
                "line": o.line,
                "status": o.status,
                "record_id": o.record_id,
                "record_version": o.record_version,
                "errors": o.errors,
                "previous": o.previous,
                "cells": cells_of[o.line] if o.status == "failed" else None,
                "note": o.note,
            }
            for o in outcomes
        ],
    )
    job = db.get(ImportJob, job_id)
    assert job is not None
    job.processed += len(outcomes)
    job.created += counts["created"]
    job.updated += counts["updated"]
    job.skipped += counts["skipped"]
    job.failed += counts["failed"]
    job.heartbeat_at = clock.now()


def _finish(database: Database, actor: Actor, job_id: int, status: str, error: str | None) -> None:
    with database.begin() as db:
        job = db.get(ImportJob, job_id)
        assert job is not None
        job.status = status
        job.error = error
        job.finished_at = clock.now()
        changes = {
            "job_id": job.id,
            "filename": job.filename,
            "status": status,
            "duplicate_mode": job.duplicate_mode,
            "total": job.total,
            "processed": job.processed,
            "created": job.created,
            "updated": job.updated,
            "skipped": job.skipped,
            "failed": job.failed,
        }
        audit.record(
            db, actor, "import", job.record_type, None, changes, f"{job.filename}: {job.processed} rows"
        )


# -- the report -------------------------------------------------------------------------------------


def report_rows(
    db: Session, job: ImportJob, status: str | None = None, after_line: int = 0, limit: int = 200
) -> list[ImportRow]:
    stmt = select(ImportRow).where(ImportRow.job_id == job.id, ImportRow.line > after_line)
    if status:
        stmt = stmt.where(ImportRow.status == status)
    return list(db.scalars(stmt.order_by(ImportRow.line).limit(limit)))


def column_of(job: ImportJob, error_field: str) -> str:
    """The file's column for a service field error ("siren", "custom_fields.x", "emails.0")."""
    root = error_field.split(".")[0]
    if root == "custom_fields" and "." in error_field:
        root = "cf." + error_field.split(".")[1]
    for header, key in (job.mapping or {}).items():
        if key == root:
            return header
    return ""


def error_text(error: dict[str, Any], language: str) -> str:
    return i18n.gettext(error.get("message", ""), language, **(error.get("params") or {}))


def report_csv(db: Session, job: ImportJob, language: str) -> Iterator[str]:
    """The failed rows as CSV, in the file's own columns plus line and reasons, so the user can
    fix them and import this file again."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([i18n.gettext("Line", language), i18n.gettext("Errors", language), *job.headers])
    yield "\ufeff" + buffer.getvalue()
    after = 0
    while rows := report_rows(db, job, "failed", after, 1000):
        buffer.seek(0)
        buffer.truncate()
        for row in rows:
            reasons = "; ".join(_reason(job, e, language) for e in row.errors)
            cells = row.cells or {}
            writer.writerow([row.line, reasons, *(cells.get(h, "") for h in job.headers)])
        after = rows[-1].line
        yield buffer.getvalue()


def _reason(job: ImportJob, error: dict[str, Any], language: str) -> str:
    column = column_of(job, error.get("field") or "") or error.get("field") or ""
    text = error_text(error, language)
    return f"{column}: {text}" if column else text


# -- undo -------------------------------------------------------------------------------------------


def start_undo(db: Session, actor: Actor, job: ImportJob) -> ImportJob:
    importer = importer_for(job.record_type)
    if job.status != "done" and not (job.status == "undoing" and is_stale(job)):
        raise Conflict("Only a finished import can be undone")
    if not actor.can("imports:create"):
        raise PermissionDenied()
    if job.created and not actor.can(f"{importer.module}:delete"):
        raise PermissionDenied()
    if job.updated and not actor.can(f"{importer.module}:update"):
        raise PermissionDenied()
    job.status = "undoing"
    job.heartbeat_at = clock.now()
    _enqueue(db, actor, "imports.undo", job)
    db.commit()
    return job


def _enqueue(db: Session, actor: Actor, name: str, job: ImportJob) -> None:
    """One background job per start (a resumed stale run gets a new one, keyed by its heartbeat)."""
    payload = {
        "import_id": job.id,
        "user_id": actor.user_id,
        "ip": actor.ip,
        "user_agent": actor.user_agent,
        "request_id": actor.request_id,
    }
    enqueue_job(db, name, payload, key=f"{name}:{job.id}:{job.heartbeat_at.isoformat()}")


def run_undo(job_id: int, actor: Actor) -> None:
    """Delete the records the import created and put back the previous values of those it
    updated, newest line first, through the services. A record someone changed since the
    import is kept as it is (and reported)."""
    database = get_database()
    with database.begin() as db:
        job = db.get(ImportJob, job_id)
        if job is None or job.status != "undoing":
            return
        importer = importer_for(job.record_type)
    summary = {"deleted": 0, "restored": 0, "kept": 0}
    touched: set[int] = set()  # records this undo already changed: their version is ours
    try:
        while True:
            with _savepoint_session(database) as db:
                rows = list(
                    db.scalars(
                        select(ImportRow)
                        .where(
                            ImportRow.job_id == job_id,
                            ImportRow.status.in_(("created", "updated")),
                            ImportRow.undo_status.is_(None),
                        )
                        .order_by(ImportRow.line.desc())
                        .limit(UNDO_BATCH_SIZE)
                    )
                )
                if not rows:
                    break
                for row in rows:
                    outcome, note = _undo_row(db, actor, importer, row, touched)
                    summary[outcome] += 1
                    item = db.get(ImportRow, row.id)
                    assert item is not None
                    item.undo_status = "kept" if outcome == "kept" else "undone"
                    item.undo_note = note
                    db.commit()
                job = db.get(ImportJob, job_id)
                assert job is not None
                job.heartbeat_at = clock.now()
                db.commit()
    except Exception:  # back to "done": the undo can be started again, it resumes
        log.exception("undo of import %s failed", job_id)
        with database.begin() as db:
            job = db.get(ImportJob, job_id)
            assert job is not None
            job.status = "done"
            job.error = "The undo stopped because of an unexpected error"
        return
    with database.begin() as db:
        job = db.get(ImportJob, job_id)
        assert job is not None
        job.status = "undone"
        job.undone_at = clock.now()
        job.undo_summary = summary
        audit.record(
            db,
            actor,
            "import_undo",
            job.record_type,
            None,
            {"job_id": job.id, "filename": job.filename, **summary},
            f"{job.filename}: undone",
        )


def _undo_row(
    db: Session, actor: Actor, importer: Importer, row: ImportRow, touched: set[int]
) -> tuple[str, str | None]:
    record_id = row.record_id
    assert record_id is not None
    try:
        record = importer.get(db, actor, record_id)
    except NotFound:
        db.rollback()
        return "kept", "No longer exists"
    if record_id not in touched and record.version != row.record_version:
        db.rollback()
        touched.add(record_id)
        return "kept", "Changed since the import"
    touched.add(record_id)
    try:
        if row.status == "created":
            importer.delete(db, actor, record)
            return "deleted", None
        assert importer.restore is not None  # only record types that restore can update
        importer.restore(db, actor, record, dict(row.previous or {}))
        return "restored", None
    except DomainError as exc:
        db.rollback()
        message = exc.errors[0].message if exc.errors else exc.message
        return "kept", message[:200]
    except SQLAlchemyError:
        db.rollback()
        log.exception("undo of import row %s failed", row.id)
        return "kept", "This row could not be undone"


@contextmanager
def _savepoint_session(database: Database) -> Iterator[Session]:
    """A session for service calls inside one outer transaction, which commits when the block
    succeeds. The services' commit() and rollback() only release or roll back savepoints of that
    transaction, so a record that cannot be undone leaves the others undone."""
    outer = database.session()
    try:
        connection = outer.connection()
        inner = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield inner
        finally:
            inner.close()
        outer.commit()
    except BaseException:
        outer.rollback()
        raise
    finally:
        outer.close()


# -- retention ----------------------------------------------------------------------------------------

FINISHED = ("done", "failed", "undone")


def purge_finished(db: Session, settings: Any, dry_run: bool) -> int:
    """Finished imports older than CARNET_RETENTION_IMPORT_DAYS: their rows, report and stored file.
    Their audit entries stay (the audit trail is never purged)."""
    days = (settings or get_settings()).retention_import_days
    cutoff = clock.now() - timedelta(days=days)
    jobs = list(
        db.scalars(select(ImportJob).where(ImportJob.finished_at < cutoff, ImportJob.status.in_(FINISHED)))
    )
    if dry_run:
        return len(jobs)
    for job in jobs:
        path = _path(job)
        db.delete(job)
        db.commit()
        path.unlink(missing_ok=True)  # after the commit: a rolled-back purge keeps its file
    return len(jobs)


housekeeping.register_purger("finished imports", purge_finished)
