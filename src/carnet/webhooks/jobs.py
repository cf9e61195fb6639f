"""Background jobs of the webhooks domain."""

from __future__ import annotations

from typing import Any

from carnet.core import jobs
from carnet.webhooks import delivery


@jobs.batch_task("webhooks.deliver", size=delivery.BATCH_SIZE, queue="webhooks", max_attempts=10)
def deliver(payloads: list[dict[str, Any]]) -> None:
    """One attempt of each delivery, run together (see `delivery.run_many`). Retries of a delivery
    are new jobs with their own due time (backoff, Retry-After); the jobs' own retries only cover
    crashes of the runner."""
    delivery.run_many([(int(p["delivery_id"]), int(p["seq"])) for p in payloads])
