"""`core.db.insert_rows`, the bulk INSERT of set-based writes (COPY on PostgreSQL): rows read
back exactly as rows the ORM wrote, defaults included, and a refused row raises the SQLAlchemy
error an INSERT raises (the import's row-by-row retry relies on it)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from carnet.core.db import insert_rows
from carnet.core.events import Event
from carnet.core.search import SearchDocument


def test_rows_read_back_as_the_orm_writes_them(db):
    when = datetime(2026, 11, 21, 9, 30, 15, 123456, tzinfo=UTC)
    payload = {"name": "Société Générale", "emails": ["a@b.fr"], "nested": {"n": 1, "none": None}}
    db.add(
        Event(
            event_id="orm-1", type="t.bulk", record_type="t", record_id=1, occurred_at=when, payload=payload
        )
    )
    db.flush()
    insert_rows(
        db,
        Event.__table__,
        [
            {
                "event_id": "bulk-1",
                "type": "t.bulk",
                "record_type": "t",
                "record_id": 1,
                "occurred_at": when,
                "payload": payload,
            },
            {
                "event_id": "bulk-2",
                "type": "t.bulk",
                "record_type": "t",
                "record_id": None,
                "occurred_at": when,
                "payload": {},
            },
        ],
    )
    db.expire_all()
    events = {e.event_id: e for e in db.scalars(select(Event).where(Event.type == "t.bulk"))}
    assert set(events) == {"orm-1", "bulk-1", "bulk-2"}
    orm, bulk = events["orm-1"], events["bulk-1"]
    assert (bulk.occurred_at, bulk.payload, bulk.record_id, bulk.dispatched_at) == (
        orm.occurred_at,
        orm.payload,
        orm.record_id,
        None,
    )
    assert bulk.occurred_at == when
    assert events["bulk-2"].record_id is None and events["bulk-2"].payload == {}


def test_columns_left_out_take_their_python_default(db):
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
            for i in (1, 2)
        ],
    )
    docs = db.execute(
        select(SearchDocument.record_id, SearchDocument.subtitle, SearchDocument.body)
        .where(SearchDocument.record_type == "t_bulk")
        .order_by(SearchDocument.record_id)
    ).all()
    assert [tuple(d) for d in docs] == [(1, "", ""), (2, "", "")]  # "" (the model's default), not NULL


def test_a_refused_row_raises_the_error_an_insert_raises(db):
    row = {
        "record_type": "t_bulk",
        "record_id": 7,
        "title": "Deux fois",
        "subtitle": "",
        "body": "",
        "owner_id": None,
        "department_id": None,
    }
    with pytest.raises(IntegrityError), db.begin_nested():
        insert_rows(db, SearchDocument.__table__, [row, row])
    assert db.scalars(select(SearchDocument).where(SearchDocument.record_type == "t_bulk")).all() == []
