"""Operator commands: backup, restore and maintenance (`carnet backup | restore | maintenance`).

A backup is one .tar.gz archive: `manifest.json`, the database (a consistent SQLite copy made with
the online backup API, or a `pg_dump --format=custom` file) and the attachments folder under
`files/`. Restore checks the manifest before touching anything, then swaps the database and the
folder in; a failure before the swap leaves both as they were.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, pool
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from carnet import __version__
from carnet.core import clock, housekeeping, migrate
from carnet.core.db import dispose_engines

FORMAT = 1
MANIFEST = "manifest.json"
FILES = "files"
DATABASE_MEMBER = {"sqlite": "database.sqlite", "postgresql": "database.pgdump"}
CHECKPOINT_TIMEOUT = 5.0  # seconds a SQLite restore waits for other readers before refusing


class OperationError(Exception):
    """An operation refused or failed; the message says why and what to do."""


@dataclass
class Manifest:
    format: int
    version: str
    revision: str | None
    created_at: str
    database: str  # "sqlite" or "postgresql"
    files: int  # attachments found when the backup started


def database_kind(url: str) -> str:
    if url.startswith("sqlite"):
        return "sqlite"
    if url.startswith("postgresql"):
        return "postgresql"
    raise OperationError(f"unsupported database URL: {make_url(url).drivername}")


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise OperationError(
            f"{name} was not found on PATH; install the PostgreSQL client tools "
            "(Debian/Ubuntu: apt install postgresql-client), the same major version as the server"
        )
    return path


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string for pg_dump/pg_restore; the password goes in the environment, not
    on the command line where `ps` shows it."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    dsn = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return dsn, env


def _run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tool = Path(args[0]).name
        raise OperationError(f"{tool} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


# -- backup ---------------------------------------------------------------------------------------


def default_backup_path(backup_dir: Path, at: datetime) -> Path:
    return backup_dir / f"carnet-backup-{at:%Y%m%d-%H%M%S}.tar.gz"


def _storage_files(storage_dir: Path) -> list[Path]:
    if not storage_dir.is_dir():
        return []
    # regular files only: a symlink could point anywhere on the machine
    return sorted(p for p in storage_dir.rglob("*") if p.is_file() and not p.is_symlink())


def _add_bytes(tar: tarfile.TarFile, name: str, content: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    info.mtime = int(clock.now().timestamp())
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(content))


def backup(url: str, storage_dir: Path, backup_dir: Path, output: Path | None = None) -> Path:
    """Write a backup archive and return its path. The database is copied before the files, so
    every attachment a backed-up row points to is in the archive."""
    kind = database_kind(url)
    pg_dump = require_tool("pg_dump") if kind == "postgresql" else ""
    revision = migrate.current_revision(url)  # also proves the database can be reached
    created = clock.now()
    if output is None:
        target = default_backup_path(backup_dir, created)
    elif output.is_dir():
        target = default_backup_path(output, created)
    else:
        target = output
    target.parent.mkdir(parents=True, exist_ok=True)
    # the temporary copy sits next to the archive: /tmp may be too small for a whole database
    with tempfile.TemporaryDirectory(prefix=".carnet-backup-", dir=target.parent) as tmp:
        if kind == "sqlite":
            path = migrate.sqlite_path(url)
            if path is None or not path.exists():
                raise OperationError(f"there is no database file at {path}")
            dump = migrate.backup_sqlite(path, Path(tmp))
        else:
            dump = Path(tmp) / DATABASE_MEMBER["postgresql"]
            dsn, env = _libpq(url)
            _run([pg_dump, "--format=custom", f"--file={dump}", f"--dbname={dsn}"], env)
        files = _storage_files(storage_dir)
        manifest = Manifest(
            format=FORMAT,
            version=__version__,
            revision=revision,
            created_at=created.isoformat(),
            database=kind,
            files=len(files),
        )
        partial = target.with_name(target.name + ".partial")
        # the archive holds password hashes and every customer record: owner-only from the start
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                with tarfile.open(fileobj=fh, mode="w:gz") as tar:
                    _add_bytes(tar, MANIFEST, json.dumps(asdict(manifest), indent=2).encode())
                    tar.add(dump, arcname=DATABASE_MEMBER[kind], recursive=False)
                    for file in files:
                        arcname = f"{FILES}/{file.relative_to(storage_dir).as_posix()}"
                        try:
                            tar.add(file, arcname=arcname, recursive=False)
                        except FileNotFoundError:  # deleted by the running app since the scan
                            continue
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return target


# -- restore --------------------------------------------------------------------------------------


def read_manifest(archive: Path) -> Manifest:
    """The manifest alone: it is the archive's first entry, so nothing else is decompressed."""
    try:
        with tarfile.open(archive, "r|gz") as tar:
            return _manifest_of(tar)
    except (OSError, tarfile.TarError) as exc:
        raise OperationError(f"{archive} is not a Carnet backup archive: {exc}")


