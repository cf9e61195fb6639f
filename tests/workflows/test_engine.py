"""Runs: event triggers start runs as jobs, steps are recorded, retries, resume, loop protection."""

from __future__ import annotations

from datetime import timedelta

import pytest

from carnet.core import clock, events, jobs
from carnet.deals.models import Deal
from carnet.tasks.models import Task
from carnet.workflows import actions, context
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


def condition_then(step: dict, *, field: str = "amount", value: str = "10") -> dict:
    return {
        "trigger": {"type": "record.created", "record_type": "deal", "params": {}},
        "start": "c",
        "steps": {
            "c": {
                "type": "condition",
                "if": {"all": [{"field": field, "op": "gt", "value": value}]},
                "then": "a",
                "else": None,
            },
            "a": {**step, "next": step.get("next")},
            **({"t": TASK_STEP} if step.get("next") == "t" else {}),
        },
    }


TASK_STEP = {
    "type": "action",
    "action": "create_task",
    "params": {"title": "Suite", "assignee": "owner"},
    "next": None,
}


def attempts(db, run) -> list[tuple[str, int, int, str]]:
    rows = db.query(WorkflowRunStep).filter_by(run_id=run.id).order_by(WorkflowRunStep.id)
    return [(s.step_id, s.seq, s.attempt, s.status) for s in rows]


def test_consecutive_steps_run_in_one_job(db, make_workflow, make_deal, drain):
    wf = make_workflow(condition_then(dict(TASK_STEP, next=None)))
    deal = make_deal(amount="500")
    drain()
    run = db.query(WorkflowRun).filter_by(workflow_id=wf.id).one()
    assert (run.status, run.cursor, run.cursor_seq) == ("completed", None, 2)
    assert attempts(db, run) == [("c", 0, 1, "completed"), ("a", 1, 1, "completed")]
    condition = db.query(WorkflowRunStep).filter_by(run_id=run.id, step_id="c").one()
    assert condition.output == {"result": True, "next": "a"}
    assert db.query(Task).filter_by(record_type="deal", record_id=deal.id).count() == 1
    step_jobs = db.query(jobs.Job).filter_by(name="workflows.run_step").all()
    assert [(j.status, j.payload) for j in step_jobs] == [("done", {"run_id": run.id, "seq": 0})]


def test_a_failing_later_step_is_retried_by_a_job_of_its_own(db, make_workflow, make_deal, drain, receiver):
    receiver.statuses = [503]
    hook = {"type": "action", "action": "http_request", "params": {"method": "POST", "url": receiver.url}}
    wf = make_workflow(condition_then(dict(hook, next="t")))
    deal = make_deal(amount="500")
    drain()
    run = db.query(WorkflowRun).filter_by(workflow_id=wf.id).one()
    assert (run.status, run.cursor) == ("running", "a")
    assert attempts(db, run) == [("c", 0, 1, "completed"), ("a", 1, 1, "failed")]
    queued = db.query(jobs.Job).filter_by(name="workflows.run_step", status="queued").one()
    assert queued.payload == {"run_id": run.id, "seq": 1}
    assert timedelta(seconds=14) < queued.due_at - clock.now() <= timedelta(seconds=30)
    clock.advance(timedelta(seconds=31))
    drain()
    db.refresh(run)
    assert run.status == "completed"
    assert attempts(db, run) == [
        ("c", 0, 1, "completed"),
        ("a", 1, 1, "failed"),
        ("a", 1, 2, "completed"),
        ("t", 2, 1, "completed"),
    ]
    assert len(receiver.requests) == 2
    assert db.query(Task).filter_by(record_id=deal.id).count() == 1


