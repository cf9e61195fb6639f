"""The `carnet` command. Exit codes: 0 success, 1 failure, 2 usage error or refused without
confirmation, 3 database not migrated."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from carnet.settings import get_settings

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOT_MIGRATED = 3


def _fail(message: str, code: int = EXIT_FAILURE) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _ensure_migrated() -> None:
    from carnet.core import migrate

    try:
        if not migrate.is_current(get_settings().database_url):
            _fail("the database is not up to date; run `carnet db upgrade` first", EXIT_NOT_MIGRATED)
    except migrate.MigrationError as exc:
        _fail(str(exc), EXIT_NOT_MIGRATED)
    except Exception as exc:  # cannot even connect
        _fail(f"cannot reach the database: {exc}", EXIT_FAILURE)
    # Every command below works on data: writes may enqueue jobs (an import's run) or emit events,
    # which need every domain's job functions and event consumers registered.
    import carnet.models  # noqa: F401


@click.group()
def main() -> None:
    """Carnet, the CRM for French SMBs."""


@main.command()
@click.option("--host", default=None, help="Interface to listen on (CARNET_HOST).")
@click.option("--port", default=None, type=int, help="Port (CARNET_PORT, default 8000).")
@click.option("--workers", default=1, show_default=True, help="Number of worker processes.")
@click.option("--reload", is_flag=True, help="Reload on code changes (development).")
def serve(host: str | None, port: int | None, workers: int, reload: bool) -> None:
    """Serve the web UI and the API. Refuses to start on a database that is not fully migrated."""
    import uvicorn

    settings = get_settings()
    _ensure_migrated()
    uvicorn.run(
        "carnet.asgi:app",
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        reload=reload,
        proxy_headers=True,
        log_config=None,
        access_log=False,
    )


@main.command()
@click.option("--concurrency", "-c", default=4, show_default=True, help="Worker processes.")
@click.option("--loglevel", default="INFO", show_default=True)
def worker(concurrency: int, loglevel: str) -> None:
    """Run background jobs as a Celery worker (CARNET_RUNNER=celery; broker CARNET_REDIS_URL).
    Start as many as you like, on any machine reaching the database and Redis."""
    if not get_settings().redis_url:
        _fail("CARNET_REDIS_URL must point at the Redis broker for `carnet worker`", EXIT_USAGE)
    _ensure_migrated()
    from carnet.core.celery_app import app, install_publisher

    install_publisher()  # jobs that jobs enqueue are published at once, not at the next sweep
    app.worker_main(["worker", f"--concurrency={concurrency}", f"--loglevel={loglevel}", "-Q", "carnet"])


@main.command()
@click.option("--loglevel", default="INFO", show_default=True)
def beat(loglevel: str) -> None:
    """Run the Celery beat that ticks the job system every second. Run exactly one."""
    if not get_settings().redis_url:
        _fail("CARNET_REDIS_URL must point at the Redis broker for `carnet beat`", EXIT_USAGE)
    _ensure_migrated()
    import tempfile

    from carnet.core.celery_app import app

    schedule = Path(tempfile.gettempdir()) / "carnet-beat-schedule"
    app.start(["beat", f"--loglevel={loglevel}", f"--schedule={schedule}"])


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Check, back up (SQLite) and apply pending migrations in one transaction."""
    from carnet.core import migrate

    settings = get_settings()
    url = settings.database_url
    try:
        plan = migrate.plan(url)
    except migrate.MigrationError as exc:
        _fail(f"cannot upgrade: {exc}")
    except Exception as exc:
        _fail(f"cannot reach the database: {exc}")
    if not plan.pending:
        click.echo(f"database is up to date (revision {plan.current})")
        return
    if not url.startswith("sqlite"):
        click.echo(
            "PostgreSQL: back up first with `carnet backup` (pg_dump); migrations run in one transaction."
        )
    try:
        done = migrate.upgrade(url, Path(settings.backup_dir))
    except migrate.MigrationError as exc:
        if exc.backup:
            click.echo(f"backup taken before the upgrade: {exc.backup}", err=True)
        _fail(f"upgrade failed and was rolled back; the previous schema is unchanged: {exc}")
    if done.backup:
        click.echo(f"backup written to {done.backup}")
    click.echo(f"upgraded from {done.current or 'empty'} to {done.head} ({len(done.pending)} migration(s))")


