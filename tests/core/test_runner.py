"""The embedded runner picks up committed work by itself; the health check reports its lag."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from carnet.core import clock, events, jobs, runner
from carnet.core.context import SYSTEM
from carnet.core.db import get_database

ran = threading.Event()
seen: list[int] = []


@jobs.task("test.runner_ping")
def _ping(payload: dict[str, Any]) -> None:
    seen.append(payload["n"])
    ran.set()


def test_the_embedded_runner_runs_committed_jobs_and_dispatches_events(scratch: Any) -> None:
    assert scratch.carnet("db", "upgrade").exit_code == 0
    ran.clear()
    seen.clear()
    consumed = threading.Event()

    def consumer(session: Any, event: events.Event) -> None:
        jobs.enqueue(session, "test.runner_ping", {"n": event.record_id}, key=f"ping:{event.event_id}")
        consumed.set()

    saved = dict(events._consumers)
    events._consumers.clear()
    events.consumer("test-runner")(consumer)
    embedded = runner.EmbeddedRunner(threads=2, poll_seconds=60.0)  # a long poll: the commit wakes it
    embedded.start()
    try:
        with get_database().begin() as db:
            events.emit(db, SYSTEM, "thing.created", "thing", 7, {})
        started = time.monotonic()
        if not ran.wait(20.0):
            with get_database().begin() as db:
                rows = db.execute(select(jobs.Job.name, jobs.Job.status, jobs.Job.last_error)).all()
                pending = events.pending_count(db)
            raise AssertionError(
                f"the event's job did not run: {rows}, {pending} pending, {consumed.is_set()}"
            )
        assert time.monotonic() - started < 20.0  # far less than the 60 s poll
        assert consumed.is_set()
        assert seen == [7]
        for _ in range(100):  # the job's function has returned; its row is marked done right after
            with get_database().begin() as db:
                statuses = db.scalars(
                    select(jobs.Job.status).where(jobs.Job.name == "test.runner_ping")
                ).all()
                pending = events.pending_count(db)
            if statuses == ["done"]:
                break
            time.sleep(0.1)
        assert statuses == ["done"]
        assert pending == 0
    finally:
        embedded.stop()
        events._consumers.clear()
        events._consumers.update(saved)


def test_health_reports_runner_lag(anon: Any, db: Any) -> None:
    healthy = anon.get("/healthz").json()
    assert healthy["jobs"] == {"runner": "off", "lag_seconds": 0.0, "status": "ok"}

    jobs.enqueue(db, "test.runner_ping", {"n": 1}, due_at=clock.now() - timedelta(seconds=301))
    db.commit()
    late = anon.get("/healthz")
    assert late.status_code == 503
    assert late.json()["status"] == "degraded"
    assert late.json()["jobs"]["status"] == "late"
    assert late.json()["jobs"]["lag_seconds"] >= 301
