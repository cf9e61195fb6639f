"""Workflow jobs: one step of a run, and the minute scan of time-based triggers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from carnet.core import jobs
from carnet.core.db import get_database
from carnet.workflows import engine, triggers


@jobs.task(engine.RUN_STEP, queue="workflows", max_attempts=engine.MAX_STEP_ATTEMPTS + 2)
def run_step(payload: dict[str, Any]) -> None:
    """Payload {"run_id", "seq"}: the step at the run's cursor (a no-op if the run moved on)."""
    engine.run_step(payload)


@jobs.periodic("workflows.scan_time_triggers", every=timedelta(minutes=1), queue="workflows")
def scan_time_triggers(payload: dict[str, Any]) -> None:
    """No activity for N days, N days before/after a date, task due, cron schedules."""
    triggers.scan_time_triggers(get_database().begin)
