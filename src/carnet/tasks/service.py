"""Tasks (the to-do domain): every write goes through here. Completing a recurring task creates its
next occurrence; "today" and "overdue" are days in the user's time zone."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, not_, select
from sqlalchemy.orm import Session, aliased

from carnet.accounts.models import User
from carnet.activities import links
from carnet.activities.inputs import clean_datetime, local_today, start_of_day
from carnet.core import clock, customfields, events, i18n, lifecycle, permissions, records, timeline
from carnet.core.context import SYSTEM, Actor
from carnet.core.errors import FieldErrors, ValidationFailed
from carnet.core.listing import Listing, ListParams, page
from carnet.settings import get_settings
from carnet.tasks import recurrence as recur
from carnet.tasks.models import PRIORITIES, RECURRENCES, STATUSES, Task
from carnet.tasks.schemas import TaskRead

RECORD_TYPE = "task"
records.register(RECORD_TYPE, Task, "tasks", "Task", "/tasks")

OPEN_STATUSES = ("todo", "in_progress")
STATUS_LABELS = {"todo": "To do", "in_progress": "In progress", "done": "Done", "cancelled": "Cancelled"}
PRIORITY_LABELS = {"urgent": "Urgent", "high": "High", "normal": "Normal", "low": "Low"}
RECURRENCE_LABELS = {"daily": "Every day", "weekly": "Every week", "monthly": "Every month"}

LISTING = Listing(
    model=Task,
    record_type=RECORD_TYPE,
    fields={
        "id": Task.id,
        "title": Task.title,
        "due_at": Task.due_at,
        "priority": Task.priority,
        "status": Task.status,
        "owner_id": Task.owner_id,
        "department_id": Task.department_id,
        "record_type": Task.record_type,
        "record_id": Task.record_id,
        "recurrence": Task.recurrence,
        "completed_at": Task.completed_at,
        "previous_task_id": Task.previous_task_id,
        "created_at": Task.created_at,
        "updated_at": Task.updated_at,
    },
    sortable={"due_at", "title", "status", "completed_at", "created_at", "updated_at"},
)


def visible_clause(db: Session, actor: Actor) -> ColumnElement[bool]:
    return permissions.visible_for_model(db, actor, RECORD_TYPE, Task)


def _tz(actor: Actor | None) -> str:
    return actor.timezone if actor is not None else get_settings().default_timezone


def today_start(now: datetime, tz: str) -> datetime:
    return start_of_day(local_today(now, tz), tz)


def is_overdue(task: Task, now: datetime, tz: str) -> bool:
    """Still open and due on a day before today (in `tz`); today's tasks are never overdue."""
    return task.status in OPEN_STATUSES and task.due_at is not None and task.due_at < today_start(now, tz)


def overdue_clause(now: datetime, tz: str) -> ColumnElement[bool]:
    return and_(Task.status.in_(OPEN_STATUSES), Task.due_at < today_start(now, tz))


# -- reading --------------------------------------------------------------------------------------


def _next_ids(db: Session, task_ids: list[int], actor: Actor | None = None) -> dict[int, int]:
    """Next occurrence of each task (the ones `actor` may see, when given)."""
    if not task_ids:
        return {}
    stmt = select(Task.previous_task_id, Task.id).where(Task.previous_task_id.in_(task_ids))
    if actor is not None:
        stmt = stmt.where(visible_clause(db, actor))
    return {r.previous_task_id: r.id for r in db.execute(stmt)}


def to_read(task: Task, next_id: int | None, now: datetime, tz: str) -> dict[str, Any]:
    skip = ("next_task_id", "overdue")
    return TaskRead(
        **{c: getattr(task, c) for c in TaskRead.model_fields if c not in skip},
        next_task_id=next_id,
        overdue=is_overdue(task, now, tz),
    ).model_dump(mode="json")