@db.command("status")
def db_status() -> None:
    """Show the current and latest revisions."""
    from carnet.core import migrate

    plan = migrate.plan(get_settings().database_url)
    click.echo(f"current: {plan.current or 'empty'}; latest: {plan.head}; pending: {len(plan.pending)}")
    if plan.pending:
        sys.exit(EXIT_NOT_MIGRATED)


@main.group()
def demo() -> None:
    """Demo data."""


@demo.command("load")
@click.option("--size", type=click.Choice(["small", "medium", "large"]), default="small", show_default=True)
@click.option("--if-empty", is_flag=True, help="Do nothing if the database already has users.")
@click.option("--seed", default=42, show_default=True)
def demo_load(size: str, if_empty: bool, seed: int) -> None:
    """Load realistic French demo data."""
    from carnet.demo import loader

    _ensure_migrated()
    result = loader.load(size=size, seed=seed, if_empty=if_empty)
    if result is None:
        click.echo("demo data already present; nothing loaded")
        return
    click.echo(result.summary())


@main.group()
def user() -> None:
    """Users."""


@user.command("create")
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--role", default="sales", show_default=True)
@click.option("--department", default=None, help="Department name or code.")
@click.option("--first-name", default="")
@click.option("--last-name", default="")
def user_create(
    email: str, password: str, role: str, department: str | None, first_name: str, last_name: str
) -> None:
    """Create a user."""
    from sqlalchemy import or_, select

    from carnet.accounts import service as accounts
    from carnet.accounts.models import Department
    from carnet.core.context import SYSTEM
    from carnet.core.db import get_database
    from carnet.core.errors import DomainError

    _ensure_migrated()
    with get_database().session() as session:
        accounts.ensure_builtin_roles(session)
        dept_id = None
        if department:
            dept = session.scalar(
                select(Department).where(or_(Department.name == department, Department.code == department))
            )
            if dept is None:
                _fail(f"unknown department: {department}")
            dept_id = dept.id
        try:
            created = accounts.create_user(
                session,
                SYSTEM,
                {
                    "email": email,
                    "password": password,
                    "role": role,
                    "department_id": dept_id,
                    "first_name": first_name,
                    "last_name": last_name,
                },
            )
        except DomainError as exc:
            _fail("; ".join(f"{e.field}: {e.message.format(**e.params)}" for e in exc.errors) or exc.message)
        click.echo(f"created user {created.id} <{created.email}> with role {role}")


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.option("--email", required=True)
@click.option("--name", default="cli", show_default=True)
def token_create(email: str, name: str) -> None:
    """Create an API token; it is printed once, on stdout alone."""
    from carnet.accounts import service as accounts
    from carnet.core.context import SYSTEM
    from carnet.core.db import get_database

    _ensure_migrated()
    with get_database().session() as session:
        found = accounts.get_user_by_email(session, email)
        if found is None:
            _fail(f"unknown user: {email}")
        _token, secret = accounts.create_token(session, SYSTEM, found, name)
        click.echo(secret)


def _actor_for_email(session, email: str):  # type: ignore[no-untyped-def]
    from carnet.accounts import service as accounts

    found = accounts.get_user_by_email(session, email)
    if found is None or not found.active:
        _fail(f"unknown or inactive user: {email}")
    return accounts.actor_for(found)


def _run_import_job(import_id: int) -> None:
    """Run the import's queued job here and now (the same job function the runners call); if a
    running `carnet serve` took it first, wait for it to finish."""
    import time

    from sqlalchemy import select

    from carnet.core import jobs
    from carnet.core.db import get_database
    from carnet.imports.models import ImportJob

    database = get_database()
    with database.session(write=False) as session:
        job_id = session.scalar(
            select(jobs.Job.id)
            .where(jobs.Job.name == "imports.run", jobs.Job.key.like(f"imports.run:{import_id}:%"))
            .order_by(jobs.Job.id.desc())
            .limit(1)
        )
    if job_id is not None and jobs.run_job(job_id):
        return
    while True:
        with database.session(write=False) as session:
            if session.get(ImportJob, import_id).status != "running":
                return
        time.sleep(0.5)


