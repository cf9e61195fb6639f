"""Assignment notifications: a task or deal given to someone by someone else (a colleague, a
workflow) notifies the new owner. Reads only the event payload (the record as the API returns it,
plus `changes` on updates); the notification key is the event id, so a redelivered event
notifies nobody twice."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from carnet.accounts.models import User
from carnet.core import events, i18n
from carnet.notifications import service

# event type -> (notification type, record type, title field of the payload, title template)
ASSIGNMENTS: dict[str, tuple[str, str, str, str]] = {
    "task.created": ("task_assigned", "task", "title", "Task assigned to you: {title}"),
    "task.updated": ("task_assigned", "task", "title", "Task assigned to you: {title}"),
    "deal.created": ("deal_assigned", "deal", "title", "Deal assigned to you: {title}"),
    "deal.updated": ("deal_assigned", "deal", "title", "Deal assigned to you: {title}"),
}


def new_owner(event: events.Event) -> int | None:
    """The owner the event gives the record, when it gives it one (creation or owner change)."""
    payload: dict[str, Any] = event.payload or {}
    if event.type.endswith(".created"):
        if payload.get("previous_task_id") is not None:
            return None  # the next occurrence of a recurring task: nobody assigned it
        owner = payload.get("owner_id")
    else:
        change = (payload.get("changes") or {}).get("owner_id")
        owner = change.get("new") if isinstance(change, dict) else None
    return owner if isinstance(owner, int) else None


@events.consumer("notifications")
def on_event(db: Session, event: events.Event) -> None:
    spec = ASSIGNMENTS.get(event.type)
    if spec is None:
        return
    owner_id = new_owner(event)
    if owner_id is None or owner_id == event.actor_id:
        return  # nobody, or people assigning themselves
    notification_type, record_type, title_field, template = spec
    user = db.get(User, owner_id)
    if user is None:
        return
    by = db.get(User, event.actor_id) if event.actor_id is not None else None
    lang = user.language
    title = i18n.gettext(template, lang, title=str(event.payload.get(title_field) or ""))
    body = i18n.gettext("Assigned by {name}", lang, name=by.full_name) if by is not None else ""
    service.notify(
        db,
        owner_id,
        notification_type,
        title,
        body,
        record_type,
        event.record_id,
        key=f"event:{event.event_id}",
    )
