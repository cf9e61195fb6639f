"""`carnet backup`, `carnet restore` and `carnet maintenance`, on the configured database kind
(SQLite by default, PostgreSQL when CARNET_TEST_DATABASE_URL says so)."""

from __future__ import annotations

import io
import json
import stat
import tarfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import func, select, text

from carnet.accounts.models import UserSession
from carnet.cli import main
from carnet.core import clock, migrate, operations
from carnet.core.audit import AuditEntry
from carnet.core.events import Event
from carnet.core.housekeeping import IdempotencyRecord, RequestLog
from carnet.settings import get_settings

PASSWORD = "a long enough password"


def _user(scratch, email: str) -> None:
    result = scratch.carnet("user", "create", "--email", email, "--password", PASSWORD)
    assert result.exit_code == 0, result.output


def _attach(name: str, content: bytes) -> str:
    """Store an attachment (row and file) the way the app does; returns its storage key."""
    from carnet.core import attachments
    from carnet.core.context import SYSTEM
    from carnet.core.db import get_database

    with get_database().session() as session:
        att = attachments.store(session, SYSTEM, "organisation", 1, name, content)
        session.commit()
        return att.storage_key


def _emails(scratch) -> list[object]:
    return scratch.column("SELECT email FROM users ORDER BY email")


def _backup(scratch, *args: str) -> Path:
    result = scratch.carnet("backup", *args)
    assert result.exit_code == 0, result.output
    path = Path(result.stdout.strip())
    assert path.is_file()
    return path