@main.command("import")
@click.option("--type", "record_type", required=True, help="What the file holds, e.g. organisations.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--mapping",
    default="auto",
    show_default=True,
    help="auto (from the column names) or a JSON file {column: field}.",
)
@click.option(
    "--duplicates", type=click.Choice(["skip", "update", "create"]), default="skip", show_default=True
)
@click.option("--email", required=True, help="The user the import runs as (permissions, audit).")
def import_file(record_type: str, file: Path, mapping: str, duplicates: str, email: str) -> None:
    """Import a CSV or XLSX file, synchronously. Exit 1 if the file cannot be read; rows in error
    are listed but do not change the exit code."""
    import gc
    import json

    from carnet.core.db import get_database
    from carnet.core.errors import DomainError
    from carnet.core.i18n import gettext
    from carnet.imports import service as imports

    _ensure_migrated()
    # Everything loaded by now lives as long as this command: out of the garbage collector's
    # sight (as in carnet.asgi), its full collections during the run only walk the rows' objects.
    gc.freeze()
    database = get_database()
    with database.session() as session:
        actor = _actor_for_email(session, email)
        try:
            with file.open("rb") as handle:
                job = imports.create_job(session, actor, record_type, file.name, handle)
            chosen = job.mapping if mapping == "auto" else json.loads(Path(mapping).read_text("utf-8"))
            job = imports.set_mapping(session, actor, job, chosen, duplicates)
            imports.start_import(session, actor, job)
        except OSError as exc:
            _fail(f"cannot read {file}: {exc.strerror or exc}")
        except json.JSONDecodeError as exc:
            _fail(f"the mapping file is not valid JSON: {exc}")
        except DomainError as exc:
            details = "; ".join(f"{e.field}: {e.message.format(**e.params)}" for e in exc.errors)
            _fail(details or exc.message.format(**exc.params))
        job_id = job.id
    _run_import_job(job_id)
    with database.session(write=False) as session:
        job = imports.get_job(session, actor, job_id)
        click.echo(
            f"import {job.id} {job.status}: {job.total} rows, created {job.created}, "
            f"updated {job.updated}, skipped {job.skipped}, failed {job.failed}"
        )
        for row in imports.report_rows(session, job, "failed", limit=1000):
            reasons = "; ".join(
                f"{imports.column_of(job, e.get('field') or '') or e.get('field') or '-'}: "
                f"{gettext(e.get('message', ''), 'en', **(e.get('params') or {}))}"
                for e in row.errors
            )
            click.echo(f"  line {row.line}: {reasons}", err=True)
        if job.status == "failed":
            _fail(job.error or "the import failed")


@main.command("export")
@click.option("--type", "record_type", required=True, help="What to export, e.g. organisations.")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True)
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), help="File to write (default: stdout)."
)
@click.option("--email", required=True, help="The user the export runs as (visibility, audit).")
@click.argument("filters", nargs=-1)
def export_records(
    record_type: str, fmt: str, output: Path | None, email: str, filters: tuple[str, ...]
) -> None:
    """Export every visible record matching the list filters given as key=value (city=Lyon,
    tag=client, sort=name...)."""
    from carnet.core import exporting
    from carnet.core.db import get_database
    from carnet.core.errors import DomainError
    from carnet.imports import service as imports

    _ensure_migrated()
    imports.importers()  # loads every record type's import/export plug-in
    exporter = exporting.find(record_type)
    if exporter is None:
        _fail(f"cannot export {record_type}")
    raw: dict[str, str] = {"format": fmt}
    for item in filters:
        key, sep, value = item.partition("=")
        if not sep:
            _fail(f"filters are key=value, not {item!r}")
        raw[key] = value
    with get_database().session(write=False) as session:
        actor = _actor_for_email(session, email)
        try:
            prepared = exporting.prepare(session, actor, exporter, raw)
        except DomainError as exc:
            details = "; ".join(f"{e.field}: {e.message.format(**e.params)}" for e in exc.errors)
            _fail(details or exc.message.format(**exc.params))
        out = output.open("wb") if output else sys.stdout.buffer
        try:
            if fmt == "xlsx":
                exporting.write_xlsx(prepared, out)
            else:
                for chunk in exporting.csv_chunks(prepared):
                    out.write(chunk)
        finally:
            if output:
                out.close()
    click.echo(f"exported {prepared.rows} {exporter.module}", err=True)


