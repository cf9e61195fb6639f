"""Where workflow emails and in-app notifications leave: `carnet.core.mail` (an outgoing email row
and its `mail.send` job) and `carnet.notifications.service.notify` (which honours each user's
preferences). Both are added to the caller's transaction, so they exist only if the step commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

NOTIFICATION_TYPE = "mention"  # "Mentions and workflow messages" in the user's preferences


def send_email(
    db: Session,
    to: str,
    subject: str,
    text: str,
    html: str | None,
    *,
    record_type: str | None,
    record_id: int | None,
    user_id: int | None,
) -> int:
    """Queue one email; returns the outgoing email row's id."""
    from carnet.core import mail

    email = mail.queue_email(
        db, to, subject, text, html, record_type=record_type, record_id=record_id, user_id=user_id
    )
    return email.id


def notify(
    db: Session,
    user_id: int,
    title: str,
    body: str,
    *,
    record_type: str | None,
    record_id: int | None,
    key: str,
) -> int | None:
    """Notify one user in-app (and by email if they chose so); None when their preferences say no.
    `key` makes a retried step notify once."""
    from carnet.notifications import service as notifications

    note: Any = notifications.notify(
        db, user_id, NOTIFICATION_TYPE, title, body, record_type, record_id, key=key
    )
    return note.id if note is not None else None
