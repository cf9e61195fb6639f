"""Runs: event triggers start runs as jobs, steps are recorded, retries, resume, loop protection."""

from __future__ import annotations

from carnet.tasks.models import Task
from carnet.workflows.models import WorkflowRun, WorkflowRunStep


def task_on_created_deal(**step_params):
    return {
        "trigger": {"type": "record.created", "record_type": "deal", "params": {}},
        "start": "a1",
        "steps": {
            "a1": {
                "type": "action",
                "action": "create_task",
                "params": {
                    "title": "Call about {{ deal.title }}",
                    "due_in_days": 2,
                    "assignee": "owner",
                    **step_params,
                },
                "next": None,
            },
        },
    }


def test_record_created_starts_a_run_that_creates_a_task(db, make_workflow, make_deal, drain, personas):
    wf = make_workflow(task_on_created_deal())
    deal = make_deal("alice", title="Cabinet Durand")
    drain()
    run = db.query(WorkflowRun).filter_by(workflow_id=wf.id).one()
    assert (run.status, run.record_type, run.record_id, run.depth) == ("completed", "deal", deal.id, 0)
    task = db.query(Task).filter_by(record_type="deal", record_id=deal.id).one()
    assert (task.title, task.owner_id) == ("Call about Cabinet Durand", personas["alice"].id)
    step = db.query(WorkflowRunStep).filter_by(run_id=run.id).one()
    assert (step.step_id, step.status, step.attempt, step.output) == (
        "a1",
        "completed",
        1,
        {"task_id": task.id},
    )
    assert step.input["rendered"]["title"] == "Call about Cabinet Durand"