def _manifest_of(tar: tarfile.TarFile) -> Manifest:
    data = None
    first = tar.next()
    if first is not None and first.name == MANIFEST and first.isfile():
        member = tar.extractfile(first)
        try:
            data = json.loads(member.read()) if member else None
        except ValueError:
            data = None
    if not isinstance(data, dict):
        raise OperationError("the archive has no readable manifest.json: not a Carnet backup")
    try:
        return Manifest(**{key: data[key] for key in Manifest.__dataclass_fields__})
    except (KeyError, TypeError):
        raise OperationError("the archive's manifest.json is incomplete: not a Carnet backup")


def check_manifest(manifest: Manifest, url: str) -> None:
    """Refuse a backup of another kind of database, or from a schema this code does not know."""
    kind = database_kind(url)
    if manifest.format != FORMAT:
        raise OperationError(f"unknown backup format {manifest.format}; this version reads format {FORMAT}")
    if manifest.database != kind:
        raise OperationError(
            f"this is a backup of a {manifest.database} database but the configured database "
            f"(CARNET_DATABASE_URL) is {kind}"
        )
    if manifest.revision is not None and manifest.revision not in migrate.known_revisions(url):
        raise OperationError(
            f"the backup is at schema revision {manifest.revision}, which this version of Carnet "
            f"({__version__}) does not know; it was made by a newer version: upgrade Carnet first"
        )


