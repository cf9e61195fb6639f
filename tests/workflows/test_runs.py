"""Run lifecycle: retries with backoff, failure, resume, versions, loop protection, test mode."""

from __future__ import annotations

from datetime import timedelta

import pytest

from carnet.activities.models import Activity
from carnet.core import clock, events, jobs
from carnet.core.audit import AuditEntry
from carnet.core.errors import Conflict
from carnet.deals import service as deals
from carnet.deals.models import Deal
from carnet.tasks.models import Task
from carnet.workflows import engine, service
from carnet.workflows.models import WorkflowRun, WorkflowRunStep


def post_then_task(url: str) -> dict:
    return {
        "trigger": {"type": "record.created", "record_type": "deal", "params": {}},
        "start": "hook",
        "steps": {
            "hook": {
                "type": "action",
                "action": "http_request",
                "params": {"method": "POST", "url": url, "body": {"id": "{{ deal.id }}"}},
                "next": "task",
            },
            "task": {
                "type": "action",
                "action": "create_task",
                "params": {"title": "Suite", "assignee": "owner"},
                "next": None,
            },
        },
    }


def attempts(db, run) -> list[tuple[str, int, str]]:
    rows = db.query(WorkflowRunStep).filter_by(run_id=run.id).order_by(WorkflowRunStep.id)
    return [(s.step_id, s.attempt, s.status) for s in rows]


def test_a_failing_step_is_retried_with_backoff_then_succeeds(db, make_workflow, make_deal, drain, receiver):
    receiver.statuses = [503, 502]
    wf = make_workflow(post_then_task(receiver.url + "/hook"))
    deal = make_deal()
    drain()
    run = db.query(WorkflowRun).filter_by(workflow_id=wf.id).one()
    assert (run.status, attempts(db, run)) == ("running", [("hook", 1, "failed")])
    assert db.query(WorkflowRunStep).filter_by(run_id=run.id).one().error.startswith("HTTP 503")
    job = db.query(jobs.Job).filter_by(name="workflows.run_step", status="queued").one()
    assert timedelta(seconds=14) < job.due_at - clock.now() <= timedelta(seconds=30)  # backoff of attempt 1
    clock.advance(timedelta(seconds=31))
    drain()
    assert attempts(db, run) == [("hook", 1, "failed"), ("hook", 2, "failed")]
    clock.advance(timedelta(seconds=61))
    drain()
    db.refresh(run)
    assert run.status == "completed"
    assert attempts(db, run) == [
        ("hook", 1, "failed"),
        ("hook", 2, "failed"),
        ("hook", 3, "completed"),
        ("task", 1, "completed"),
    ]
    assert len(receiver.requests) == 3
    assert db.query(Task).filter_by(record_id=deal.id).count() == 1


def test_a_run_fails_after_three_attempts_and_resumes_from_the_failed_step(
    db, make_workflow, make_deal, actor, drain, receiver
):
    receiver.statuses = [500, 500, 500]
    wf = make_workflow(post_then_task(receiver.url + "/hook"))
    deal = make_deal()
    for _ in range(3):
        drain()
        clock.advance(timedelta(minutes=5))
    drain()
    run = db.query(WorkflowRun).filter_by(workflow_id=wf.id).one()
    assert (run.status, run.cursor, run.error) == ("failed", "hook", 'HTTP 500: {"error": "boom"}')
    assert [a[2] for a in attempts(db, run)] == ["failed", "failed", "failed"]
    assert db.query(Task).filter_by(record_id=deal.id).count() == 0

    with pytest.raises(Conflict):
        service.resume_run(db, actor("admin"), _completed_run(db, make_workflow, make_deal, drain))
    service.resume_run(db, actor("manager"), run)
    drain()
    db.refresh(run)
    assert run.status == "completed" and run.error is None
    assert attempts(db, run)[-2:] == [("hook", 4, "completed"), ("task", 1, "completed")]
    assert db.query(Task).filter_by(record_id=deal.id).count() == 1
    assert (
        db.query(AuditEntry).filter_by(record_type="workflow", record_id=wf.id, action="resume").count() == 1
    )


