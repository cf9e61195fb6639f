"""Workflow jobs: one step of a run, and the minute scan of time-based triggers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from carnet.core import jobs
from carnet.core.db import get_database
from carnet.workflows import engine, triggers


@jobs.batch_task(
    engine.RUN_STEP, size=engine.RUN_BATCH, queue="workflows", max_attempts=engine.MAX_STEP_ATTEMPTS + 2
)
def run_step(payloads: list[dict[str, Any]]) -> list[Exception | None]:
    """Payloads {"run_id", "seq"}: each run carried on from its cursor (a no-op if the run moved
    on); fresh runs together, the others one after the other (see `engine.run_batch`). A run's
    failure (a step retry) is that job's outcome only."""
    return engine.run_batch(payloads)


@jobs.periodic("workflows.scan_time_triggers", every=timedelta(minutes=1), queue="workflows")
def scan_time_triggers(payload: dict[str, Any]) -> None:
    """No activity for N days, N days before/after a date, task due, cron schedules."""
    triggers.scan_time_triggers(get_database().begin)
