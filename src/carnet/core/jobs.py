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
from carnet.core.db import Base, JSONType, UTCDateTime, get_database

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
    func: Callable[[dict[str, Any]], Any]
    queue: str
    max_attempts: int
    backoff_base: timedelta
    backoff_cap: timedelta


@dataclass(frozen=True)
class PeriodicSpec:
    name: str
    every: timedelta | None
    cron: str | None
    tz: str


_tasks: dict[str, TaskSpec] = {}
_periodic: dict[str, PeriodicSpec] = {}
_last_slot: dict[str, datetime] = {}
_enqueue_hooks: list[Callable[[Session, list[Job]], None]] = []


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


def on_enqueue(hook: Callable[[Session, list[Job]], None]) -> None:
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
    db: Session, worker: str, limit: int, queues: list[str] | None, job_id: int | None
) -> list[Claimed]:
    now = clock.now()
    due = select(Job.id).where(Job.status == QUEUED, Job.due_at <= now)
    if job_id is not None:
        due = due.where(Job.id == job_id)
    if queues:
        due = due.where(Job.queue.in_(queues))
    due = due.order_by(Job.due_at, Job.id).limit(limit)
    if db.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    statement = (
        update(Job)
        .where(Job.id.in_(due.scalar_subquery()), Job.status == QUEUED)
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


def _finish(job: Claimed, worker: str, values: dict[str, Any]) -> None:
    with get_database().begin() as db:
        db.execute(
            update(Job)
            .where(Job.id == job.id, Job.locked_by == worker, Job.status == RUNNING)
            .values(locked_by=None, locked_until=None, **values)
            .execution_options(synchronize_session=False)
        )


def _error_text(exc: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return text[:ERROR_MAX_CHARS]


def _execute(job: Claimed, worker: str) -> str:
    """Run one claimed job and record its outcome; returns the new status."""
    spec = _tasks.get(job.name)
    now = clock.now
    if spec is None:
        _finish(
            job, worker, {"status": FAILED, "finished_at": now(), "last_error": f"unknown job {job.name}"}
        )
        return FAILED
    try:
        spec.func(job.payload)
    except Retry as retry:
        values: dict[str, Any] = {"status": QUEUED, "due_at": retry.at, "last_error": retry.reason or None}
        if not retry.count_attempt:
            values["attempts"] = job.attempts - 1
        elif job.attempts >= job.max_attempts:
            values = {"status": FAILED, "finished_at": now(), "last_error": retry.reason or "out of attempts"}
        _finish(job, worker, values)
        return values["status"]
    except Exception as exc:
        log.warning(
            "job %s #%s failed (attempt %s/%s): %s", job.name, job.id, job.attempts, job.max_attempts, exc
        )
        if job.attempts >= job.max_attempts:
            _finish(job, worker, {"status": FAILED, "finished_at": now(), "last_error": _error_text(exc)})
            return FAILED
        delay = backoff(job.attempts, spec.backoff_base, spec.backoff_cap)
        _finish(job, worker, {"status": QUEUED, "due_at": now() + delay, "last_error": _error_text(exc)})
        return QUEUED
    _finish(job, worker, {"status": DONE, "finished_at": now(), "last_error": None})
    return DONE


def run_due(*, limit: int = 100, queues: list[str] | None = None) -> int:
    """Claim the jobs due now and run them one after the other; returns how many ran."""
    worker = worker_name()
    with get_database().begin() as db:
        claimed = _claim(db, worker, limit, queues, None)
    for job in claimed:
        _execute(job, worker)
    return len(claimed)


def run_job(job_id: int) -> bool:
    """Run one job if it is still queued and due (the Celery path); False if someone else has it."""
    worker = worker_name()
    with get_database().begin() as db:
        claimed = _claim(db, worker, 1, None, job_id)
    if not claimed:
        return False
    _execute(claimed[0], worker)
    return True


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
