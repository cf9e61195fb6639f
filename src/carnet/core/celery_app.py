"""The distributed runner: Celery workers run the same job functions, beat drives the clock.

The database rows stay the truth. A Celery message only says "job N may be due": the worker claims
the row (conditional update) before running it, so a duplicate message is harmless, and a lost one is
found again by the sweep that beat triggers every second. Messages are acknowledged late and
re-delivered when a worker dies; the job row's lease does the same for the database side.

`carnet worker` and `carnet beat` start this app; API processes with `CARNET_RUNNER=celery` only
publish (after commit) the jobs they enqueue.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import Celery
from celery.signals import worker_process_init
from sqlalchemy import or_, select, update

from carnet.core import clock, events, jobs, runner
from carnet.core.db import dispose_engines, get_database
from carnet.settings import get_settings

log = logging.getLogger("carnet.celery")

PUBLISH_HOLD = timedelta(seconds=30)  # a published job is re-published by the sweep after this
SWEEP_BATCH = 1000


def _make_app() -> Celery:
    settings = get_settings()
    broker = settings.redis_url or "redis://127.0.0.1:6379/0"
    app = Celery("carnet", broker=broker)
    app.conf.update(
        task_acks_late=True,  # a message is acknowledged after the job ran
        task_reject_on_worker_lost=True,  # ... and re-delivered if the worker died running it
        worker_prefetch_multiplier=1,
        task_default_queue="carnet",
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.job_lease_seconds},
        worker_hijack_root_logger=False,
        beat_schedule={"carnet-tick": {"task": "carnet.tick", "schedule": 1.0}},
        timezone="UTC",
    )
    return app


app = _make_app()


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    # A forked worker must not share the parent's database connections.
    dispose_engines()


@app.task(name="carnet.run_job")
def run_job(job_id: int) -> bool:
    return jobs.run_job(job_id)


@app.task(name="carnet.dispatch")
def dispatch() -> int:
    total = 0
    while (count := events.dispatch_pending()) > 0:
        total += count
    return total


@app.task(name="carnet.tick")
def tick() -> int:
    """Every second from beat: periodic slots, expired leases, pending events, and the sweep."""
    jobs.tick()
    dispatch()
    return sweep()


def sweep() -> int:
    """Publish every due job that is not running and was not published recently (lost messages,
    retries whose time has come, jobs enqueued by a process that could not reach the broker)."""
    now = clock.now()
    with get_database().begin() as db:
        due = select(jobs.Job.id, jobs.Job.name).where(
            jobs.Job.status == jobs.QUEUED,
            jobs.Job.due_at <= now,
            or_(jobs.Job.locked_until.is_(None), jobs.Job.locked_until < now),
        )
        found = db.execute(due.order_by(jobs.Job.due_at).limit(SWEEP_BATCH)).tuples().all()
        # Held from the next sweeps: the jobs messaged. A batch task's jobs get one message per
        # batch (its worker takes the siblings along); the next sweep messages any left over.
        ids = jobs.message_ids(list(found))
        if ids:
            db.execute(
                update(jobs.Job)
                .where(jobs.Job.id.in_(ids), jobs.Job.status == jobs.QUEUED)
                .values(locked_until=now + PUBLISH_HOLD)
                .execution_options(synchronize_session=False)
            )
    for job_id in ids:
        run_job.delay(job_id)
    return len(ids)


def publish(job_ids: list[int]) -> None:
    """After a commit in an API process: tell the workers about the jobs it enqueued."""
    for job_id in job_ids:
        run_job.delay(job_id)
    dispatch.delay()


def install_publisher() -> None:
    runner.on_commit(publish)
