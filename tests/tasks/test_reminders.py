"""Task reminders (J-1, J-0, J+1 when overdue) and recurring occurrences created on schedule, with
the clock moved and the periodic jobs drained."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.core import clock, jobs
from carnet.core.mail import OutgoingEmail
from carnet.notifications.models import Notification
from carnet.tasks import jobs as tasks_jobs
from carnet.tasks import reminders
from carnet.tasks.models import Task, TaskReminder

PARIS = ZoneInfo("Europe/Paris")


def paris(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=PARIS)


@pytest.fixture(autouse=True)
def _clock(database: Any) -> None:
    clock.freeze(paris(9, 10))


def at(when: datetime) -> None:
    """Move the clock and run what is due, as the runner would."""
    clock.freeze(when)
    jobs._last_slot.clear()
    jobs.drain()


def _reminders(db: Session, user_id: int) -> list[tuple[str, str, str | None]]:
    rows = db.scalars(
        select(Notification)
        .where(Notification.user_id == user_id, Notification.type == "task_reminder")
        .order_by(Notification.id)
    )
    return [(n.title, n.body, n.url) for n in rows]


def _task(api: Any, who: str = "alice", **data: Any) -> int:
    body = {"title": "Envoyer le devis", "due_at": "2026-03-12T14:00:00+01:00", **data}
    r = api(who).post("/api/v1/tasks", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_reminders_at_j_minus_1_j_0_and_j_plus_1(db: Session, personas: Any, api: Any) -> None:
    alice = personas["alice"]
    task_id = _task(api)
    url = f"/tasks/{task_id}"

    at(paris(11, 7, 59))  # the day before, but before 08:00
    assert _reminders(db, alice.id) == []
    at(paris(11, 8, 0))
    expected = [("Échéance demain : Envoyer le devis", "Échéance 12/03/2026 14:00", url)]
    assert _reminders(db, alice.id) == expected

    at(paris(11, 8, 1))  # the next run of the same day sends nothing more
    reminders.send_due_reminders()  # nor does the same job run twice
    assert _reminders(db, alice.id) == expected

    at(paris(12, 9, 30))
    expected.append(("Échéance aujourd'hui : Envoyer le devis", "Échéance 12/03/2026 14:00", url))
    assert _reminders(db, alice.id) == expected

    at(paris(13, 8, 0))
    expected.append(("En retard : Envoyer le devis", "Échéance 12/03/2026 14:00", url))
    assert _reminders(db, alice.id) == expected
    reminders.send_due_reminders()

    at(paris(14, 8, 0))  # J+2: no offset left
    assert _reminders(db, alice.id) == expected
    sent = db.scalars(select(TaskReminder.offset_days).where(TaskReminder.task_id == task_id))
    assert sorted(sent) == [-1, 0, 1]
    # email is on by default for reminders; without SMTP they are kept as "not sent"
    emails = db.scalars(select(OutgoingEmail.subject).where(OutgoingEmail.user_id == alice.id))
    assert sorted(emails) == sorted(title for title, _body, _url in expected)


def test_no_reminders_for_done_or_cancelled_tasks(db: Session, personas: Any, api: Any) -> None:
    done = _task(api)
    cancelled = _task(api)
    api("alice").post(f"/api/v1/tasks/{done}/complete")
    api("alice").patch(f"/api/v1/tasks/{cancelled}", json={"status": "cancelled"})
    for day in (11, 12, 13):
        at(paris(day, 8, 30))
    assert _reminders(db, personas["alice"].id) == []


def test_overdue_reminder_stops_once_completed(db: Session, personas: Any, api: Any) -> None:
    task_id = _task(api)
    at(paris(12, 8, 0))
    api("alice").post(f"/api/v1/tasks/{task_id}/complete")
    at(paris(13, 8, 0))
    assert [t for t, _b, _u in _reminders(db, personas["alice"].id)] == [
        "Échéance aujourd'hui : Envoyer le devis"
    ]


def test_reminder_goes_to_the_assignee_in_their_language(db: Session, personas: Any, api: Any) -> None:
    from carnet.accounts.models import User

    bob = db.get(User, personas["bob"].id)
    bob.language = "en"
    db.commit()
    _task(api, "alice", owner_id=bob.id, title="Call Mr Smith")
    at(paris(12, 8, 0))
    assert [t for t, _b, _u in _reminders(db, bob.id)] == ["Due today: Call Mr Smith"]
    assert _reminders(db, personas["alice"].id) == []


def test_email_preference_off_means_reminders_in_app_only(db: Session, personas: Any, api: Any) -> None:
    alice = personas["alice"]
    api("alice").put(
        "/api/v1/notifications/preferences", json={"items": [{"type": "task_reminder", "email": False}]}
    )
    _task(api)
    at(paris(12, 8, 0))
    assert len(_reminders(db, alice.id)) == 1
    assert db.scalars(select(OutgoingEmail).where(OutgoingEmail.user_id == alice.id)).all() == []


def test_a_new_due_date_gets_its_own_reminders(db: Session, personas: Any, api: Any) -> None:
    task_id = _task(api)
    at(paris(12, 8, 0))
    api("alice").patch(f"/api/v1/tasks/{task_id}", json={"due_at": "2026-03-13T10:00:00+01:00"})
    at(paris(13, 8, 0))
    assert [t for t, _b, _u in _reminders(db, personas["alice"].id)] == [
        "Échéance aujourd'hui : Envoyer le devis",
        "Échéance aujourd'hui : Envoyer le devis",
    ]


def test_yesterdays_missed_reminder_is_not_sent_late(db: Session, personas: Any, api: Any) -> None:
    _task(api)
    at(paris(12, 8, 0))  # the runner was down on the 11th: J-1 is skipped, J-0 is sent
    assert [t for t, _b, _u in _reminders(db, personas["alice"].id)] == [
        "Échéance aujourd'hui : Envoyer le devis"
    ]


def test_offsets_are_configurable(db: Session, personas: Any, api: Any, monkeypatch: Any) -> None:
    from carnet.settings import get_settings

    monkeypatch.setenv("CARNET_TASK_REMINDER_OFFSETS", "-3")
    get_settings.cache_clear()
    _task(api)
    at(paris(9, 8, 0))
    at(paris(11, 8, 0))
    assert [t for t, _b, _u in _reminders(db, personas["alice"].id)] == [
        "Échéance dans 3 jours : Envoyer le devis"
    ]


# -- recurring tasks generated on schedule --------------------------------------------------------


def _series(db: Session, first_id: int) -> list[Task]:
    out = [db.get(Task, first_id)]
    while True:
        nxt = db.scalar(select(Task).where(Task.previous_task_id == out[-1].id))
        if nxt is None:
            return out
        out.append(nxt)


def test_next_occurrence_is_created_a_day_ahead_without_completion(
    db: Session, personas: Any, api: Any
) -> None:
    first = _task(api, title="Revue hebdomadaire", due_at="2026-03-16T09:00:00+01:00", recurrence="weekly")
    at(paris(22, 8, 59))  # Sunday, a day and a minute before the next Monday 09:00
    assert len(_series(db, first)) == 1
    at(paris(22, 9, 0))
    series = _series(db, first)
    assert [(t.due_at.astimezone(PARIS), t.status) for t in series] == [
        (paris(16, 9), "todo"),
        (paris(23, 9), "todo"),
    ]
    assert (series[1].title, series[1].owner_id, series[1].recurrence) == (
        "Revue hebdomadaire",
        personas["alice"].id,
        "weekly",
    )
    at(paris(22, 12, 0))  # later runs, and the same job run twice, add nothing
    tasks_jobs.create_occurrences({})
    assert len(_series(db, first)) == 2
    # completing the first one later does not add a second "next" occurrence
    api("alice").post(f"/api/v1/tasks/{first}/complete")
    assert len(_series(db, first)) == 2
    # generated occurrences notify nobody of an assignment
    assigned = db.scalars(select(Notification).where(Notification.type == "task_assigned")).all()
    assert assigned == []


def test_daily_series_catches_up_in_one_run(db: Session, personas: Any, api: Any) -> None:
    first = _task(api, title="Point du jour", due_at="2026-03-10T09:00:00+01:00", recurrence="daily")
    at(paris(12, 10, 0))  # next ones due the 11th, 12th and 13th (within a day) now exist
    series = _series(db, first)
    assert [t.due_at.astimezone(PARIS) for t in series] == [
        paris(10, 9),
        paris(11, 9),
        paris(12, 9),
        paris(13, 9),
    ]
    at(paris(12, 10, 10))
    assert len(_series(db, first)) == 4


def test_cancelled_series_stops(db: Session, personas: Any, api: Any) -> None:
    first = _task(api, title="Point du jour", due_at="2026-03-10T09:00:00+01:00", recurrence="daily")
    api("alice").patch(f"/api/v1/tasks/{first}", json={"status": "cancelled"})
    at(paris(12, 10, 0))
    assert len(_series(db, first)) == 1


def test_reminders_go_out_in_bounded_batches(db: Session, personas: Any, api: Any) -> None:
    ids = [_task(api, title=f"Tâche {n}") for n in range(5)]
    clock.freeze(paris(12, 8, 0))
    assert reminders.send_due_reminders(batch_size=2) == 5
    assert reminders.send_due_reminders(batch_size=2) == 0
    sent = db.scalars(select(TaskReminder.task_id).where(TaskReminder.offset_days == 0))
    assert sorted(sent) == ids