def _completed_run(db, make_workflow, make_deal, drain) -> WorkflowRun:
    wf = make_workflow(
        {
            "trigger": {"type": "record.created", "record_type": "deal", "params": {}},
            "start": "s",
            "steps": {"s": {"type": "stop"}},
        },
        name="Other",
    )
    make_deal()
    drain()
    return db.query(WorkflowRun).filter_by(workflow_id=wf.id).one()


def test_a_stale_or_duplicate_step_job_does_nothing(db, make_workflow, make_deal, drain):
    wf = make_workflow(
        {
            "trigger": {"type": "record.created", "record_type": "deal", "params": {}},
            "start": "t",
            "steps": {
                "t": {
                    "type": "action",
                    "action": "create_task",
                    "params": {"title": "Once", "assignee": "owner"},
                    "next": None,
                }
            },
        }
    )
    deal = make_deal()
    drain()
    run = db.query(WorkflowRun).filter_by(workflow_id=wf.id).one()
    engine.run_step({"run_id": run.id, "seq": 0})  # the same job delivered again
    db.expire_all()
    assert db.query(Task).filter_by(record_id=deal.id).count() == 1
    assert len(attempts(db, run)) == 1


def test_running_instances_finish_on_their_version(db, make_workflow, make_deal, actor, drain):
    def definition(title: str) -> dict:
        return {
            "trigger": {"type": "record.created", "record_type": "deal", "params": {}},
            "start": "w",
            "steps": {
                "w": {"type": "wait", "params": {"duration": "P1D"}, "next": "t"},
                "t": {
                    "type": "action",
                    "action": "create_task",
                    "params": {"title": title, "assignee": "owner"},
                    "next": None,
                },
            },
        }

    wf = make_workflow(definition("Version 1"))
    first = make_deal()
    drain()
    service.save_definition(db, actor("admin"), wf, definition("Version 2"))
    assert wf.current_version == 2
    second = make_deal()
    drain()
    clock.advance(timedelta(days=1, minutes=1))
    drain()
    titles = {t.record_id: t.title for t in db.query(Task).all()}
    assert titles == {first.id: "Version 1", second.id: "Version 2"}
    versions = {r.record_id: r.version_number for r in db.query(WorkflowRun).filter_by(workflow_id=wf.id)}
    assert versions == {first.id: 1, second.id: 2}


def test_loop_protection_stops_a_workflow_that_retriggers_itself(db, make_workflow, make_deal, actor, drain):
    # Every update of a deal appends to its description: each run's update is a new deal.updated event.
    wf = make_workflow(
        {
            "trigger": {"type": "record.updated", "record_type": "deal", "params": {}},
            "start": "u",
            "steps": {
                "u": {
                    "type": "action",
                    "action": "update_fields",
                    "params": {"fields": {"description": "{{ deal.description }}+"}},
                    "next": None,
                }
            },
        }
    )
    deal = make_deal(description="x")
    drain()
    deals.update_deal(db, actor("alice"), deal, {"source": "salon"})
    drain()
    runs = db.query(WorkflowRun).filter_by(workflow_id=wf.id).order_by(WorkflowRun.id).all()
    assert [(r.depth, r.status) for r in runs] == [
        (0, "completed"),
        (1, "completed"),
        (2, "completed"),
        (3, "completed"),
        (4, "completed"),
        (5, "skipped"),
    ]
    assert runs[-1].error == "Loop protection: started by a chain of 5 workflow runs (limit 5)"
    assert db.get(Deal, deal.id).description == "x+++++"
    assert events.pending_count(db) == 0


