"""Notifications: `notify` is what other modules call (reminders, assignments, workflows, webhooks,
imports). It honours the recipient's preferences per type and channel (in-app, email) and works
inside the caller's transaction. Users read and mark only their own notifications."""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from carnet.accounts.models import User
from carnet.core import clock, i18n, mail, records
from carnet.core.context import Actor
from carnet.core.errors import FieldErrors, NotAuthenticated, NotFound, ValidationFailed
from carnet.notifications.models import Notification, NotificationPreference
from carnet.settings import get_settings

log = logging.getLogger("carnet.notifications")

CHANNELS = ("in_app", "email")


@dataclass(frozen=True)
class NotificationType:
    key: str
    label: str  # English, translated when shown
    email_default: bool


# In-app is on by default for every type; email for what a user must not miss.
TYPES: dict[str, NotificationType] = {
    t.key: t
    for t in (
        NotificationType("task_reminder", "Task reminders", True),
        NotificationType("task_assigned", "Tasks assigned to me", True),
        NotificationType("deal_assigned", "Deals assigned to me", True),
        NotificationType("mention", "Mentions and workflow messages", True),
        NotificationType("webhook_disabled", "Webhook endpoint disabled", True),
        NotificationType("import_finished", "Imports finished", False),
        NotificationType("system", "System messages", False),
    )
}


# -- preferences ----------------------------------------------------------------------------------


def preferences(db: Session, user_id: int) -> dict[str, dict[str, bool]]:
    """{type: {"in_app": bool, "email": bool}} with the defaults filled in."""
    out = {key: {"in_app": True, "email": t.email_default} for key, t in TYPES.items()}
    rows = db.execute(
        select(
            NotificationPreference.type, NotificationPreference.channel, NotificationPreference.enabled
        ).where(NotificationPreference.user_id == user_id)
    )
    for type_, channel, enabled in rows:
        if type_ in out and channel in CHANNELS:
            out[type_][channel] = enabled
    return out


def _require_user(actor: Actor) -> int:
    if actor.user_id is None:
        raise NotAuthenticated()
    return actor.user_id


def set_preferences(
    db: Session, actor: Actor, changes: dict[str, dict[str, Any]]
) -> dict[str, dict[str, bool]]:
    """Change the actor's own preferences: {type: {channel: bool}}; unnamed ones stay as they are.
    Unknown types, channels or non-boolean values are refused, nothing is written."""
    user_id = _require_user(actor)
    errors = FieldErrors()
    wanted: list[tuple[str, str, bool]] = []
    for type_, channels in changes.items():
        if type_ not in TYPES:
            errors.add(type_, "Unknown notification type", "unknown")
            continue
        if not isinstance(channels, dict):
            errors.add(type_, "Invalid value", "invalid")
            continue
        for channel, enabled in channels.items():
            if channel not in CHANNELS:
                errors.add(f"{type_}.{channel}", "Unknown channel", "unknown")
            elif not isinstance(enabled, bool):
                errors.add(f"{type_}.{channel}", "Must be true or false", "invalid_type")
            else:
                wanted.append((type_, channel, enabled))
    errors.raise_if_any()
    existing = {
        (p.type, p.channel): p
        for p in db.scalars(select(NotificationPreference).where(NotificationPreference.user_id == user_id))
    }
    for type_, channel, enabled in wanted:
        row = existing.get((type_, channel))
        if row is None:
            db.add(NotificationPreference(user_id=user_id, type=type_, channel=channel, enabled=enabled))
        else:
            row.enabled = enabled
    db.commit()
    return preferences(db, user_id)


# -- sending --------------------------------------------------------------------------------------


def record_url(record_type: str | None, record_id: int | None) -> str | None:
    rt = records.REGISTRY.get(record_type or "")
    if rt is None or record_id is None:
        return None
    return f"{rt.url_prefix}/{record_id}"


def _email_parts(user: User, title: str, body: str, url: str | None) -> tuple[str, str]:
    base = get_settings().base_url.rstrip("/")
    lang = user.language
    open_label = i18n.gettext("Open in Carnet", lang)
    footer = i18n.gettext(
        "You receive this email because of your notification preferences: {url}",
        lang,
        url=f"{base}/profile/notifications",
    )
    text = body.strip()
    if url:
        text += "\n\n" + i18n.gettext("Open in Carnet: {url}", lang, url=base + url)
    text += f"\n\n-- \n{footer}\n"
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in body.strip().split("\n\n") if p.strip())
    link = f'<p><a href="{html.escape(base + url)}">{html.escape(open_label)}</a></p>' if url else ""
    html_body = (
        '<!doctype html>\n<html><body style="font-family:sans-serif;line-height:1.5">'
        f"<h2>{html.escape(title)}</h2>{paragraphs}{link}"
        f'<hr><p style="color:#5a6172;font-size:12px">{html.escape(footer)}</p></body></html>\n'
    )
    return text, html_body