def _rewrite_manifest(archive: Path, target: Path, **changes: object) -> Path:
    """A copy of `archive` whose manifest says something else."""
    with tarfile.open(archive, "r:gz") as src, tarfile.open(target, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "manifest.json":
                data = json.dumps({**json.loads(data), **changes}).encode()
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    return target


@pytest.fixture
def populated(scratch):
    """A migrated scratch database with one user and one attachment."""
    assert scratch.carnet("db", "upgrade").exit_code == 0
    _user(scratch, "kept@example.fr")
    key = _attach("devis.txt", b"devis 2026 v1")
    return scratch, key


# -- backup -----------------------------------------------------------------------------------------


def test_backup_writes_one_private_archive_with_manifest_database_and_files(populated):
    scratch, key = populated

    archive = _backup(scratch)

    assert archive.parent == scratch.backups
    assert archive.name.startswith("carnet-backup-") and archive.name.endswith(".tar.gz")
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    with tarfile.open(archive, "r:gz") as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        assert tar.extractfile(f"files/{key}").read() == b"devis 2026 v1"  # type: ignore[union-attr]
    database_member = "database.sqlite" if scratch.kind == "sqlite" else "database.pgdump"
    assert names == ["manifest.json", database_member, f"files/{key}"]
    assert manifest["database"] == scratch.kind
    assert manifest["revision"] == migrate.plan(scratch.url).head
    assert manifest["files"] == 1
    assert manifest["format"] == 1
    assert manifest["version"] == "0.1.0"
    assert abs(datetime.fromisoformat(manifest["created_at"]) - clock.now()) < timedelta(minutes=1)
    assert not list(scratch.backups.glob("*.partial"))


def test_backup_output_can_be_a_file_or_a_folder(populated, tmp_path):
    scratch, _key = populated
    named = _backup(scratch, "--output", str(tmp_path / "nightly.tar.gz"))
    assert named == tmp_path / "nightly.tar.gz"
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    inside = _backup(scratch, "--output", str(folder))
    assert inside.parent == folder and inside.name.startswith("carnet-backup-")


def test_backup_of_postgresql_without_pg_dump_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CARNET_DATABASE_URL", "postgresql+psycopg://carnet@127.0.0.1:1/carnet")
    monkeypatch.setenv("PATH", str(tmp_path))
    get_settings.cache_clear()

    result = CliRunner().invoke(main, ["backup"])

    assert result.exit_code == 1
    assert "pg_dump was not found on PATH" in result.stderr
    assert "postgresql-client" in result.stderr


# -- restore ----------------------------------------------------------------------------------------


def test_restore_brings_back_the_database_and_the_attachments(populated):
    scratch, key = populated
    archive = _backup(scratch)
    # life goes on after the backup: a user added, the file replaced, another file uploaded
    _user(scratch, "later@example.fr")
    (scratch.storage / key).write_bytes(b"overwritten")
    later_key = _attach("later.txt", b"after the backup")

    refused = scratch.carnet("restore", str(archive))
    assert refused.exit_code == 2
    assert "run again with --yes to confirm" in refused.stderr
    assert _emails(scratch) == ["kept@example.fr", "later@example.fr"]
    assert (scratch.storage / later_key).exists()

    result = scratch.carnet("restore", str(archive), "--yes")

    assert result.exit_code == 0, result.output
    assert "restore complete" in result.stdout
    assert _emails(scratch) == ["kept@example.fr"]
    assert (scratch.storage / key).read_bytes() == b"devis 2026 v1"
    assert not (scratch.storage / later_key).exists()
    assert sorted(p.name for p in scratch.storage.parent.iterdir() if p.name.startswith(".")) == []
    assert scratch.carnet("audit", "verify").exit_code == 0
    assert scratch.carnet("db", "status").exit_code == 0
    # the running process sees the restored data too (stale pooled connections were dropped)
    from carnet.accounts.models import User
    from carnet.core.db import get_database

    with get_database().session() as session:
        assert list(session.scalars(select(User.email))) == ["kept@example.fr"]


def test_restore_into_an_empty_database(populated):
    scratch, key = populated
    archive = _backup(scratch)
    from carnet.core.db import dispose_engines

    dispose_engines(scratch.url)
    if scratch.kind == "sqlite":
        path = migrate.sqlite_path(scratch.url)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        with scratch.engine().begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    import shutil

    shutil.rmtree(scratch.storage)

    result = scratch.carnet("restore", str(archive), "--yes")

    assert result.exit_code == 0, result.output
    assert _emails(scratch) == ["kept@example.fr"]
    assert (scratch.storage / key).read_bytes() == b"devis 2026 v1"
    assert scratch.carnet("audit", "verify").exit_code == 0


def test_restore_of_an_older_schema_then_upgrade(scratch):
    """The usual way back from a bad release: restore yesterday's backup, then upgrade again."""
    base = ScriptDirectory.from_config(migrate.alembic_config(scratch.url)).get_base()
    command.upgrade(migrate.alembic_config(scratch.url), base)
    old = _backup(scratch)
    assert scratch.carnet("db", "upgrade").exit_code == 0
    _user(scratch, "newer@example.fr")

    result = scratch.carnet("restore", str(old), "--yes")

    assert result.exit_code == 0, result.output
    assert "run `carnet db upgrade` next" in result.stdout
    assert migrate.current_revision(scratch.url) == base
    assert scratch.carnet("db", "status").exit_code == 3
    upgraded = scratch.carnet("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert _emails(scratch) == []
    assert scratch.carnet("audit", "verify").exit_code == 0


def test_restore_refuses_a_backup_of_the_other_database_kind(populated, tmp_path):
    scratch, _key = populated
    other = "postgresql" if scratch.kind == "sqlite" else "sqlite"
    forged = _rewrite_manifest(_backup(scratch), tmp_path / "other.tar.gz", database=other)
    _user(scratch, "later@example.fr")

    result = scratch.carnet("restore", str(forged), "--yes")

    assert result.exit_code == 1
    assert f"this is a backup of a {other} database but the configured database" in result.stderr
    assert _emails(scratch) == ["kept@example.fr", "later@example.fr"]


def test_restore_refuses_a_backup_from_a_newer_schema(populated, tmp_path):
    scratch, key = populated
    forged = _rewrite_manifest(_backup(scratch), tmp_path / "future.tar.gz", revision="zz_future")
    _user(scratch, "later@example.fr")
    (scratch.storage / key).write_bytes(b"current")

    result = scratch.carnet("restore", str(forged), "--yes")

    assert result.exit_code == 1
    assert "schema revision zz_future, which this version of Carnet" in result.stderr
    assert "upgrade Carnet first" in result.stderr
    assert _emails(scratch) == ["kept@example.fr", "later@example.fr"]
    assert (scratch.storage / key).read_bytes() == b"current"


def test_restore_refuses_what_is_not_a_backup(populated, tmp_path):
    scratch, _key = populated
    junk = tmp_path / "junk.tar.gz"
    junk.write_text("not an archive")
    result = scratch.carnet("restore", str(junk), "--yes")
    assert result.exit_code == 1
    assert "is not a Carnet backup archive" in result.stderr

    no_manifest = tmp_path / "plain.tar.gz"
    with tarfile.open(no_manifest, "w:gz") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    result = scratch.carnet("restore", str(no_manifest), "--yes")
    assert result.exit_code == 1
    assert "no readable manifest.json" in result.stderr


def test_restore_refuses_an_archive_escaping_the_attachments_folder(populated, tmp_path):
    scratch, key = populated
    archive = _backup(scratch)
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "r:gz") as src, tarfile.open(evil, "w:gz") as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member))
        info = tarfile.TarInfo("files/../../escaped.txt")
        info.size = 5
        dst.addfile(info, io.BytesIO(b"owned"))
    _user(scratch, "later@example.fr")

    result = scratch.carnet("restore", str(evil), "--yes")

    assert result.exit_code == 1
    assert "restore failed; the current database and attachments are unchanged" in result.stderr
    assert not (tmp_path / "escaped.txt").exists()
    assert not (scratch.storage.parent.parent / "escaped.txt").exists()
    assert _emails(scratch) == ["kept@example.fr", "later@example.fr"]
    assert (scratch.storage / key).read_bytes() == b"devis 2026 v1"


