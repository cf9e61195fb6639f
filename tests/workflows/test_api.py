"""The REST API: CRUD with permissions, validation as problem details, runs, templates, and the
incoming webhook (secret URL, rate limit)."""

from __future__ import annotations

from carnet.workflows.models import Workflow, WorkflowRun

DEFINITION = {
    "trigger": {"type": "webhook", "params": {}},
    "start": "t",
    "steps": {
        "t": {
            "type": "action",
            "action": "create_task",
            "params": {"title": "Lead {{ webhook.company }}", "assignee": {"user_id": 0}},
            "next": None,
        }
    },
}


def webhook_definition(user_id: int) -> dict:
    definition = {**DEFINITION, "steps": {"t": {**DEFINITION["steps"]["t"]}}}
    definition["steps"]["t"]["params"] = {
        "title": "Lead {{ webhook.company }}",
        "assignee": {"user_id": user_id},
    }
    return definition


def test_crud_and_enable_through_the_api(api, db, personas):
    manager = api("manager")
    r = manager.post(
        "/api/v1/workflows", json={"name": "Leads web", "definition": webhook_definition(personas["bob"].id)}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["active"], body["current_version"], body["trigger_type"], body["runs"]) == (
        False,
        1,
        "webhook",
        0,
    )
    assert body["webhook_url"].startswith("/api/v1/workflows/hooks/")
    wid, etag = body["id"], r.headers["etag"]

    r = manager.patch(
        f"/api/v1/workflows/{wid}", json={"name": "Leads du site"}, headers={"If-Match": '"999"'}
    )
    assert r.status_code == 412
    r = manager.patch(f"/api/v1/workflows/{wid}", json={"name": "Leads du site"}, headers={"If-Match": etag})
    assert (r.status_code, r.json()["name"]) == (200, "Leads du site")

    r = manager.post(f"/api/v1/workflows/{wid}/enable")
    assert (r.status_code, r.json()["active"]) == (200, True)
    r = manager.patch(
        f"/api/v1/workflows/{wid}", json={"definition": webhook_definition(personas["alice"].id)}
    )
    assert r.json()["current_version"] == 2
    r = manager.get(f"/api/v1/workflows/{wid}/versions")
    assert [v["number"] for v in r.json()["items"]] == [2, 1]
    assert manager.delete(f"/api/v1/workflows/{wid}").status_code == 409
    assert manager.post(f"/api/v1/workflows/{wid}/disable").json()["active"] is False
    assert manager.delete(f"/api/v1/workflows/{wid}").status_code == 204
    assert manager.get(f"/api/v1/workflows/{wid}").status_code == 404


def test_readers_read_and_cannot_write(api, db, personas):
    r = api("admin").post(
        "/api/v1/workflows", json={"name": "W", "definition": webhook_definition(personas["bob"].id)}
    )
    wid = r.json()["id"]
    reader = api("reader")
    assert [w["id"] for w in reader.get("/api/v1/workflows").json()["items"]] == [wid]
    assert reader.post("/api/v1/workflows", json={"name": "X"}).status_code == 403
    assert reader.patch(f"/api/v1/workflows/{wid}", json={"name": "Renamed"}).status_code == 403
    assert reader.post(f"/api/v1/workflows/{wid}/enable").status_code == 403
    assert reader.delete(f"/api/v1/workflows/{wid}").status_code == 403
    assert reader.post("/api/v1/workflow-templates/stuck_deal_alert/install").status_code == 403
    db.expire_all()
    assert [(w.name, w.active) for w in db.query(Workflow)] == [("W", False)]


def test_invalid_definition_answers_problem_details_with_field_errors(api):
    bad = {
        "trigger": {"type": "record.created", "record_type": "deal"},
        "start": "a",
        "steps": {
            "a": {
                "type": "action",
                "action": "send_email",
                "params": {"to": "owner", "subject": "{{ deal.colour }}", "body": "x"},
                "next": None,
            }
        },
    }
    r = api("admin").post("/api/v1/workflows", json={"name": "Bad", "definition": bad})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [(e["field"], e["message"]) for e in r.json()["errors"]] == [
        ("steps.a.params.subject", "Variable inconnue : deal.colour")
    ]
    r = api("reader").post("/api/v1/workflows/validate", json={"definition": bad})
    assert r.json() == {
        "valid": False,
        "problems": [{"step": "a", "field": "params.subject", "message": "Unknown variable: deal.colour"}],
    }


def test_enable_refuses_an_invalid_workflow(api, db, personas):
    from carnet.accounts.models import User

    user = User(email="temp@example.fr", role_id=db.get(User, personas["bob"].id).role_id)
    db.add(user)
    db.commit()
    r = api("admin").post("/api/v1/workflows", json={"name": "W", "definition": webhook_definition(user.id)})
    wid = r.json()["id"]
    db.delete(user)  # the assignee left after the workflow was saved
    db.commit()
    r = api("admin").post(f"/api/v1/workflows/{wid}/enable")
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["steps.t.params.assignee"]
    assert api("admin").get(f"/api/v1/workflows/{wid}").json()["active"] is False


