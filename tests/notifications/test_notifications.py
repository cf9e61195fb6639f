"""Notifications: preferences per type and channel, the API (own notifications only), the bell and
its live count, and assignment notifications from task and deal events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carnet.core import clock, jobs, mail
from carnet.core.mail import OutgoingEmail
from carnet.notifications import service
from carnet.notifications.models import Notification

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen(database: Any) -> None:
    clock.freeze(NOW)
    jobs._last_slot.clear()


def _emails_to(db: Session, user_id: int) -> list[OutgoingEmail]:
    return list(db.scalars(select(OutgoingEmail).where(OutgoingEmail.user_id == user_id)))


def _notifications(db: Session, user_id: int) -> list[Notification]:
    return list(
        db.scalars(select(Notification).where(Notification.user_id == user_id).order_by(Notification.id))
    )


def _notify(
    db: Session, user_id: int, title: str = "Relancer Boulangerie Martin", **extra: Any
) -> Notification:
    found = service.notify(db, user_id, "task_reminder", title, "Échéance demain", "task", 7, **extra)
    db.commit()
    assert found is not None
    return found


# -- notify and preferences -------------------------------------------------------------------------


def test_notify_by_default_goes_in_app_and_by_email(db: Session, personas: Any, smtp_server: Any) -> None:
    alice = personas["alice"]
    note = _notify(db, alice.id)
    assert (note.type, note.title, note.body, note.url, note.in_app, note.read_at) == (
        "task_reminder",
        "Relancer Boulangerie Martin",
        "Échéance demain",
        "/tasks/7",
        True,
        None,
    )
    [email] = _emails_to(db, alice.id)
    assert note.email_id == email.id
    assert (email.to_address, email.subject, email.record_type, email.record_id) == (
        "alice@example.fr",
        "Relancer Boulangerie Martin",
        "task",
        7,
    )
    jobs.drain()
    [message] = smtp_server.messages
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Échéance demain" in text
    assert "Ouvrir dans Carnet : http://127.0.0.1:8000/tasks/7" in text  # alice reads French
    assert "/profile/notifications" in text
    assert 'href="http://127.0.0.1:8000/tasks/7"' in message.get_body(preferencelist=("html",)).get_content()


def test_email_off_means_no_email_row(db: Session, personas: Any, api: Any) -> None:
    alice = personas["alice"]
    r = api("alice").put(
        "/api/v1/notifications/preferences", json={"items": [{"type": "task_reminder", "email": False}]}
    )
    assert r.status_code == 200, r.text
    assert {"type": "task_reminder", "label": "Task reminders", "in_app": True, "email": False} in r.json()[
        "items"
    ]
    note = _notify(db, alice.id)
    assert note.in_app is True and note.email_id is None
    assert _emails_to(db, alice.id) == []


def test_in_app_off_keeps_only_the_email(db: Session, personas: Any, api: Any) -> None:
    alice = personas["alice"]
    api("alice").put(
        "/api/v1/notifications/preferences", json={"items": [{"type": "task_reminder", "in_app": False}]}
    )
    note = _notify(db, alice.id)
    assert note.in_app is False
    assert len(_emails_to(db, alice.id)) == 1
    assert service.unread_count(db, alice.id) == 0
    assert api("alice").get("/api/v1/notifications").json()["items"] == []


def test_both_channels_off_sends_nothing(db: Session, personas: Any, api: Any) -> None:
    alice = personas["alice"]
    api("alice").put(
        "/api/v1/notifications/preferences",
        json={"items": [{"type": "task_reminder", "in_app": False, "email": False}]},
    )
    assert service.notify(db, alice.id, "task_reminder", "Titre", "", "task", 7) is None
    assert _notifications(db, alice.id) == [] and _emails_to(db, alice.id) == []


def test_caller_may_keep_a_notification_off_email(db: Session, personas: Any) -> None:
    note = _notify(db, personas["alice"].id, email=False)
    assert note.email_id is None and _emails_to(db, personas["alice"].id) == []


def test_a_key_notifies_once(db: Session, personas: Any) -> None:
    first = _notify(db, personas["alice"].id, key="event:abc")
    again = _notify(db, personas["alice"].id, key="event:abc")
    assert again.id == first.id
    assert len(_notifications(db, personas["alice"].id)) == 1
    assert len(_emails_to(db, personas["alice"].id)) == 1


def test_default_preferences_and_invalid_updates(db: Session, api: Any) -> None:
    r = api("bob").get("/api/v1/notifications/preferences")
    assert r.status_code == 200
    items = {i["type"]: (i["in_app"], i["email"]) for i in r.json()["items"]}
    assert items == {
        "task_reminder": (True, True),
        "task_assigned": (True, True),
        "deal_assigned": (True, True),
        "mention": (True, True),
        "webhook_disabled": (True, True),
        "import_finished": (True, False),
        "system": (True, False),
        "contract_renewal": (True, True),  # registered by the contracts module
        "portal_request": (True, True),  # registered by the projects portal
    }
    bad = api("bob").put(
        "/api/v1/notifications/preferences",
        json={"items": [{"type": "system", "email": True}, {"type": "birthday", "email": True}]},
    )
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["birthday"]
    after = api("bob").get("/api/v1/notifications/preferences").json()["items"]
    assert {i["type"]: i["email"] for i in after}["system"] is False  # nothing written


def test_preferences_page_saves_the_grid(db: Session, personas: Any, web: Any) -> None:
    client = web("alice")
    page = client.get("/profile/notifications")
    assert page.status_code == 200
    assert 'name="task_reminder.email" aria-label="Rappels de tâches · Par e-mail" checked' in page.text
    assert 'name="system.email" aria-label="Messages du système · Par e-mail" >' in page.text
    form = {
        "csrf_token": client.csrf,
        "task_reminder.in_app": "on",
        "system.email": "on",
        "system.in_app": "on",
    }
    r = client.post("/profile/notifications", data=form, follow_redirects=False)
    assert r.status_code == 303
    prefs = service.preferences(db, personas["alice"].id)
    assert prefs["task_reminder"] == {"in_app": True, "email": False}
    assert prefs["system"] == {"in_app": True, "email": True}
    assert prefs["deal_assigned"] == {"in_app": False, "email": False}


# -- API ------------------------------------------------------------------------------------------


def test_api_lists_newest_first_filters_unread_and_marks_read(db: Session, personas: Any, api: Any) -> None:
    alice = personas["alice"]
    ids = [_notify(db, alice.id, title=f"Rappel {n}").id for n in range(3)]
    _notify(db, personas["bob"].id, title="Pour Bob")
    client = api("alice")

    r = client.get("/api/v1/notifications", params={"limit": 2})
    body = r.json()
    assert [i["id"] for i in body["items"]] == [ids[2], ids[1]]
    assert body["unread_count"] == 3
    assert body["items"][0]["url"] == "/tasks/7"
    rest = client.get("/api/v1/notifications", params={"limit": 2, "cursor": body["next_cursor"]}).json()
    assert [i["id"] for i in rest["items"]] == [ids[0]] and rest["next_cursor"] is None

    marked = client.post(f"/api/v1/notifications/{ids[1]}/read")
    assert marked.status_code == 200
    assert marked.json()["read_at"] == "2026-03-10T09:00:00Z"
    unread = client.get("/api/v1/notifications", params={"unread": "true"}).json()
    assert [i["id"] for i in unread["items"]] == [ids[2], ids[0]]
    assert unread["unread_count"] == 2

    all_read = client.post("/api/v1/notifications/read-all")
    assert all_read.json() == {"marked": 2, "unread_count": 0}
    assert service.unread_count(db, personas["bob"].id) == 1  # Bob's are his


def test_another_user_cannot_read_or_mark_your_notifications(db: Session, personas: Any, api: Any) -> None:
    note = _notify(db, personas["alice"].id)
    for who in ("bob", "admin"):
        assert api(who).get(f"/api/v1/notifications/{note.id}").status_code == 404
        assert api(who).post(f"/api/v1/notifications/{note.id}/read").status_code == 404
        assert api(who).post("/api/v1/notifications/read-all").json()["marked"] == 0
    db.expire_all()
    assert db.get(Notification, note.id).read_at is None
    assert (
        api("alice").get(f"/api/v1/notifications/{note.id}").json()["title"] == "Relancer Boulangerie Martin"
    )


def test_api_needs_authentication(anon: Any) -> None:
    assert anon.get("/api/v1/notifications").status_code == 401


# -- UI -------------------------------------------------------------------------------------------


def test_bell_shows_the_unread_count(db: Session, personas: Any, web: Any) -> None:
    client = web("alice")
    empty = client.get("/")
    assert 'data-testid="bell-count" hidden>0</span>' in empty.text
    for n in range(2):
        _notify(db, personas["alice"].id, title=f"Rappel {n}")
    page = client.get("/tasks")
    assert 'data-testid="bell-count" >2</span>' in page.text
    assert '<script src="/static/js/notifications.js' in page.text


def test_menu_list_and_mark_read_in_the_ui(db: Session, personas: Any, web: Any) -> None:
    note = _notify(db, personas["alice"].id)
    client = web("alice")
    menu = client.get("/notifications/menu", headers={"HX-Request": "true"})
    assert f'href="/tasks/7" data-read-url="/notifications/{note.id}/read"' in menu.text
    assert "Tout marquer comme lu" in menu.text
    page = client.get("/notifications")
    assert "Relancer Boulangerie Martin" in page.text and "1 non lue(s)" in page.text
    r = client.post(
        f"/notifications/{note.id}/read", data={"csrf_token": client.csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    assert service.unread_count(db, personas["alice"].id) == 0
    # someone else's notification is not found, and stays as it was
    other = _notify(db, personas["bob"].id)
    r = client.post(f"/notifications/{other.id}/read", data={"csrf_token": client.csrf})
    assert r.status_code == 404
    assert service.unread_count(db, personas["bob"].id) == 1


def test_stream_sends_the_unread_count(db: Session, personas: Any, web: Any, monkeypatch: Any) -> None:
    from carnet.settings import get_settings

    monkeypatch.setenv("CARNET_NOTIFICATIONS_STREAM_SECONDS", "0.05")
    get_settings.cache_clear()
    for n in range(3):
        _notify(db, personas["alice"].id, title=f"Rappel {n}")
    client = web("alice")
    with client.stream("GET", "/notifications/stream") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines: list[str] = []
        for line in response.iter_lines():
            lines.append(line)
            if line.startswith("data:"):
                break
    assert lines[-2:] == ["event: count", "data: 3"]


def test_stream_needs_a_login(anon: Any) -> None:
    r = anon.get("/notifications/stream", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


# -- assignment notifications (event consumer) ----------------------------------------------------


def test_task_assigned_by_someone_else_notifies_the_assignee(db: Session, personas: Any, api: Any) -> None:
    alice, bob = personas["alice"], personas["bob"]
    r = api("bob").post("/api/v1/tasks", json={"title": "Rappeler M. Dupont", "owner_id": alice.id})
    task_id = r.json()["id"]
    api("alice").post("/api/v1/tasks", json={"title": "Ma propre tâche"})  # herself: no notification
    jobs.drain()
    jobs.drain()
    [note] = _notifications(db, alice.id)
    assert (note.type, note.title, note.body, note.url) == (
        "task_assigned",
        "Tâche qui vous est attribuée : Rappeler M. Dupont",
        "Attribuée par Bob Test",
        f"/tasks/{task_id}",
    )
    assert _notifications(db, bob.id) == []

    # reassigning to Bob (by Alice) notifies Bob; an edit that keeps the owner notifies nobody
    api("alice").patch(f"/api/v1/tasks/{task_id}", json={"owner_id": bob.id})
    api("bob").patch(f"/api/v1/tasks/{task_id}", json={"title": "Rappeler M. Dupont (urgent)"})
    jobs.drain()
    assert [n.type for n in _notifications(db, bob.id)] == ["task_assigned"]
    assert len(_notifications(db, alice.id)) == 1


def test_deal_owner_change_notifies_the_new_owner(db: Session, personas: Any, api: Any) -> None:
    from carnet.deals import pipelines
    from carnet.deals.models import Pipeline

    pipelines.ensure_default_pipelines(db)
    db.commit()
    pipeline_id = db.scalar(select(Pipeline.id).order_by(Pipeline.id).limit(1))
    r = api("alice").post("/api/v1/deals", json={"title": "Offre Premium", "pipeline_id": pipeline_id})
    deal_id = r.json()["id"]
    jobs.drain()
    assert _notifications(db, personas["alice"].id) == []
    r = api("manager").patch(f"/api/v1/deals/{deal_id}", json={"owner_id": personas["bob"].id})
    assert r.status_code == 200, r.text
    jobs.drain()
    [note] = _notifications(db, personas["bob"].id)
    assert (note.type, note.title, note.url) == (
        "deal_assigned",
        "Affaire qui vous est attribuée : Offre Premium",
        f"/deals/{deal_id}",
    )
    count = db.scalar(
        select(func.count()).select_from(OutgoingEmail).where(OutgoingEmail.user_id == personas["bob"].id)
    )
    assert count == 1
    assert (
        db.scalar(select(OutgoingEmail.status).where(OutgoingEmail.user_id == personas["bob"].id))
        == mail.NOT_SENT
    )