def reads(db: Session, tasks: list[Task], actor: Actor | None = None) -> list[dict[str, Any]]:
    """API bodies; `overdue` is judged in `actor`'s time zone."""
    next_ids = _next_ids(db, [t.id for t in tasks], actor)
    now, tz = clock.now(), _tz(actor)
    return [to_read(t, next_ids.get(t.id), now, tz) for t in tasks]


def snapshot(task: Task) -> dict[str, Any]:
    return {
        "title": task.title,
        "description": task.description,
        "due_at": task.due_at,
        "priority": task.priority,
        "status": task.status,
        "completed_at": task.completed_at,
        "owner_id": task.owner_id,
        "department_id": task.department_id,
        "record_type": task.record_type,
        "record_id": task.record_id,
        "recurrence": task.recurrence,
        "previous_task_id": task.previous_task_id,
        "custom_fields": dict(task.custom_fields or {}),
    }


def get_task(db: Session, actor: Actor, task_id: Any) -> Task:
    return lifecycle.get_visible(db, actor, RECORD_TYPE, task_id)


def _filtered(db: Session, actor: Actor, params: ListParams) -> tuple[Any, ListParams]:
    """The visible-tasks statement with the `overdue` and `q` filters; other filters stay in params."""
    filters = dict(params.filters)
    overdue = filters.pop("overdue", None)
    stmt = select(Task).where(visible_clause(db, actor))
    if overdue is not None:
        flag = overdue.lower()
        if flag not in ("true", "false", "1", "0"):
            raise ValidationFailed.on("overdue", "Invalid filter value", "invalid_filter")
        clause = overdue_clause(clock.now(), actor.timezone)
        stmt = stmt.where(clause if flag in ("true", "1") else not_(clause) | Task.due_at.is_(None))
    if params.q:
        stmt = stmt.where(func.lower(Task.title).contains(params.q.strip().lower(), autoescape=True))
    return stmt, replace(params, filters=filters)


def list_tasks(db: Session, actor: Actor, params: ListParams) -> tuple[list[Task], str | None]:
    """Filters: status, priority, owner_id, record_type + record_id, due_at__gte/__lte,
    overdue=true|false (open and due before today in the actor's time zone), cf.<key>; `q`."""
    lifecycle.require(actor, RECORD_TYPE, "read")
    stmt, params = _filtered(db, actor, params)
    return page(db, LISTING, stmt, params)


def my_tasks_today_and_overdue(db: Session, actor: Actor, limit: int = 100) -> tuple[list[Task], list[Task]]:
    """(overdue, today): the actor's open tasks due before today / today, in their time zone."""
    if actor.user_id is None or not actor.can("tasks:read"):
        return [], []
    now, tz = clock.now(), actor.timezone
    start = today_start(now, tz)
    end = start_of_day(local_today(now, tz) + timedelta(days=1), tz)
    base = select(Task).where(
        Task.owner_id == actor.user_id, Task.status.in_(OPEN_STATUSES), visible_clause(db, actor)
    )
    overdue = db.scalars(base.where(Task.due_at < start).order_by(Task.due_at, Task.id).limit(limit))
    today = db.scalars(
        base.where(Task.due_at >= start, Task.due_at < end).order_by(Task.due_at, Task.id).limit(limit)
    )
    return list(overdue), list(today)


def for_record(
    db: Session, actor: Actor, record_type: str, record_id: int, include_closed: bool = False, limit: int = 50
) -> list[Task]:
    """The visible tasks linked to a record, soonest due first (undated last)."""
    if not actor.can("tasks:read"):
        return []
    stmt = select(Task).where(
        Task.record_type == record_type, Task.record_id == record_id, visible_clause(db, actor)
    )
    if not include_closed:
        stmt = stmt.where(Task.status.in_(OPEN_STATUSES))
    return list(db.scalars(stmt.order_by(Task.due_at.asc().nulls_last(), Task.id).limit(limit)))


