"""Background work of payments: the daily dunning pass (see `carnet.payments.dunning`)."""

from __future__ import annotations

from typing import Any

from carnet.core import jobs
from carnet.payments import dunning


@jobs.periodic("payments.dunning", cron="30 8 * * *", tz="Europe/Paris")
def send_dunning(payload: dict[str, Any]) -> None:
    """Idempotent: each step of each invoice is a unique row, sent once."""
    dunning.run()
