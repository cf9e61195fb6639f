"""`core.db.insert_rows`, the bulk INSERT of set-based writes (a COPY on PostgreSQL from
COPY_FROM_ROWS rows, an INSERT below): either way rows read back exactly as rows the ORM wrote,
defaults included, and a refused row raises the SQLAlchemy error an INSERT raises (the import's
row-by-row retry relies on it)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from carnet.core.db import COPY_FROM_ROWS, insert_rows
from carnet.core.events import Event
from carnet.core.search import SearchDocument

SIZES = [2, COPY_FROM_ROWS]  # an INSERT, then a COPY on PostgreSQL


@pytest.mark.parametrize("size", SIZES)
def test_rows_read_back_as_the_orm_writes_them(db, size):
    when = datetime(2026, 11, 21, 9, 30, 15, 123456, tzinfo=UTC)
    payload = {"name": "Société Générale", "emails": ["a@b.fr"], "nested": {"n": 1, "none": None}}
    db.add(
        Event(
            event_id="orm-1", type="t.bulk", record_type="t", record_id=1, occurred_at=when, payload=payload
        )
    )
    db.flush()
    rows = [
        {
            "event_id": f"bulk-{i}",
            "type": "t.bulk",
            "record_type": "t",
            "record_id": None if i else 1,
            "occurred_at": when,
            "payload": {} if i else payload,
        }
        for i in range(size)
    ]
    insert_rows(db, Event.__table__, rows)
    db.expire_all()
    events = {e.event_id: e for e in db.scalars(select(Event).where(Event.type == "t.bulk"))}
    assert set(events) == {"orm-1", *(f"bulk-{i}" for i in range(size))}
    orm, bulk = events["orm-1"], events["bulk-0"]
    assert (bulk.occurred_at, bulk.payload, bulk.record_id, bulk.dispatched_at) == (
        orm.occurred_at,
        orm.payload,
        orm.record_id,
        None,
    )
    assert bulk.occurred_at == when
    assert events["bulk-1"].record_id is None and events["bulk-1"].payload == {}


@pytest.mark.parametrize("size", SIZES)
def test_columns_left_out_take_their_python_default(db, size):
    insert_rows(
        db,
        SearchDocument.__table__,
        [
            {
                "record_type": "t_bulk",
                "record_id": i,
                "title": f"Titre {i}",
                "owner_id": None,
                "department_id": None,
            }
            for i in range(size)
        ],
    )
    docs = db.execute(
        select(SearchDocument.subtitle, SearchDocument.body).where(SearchDocument.record_type == "t_bulk")
    ).all()
    assert [tuple(d) for d in docs] == [("", "")] * size  # "" (the model's default), not NULL


@pytest.mark.parametrize("size", SIZES)
def test_a_refused_row_raises_the_error_an_insert_raises(db, size):
    rows = [
        {
            "record_type": "t_bulk",
            "record_id": i if i < size - 1 else 0,  # the last row repeats the first one's key
            "title": "Deux fois",
            "subtitle": "",
            "body": "",
            "owner_id": None,
            "department_id": None,
        }
        for i in range(size)
    ]
    with pytest.raises(IntegrityError), db.begin_nested():
        insert_rows(db, SearchDocument.__table__, rows)
    assert db.scalars(select(SearchDocument).where(SearchDocument.record_type == "t_bulk")).all() == []


def test_json_values_are_stored_by_a_copy_as_by_an_insert(db):
    """On PostgreSQL the COPY encodes JSON itself (`_copy_processor`): the stored JSON, SQL NULL or
    JSON null, must be what the INSERT stores, escapes included."""
    values = [
        None,
        [],
        {},
        ["a@b.fr", "tab\\there", "line\nbreak", 'quote " and \\ backslash', "Société ☃"],
        {"nested": {"n": 1.5, "none": None, "ok": True}, "list": [1, "deux"]},
    ]

    def stored(prefix: str, count: int) -> list[tuple[object, ...]]:
        rows = [
            {
                "event_id": f"{prefix}-{i}",
                "type": f"t.{prefix}",
                "record_type": "t",
                "record_id": i,
                "occurred_at": datetime(2026, 11, 21, tzinfo=UTC),
                "payload": values[i % len(values)],
            }
            for i in range(count)
        ]
        insert_rows(db, Event.__table__, rows)
        found = db.execute(
            select(Event.record_id, Event.payload, Event.payload.is_(None))
            .where(Event.type == f"t.{prefix}", Event.record_id < len(values))
            .order_by(Event.record_id)
        )
        return [tuple(row) for row in found]

    assert stored("copy", COPY_FROM_ROWS) == stored("insert", len(values))
