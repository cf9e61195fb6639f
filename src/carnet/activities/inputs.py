"""Cleaning date-times and durations typed by people, shared by activities and tasks.

A date-time without an offset (an HTML `datetime-local` field) is wall-clock time in the actor's
time zone; everything is stored in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from carnet.core.errors import FieldErrors


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "Europe/Paris")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Europe/Paris")


def clean_datetime(value: Any, tz: str, field: str, errors: FieldErrors) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            errors.add(field, "Enter a date and time", "invalid_datetime")
            return None
    else:
        errors.add(field, "Enter a date and time", "invalid_datetime")
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone(tz))
    if not 1900 <= parsed.year <= 2200:
        errors.add(field, "Enter a date and time", "invalid_datetime")
        return None
    return parsed.astimezone(UTC)


def clean_minutes(value: Any, field: str, errors: FieldErrors) -> int | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        minutes = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        errors.add(field, "Enter a number of minutes", "invalid_number")
        return None
    if not 0 <= minutes <= 100_000:
        errors.add(field, "Enter a number of minutes between 0 and {max}", "out_of_range", max=100_000)
        return None
    return minutes


def local_input_value(value: datetime | None, tz: str) -> str:
    """The value of a `datetime-local` input showing `value` in the user's time zone."""
    if value is None:
        return ""
    return value.astimezone(zone(tz)).strftime("%Y-%m-%dT%H:%M")


def start_of_day(day: date, tz: str) -> datetime:
    """Local midnight of `day`, in UTC."""
    return datetime.combine(day, time(0), tzinfo=zone(tz)).astimezone(UTC)


def local_today(now: datetime, tz: str) -> date:
    return now.astimezone(zone(tz)).date()


def day_range(day_from: date | None, day_to: date | None, tz: str) -> tuple[datetime | None, datetime | None]:
    """UTC bounds [start, end) covering whole local days from `day_from` to `day_to` inclusive."""
    start = start_of_day(day_from, tz) if day_from else None
    end = start_of_day(day_to + timedelta(days=1), tz) if day_to else None
    return start, end