def test_incoming_webhook_starts_the_workflow_with_the_body(api, anon, db, personas):
    from carnet.core import jobs
    from carnet.tasks.models import Task

    r = api("admin").post(
        "/api/v1/workflows", json={"name": "W", "definition": webhook_definition(personas["bob"].id)}
    )
    wid, url = r.json()["id"], r.json()["webhook_url"]
    assert anon.post(url, json={"company": "ACME"}).status_code == 404  # not enabled yet
    api("admin").post(f"/api/v1/workflows/{wid}/enable")
    r = anon.post(url, json={"company": "ACME"})
    assert r.status_code == 202, r.text
    jobs.drain()
    db.expire_all()
    assert [(t.title, t.owner_id) for t in db.query(Task)] == [("Lead ACME", personas["bob"].id)]
    run = db.get(WorkflowRun, r.json()["run_id"])
    assert (run.status, run.trigger["webhook"]) == ("completed", {"company": "ACME"})
    # A redelivery with the same webhook-id starts nothing.
    assert (
        anon.post(url, json={"company": "B"}, headers={"webhook-id": "msg_1"}).json()["status"] == "running"
    )
    assert anon.post(url, json={"company": "B"}, headers={"webhook-id": "msg_1"}).json() == {
        "run_id": None,
        "status": "duplicate",
    }
    assert anon.post(url, content=b"[1, 2]", headers={"content-type": "application/json"}).status_code == 422
    assert anon.post("/api/v1/workflows/hooks/wrong-token", json={}).status_code == 404
    rotated = api("admin").post(f"/api/v1/workflows/{wid}/rotate-webhook-token").json()["webhook_url"]
    assert rotated != url
    assert anon.post(url, json={}).status_code == 404
    assert anon.post(rotated, json={"company": "C"}).status_code == 202


def test_incoming_webhook_is_rate_limited_per_url(api, anon, db, personas, monkeypatch):
    from carnet.settings import get_settings

    monkeypatch.setenv("CARNET_WORKFLOW_WEBHOOK_RATE", "3/minute")
    get_settings.cache_clear()
    admin = api("admin")
    first = admin.post(
        "/api/v1/workflows", json={"name": "A", "definition": webhook_definition(personas["bob"].id)}
    ).json()
    second = admin.post(
        "/api/v1/workflows",
        json={"name": "B", "definition": webhook_definition(personas["bob"].id), "webhook_rate": "5/minute"},
    ).json()
    for wf in (first, second):
        admin.post(f"/api/v1/workflows/{wf['id']}/enable")
    codes = [anon.post(first["webhook_url"], json={"n": i}).status_code for i in range(4)]
    assert codes == [202, 202, 202, 429]
    limited = anon.post(first["webhook_url"], json={})
    assert int(limited.headers["retry-after"]) >= 1
    codes = [anon.post(second["webhook_url"], json={"n": i}).status_code for i in range(6)]
    assert codes == [202] * 5 + [429]
    db.expire_all()
    assert db.query(WorkflowRun).filter_by(workflow_id=first["id"]).count() == 3


def test_runs_and_run_detail(api, db, personas):
    from carnet.core import jobs

    admin = api("admin")
    wf = admin.post(
        "/api/v1/workflows", json={"name": "W", "definition": webhook_definition(personas["bob"].id)}
    ).json()
    admin.post(f"/api/v1/workflows/{wf['id']}/enable")
    from fastapi.testclient import TestClient

    client: TestClient = api("reader")
    client.headers.pop("Authorization")
    client.post(wf["webhook_url"], json={"company": "Z"})
    jobs.drain()
    runs = api("reader").get(f"/api/v1/workflows/{wf['id']}/runs").json()["items"]
    assert [(r["status"], r["trigger"]["type"]) for r in runs] == [("completed", "webhook")]
    detail = api("reader").get(f"/api/v1/workflow-runs/{runs[0]['id']}").json()
    assert [(s["step_id"], s["status"], s["attempt"]) for s in detail["steps"]] == [("t", "completed", 1)]
    assert api("reader").post(f"/api/v1/workflow-runs/{runs[0]['id']}/resume").status_code == 403
    assert api("admin").post(f"/api/v1/workflow-runs/{runs[0]['id']}/resume").status_code == 409
    assert api("admin").get("/api/v1/workflow-runs/999999").status_code == 404
    assert api("admin").get(f"/api/v1/workflows/{wf['id']}").json()["runs"] == 1


def test_templates_list_install_export_import(api, db):
    admin = api("admin")
    keys = [t["key"] for t in admin.get("/api/v1/workflow-templates").json()["items"]]
    assert len(keys) == 10 and "automatic_follow_up" in keys
    r = admin.post("/api/v1/workflow-templates/lost_deal_feedback/install")
    assert r.status_code == 201
    wf = r.json()
    assert (wf["name"], wf["active"], wf["trigger_type"]) == ("Lost-deal feedback task", False, "deal.lost")
    assert admin.post("/api/v1/workflow-templates/nope/install").status_code == 404
    document = admin.get(f"/api/v1/workflows/{wf['id']}/export").json()
    copy = admin.post("/api/v1/workflows/import", json=document)
    assert copy.status_code == 201
    assert copy.json()["definition"] == wf["definition"]
    catalogue = admin.get("/api/v1/workflows/catalogue?record_type=deal").json()
    assert {f["path"] for f in catalogue["fields"]} >= {"amount", "stage_id", "title", "expected_close_date"}
    assert len(catalogue["actions"]) == 12 and len(catalogue["operators"]) == 13
