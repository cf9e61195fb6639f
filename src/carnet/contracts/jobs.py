"""Background work of contracts: the daily pass (renewal alerts, tacit renewals, expiry,
automatic invoices), see `carnet.contracts.renewals`."""

from __future__ import annotations

from typing import Any

from carnet.contracts import renewals
from carnet.core import jobs


@jobs.periodic("contracts.daily", cron="15 6 * * *", tz="Europe/Paris")
def daily(payload: dict[str, Any]) -> None:
    """Idempotent: alerts and invoices are unique rows, renewals move the end date they check."""
    renewals.run_daily()
