"""Completing a recurring task creates the next occurrence, in the assignee's time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from carnet.core import clock
from carnet.core.events import Event
from carnet.tasks import recurrence


def _complete_chain(client: Any, first: dict[str, Any], times: int) -> list[str]:
    """Complete `times` occurrences in a row; the due dates of the series."""
    dues, current = [first["due_at"]], first
    for _ in range(times):
        done = client.post(f"/api/v1/tasks/{current['id']}/complete").json()
        current = client.get(f"/api/v1/tasks/{done['next_task_id']}").json()
        assert current["previous_task_id"] == done["id"]
        dues.append(current["due_at"])
    return dues


@pytest.mark.parametrize(
    ("rule", "first", "expected"),
    [
        # 09:00 in Paris every day, across the switch to summer time (29 March 2026).
        (
            "daily",
            "2026-03-28T09:00:00+01:00",
            ["2026-03-28T08:00:00Z", "2026-03-29T07:00:00Z", "2026-03-30T07:00:00Z"],
        ),
        (
            "weekly",
            "2026-03-23T09:00:00+01:00",
            ["2026-03-23T08:00:00Z", "2026-03-30T07:00:00Z", "2026-04-06T07:00:00Z"],
        ),
        # The 31st, clamped to the end of shorter months, then back to the 31st.
        (
            "monthly",
            "2026-01-31T09:00:00+01:00",
            ["2026-01-31T08:00:00Z", "2026-02-28T08:00:00Z", "2026-03-31T07:00:00Z"],
        ),
        (
            "monthly",
            "2028-01-31T09:00:00+01:00",
            ["2028-01-31T08:00:00Z", "2028-02-29T08:00:00Z", "2028-03-31T07:00:00Z"],
        ),
        (
            "monthly",
            "2026-11-30T18:00:00+01:00",
            ["2026-11-30T17:00:00Z", "2026-12-30T17:00:00Z", "2027-01-30T17:00:00Z"],
        ),
    ],
)
def test_series(api, rule, first, expected):
    clock.freeze(datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    alice = api("alice")
    r = alice.post(
        "/api/v1/tasks",
        json={"title": "Point hebdo", "due_at": first, "recurrence": rule, "priority": "high"},
    )
    assert r.status_code == 201, r.text
    assert _complete_chain(alice, r.json(), 2) == expected


def test_next_occurrence_copies_the_task(api, db, personas, make_org):
    clock.freeze(datetime(2026, 5, 12, 10, 0, tzinfo=UTC))
    alice = api("alice")
    org = make_org()
    first = alice.post(
        "/api/v1/tasks",
        json={
            "title": "Relevé mensuel",
            "description": "Vérifier les encours",
            "due_at": "2026-05-31T08:00:00Z",
            "recurrence": "monthly",
            "priority": "low",
            "record_type": "organisation",
            "record_id": org,
            "owner_id": personas["bob"].id,
        },
    ).json()
    done = alice.post(f"/api/v1/tasks/{first['id']}/complete").json()
    nxt = alice.get(f"/api/v1/tasks/{done['next_task_id']}").json()
    expected = {
        "title": "Relevé mensuel",
        "description": "Vérifier les encours",
        "due_at": "2026-06-30T08:00:00Z",
        "recurrence": "monthly",
        "priority": "low",
        "status": "todo",
        "record_type": "organisation",
        "record_id": org,
        "owner_id": personas["bob"].id,
        "previous_task_id": first["id"],
        "completed_at": None,
    }
    assert {k: nxt[k] for k in expected} == expected
    types = [e.type for e in db.scalars(select(Event).where(Event.record_type == "task").order_by(Event.id))]
    assert types[-3:] == ["task.updated", "task.completed", "task.created"]


def test_completing_twice_does_not_fork_the_series(api, db):
    alice = api("alice")
    first = alice.post(
        "/api/v1/tasks", json={"title": "Quotidien", "due_at": "2026-05-12T08:00:00Z", "recurrence": "daily"}
    ).json()
    nxt = alice.post(f"/api/v1/tasks/{first['id']}/complete").json()["next_task_id"]
    alice.patch(f"/api/v1/tasks/{first['id']}", json={"status": "todo"})
    again = alice.post(f"/api/v1/tasks/{first['id']}/complete").json()
    assert again["next_task_id"] == nxt
    r = alice.get("/api/v1/tasks", params={"previous_task_id": first["id"]})
    assert [t["id"] for t in r.json()["items"]] == [nxt]


def test_a_moved_occurrence_moves_the_series(api):
    """When someone moves one monthly occurrence by hand, the series follows the new day."""
    alice = api("alice")
    first = alice.post(
        "/api/v1/tasks", json={"title": "Mensuel", "due_at": "2026-01-31T08:00:00Z", "recurrence": "monthly"}
    ).json()
    second_id = alice.post(f"/api/v1/tasks/{first['id']}/complete").json()["next_task_id"]
    alice.patch(f"/api/v1/tasks/{second_id}", json={"due_at": "2026-02-15T08:00:00Z"})
    third_id = alice.post(f"/api/v1/tasks/{second_id}/complete").json()["next_task_id"]
    assert alice.get(f"/api/v1/tasks/{third_id}").json()["due_at"] == "2026-03-15T08:00:00Z"


def test_add_months_clamps():
    from datetime import date

    assert recurrence.add_months(date(2026, 1, 31), 1, 31) == date(2026, 2, 28)
    assert recurrence.add_months(date(2024, 1, 31), 1, 31) == date(2024, 2, 29)
    assert recurrence.add_months(date(2026, 12, 31), 1, 31) == date(2027, 1, 31)
    assert recurrence.add_months(date(2026, 4, 30), 1, 31) == date(2026, 5, 31)
