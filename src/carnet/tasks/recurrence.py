"""Dates of the next occurrence of a recurring task, computed in the assignee's time zone so a
task due at 09:00 stays at 09:00 across daylight-saving changes."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta

from carnet.activities.inputs import zone


def add_months(day: date, months: int, anchor_day: int) -> date:
    """`day` moved by `months`, on `anchor_day` clamped to the end of the month (31 → 28/29/30)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(anchor_day, calendar.monthrange(year, month)[1]))


def next_due(due_at: datetime, recurrence: str, tz: str, anchor_day: int | None = None) -> datetime:
    """The next due date-time after `due_at` (UTC in, UTC out)."""
    local = due_at.astimezone(zone(tz))
    if recurrence == "daily":
        day = local.date() + timedelta(days=1)
    elif recurrence == "weekly":
        day = local.date() + timedelta(days=7)
    elif recurrence == "monthly":
        day = add_months(local.date(), 1, anchor_day or local.day)
    else:
        raise ValueError(f"unknown recurrence {recurrence!r}")
    wall = datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=zone(tz))
    return wall.astimezone(UTC)


def monthly_anchor(current: datetime, first: datetime, tz: str) -> int:
    """The day of month a monthly series keeps: the first occurrence's day, unless the current one
    was moved by hand (then the series follows the new day)."""
    cur, origin = current.astimezone(zone(tz)), first.astimezone(zone(tz))
    last_day = calendar.monthrange(cur.year, cur.month)[1]
    return origin.day if cur.day == min(origin.day, last_day) else cur.day
