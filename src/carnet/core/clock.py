"""The clock seam: all code asks here for the time so tests can move it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

_offset = timedelta(0)
_frozen: datetime | None = None


def now() -> datetime:
    """Current time, timezone-aware UTC."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC) + _offset


def today() -> date:
    return now().date()


def freeze(at: datetime | None) -> None:
    """Freeze time at `at` (None unfreezes). Tests only."""
    global _frozen
    _frozen = at


def advance(delta: timedelta) -> None:
    """Move time forward by `delta`. Tests only."""
    global _offset, _frozen
    if _frozen is not None:
        _frozen = _frozen + delta
    else:
        _offset += delta


def reset() -> None:
    global _offset, _frozen
    _offset = timedelta(0)
    _frozen = None
