"""Projects through the API: creation with phase tasks and due dates, assignees, phase closing
rules, reopen, board moves, health, duplicates, visibility, events."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from carnet.core import clock
from carnet.core.audit import AuditEntry
from carnet.core.events import Event
from carnet.projects.models import ProjectSettings
from carnet.tasks.models import Task


def _tasks(db, project_id: int) -> list[Task]:
    db.expire_all()
    return list(
        db.scalars(
            select(Task).where(Task.record_type == "project", Task.record_id == project_id).order_by(Task.id)
        )
    )


def _events(db, project_id: int, kind: str) -> list[Event]:
    return list(
        db.scalars(
            select(Event).where(
                Event.record_type == "project", Event.record_id == project_id, Event.type == kind
            )
        )
    )


def _ready_first_phase(api, db, project: dict, make_contact) -> None:
    """Tick, link a pharmacist, file the expected document, set the target date."""
    pid = project["id"]
    for item in ("Besoin identifié", "Budget connu"):
        r = api("alice").put(f"/api/v1/projects/{pid}/phases/0/checklist", json={"item": item, "done": True})
        assert r.status_code == 200, r.text
    r = api("alice").post(
        f"/api/v1/projects/{pid}/contacts", json={"contact_id": make_contact(), "role": "pharmacist"}
    )
    assert r.status_code == 201, r.text
    r = api("alice").post(
        f"/api/v1/projects/{pid}/phases/qualification/documents",
        data={"name": "Fiche établissement"},
        files={"file": ("fiche.pdf", b"%PDF-1.4 fiche", "application/pdf")},
    )
    assert r.status_code == 201, r.text
    r = api("alice").patch(f"/api/v1/projects/{pid}", json={"target_date": "2026-06-30"})
    assert r.status_code == 200, r.text


def test_create_opens_phase_zero_with_its_tasks_and_due_dates(api, db, make_project, personas, org_id):
    project = make_project(start_date="2026-01-20")
    assert project["name"] == "Hôpital (modèle de test) – CH de Valence"
    assert project["status"] == "active"
    assert project["template"]["version"] == 1
    assert project["current_phase"] == {"position": 0, "key": "qualification", "name": "Qualification"}
    assert [p["state"] for p in project["phases"]] == ["open", "pending", "pending"]
    assert project["health"] == {"status": "on_track", "reasons": []}
    tasks = _tasks(db, project["id"])
    # Due = phase start (the project start for phase 0) + due_days, at 09:00 Paris (08:00 UTC in winter).
    assert [(t.title, t.due_at) for t in tasks] == [
        ("Identifier les interlocuteurs", datetime(2026, 1, 27, 8, 0, tzinfo=UTC)),
        ("Visite du service", datetime(2026, 1, 23, 8, 0, tzinfo=UTC)),
        ("Planifier la formation", datetime(2026, 1, 30, 8, 0, tzinfo=UTC)),
    ]
    assert tasks[1].priority == "high"
    assert len(_events(db, project["id"], "project.created")) == 1
    audit = db.scalars(
        select(AuditEntry).where(AuditEntry.record_type == "project", AuditEntry.action == "create")
    )
    assert [a.record_id for a in audit] == [project["id"]]


def test_assignees_owner_named_user_member_role_and_fallbacks(api, db, make_project, personas):
    alice, bob, manager = personas["alice"].id, personas["bob"].id, personas["manager"].id
    project = make_project(members=[{"user_id": manager, "role": "Formateur"}])
    owners = [t.owner_id for t in _tasks(db, project["id"])]
    assert owners == [alice, bob, manager]  # owner, named user, member holding the role (any case)

    # Nobody holds the role and the named user is gone: both fall back to the owner.
    from carnet.accounts.models import User

    db.get(User, bob).active = False
    db.commit()
    other = make_project(organisation_id=_new_org(api, "Clinique Sud"))
    assert [t.owner_id for t in _tasks(db, other["id"])] == [alice, alice, alice]


def _new_org(api, name: str, **extra) -> int:
    r = api("alice").post("/api/v1/organisations", json={"name": name, **extra})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _contact_factory(api, org_id):
    def make() -> int:
        r = api("alice").post(
            "/api/v1/contacts",
            json={"first_name": "Claire", "last_name": "Pharma", "organisation_ids": [org_id]},
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    return make


def test_close_blocked_lists_each_missing_item_and_changes_nothing(api, db, make_project, org_id):
    project = make_project()
    pid = project["id"]
    api("alice").put(
        f"/api/v1/projects/{pid}/phases/0/checklist", json={"item": "Budget connu", "done": True}
    )
    before = api("alice").get(f"/api/v1/projects/{pid}").json()
    n_events = db.query(Event).count()
    r = api("alice").post(f"/api/v1/projects/{pid}/phases/0/close", json={"note": "go"})
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "phase_incomplete"
    assert [(e["field"], e["message"]) for e in body["errors"]] == [
        ("checklist", "Élément de la liste non coché : Besoin identifié"),
        ("required_fields", "Requis : une date cible"),
        ("required_fields", "Requis : un contact clé avec le rôle Pharmacien"),
        ("documents", "Requis : le document Fiche établissement"),
    ]
    after = api("alice").get(f"/api/v1/projects/{pid}").json()
    assert after == before
    assert db.query(Event).count() == n_events
    assert api("alice").get(f"/api/v1/projects/{pid}/history").json()[-1]["action"] == "opened"


def test_close_after_ticking_and_filling_opens_next_phase_with_its_tasks(api, db, make_project, org_id):
    project = make_project(start_date="2026-01-05")
    pid = project["id"]
    _ready_first_phase(api, db, project, _contact_factory(api, org_id))
    clock.freeze(datetime(2026, 2, 2, 15, 0, tzinfo=UTC))
    r = api("bob").post(f"/api/v1/projects/{pid}/phases/qualification/close", json={"note": "Besoin validé"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [p["state"] for p in body["phases"]] == ["closed", "open", "pending"]
    assert body["phases"][0]["closed_at"].startswith("2026-02-02T15:00")
    assert body["current_phase"]["key"] == "presentation"
    new = [t for t in _tasks(db, pid) if t.title == "Présenter la gamme"]
    # Phase 1 started on 2026-02-02 (Paris): due 5 days later at 09:00 Paris.
    assert [t.due_at for t in new] == [datetime(2026, 2, 7, 8, 0, tzinfo=UTC)]
    moves = api("alice").get(f"/api/v1/projects/{pid}/history").json()
    assert [(m["position"], m["action"], m["note"]) for m in moves] == [
        (0, "opened", None),
        (0, "closed", "Besoin validé"),
        (1, "opened", None),
    ]
    changed = _events(db, pid, "project.phase_changed")
    assert [
        (e.payload["from_phase"], e.payload["to_phase"], e.payload["to_phase_name"]) for e in changed
    ] == [("qualification", "presentation", "Présentation")]
    assert db.scalar(
        select(AuditEntry.id).where(AuditEntry.record_id == pid, AuditEntry.action == "phase_closed")
    )


def test_reopen_makes_later_phases_pending_and_keeps_tasks(api, db, make_project, org_id):
    project = make_project()
    pid = project["id"]
    _ready_first_phase(api, db, project, _contact_factory(api, org_id))
    assert api("alice").post(f"/api/v1/projects/{pid}/phases/0/close").status_code == 200
    n_tasks = len(_tasks(db, pid))
    r = api("alice").post(f"/api/v1/projects/{pid}/phases/0/reopen", json={"note": "Budget revu"})
    assert r.status_code == 200, r.text
    assert [p["state"] for p in r.json()["phases"]] == ["open", "pending", "pending"]
    # Only an earlier closed phase reopens.
    assert api("alice").post(f"/api/v1/projects/{pid}/phases/1/reopen").json()["code"] == "not_closed_phase"
    assert api("alice").post(f"/api/v1/projects/{pid}/phases/0/close").status_code == 200
    assert len(_tasks(db, pid)) == n_tasks  # phase 1's tasks are not created twice
    assert [e.payload["action"] for e in _events(db, pid, "project.phase_changed")] == [
        "closed",
        "reopened",
        "closed",
    ]


def test_board_move_across_two_phases_stops_at_the_incomplete_one(api, db, make_project, org_id):
    project = make_project()
    pid = project["id"]
    _ready_first_phase(api, db, project, _contact_factory(api, org_id))
    before = api("alice").get(f"/api/v1/projects/{pid}").json()
    n_tasks = len(_tasks(db, pid))
    r = api("alice").post(f"/api/v1/projects/{pid}/phases/2/move")
    assert r.status_code == 422
    assert [(e["field"], e["message"]) for e in r.json()["errors"]] == [
        ("checklist", "Élément de la liste non coché : Démo faite")
    ]
    # Phase 0 was complete, yet it is not closed either: all or nothing.
    assert api("alice").get(f"/api/v1/projects/{pid}").json() == before
    assert len(_tasks(db, pid)) == n_tasks
    assert _events(db, pid, "project.phase_changed") == []

    api("alice").put(f"/api/v1/projects/{pid}/phases/1/checklist", json={"item": "Démo faite", "done": True})
    r = api("alice").post(f"/api/v1/projects/{pid}/phases/deploiement/move")
    assert r.status_code == 200, r.text
    assert [p["state"] for p in r.json()["phases"]] == ["closed", "closed", "open"]
    r = api("alice").post(f"/api/v1/projects/{pid}/phases/0/move")  # backward = reopen
    assert [p["state"] for p in r.json()["phases"]] == ["open", "pending", "pending"]


def test_closing_last_phase_completes_the_project(api, db, make_project, org_id):
    project = make_project()
    pid = project["id"]
    _ready_first_phase(api, db, project, _contact_factory(api, org_id))
    api("alice").put(f"/api/v1/projects/{pid}/phases/1/checklist", json={"item": "Démo faite", "done": True})
    for phase in (0, 1):
        assert api("alice").post(f"/api/v1/projects/{pid}/phases/{phase}/close").status_code == 200
    r = api("alice").post(f"/api/v1/projects/{pid}/phases/2/close")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "completed"
    assert body["current_phase"] is None
    assert body["completed_at"].startswith("2026-01-15T09:00")
    assert len(_events(db, pid, "project.completed")) == 1
    assert _events(db, pid, "project.phase_changed")[-1].payload["to_phase"] is None
    # A completed project is reopened through a phase, not through its status.
    r = api("alice").patch(f"/api/v1/projects/{pid}", json={"status": "active"})
    assert r.status_code == 422
    r = api("alice").post(f"/api/v1/projects/{pid}/phases/2/reopen")
    assert r.json()["status"] == "active"
    assert r.json()["completed_at"] is None


def test_health_on_track_at_risk_late_with_reasons(api, db, make_project):
    project = make_project(start_date="2026-01-15", target_date="2026-03-31")
    pid = project["id"]
    assert project["health"] == {"status": "on_track", "reasons": []}
    # 2026-01-20: "Visite du service" (due 18th) is overdue.
    clock.freeze(datetime(2026, 1, 20, 9, 0, tzinfo=UTC))
    health = api("alice").get(f"/api/v1/projects/{pid}").json()["health"]
    assert health == {"status": "at_risk", "reasons": ["1 tâche en retard"]}
    # 2026-02-03: three tasks overdue (due 18, 22, 25 Jan), the visit by more than 14 days.
    clock.freeze(datetime(2026, 2, 3, 9, 0, tzinfo=UTC))
    health = api("alice").get(f"/api/v1/projects/{pid}").json()["health"]
    assert health == {
        "status": "late",
        "reasons": ["1 tâche en retard de plus de 14 jours", "3 tâches en retard"],
    }
    for task in _tasks(db, pid):
        task.status = "done"
    db.commit()
    # Target within 14 days with 3 phases left, and on hold.
    clock.freeze(datetime(2026, 3, 20, 9, 0, tzinfo=UTC))
    api("alice").patch(f"/api/v1/projects/{pid}", json={"status": "on_hold"})
    health = api("alice").get(f"/api/v1/projects/{pid}").json()["health"]
    assert health == {
        "status": "at_risk",
        "reasons": [
            "Date cible 2026-03-31 dans moins de 14 jours avec 3 phases restantes",
            "Projet en pause",
        ],
    }
    clock.freeze(datetime(2026, 4, 2, 9, 0, tzinfo=UTC))
    health = api("alice").get(f"/api/v1/projects/{pid}").json()["health"]
    assert health["status"] == "late"
    assert health["reasons"][0] == "Date cible 2026-03-31 dépassée"
    r = api("alice").get("/api/v1/projects", params={"health": "late"})
    assert [p["id"] for p in r.json()["items"]] == [pid]
    assert api("alice").get("/api/v1/projects", params={"health": "on_track"}).json()["items"] == []


def test_duplicate_setting_on_refuses_with_existing_id(api, db, make_project):
    first = make_project()
    r = api("alice").post(
        "/api/v1/projects",
        json={
            "template_id": first["template"]["id"],
            "organisation_id": first["organisation_id"],
            "allow_duplicate": True,
        },
    )
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "duplicate_project"
    assert body["existing_id"] == first["id"]
    assert body["existing_page"] == f"/projects/{first['id']}"


def test_duplicate_never_names_a_project_the_caller_cannot_see(api, db, make_project):
    from carnet.core import permissions

    first = make_project()
    permissions.set_scope(db, "organisation", "all")  # outsider sees the establishment...
    db.commit()
    assert api("outsider").get(f"/api/v1/projects/{first['id']}").status_code == 404  # ...not the project
    r = api("outsider").post(
        "/api/v1/projects",
        json={"template_id": first["template"]["id"], "organisation_id": first["organisation_id"]},
    )
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "duplicate_project" and body["existing_id"] is None
    assert "existing_page" not in body and "existing_url" not in body


def test_duplicate_setting_off_needs_confirmation(api, db, make_project):
    first = make_project()
    r = api("manager").patch("/api/v1/projects/settings", json={"one_active_per_establishment": False})
    assert r.status_code == 200, r.text
    assert db.get(ProjectSettings, 1).one_active_per_establishment is False
    body = {"template_id": first["template"]["id"], "organisation_id": first["organisation_id"]}
    r = api("alice").post("/api/v1/projects", json=body)
    assert r.status_code == 409
    assert r.json()["existing_id"] == first["id"]
    r = api("alice").post("/api/v1/projects", json={**body, "allow_duplicate": True})
    assert r.status_code == 201, r.text
    # Settings are for managers and admins.
    assert api("alice").patch("/api/v1/projects/settings", json={"portal_link_days": 10}).status_code == 403


def test_visibility_outsider_404_team_member_sees_it(api, web, db, make_project, personas):
    project = make_project(members=[{"user_id": personas["outsider"].id, "role": "formateur"}])
    other = make_project(organisation_id=_new_org(api, "Clinique Nord"))
    pid = project["id"]
    # outsider (another department) sees the project they are a member of, not the other one
    assert api("outsider").get(f"/api/v1/projects/{pid}").status_code == 200
    assert api("outsider").get(f"/api/v1/projects/{other['id']}").status_code == 404
    assert [p["id"] for p in api("outsider").get("/api/v1/projects").json()["items"]] == [pid]
    # the generic tabs (timeline, history, files) follow the same rule
    for tab in ("timeline", "history", "attachments"):
        assert web("outsider").get(f"/records/project/{pid}/{tab}").status_code == 200, tab
        assert web("outsider").get(f"/records/project/{other['id']}/{tab}").status_code == 404, tab
    r = api("alice").delete(f"/api/v1/projects/{pid}/members/{personas['outsider'].id}")
    assert r.status_code == 204
    assert api("outsider").get(f"/api/v1/projects/{pid}").status_code == 404
    assert api("outsider").post(f"/api/v1/projects/{pid}/phases/0/close").status_code == 404
    # Sales cannot delete; the manager can.
    assert api("alice").delete(f"/api/v1/projects/{pid}").status_code == 403
    assert api("manager").delete(f"/api/v1/projects/{pid}").status_code == 204
    assert api("alice").get(f"/api/v1/projects/{pid}").status_code == 404
    assert len(_events(db, pid, "project.deleted")) == 1


def test_create_validation_errors_write_nothing(api, db, template_id, personas):
    n_events = db.query(Event).count()
    r = api("alice").post(
        "/api/v1/projects",
        json={
            "template_id": template_id,
            "organisation_id": 999999,
            "start_date": "2026-03-01",
            "target_date": "2026-02-01",
            "contacts": [{"contact_id": 1, "role": "chef"}],
        },
    )
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"organisation_id", "target_date", "contacts[0].role"} <= fields
    assert db.query(Event).count() == n_events


def test_list_filters(api, db, make_project, make_template, personas):
    lyon = _new_org(api, "HCL", postal_code="69003")
    paris = _new_org(api, "APHP", postal_code="75013")
    a = make_project(organisation_id=lyon)
    b = make_project(organisation_id=paris, owner_id=personas["bob"].id)

    def ids(**params):
        r = api("alice").get("/api/v1/projects", params=params)
        assert r.status_code == 200, r.text
        return sorted(p["id"] for p in r.json()["items"])

    assert ids(region="84") == [a["id"]]
    assert ids(region="11") == [b["id"]]
    assert ids(owner_id=personas["bob"].id) == [b["id"]]
    assert ids(phase="qualification") == sorted([a["id"], b["id"]])
    assert ids(phase="1") == []
    assert ids(status="completed") == []
    assert ids(template_id=a["template"]["id"]) == sorted([a["id"], b["id"]])
    assert api("alice").get("/api/v1/projects", params={"region": "zz"}).status_code == 422
    assert api("alice").get("/api/v1/projects", params={"health": "bad"}).status_code == 422
