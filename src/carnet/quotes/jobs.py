"""Background work of quotes: the daily expiry of sent quotes past their validity date."""

from __future__ import annotations

from typing import Any

from carnet.core import jobs
from carnet.core.db import get_database
from carnet.quotes import service

BATCH = 500
MAX_BATCHES = 20


@jobs.periodic("quotes.expire", cron="5 0 * * *", tz="Europe/Paris")
def expire(payload: dict[str, Any]) -> None:
    """Idempotent (only quotes still `sent` and past their date change), in short batches."""
    for _ in range(MAX_BATCHES):
        with get_database().begin() as db:
            if service.expire_due(db, BATCH) < BATCH:
                return
