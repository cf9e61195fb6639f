"""Task pages: grouped list, inline completion, board, forms and the fragment of record pages."""

from __future__ import annotations

import html as html_module
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from carnet.core import clock
from carnet.core.events import Event
from carnet.tasks.models import Task


def _make(client: Any, title: str, due_at: str | None = None, **extra: Any) -> int:
    r = client.post("/api/v1/tasks", json={"title": title, "due_at": due_at, **extra})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _groups(html: str) -> list[tuple[str, list[str]]]:
    """(group heading, task titles) in page order."""
    out = []
    for chunk in html.split('<div class="card" data-group=')[1:]:
        heading = re.search(r"<h3[^>]*>(.*?)</h3>", chunk, re.S).group(1)
        titles = re.findall(r'<span class="task-title"><a href="/tasks/\d+">([^<]+)</a>', chunk)
        out.append((html_module.unescape(re.sub(r"\s+", " ", heading).strip()), titles))
    return out


def test_list_page_groups_by_due_date(web, api):
    clock.freeze(datetime(2026, 5, 12, 8, 0, tzinfo=UTC))  # Tuesday, 10:00 in Paris
    client = api("alice")
    _make(client, "Relancer Dupont", "2026-05-11T09:00:00+02:00", priority="urgent")
    _make(client, "Appeler la banque", "2026-05-12T23:30:00+02:00")
    _make(client, "Préparer la démo", "2026-05-13T09:00:00+02:00", priority="high")
    _make(client, "Envoyer le devis", "2026-05-15T09:00:00+02:00")
    _make(client, "Salon Lyon", "2026-06-15T09:00:00+02:00", priority="low")
    _make(client, "Lire le rapport")
    _make(api("bob"), "Tâche de Bob", "2026-05-12T12:00:00+02:00")
    page = web("alice").get("/tasks")
    assert page.status_code == 200
    assert _groups(page.text) == [
        ("En retard · 1", ["Relancer Dupont"]),
        ("Aujourd'hui · 1", ["Appeler la banque"]),
        ("Demain · 1", ["Préparer la démo"]),
        ("Cette semaine · 1", ["Envoyer le devis"]),
        ("Plus tard · 1", ["Salon Lyon"]),
        ("Sans date · 1", ["Lire le rapport"]),
    ]
    assert '<h3 class="group-heading overdue">' in page.text
    assert '<span class="badge prio-urgent">Urgente</span>' in page.text

    page = web("alice").get("/tasks?group=priority")
    assert [g[0] for g in _groups(page.text)] == ["Urgente · 1", "Haute · 1", "Normale · 3", "Basse · 1"]

    page = web("alice").get("/tasks?group=assignee&owner_id=all")
    assert _groups(page.text) == [
        (
            "Alice Test · 6",
            [
                "Relancer Dupont",
                "Appeler la banque",
                "Préparer la démo",
                "Envoyer le devis",
                "Salon Lyon",
                "Lire le rapport",
            ],
        ),
        ("Bob Test · 1", ["Tâche de Bob"]),
    ]
    page = web("alice").get("/tasks?priority=high")
    assert _groups(page.text) == [("Demain · 1", ["Préparer la démo"])]


def test_checkbox_completes_inline(web, api, db):
    client = api("alice")
    task_id = _make(client, "Envoyer le devis", "2026-05-12T09:00:00Z")
    alice = web("alice")
    r = alice.post(f"/tasks/{task_id}/toggle", headers={"X-CSRF-Token": alice.csrf, "HX-Request": "true"})
    assert r.status_code == 200
    assert f'<div class="task-row task-done" id="task-{task_id}"' in r.text
    assert db.get(Task, task_id).status == "done"
    assert (
        db.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.type == "task.completed", Event.record_id == task_id)
        )
        == 1
    )
    r = alice.post(f"/tasks/{task_id}/toggle", headers={"X-CSRF-Token": alice.csrf, "HX-Request": "true"})
    assert f'<div class="task-row " id="task-{task_id}"' in r.text
    db.expire_all()
    assert (db.get(Task, task_id).status, db.get(Task, task_id).completed_at) == ("todo", None)


