"""The establishment portal: links (token shown once, hash stored), the public page and what it
shares, expiry / revocation / unknown tokens, requests (one request + activity + task +
notification, or nothing), rate limits, answers by email, and who may manage links.

Projects are inserted directly (the projects service lives in another package); time is frozen on
Thursday 2026-01-15 10:00 Paris."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from carnet.activities.models import Activity
from carnet.core import clock
from carnet.core.audit import AuditEntry
from carnet.core.mail import OutgoingEmail
from carnet.notifications.models import Notification
from carnet.projects import portal
from carnet.projects.models import (
    PHASE_CLOSED,
    PHASE_OPEN,
    PHASE_PENDING,
    PortalLink,
    PortalRequest,
    Project,
    ProjectPhase,
    ProjectTask,
    ProjectTemplate,
    ProjectTemplateVersion,
)
from carnet.tasks.models import Task

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)  # Thursday, 10:00 in Paris
PHASES = ("Qualification", "Présentation", "Essai / Évaluation")


@pytest.fixture(autouse=True)
def frozen_time():
    clock.freeze(NOW)
    yield
    clock.reset()


@pytest.fixture
def project(api, db, personas) -> Project:
    """Alice's project for the CH de Grenoble, in its second phase, with tasks in every phase."""
    r = api("alice").post("/api/v1/organisations", json={"name": "CH de Grenoble"})
    assert r.status_code == 201, r.text
    alice = personas["alice"]
    template = ProjectTemplate(name="Hôpital (modèle du portail)", current_version=1)
    db.add(template)
    db.flush()
    version = ProjectTemplateVersion(
        template_id=template.id,
        number=1,
        definition={"phases": [{"key": f"p{i}", "name": n, "tasks": []} for i, n in enumerate(PHASES)]},
    )
    db.add(version)
    db.flush()
    prj = Project(
        name="Pompes à perfusion – CH de Grenoble",
        organisation_id=r.json()["id"],
        template_id=template.id,
        template_version_id=version.id,
        start_date=NOW.date() - timedelta(days=30),
        current_phase=1,
        owner_id=alice.id,
        department_id=alice.department_id,
        created_by_id=alice.id,
    )
    db.add(prj)
    db.flush()
    states = (PHASE_CLOSED, PHASE_OPEN, PHASE_PENDING)
    for position, (name, state) in enumerate(zip(PHASES, states, strict=True)):
        db.add(
            ProjectPhase(
                project_id=prj.id,
                position=position,
                key=f"p{position}",
                name=name,
                state=state,
                started_at=NOW - timedelta(days=30 - 10 * position) if state != PHASE_PENDING else None,
                closed_at=NOW - timedelta(days=20) if state == PHASE_CLOSED else None,
            )
        )
    tasks = [
        (0, "Identifier le pharmacien", "done", None),
        (1, "Démonstration au bloc", "todo", "Apporter 2 pompes ; note interne : prix plancher 1 800 €"),
        (1, "Envoyer la documentation", "done", None),
    ]
    for position, title, status, description in tasks:
        task = Task(
            title=title,
            description=description,
            status=status,
            due_at=NOW + timedelta(days=7),
            record_type="project",
            record_id=prj.id,
            owner_id=alice.id,
            department_id=alice.department_id,
            custom_fields={},
        )
        db.add(task)
        db.flush()
        db.add(ProjectTask(task_id=task.id, project_id=prj.id, position=position))
    db.commit()
    return prj


