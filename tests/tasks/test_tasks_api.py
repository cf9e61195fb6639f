"""Tasks over the API: CRUD, validation, assignment rules, visibility, completion and events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update

from carnet.accounts.models import User
from carnet.core import clock
from carnet.core.audit import AuditEntry
from carnet.core.events import Event
from carnet.tasks.models import Task


def task(**overrides: Any) -> dict[str, Any]:
    return {"title": "Relancer le client", **overrides}


def _count(db) -> int:  # type: ignore[no-untyped-def]
    return db.scalar(select(func.count()).select_from(Task))


def _events(db, task_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    return list(
        db.scalars(
            select(Event.type)
            .where(Event.record_type == "task", Event.record_id == task_id)
            .order_by(Event.id)
        )
    )


def test_create_read_update_delete(api, db, personas, make_org):
    alice = api("alice")
    org = make_org()
    r = alice.post(
        "/api/v1/tasks",
        json=task(
            description="Proposer la remise de 5 %",
            due_at="2026-05-12T23:30:00+02:00",
            priority="high",
            record_type="organisation",
            record_id=org,
        ),
    )
    assert r.status_code == 201, r.text
    t = r.json()
    assert r.headers["etag"] == '"1"'
    assert r.headers["location"] == f"/api/v1/tasks/{t['id']}"
    assert t["due_at"] == "2026-05-12T21:30:00Z"
    assert (t["priority"], t["status"], t["recurrence"]) == ("high", "todo", None)
    assert (t["owner_id"], t["department_id"]) == (personas["alice"].id, personas["alice"].department_id)
    assert (t["record_type"], t["record_id"]) == ("organisation", org)

    r = alice.patch(f"/api/v1/tasks/{t['id']}", json={"status": "in_progress"}, headers={"If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["status"] == "in_progress" and r.json()["version"] == 2
    r = alice.patch(f"/api/v1/tasks/{t['id']}", json={"title": "Trop tard"}, headers={"If-Match": '"1"'})
    assert r.status_code == 412
    assert alice.get(f"/api/v1/tasks/{t['id']}").json()["title"] == "Relancer le client"
    r = alice.patch(f"/api/v1/tasks/{t['id']}", json={"record_type": None, "record_id": None, "due_at": None})
    assert (r.json()["record_type"], r.json()["record_id"], r.json()["due_at"]) == (None, None, None)

    assert alice.delete(f"/api/v1/tasks/{t['id']}").status_code == 204
    assert alice.get(f"/api/v1/tasks/{t['id']}").status_code == 404
    assert _events(db, t["id"]) == ["task.created", "task.updated", "task.updated", "task.deleted"]
    actions = list(
        db.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.record_type == "task", AuditEntry.record_id == t["id"])
            .order_by(AuditEntry.seq)
        )
    )
    assert actions == ["create", "update", "update", "delete"]


def test_bad_input_is_refused_and_nothing_is_stored(api, db, make_org):
    alice = api("alice")
    org = make_org()
    before = _count(db)
    cases = [
        (task(title=" "), "title"),
        (task(priority="asap"), "priority"),
        (task(status="waiting"), "status"),
        (task(recurrence="yearly", due_at="2026-05-12T09:00:00Z"), "recurrence"),
        (task(recurrence="weekly"), "due_at"),  # a recurring task needs a due date
        (task(due_at="demain"), "due_at"),
        (task(due_at="2026-05-12T09:00:00"), "due_at"),  # no offset
        (task(record_type="invoice", record_id=org), "record_type"),
        (task(record_type="organisation"), "record_id"),
        (task(record_id=org), "record_type"),
        (task(record_type="organisation", record_id=999999), "record_id"),
        (task(owner_id=999999), "owner_id"),
        (task(owner_id="alice"), "owner_id"),
        (task(completed_at="2026-05-12T09:00:00Z"), "completed_at"),
        (task(custom_fields={"nope": 1}), "custom_fields.nope"),
    ]
    for payload, field in cases:
        r = alice.post("/api/v1/tasks", json=payload)
        assert r.status_code == 422, (payload, r.status_code, r.text)
        assert field in [e["field"] for e in r.json()["errors"]], (payload, r.json())
    assert alice.post("/api/v1/tasks", json={}).status_code == 422
    assert _count(db) == before


def test_invisible_linked_record_is_a_field_error(api, db, make_org, make_contact):
    alice = api("alice")
    before = _count(db)
    for record_type, record_id, message in (
        ("organisation", make_org(owner="outsider"), "Organisation inconnue"),
        ("contact", make_contact(owner="outsider"), "Contact inconnu"),
    ):
        r = alice.post("/api/v1/tasks", json=task(record_type=record_type, record_id=record_id))
        assert r.status_code == 422
        assert r.json()["errors"] == [{"field": "record_id", "code": "unknown", "message": message}]
    assert _count(db) == before


def test_assignee_must_be_an_active_user(api, db, personas):
    db.execute(update(User).where(User.id == personas["bob"].id).values(active=False))
    db.commit()
    alice = api("alice")
    before = _count(db)
    r = alice.post("/api/v1/tasks", json=task(owner_id=personas["bob"].id))
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"field": "owner_id", "code": "inactive", "message": "Cet utilisateur est désactivé"}
    ]
    r = alice.post("/api/v1/tasks", json=task(owner_id=999999))
    assert r.json()["errors"] == [{"field": "owner_id", "code": "unknown", "message": "Utilisateur inconnu"}]
    assert _count(db) == before


def test_only_managers_assign_across_departments(api, db, personas):
    before = _count(db)
    r = api("alice").post("/api/v1/tasks", json=task(owner_id=personas["outsider"].id))
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "owner_id"
    assert r.json()["errors"][0]["code"] == "forbidden"
    assert _count(db) == before
    # Within one's department, anyone may assign.
    r = api("alice").post("/api/v1/tasks", json=task(owner_id=personas["bob"].id))
    assert r.status_code == 201 and r.json()["owner_id"] == personas["bob"].id
    r = api("manager").post("/api/v1/tasks", json=task(owner_id=personas["outsider"].id))
    assert r.status_code == 201, r.text
    # The task follows its assignee into Finance.
    assert r.json()["department_id"] == personas["outsider"].department_id
    assert api("outsider").get(f"/api/v1/tasks/{r.json()['id']}").status_code == 200
    own = api("alice").post("/api/v1/tasks", json=task()).json()
    r = api("alice").patch(f"/api/v1/tasks/{own['id']}", json={"owner_id": personas["fiona"].id})
    assert r.status_code == 422
    assert api("alice").get(f"/api/v1/tasks/{own['id']}").json()["owner_id"] == personas["alice"].id
    r = api("admin").post("/api/v1/tasks", json=task(owner_id=personas["fiona"].id))
    assert r.status_code == 201


def test_visibility(api):
    alice = api("alice")
    t = alice.post("/api/v1/tasks", json=task(title="Secret commercial")).json()
    assert api("bob").get(f"/api/v1/tasks/{t['id']}").status_code == 200
    outsider = api("outsider")
    r = outsider.get(f"/api/v1/tasks/{t['id']}")
    assert r.status_code == 404 and "Secret" not in r.text
    assert outsider.patch(f"/api/v1/tasks/{t['id']}", json={"title": "x"}).status_code == 404
    assert outsider.post(f"/api/v1/tasks/{t['id']}/complete").status_code == 404
    assert outsider.delete(f"/api/v1/tasks/{t['id']}").status_code == 404
    assert all(i["id"] != t["id"] for i in outsider.get("/api/v1/tasks?limit=200").json()["items"])
    assert alice.get(f"/api/v1/tasks/{t['id']}").json()["status"] == "todo"


def test_complete_emits_task_completed(api, db):
    clock.freeze(datetime(2026, 5, 12, 15, 0, tzinfo=UTC))
    alice = api("alice")
    t = alice.post("/api/v1/tasks", json=task(due_at="2026-05-12T09:00:00Z")).json()
    r = alice.post(f"/api/v1/tasks/{t['id']}/complete", headers={"If-Match": '"1"'})
    assert r.status_code == 200, r.text
    done = r.json()
    assert (done["status"], done["completed_at"], done["next_task_id"]) == (
        "done",
        "2026-05-12T15:00:00Z",
        None,
    )
    assert r.headers["etag"] == '"2"'
    event = db.scalar(select(Event).where(Event.type == "task.completed", Event.record_id == t["id"]))
    assert event.payload["title"] == "Relancer le client"
    assert event.payload["status"] == "done"
    # Completing again changes nothing and emits nothing.
    assert alice.post(f"/api/v1/tasks/{t['id']}/complete").json()["version"] == 2
    assert _events(db, t["id"]) == ["task.created", "task.updated", "task.completed"]
    # Reopening clears the completion date.
    r = alice.patch(f"/api/v1/tasks/{t['id']}", json={"status": "todo"})
    assert (r.json()["status"], r.json()["completed_at"]) == ("todo", None)


def test_read_only_cannot_complete(api, db, personas):
    from carnet.core import permissions

    permissions.set_scope(db, "task", "all")
    db.commit()
    t = api("alice").post("/api/v1/tasks", json=task()).json()
    assert api("reader").get(f"/api/v1/tasks/{t['id']}").status_code == 200
    assert api("reader").post(f"/api/v1/tasks/{t['id']}/complete").status_code == 403
    assert api("alice").get(f"/api/v1/tasks/{t['id']}").json()["status"] == "todo"
    assert _events(db, t["id"]) == ["task.created"]


def test_list_filters(api, personas, make_org):
    clock.freeze(datetime(2026, 5, 12, 10, 0, tzinfo=UTC))
    alice, bob = api("alice"), api("bob")
    org = make_org()
    late = alice.post("/api/v1/tasks", json=task(title="En retard", due_at="2026-05-10T09:00:00Z")).json()
    alice.post(
        "/api/v1/tasks", json=task(title="Aujourd'hui", due_at="2026-05-12T07:00:00Z", priority="urgent")
    )
    alice.post(
        "/api/v1/tasks",
        json=task(
            title="Sur l'organisation",
            due_at="2026-05-20T09:00:00Z",
            record_type="organisation",
            record_id=org,
        ),
    )
    alice.post("/api/v1/tasks", json=task(title="Sans date"))
    bob.post("/api/v1/tasks", json=task(title="De Bob", due_at="2026-05-01T09:00:00Z"))
    done = alice.post("/api/v1/tasks", json=task(title="Faite", due_at="2026-05-01T09:00:00Z")).json()
    alice.post(f"/api/v1/tasks/{done['id']}/complete")

    def titles(**params: Any) -> list[str]:
        r = alice.get("/api/v1/tasks", params={"limit": 200, **params})
        assert r.status_code == 200, r.text
        return [t["title"] for t in r.json()["items"]]

    mine = {"owner_id": personas["alice"].id}
    assert titles(**mine) == ["Faite", "En retard", "Aujourd'hui", "Sur l'organisation", "Sans date"]
    assert titles(overdue="true") == ["De Bob", "En retard"]
    assert titles(overdue="true", **mine) == ["En retard"]
    assert "En retard" not in titles(overdue="false", **mine)
    assert titles(status="done") == ["Faite"]
    assert titles(status="todo,in_progress", priority="urgent") == ["Aujourd'hui"]
    assert titles(record_type="organisation", record_id=org) == ["Sur l'organisation"]
    assert titles(due_at__gte="2026-05-11T00:00:00Z", due_at__lte="2026-05-31T00:00:00Z") == [
        "Aujourd'hui",
        "Sur l'organisation",
    ]
    item = alice.get(f"/api/v1/tasks/{late['id']}").json()
    assert item["overdue"] is True
    assert alice.get("/api/v1/tasks", params={"overdue": "maybe"}).status_code == 422
    assert alice.get("/api/v1/tasks", params={"nosuch": "1"}).status_code == 422
