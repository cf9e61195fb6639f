"""Phase work on the project page and the board: a blocked close lists the missing items next to
the stepper and changes nothing, ticking the checklist (htmx) then closing opens the next phase,
reopening goes back; a board drag is refused with the missing items, or accepted."""

from __future__ import annotations

import re

import pytest

from carnet.projects.models import ProjectPhase
from tests.projects.views_support import make_org, make_template, post

HTMX = {"HX-Request": "true"}


@pytest.fixture
def project(web, api, db):  # type: ignore[no-untyped-def]
    template_id = make_template(db)
    org_id = make_org(api, "Clinique du Parc", postal_code="69006")
    r = post(
        web("alice"),
        "/projects/new",
        {"organisation_id": str(org_id), "template_id": str(template_id), "target_date": "2026-06-30"},
    )
    assert r.status_code == 303, r.text
    return {"id": int(r.headers["location"].rsplit("/", 1)[1]), "template_id": template_id}


def _states(db, project_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    db.expire_all()
    rows = db.query(ProjectPhase).filter_by(project_id=project_id).order_by(ProjectPhase.position).all()
    return [p.state for p in rows]


def test_close_blocked_lists_the_missing_items_then_closes_once_complete(web, db, project):
    alice = web("alice")
    pid = project["id"]
    r = post(alice, f"/projects/{pid}/phases/0/close", headers=HTMX)
    assert r.status_code == 200  # htmx swaps the phases section only on 2xx
    assert 'data-testid="phase-blocked"' in r.text
    blocked = re.search(r'data-testid="phase-blocked">(.*?)</div>', r.text, re.S).group(1)
    assert re.findall(r"<li>(.*?)</li>", blocked) == [
        "Élément de la liste non coché : Besoin clinique identifié",
        "Élément de la liste non coché : Budget connu",
    ]
    assert _states(db, pid) == ["open", "pending", "pending"]

    # The plain form post (no JavaScript) gets the whole page, 422, with the same list.
    r = post(alice, f"/projects/{pid}/phases/0/close")
    assert r.status_code == 422 and 'data-testid="phase-blocked"' in r.text and "<html" in r.text

    for item in ("Besoin clinique identifié", "Budget connu"):
        r = post(alice, f"/projects/{pid}/phases/0/checklist", {"item": item, "done": "1"}, headers=HTMX)
        assert r.status_code == 200 and r.text.lstrip().startswith('<section id="phases"')
    assert r.text.count("checked") == 2

    r = post(alice, f"/projects/{pid}/phases/0/close", {"note": "Besoin validé"}, headers=HTMX)
    assert r.status_code == 204 and r.headers["HX-Redirect"] == f"/projects/{pid}"
    assert _states(db, pid) == ["closed", "open", "pending"]
    page = alice.get(f"/projects/{pid}")
    assert "Présenter la gamme au pharmacien" in page.text  # the next phase's task
    assert "Besoin validé" in page.text  # the note in the phase history

    r = post(alice, f"/projects/{pid}/phases/0/reopen")
    assert r.status_code == 303
    assert _states(db, pid) == ["open", "pending", "pending"]


def test_unticking_and_unknown_item(web, db, project):
    alice = web("alice")
    pid = project["id"]
    post(alice, f"/projects/{pid}/phases/0/checklist", {"item": "Budget connu", "done": "1"}, headers=HTMX)
    r = post(alice, f"/projects/{pid}/phases/0/checklist", {"item": "Budget connu"}, headers=HTMX)
    assert r.status_code == 200 and "checked" not in r.text
    r = post(alice, f"/projects/{pid}/phases/0/checklist", {"item": "Inventé", "done": "1"}, headers=HTMX)
    assert r.status_code == 200 and 'data-testid="phase-blocked"' in r.text


def test_board_move_refused_shows_missing_items_then_accepted(web, db, project):
    alice = web("alice")
    pid, template_id = project["id"], project["template_id"]
    body = {"position": "1", "template_id": str(template_id), "filters": ""}
    r = post(alice, f"/projects/{pid}/move", body)
    assert r.status_code == 422 and r.headers["X-Carnet-Board"] == "1"
    assert 'data-testid="board-error"' in r.text
    assert "<li>Élément de la liste non coché : Budget connu</li>" in r.text
    # The card is still in the first column.
    assert re.search(
        rf'data-phase-key="qualification">.*?data-project-id="{pid}".*?data-phase-key="presentation"',
        r.text,
        re.S,
    )
    assert _states(db, pid) == ["open", "pending", "pending"]

    for item in ("Besoin clinique identifié", "Budget connu"):
        post(alice, f"/projects/{pid}/phases/0/checklist", {"item": item, "done": "1"}, headers=HTMX)
    r = post(alice, f"/projects/{pid}/move", body)
    assert r.status_code == 200 and 'data-testid="board-error"' not in r.text
    assert re.search(rf'data-phase-key="presentation">.*?data-project-id="{pid}"', r.text, re.S)
    assert _states(db, pid) == ["closed", "open", "pending"]

    # Dragging back reopens the first phase.
    r = post(alice, f"/projects/{pid}/move", {**body, "position": "0"})
    assert r.status_code == 200
    assert _states(db, pid) == ["open", "pending", "pending"]


def test_board_move_denied_to_read_only_and_outsider(web, db, project):
    pid = project["id"]
    body = {"position": "1", "template_id": str(project["template_id"])}
    assert post(web("outsider"), f"/projects/{pid}/move", body).status_code == 404
    assert _states(db, pid) == ["open", "pending", "pending"]


def test_team_contacts_and_edit(web, api, db, project, personas):
    alice = web("alice")
    pid = project["id"]
    r = post(alice, f"/projects/{pid}/members", {"user_id": str(personas["bob"].id), "role": "formateur"})
    assert r.status_code == 303
    page = alice.get(f"/projects/{pid}")
    assert re.search(
        r'data-testid="team">.*?Bob Test</span> <span class="muted small">formateur', page.text, re.S
    )
    r = post(alice, f"/projects/{pid}/members", {"user_id": "", "role": "x"})
    assert r.status_code == 422 and 'data-error-for="user_id"' in r.text

    r = post(alice, f"/projects/{pid}/edit", {"name": "", "status": "on_hold", "version": "999"})
    assert r.status_code in (409, 412, 422)
    version = re.search(r'name="version" value="(\d+)"', alice.get(f"/projects/{pid}").text).group(1)
    r = post(alice, f"/projects/{pid}/edit", {"name": "", "status": "on_hold", "version": version})
    assert r.status_code == 422 and 'data-error-for="name"' in r.text
    r = post(
        alice, f"/projects/{pid}/edit", {"name": "Parc – pompes", "status": "on_hold", "version": version}
    )
    assert r.status_code == 303
    page = alice.get(f"/projects/{pid}")
    assert "Parc – pompes" in page.text and 'data-testid="project-status">En pause' in page.text


def test_a_cancelled_project_says_so_instead_of_closing(web, db, project):
    alice = web("alice")
    pid = project["id"]
    version = re.search(r'name="version" value="(\d+)"', alice.get(f"/projects/{pid}").text).group(1)
    post(alice, f"/projects/{pid}/edit", {"name": "Annulé", "status": "cancelled", "version": version})
    r = post(alice, f"/projects/{pid}/phases/0/close", headers=HTMX)
    assert r.status_code == 200
    blocked = re.search(r'data-testid="phase-blocked">(.*?)</div>', r.text, re.S).group(1)
    assert re.findall(r"<li>(.*?)</li>", blocked) == ["Ce projet est annulé"]
    r = post(alice, f"/projects/{pid}/phases/0/close")  # without JavaScript: the page, 409
    assert r.status_code == 409 and "<li>Ce projet est annulé</li>" in r.text
    assert _states(db, pid) == ["open", "pending", "pending"]