@main.group()
def audit() -> None:
    """Audit trail."""


@audit.command("verify")
def audit_verify() -> None:
    """Recompute the audit hash chain; exit 1 on the first altered, removed or inserted entry."""
    from carnet.core import audit as audit_module
    from carnet.core.db import get_database

    _ensure_migrated()
    with get_database().session(write=False) as session:
        result = audit_module.verify(session)
    if result.ok:
        click.echo(f"audit trail intact: {result.checked} entries verified")
    else:
        _fail(
            f"audit trail broken at entry {result.first_bad_seq}: {result.problem} ({result.checked} entries verified before it)"
        )


@main.command()
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Archive file or folder (default: CARNET_BACKUP_DIR/carnet-backup-<time>.tar.gz).",
)
def backup(output: Path | None) -> None:
    """Back up the database and the attachments into one .tar.gz archive (safe while Carnet runs)."""
    from sqlalchemy.exc import SQLAlchemyError

    from carnet.core import operations

    settings = get_settings()
    try:
        path = operations.backup(
            settings.database_url, Path(settings.storage_dir), Path(settings.backup_dir), output
        )
    except (operations.OperationError, OSError) as exc:
        _fail(f"backup failed: {exc}")
    except SQLAlchemyError as exc:
        _fail(f"backup failed: cannot reach the database: {exc}")
    click.echo(str(path))


@main.command()
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Confirm: the database and attachments are replaced.")
def restore(archive: Path, yes: bool) -> None:
    """Replace the database and the attachments with a backup's. Stop Carnet first."""
    from carnet.core import operations
    from carnet.models import metadata

    settings = get_settings()
    try:
        manifest = operations.read_manifest(archive)
        operations.check_manifest(manifest, settings.database_url)
    except operations.OperationError as exc:
        _fail(f"restore refused: {exc}")
    click.echo(
        f"backup of {manifest.created_at} (Carnet {manifest.version}, {manifest.database}, "
        f"schema {manifest.revision or 'empty'}, {manifest.files} file(s))"
    )
    if not yes:
        _fail(
            "restore replaces the current database and attachments; run again with --yes to confirm",
            EXIT_USAGE,
        )
    try:
        operations.restore(
            settings.database_url, Path(settings.storage_dir), archive, frozenset(metadata.tables)
        )
    except operations.OperationError as exc:
        _fail(f"restore failed; the current database and attachments are unchanged: {exc}")
    click.echo("restore complete")
    from carnet.core import migrate

    if migrate.plan(settings.database_url).pending:
        click.echo("the backup predates this version's schema: run `carnet db upgrade` next")


@main.command()
@click.option("--dry-run", is_flag=True, help="Only count what would be purged or fixed; change nothing.")
def maintenance(dry_run: bool) -> None:
    """Purge request logs, idempotency keys and sessions past retention, check stored totals against
    their source (fixing any drift), then VACUUM and ANALYZE."""
    from carnet.core import operations
    from carnet.core.db import get_database

    settings = get_settings()
    _ensure_migrated()

    with get_database().session() as session:
        report = operations.purge_expired(session, operations.retention(settings), dry_run, settings)
    for label, rows in report:
        click.echo(f"{label}: {rows} {'to purge' if dry_run else 'purged'}")
    with get_database().session() as session:
        drift = operations.recompute_derived(session, dry_run, settings)
    for label, rows in drift:
        click.echo(f"{label}: {rows} drifted rows {'to fix' if dry_run else 'fixed'}")
    if dry_run:
        click.echo("dry run: nothing was changed")
        return
    from sqlalchemy.exc import SQLAlchemyError

    try:
        statements = operations.optimise(settings.database_url)
    except SQLAlchemyError as exc:
        _fail(f"the purge is done but VACUUM/ANALYZE failed (is the database busy?): {exc}")
    for statement in statements:
        click.echo(f"{statement}: done")


if __name__ == "__main__":
    main()
