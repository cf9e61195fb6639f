"""Lookups memoised for the length of one set-based write.

A set-based write (an import chunk) validates hundreds of rows with the same functions as a single
write; those functions look up the same owner, department or organisation for every row. Inside
`batch(db)` such lookups are read once; outside it they always hit the database, so a record
written alone never sees a stale value.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy.orm import Session

T = TypeVar("T")
_KEY = "batch_memo"


@contextmanager
def batch(db: Session) -> Iterator[None]:
    """Memoise `cached` lookups on `db` until the block ends (nested blocks share the outer one)."""
    if _KEY in db.info:
        yield
        return
    db.info[_KEY] = {}
    try:
        yield
    finally:
        db.info.pop(_KEY, None)


def cached(db: Session, key: Hashable, compute: Callable[[], T]) -> T:
    """`compute()`, read once per `batch` block for the same key."""
    memo: dict[Hashable, Any] | None = db.info.get(_KEY)
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def prime(db: Session, values: dict[Hashable, Any]) -> None:
    """Store lookups read in bulk beforehand (a no-op outside a `batch` block)."""
    memo: dict[Hashable, Any] | None = db.info.get(_KEY)
    if memo is not None:
        memo.update(values)