def restore(url: str, storage_dir: Path, archive: Path, known_tables: frozenset[str]) -> Manifest:
    """Replace the database and the attachments folder with the archive's. `known_tables` are the
    tables of this Carnet version: those a later migration added and the backup lacks are dropped
    on PostgreSQL, so `carnet db upgrade` can recreate them."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            return _restore_from(tar, url, storage_dir, known_tables)
    except (tarfile.TarError, EOFError) as exc:  # not a gzip tar, truncated, or an entry refused
        raise OperationError(f"cannot read the backup archive {archive}: {exc}")


def _restore_from(
    tar: tarfile.TarFile, url: str, storage_dir: Path, known_tables: frozenset[str]
) -> Manifest:
    kind = database_kind(url)
    manifest = _manifest_of(tar)
    check_manifest(manifest, url)
    pg_restore = require_tool("pg_restore") if kind == "postgresql" else ""
    db_member = DATABASE_MEMBER[kind]
    names = tar.getnames()
    if db_member not in names:
        raise OperationError(f"the archive has no {db_member}")
    stray = [n for n in names if n not in (MANIFEST, db_member) and not n.startswith(FILES + "/")]
    if stray:
        raise OperationError(f"the archive holds unexpected entries: {', '.join(stray[:5])}")
    storage_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{storage_dir.name}-restore-", dir=storage_dir.parent))
    try:
        # the "data" filter refuses absolute paths, "..", links out of the folder and devices
        members = [m for m in tar.getmembers() if m.name != MANIFEST]
        tar.extractall(staging, members=members, filter="data")
        if kind == "sqlite":
            _restore_sqlite(url, staging / db_member, manifest)
        else:
            _restore_postgresql(url, pg_restore, staging / db_member, known_tables)
        dispose_engines(url)  # pooled connections still point at the old database
        _swap_folder(staging / FILES, storage_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _restore_sqlite(url: str, copy: Path, manifest: Manifest) -> None:
    path = migrate.sqlite_path(url)
    if path is None:
        raise OperationError("restore needs a SQLite database file, not an in-memory database")
    conn = sqlite3.connect(str(copy))
    try:
        if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise OperationError("the database in the archive is damaged (quick_check failed)")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        revision = (
            conn.execute("SELECT version_num FROM alembic_version").fetchone()
            if "alembic_version" in tables
            else None
        )
        if (revision[0] if revision else None) != manifest.revision:
            raise OperationError("the database in the archive does not match its manifest")
    finally:
        conn.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        _checkpoint(path)
    fresh = path.with_name(f".{path.name}.restoring")
    shutil.copyfile(copy, fresh)
    with open(fresh, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(fresh, path)  # atomic: the old file or the new one, never half of each
    for suffix in ("-wal", "-shm"):  # they belong to the old file
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _checkpoint(path: Path) -> None:
    """Fold the old file's WAL into it and empty it, so no stale WAL is ever replayed onto the new
    file; refuse while another process is reading or writing (Carnet must be stopped)."""
    conn = sqlite3.connect(str(path), timeout=CHECKPOINT_TIMEOUT)
    try:
        busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.DatabaseError as exc:
        raise OperationError(f"cannot open the current database {path}: {exc}")
    finally:
        conn.close()
    if busy:
        raise OperationError(f"the database {path} is in use; stop Carnet before restoring")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _dump_tables(pg_restore: str, dump: Path, env: dict[str, str]) -> set[str]:
    tables = set()
    for line in _run([pg_restore, "--list", str(dump)], env).splitlines():
        parts = line.split()
        # "215; 1259 16390 TABLE public audit_entries postgres"
        if not line.startswith(";") and len(parts) >= 6 and parts[3] == "TABLE" and parts[4] == "public":
            tables.add(parts[5])
    return tables


def _restore_postgresql(url: str, pg_restore: str, dump: Path, known_tables: frozenset[str]) -> None:
    dsn, env = _libpq(url)
    # wait a bounded time for locks: a running Carnet holding one should fail the restore, not hang it
    env["PGOPTIONS"] = (env.get("PGOPTIONS", "") + " -c lock_timeout=30s").strip()
    in_dump = _dump_tables(pg_restore, dump, env)
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            present = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    # Tables a later migration added and the backup lacks are dropped first (their foreign keys
    # would block dropping the restored tables), then the dump is replayed: all in one psql
    # transaction, so a failed restore leaves the database exactly as it was.
    extra = sorted((present & known_tables) - in_dump - {"alembic_version"})
    drops = dump.with_suffix(".drops.sql")
    drops.write_text("".join(f'DROP TABLE IF EXISTS "{name}" CASCADE;\n' for name in extra), encoding="utf-8")
    script = dump.with_suffix(".sql")
    _run([pg_restore, "--clean", "--if-exists", "--no-owner", f"--file={script}", str(dump)], env)
    _run(
        [
            require_tool("psql"),
            "--single-transaction",
            "--quiet",
            "-v",
            "ON_ERROR_STOP=1",
            f"--dbname={dsn}",
            f"--file={drops}",
            f"--file={script}",
        ],
        env,
    )


def _swap_folder(new: Path, target: Path) -> None:
    """Put `new` where `target` is, keeping the old folder until the new one is in place."""
    new.mkdir(parents=True, exist_ok=True)
    old = target.with_name(f".{target.name}.old-{clock.now():%Y%m%d%H%M%S%f}")
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


# -- maintenance ----------------------------------------------------------------------------------


def retention(settings: Any) -> dict[str, timedelta]:
    return {
        "request_logs": timedelta(days=settings.retention_request_log_days),
        "idempotency": timedelta(hours=settings.retention_idempotency_hours),
        "session_idle": timedelta(minutes=settings.session_idle_minutes),
    }


def purge_expired(
    db: Session, keep: dict[str, timedelta], dry_run: bool, settings: Any = None
) -> list[tuple[str, int]]:
    """(label, rows) for every housekeeping target: counted on a dry run, deleted otherwise. The
    audit trail and the events outbox are never among them."""
    out = []
    for label, target, where in housekeeping.purge_targets(keep):
        if dry_run:
            out.append((label, housekeeping.count(db, target, where)))
        else:
            out.append((label, housekeeping.purge(db, target, where)))
    for label, purger in housekeeping.PURGERS:
        out.append((label, purger(db, settings, dry_run)))
    return out


def recompute_derived(db: Session, dry_run: bool, settings: Any = None) -> list[tuple[str, int]]:
    """(label, drifted rows) for every stored derivation domains register: checked on a dry run,
    repaired otherwise."""
    return [(label, recompute(db, settings, dry_run)) for label, recompute in housekeeping.RECOMPUTES]


def optimise(url: str) -> list[str]:
    """Reclaim space and refresh the planner's statistics; returns the statements run. VACUUM
    cannot run inside a transaction, hence a separate autocommit connection."""
    statements = ["VACUUM", "ANALYZE"] if database_kind(url) == "sqlite" else ["VACUUM ANALYZE"]
    engine = create_engine(url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()
    return statements
