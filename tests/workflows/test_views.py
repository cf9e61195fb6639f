"""Workflow pages: list with counts, template gallery, builder (its JSON save endpoint with field
errors), enable/disable, run history, permissions and CSRF."""

from __future__ import annotations

import html as html_module
import json
import re
from datetime import timedelta
from typing import Any

from carnet.core import clock, customfields, i18n
from carnet.tasks.models import Task
from carnet.workflows import service
from carnet.workflows.models import Workflow, WorkflowRun

TASK_ON_DEAL: dict[str, Any] = {
    "trigger": {"type": "record.created", "record_type": "deal", "params": {}},
    "start": "a1",
    "steps": {
        "a1": {
            "type": "action",
            "action": "create_task",
            "params": {"title": "Appeler {{ deal.title }}", "due_in_days": 2, "assignee": "owner"},
            "next": None,
            "ui": {"x": 120, "y": 160},
        }
    },
}


def fr(text: str, **params: Any) -> str:
    """A message as a French user reads it (engine messages come from its own catalogue)."""
    return i18n.gettext(text, "fr", **params)


def _config(page: str) -> dict[str, Any]:
    """The JSON the builder page hands to the canvas script."""
    match = re.search(r'<script type="application/json" id="wf-config">(.*?)</script>', page, re.S)
    assert match, "builder config missing"
    return json.loads(html_module.unescape(match.group(1)))


def _save(client: Any, workflow_id: int, definition: dict[str, Any], etag: int | None) -> Any:
    return client.post(
        f"/workflows/{workflow_id}/definition",
        json={"definition": definition, "expected_version": etag},
        headers={"X-CSRF-Token": client.csrf},
    )