def test_checkbox_on_a_recurring_task_shows_the_next_one(web, api):
    task_id = _make(api("alice"), "Point hebdo", "2026-05-12T07:00:00Z", recurrence="weekly")
    alice = web("alice")
    r = alice.post(f"/tasks/{task_id}/toggle", headers={"X-CSRF-Token": alice.csrf, "HX-Request": "true"})
    rows = re.findall(r'<div class="task-row ([^"]*)" id="task-(\d+)"', r.text)
    assert rows[0] == ("task-done", str(task_id))
    assert rows[1][0] == "" and int(rows[1][1]) != task_id
    assert "19/05/2026 09:00" in r.text  # one week later, in Paris time
    page = alice.get(f"/tasks/{task_id}")
    assert f'Occurrence suivante</dt><dd><a href="/tasks/{rows[1][1]}">19 mai 2026</a>' in page.text
    page = alice.get(f"/tasks/{rows[1][1]}")
    assert f'Occurrence précédente</dt><dd><a href="/tasks/{task_id}">12 mai 2026</a>' in page.text


def test_toggle_is_refused_to_outsiders_and_readers(web, api, db):
    task_id = _make(api("alice"), "Confidentiel")
    outsider = web("outsider")
    assert (
        outsider.post(f"/tasks/{task_id}/toggle", headers={"X-CSRF-Token": outsider.csrf}).status_code == 404
    )
    assert outsider.get(f"/tasks/{task_id}").status_code == 404
    assert outsider.get(f"/tasks/{task_id}/edit").status_code == 404
    assert web("alice").post(f"/tasks/{task_id}/toggle").status_code == 403  # no CSRF token
    from carnet.core import permissions

    permissions.set_scope(db, "task", "all")
    db.commit()
    reader = web("reader")
    page = reader.get("/tasks?owner_id=all")
    assert f'id="task-{task_id}"' in page.text and "disabled" in page.text
    assert reader.post(f"/tasks/{task_id}/toggle", headers={"X-CSRF-Token": reader.csrf}).status_code == 403
    db.expire_all()
    assert db.get(Task, task_id).status == "todo"


def test_board(web, api, db):
    client = api("alice")
    todo = _make(client, "À lancer")
    doing = _make(client, "En cours de rédaction", status="in_progress")
    recurring = _make(client, "Rapport hebdo", "2026-05-12T07:00:00Z", recurrence="weekly")
    alice = web("alice")
    page = alice.get("/tasks/board")
    assert page.status_code == 200
    assert "/static/lib/Sortable.min.js" in page.text and "/static/js/tasks-board.js" in page.text
    columns = re.findall(r'<section class="kanban-col" data-status="(\w+)">(.*?)</section>', page.text, re.S)
    cards = {status: re.findall(r'data-task-id="(\d+)"', body) for status, body in columns}
    assert cards == {"todo": [str(recurring), str(todo)], "in_progress": [str(doing)], "done": []}

    headers = {"X-CSRF-Token": alice.csrf}
    r = alice.post(f"/tasks/{todo}/status", data={"status": "in_progress"}, headers=headers)
    assert r.status_code == 200 and r.json() == {"id": todo, "status": "in_progress", "next_task_id": None}
    r = alice.post(f"/tasks/{recurring}/status", data={"status": "done"}, headers=headers)
    assert r.json()["status"] == "done" and r.json()["next_task_id"] is not None
    r = alice.post(f"/tasks/{doing}/status", data={"status": "nowhere"}, headers=headers)
    assert r.status_code == 422 and "status" in r.json()["errors"]
    assert alice.post(f"/tasks/{doing}/status", data={"status": "done"}).status_code == 403
    db.expire_all()
    assert db.get(Task, doing).status == "in_progress"
    page = alice.get("/tasks/board")
    columns = dict(
        re.findall(r'<section class="kanban-col" data-status="(\w+)">(.*?)</section>', page.text, re.S)
    )
    assert re.findall(r'data-task-id="(\d+)"', columns["done"]) == [str(recurring)]