def test_restore_refuses_a_sqlite_database_still_in_use(populated, monkeypatch):
    scratch, _key = populated
    if scratch.kind != "sqlite":
        pytest.skip("PostgreSQL waits on locks instead (lock_timeout)")
    archive = _backup(scratch)
    _user(scratch, "later@example.fr")
    monkeypatch.setattr(operations, "CHECKPOINT_TIMEOUT", 0.2)
    import sqlite3

    reader = sqlite3.connect(str(migrate.sqlite_path(scratch.url)), isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM users").fetchone()  # a running Carnet in mid-request
    try:
        result = scratch.carnet("restore", str(archive), "--yes")
    finally:
        reader.execute("ROLLBACK")
        reader.close()

    assert result.exit_code == 1
    assert "is in use; stop Carnet before restoring" in result.stderr
    assert _emails(scratch) == ["kept@example.fr", "later@example.fr"]


def test_restore_on_postgresql_without_pg_restore_is_a_clear_error(tmp_path, monkeypatch):
    archive = tmp_path / "pg.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        manifest = json.dumps(
            {
                "format": 1,
                "version": "0.1.0",
                "revision": None,
                "created_at": "2026-01-05T10:00:00+00:00",
                "database": "postgresql",
                "files": 0,
            }
        ).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    monkeypatch.setenv("CARNET_DATABASE_URL", "postgresql+psycopg://carnet@127.0.0.1:1/carnet")
    monkeypatch.setenv("PATH", str(tmp_path))
    get_settings.cache_clear()

    result = CliRunner().invoke(main, ["restore", str(archive), "--yes"])

    assert result.exit_code == 1
    assert "pg_restore was not found on PATH" in result.stderr


# -- maintenance ------------------------------------------------------------------------------------


def _plant_housekeeping_rows(session, user_id: int) -> None:
    """Two of each kind past retention or expiry, one of each still current, plus old audit
    entries and events that must survive."""
    settings = get_settings()
    now = clock.now()
    old_log = now - timedelta(days=settings.retention_request_log_days, minutes=1)
    old_key = now - timedelta(hours=settings.retention_idempotency_hours, minutes=1)
    for when, rid in ((old_log, "a"), (old_log, "b"), (now - timedelta(days=1), "c")):
        session.add(
            RequestLog(
                occurred_at=when, request_id=rid, method="POST", path="/api/v1/x", status=201, duration_ms=3
            )
        )
    for when, key in ((old_key, "k1"), (old_key, "k2"), (now - timedelta(hours=1), "k3")):
        session.add(
            IdempotencyRecord(
                key=key, principal="p", request_hash="h", status=201, headers={}, body="{}", created_at=when
            )
        )
    idle = timedelta(minutes=settings.session_idle_minutes)
    sessions = (
        ("expired", now - timedelta(hours=13), now - timedelta(minutes=5), now - timedelta(minutes=1)),
        ("idle", now - timedelta(hours=9), now - idle - timedelta(minutes=1), now + timedelta(hours=3)),
        ("live", now - timedelta(hours=1), now - timedelta(minutes=2), now + timedelta(hours=11)),
    )
    for name, created, seen, expires in sessions:
        session.add(
            UserSession(
                user_id=user_id,
                token_digest=name.ljust(64, "0"),
                created_at=created,
                last_seen_at=seen,
                expires_at=expires,
            )
        )
    session.add(Event(type="x.old", record_type="x", record_id=1, occurred_at=now - timedelta(days=900)))
    session.flush()


