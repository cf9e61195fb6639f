""" "Today" and "overdue" are days in the user's time zone, not in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from carnet.core import clock
from carnet.tasks import service


def _make(client: Any, title: str, due_at: str | None, **extra: Any) -> int:
    r = client.post("/api/v1/tasks", json={"title": title, "due_at": due_at, **extra})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_a_task_due_at_2330_in_paris(api, db, actor_of):
    # 00:15 on 13 May in Paris, still 22:15 on 12 May in UTC.
    clock.freeze(datetime(2026, 5, 12, 22, 15, tzinfo=UTC))
    alice = api("alice")
    _make(alice, "Hier soir à Paris", "2026-05-12T23:30:00+02:00")
    _make(alice, "Ce soir à Paris", "2026-05-13T23:30:00+02:00")
    _make(alice, "Sans date", None)
    _make(alice, "Bien plus tard", "2026-06-01T09:00:00+02:00")
    done = _make(alice, "Faite", "2026-05-01T09:00:00+02:00")
    alice.post(f"/api/v1/tasks/{done}/complete")
    _make(api("bob"), "Celle de Bob", "2026-05-01T09:00:00+02:00")

    overdue, today = service.my_tasks_today_and_overdue(db, actor_of("alice"))
    assert [t.title for t in overdue] == ["Hier soir à Paris"]
    assert [t.title for t in today] == ["Ce soir à Paris"]

    overdue, today = service.my_tasks_today_and_overdue(db, actor_of("alice", timezone="UTC"))
    assert [t.title for t in overdue] == []
    assert [t.title for t in today] == ["Hier soir à Paris"]


def test_overdue_flag_and_filter_follow_the_time_zone(api, personas):
    clock.freeze(datetime(2026, 5, 12, 22, 15, tzinfo=UTC))
    alice = api("alice")
    task_id = _make(alice, "Hier soir à Paris", "2026-05-12T23:30:00+02:00")
    assert alice.get(f"/api/v1/tasks/{task_id}").json()["overdue"] is True
    r = alice.get("/api/v1/tasks", params={"overdue": "true", "owner_id": personas["alice"].id})
    assert [t["id"] for t in r.json()["items"]] == [task_id]


def test_date_groups(api, db, actor_of):
    # Tuesday 12 May 2026, 10:00 in Paris.
    clock.freeze(datetime(2026, 5, 12, 8, 0, tzinfo=UTC))
    alice = api("alice")
    for title, due in (
        ("Lundi", "2026-05-11T18:00:00+02:00"),
        ("Ce matin", "2026-05-12T08:00:00+02:00"),
        ("Ce soir", "2026-05-12T23:30:00+02:00"),
        ("Mercredi", "2026-05-13T00:30:00+02:00"),
        ("Dimanche", "2026-05-17T20:00:00+02:00"),
        ("Lundi prochain", "2026-05-18T09:00:00+02:00"),
        ("Un jour", None),
    ):
        _make(alice, title, due)
    actor = actor_of("alice")
    from carnet.core.listing import parse_params

    rows, _ = service.list_tasks(db, actor, parse_params({"owner_id": str(actor.user_id), "sort": "due_at"}))
    groups = service.group_tasks(rows, "date", actor, {})
    assert [(g.key, [t.title for t in g.tasks]) for g in groups] == [
        ("overdue", ["Lundi"]),
        ("today", ["Ce matin", "Ce soir"]),
        ("tomorrow", ["Mercredi"]),
        ("this_week", ["Dimanche"]),
        ("later", ["Lundi prochain"]),
        ("no_date", ["Un jour"]),
    ]
    # In UTC, 00:30 on Wednesday in Paris is still Tuesday evening.
    groups = service.group_tasks(rows, "date", actor_of("alice", timezone="UTC"), {})
    assert [t.title for t in next(g for g in groups if g.key == "today").tasks] == [
        "Ce matin",
        "Ce soir",
        "Mercredi",
    ]
