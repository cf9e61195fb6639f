"""Durable jobs: every deferred or time-based piece of work is first a row with its due time.

A job is a named function taking a JSON payload (ids, never objects). `enqueue` adds the row in the
caller's transaction, so the job exists if and only if the change that asked for it committed.
Runners (the embedded thread of `carnet serve`, or Celery workers) call `run_due`, which claims due
rows with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the single writer on SQLite), runs them
outside any transaction and records the outcome. Job functions open their own short transactions and
must be idempotent: a worker killed mid-job leaves a row whose lease expires, and `tick` runs it again.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Index, Integer, String, Text, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from carnet.core import clock, housekeeping
from carnet.core.db import Base, JSONType, UTCDateTime, get_database, in_ids

log = logging.getLogger("carnet.jobs")

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
STATUSES = (QUEUED, RUNNING, DONE, FAILED, CANCELLED)
ERROR_MAX_CHARS = 4000


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), index=True)
    queue: Mapped[str] = mapped_column(String(40), default="default")
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=QUEUED)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=10)
    last_error: Mapped[str | None] = mapped_column(Text)
    locked_by: Mapped[str | None] = mapped_column(String(120))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class Retry(Exception):
    """Raised by a job to be run again at a chosen time (e.g. a receiver's Retry-After).

    `count_attempt=False` re-schedules without using up an attempt (rate limits, busy resources)."""

    def __init__(
        self,
        after: timedelta | None = None,
        *,
        at: datetime | None = None,
        reason: str = "",
        count_attempt: bool = True,
    ) -> None:
        super().__init__(reason or "retry requested")
        self.at = at or clock.now() + (after or timedelta(0))
        self.reason = reason
        self.count_attempt = count_attempt


@dataclass(frozen=True)
class TaskSpec:
    name: str
    func: Callable[[Any], Any]  # a payload, or a list of payloads when batch_size > 1
    queue: str
    max_attempts: int
    backoff_base: timedelta
    backoff_cap: timedelta
    batch_size: int = 1


@dataclass(frozen=True)
class PeriodicSpec:
    name: str
    every: timedelta | None
    cron: str | None
    tz: str


_tasks: dict[str, TaskSpec] = {}
_periodic: dict[str, PeriodicSpec] = {}
_last_slot: dict[str, datetime] = {}
_enqueue_hooks: list[Callable[[Session, list[Any]], None]] = []  # Job or Enqueued: .id, .name


@dataclass(frozen=True)
class Enqueued:
    """A job added by `enqueue_many` (no ORM object is built for it)."""

    id: int
    name: str


def task(
    name: str,
    *,
    queue: str = "default",
    max_attempts: int = 10,
    backoff_base: timedelta = timedelta(seconds=30),
    backoff_cap: timedelta = timedelta(hours=6),
) -> Callable[[Callable[[dict[str, Any]], Any]], Callable[[dict[str, Any]], Any]]:
    """Register a job function under `<domain>.<verb>`."""

    def register(func: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
        if name in _tasks and _tasks[name].func is not func:
            raise ValueError(f"job {name!r} is already registered")
        _tasks[name] = TaskSpec(name, func, queue, max_attempts, backoff_base, backoff_cap)
        return func

    return register


def batch_task(
    name: str,
    *,
    size: int,
    queue: str = "default",
    max_attempts: int = 10,
    backoff_base: timedelta = timedelta(seconds=30),
    backoff_cap: timedelta = timedelta(hours=6),
) -> Callable[[Callable[[list[dict[str, Any]]], Any]], Callable[[list[dict[str, Any]]], Any]]:
    """Register a job whose rows are run up to `size` at a time: the function gets the payloads of
    the due jobs of that name claimed together (one claim, one call, one finishing statement).
    Each row stays a job of its own (key, due time, lease, Celery message), so a lost or killed
    batch is run again job by job like any other. If the call raises, every job of the batch is
    retried (or failed) by its own attempt count, as if each had raised; to fail some jobs only,
    return a list with one outcome per payload (None, or the exception that job raised)."""
    if size < 2:
        raise ValueError("a batch task takes at least 2 jobs at a time")

    def register(func: Callable[[list[dict[str, Any]]], Any]) -> Callable[[list[dict[str, Any]]], Any]:
        if name in _tasks and _tasks[name].func is not func:
            raise ValueError(f"job {name!r} is already registered")
        _tasks[name] = TaskSpec(name, func, queue, max_attempts, backoff_base, backoff_cap, size)
        return func

    return register


def periodic(
    name: str,
    *,
    every: timedelta | None = None,
    cron: str | None = None,
    tz: str = "Europe/Paris",
    queue: str = "default",
    max_attempts: int = 3,
) -> Callable[[Callable[[dict[str, Any]], Any]], Callable[[dict[str, Any]], Any]]:
    """Register a job run once per time slot (`every` interval, or a `cron` expression in `tz`).

    `tick` enqueues the current slot's job with the key `periodic:<name>:<slot>`, so however many
    runners tick, a slot runs once. Slots missed while nothing ran are not caught up: the next slot
    does the work (periodic jobs scan for what is due rather than assume they ran every time)."""
    if (every is None) == (cron is None):
        raise ValueError("give exactly one of every= or cron=")
    if cron is not None:
        from croniter import croniter

        if not croniter.is_valid(cron):
            raise ValueError(f"invalid cron expression {cron!r}")

    def register(func: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
        task(name, queue=queue, max_attempts=max_attempts)(func)
        _periodic[name] = PeriodicSpec(name, every, cron, tz)
        return func

    return register


def registered() -> dict[str, TaskSpec]:
    return dict(_tasks)


def periodic_specs() -> dict[str, PeriodicSpec]:
    return dict(_periodic)


def on_enqueue(hook: Callable[[Session, list[Any]], None]) -> None:
    """Called with the jobs added by `enqueue` (the Celery mode publishes them after commit)."""
    _enqueue_hooks.append(hook)


def backoff(
    attempt: int, base: timedelta = timedelta(seconds=30), cap: timedelta = timedelta(hours=6)
) -> timedelta:
    """Exponential backoff with full jitter on the upper half: base·2^(attempt-1), capped."""
    ceiling = min(cap.total_seconds(), base.total_seconds() * 2 ** max(attempt - 1, 0))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def enqueue(
    db: Session,
    name: str,
    payload: dict[str, Any] | None = None,
    *,
    due_at: datetime | None = None,
    key: str | None = None,
    max_attempts: int | None = None,
) -> Job:
    """Add a job to the caller's transaction. With a `key`, an existing job of that key is returned
    unchanged instead (the caller asked for that piece of work once already)."""
    spec = _tasks.get(name)
    if spec is None:
        raise ValueError(f"unknown job {name!r}")
    job = Job(
        name=name,
        queue=spec.queue,
        payload=payload or {},
        key=key,
        status=QUEUED,
        due_at=due_at or clock.now(),
        attempts=0,
        max_attempts=max_attempts or spec.max_attempts,
        created_at=clock.now(),
    )
    if key is None:
        db.add(job)
        db.flush([job])
    else:
        existing = db.scalar(select(Job).where(Job.key == key))
        if existing is not None:
            return existing
        try:
            with db.begin_nested():
                db.add(job)
        except IntegrityError:  # another transaction enqueued the same key first
            return db.scalars(select(Job).where(Job.key == key)).one()
    for hook in _enqueue_hooks:
        hook(db, [job])
    return job


def enqueue_many(
    db: Session,
    name: str,
    items: list[tuple[dict[str, Any], datetime, str | None]],
) -> list[int]:
    """Add many jobs of one name in one INSERT: (payload, due time, key) each. A key that already
    exists is skipped, as `enqueue` would return the existing job. Returns the new jobs' ids."""
    spec = _tasks.get(name)
    if spec is None:
        raise ValueError(f"unknown job {name!r}")
    if not items:
        return []
    now = clock.now()
    rows = [
        {
            "name": name,
            "queue": spec.queue,
            "payload": payload,
            "key": key,
            "status": QUEUED,
            "due_at": due_at,
            "attempts": 0,
            "max_attempts": spec.max_attempts,
            "created_at": now,
        }
        for payload, due_at, key in items
    ]
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    table = Job.__table__
    statement = dialect_insert(table)
    if any(key is not None for _p, _d, key in items):
        statement = statement.on_conflict_do_nothing(index_elements=["key"])
    ids = list(db.scalars(statement.returning(table.c.id), rows))
    if ids:
        new_jobs = [Enqueued(job_id, name) for job_id in ids]  # for the after-commit hooks
        for hook in _enqueue_hooks:
            hook(db, new_jobs)
    return ids


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


@dataclass(frozen=True)
class Claimed:
    id: int
    name: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int


def lease() -> timedelta:
    """A job still "running" after its lease (`CARNET_JOB_LEASE_SECONDS`) is presumed dead: it runs
    again. Longer than any job should take; short enough that a killed worker's jobs are not stuck."""
    from carnet.settings import get_settings

    return timedelta(seconds=get_settings().job_lease_seconds)


def _claim(
    db: Session,
    worker: str,
    limit: int,
    queues: list[str] | None,
    job_id: int | None,
    name: str | None = None,
) -> list[Claimed]:
    now = clock.now()
    due = select(Job.id).where(Job.status == QUEUED, Job.due_at <= now)
    if job_id is not None:
        due = due.where(Job.id == job_id)
    if name is not None:
        due = due.where(Job.name == name)
    if queues:
        due = due.where(Job.queue.in_(queues))
    due = due.order_by(Job.due_at, Job.id).limit(limit)
    if db.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    # The ids first, then the update: PostgreSQL may run an `IN (SELECT … LIMIT n)` subquery more
    # than once within one UPDATE, which would claim more than `limit` jobs.
    ids = list(db.scalars(due))
    if not ids:
        return []
    statement = (
        update(Job)
        .where(in_ids(db, Job.id, ids), Job.status == QUEUED)
        .values(
            status=RUNNING,
            locked_by=worker,
            locked_until=now + lease(),
            started_at=now,
            attempts=Job.attempts + 1,
        )
        .returning(Job.id, Job.name, Job.payload, Job.attempts, Job.max_attempts)
        .execution_options(synchronize_session=False)
    )
    rows = db.execute(statement).all()
    return sorted((Claimed(*row) for row in rows), key=lambda c: c.id)


def _top_up(
    db: Session, worker: str, claimed: list[Claimed], queues: list[str] | None, full: bool
) -> list[Claimed]:
    """More due jobs of each batch task among `claimed`, up to its batch size, in the same
    transaction. `full`: the first claim filled its limit (otherwise nothing else is due)."""
    if not full:
        return []
    extra: list[Claimed] = []
    counts: dict[str, int] = {}
    for job in claimed:
        counts[job.name] = counts.get(job.name, 0) + 1
    for name, count in counts.items():
        spec = _tasks.get(name)
        if spec is not None and count < spec.batch_size:
            extra += _claim(db, worker, spec.batch_size - count, queues, None, name)
    return extra


def _finish(job: Claimed, worker: str, values: dict[str, Any]) -> None:
    _finish_many([job], worker, values)


def _finish_many(claimed: list[Claimed], worker: str, values: dict[str, Any]) -> None:
    with get_database().begin() as db:
        db.execute(
            update(Job)
            .where(
                in_ids(db, Job.id, [job.id for job in claimed]),
                Job.locked_by == worker,
                Job.status == RUNNING,
            )
            .values(locked_by=None, locked_until=None, **values)
            .execution_options(synchronize_session=False)
        )


def _error_text(exc: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return text[:ERROR_MAX_CHARS]


def _failed(job: Claimed, spec: TaskSpec, exc: Exception) -> dict[str, Any]:
    """The row's new values after its function raised `exc` (a Retry, or a crash)."""
    now = clock.now
    if isinstance(exc, Retry):
        values: dict[str, Any] = {"status": QUEUED, "due_at": exc.at, "last_error": exc.reason or None}
        if not exc.count_attempt:
            values["attempts"] = job.attempts - 1
        elif job.attempts >= job.max_attempts:
            values = {"status": FAILED, "finished_at": now(), "last_error": exc.reason or "out of attempts"}
        return values
    log.warning(
        "job %s #%s failed (attempt %s/%s): %s", job.name, job.id, job.attempts, job.max_attempts, exc
    )
    if job.attempts >= job.max_attempts:
        return {"status": FAILED, "finished_at": now(), "last_error": _error_text(exc)}
    delay = backoff(job.attempts, spec.backoff_base, spec.backoff_cap)
    return {"status": QUEUED, "due_at": now() + delay, "last_error": _error_text(exc)}


def _execute(job: Claimed, worker: str) -> str:
    """Run one claimed job and record its outcome; returns the new status."""
    spec = _tasks.get(job.name)
    if spec is None:
        _finish(
            job,
            worker,
            {"status": FAILED, "finished_at": clock.now(), "last_error": f"unknown job {job.name}"},
        )
        return FAILED
    if spec.batch_size > 1:
        return _execute_batch(spec, [job], worker)
    try:
        spec.func(job.payload)
    except Exception as exc:
        values = _failed(job, spec, exc)
        _finish(job, worker, values)
        return values["status"]
    _finish(job, worker, {"status": DONE, "finished_at": clock.now(), "last_error": None})
    return DONE


def _execute_batch(spec: TaskSpec, batch: list[Claimed], worker: str) -> str:
    """Run claimed jobs of one batch task with one call; one statement finishes those that
    succeeded. The function may return one outcome per payload (None, or the exception that job
    raised, e.g. a Retry); otherwise they all succeeded."""
    try:
        outcomes = spec.func([job.payload for job in batch])
    except Exception as exc:
        for job in batch:
            _finish(job, worker, _failed(job, spec, exc))
        return QUEUED
    if not isinstance(outcomes, list) or len(outcomes) != len(batch):
        outcomes = [None] * len(batch)
    done = [job for job, outcome in zip(batch, outcomes, strict=True) if outcome is None]
    if done:
        _finish_many(done, worker, {"status": DONE, "finished_at": clock.now(), "last_error": None})
    for job, outcome in zip(batch, outcomes, strict=True):
        if outcome is not None:
            _finish(job, worker, _failed(job, spec, outcome))
    return DONE if len(done) == len(batch) else QUEUED


def _run_claimed(claimed: list[Claimed], worker: str) -> None:
    """Plain jobs one after the other; the jobs of a batch task together, `batch_size` at a time."""
    batches: dict[str, list[Claimed]] = {}
    for job in claimed:
        spec = _tasks.get(job.name)
        if spec is not None and spec.batch_size > 1:
            batches.setdefault(job.name, []).append(job)
        else:
            _execute(job, worker)
    for name, group in batches.items():
        size = _tasks[name].batch_size
        for start in range(0, len(group), size):
            _execute_batch(_tasks[name], group[start : start + size], worker)


def run_due(*, limit: int = 100, queues: list[str] | None = None) -> int:
    """Claim the jobs due now (batch tasks topped up to their batch size) and run them; returns
    how many ran."""
    worker = worker_name()
    with get_database().begin() as db:
        claimed = _claim(db, worker, limit, queues, None)
        claimed += _top_up(db, worker, claimed, queues, full=len(claimed) >= limit)
    _run_claimed(claimed, worker)
    return len(claimed)


def run_job(job_id: int) -> bool:
    """Run one job if it is still queued and due (the Celery path); False if nothing ran.
    A batch task's job takes other due jobs of its name along; if someone else has it already,
    the message still runs a batch of the due jobs of its name (one message stands for a batch:
    see `message_ids`)."""
    worker = worker_name()
    with get_database().begin() as db:
        claimed = _claim(db, worker, 1, None, job_id)
        if claimed:
            claimed += _top_up(db, worker, claimed, None, full=True)
        else:
            spec = _tasks.get(db.scalar(select(Job.name).where(Job.id == job_id)) or "")
            if spec is not None and spec.batch_size > 1:
                claimed = _claim(db, worker, spec.batch_size, None, None, spec.name)
    if not claimed:
        return False
    _run_claimed(claimed, worker)
    return True


def message_ids(new_jobs: list[tuple[int, str]]) -> list[int]:
    """The jobs (id, name) worth a message to the workers: every plain job, and one job per
    batch-size of each batch task (the worker running it takes its due siblings along). A job
    left without a message of its own is run by such a batch or found by the sweep."""
    out: list[int] = []
    seen: dict[str, int] = {}
    for job_id, name in new_jobs:
        spec = _tasks.get(name)
        if spec is None or spec.batch_size < 2:
            out.append(job_id)
            continue
        if seen.get(name, 0) % spec.batch_size == 0:
            out.append(job_id)
        seen[name] = seen.get(name, 0) + 1
    return out


def _current_slot(spec: PeriodicSpec, now: datetime) -> datetime:
    if spec.every is not None:
        step = spec.every.total_seconds()
        return datetime.fromtimestamp(now.timestamp() // step * step, tz=now.tzinfo)
    from croniter import croniter

    local = now.astimezone(ZoneInfo(spec.tz))
    # The latest slot at or before now: croniter's get_prev is exclusive, so ask from a second later.
    previous = croniter(spec.cron, local + timedelta(seconds=1)).get_prev(datetime)
    return previous.astimezone(now.tzinfo)


def tick() -> int:
    """Enqueue the current slot of each periodic job and re-queue jobs whose lease expired.
    Returns how many rows it touched."""
    now = clock.now()
    touched = 0
    slots: dict[str, datetime] = {}
    with get_database().begin() as db:
        for spec in _periodic.values():
            slot = _current_slot(spec, now)
            if _last_slot.get(spec.name) == slot:
                continue
            key = f"periodic:{spec.name}:{slot.isoformat()}"
            enqueue(db, spec.name, {"slot": slot.isoformat()}, due_at=slot, key=key)
            slots[spec.name] = slot
            touched += 1
        expired = (Job.status == RUNNING) & (Job.locked_until < now)
        touched += db.execute(
            update(Job)
            .where(expired, Job.attempts >= Job.max_attempts)
            .values(
                status=FAILED, finished_at=now, locked_by=None, locked_until=None, last_error="lease expired"
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        touched += db.execute(
            update(Job)
            .where(expired)
            .values(status=QUEUED, due_at=now, locked_by=None, locked_until=None, last_error="lease expired")
            .execution_options(synchronize_session=False)
        ).rowcount
    _last_slot.update(slots)  # only once committed: a rolled-back tick must enqueue again
    return touched


def drain(max_rounds: int = 50) -> int:
    """Tick, dispatch events and run due jobs until nothing is left due now (tests, CLI)."""
    from carnet.core import events

    total = 0
    for _ in range(max_rounds):
        tick()
        done = events.dispatch_pending() + run_due()
        total += done
        if not done:
            break
    return total


def retry_now(db: Session, job_id: int) -> Job | None:
    """An admin's "retry": a failed or waiting job becomes due now with fresh attempts."""
    job = db.get(Job, job_id)
    if job is None or job.status not in (FAILED, QUEUED, CANCELLED):
        return None
    job.status, job.due_at, job.finished_at = QUEUED, clock.now(), None
    job.attempts = 0
    for hook in _enqueue_hooks:
        hook(db, [job])
    return job


def cancel(db: Session, job_id: int) -> Job | None:
    """An admin's "cancel": a job not yet running never runs."""
    job = db.get(Job, job_id)
    if job is None or job.status != QUEUED:
        return None
    job.status, job.finished_at = CANCELLED, clock.now()
    return job


def lag_seconds(db: Session) -> float:
    """How late the oldest due job is: what the health check reports as runner lag."""
    oldest = db.scalar(select(Job.due_at).where(Job.status == QUEUED).order_by(Job.due_at).limit(1))
    if oldest is None:
        return 0.0
    return max(0.0, (clock.now() - oldest).total_seconds())


def _purge_finished(db: Session, settings: Any, dry_run: bool) -> int:
    """Finished jobs (done, failed, cancelled) past `CARNET_RETENTION_JOBS_DAYS` leave the table."""
    from carnet.settings import get_settings

    cutoff = clock.now() - timedelta(days=(settings or get_settings()).retention_jobs_days)
    where = Job.status.in_((DONE, FAILED, CANCELLED)) & (Job.finished_at < cutoff)
    if dry_run:
        return housekeeping.count(db, Job.__table__, where)
    return housekeeping.purge(db, Job.__table__, where)


housekeeping.register_purger("finished jobs", _purge_finished)
