"""Field parsing shared by the services (quotes, invoices, contracts, projects, the transparency
register...): each helper adds a field error to `errors` and returns None rather than raising, so a
form reports every wrong field at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from carnet.core import lifecycle
from carnet.core.errors import FieldErrors, ValidationFailed


def collect(errors: FieldErrors, parse: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a raising parser (money, rates...) and keep its field errors with the others."""
    try:
        return parse(*args, **kwargs)
    except ValidationFailed as exc:
        errors.errors.extend(exc.errors)
        return None


def whole_number(value: Any, name: str, errors: FieldErrors) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        errors.add(name, "Enter a whole number", "invalid_type")
        return None


def number_in_range(
    value: Any, name: str, errors: FieldErrors, low: int = 1, high: int = lifecycle.MAX_ID
) -> int | None:
    """A whole number between `low` and `high` (a day count, a position...); booleans are refused."""
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        errors.add(name, "Must be a number", "invalid_type")
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        errors.add(name, "Must be a number", "invalid_type")
        return None
    if not low <= number <= high:
        errors.add(name, "Must be between {min} and {max}", "out_of_range", min=low, max=high)
        return None
    return number


def record_id(value: Any, name: str, errors: FieldErrors) -> int | None:
    """An id of another record: anything that cannot be one is an unknown record."""
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        errors.add(name, "Unknown record", "unknown")
        return None
    if not 0 < number <= lifecycle.MAX_ID:
        errors.add(name, "Unknown record", "unknown")
        return None
    return number


def day(value: Any, name: str, errors: FieldErrors) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        errors.add(name, "Enter a date as YYYY-MM-DD", "invalid_date")
        return None


def text(value: Any, name: str, max_len: int, errors: FieldErrors) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.add(name, "Enter text", "invalid_type")
        return None
    value = value.strip()
    if len(value) > max_len:
        errors.add(name, "At most {max} characters", "too_long", max=max_len)
    return value or None