def _create_link(api, project: Project, who: str = "alice", **body: Any) -> dict[str, Any]:
    r = api(who).post(f"/api/v1/projects/{project.id}/portal-links", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _form_token(page_html: str) -> str:
    match = re.search(r'name="form_token" value="([^"]+)"', page_html)
    assert match, "the request form carries its signed token"
    return match.group(1)


def _submit(anon, token: str, **fields: str) -> Any:
    page = anon.get(f"/p/{token}")
    data = {
        "kind": "training",
        "name": "Claire Martin",
        "email": "claire.martin@chu-grenoble.fr",
        "phone": "04 76 76 75 75",
        "message": "Pouvez-vous former l'équipe de nuit du service de réanimation la semaine prochaine ?",
        "form_token": _form_token(page.text),
        **fields,
    }
    return anon.post(f"/p/{token}", data=data)


def _counts(db, project: Project) -> tuple[int, int, int, int]:
    return (
        db.scalar(select(func.count(PortalRequest.id)).where(PortalRequest.project_id == project.id)),
        db.scalar(select(func.count(Activity.id)).where(Activity.subject.like("Demande portail%"))),
        db.scalar(
            select(func.count(Task.id)).where(Task.record_type == "project", Task.record_id == project.id)
        ),
        db.scalar(select(func.count(Notification.id)).where(Notification.type == "portal_request")),
    )


# -- links -----------------------------------------------------------------------------------------


def test_creating_a_link_shows_the_token_once_and_stores_only_its_hash(api, db, project, personas):
    body = _create_link(api, project, label="Pharmacie", shares={"phases": True})
    token = body["token"]
    assert len(token) >= 43
    assert body["url"] == f"http://127.0.0.1:8000/p/{token}"
    assert body["state"] == "active"
    assert body["expires_at"].startswith("2026-04-15")  # the default: 90 days
    row = db.get(PortalLink, body["id"])
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(row.__dict__)
    assert row.created_by_id == personas["alice"].id
    listed = api("alice").get(f"/api/v1/projects/{project.id}/portal-links").json()["items"]
    assert [item["id"] for item in listed] == [body["id"]]
    assert "token" not in listed[0] and "url" not in listed[0]
    one = api("alice").get(f"/api/v1/projects/{project.id}/portal-links/{body['id']}").json()
    assert "token" not in one
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "portal_link_create"))
    assert entry.record_type == "project" and entry.record_id == project.id
    assert token not in str(entry.changes)


