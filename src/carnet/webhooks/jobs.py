"""Background jobs of the webhooks domain."""

from __future__ import annotations

from typing import Any

from carnet.core import jobs
from carnet.webhooks import delivery


@jobs.task("webhooks.deliver", queue="webhooks", max_attempts=10)
def deliver(payload: dict[str, Any]) -> None:
    """One attempt of one delivery. Retries of the delivery are new jobs with their own due time
    (backoff, Retry-After); the job's own retries only cover crashes of the runner."""
    delivery.run(int(payload["delivery_id"]), int(payload["seq"]))
