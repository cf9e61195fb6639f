"""Background work of invoices: the daily pass that marks unpaid invoices past their due date
overdue (event `invoice.overdue`)."""

from __future__ import annotations

from typing import Any

from carnet.core import jobs
from carnet.core.db import get_database
from carnet.invoices import service

BATCH = 500
MAX_BATCHES = 40


@jobs.periodic("invoices.mark_overdue", cron="10 0 * * *", tz="Europe/Paris")
def mark_overdue(payload: dict[str, Any]) -> None:
    """Idempotent: only invoices still issued or partially paid and past due change, in batches."""
    for _ in range(MAX_BATCHES):
        with get_database().begin() as db:
            if service.mark_overdue(db, limit=BATCH) < BATCH:
                return