def test_an_update_that_changes_nothing_keeps_the_step_records(db, make_workflow, make_deal, drain):
    # The deals service rolls the session back when nothing changes: the records must survive it.
    update = {"type": "action", "action": "update_fields", "params": {"fields": {"source": "salon"}}}
    wf = make_workflow(condition_then(dict(update, next="t")))
    deal = make_deal(amount="500", source="salon")
    drain()
    run = db.query(WorkflowRun).filter_by(workflow_id=wf.id).one()
    assert run.status == "completed"
    assert attempts(db, run) == [("c", 0, 1, "completed"), ("a", 1, 1, "completed"), ("t", 2, 1, "completed")]
    step = db.query(WorkflowRunStep).filter_by(run_id=run.id, step_id="a").one()
    assert step.output == {"record_type": "deal", "record_id": deal.id, "version": deal.version}
    assert db.query(Task).filter_by(record_id=deal.id).count() == 1


class Crash(BaseException):
    """The worker process dies (not an error the job runner catches)."""


def test_a_worker_killed_mid_run_does_not_repeat_a_done_action(
    db, make_workflow, make_deal, drain, monkeypatch
):
    update = {
        "type": "action",
        "action": "update_fields",
        "params": {"fields": {"description": "{{ deal.description }}+"}},
    }
    wf = make_workflow(condition_then(dict(update, next="t")))
    deal = make_deal(amount="500", description="x")
    real_apply = actions.apply_create_task
    crashes = []

    def crash_once(*args):
        if not crashes:
            crashes.append(1)
            raise Crash()
        return real_apply(*args)

    monkeypatch.setattr(actions, "apply_create_task", crash_once)
    with pytest.raises(Crash):
        drain()
    db.expire_all()
    run = db.query(WorkflowRun).filter_by(workflow_id=wf.id).one()
    # The update committed with its step record and the run's new position; the task did not.
    assert (run.status, run.cursor) == ("running", "t")
    assert [a[3] for a in attempts(db, run)] == ["completed", "completed"]
    assert db.get(Deal, deal.id).description == "x+"
    clock.advance(jobs.lease() + timedelta(seconds=1))  # the dead worker's lease runs out
    drain()
    db.refresh(run)
    assert run.status == "completed"
    assert attempts(db, run) == [("c", 0, 1, "completed"), ("a", 1, 1, "completed"), ("t", 2, 1, "completed")]
    assert db.get(Deal, deal.id).description == "x+"  # not run a second time
    assert db.query(Task).filter_by(record_id=deal.id).count() == 1


def test_a_run_loads_only_the_variables_its_steps_read(db, make_workflow, make_deal, personas):
    wf = make_workflow(condition_then(dict(TASK_STEP, next=None)), active=False)
    deal = make_deal("alice", amount="500")
    ctx = context.build(db, wf, "deal", deal.id, {"type": "deal.created"})
    base = {"now", "trigger", "webhook", "recipient"}
    assert ctx.variables.loaded() == base
    assert context.evaluate({"field": "amount", "op": "gt", "value": "10"}, ctx.variables, "deal") is True
    assert ctx.variables.loaded() == base | {"deal"}
    assert actions.render("Pour {{ owner.first_name }}", ctx) == "Pour Alice"
    assert ctx.variables.loaded() == base | {"deal", "owner"}  # no manager, organisation or contact
    assert {"manager", "organisation", "contact", "record"} <= set(ctx.variables)


def test_events_no_workflow_wants_cost_one_workflow_query_per_batch(db, make_workflow, make_deal, drain):
    from sqlalchemy import event as sa_event

    from carnet.core.db import get_database

    make_workflow(
        {
            "trigger": {"type": "record.created", "record_type": "organisation", "params": {}},
            "start": "s",
            "steps": {"s": {"type": "stop"}},
        }
    )
    drain()
    for i in range(5):
        make_deal(title=f"Affaire {i}")
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    engine = get_database().write_engine
    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        assert events.dispatch_pending() == 5
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)
    workflow_reads = [s for s in statements if "workflow" in s.lower()]
    assert len(workflow_reads) == 1 and "FROM workflows JOIN workflow_versions" in workflow_reads[0]
    assert db.query(WorkflowRun).count() == 0
