"""JSON routes for the caller's own notifications and notification preferences."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from carnet.api.deps import ActorDep, DbDep
from carnet.core.context import Actor
from carnet.core.errors import ValidationFailed
from carnet.notifications import service
from carnet.notifications.schemas import (
    MarkedRead,
    NotificationPage,
    NotificationRead,
    PreferencesRead,
    PreferencesUpdate,
)

router = APIRouter(prefix="/notifications", tags=["notifications"])


def _preferences(db: DbDep, actor: Actor) -> dict[str, Any]:
    prefs = service.preferences(db, actor.user_id or 0)
    return {"items": [{"type": key, "label": t.label, **prefs[key]} for key, t in service.TYPES.items()]}


@router.get("", response_model=NotificationPage)
def list_notifications(
    db: DbDep,
    actor: ActorDep,
    unread: bool = False,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Your notifications, newest first; `unread=true` keeps the unread ones. `next_cursor` pages on."""
    before_id = None
    if cursor is not None:
        if not cursor.isdigit():
            raise ValidationFailed.on("cursor", "Invalid cursor", "invalid_cursor")
        before_id = int(cursor)
    rows, next_id = service.list_notifications(db, actor, unread=unread, before_id=before_id, limit=limit)
    return {
        "items": rows,
        "next_cursor": str(next_id) if next_id is not None else None,
        "unread_count": service.unread_count(db, actor.user_id or 0),
    }


@router.get("/preferences", response_model=PreferencesRead)
def get_preferences(db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Your choice of channels (in-app, email) per notification type, defaults included."""
    return _preferences(db, actor)


@router.put("/preferences", response_model=PreferencesRead)
def put_preferences(body: PreferencesUpdate, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Change channels per type; a channel left out keeps its current value."""
    changes: dict[str, dict[str, Any]] = {}
    for item in body.items:
        channels = item.model_dump(exclude_unset=True, exclude={"type"})
        changes.setdefault(item.type, {}).update(channels)
    service.set_preferences(db, actor, changes)
    return _preferences(db, actor)


@router.post("/read-all", response_model=MarkedRead)
def mark_all_read(db: DbDep, actor: ActorDep) -> dict[str, Any]:
    marked = service.mark_all_read(db, actor)
    return {"marked": marked, "unread_count": service.unread_count(db, actor.user_id or 0)}


@router.get("/{notification_id}", response_model=NotificationRead)
def get_notification(notification_id: int, db: DbDep, actor: ActorDep) -> Any:
    return service.get_notification(db, actor, notification_id)


@router.post("/{notification_id}/read", response_model=NotificationRead)
def mark_read(notification_id: int, db: DbDep, actor: ActorDep) -> Any:
    return service.mark_read(db, actor, notification_id)
