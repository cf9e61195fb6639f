"""Alembic environment: one transaction per upgrade, batch mode so ALTERs work on SQLite."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from carnet.models import metadata
from carnet.settings import get_settings

config = context.config


def _url() -> str:
    return config.attributes.get("url") or get_settings().database_url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)


def _include_name(name, type_, parent_names) -> bool:  # type: ignore[no-untyped-def]
    """The FTS5 shadow tables are managed by migration 0002, not by the models."""
    return not (type_ == "table" and name and name.startswith("search_fts"))


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    # transaction_per_migration=False: the whole upgrade is one transaction where the database allows
    # it (PostgreSQL and SQLite both have transactional DDL), so a failure leaves the old schema.
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
        transactional_ddl=True,
        include_name=_include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