def test_board_script_sends_the_csrf_header():
    from pathlib import Path

    script = (Path(__file__).resolve().parents[2] / "src/carnet/web/static/js/tasks-board.js").read_text()
    assert 'getAttribute("hx-headers")' in script and '"X-CSRF-Token": csrf' in script


def test_record_fragment_lists_and_adds_tasks(web, api, db, make_contact):
    contact = make_contact()
    client = api("alice")
    open_id = _make(client, "Rappeler Marc", record_type="contact", record_id=contact)
    done_id = _make(client, "Déjà fait", record_type="contact", record_id=contact)
    client.post(f"/api/v1/tasks/{done_id}/complete")
    alice = web("alice")
    r = alice.get(f"/tasks/_for/contact/{contact}")
    assert r.status_code == 200
    assert f'id="task-{open_id}"' in r.text and "Déjà fait" not in r.text
    assert f'hx-post="/tasks/_for/contact/{contact}"' in r.text

    r = alice.post(
        f"/tasks/_for/contact/{contact}",
        data={"title": "Envoyer la brochure", "due_at": "2026-05-20T09:30", "priority": "high"},
        headers={"X-CSRF-Token": alice.csrf, "HX-Request": "true"},
    )
    assert r.status_code == 200
    assert "Envoyer la brochure" in r.text and "Rappeler Marc" in r.text
    created = db.scalar(select(Task).where(Task.title == "Envoyer la brochure"))
    assert (created.record_type, created.record_id, created.priority) == ("contact", contact, "high")
    assert created.due_at == datetime(2026, 5, 20, 7, 30, tzinfo=UTC)

    before = db.scalar(select(func.count()).select_from(Task))
    r = alice.post(
        f"/tasks/_for/contact/{contact}",
        data={"title": "", "due_at": "bientôt"},
        headers={"X-CSRF-Token": alice.csrf, "HX-Request": "true"},
    )
    assert r.status_code == 200
    assert '<div class="field-error" data-error-for="title">Ce champ est obligatoire</div>' in r.text
    assert 'data-error-for="due_at">Saisissez une date et une heure' in r.text
    assert db.scalar(select(func.count()).select_from(Task)) == before

    assert web("outsider").get(f"/tasks/_for/contact/{contact}").status_code == 404


