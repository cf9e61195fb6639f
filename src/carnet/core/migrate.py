"""Boring upgrades: check, back up, apply in one transaction, or stop with the old schema intact."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, pool

from carnet.core import clock

ROOT = Path(__file__).resolve().parents[3]
# Another migrations folder (tests point it at a copy holding a broken revision).
MIGRATIONS_DIR_ENV = "CARNET_MIGRATIONS_DIR"


class MigrationError(Exception):
    def __init__(self, message: str, backup: Path | None = None) -> None:
        super().__init__(message)
        self.backup = backup  # the copy taken before a failed upgrade, if any


@dataclass
class UpgradePlan:
    current: str | None
    head: str
    pending: list[str]
    backup: Path | None = None


def alembic_config(url: str) -> Config:
    ini = ROOT / "alembic.ini"
    if not ini.exists():
        raise MigrationError(f"alembic.ini not found next to the package ({ini})")
    cfg = Config(str(ini))
    cfg.attributes["url"] = url
    script_location = os.environ.get(MIGRATIONS_DIR_ENV)
    if script_location:
        cfg.set_main_option("script_location", script_location.replace("%", "%%"))
    return cfg


def known_revisions(url: str) -> set[str]:
    """Every revision id this version of Carnet ships."""
    script = ScriptDirectory.from_config(alembic_config(url))
    return {rev.revision for rev in script.walk_revisions()}


def current_revision(url: str) -> str | None:
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return None
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[1] if "///" in url else ""
    return Path(path) if path and path != ":memory:" else None


def plan(url: str) -> UpgradePlan:
    cfg = alembic_config(url)
    script = ScriptDirectory.from_config(cfg)
    heads = script.get_heads()
    if len(heads) != 1:
        raise MigrationError(f"migrations have {len(heads)} heads; expected exactly one")
    current = current_revision(url)
    known = {rev.revision for rev in script.walk_revisions()}
    if current is not None and current not in known:
        raise MigrationError(
            f"the database is at revision {current}, which this version of Carnet does not know"
        )
    pending = [rev.revision for rev in script.iterate_revisions(heads[0], current)]
    pending.reverse()
    return UpgradePlan(current=current, head=heads[0], pending=pending)


def backup_sqlite(path: Path, backup_dir: Path) -> Path:
    """A consistent copy through SQLite's online backup API (safe while the server runs)."""
    import sqlite3

    backup_dir.mkdir(parents=True, exist_ok=True)
    target = backup_dir / f"{path.stem}-{clock.now():%Y%m%d-%H%M%S}.db"
    src = sqlite3.connect(str(path))
    dst = sqlite3.connect(str(target))
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    return target


def upgrade(url: str, backup_dir: Path) -> UpgradePlan:
    """Apply pending migrations; on failure the transaction rolls back and MigrationError is raised."""
    upgrade_plan = plan(url)
    if not upgrade_plan.pending:
        return upgrade_plan
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and upgrade_plan.current is not None:
            upgrade_plan.backup = backup_sqlite(path, backup_dir)
    cfg = alembic_config(url)
    engine = _migration_engine(url)
    try:
        with engine.connect() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()
    except Exception as exc:
        raise MigrationError(f"{type(exc).__name__}: {exc}", backup=upgrade_plan.backup) from exc
    finally:
        engine.dispose()
    return upgrade_plan


def _migration_engine(url: str) -> Engine:
    engine = create_engine(url, poolclass=pool.NullPool)
    if engine.dialect.name == "sqlite":
        # The sqlite3 driver does not open a transaction before DDL, so a failing migration would
        # leave the tables created before the failure behind. Emit BEGIN ourselves, as the
        # SQLAlchemy docs recommend, so the whole upgrade rolls back as one unit.
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            dbapi_conn.execute("PRAGMA journal_mode=WAL")

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def is_current(url: str) -> bool:
    return not plan(url).pending
