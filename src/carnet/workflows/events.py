"""The workflows consumer of domain events."""

from __future__ import annotations

from sqlalchemy.orm import Session

from carnet.core import events
from carnet.workflows import triggers


@events.consumer("workflows", batch=True)
def on_events(db: Session, batch: list[events.Event]) -> None:
    """Start the active workflows these events trigger (one run per workflow and event)."""
    triggers.on_events(db, batch)
