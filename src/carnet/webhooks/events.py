"""The webhooks consumer of domain events."""

from __future__ import annotations

from sqlalchemy.orm import Session

from carnet.core import events
from carnet.webhooks import service


@events.consumer("webhooks", batch=True)
def on_events(db: Session, batch: list[events.Event]) -> None:
    """A delivery (and its job) per event and subscribed endpoint, deduplicated by event id."""
    service.fan_out_many(db, batch)