def test_link_lifetime_defaults_to_the_setting_and_is_capped(api, db, project):
    from carnet.projects.models import ProjectSettings

    db.add(ProjectSettings(id=1, portal_link_days=30))
    db.commit()
    assert _create_link(api, project)["expires_at"].startswith("2026-02-14")
    assert _create_link(api, project, expires_in_days=365)["expires_at"].startswith("2027-01-15")
    r = api("alice").post(f"/api/v1/projects/{project.id}/portal-links", json={"expires_in_days": 366})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "expires_in_days"
    r = api("alice").post(
        f"/api/v1/projects/{project.id}/portal-links", json={"shares": {"contact_phone": "12"}}
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "shares.contact_phone"
    assert db.scalar(select(func.count(PortalLink.id))) == 2


def test_extend_a_link(api, db, project):
    link = _create_link(api, project, expires_in_days=10)
    r = api("alice").post(
        f"/api/v1/projects/{project.id}/portal-links/{link['id']}/extend", json={"days": 60}
    )
    assert r.status_code == 200, r.text
    assert r.json()["expires_at"].startswith("2026-03-16")
    assert db.scalar(select(func.count(AuditEntry.seq)).where(AuditEntry.action == "portal_link_extend")) == 1


# -- the public page ----------------------------------------------------------------------------------


def test_the_page_shows_the_shared_parts_only(api, anon, project):
    everything = _create_link(
        api,
        project,
        shares={
            "phases": True,
            "upcoming": True,
            "contact": True,
            "contact_phone": "06 12 34 56 78",
            "message": "Bienvenue sur le suivi du projet.",
        },
    )
    r = anon.get(f"/p/{everything['token']}")
    assert r.status_code == 200
    html = r.text
    assert "CH de Grenoble" in html and "Pompes à perfusion – CH de Grenoble" in html
    for name in PHASES:
        assert name in html
    assert "Démonstration au bloc" in html  # open task of the open phase
    assert "Envoyer la documentation" not in html  # done
    assert "Identifier le pharmacien" not in html  # an earlier phase
    assert "prix plancher" not in html  # descriptions stay internal unless chosen
    assert "Alice Test" in html and "alice@example.fr" in html and "06 12 34 56 78" in html
    assert "Bienvenue sur le suivi du projet." in html
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"
    for label in ("Formation", "Support", "Commande", "Question"):
        assert label in html

    phases_only = _create_link(api, project, shares={"phases": True})
    html = anon.get(f"/p/{phases_only['token']}").text
    assert "Présentation" in html
    assert 'data-testid="portal-upcoming"' not in html and "Démonstration au bloc" not in html
    assert 'data-testid="portal-contact"' not in html and "alice@example.fr" not in html
    assert 'data-testid="portal-message"' not in html

    with_descriptions = _create_link(api, project, shares={"upcoming": True, "task_descriptions": True})
    html = anon.get(f"/p/{with_descriptions['token']}").text
    assert "prix plancher" in html
    assert 'data-testid="portal-phases"' not in html


def test_unknown_token_answers_a_french_404_page(anon, project):
    r = anon.get("/p/" + "x" * 43)
    assert r.status_code == 404
    assert "Lien introuvable" in r.text
    assert "Traceback" not in r.text and "CH de Grenoble" not in r.text
    assert r.headers["referrer-policy"] == "no-referrer"


def test_an_expired_link_answers_410(api, anon, db, project):
    link = _create_link(api, project, expires_in_days=5)
    assert anon.get(f"/p/{link['token']}").status_code == 200
    clock.freeze(NOW + timedelta(days=5, seconds=1))
    r = anon.get(f"/p/{link['token']}")
    assert r.status_code == 410
    assert "plus valable" in r.text
    assert "CH de Grenoble" not in r.text
    before = _counts(db, project)
    assert _submit_raw(anon, link["token"]).status_code == 410
    assert _counts(db, project) == before


def _submit_raw(anon, token: str) -> Any:
    return anon.post(
        f"/p/{token}",
        data={
            "kind": "question",
            "name": "X",
            "email": "x@example.fr",
            "message": "Bonjour",
            "form_token": "1.x",
        },
    )


def test_a_revoked_link_answers_410_at_once(api, anon, db, project):
    link = _create_link(api, project)
    r = api("alice").delete(f"/api/v1/projects/{project.id}/portal-links/{link['id']}")
    assert r.status_code == 204
    assert anon.get(f"/p/{link['token']}").status_code == 410
    listed = api("alice").get(f"/api/v1/projects/{project.id}/portal-links").json()["items"]
    assert listed[0]["state"] == "revoked" and listed[0]["revoked_at"] is not None
    assert db.scalar(select(func.count(AuditEntry.seq)).where(AuditEntry.action == "portal_link_revoke")) == 1
    r = api("alice").post(
        f"/api/v1/projects/{project.id}/portal-links/{link['id']}/extend", json={"days": 30}
    )
    assert r.status_code == 422
    assert anon.get(f"/p/{link['token']}").status_code == 410


# -- requests -------------------------------------------------------------------------------------


def test_a_request_creates_one_request_activity_task_and_notification(api, anon, db, project, personas):
    link = _create_link(api, project, shares={"phases": True})
    r = _submit(anon, link["token"])
    assert r.status_code == 200, r.text
    assert "Merci, votre demande a bien été envoyée" in r.text
    assert r.headers["referrer-policy"] == "no-referrer"
    assert _counts(db, project) == (1, 1, 2 + 1 + 1, 1)  # 3 phase tasks + the request's task
    row = db.scalar(select(PortalRequest))
    assert (row.kind, row.name, row.email, row.phone) == (
        "training",
        "Claire Martin",
        "claire.martin@chu-grenoble.fr",
        "+33476767575",
    )
    assert row.link_id == link["id"]
    activity = db.get(Activity, row.activity_id)
    assert activity.subject == "Demande portail : Formation"
    assert activity.kind == "note"
    assert activity.organisation_id == project.organisation_id
    assert "Claire Martin <claire.martin@chu-grenoble.fr>" in activity.body
    assert "équipe de nuit" in activity.body
    assert activity.owner_id == personas["alice"].id
    task = db.get(Task, row.task_id)
    assert task.title == "Formation : Pouvez-vous former l'équipe de nuit du service de…"
    assert (task.record_type, task.record_id) == ("project", project.id)
    assert task.owner_id == personas["alice"].id
    assert task.status == "todo"
    # Thursday 15 January + 2 working days = Monday 19 January, 18:00 Paris
    assert task.due_at == datetime(2026, 1, 19, 17, 0, tzinfo=UTC)
    note = db.scalar(select(Notification).where(Notification.type == "portal_request"))
    assert note.user_id == personas["alice"].id
    assert note.title == "Demande portail (Formation) : Pompes à perfusion – CH de Grenoble"
    assert (note.record_type, note.record_id) == ("project", project.id)
    assert db.get(PortalLink, link["id"]).last_used_at == NOW
    listed = api("alice").get(f"/api/v1/projects/{project.id}/portal-requests").json()["items"]
    assert [(i["id"], i["task_id"], i["activity_id"]) for i in listed] == [
        (row.id, row.task_id, row.activity_id)
    ]


def test_request_due_dates_skip_the_weekend():
    friday_evening = datetime(2026, 1, 16, 20, 0, tzinfo=UTC)  # 21:00 in Paris
    assert portal.request_due_at(friday_evening) == datetime(2026, 1, 20, 17, 0, tzinfo=UTC)
    saturday = datetime(2026, 1, 17, 9, 0, tzinfo=UTC)
    assert portal.request_due_at(saturday) == datetime(2026, 1, 20, 17, 0, tzinfo=UTC)


def test_an_invalid_form_shows_field_errors_and_creates_nothing(api, anon, db, project):
    link = _create_link(api, project)
    before = _counts(db, project)
    r = _submit(anon, link["token"], kind="lunch", name="", email="pas-un-email", phone="12", message=" ")
    assert r.status_code == 422
    errors = dict(re.findall(r'data-error-for="(\w+)">([^<]+)<', r.text))
    assert set(errors) == {"kind", "name", "email", "phone", "message"}
    assert errors["name"] == "Ce champ est obligatoire"
    assert errors["email"] == "Saisissez une adresse e-mail valide"
    assert 'value="pas-un-email"' in r.text  # what was typed stays
    assert _counts(db, project) == before
    assert db.get(PortalLink, link["id"]).last_used_at == NOW  # the view, not a request


def test_a_form_without_its_signed_token_is_refused(api, anon, db, project):
    link = _create_link(api, project)
    before = _counts(db, project)
    r = _submit(anon, link["token"], form_token="")
    assert r.status_code == 422
    assert "Le formulaire a expiré" in r.text
    assert _counts(db, project) == before
    # a page older than the token's lifetime is refused too
    page = anon.get(f"/p/{link['token']}")
    clock.freeze(NOW + timedelta(hours=portal.FORM_TOKEN_HOURS, minutes=1))
    r = _submit(anon, link["token"], form_token=_form_token(page.text))
    assert r.status_code == 422
    assert _counts(db, project) == before


def test_requests_are_rate_limited_per_link(api, anon, db, project, monkeypatch):
    monkeypatch.setenv("CARNET_RATE_LIMIT_PORTAL_REQUESTS", "2/hour")
    monkeypatch.setenv("CARNET_RATE_LIMIT_PORTAL_VIEWS", "0")
    from carnet.settings import get_settings

    get_settings.cache_clear()
    link = _create_link(api, project)
    assert _submit(anon, link["token"]).status_code == 200
    assert _submit(anon, link["token"], kind="order").status_code == 200
    before = _counts(db, project)
    r = _submit(anon, link["token"], kind="question")
    assert r.status_code == 429
    assert "Trop de requêtes" in r.text
    assert int(r.headers["retry-after"]) > 0
    assert _counts(db, project) == before
    other = _create_link(api, project)  # another link has its own allowance
    assert _submit(anon, other["token"]).status_code == 200


def test_page_views_are_rate_limited_per_ip(api, anon, db, project, monkeypatch):
    monkeypatch.setenv("CARNET_RATE_LIMIT_PORTAL_VIEWS", "3/minute")
    from carnet.settings import get_settings

    get_settings.cache_clear()
    link = _create_link(api, project)
    for _ in range(3):
        assert anon.get(f"/p/{link['token']}").status_code == 200
    r = anon.get(f"/p/{link['token']}")
    assert r.status_code == 429
    assert "CH de Grenoble" not in r.text
    before = _counts(db, project)
    assert _submit_raw(anon, link["token"]).status_code == 429
    assert _counts(db, project) == before


# -- answers ---------------------------------------------------------------------------------------


def test_answering_emails_the_requester_and_logs_an_activity(api, anon, db, project, personas):
    link = _create_link(api, project)
    assert _submit(anon, link["token"]).status_code == 200
    row = db.scalar(select(PortalRequest))
    url = f"/api/v1/projects/{project.id}/portal-requests/{row.id}/answer"
    r = api("alice").post(url, json={"message": "  "})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "message"
    assert (
        db.scalar(select(func.count(OutgoingEmail.id)).where(OutgoingEmail.to_address.like("claire%"))) == 0
    )
    r = api("alice").post(url, json={"message": "Bonjour, la formation est prévue mardi à 14 h."})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["answer"] == "Bonjour, la formation est prévue mardi à 14 h."
    assert body["answered_by_id"] == personas["alice"].id
    email = db.scalar(
        select(OutgoingEmail).where(OutgoingEmail.to_address == "claire.martin@chu-grenoble.fr")
    )
    assert email.subject == "Réponse à votre demande (formation) – Pompes à perfusion – CH de Grenoble"
    assert "la formation est prévue mardi à 14 h." in email.text_body
    assert "> Pouvez-vous former" in email.text_body
    assert email.reply_to == "alice@example.fr"
    assert (email.record_type, email.record_id) == ("project", project.id)
    logged = db.scalar(select(Activity).where(Activity.subject == "Réponse portail : Formation"))
    assert logged.kind == "email" and logged.organisation_id == project.organisation_id
    assert (
        db.scalar(select(func.count(AuditEntry.seq)).where(AuditEntry.action == "portal_request_answer")) == 1
    )


# -- permissions -----------------------------------------------------------------------------------


def test_an_outsider_can_neither_list_nor_create_links(api, anon, db, project):
    """outsider is in sales like alice but in another department: the project does not exist for
    them, nor for the read-only reader of the Support department."""
    link = _create_link(api, project)
    assert _submit(anon, link["token"]).status_code == 200
    row = db.scalar(select(PortalRequest))
    base = f"/api/v1/projects/{project.id}"
    for who in ("outsider", "reader"):
        assert api(who).get(f"{base}/portal-links").status_code == 404
        assert api(who).post(f"{base}/portal-links", json={}).status_code == 404
        assert api(who).delete(f"{base}/portal-links/{link['id']}").status_code == 404
        assert api(who).get(f"{base}/portal-requests").status_code == 404
        r = api(who).post(f"{base}/portal-requests/{row.id}/answer", json={"message": "Bonjour"})
        assert r.status_code == 404
    assert db.scalar(select(func.count(PortalLink.id))) == 1
    assert db.get(PortalLink, link["id"]).revoked_at is None
    assert db.get(PortalRequest, row.id).answered_at is None
    assert (
        db.scalar(select(func.count(OutgoingEmail.id)).where(OutgoingEmail.to_address.like("claire%"))) == 0
    )


def test_a_reader_of_the_project_cannot_create_or_revoke(api, db, project, personas):
    """With projects visible to all, a read-only user lists the links but cannot create or revoke
    one; alice's colleague bob (sales) manages them."""
    from carnet.core import permissions

    permissions.set_scope(db, "project", "all")
    db.commit()
    link = _create_link(api, project)
    base = f"/api/v1/projects/{project.id}"
    assert api("reader").get(f"{base}/portal-links").status_code == 200
    assert api("reader").post(f"{base}/portal-links", json={}).status_code == 403
    assert api("reader").delete(f"{base}/portal-links/{link['id']}").status_code == 403
    assert db.scalar(select(func.count(PortalLink.id))) == 1
    assert db.get(PortalLink, link["id"]).revoked_at is None
    assert _create_link(api, project, who="bob")["state"] == "active"


def test_links_of_another_project_are_not_found(api, db, project):
    link = _create_link(api, project)
    r = api("alice").delete(f"/api/v1/projects/{project.id + 1000}/portal-links/{link['id']}")
    assert r.status_code == 404
    assert db.get(PortalLink, link["id"]).revoked_at is None


def test_the_portal_routes_are_in_the_openapi_document(anon):
    spec = anon.get("/api/openapi.json").json()
    paths = spec["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/projects/{project_id}/portal-links"])
    assert "delete" in paths["/api/v1/projects/{project_id}/portal-links/{link_id}"]
    assert "get" in paths["/api/v1/projects/{project_id}/portal-requests"]
    assert "post" in paths["/api/v1/projects/{project_id}/portal-requests/{request_id}/answer"]
    assert {"PortalLinkCreate", "PortalLinkCreated", "PortalRequestRead", "PortalAnswer"} <= set(
        spec["components"]["schemas"]
    )
    assert not any(path.startswith("/p/") for path in paths)


