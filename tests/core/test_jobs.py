"""Durable jobs and event dispatch: rows first, runners second, time from the clock seam."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from carnet.core import clock, events, jobs
from carnet.core.context import SYSTEM
from carnet.core.db import get_database

calls: list[tuple[str, dict[str, Any]]] = []
failures: dict[str, int] = {}


@jobs.task(
    "test.record", max_attempts=3, backoff_base=timedelta(seconds=10), backoff_cap=timedelta(minutes=5)
)
def _record(payload: dict[str, Any]) -> None:
    calls.append(("test.record", payload))
    left = failures.get("test.record", 0)
    if left:
        failures["test.record"] = left - 1
        raise RuntimeError(f"boom ({left} left)")


@jobs.task("test.later")
def _later(payload: dict[str, Any]) -> None:
    calls.append(("test.later", payload))
    if payload.get("retry_in") and len([c for c in calls if c[0] == "test.later"]) == 1:
        raise jobs.Retry(after=timedelta(seconds=payload["retry_in"]), reason="busy", count_attempt=False)


@jobs.periodic("test.every_minute", every=timedelta(minutes=1))
def _every_minute(payload: dict[str, Any]) -> None:
    calls.append(("test.every_minute", payload))


@jobs.periodic("test.monday_nine", cron="0 9 * * 1", tz="Europe/Paris")
def _monday(payload: dict[str, Any]) -> None:
    calls.append(("test.monday_nine", payload))


@pytest.fixture(autouse=True)
def _reset(database: Any) -> Iterator[None]:
    calls.clear()
    failures.clear()
    jobs._last_slot.clear()
    saved = dict(events._consumers)
    events._consumers.clear()  # only the consumers a test registers
    clock.freeze(datetime(2026, 11, 23, 8, 0, 30, tzinfo=UTC))  # a Monday, 09:00:30 in Paris
    yield
    events._consumers.clear()
    events._consumers.update(saved)


def _job(db: Session, job_id: int) -> jobs.Job:
    db.expire_all()
    return db.get(jobs.Job, job_id)


def test_a_job_runs_once_when_due_and_not_before(db: Session) -> None:
    later = jobs.enqueue(db, "test.record", {"n": 1}, due_at=clock.now() + timedelta(hours=1))
    now = jobs.enqueue(db, "test.record", {"n": 2})
    db.commit()

    assert jobs.run_due() == 1
    assert calls == [("test.record", {"n": 2})]
    assert _job(db, now.id).status == "done"
    assert _job(db, later.id).status == "queued"

    assert jobs.run_due() == 0
    clock.advance(timedelta(hours=1))
    assert jobs.run_due() == 1
    assert calls[-1] == ("test.record", {"n": 1})
    assert _job(db, later.id).finished_at == clock.now()


def test_a_key_enqueues_the_work_once(db: Session) -> None:
    first = jobs.enqueue(db, "test.record", {"n": 1}, key="thing:1")
    second = jobs.enqueue(db, "test.record", {"n": 99}, key="thing:1")
    db.commit()
    assert second.id == first.id
    assert db.scalars(select(jobs.Job).where(jobs.Job.name == "test.record")).all() == [first]


def test_a_rolled_back_change_leaves_no_job(database: Any) -> None:
    with pytest.raises(RuntimeError), get_database().begin() as session:
        jobs.enqueue(session, "test.record", {"n": 1})
        raise RuntimeError("the change failed")
    assert jobs.run_due() == 0
    assert calls == []


def test_failures_retry_with_backoff_then_fail_for_good(db: Session) -> None:
    failures["test.record"] = 5
    job = jobs.enqueue(db, "test.record", {"n": 1})
    db.commit()

    assert jobs.run_due() == 1
    first = _job(db, job.id)
    assert (first.status, first.attempts) == ("queued", 1)
    assert "boom (5 left)" in first.last_error
    # attempt 1 waits between 5 and 10 s (half to full base, jittered)
    assert timedelta(seconds=5) <= first.due_at - clock.now() <= timedelta(seconds=10)
    assert jobs.run_due() == 0

    clock.advance(timedelta(seconds=10))
    assert jobs.run_due() == 1
    second = _job(db, job.id)
    assert (second.status, second.attempts) == ("queued", 2)
    assert timedelta(seconds=10) <= second.due_at - clock.now() <= timedelta(seconds=20)

    clock.advance(timedelta(seconds=20))
    assert jobs.run_due() == 1
    last = _job(db, job.id)
    assert (last.status, last.attempts) == ("failed", 3)
    assert "boom (3 left)" in last.last_error
    clock.advance(timedelta(days=1))
    assert jobs.run_due() == 0
    assert len(calls) == 3


def test_retry_asks_for_a_time_without_using_an_attempt(db: Session) -> None:
    job = jobs.enqueue(db, "test.later", {"retry_in": 120})
    db.commit()
    assert jobs.run_due() == 1
    waiting = _job(db, job.id)
    assert (waiting.status, waiting.attempts, waiting.last_error) == ("queued", 0, "busy")
    assert waiting.due_at == clock.now() + timedelta(seconds=120)
    clock.advance(timedelta(seconds=119))
    assert jobs.run_due() == 0
    clock.advance(timedelta(seconds=1))
    assert jobs.run_due() == 1
    assert _job(db, job.id).status == "done"


def test_admin_retry_and_cancel(db: Session) -> None:
    failures["test.record"] = 3
    failed = jobs.enqueue(db, "test.record", {"n": 1}, max_attempts=1)
    waiting = jobs.enqueue(db, "test.record", {"n": 2}, due_at=clock.now() + timedelta(days=1))
    db.commit()
    jobs.run_due()
    assert _job(db, failed.id).status == "failed"

    assert jobs.cancel(db, waiting.id) is not None
    assert jobs.cancel(db, failed.id) is None  # only waiting jobs can be cancelled
    failures.clear()
    assert jobs.retry_now(db, failed.id) is not None
    db.commit()
    clock.advance(timedelta(days=2))
    assert jobs.run_due() == 1
    assert _job(db, failed.id).status == "done"
    assert _job(db, waiting.id).status == "cancelled"
    assert [c[1]["n"] for c in calls] == [1, 1]


def test_a_dead_workers_job_runs_again_once_its_lease_expires(db: Session) -> None:
    job = jobs.enqueue(db, "test.record", {"n": 1})
    db.commit()
    # A worker claimed it and died: running, lease in the future.
    db.execute(
        update(jobs.Job)
        .where(jobs.Job.id == job.id)
        .values(status="running", attempts=1, locked_by="dead", locked_until=clock.now() + jobs.lease())
    )
    db.commit()
    jobs.tick()
    jobs.run_due()
    assert (_job(db, job.id).status, _job(db, job.id).locked_by) == ("running", "dead")
    clock.advance(jobs.lease() + timedelta(seconds=1))
    jobs.tick()
    recovered = _job(db, job.id)
    assert (recovered.status, recovered.last_error) == ("queued", "lease expired")
    jobs.run_due()
    assert calls.count(("test.record", {"n": 1})) == 1
    assert (_job(db, job.id).status, _job(db, job.id).attempts) == ("done", 2)


def test_periodic_jobs_run_once_per_slot(db: Session) -> None:
    jobs.tick()
    jobs.tick()
    jobs._last_slot.clear()  # another process ticking the same slot
    jobs.tick()
    jobs.run_due()
    minute = [c for c in calls if c[0] == "test.every_minute"]
    monday = [c for c in calls if c[0] == "test.monday_nine"]
    assert minute == [("test.every_minute", {"slot": "2026-11-23T08:00:00+00:00"})]
    assert monday == [("test.monday_nine", {"slot": "2026-11-23T08:00:00+00:00"})]  # 09:00 Paris

    clock.advance(timedelta(minutes=1))
    jobs.tick()
    jobs.run_due()
    assert len([c for c in calls if c[0] == "test.every_minute"]) == 2
    assert len([c for c in calls if c[0] == "test.monday_nine"]) == 1


def test_events_reach_each_consumer_once_in_order(db: Session) -> None:
    seen: list[tuple[str, str, int]] = []
    events.consumer("a")(lambda s, e: seen.append(("a", e.type, e.record_id)))
    events.consumer("b")(lambda s, e: seen.append(("b", e.type, e.record_id)))
    for n in range(3):
        events.emit(db, SYSTEM, "thing.created", "thing", n, {"n": n})
    db.commit()

    assert events.dispatch_pending(limit=2) == 2
    assert events.dispatch_pending(limit=2) == 1
    assert events.dispatch_pending() == 0
    assert [s for s in seen if s[0] == "a"] == [("a", "thing.created", n) for n in range(3)]
    assert [s for s in seen if s[0] == "b"] == [("b", "thing.created", n) for n in range(3)]
    assert events.pending_count(db) == 0


def test_a_failing_consumer_does_not_block_the_others_and_gets_the_event_later(db: Session) -> None:
    seen: list[str] = []
    broken = {"on": True}

    def flaky(session: Session, event: events.Event) -> None:
        if broken["on"] and event.record_id == 2:
            raise RuntimeError("receiver down")
        jobs.enqueue(session, "test.record", {"event": event.record_id}, key=f"flaky:{event.event_id}")
        seen.append(f"flaky {event.record_id}")

    events.consumer("flaky")(flaky)
    events.consumer("steady")(lambda s, e: seen.append(f"steady {e.record_id}"))
    for n in (1, 2, 3):
        events.emit(db, SYSTEM, "thing.created", "thing", n, {})
    db.commit()

    assert events.dispatch_pending() == 3
    assert sorted(s for s in seen if s.startswith("steady")) == ["steady 1", "steady 2", "steady 3"]
    # the flaky consumer's work for events 1 and 3 committed, event 2's rolled back
    keys = db.scalars(select(jobs.Job.payload).where(jobs.Job.name == "test.record")).all()
    assert sorted(k["event"] for k in keys) == [1, 3]

    broken["on"] = False
    clock.advance(timedelta(minutes=2))
    jobs.drain()
    keys = db.scalars(select(jobs.Job.payload).where(jobs.Job.name == "test.record")).all()
    assert sorted(k["event"] for k in keys) == [1, 2, 3]
    assert sorted(c[1]["event"] for c in calls if c[0] == "test.record") == [1, 2, 3]


def test_lag_reports_how_late_the_oldest_due_job_is(db: Session) -> None:
    assert jobs.lag_seconds(db) == 0.0
    jobs.enqueue(db, "test.record", {"n": 1})
    db.commit()
    clock.advance(timedelta(seconds=42))
    assert jobs.lag_seconds(db) == 42.0


def test_maintenance_purges_finished_jobs_past_retention(db: Session) -> None:
    from carnet.settings import get_settings

    old = jobs.enqueue(db, "test.record", {"n": 1})
    waiting = jobs.enqueue(db, "test.record", {"n": 2}, due_at=clock.now() + timedelta(days=90))
    db.commit()
    jobs.run_due()
    clock.advance(timedelta(days=31))
    recent = jobs.enqueue(db, "test.record", {"n": 3})
    db.commit()
    jobs.run_due()

    assert jobs._purge_finished(db, get_settings(), dry_run=True) == 1
    assert jobs._purge_finished(db, get_settings(), dry_run=False) == 1
    left = set(db.scalars(select(jobs.Job.id).where(jobs.Job.name == "test.record")))
    assert left == {waiting.id, recent.id}
    assert old.id not in left


def test_a_consumer_can_load_its_configuration_once_per_batch(db: Session) -> None:
    loads: list[int] = []

    def load() -> list[str]:
        loads.append(1)
        return ["endpoint"]

    seen: list[list[str]] = []
    events.consumer("cached")(lambda s, e: seen.append(events.batch_cached(s, "endpoints", load)))
    for n in range(5):
        events.emit(db, SYSTEM, "thing.created", "thing", n, {})
    db.commit()
    assert events.dispatch_pending(limit=3) == 3
    assert events.dispatch_pending(limit=3) == 2
    assert seen == [["endpoint"]] * 5
    assert len(loads) == 2  # once per batch


batches: list[list[int]] = []


@jobs.batch_task("test.batch", size=3, max_attempts=2)
def _batch(payloads: list[dict[str, Any]]) -> list[Exception | None]:
    batches.append([p["n"] for p in payloads])
    return [RuntimeError("odd one out") if p.get("fail") else None for p in payloads]


def test_a_batch_task_runs_its_due_jobs_together_and_fails_only_its_failing_jobs(db: Session) -> None:
    batches.clear()
    ids = jobs.enqueue_many(
        db,
        "test.batch",
        [({"n": n, "fail": n == 4}, clock.now(), None) for n in range(5)]
        + [({"n": 9}, clock.now() + timedelta(hours=1), None)],
    )
    db.commit()

    assert jobs.run_due(limit=1) == 3  # one claimed, topped up to the batch size
    assert jobs.run_due(limit=1) == 2
    assert batches == [[0, 1, 2], [3, 4]]
    states = {i: (_job(db, i).status, _job(db, i).attempts) for i in ids}
    assert [states[i] for i in ids[:4]] == [("done", 1)] * 4
    assert states[ids[4]][0] == "queued" and "odd one out" in (_job(db, ids[4]).last_error or "")
    assert states[ids[5]] == ("queued", 0)  # not due yet


def test_enqueue_many_skips_existing_keys_like_enqueue(db: Session) -> None:
    first = jobs.enqueue(db, "test.record", {"n": 1}, key="same")
    new_ids = jobs.enqueue_many(
        db, "test.record", [({"n": 2}, clock.now(), "same"), ({"n": 3}, clock.now(), "other")]
    )
    db.commit()
    assert len(new_ids) == 1 and first.id not in new_ids
    rows = db.scalars(select(jobs.Job).where(jobs.Job.name == "test.record").order_by(jobs.Job.id)).all()
    assert [(r.key, r.payload) for r in rows] == [("same", {"n": 1}), ("other", {"n": 3})]


def test_one_message_stands_for_a_batch_of_a_batch_tasks_jobs() -> None:
    new = [(1, "test.batch"), (2, "test.record"), (3, "test.batch"), (4, "test.batch"), (5, "test.batch")]
    assert jobs.message_ids(new) == [1, 2, 5]


def test_a_message_whose_job_was_taken_still_runs_a_batch_of_its_name(db: Session) -> None:
    batches.clear()
    ids = jobs.enqueue_many(db, "test.batch", [({"n": n}, clock.now(), None) for n in range(4)])
    db.commit()
    assert jobs.run_job(ids[0]) is True  # its own job and two siblings
    assert batches == [[0, 1, 2]]
    assert jobs.run_job(ids[1]) is True  # taken already: the last due one runs
    assert batches == [[0, 1, 2], [3]]
    assert jobs.run_job(ids[2]) is False  # nothing left


def test_a_batch_consumer_gets_the_whole_batch_and_event_by_event_when_it_fails(db: Session) -> None:
    received: list[list[int | None]] = []
    broken = {"on": True}

    def consume(session: Session, batch: list[events.Event]) -> None:
        received.append([e.record_id for e in batch])
        if broken["on"] and any(e.record_id == 2 for e in batch):
            raise RuntimeError("receiver down")
        for event in batch:
            jobs.enqueue(session, "test.record", {"event": event.record_id})

    events.consumer("batched", batch=True)(consume)
    for n in (1, 2, 3):
        events.emit(db, SYSTEM, "thing.created", "thing", n, {})
    db.commit()

    assert events.dispatch_pending() == 3
    assert received == [[1, 2, 3], [1], [2], [3]]  # the batch failed: then one by one
    done = db.scalars(select(jobs.Job.payload).where(jobs.Job.name == "test.record")).all()
    assert sorted(p["event"] for p in done) == [1, 3]

    broken["on"] = False
    clock.advance(timedelta(minutes=2))
    jobs.drain()  # the failed event comes back alone, through the events.consume job
    assert received[-1] == [2]
    done = db.scalars(select(jobs.Job.payload).where(jobs.Job.name == "test.record")).all()
    assert sorted(p["event"] for p in done) == [1, 2, 3]
