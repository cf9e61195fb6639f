"""Gapless counters for document numbers (france.md §1.3: unique, chronological, continuous).

One counter row per series. `next_value` allocates in the caller's transaction: it creates the row
if needed (INSERT ... ON CONFLICT DO NOTHING), then increments it with UPDATE ... RETURNING. The
UPDATE holds the row lock until the caller commits, so concurrent transactions queue on
PostgreSQL (SQLite write transactions are serial already, BEGIN IMMEDIATE); a rolled-back
transaction gives its number back, so no gap and no duplicate.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from sqlalchemy import BigInteger, String, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from carnet.core import clock
from carnet.core.db import Base
from carnet.core.errors import ValidationFailed

TOKEN = re.compile(r"\{(YYYY|YY|MM|DD|seq(?::0?(\d))?)\}")
# French CTC schematron, BR-FR-01/02: at most 35 characters from A-Z a-z 0-9 + - _ / (france.md §1.3).
ALLOWED = re.compile(r"^[A-Za-z0-9+\-_/]+$")
MAX_LENGTH = 35


class SequenceCounter(Base):
    __tablename__ = "sequence_counters"

    series: Mapped[str] = mapped_column(String(120), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


def next_value(db: Session, series: str) -> int:
    """The next number of `series` (1 for a new one), allocated in the caller's transaction."""
    dialect = db.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.execute(
        insert(SequenceCounter)
        .values(series=series, value=0, updated_at=clock.now())
        .on_conflict_do_nothing(index_elements=["series"])
    )
    return int(
        db.execute(
            update(SequenceCounter)
            .where(SequenceCounter.series == series)
            .values(value=SequenceCounter.value + 1, updated_at=clock.now())
            .returning(SequenceCounter.value)
        ).scalar_one()
    )


def current_value(db: Session, series: str) -> int:
    """The last number given in `series` (0 when none)."""
    return int(db.scalar(select(SequenceCounter.value).where(SequenceCounter.series == series)) or 0)


def _render(pattern: str, value: int | None, when: date) -> str:
    def replace(match: re.Match[str]) -> str:
        token = match.group(1)
        if token == "YYYY":
            return f"{when.year:04d}"
        if token == "YY":
            return f"{when.year % 100:02d}"
        if token == "MM":
            return f"{when.month:02d}"
        if token == "DD":
            return f"{when.day:02d}"
        if value is None:
            return match.group(0)
        width = int(match.group(2) or 0)
        return f"{value:0{width}d}"

    return TOKEN.sub(replace, pattern)


def format_number(pattern: str, value: int, when: date) -> str:
    """`DEV-{YYYY}-{seq:04}` with 7 on 2026-03-01 -> `DEV-2026-0007`."""
    return _render(pattern, value, when)


def series_key(kind: str, pattern: str, when: date) -> str:
    """The counter a number belongs to: the pattern with its date parts filled in, so a pattern
    with {YYYY} restarts at 1 each year and a pattern without one never does."""
    return f"{kind}:{_render(pattern, None, when)}"[:120]


def validate_pattern(pattern: str, field: str) -> str:
    """A numbering pattern: one {seq} or {seq:0N}, optional {YYYY} {YY} {MM} {DD}, and otherwise only
    the characters the French e-invoicing rules allow, at most 35 characters once rendered."""
    pattern = (pattern or "").strip()
    seqs = [m for m in TOKEN.finditer(pattern) if m.group(1).startswith("seq")]
    if len(seqs) != 1:
        raise ValidationFailed.on(
            field,
            "The pattern needs the counter token exactly once, such as seq:04 in braces",
            "invalid_pattern",
        )
    literal = TOKEN.sub("0", pattern)
    if "{" in literal or "}" in literal or not ALLOWED.match(literal):
        raise ValidationFailed.on(
            field,
            "Use only letters, digits, + - _ / and the tokens YYYY, YY, MM, DD and seq in braces",
            "invalid_pattern",
        )
    if len(format_number(pattern, 999999, date(2099, 12, 31))) > MAX_LENGTH:
        raise ValidationFailed.on(field, "A number can have at most 35 characters", "too_long")
    return pattern
