"""The webhooks consumer of domain events."""

from __future__ import annotations

from sqlalchemy.orm import Session

from carnet.core import events
from carnet.webhooks import service


@events.consumer("webhooks")
def on_event(db: Session, event: events.Event) -> None:
    """A delivery (and its job) per subscribed endpoint, deduplicated by event id."""
    service.fan_out(db, event)