def test_purge_counts_on_a_dry_run_then_deletes_exactly_what_is_past_retention(db, personas):
    from carnet.accounts.models import User

    _plant_housekeeping_rows(db, personas["alice"].id)
    audit_before = db.scalar(select(func.count()).select_from(AuditEntry))
    events_before = db.scalar(select(func.count()).select_from(Event))
    keep = operations.retention(get_settings())

    dry = operations.purge_expired(db, keep, dry_run=True)

    # the planted rows; every purger that domains register (imports, jobs...) finds nothing here
    expected = {"request logs": 2, "idempotency keys": 2, "expired sessions": 2, "finished imports": 0}
    assert dict(dry) == {label: expected.get(label, 0) for label, _ in dry}
    assert set(expected) <= {label for label, _ in dry}
    assert db.scalar(select(func.count()).select_from(RequestLog)) == 3
    assert db.scalar(select(func.count()).select_from(IdempotencyRecord)) == 3
    assert db.scalar(select(func.count()).select_from(UserSession)) == 3

    done = operations.purge_expired(db, keep, dry_run=False)

    assert done == dry
    assert list(db.scalars(select(RequestLog.request_id))) == ["c"]
    assert list(db.scalars(select(IdempotencyRecord.key))) == ["k3"]
    assert list(db.scalars(select(UserSession.token_digest))) == ["live".ljust(64, "0")]
    assert db.scalar(select(func.count()).select_from(AuditEntry)) == audit_before
    assert db.scalar(select(func.count()).select_from(Event)) == events_before
    assert db.get(User, personas["alice"].id) is not None


def test_maintenance_cli_dry_run_then_purge_and_vacuum(scratch):
    assert scratch.carnet("db", "upgrade").exit_code == 0
    _user(scratch, "kept@example.fr")
    from carnet.accounts.models import User
    from carnet.core.db import get_database

    with get_database().session() as session:
        _plant_housekeeping_rows(session, session.scalar(select(User.id)))
        # stored totals for deals that do not exist: drift to report, then to fix
        session.execute(
            text(
                "INSERT INTO deal_stage_totals (pipeline_id, stage_id, department_id, owner_id, deal_count, "
                "amount_total, weighted_total, unweighted_amount) VALUES (1, 1, 0, 0, 3, 30, 3, 0)"
            )
        )
        session.commit()

    dry = scratch.carnet("maintenance", "--dry-run")

    assert dry.exit_code == 0, dry.output
    lines = dry.stdout.splitlines()
    assert lines[:3] == [
        "request logs: 2 to purge",
        "idempotency keys: 2 to purge",
        "expired sessions: 2 to purge",
    ]
    assert "finished imports: 0 to purge" in lines
    assert lines[-2:] == ["deal stage totals: 1 drifted rows to fix", "dry run: nothing was changed"]
    assert all(line.endswith(": 0 to purge") for line in lines[3:-2])
    assert scratch.scalar("SELECT count(*) FROM request_logs") == 3
    assert scratch.scalar("SELECT count(*) FROM user_sessions") == 3
    assert scratch.scalar("SELECT count(*) FROM deal_stage_totals") == 1

    done = scratch.carnet("maintenance")

    assert done.exit_code == 0, done.output
    optimised = ["VACUUM: done", "ANALYZE: done"] if scratch.kind == "sqlite" else ["VACUUM ANALYZE: done"]
    lines = done.stdout.splitlines()
    assert lines[:3] == ["request logs: 2 purged", "idempotency keys: 2 purged", "expired sessions: 2 purged"]
    assert lines[3 : -len(optimised) - 1] == [
        line.replace("to purge", "purged") for line in dry.stdout.splitlines()[3:-2]
    ]
    assert lines[-len(optimised) - 1] == "deal stage totals: 1 drifted rows fixed"
    assert lines[-len(optimised) :] == optimised
    assert scratch.scalar("SELECT count(*) FROM deal_stage_totals") == 0
    assert scratch.scalar("SELECT count(*) FROM request_logs") == 1
    assert scratch.scalar("SELECT count(*) FROM idempotency_records") == 1
    assert scratch.scalar("SELECT count(*) FROM user_sessions") == 1
    assert scratch.scalar("SELECT count(*) FROM events") == 1
    assert scratch.carnet("audit", "verify").exit_code == 0


def test_maintenance_refuses_a_database_that_is_not_migrated(scratch):
    result = scratch.carnet("maintenance")
    assert result.exit_code == 3
    assert "run `carnet db upgrade` first" in result.stderr


def test_backup_of_an_unreachable_database_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CARNET_DATABASE_URL", f"sqlite:///{tmp_path}/missing.db")
    get_settings.cache_clear()
    result = CliRunner().invoke(main, ["backup"])
    assert result.exit_code == 1
    assert f"backup failed: there is no database file at {tmp_path}/missing.db" in result.stderr
    assert not list(tmp_path.glob("**/*.tar.gz*"))