def notify(
    db: Session,
    user_id: int,
    type: str,
    title: str,
    body: str = "",
    record_type: str | None = None,
    record_id: int | None = None,
    *,
    email: bool = True,
    url: str | None = None,
    key: str | None = None,
) -> Notification | None:
    """Notify one user, in the caller's transaction (nothing is committed here).

    The user's preferences for `type` decide the channels: in-app (the bell) and email. `email=False`
    keeps this one off the email channel whatever the preference (e.g. the caller sends its own
    email). `url` defaults to the record's page. With `key`, a second call for the same user and key
    does nothing (consumers and jobs may run twice). Returns None when nothing was sent (inactive
    user, both channels off)."""
    if type not in TYPES:
        raise ValueError(f"unknown notification type {type!r}")
    user = db.get(User, user_id)
    if user is None or not user.active:
        return None
    if key is not None:
        existing = db.scalar(
            select(Notification).where(Notification.user_id == user_id, Notification.key == key)
        )
        if existing is not None:
            return existing
    wanted = preferences(db, user_id)[type]
    by_email = email and wanted["email"]
    if not wanted["in_app"] and not by_email:
        return None
    url = url or record_url(record_type, record_id)
    notification = Notification(
        user_id=user_id,
        type=type,
        title=title.strip()[:300],
        body=body.strip(),
        record_type=record_type,
        record_id=record_id,
        url=url,
        key=key,
        in_app=wanted["in_app"],
        created_at=clock.now(),
    )
    if by_email:
        text, html_body = _email_parts(user, notification.title, notification.body, url)
        try:
            sent = mail.queue_email(
                db,
                user.email,
                notification.title,
                text,
                html_body,
                record_type=record_type,
                record_id=record_id,
                user_id=user_id,
            )
        except ValidationFailed:
            # An address the mail module refuses must not block the in-app notification.
            log.warning("notification %s for user %s: unusable email address", type, user_id)
        else:
            notification.email_id = sent.id
    db.add(notification)
    db.flush()
    return notification


# -- reading and marking (own notifications only) -------------------------------------------------


def _own(actor: Actor) -> Any:
    return (Notification.user_id == _require_user(actor)) & Notification.in_app.is_(True)


def unread_count(db: Session, user_id: int) -> int:
    return (
        db.scalar(
            select(func.count())
            .select_from(Notification)
            .where(
                Notification.user_id == user_id, Notification.in_app.is_(True), Notification.read_at.is_(None)
            )
        )
        or 0
    )


def list_notifications(
    db: Session, actor: Actor, *, unread: bool = False, before_id: int | None = None, limit: int = 50
) -> tuple[list[Notification], int | None]:
    """The actor's notifications, newest first, and the id to pass as `before_id` for the next
    page (None on the last one)."""
    stmt = select(Notification).where(_own(actor))
    if unread:
        stmt = stmt.where(Notification.read_at.is_(None))
    if before_id is not None:
        stmt = stmt.where(Notification.id < before_id)
    rows = list(db.scalars(stmt.order_by(Notification.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


def get_notification(db: Session, actor: Actor, notification_id: int) -> Notification:
    """Someone else's notification is not found, like one that does not exist."""
    found = db.scalar(select(Notification).where(_own(actor), Notification.id == notification_id))
    if found is None:
        raise NotFound()
    return found


def mark_read(db: Session, actor: Actor, notification_id: int) -> Notification:
    notification = get_notification(db, actor, notification_id)
    if notification.read_at is None:
        notification.read_at = clock.now()
        db.commit()
    return notification


def mark_all_read(db: Session, actor: Actor) -> int:
    """Mark every unread notification of the actor read; returns how many were."""
    now: datetime = clock.now()
    result = db.execute(
        update(Notification)
        .where(_own(actor), Notification.read_at.is_(None))
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    )
    db.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def type_label(type_: str) -> str:
    t = TYPES.get(type_)
    return t.label if t else type_
