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


@jobs.task("invoices.render_pdf", queue="documents", max_attempts=10)
def render_pdf(payload: dict[str, Any]) -> None:
    """Store the Factur-X PDF of an issued invoice when the issuing request could not (it renders
    right after the commit; this job is the safety net). Idempotent: a stored PDF is kept."""
    with get_database().begin() as db:
        service.render_pending_pdf(db, int(payload["invoice_id"]))
