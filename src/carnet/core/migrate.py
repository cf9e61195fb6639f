"""Boring upgrades: check, back up, apply in one transaction, or stop with the old schema intact."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

from carnet.core import clock

ROOT = Path(__file__).resolve().parents[3]


class MigrationError(Exception):
    pass


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
    return cfg


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
    path = sqlite_path(url)
    if path is not None and not path.exists():
        current = None
    else:
        engine = create_engine(url, poolclass=pool.NullPool)
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        engine.dispose()
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
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()
    except Exception as exc:
        raise MigrationError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        engine.dispose()
    return upgrade_plan


def is_current(url: str) -> bool:
    return not plan(url).pending
