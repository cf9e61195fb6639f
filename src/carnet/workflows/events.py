"""The workflows consumer of domain events."""

from __future__ import annotations

from sqlalchemy.orm import Session

from carnet.core import events
from carnet.workflows import triggers


@events.consumer("workflows")
def on_event(db: Session, event: events.Event) -> None:
    """Start the active workflows this event triggers (one run per workflow and event)."""
    triggers.on_event(db, event)
