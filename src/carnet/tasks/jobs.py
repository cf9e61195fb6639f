"""Periodic jobs of the tasks domain: reminders (every minute) and recurring occurrences."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from carnet.core import clock, jobs
from carnet.core.db import get_database
from carnet.settings import get_settings
from carnet.tasks import reminders, service

OCCURRENCE_BATCH = 200
OCCURRENCE_MAX_BATCHES = 20


@jobs.periodic("tasks.reminders", every=timedelta(minutes=1))
def send_reminders(payload: dict[str, Any]) -> None:
    reminders.send_due_reminders()


@jobs.periodic("tasks.occurrences", every=timedelta(minutes=10))
def create_occurrences(payload: dict[str, Any]) -> None:
    """Next occurrences of recurring tasks due within CARNET_TASK_RECURRENCE_LEAD_DAYS, walked by
    id in bounded batches, each its own transaction."""
    lead = timedelta(days=get_settings().task_recurrence_lead_days)
    now, after_id, created_in_walk = clock.now(), 0, 0
    for _ in range(OCCURRENCE_MAX_BATCHES):
        with get_database().begin() as db:
            created, next_after = service.create_due_occurrences(db, now, lead, after_id, OCCURRENCE_BATCH)
        created_in_walk += created
        if next_after is not None:
            after_id = next_after
        elif created_in_walk:
            # New occurrences may be due to have their own next one (a long outage): walk again.
            after_id, created_in_walk = 0, 0
        else:
            return
