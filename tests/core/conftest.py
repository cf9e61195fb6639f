"""A scratch database for the operations tests (backup, restore, maintenance, upgrades): they need
committed data and whole-database operations, so they cannot run in the rolled-back test
transaction. SQLite: a file in tmp_path. PostgreSQL: `<test database>_scratch` on the same server,
emptied before each test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from carnet.core import db as core_db
from carnet.settings import get_settings


@dataclass
class Scratch:
    url: str
    kind: str  # "sqlite" or "postgresql"
    storage: Path
    backups: Path

    def carnet(self, *args: str) -> Result:
        """Run the `carnet` CLI against this database, in process."""
        from carnet.cli import main

        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    def engine(self):  # type: ignore[no-untyped-def]
        from sqlalchemy import pool

        return create_engine(self.url, poolclass=pool.NullPool)

    def scalar(self, sql: str) -> object:
        engine = self.engine()
        try:
            with engine.connect() as conn:
                return conn.execute(text(sql)).scalar()
        finally:
            engine.dispose()

    def column(self, sql: str) -> list[object]:
        engine = self.engine()
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(sql)).scalars())
        finally:
            engine.dispose()

    def tables(self) -> set[str]:
        from sqlalchemy import inspect

        engine = self.engine()
        try:
            return set(inspect(engine).get_table_names())
        finally:
            engine.dispose()


def _empty_postgresql(base_url: str) -> str:
    url = make_url(base_url)
    # one per pytest-xdist worker, so parallel runs never empty each other's scratch database
    name = f"{url.database}_scratch{os.environ.get('PYTEST_XDIST_WORKER', '')}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
            if not exists:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    scratch_url = url.set(database=name).render_as_string(hide_password=False)
    engine = create_engine(scratch_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()
    return scratch_url


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Scratch]:
    base = os.environ["CARNET_DATABASE_URL"]
    if base.startswith("postgresql"):
        url, kind = _empty_postgresql(base), "postgresql"
    else:
        url, kind = f"sqlite:///{tmp_path}/scratch.db", "sqlite"
    storage, backups = tmp_path / "files", tmp_path / "backups"
    monkeypatch.setenv("CARNET_DATABASE_URL", url)
    monkeypatch.setenv("CARNET_STORAGE_DIR", str(storage))
    monkeypatch.setenv("CARNET_BACKUP_DIR", str(backups))
    get_settings.cache_clear()
    core_db.set_database(None)
    try:
        yield Scratch(url, kind, storage, backups)
    finally:
        core_db.set_database(None)
        core_db.dispose_engines(url)
        get_settings.cache_clear()