def test_test_mode_simulates_without_side_effects(db, make_workflow, make_deal, actor, drain, receiver):
    definition = {
        "trigger": {"type": "record.created", "record_type": "deal", "params": {}},
        "start": "c",
        "steps": {
            "c": {
                "type": "condition",
                "if": {"all": [{"field": "amount", "op": "gte", "value": "1000"}]},
                "then": "task",
                "else": None,
            },
            "task": {
                "type": "action",
                "action": "create_task",
                "params": {"title": "Relancer {{ deal.title }}", "assignee": "manager", "due_in_days": 1},
                "next": "note",
            },
            "note": {
                "type": "action",
                "action": "log_activity",
                "params": {"subject": "Note"},
                "next": "tag",
            },
            "tag": {"type": "action", "action": "add_tag", "params": {"tag": "chaud"}, "next": "hook"},
            "hook": {
                "type": "action",
                "action": "http_request",
                "params": {"method": "POST", "url": receiver.url, "body": {"a": "{{ deal.id }}"}},
                "next": "wait",
            },
            "wait": {"type": "wait", "params": {"duration": "P3D"}, "next": None},
        },
    }
    wf = make_workflow(definition, active=False)
    deal = make_deal("alice", title="Test", amount="2000")
    drain()
    counts = _counts(db)
    result = service.test_run(db, actor("manager"), wf, "deal", deal.id)
    drain()
    assert [(s["step_id"], s["status"]) for s in result["steps"]] == [
        ("c", "simulated"),
        ("task", "simulated"),
        ("note", "simulated"),
        ("tag", "simulated"),
        ("hook", "simulated"),
        ("wait", "simulated"),
    ]
    would_task = result["steps"][1]["output"]["would"]
    assert (would_task["title"], would_task["owner_id"]) == ("Relancer Test", actor("manager").user_id)
    assert result["steps"][3]["output"]["would"]["tags"] == ["chaud"]
    assert result["steps"][4]["output"]["would"]["body"] == {"a": str(deal.id)}
    assert _counts(db) == counts  # no task, activity, tag, event, audit entry or job
    assert receiver.requests == []
    run = db.get(WorkflowRun, result["run_id"])
    assert (run.test, run.status) == (True, "completed")
    assert service.workflow_stats(db, [wf.id])[wf.id]["runs"] == 0  # test runs are not counted


def _counts(db) -> dict:
    from carnet.core.tags import Tagging

    return {
        model.__name__: db.query(model).count()
        for model in (Task, Activity, Tagging, events.Event, AuditEntry, jobs.Job)
    }


def test_event_origins_are_purged_once_dispatched(db, make_workflow, make_deal, drain):
    from carnet.workflows.engine import _purge_origins
    from carnet.workflows.models import WorkflowEventOrigin

    make_workflow(
        {
            "trigger": {"type": "record.created", "record_type": "deal", "params": {}},
            "start": "u",
            "steps": {
                "u": {
                    "type": "action",
                    "action": "update_fields",
                    "params": {"fields": {"source": "wf"}},
                    "next": None,
                }
            },
        }
    )
    make_deal()
    drain()
    assert db.query(WorkflowEventOrigin).count() == 1  # the deal.updated written by the run
    assert _purge_origins(db, None, dry_run=False) == 0
    clock.advance(timedelta(days=2))
    assert _purge_origins(db, None, dry_run=True) == 1
    assert _purge_origins(db, None, dry_run=False) == 1
    assert db.query(WorkflowEventOrigin).count() == 0


def test_renaming_an_active_workflow_keeps_its_version(db, make_workflow, actor):
    wf = make_workflow(
        {
            "trigger": {"type": "manual", "record_type": "deal", "params": {}},
            "start": "s",
            "steps": {"s": {"type": "stop"}},
        }
    )
    service.update_workflow(
        db, actor("admin"), wf, {"name": "Renamed", "definition": service.current_definition(db, wf)}
    )
    assert (wf.name, wf.current_version) == ("Renamed", 1)