def test_list_page_shows_each_workflow_with_its_state_and_counts(web, db, actor):
    service.create_workflow(db, actor("admin"), {"name": "Relance devis", "definition": TASK_ON_DEAL})
    page = web("admin").get("/workflows")
    assert page.status_code == 200
    row = re.search(r'<tr data-workflow-id="\d+">(.*?)</tr>', page.text, re.S).group(1)
    cells = [re.sub(r"<[^>]+>|\s+", " ", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    trigger = f"{fr('Record created')} · Affaire"
    assert cells[:7] == ["Relance devis", "Inactif", "1", trigger, "0", "0", "Jamais"]
    assert 'href="/workflows/new"' in page.text
    assert 'href="/workflows/templates"' in page.text


def test_gallery_installs_a_template_as_an_inactive_copy(web, db):
    client = web("admin")
    gallery = client.get("/workflows/templates")
    assert gallery.status_code == 200
    keys = re.findall(r'data-template="([a-z_]+)"', gallery.text)
    assert len(keys) == len(service.list_templates()) >= 10
    assert "automatic_follow_up" in keys
    r = client.post(
        "/workflows/templates/automatic_follow_up/install",
        data={"csrf_token": client.csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    workflow_id = int(r.headers["location"].rsplit("/", 1)[1])
    workflow = db.get(Workflow, workflow_id)
    assert (workflow.template_key, workflow.active, workflow.trigger_type) == (
        "automatic_follow_up",
        False,
        "no_activity",
    )
    builder = client.get(r.headers["location"])
    assert builder.status_code == 200
    assert _config(builder.text)["definition"] == service.current_definition(db, workflow)


def test_builder_config_feeds_the_pickers(web, db, actor):
    customfields.create_definition(
        db,
        actor("admin"),
        {
            "record_type": "deal",
            "key": "segment",
            "label": "Segment",
            "field_type": "select",
            "options": "PME\nETI",
        },
    )
    wf = service.create_workflow(db, actor("admin"), {"name": "Pickers", "definition": TASK_ON_DEAL})
    config = _config(web("admin").get(f"/workflows/{wf.id}").text)
    assert config["workflow"] == {"id": wf.id, "name": "Pickers", "etag": wf.version}
    assert config["errors"] == []
    assert config["can_edit"] is True
    deal_fields = {f["name"]: f for f in config["fields"]["deal"]}
    assert deal_fields["cf.segment"] == {
        "name": "cf.segment",
        "label": "Segment",
        "type": "select",
        "custom": True,
        "updatable": True,
        "options": [{"value": "PME", "label": "PME"}, {"value": "ETI", "label": "ETI"}],
    }
    assert deal_fields["amount"]["type"] == "money"
    assert {t["type"] for t in config["triggers"]} == {t["type"] for t in service.trigger_catalogue()}
    create_task = next(a for a in config["actions"] if a["action"] == "create_task")
    assert [(p["name"], p["kind"], p["required"]) for p in create_task["params"]] == [
        ("title", "text", True),
        ("description", "textarea", False),
        ("due_in_days", "number", False),
        ("priority", "select", False),
        ("assignee", "assignee", False),
    ]
    assert "deal.amount" in config["variables"]["deal"]
    assert "owner.email" in config["variables"]["deal"]
    assert {o["op"] for o in config["operators"]} == {
        "eq", "ne", "gt", "gte", "lt", "lte", "contains", "not_contains", "in", "not_in",
        "is_empty", "is_not_empty", "changed",
    }  # fmt: skip


def test_saving_returns_field_errors_and_keeps_the_previous_definition(web, db, actor):
    wf = service.create_workflow(db, actor("admin"), {"name": "Relance", "definition": TASK_ON_DEAL})
    client = web("admin")
    bad = json.loads(json.dumps(TASK_ON_DEAL))
    bad["steps"]["a1"]["params"]["title"] = "Appeler {{ deal.nom }}"
    bad["steps"]["a1"]["next"] = "nowhere"
    r = _save(client, wf.id, bad, wf.version)
    assert r.status_code == 422
    assert r.json() == {
        "message": "Certains champs sont invalides",
        "errors": [
            {"step": "a1", "field": "next", "message": fr("Unknown step: {name}", name="nowhere")},
            {
                "step": "a1",
                "field": "params.title",
                "message": fr("Unknown variable: {name}", name="deal.nom"),
            },
        ],
    }
    db.expire_all()
    assert service.current_definition(db, db.get(Workflow, wf.id)) == TASK_ON_DEAL


def test_saving_a_valid_definition_and_a_stale_one(web, db, actor):
    wf = service.create_workflow(db, actor("admin"), {"name": "Relance", "definition": TASK_ON_DEAL})
    client = web("admin")
    etag = wf.version
    edited = json.loads(json.dumps(TASK_ON_DEAL))
    edited["steps"]["a1"]["params"]["due_in_days"] = 5
    edited["steps"]["a1"]["ui"] = {"x": 300, "y": 220}
    r = _save(client, wf.id, edited, etag)
    assert r.status_code == 200, r.text
    assert r.json() == {"version": 1, "etag": etag + 1, "errors": []}
    db.expire_all()
    assert service.current_definition(db, db.get(Workflow, wf.id)) == edited

    # Someone saved in between: the old token is refused and nothing changes.
    stale = json.loads(json.dumps(edited))
    stale["steps"]["a1"]["params"]["due_in_days"] = 9
    r = _save(client, wf.id, stale, etag)
    assert r.status_code == 412
    db.expire_all()
    assert (
        service.current_definition(db, db.get(Workflow, wf.id))["steps"]["a1"]["params"]["due_in_days"] == 5
    )

    r = client.post(
        f"/workflows/{wf.id}/definition",
        content=b"not json",
        headers={"X-CSRF-Token": client.csrf, "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["message"] == "La définition doit être un objet JSON"


def test_saving_requires_the_csrf_token(web, db, actor):
    wf = service.create_workflow(db, actor("admin"), {"name": "Relance", "definition": TASK_ON_DEAL})
    client = web("admin")
    edited = json.loads(json.dumps(TASK_ON_DEAL))
    edited["steps"]["a1"]["params"]["due_in_days"] = 7
    r = client.post(
        f"/workflows/{wf.id}/definition", json={"definition": edited, "expected_version": wf.version}
    )
    assert r.status_code == 403
    r = client.post(f"/workflows/{wf.id}/enable", data={})
    assert r.status_code == 403
    db.expire_all()
    workflow = db.get(Workflow, wf.id)
    assert workflow.active is False
    assert service.current_definition(db, workflow) == TASK_ON_DEAL


def test_enable_refuses_an_invalid_workflow_with_its_errors(web, db, actor):
    client = web("admin")
    r = client.post(
        "/workflows",
        data={"name": "Vide", "description": "", "csrf_token": client.csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    workflow_id = int(r.headers["location"].rsplit("/", 1)[1])
    r = client.post(f"/workflows/{workflow_id}/enable", data={"csrf_token": client.csrf})
    assert r.status_code == 422
    errors = re.search(r'data-testid="enable-errors"><span>(.*?)</span>', r.text, re.S).group(1)
    assert html_module.unescape(errors).startswith("Le workflow n'a pas été activé :")
    assert fr("Add at least one step") in html_module.unescape(errors)
    db.expire_all()
    assert db.get(Workflow, workflow_id).active is False

    r = _save(client, workflow_id, TASK_ON_DEAL, db.get(Workflow, workflow_id).version)
    assert r.status_code == 200
    r = client.post(
        f"/workflows/{workflow_id}/enable", data={"csrf_token": client.csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    db.expire_all()
    assert db.get(Workflow, workflow_id).active is True
    page = client.get(f"/workflows/{workflow_id}")
    assert 'data-testid="disable"' in page.text and 'data-testid="enable"' not in page.text

    r = client.post(
        f"/workflows/{workflow_id}/disable", data={"csrf_token": client.csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    db.expire_all()
    assert db.get(Workflow, workflow_id).active is False


def test_new_workflow_form_shows_the_name_error(web, db):
    client = web("admin")
    before = db.query(Workflow).count()
    r = client.post("/workflows", data={"name": "", "description": "x", "csrf_token": client.csrf})
    assert r.status_code == 422
    assert re.search(r'data-error-for="name">[^<]+<', r.text)
    assert db.query(Workflow).count() == before


def test_reader_sees_workflows_but_cannot_change_them(web, db, actor):
    wf = service.create_workflow(db, actor("admin"), {"name": "Relance", "definition": TASK_ON_DEAL})
    reader = web("reader")
    page = reader.get("/workflows")
    assert page.status_code == 200
    assert "Relance" in page.text
    assert 'href="/workflows/new"' not in page.text
    assert reader.get("/workflows/new").status_code == 403
    assert reader.get("/workflows/templates").status_code == 403
    builder = reader.get(f"/workflows/{wf.id}")
    assert builder.status_code == 200
    assert _config(builder.text)["can_edit"] is False
    assert "data-save" not in builder.text

    edited = json.loads(json.dumps(TASK_ON_DEAL))
    edited["steps"]["a1"]["params"]["due_in_days"] = 9
    assert _save(reader, wf.id, edited, wf.version).status_code == 403
    assert reader.post(f"/workflows/{wf.id}/enable", data={"csrf_token": reader.csrf}).status_code == 403
    r = reader.post("/workflows/templates/automatic_follow_up/install", data={"csrf_token": reader.csrf})
    assert r.status_code == 403
    db.expire_all()
    workflow = db.get(Workflow, wf.id)
    assert workflow.active is False
    assert service.current_definition(db, workflow) == TASK_ON_DEAL
    assert db.query(Workflow).count() == 1


def test_unknown_workflow_and_run_answer_404(web):
    client = web("admin")
    assert client.get("/workflows/999999").status_code == 404
    assert client.get("/workflows/999999/runs").status_code == 404
    assert client.get("/workflows/runs/999999").status_code == 404
    r = _save(client, 999999, TASK_ON_DEAL, 1)
    assert r.status_code == 404


def test_runs_page_without_runs(web, db, actor):
    wf = service.create_workflow(db, actor("admin"), {"name": "Relance", "definition": TASK_ON_DEAL})
    page = web("admin").get(f"/workflows/{wf.id}/runs")
    assert page.status_code == 200
    assert "Aucune exécution pour l&#39;instant" in page.text
    assert 'data-testid="test-form"' in page.text


def _post_then_task(url: str, trigger: str = "record.created") -> dict[str, Any]:
    return {
        "trigger": {"type": trigger, "record_type": "deal", "params": {}},
        "start": "hook",
        "steps": {
            "hook": {
                "type": "action",
                "action": "http_request",
                "label": "Prévenir l'ERP",
                "params": {"method": "POST", "url": url, "body": {"id": "{{ deal.id }}"}},
                "next": "task",
            },
            "task": {
                "type": "action",
                "action": "create_task",
                "params": {"title": "Suite de {{ deal.title }}", "assignee": "owner"},
                "next": None,
            },
        },
    }


def _steps(page: str) -> list[tuple[str, str]]:
    """(step id, status label) of each step shown, in order."""
    return [
        (step_id, html_module.unescape(label))
        for step_id, label in re.findall(
            r'data-step="([^"]+)">\s*<summary>\s*<span class="badge run-[a-z]+">([^<]+)</span>', page
        )
    ]


def test_run_history_failed_run_and_resume(web, db, make_workflow, make_deal, drain, receiver):
    receiver.statuses = [500, 500, 500]
    wf = make_workflow(_post_then_task(receiver.url + "/hook"))
    deal = make_deal(title="Offre Cantine")
    for _ in range(3):
        drain()
        clock.advance(timedelta(minutes=5))
    drain()
    run = db.query(WorkflowRun).filter_by(workflow_id=wf.id).one()
    assert run.status == "failed"

    client = web("admin")
    history = client.get(f"/workflows/{wf.id}/runs")
    row = re.search(rf'<tr data-run-id="{run.id}">(.*?)</tr>', history.text, re.S).group(1)
    assert '<span class="badge run-failed">Échec</span>' in row
    assert f'<a href="/deals/{deal.id}">Offre Cantine</a>' in row
    assert "HTTP 500" in row

    page = client.get(f"/workflows/runs/{run.id}")
    assert page.status_code == 200
    assert _steps(page.text) == [("hook", "Échec"), ("hook", "Échec"), ("hook", "Échec")]
    assert "Tentative 3" in page.text
    assert 'data-testid="resume"' in page.text

    # A reader sees the run but may not resume it; nothing changes.
    reader = web("reader")
    assert 'data-testid="resume"' not in reader.get(f"/workflows/runs/{run.id}").text
    assert (
        reader.post(f"/workflows/runs/{run.id}/resume", data={"csrf_token": reader.csrf}).status_code == 403
    )
    db.refresh(run)
    assert run.status == "failed"

    r = client.post(
        f"/workflows/runs/{run.id}/resume", data={"csrf_token": client.csrf}, follow_redirects=False
    )
    assert (r.status_code, r.headers["location"]) == (303, f"/workflows/runs/{run.id}")
    drain()
    page = client.get(f"/workflows/runs/{run.id}")
    assert '<span class="badge run-completed" data-testid="run-status">Terminée</span>' in page.text
    assert _steps(page.text)[-2:] == [("hook", "Terminée"), ("task", "Terminée")]
    assert "Prévenir l&#39;ERP" in page.text  # the step's label from the definition
    assert "Suite de Offre Cantine" in page.text  # what the task step rendered


def test_test_mode_shows_each_step_without_side_effects(web, db, make_workflow, make_deal, receiver):
    wf = make_workflow(_post_then_task(receiver.url + "/hook"), active=False)
    deal = make_deal(title="Offre Cantine")
    tasks_before = db.query(Task).count()
    client = web("admin")
    r = client.post(
        f"/workflows/{wf.id}/test",
        data={"record_type": "deal", "record_id": str(deal.id), "mode": "test", "csrf_token": client.csrf},
    )
    assert r.status_code == 200
    result = r.text.split('data-testid="test-result"')[1]
    assert _steps(result)[:2] == [("hook", "Simulée"), ("task", "Simulée")]
    assert "Suite de Offre Cantine" in result
    assert receiver.requests == []
    assert db.query(Task).count() == tasks_before

    r = client.post(
        f"/workflows/{wf.id}/test",
        data={"record_type": "deal", "record_id": "", "mode": "test", "csrf_token": client.csrf},
    )
    assert r.status_code == 422
    assert "Choisissez un type de fiche et un numéro de fiche" in r.text


def test_manual_run_from_the_run_history(web, db, make_workflow, make_deal, drain):
    definition = {
        "trigger": {"type": "manual", "record_type": "deal", "params": {}},
        "start": "task",
        "steps": {
            "task": {
                "type": "action",
                "action": "create_task",
                "params": {"title": "Rappeler {{ deal.title }}", "assignee": "owner"},
                "next": None,
            }
        },
    }
    wf = make_workflow(definition)
    deal = make_deal(title="Offre Cantine")
    client = web("admin")
    page = client.get(f"/workflows/{wf.id}/runs")
    assert 'value="run"' in page.text  # "run it for real" only for an active manual workflow
    r = client.post(
        f"/workflows/{wf.id}/test",
        data={"record_type": "deal", "record_id": str(deal.id), "mode": "run", "csrf_token": client.csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    run_id = int(r.headers["location"].rsplit("/", 1)[1])
    drain()
    page = client.get(f"/workflows/runs/{run_id}")
    assert _steps(page.text) == [("task", "Terminée")]
    assert db.query(Task).filter_by(title="Rappeler Offre Cantine").count() == 1


def test_export_downloads_the_definition(web, db, actor):
    wf = service.create_workflow(db, actor("admin"), {"name": "Relance", "definition": TASK_ON_DEAL})
    r = web("admin").get(f"/workflows/{wf.id}/export")
    assert r.status_code == 200
    assert r.headers["content-disposition"] == f'attachment; filename="workflow-{wf.id}.json"'
    assert (r.json()["name"], r.json()["definition"]) == ("Relance", TASK_ON_DEAL)