# -- in-app management (htmx fragment) -------------------------------------------------------------

HTMX = {"HX-Request": "true"}


def test_the_management_fragment_creates_a_link_and_shows_its_url_once(web, db, project):
    alice = web("alice")
    headers = {**HTMX, "X-CSRF-Token": alice.csrf}
    r = alice.get(f"/projects/{project.id}/portal", headers=HTMX)
    assert r.status_code == 200
    assert 'id="portal-panel"' in r.text and "<html" not in r.text  # a fragment
    assert "Aucun lien de portail pour l'instant" in r.text.replace("&#39;", "'")
    form = {"label": "Pharmacie", "expires_in_days": "30", "phases": "on", "message": "Bonjour"}
    r = alice.post(f"/projects/{project.id}/portal/links", data=form, headers=headers)
    assert r.status_code == 200
    url = re.search(r'value="http://127\.0\.0\.1:8000/p/([^"]+)" data-testid="portal-url"', r.text)
    link = db.scalar(select(PortalLink))
    assert url, r.text
    token = url.group(1)
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert link.shares["phases"] is True and link.shares["upcoming"] is False
    assert link.shares["message"] == "Bonjour" and link.label == "Pharmacie"
    again = alice.get(f"/projects/{project.id}/portal", headers=HTMX)
    assert token not in again.text and "Pharmacie" in again.text
    full = alice.get(f"/projects/{project.id}/portal")
    assert "<html" in full.text and 'id="portal-panel"' in full.text


