"""Imports and their undos run as background jobs (`imports.run`, `imports.undo`).

`service.start_import` / `service.start_undo` enqueue them in the same transaction that marks the
import running, so a crash between the click and the run loses nothing: the runner picks the job
up, and `run_import` resumes after the last processed line if a worker died half-way.
"""

from __future__ import annotations

from typing import Any

from carnet.accounts import service as accounts
from carnet.core import jobs
from carnet.core.context import Actor
from carnet.core.db import get_database
from carnet.imports import service


def _actor(payload: dict[str, Any]) -> Actor:
    """The user who started the import, with the request details of that moment (for the audit)."""
    with get_database().session(write=False) as db:
        user = accounts.get_user(db, payload["user_id"])
        return accounts.actor_for(
            user,
            ip=payload.get("ip"),
            user_agent=payload.get("user_agent"),
            request_id=payload.get("request_id"),
        )


@jobs.task("imports.run", queue="imports", max_attempts=3)
def run_import(payload: dict[str, Any]) -> None:
    service.run_import(payload["import_id"], _actor(payload))


@jobs.task("imports.undo", queue="imports", max_attempts=3)
def run_undo(payload: dict[str, Any]) -> None:
    service.run_undo(payload["import_id"], _actor(payload))
