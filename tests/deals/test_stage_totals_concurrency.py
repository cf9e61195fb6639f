"""Concurrent writers never lose an increment of the stored per-stage totals: two PostgreSQL
sessions writing the same key (the second waits on the first's row, then adds to what it
committed), and several threads creating and editing deals of one key at once.

Runs on a database of its own (a fresh SQLite file, or a sibling PostgreSQL database when
CARNET_TEST_DATABASE_URL points at PostgreSQL), because it commits for real."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from carnet.core import migrate
from carnet.core.db import Database
from carnet.deals import pipelines, totals
from carnet.deals.models import Deal, DealStageTotal, Pipeline


@pytest.fixture
def own_database(migrated: str, tmp_path: Path) -> Iterator[Database]:
    url = make_url(migrated)
    if url.get_backend_name() == "postgresql":
        name = f"{url.database}_totals_{uuid.uuid4().hex[:8]}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        own = url.set(database=name).render_as_string(hide_password=False)
    else:
        admin = None
        own = f"sqlite:///{tmp_path / 'totals.db'}"
    migrate.upgrade(own, tmp_path / "backups")
    try:
        yield Database(own)
    finally:
        from carnet.core import db as core_db

        core_db.dispose_engines(own)
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def _stage(database: Database) -> tuple[int, int]:
    with database.begin() as db:
        pipelines.ensure_default_pipelines(db)
    with database.session() as db:
        pipeline = db.scalars(select(Pipeline).order_by(Pipeline.id)).first()
        assert pipeline is not None
        return pipeline.id, pipelines.stages(db, pipeline)[0].id


def _deal(pipeline_id: int, stage_id: int, amount: str) -> Deal:
    return Deal(
        title="Offre",
        pipeline_id=pipeline_id,
        stage_id=stage_id,
        amount=Decimal(amount),
        probability=10,
        status="open",
        currency="EUR",
        custom_fields={},
    )


def _row(database: Database, pipeline_id: int, stage_id: int) -> tuple[int, Decimal, Decimal]:
    with database.session() as db:
        row = db.get(DealStageTotal, (pipeline_id, stage_id, 0, 0))
        assert row is not None
        assert totals.drifted(db) == 0
        return row.deal_count, row.amount_total, row.weighted_total


def _in_thread(work: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    failures: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # reported by the test
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, failures


def _wait_until_blocked(database: Database, pid: int) -> None:
    """Until the backend `pid` waits on a lock held by the other session."""
    deadline = time.monotonic() + 10
    with database.session() as watcher:
        while time.monotonic() < deadline:
            waiting = watcher.scalar(
                text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            )
            watcher.rollback()
            if waiting == "Lock":
                return
            time.sleep(0.05)
    raise AssertionError("the second session never waited for the first")


def test_two_postgresql_sessions_on_one_key_lose_no_update(own_database: Database) -> None:
    if own_database.dialect != "postgresql":
        pytest.skip("SQLite serialises writers with its database lock: there is no interleaving")
    pipeline_id, stage_id = _stage(own_database)
    # Each session keeps one connection, so the backend watched is the one that writes.
    connections = [own_database.write_engine.connect() for _ in range(2)]
    first, second = (Session(bind=c, expire_on_commit=False) for c in connections)
    threads: list[threading.Thread] = []
    try:
        second_pid = second.scalar(text("SELECT pg_backend_pid()"))
        second.commit()

        # 1. The key has no row yet: both sessions insert it.
        a = _deal(pipeline_id, stage_id, "100.00")
        first.add(a)
        first.flush()  # the trigger inserted the row, uncommitted

        def second_creates() -> None:
            second.add(_deal(pipeline_id, stage_id, "10.50"))
            second.commit()

        thread, failures = _in_thread(second_creates)
        threads.append(thread)
        _wait_until_blocked(own_database, second_pid)
        first.commit()
        thread.join(10)
        assert not failures and not thread.is_alive()
        assert _row(own_database, pipeline_id, stage_id) == (2, Decimal("110.50"), Decimal("11.0500"))

        # 2. The row exists: both sessions add to it.
        a.amount = Decimal("150.00")
        first.flush()

        def second_moves_in() -> None:
            second.add(_deal(pipeline_id, stage_id, "1.25"))
            second.commit()

        thread, failures = _in_thread(second_moves_in)
        threads.append(thread)
        _wait_until_blocked(own_database, second_pid)
        first.commit()
        thread.join(10)
        assert not failures and not thread.is_alive()
        assert _row(own_database, pipeline_id, stage_id) == (3, Decimal("161.75"), Decimal("16.1750"))
    finally:
        first.rollback()  # lets a waiting second session finish before anything is closed
        for thread in threads:
            thread.join(10)
        for session in (first, second):
            session.close()
        for connection in connections:
            connection.close()


def test_concurrent_writers_keep_exact_totals(own_database: Database) -> None:
    pipeline_id, stage_id = _stage(own_database)
    writers, rounds = 4, 10

    def write() -> None:
        for _ in range(rounds):
            with own_database.begin() as db:
                deal = _deal(pipeline_id, stage_id, "10.00")
                db.add(deal)
                db.flush()
                deal.amount = Decimal("12.34")  # a second statement on the same key

    threads = [_in_thread(write) for _ in range(writers)]
    for thread, failures in threads:
        thread.join(60)
        assert not failures and not thread.is_alive()
    n = writers * rounds
    assert _row(own_database, pipeline_id, stage_id) == (n, Decimal("12.34") * n, Decimal("1.234") * n)