def owner_names(db: Session, user_ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    rows = db.execute(select(User.id, User.first_name, User.last_name, User.email).where(User.id.in_(ids)))
    return {r.id: f"{r.first_name} {r.last_name}".strip() or r.email for r in rows}


# -- grouping for the task list -------------------------------------------------------------------

DATE_GROUPS = {
    "overdue": "Overdue",
    "earlier": "Earlier",
    "today": "Today",
    "tomorrow": "Tomorrow",
    "this_week": "This week",
    "later": "Later",
    "no_date": "No date",
}


@dataclass
class TaskGroup:
    key: str
    label: str  # English, translated in the template
    tasks: list[Task] = field(default_factory=list)


def date_group(task: Task, now: datetime, tz: str) -> str:
    if task.due_at is None:
        return "no_date"
    today = local_today(now, tz)
    day = local_today(task.due_at, tz)
    if day < today:
        return "overdue" if task.status in OPEN_STATUSES else "earlier"
    if day == today:
        return "today"
    if day == today + timedelta(days=1):
        return "tomorrow"
    if day <= today + timedelta(days=6 - today.weekday()):
        return "this_week"
    return "later"


def group_tasks(tasks: list[Task], how: str, actor: Actor, names: dict[int, str]) -> list[TaskGroup]:
    """Tasks grouped by due date (`date`), `priority` or `assignee`; empty groups are left out."""
    groups: dict[str, TaskGroup] = {}
    if how == "priority":
        for p in PRIORITIES:
            groups[p] = TaskGroup(p, PRIORITY_LABELS[p])
        for t in tasks:
            groups.setdefault(t.priority, TaskGroup(t.priority, t.priority)).tasks.append(t)
    elif how == "assignee":
        for t in sorted(tasks, key=lambda t: (names.get(t.owner_id or 0, "").lower(), t.owner_id or 0)):
            key = str(t.owner_id or "")
            label = names.get(t.owner_id or 0, "Unassigned")
            groups.setdefault(key, TaskGroup(key, label)).tasks.append(t)
    else:
        now, tz = clock.now(), actor.timezone
        for key, label in DATE_GROUPS.items():
            groups[key] = TaskGroup(key, label)
        for t in tasks:
            groups[date_group(t, now, tz)].tasks.append(t)
    return [g for g in groups.values() if g.tasks]


# -- writing --------------------------------------------------------------------------------------


def _choice(value: Any, choices: tuple[str, ...], name: str, errors: FieldErrors) -> str | None:
    cleaned = value.strip().lower() if isinstance(value, str) else value
    if cleaned not in choices:
        errors.add(name, "Choose one of: {values}", "invalid_choice", values=", ".join(choices))
        return None
    return cleaned


def _apply_assignee(
    db: Session,
    actor: Actor,
    task: Task,
    data: dict[str, Any],
    creating: bool,
    errors: FieldErrors,
    assignee_checked: bool = False,
) -> None:
    if not creating and "owner_id" not in data:
        return
    owner_id = data.get("owner_id")
    if owner_id is None and creating:
        owner_id = actor.user_id
    if owner_id is None:
        errors.add("owner_id", "This field is required", "required")
        return
    row = db.execute(select(User.department_id, User.active).where(User.id == owner_id)).first()
    if row is None:
        errors.add("owner_id", "Unknown user", "unknown")
        return
    if not row.active:
        errors.add("owner_id", "This user is deactivated", "inactive")
        return
    if (
        not assignee_checked
        and owner_id != task.owner_id
        and owner_id != actor.user_id
        and row.department_id != actor.department_id
        and not (actor.is_manager or actor.is_admin)
    ):
        errors.add(
            "owner_id", "Only a manager can assign a task to someone in another department", "forbidden"
        )
        return
    # The task follows its assignee: it is visible where they work.
    task.owner_id, task.department_id = owner_id, row.department_id


def _apply_link(db: Session, actor: Actor, task: Task, data: dict[str, Any], errors: FieldErrors) -> None:
    if "record_type" not in data and "record_id" not in data:
        return
    record_type = data.get("record_type", task.record_type) or None
    record_id = data.get("record_id", task.record_id)
    if record_type is None and record_id is None:
        task.record_type = task.record_id = None
        return
    if record_type is None:
        errors.add("record_type", "This field is required", "required")
        return
    if record_type not in links.LINKABLE_TYPES:
        errors.add(
            "record_type", "Choose one of: {values}", "invalid_choice", values=", ".join(links.LINKABLE_TYPES)
        )
        return
    if record_id is None:
        errors.add("record_id", "This field is required", "required")
        return
    try:
        record_id = int(record_id)
    except (TypeError, ValueError):
        errors.add("record_id", "Must be a number", "invalid_type")
        return
    if (record_type, record_id) != (task.record_type, task.record_id):
        links.require_visible(db, actor, record_type, record_id, "record_id", errors)
    task.record_type, task.record_id = record_type, record_id


def _apply(
    db: Session,
    actor: Actor,
    task: Task,
    data: dict[str, Any],
    creating: bool,
    record: tuple[str, int] | None = None,
    assignee_checked: bool = False,
) -> None:
    errors = FieldErrors()
    for name in ("title", "description"):
        if name in data:
            value = data[name]
            value = value.strip() if isinstance(value, str) else value
            setattr(task, name, value or None)
    if creating or "title" in data:
        if not task.title:
            errors.add("title", "This field is required", "required")
        elif len(task.title) > 200:
            errors.add("title", "At most {max} characters", "too_long", max=200)
    if "due_at" in data:
        task.due_at = clean_datetime(data["due_at"], actor.timezone, "due_at", errors)
    if creating or "priority" in data:
        task.priority = _choice(data.get("priority") or "normal", PRIORITIES, "priority", errors) or "normal"
    if creating or "status" in data:
        task.status = (
            _choice(data.get("status") or "todo", STATUSES, "status", errors) or task.status or "todo"
        )
    if "recurrence" in data:
        task.recurrence = (
            _choice(data["recurrence"], RECURRENCES, "recurrence", errors) if data["recurrence"] else None
        )
    if task.recurrence and task.due_at is None and not any(e.field == "due_at" for e in errors.errors):
        errors.add("due_at", "A recurring task needs a due date", "required")
    if record is not None:
        task.record_type, task.record_id = record
    else:
        _apply_link(db, actor, task, data, errors)
    _apply_assignee(db, actor, task, data, creating, errors, assignee_checked)
    if "custom_fields" in data or creating:
        task.custom_fields = customfields.validate(
            db, RECORD_TYPE, data.get("custom_fields"), None if creating else task.custom_fields, errors
        )
    errors.raise_if_any()
    task.updated_by_id = actor.user_id


def _read_one(db: Session, task: Task, actor: Actor) -> dict[str, Any]:
    return reads(db, [task], actor)[0]


def create_task(db: Session, actor: Actor, data: dict[str, Any]) -> Task:
    task = add_task(db, actor, data)
    db.commit()
    return task


def add_task(
    db: Session,
    actor: Actor,
    data: dict[str, Any],
    *,
    record: tuple[str, int] | None = None,
    assignee_checked: bool = False,
) -> Task:
    """`create_task` without the commit, for a service that creates tasks inside its own write
    (a project's phase tasks). `record` links the task to a record of that service's own type,
    whose visibility it has checked; `assignee_checked` skips the cross-department assignment
    rule for an assignee the calling service resolved (a template written by a manager)."""
    lifecycle.require(actor, RECORD_TYPE, "create")
    task = Task(created_by_id=actor.user_id, custom_fields={})
    _apply(db, actor, task, data, creating=True, record=record, assignee_checked=assignee_checked)
    if task.status == "done":
        task.completed_at = clock.now()
    db.add(task)
    db.flush()
    lifecycle.created(db, actor, RECORD_TYPE, task, snapshot(task), task.title, _read_one(db, task, actor))
    return task


def update_task(
    db: Session, actor: Actor, task: Task, data: dict[str, Any], expected_version: int | None = None
) -> Task:
    """Moving a task to `done` completes it (event `task.completed`, next occurrence when it
    recurs); moving it out of `done` reopens it."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    lifecycle.check_version(task, expected_version)
    before = snapshot(task)
    was_done = task.status == "done"
    _apply(db, actor, task, data, creating=False)
    completing = task.status == "done" and not was_done
    if completing:
        task.completed_at = clock.now()
    elif task.status != "done":
        task.completed_at = None
    after = snapshot(task)
    if before == after:
        db.rollback()
        return task
    db.flush()
    payload = _read_one(db, task, actor)
    lifecycle.updated(db, actor, RECORD_TYPE, task, before, after, task.title, payload)
    if completing:
        events.emit(db, actor, "task.completed", RECORD_TYPE, task.id, payload)
        if task.recurrence and task.due_at is not None:
            _create_next_occurrence(db, actor, task)
    db.commit()
    return task


def complete_task(db: Session, actor: Actor, task: Task, expected_version: int | None = None) -> Task:
    """Mark done (no-op when already done). The next occurrence of a recurring task is reachable
    as `next_task_id` in its read."""
    if task.status == "done":
        lifecycle.require(actor, RECORD_TYPE, "update")
        return task
    return update_task(db, actor, task, {"status": "done"}, expected_version)


def next_occurrence(db: Session, actor: Actor, task: Task) -> Task | None:
    return db.scalar(select(Task).where(Task.previous_task_id == task.id, visible_clause(db, actor)))


def previous_occurrence(db: Session, actor: Actor, task: Task) -> Task | None:
    if task.previous_task_id is None:
        return None
    return db.scalar(select(Task).where(Task.id == task.previous_task_id, visible_clause(db, actor)))


def _series_start(db: Session, task: Task) -> datetime | None:
    """Due date of the first occurrence of the task's series (walks previous_task_id)."""
    chain = (
        select(Task.id, Task.previous_task_id, Task.due_at, literal(0).label("depth"))
        .where(Task.id == task.id)
        .cte("chain", recursive=True)
    )
    earlier = aliased(Task)
    chain = chain.union_all(
        select(earlier.id, earlier.previous_task_id, earlier.due_at, chain.c.depth + 1)
        .join(chain, earlier.id == chain.c.previous_task_id)
        .where(chain.c.depth < 10_000)
    )
    return db.scalar(select(chain.c.due_at).order_by(chain.c.depth.desc()).limit(1))


def _next_occurrence_due(db: Session, task: Task, fallback_tz: str) -> datetime:
    """Due date of the occurrence after `task`, in its assignee's time zone."""
    assert task.due_at is not None and task.recurrence is not None
    tz = db.scalar(select(User.timezone).where(User.id == task.owner_id)) or fallback_tz
    anchor = None
    if task.recurrence == "monthly":
        first = _series_start(db, task) or task.due_at
        anchor = recur.monthly_anchor(task.due_at, first, tz)
    return recur.next_due(task.due_at, task.recurrence, tz, anchor)


def _create_next_occurrence(
    db: Session, actor: Actor, task: Task, due_at: datetime | None = None
) -> Task | None:
    if task.due_at is None or task.recurrence is None or _next_ids(db, [task.id]):
        return None  # already continued (completed, reopened, completed again)
    follow = Task(
        title=task.title,
        description=task.description,
        due_at=due_at or _next_occurrence_due(db, task, actor.timezone),
        priority=task.priority,
        status="todo",
        owner_id=task.owner_id,
        department_id=task.department_id,
        record_type=task.record_type,
        record_id=task.record_id,
        recurrence=task.recurrence,
        previous_task_id=task.id,
        custom_fields=dict(task.custom_fields or {}),
        created_by_id=actor.user_id,
        updated_by_id=actor.user_id,
    )
    db.add(follow)
    db.flush()
    lifecycle.created(
        db, actor, RECORD_TYPE, follow, snapshot(follow), follow.title, _read_one(db, follow, actor)
    )
    return follow


# Shortest gap between two occurrences of each recurrence, less an hour of daylight-saving slack:
# a task cannot need its next occurrence before due_at + gap - lead.
MIN_GAPS = {"daily": timedelta(days=1), "weekly": timedelta(days=7), "monthly": timedelta(days=28)}


def create_due_occurrences(
    db: Session, now: datetime, lead: timedelta, after_id: int = 0, limit: int = 200
) -> tuple[int, int | None]:
    """Create the next occurrence of open recurring tasks that are due to have one: its due date is
    less than `lead` away (the current occurrence need not be completed). Each task gets one next
    occurrence only, so running twice creates nothing more. Walks tasks by id from `after_id`;
    returns (how many were created, the id to continue after, None when the walk is over).
    Commits."""
    slack = timedelta(hours=1)
    candidates = list(
        db.scalars(
            select(Task)
            .where(
                Task.recurrence.in_(RECURRENCES),
                Task.status.in_(OPEN_STATUSES),
                Task.id > after_id,
                Task.due_at.is_not(None),
                Task.due_at <= now + lead + slack - MIN_GAPS["daily"],
            )
            .order_by(Task.id)
            .limit(limit)
        )
    )
    created = 0
    for task in candidates:
        if task.due_at is None or task.due_at > now + lead + slack - MIN_GAPS[task.recurrence or "daily"]:
            continue
        next_due = _next_occurrence_due(db, task, get_settings().default_timezone)
        if next_due - lead > now:
            continue
        if _create_next_occurrence(db, SYSTEM, task, next_due) is not None:
            created += 1
    db.commit()
    return created, (candidates[-1].id if len(candidates) == limit else None)


def delete_task(db: Session, actor: Actor, task: Task, expected_version: int | None = None) -> None:
    lifecycle.require(actor, RECORD_TYPE, "delete")
    lifecycle.check_version(task, expected_version)
    payload = _read_one(db, task, actor)
    lifecycle.deleted(db, actor, RECORD_TYPE, task, snapshot(task), task.title, payload)
    db.delete(task)
    db.commit()


# -- timeline -------------------------------------------------------------------------------------


@timeline.register
def timeline_items(
    db: Session, actor: Actor, record_type: str, record_id: int, limit: int
) -> list[timeline.TimelineItem]:
    """The record's visible tasks, in one query on the (record_type, record_id) index."""
    if record_type not in links.LINKABLE_TYPES or not actor.can("tasks:read"):
        return []
    when = func.coalesce(Task.completed_at, Task.due_at, Task.created_at)
    rows = db.execute(
        select(
            Task.id,
            Task.title,
            Task.status,
            Task.due_at,
            Task.priority,
            User.first_name,
            User.last_name,
            User.email,
            when.label("when"),
        )
        .outerjoin(User, User.id == Task.owner_id)
        .where(Task.record_type == record_type, Task.record_id == record_id, visible_clause(db, actor))
        .order_by(when.desc(), Task.id.desc())
        .limit(limit)
    )
    lang, tz = actor.language, actor.timezone
    items = []
    for r in rows:
        status = i18n.gettext(STATUS_LABELS.get(r.status, r.status), lang)
        body = status
        if r.due_at is not None:
            body += " · " + i18n.gettext("Due {date}", lang, date=i18n.format_datetime(r.due_at, lang, tz))
        items.append(
            timeline.TimelineItem(
                when=r.when,
                kind="task",
                title=r.title,
                body=body,
                url=f"/tasks/{r.id}",
                meta={
                    "by": f"{r.first_name or ''} {r.last_name or ''}".strip() or (r.email or ""),
                    "id": r.id,
                    "status": r.status,
                    "priority": r.priority,
                    "due_at": r.due_at.isoformat() if r.due_at else None,
                },
            )
        )
    return items