def test_the_management_fragment_shows_field_errors_and_writes_nothing(web, db, project):
    alice = web("alice")
    headers = {**HTMX, "X-CSRF-Token": alice.csrf}
    r = alice.post(
        f"/projects/{project.id}/portal/links",
        data={"label": "x" * 121, "expires_in_days": "400", "contact_phone": "12"},
        headers=headers,
    )
    assert r.status_code == 200  # htmx swaps 2xx answers only
    errors = dict(re.findall(r'data-error-for="(\w+)">([^<]+)<', r.text))
    assert set(errors) == {"label", "expires_in_days", "contact_phone"}
    assert errors["expires_in_days"] == "Saisissez un nombre de jours entre 1 et 365"
    assert db.scalar(select(func.count(PortalLink.id))) == 0
    r = alice.post(f"/projects/{project.id}/portal/links", data={"expires_in_days": "400"})
    assert r.status_code == 403  # no CSRF token: refused before anything is read
    r = alice.post(
        f"/projects/{project.id}/portal/links", data={"csrf_token": alice.csrf, "expires_in_days": "400"}
    )
    assert r.status_code == 422
    assert db.scalar(select(func.count(PortalLink.id))) == 0


def test_revoke_and_answer_from_the_fragment(web, api, anon, db, project):
    link = _create_link(api, project)
    assert (
        _submit(
            anon, link["token"], kind="support", message="La pompe n°3 affiche une erreur E12."
        ).status_code
        == 200
    )
    alice = web("alice")
    headers = {**HTMX, "X-CSRF-Token": alice.csrf}
    r = alice.get(f"/projects/{project.id}/portal", headers=HTMX)
    assert "La pompe n°3 affiche une erreur E12." in r.text and "Support" in r.text
    row = db.scalar(select(PortalRequest))
    r = alice.post(
        f"/projects/{project.id}/portal/requests/{row.id}/answer", data={"message": ""}, headers=headers
    )
    assert 'data-error-for="message">Ce champ est obligatoire<' in r.text
    assert db.get(PortalRequest, row.id).answered_at is None
    r = alice.post(
        f"/projects/{project.id}/portal/requests/{row.id}/answer",
        data={"message": "Un technicien passe demain matin."},
        headers=headers,
    )
    assert r.status_code == 200
    db.expire_all()
    assert db.get(PortalRequest, row.id).answer == "Un technicien passe demain matin."
    assert "Un technicien passe demain matin." in r.text
    r = alice.post(f"/projects/{project.id}/portal/links/{link['id']}/revoke", headers=headers)
    assert r.status_code == 200 and "Révoqué" in r.text
    assert anon.get(f"/p/{link['token']}").status_code == 410


