"""Gapless numbering: concurrent transactions get 1..N with no gap and no duplicate, and a rolled-back
transaction gives its number back (on SQLite and on PostgreSQL, with real threads and connections)."""

from __future__ import annotations

import threading
import uuid
from datetime import date

import pytest
from sqlalchemy import delete

from carnet.core import sequences
from carnet.core.db import Database
from carnet.core.errors import ValidationFailed


class Boom(Exception):
    pass


def test_numbers_follow_each_other_and_a_rollback_leaves_no_gap(db):
    assert sequences.next_value(db, "t:a") == 1
    assert sequences.next_value(db, "t:a") == 2
    assert sequences.next_value(db, "t:b") == 1
    db.commit()
    nested = db.begin_nested()
    assert sequences.next_value(db, "t:a") == 3
    nested.rollback()
    assert sequences.next_value(db, "t:a") == 3
    assert sequences.current_value(db, "t:a") == 3


def test_concurrent_transactions_get_every_number_once(migrated):
    database = Database(migrated)
    series = f"test:{uuid.uuid4().hex}"
    committed: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        for round_ in range(6):
            try:
                with database.begin() as session:
                    value = sequences.next_value(session, series)
                    if (index + round_) % 4 == 0:
                        raise Boom()  # rolled back: its number must be given again
                    with lock:
                        committed.append(value)
            except Boom:
                pass
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert len(committed) == 36  # 48 attempts, 12 rolled back
        assert sorted(committed) == list(range(1, 37))
        with database.begin() as session:
            assert sequences.current_value(session, series) == 36
    finally:
        with database.begin() as session:
            session.execute(
                delete(sequences.SequenceCounter).where(sequences.SequenceCounter.series == series)
            )


def test_format_number_and_series():
    when = date(2026, 3, 5)
    assert sequences.format_number("DEV-{YYYY}-{seq:04}", 7, when) == "DEV-2026-0007"
    assert sequences.format_number("{YYYY}-F-{seq:04}", 12345, when) == "2026-F-12345"
    assert sequences.format_number("F{YY}{MM}-{seq}", 3, when) == "F2603-3"
    assert sequences.series_key("invoice", "{YYYY}-F-{seq:04}", when) == "invoice:2026-F-{seq:04}"
    assert sequences.series_key("invoice", "{YYYY}-F-{seq:04}", date(2027, 1, 1)) == "invoice:2027-F-{seq:04}"


@pytest.mark.parametrize(
    "pattern", ["DEV-{YYYY}", "FA {YYYY} {seq:04}", "{seq}-{seq}", "A{seq:04}{X}", "X" * 34 + "{seq}"]
)
def test_invalid_patterns_are_refused(pattern):
    with pytest.raises(ValidationFailed):
        sequences.validate_pattern(pattern, "quote_number_pattern")


def test_valid_pattern():
    assert sequences.validate_pattern(" DEV/{YYYY}_{MM}+{seq:05} ", "p") == "DEV/{YYYY}_{MM}+{seq:05}"
