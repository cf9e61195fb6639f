"""`carnet db upgrade` is boring: it creates a fresh database, says when there is nothing to do, and
a failing migration rolls back whole, leaving the previous schema, its data and its revision as
they were (with a backup on SQLite). `carnet serve` refuses a database that is not up to date."""

from __future__ import annotations

import shutil
import textwrap

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect

from carnet.cli import main
from carnet.core import migrate
from carnet.settings import get_settings


def _head(url: str) -> str:
    return migrate.plan(url).head


def _base(url: str) -> str:
    return ScriptDirectory.from_config(migrate.alembic_config(url)).get_base()


BROKEN = '''
"""A migration that fails halfway, after changing the schema.

Revision ID: 9999
Revises: {head}
"""
import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("broken_probe", sa.Column("id", sa.Integer, primary_key=True))
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("broken_column", sa.Integer()))
    op.execute("INSERT INTO no_such_table VALUES (1)")


def downgrade() -> None:
    pass
'''


def test_upgrade_creates_the_schema_on_a_fresh_sqlite_path(tmp_path, monkeypatch):
    path = tmp_path / "not" / "yet" / "carnet.db"
    url = f"sqlite:///{path}"
    monkeypatch.setenv("CARNET_DATABASE_URL", url)
    monkeypatch.setenv("CARNET_BACKUP_DIR", str(tmp_path / "backups"))
    get_settings.cache_clear()

    result = CliRunner().invoke(main, ["db", "upgrade"])

    assert result.exit_code == 0, result.output
    head = _head(url)
    assert f"upgraded from empty to {head}" in result.stdout
    assert path.exists()
    tables = set(inspect(create_engine(url)).get_table_names())
    assert {"alembic_version", "users", "organisations", "audit_entries", "audit_head"} <= tables
    assert migrate.current_revision(url) == head
    # nothing to back up on a fresh database
    assert not (tmp_path / "backups").exists()
    status = CliRunner().invoke(main, ["db", "status"])
    assert status.exit_code == 0 and f"current: {head}; latest: {head}; pending: 0" in status.stdout


def test_upgrade_on_an_up_to_date_database_says_so_and_changes_nothing(scratch):
    assert scratch.carnet("db", "upgrade").exit_code == 0
    backups_before = sorted(scratch.backups.glob("*")) if scratch.backups.exists() else []

    result = scratch.carnet("db", "upgrade")

    assert result.exit_code == 0
    assert result.stdout.strip() == f"database is up to date (revision {_head(scratch.url)})"
    after = sorted(scratch.backups.glob("*")) if scratch.backups.exists() else []
    assert after == backups_before


def test_a_failing_migration_rolls_back_and_leaves_the_previous_schema_usable(scratch, tmp_path, monkeypatch):
    assert scratch.carnet("db", "upgrade").exit_code == 0
    created = scratch.carnet(
        "user", "create", "--email", "kept@example.fr", "--password", "a long enough password"
    )
    assert created.exit_code == 0, created.output
    head = _head(scratch.url)
    tables_before = scratch.tables()
    columns_before = {c["name"] for c in inspect(scratch.engine()).get_columns("users")}

    migrations = tmp_path / "migrations"
    shutil.copytree(migrate.ROOT / "migrations", migrations, ignore=shutil.ignore_patterns("__pycache__"))
    (migrations / "versions" / "9999_broken.py").write_text(textwrap.dedent(BROKEN.format(head=head)))
    monkeypatch.setenv(migrate.MIGRATIONS_DIR_ENV, str(migrations))

    result = scratch.carnet("db", "upgrade")

    assert result.exit_code == 1
    assert "upgrade failed and was rolled back; the previous schema is unchanged" in result.stderr
    assert "no_such_table" in result.stderr
    assert migrate.current_revision(scratch.url) == head
    assert scratch.tables() == tables_before  # broken_probe is gone with the rollback
    assert {c["name"] for c in inspect(scratch.engine()).get_columns("users")} == columns_before
    assert scratch.scalar("SELECT email FROM users") == "kept@example.fr"
    if scratch.kind == "sqlite":
        backups = list(scratch.backups.glob("*.db"))
        assert len(backups) == 1
        assert f"backup taken before the upgrade: {backups[0]}" in result.stderr
        import sqlite3

        copy = sqlite3.connect(backups[0])
        assert copy.execute("SELECT email FROM users").fetchall() == [("kept@example.fr",)]
        copy.close()

    # back on the shipped migrations, the database is current and keeps working
    monkeypatch.delenv(migrate.MIGRATIONS_DIR_ENV)
    assert scratch.carnet("db", "status").exit_code == 0
    again = scratch.carnet("user", "create", "--email", "new@example.fr", "--password", "another long one!")
    assert again.exit_code == 0, again.output
    assert scratch.scalar("SELECT count(*) FROM users") == 2


@pytest.fixture
def fake_uvicorn(monkeypatch):
    import uvicorn

    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    return calls


def test_serve_refuses_an_empty_database(scratch, fake_uvicorn):
    result = scratch.carnet("serve")
    assert result.exit_code == 3
    assert "the database is not up to date; run `carnet db upgrade` first" in result.stderr
    assert fake_uvicorn == []


def test_serve_refuses_a_partly_migrated_database_then_starts_once_upgraded(scratch, fake_uvicorn):
    command.upgrade(migrate.alembic_config(scratch.url), _base(scratch.url))

    refused = scratch.carnet("serve")
    assert refused.exit_code == 3
    assert fake_uvicorn == []

    assert scratch.carnet("db", "upgrade").exit_code == 0
    started = scratch.carnet("serve", "--port", "8123")
    assert started.exit_code == 0, started.output
    assert len(fake_uvicorn) == 1 and fake_uvicorn[0]["port"] == 8123


def test_upgrade_refuses_a_database_from_a_newer_version(scratch):
    assert scratch.carnet("db", "upgrade").exit_code == 0
    engine = scratch.engine()
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'zz_future'")
    engine.dispose()

    result = scratch.carnet("db", "upgrade")

    assert result.exit_code == 1
    assert "which this version of Carnet does not know" in result.stderr
    assert scratch.carnet("serve").exit_code == 3
