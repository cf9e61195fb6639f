"""Task reminders: J-1, J-0 and J+1 (when still open, so overdue) by default, configured with
CARNET_TASK_REMINDER_OFFSETS. A reminder for offset N is due on the local day "due date + N" of
the assignee, from CARNET_TASK_REMINDER_HOUR on; it is sent that day only (a runner that was down
all day does not send yesterday's reminders late), at most once per task, offset and due date.

Called by the periodic job `tasks.reminders`: bounded batches, each in its own short transaction.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta

from sqlalchemy import and_, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carnet.accounts.models import User
from carnet.activities.inputs import local_today, start_of_day, zone
from carnet.core import clock, i18n
from carnet.core.db import get_database
from carnet.notifications import service as notifications
from carnet.settings import get_settings
from carnet.tasks.models import Task, TaskReminder
from carnet.tasks.service import OPEN_STATUSES

log = logging.getLogger("carnet.tasks.reminders")

BATCH_SIZE = 200
MAX_BATCHES = 20  # per run; the next run (a minute later) continues


def reminder_title(offset: int, title: str, lang: str) -> str:
    if offset < -1:
        return i18n.gettext("Due in {days} days: {title}", lang, days=-offset, title=title)
    if offset == -1:
        return i18n.gettext("Due tomorrow: {title}", lang, title=title)
    if offset == 0:
        return i18n.gettext("Due today: {title}", lang, title=title)
    return i18n.gettext("Overdue: {title}", lang, title=title)


def due_batch(db: Session, now: datetime, offset: int, tz: str, hour: int, limit: int) -> list[Task]:
    """Open tasks of assignees in `tz` whose reminder at `offset` is due now and not sent yet."""
    local_now = now.astimezone(zone(tz))
    if local_now.time() < time(hour):
        return []
    due_day = local_today(now, tz) - timedelta(days=offset)
    start, end = start_of_day(due_day, tz), start_of_day(due_day + timedelta(days=1), tz)
    already_sent = exists().where(
        TaskReminder.task_id == Task.id,
        TaskReminder.offset_days == offset,
        TaskReminder.due_at == Task.due_at,
    )
    stmt = (
        select(Task)
        .join(User, User.id == Task.owner_id)
        .where(
            User.timezone == tz,
            User.active.is_(True),
            Task.status.in_(OPEN_STATUSES),
            and_(Task.due_at >= start, Task.due_at < end),
            ~already_sent,
        )
        .order_by(Task.due_at, Task.id)
        .limit(limit)
    )
    return list(db.scalars(stmt))


def _send(db: Session, task: Task, offset: int, now: datetime) -> None:
    user = db.get(User, task.owner_id)
    assert user is not None and task.due_at is not None  # the batch query joined them
    db.add(
        TaskReminder(task_id=task.id, offset_days=offset, due_at=task.due_at, sent_at=now, user_id=user.id)
    )
    lang = user.language
    notifications.notify(
        db,
        user.id,
        "task_reminder",
        reminder_title(offset, task.title, lang),
        i18n.gettext("Due {date}", lang, date=i18n.format_datetime(task.due_at, lang, user.timezone)),
        "task",
        task.id,
        key=f"task_reminder:{task.id}:{offset}:{task.due_at.isoformat()}",
    )


def send_due_reminders(batch_size: int = BATCH_SIZE, max_batches: int = MAX_BATCHES) -> int:
    """Send the reminders due now; returns how many were sent."""
    settings = get_settings()
    offsets, hour = settings.reminder_offsets, settings.task_reminder_hour
    database = get_database()
    now = clock.now()
    with database.session(write=False) as db:
        zones = list(db.scalars(select(User.timezone).where(User.active.is_(True)).distinct()))
    sent = batches = 0
    for tz in zones:
        for offset in offsets:
            while batches < max_batches:
                batches += 1
                try:
                    with database.begin() as db:
                        tasks = due_batch(db, now, offset, tz, hour, batch_size)
                        for task in tasks:
                            _send(db, task, offset, now)
                except IntegrityError:
                    # Another runner sent part of this batch first: query again.
                    log.info("reminder batch raced with another runner; retrying")
                    continue
                sent += len(tasks)
                if len(tasks) < batch_size:
                    break
    return sent