def test_forms(web, db, personas, make_org):
    org = make_org()
    alice = web("alice")
    assert alice.get(f"/tasks/new?record_type=organisation&record_id={org}").status_code == 200
    r = alice.post(
        "/tasks/new",
        data={
            "csrf_token": alice.csrf,
            "title": "Préparer le contrat",
            "due_at": "2026-05-20T18:00",
            "priority": "urgent",
            "owner_id": str(personas["bob"].id),
            "record_type": "organisation",
            "record_id": str(org),
            "recurrence": "",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    task_id = int(r.headers["location"].rsplit("/", 1)[1])
    task = db.get(Task, task_id)
    assert (task.owner_id, task.due_at, task.record_id) == (
        personas["bob"].id,
        datetime(2026, 5, 20, 16, 0, tzinfo=UTC),
        org,
    )
    page = alice.get(f"/tasks/{task_id}")
    assert (
        "Préparer le contrat" in page.text and "Boulangerie Martin" in page.text and "Bob Test" in page.text
    )
    edit = alice.get(f"/tasks/{task_id}/edit")
    assert 'value="2026-05-20T18:00"' in edit.text  # shown back in Paris time
    r = alice.post(
        "/tasks/new",
        data={"csrf_token": alice.csrf, "title": "Hors pôle", "owner_id": str(personas["outsider"].id)},
        follow_redirects=False,
    )
    assert r.status_code == 422
    assert "Seul un manager peut assigner une tâche à une personne d&#39;un autre pôle" in r.text
    r = alice.post(
        f"/tasks/{task_id}/edit",
        data={
            "csrf_token": alice.csrf,
            "title": "Préparer le contrat",
            "status": "in_progress",
            "version": "1",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    db.expire_all()
    assert db.get(Task, task_id).status == "in_progress"
    r = alice.post(f"/tasks/{task_id}/complete", data={"csrf_token": alice.csrf}, follow_redirects=False)
    assert r.status_code == 303
    db.expire_all()
    assert db.get(Task, task_id).status == "done"
    r = alice.post(f"/tasks/{task_id}/delete", data={"csrf_token": alice.csrf}, follow_redirects=False)
    assert r.status_code == 303
    db.expire_all()
    assert db.get(Task, task_id) is None


def _project(db, api, who: str, name: str) -> int:
    from tests.projects.views_support import make_org, make_template

    body = {
        "template_id": make_template(db, name=f"Modèle {name}"),
        "organisation_id": make_org(api, f"Client {name}", who=who),
        "name": name,
    }
    r = api(who).post("/api/v1/projects", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _picker(page: str) -> str:
    """The linked record's picker in a task form."""
    return page.split('data-record-picker="record_type"')[1].split('<div class="field ')[0]


def test_linked_record_is_picked_by_name_for_the_chosen_type(web, api, db, make_org):
    org = make_org()
    alice = web("alice")
    form = alice.get("/tasks/new").text
    # "Linked to" lists every type a task may link to, and a change reloads the picker's options
    type_select = form.split('id="f-record_type"')[1].split("</select>")[0]
    assert re.findall(r'<option value="(\w+)" >([^<]+)</option>', type_select) == [
        ("organisation", "Organisation"),
        ("contact", "Contact"),
        ("deal", "Affaire"),
        ("project", "Projet"),
    ]
    assert 'hx-get="/search/pick"' in type_select and 'hx-target="#f-record_id"' in type_select
    picker = _picker(form)
    assert "Fiche liée" in picker and "(n°)" not in picker and 'type="number"' not in picker
    assert '"type_field": "record_type"' in picker and 'name="record_id"' in picker
    # A record given in the address shows its name, not its number.
    prefilled = _picker(alice.get(f"/tasks/new?record_type=organisation&record_id={org}").text)
    assert f'<option value="{org}" selected>Boulangerie Martin</option>' in prefilled

    project = _project(db, api, "alice", "Déploiement Valmorel")
    options = alice.get(
        "/search/pick",
        params={
            "type_field": "record_type",
            "record_type": "project",
            "field": "record_id",
            "pick_q": "valmo",
        },
    ).text
    assert (
        f'<option value="{project}" selected>Déploiement Valmorel · Client Déploiement Valmorel</option>'
        in options
    )
    r = alice.post(
        "/tasks/new",
        data={
            "csrf_token": alice.csrf,
            "title": "Former l'équipe",
            "record_type": "project",
            "record_id": str(project),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    task_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert (db.get(Task, task_id).record_type, db.get(Task, task_id).record_id) == ("project", project)
    edit = alice.get(f"/tasks/{task_id}/edit").text
    assert '<option value="project" selected>Projet</option>' in edit
    assert (
        f'<option value="{project}" selected>Déploiement Valmorel · Client Déploiement Valmorel</option>'
        in _picker(edit)
    )


def test_another_departments_project_is_neither_offered_nor_accepted(web, api, db):
    theirs = _project(db, api, "outsider", "Déploiement Lyon")  # Finance department
    mine = _project(db, api, "alice", "Déploiement Grenoble")
    alice = web("alice")
    options = alice.get(
        "/search/pick",
        params={
            "type_field": "record_type",
            "record_type": "project",
            "field": "record_id",
            "pick_q": "déploiement",
        },
    ).text
    assert re.findall(r'<option value="(\d+)"', options) == [str(mine)] and "Lyon" not in options
    before = db.scalar(select(func.count()).select_from(Task))
    r = alice.post(
        "/tasks/new",
        data={
            "csrf_token": alice.csrf,
            "title": "Relancer",
            "record_type": "project",
            "record_id": str(theirs),
        },
    )
    assert r.status_code == 422
    picker = _picker(r.text)
    assert '<div class="field-error" data-error-for="record_id">Projet inconnu</div>' in picker
    assert f'<option value="{theirs}" selected>#{theirs}</option>' in picker and "Lyon" not in picker
    assert db.scalar(select(func.count()).select_from(Task)) == before