def test_the_fragment_is_not_found_for_an_outsider(web, db, project):
    outsider = web("outsider")
    assert outsider.get(f"/projects/{project.id}/portal", headers=HTMX).status_code == 404
    r = outsider.post(
        f"/projects/{project.id}/portal/links",
        data={"label": "Intrus"},
        headers={**HTMX, "X-CSRF-Token": outsider.csrf},
    )
    assert r.status_code == 404
    assert db.scalar(select(func.count(PortalLink.id))) == 0


def test_a_failure_after_the_task_leaves_nothing_behind(api, anon, db, project, monkeypatch):
    """The request, its activity and its task are one transaction: a late failure undoes all."""
    link = _create_link(api, project)
    before = _counts(db, project)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("notification store down")

    monkeypatch.setattr(portal.notifications, "notify", broken)
    r = _submit(anon, link["token"])
    assert r.status_code == 500
    assert "notification store down" not in r.text
    assert _counts(db, project) == before
    assert db.get(PortalLink, link["id"]).last_used_at == NOW  # only the page view


def test_a_cancelled_project_closes_its_links(api, anon, db, project):
    link = _create_link(api, project)
    project.status = "cancelled"
    db.commit()
    r = anon.get(f"/p/{link['token']}")
    assert r.status_code == 410 and "CH de Grenoble" not in r.text
