"""Runs: one job per step (a wait is the next step's job with a later due time), every attempt
recorded, retries with backoff, loop protection by depth, and test mode that only plans.

Job payloads carry the run id and its cursor position (`seq`): a duplicate or stale job finds the
run elsewhere and does nothing, so the job may run twice safely."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carnet.activities.inputs import start_of_day
from carnet.core import clock, events, housekeeping, jobs
from carnet.core.db import get_database
from carnet.core.errors import NotFound
from carnet.workflows import actions, context, definition
from carnet.workflows.models import (
    OPEN_RUN_STATUSES,
    Workflow,
    WorkflowEventOrigin,
    WorkflowRun,
    WorkflowRunStep,
    WorkflowVersion,
)

log = logging.getLogger("carnet.workflows")

MAX_DEPTH = 5  # a run started by an event this deep in a chain of workflow runs is not started
MAX_STEP_ATTEMPTS = 3
RETRY_BASE = timedelta(seconds=30)
RUN_STEP = "workflows.run_step"
ORIGIN_KEY = "workflow_origin"
MAX_SIMULATED_STEPS = 200


# -- loop protection: which run caused an event ---------------------------------------------------------


@sa_event.listens_for(Session, "before_flush")
def _tag_events(session: Session, _context: Any, _instances: Any) -> None:
    """Events written while a step runs get an origin row: the consumer reads the depth there."""
    origin = session.info.get(ORIGIN_KEY)
    if origin is None:
        return
    for obj in list(session.new):
        if isinstance(obj, events.Event):
            if obj.event_id is None:
                obj.event_id = str(uuid.uuid4())
            session.add(
                WorkflowEventOrigin(
                    event_id=obj.event_id,
                    run_id=origin["run_id"],
                    workflow_id=origin["workflow_id"],
                    depth=origin["depth"],
                )
            )


def _purge_origins(db: Session, settings: Any, dry_run: bool) -> int:
    """Origins of events dispatched more than a day ago: the consumer has read their depth."""
    dispatched = select(events.Event.event_id).where(
        events.Event.dispatched_at < clock.now() - timedelta(days=1)
    )
    where = WorkflowEventOrigin.event_id.in_(dispatched)
    if dry_run:
        return housekeeping.count(db, WorkflowEventOrigin.__table__, where)
    deleted = db.execute(delete(WorkflowEventOrigin).where(where)).rowcount or 0
    db.commit()
    return deleted


housekeeping.register_purger("workflow event origins", _purge_origins)


def event_depth(db: Session, event_id: str) -> int:
    origin = db.get(WorkflowEventOrigin, event_id)
    return origin.depth if origin is not None else 0


# -- starting -------------------------------------------------------------------------------------------


def version_for(db: Session, workflow: Workflow) -> WorkflowVersion:
    version = db.scalar(
        select(WorkflowVersion).where(
            WorkflowVersion.workflow_id == workflow.id, WorkflowVersion.number == workflow.current_version
        )
    )
    assert version is not None
    return version


def _job_key(run: WorkflowRun) -> str:
    return f"workflow-run:{run.id}:{run.cursor_seq}"


def _schedule(db: Session, run: WorkflowRun, due_at: datetime | None = None) -> None:
    jobs.enqueue(db, RUN_STEP, {"run_id": run.id, "seq": run.cursor_seq}, due_at=due_at, key=_job_key(run))


def start_run(
    db: Session,
    workflow: Workflow,
    trigger_key: str,
    record_type: str | None,
    record_id: int | None,
    trigger: dict[str, Any],
    *,
    depth: int = 0,
    started_by_id: int | None = None,
) -> WorkflowRun | None:
    """Start a run of the workflow's current version, in the caller's transaction. None when this
    trigger occurrence already started this workflow. A run past the depth limit is recorded as
    `skipped` (visible in the history) and does nothing."""
    exists = db.scalar(
        select(WorkflowRun.id).where(
            WorkflowRun.workflow_id == workflow.id, WorkflowRun.trigger_event_id == trigger_key
        )
    )
    if exists is not None:
        return None
    version = version_for(db, workflow)
    now = clock.now()
    run = WorkflowRun(
        workflow_id=workflow.id,
        version_id=version.id,
        version_number=version.number,
        trigger_event_id=trigger_key,
        trigger=trigger,
        record_type=record_type,
        record_id=record_id,
        status="running",
        depth=depth,
        test=False,
        started_by_id=started_by_id,
        started_at=now,
        cursor=version.definition.get("start"),
        cursor_seq=0,
    )
    if depth >= MAX_DEPTH:
        run.status, run.finished_at, run.cursor = "skipped", now, None
        run.error = f"Loop protection: started by a chain of {depth} workflow runs (limit {MAX_DEPTH})"
        log.warning("workflow %s not started: %s", workflow.id, run.error)
    elif run.cursor is None:
        run.status, run.finished_at = "completed", now
    try:
        with db.begin_nested():
            db.add(run)
    except IntegrityError:  # the same occurrence started it in a concurrent transaction
        return None
    version.frozen = True
    if run.status == "running":
        _schedule(db, run)
    return run


# -- running one step -----------------------------------------------------------------------------------


def _step_def(run: WorkflowRun, version: WorkflowVersion) -> dict[str, Any] | None:
    return (version.definition.get("steps") or {}).get(run.cursor or "")


def _finish(run: WorkflowRun, status: str, error: str | None = None) -> None:
    run.status, run.error, run.finished_at = status, error, clock.now()
    run.cursor_seq += 1  # any job still pending for this run becomes a no-op


def _advance(db: Session, run: WorkflowRun, next_step: str | None, due_at: datetime | None = None) -> None:
    run.cursor = next_step
    run.cursor_seq += 1
    if next_step is None and due_at is None:
        run.status, run.finished_at = "completed", clock.now()
        return
    run.status = "waiting" if due_at is not None else "running"
    _schedule(db, run, due_at)


def wait_until(ctx: context.RunContext, params: dict[str, Any]) -> datetime:
    """When a wait step ends: now + duration, or a date of the record (± offset_minutes)."""
    now = clock.now()
    if "duration" in params:
        delta = definition.parse_duration(params["duration"])
        if delta is None:
            raise actions.ActionError("Invalid duration", permanent=True)
        return now + delta
    until = str(params.get("until") or "")
    if "{" in until:
        text = str(actions.render(until, ctx)).strip()
    else:
        field = until.split(".", 1)[1] if until.startswith(f"{ctx.record_type}.") else until
        value = (ctx.variables.get(ctx.record_type or "") or {}).get(field)
        text = str(value or "")
    try:
        moment = datetime.fromisoformat(text) if "T" in text or " " in text else None
        if moment is None:
            moment = start_of_day(datetime.fromisoformat(text).date(), ctx.actor.timezone)
    except ValueError:
        raise actions.ActionError(f"Not a date: {text!r}", permanent=True)
    if moment.tzinfo is None:
        raise actions.ActionError(f"A date without time zone: {text!r}", permanent=True)
    moment += timedelta(minutes=int(params.get("offset_minutes") or 0))
    return max(moment, now)


def run_step(payload: dict[str, Any]) -> None:
    """The `workflows.run_step` job: carry out the step at the run's cursor, record it, and move on."""
    run_id, seq = int(payload["run_id"]), int(payload["seq"])
    database = get_database()
    db = database.session()
    try:
        _run_step(db, run_id, seq)
    finally:
        db.info.pop(ORIGIN_KEY, None)
        db.close()


def _run_step(db: Session, run_id: int, seq: int) -> None:
    run = db.get(WorkflowRun, run_id)
    if run is None or run.cursor_seq != seq or run.status not in OPEN_RUN_STATUSES:
        db.rollback()
        return
    if run.cursor is None:  # the last wait of the run is over
        _finish(run, "completed")
        db.commit()
        return
    workflow = db.get(Workflow, run.workflow_id)
    version = db.get(WorkflowVersion, run.version_id)
    assert workflow is not None and version is not None
    step = _step_def(run, version)
    if step is None:
        _finish(run, "failed", f"Unknown step {run.cursor}")
        db.commit()
        return
    step_id = run.cursor
    previous = (
        db.scalar(
            select(func.count())
            .select_from(WorkflowRunStep)
            .where(WorkflowRunStep.run_id == run.id, WorkflowRunStep.step_id == step_id)
        )
        or 0
    )
    tries_here = (
        db.scalar(
            select(func.count())
            .select_from(WorkflowRunStep)
            .where(WorkflowRunStep.run_id == run.id, WorkflowRunStep.seq == seq)
        )
        or 0
    )
    run.status = "running"
    record = WorkflowRunStep(
        run_id=run.id,
        step_id=step_id,
        step_type=str(step.get("type")),
        seq=seq,
        attempt=previous + 1,
        status="running",
        input={"params": step.get("params") or {}, "action": step.get("action")}
        if step.get("type") == "action"
        else {k: v for k, v in step.items() if k not in ("ui",)},
        started_at=clock.now(),
    )
    db.add(record)
    db.commit()
    started = time.perf_counter()
    db.info[ORIGIN_KEY] = {"run_id": run.id, "workflow_id": workflow.id, "depth": run.depth + 1}
    try:
        ctx = context.build(db, workflow, run.record_type, run.record_id, run.trigger or {})
        output, next_step, due_at, end_status = _execute(db, ctx, run, record, step, step_id)
    except (actions.ActionError, NotFound) as exc:
        db.rollback()
        permanent = isinstance(exc, NotFound) or exc.permanent
        message = "The record no longer exists" if isinstance(exc, NotFound) else str(exc)
        _record_failure(db, run, record, message, started, permanent or tries_here + 1 >= MAX_STEP_ATTEMPTS)
        if not permanent and tries_here + 1 < MAX_STEP_ATTEMPTS:
            raise jobs.Retry(after=jobs.backoff(tries_here + 1, RETRY_BASE), reason=message)
        return
    except Exception as exc:  # a bug or the database: recorded, then retried like a network error
        db.rollback()
        message = f"{type(exc).__name__}: {exc}"
        log.exception("workflow run %s step %s failed", run_id, step_id)
        _record_failure(db, run, record, message, started, tries_here + 1 >= MAX_STEP_ATTEMPTS)
        if tries_here + 1 < MAX_STEP_ATTEMPTS:
            raise jobs.Retry(after=jobs.backoff(tries_here + 1, RETRY_BASE), reason=message)
        return
    record.status = "waiting" if due_at is not None else "completed"
    record.output = output
    record.duration_ms = int((time.perf_counter() - started) * 1000)
    record.finished_at = clock.now()
    if end_status is not None:
        _finish(run, end_status)
    else:
        _advance(db, run, next_step, due_at)
    db.commit()


def _record_failure(
    db: Session, run: WorkflowRun, record: WorkflowRunStep, message: str, started: float, final: bool
) -> None:
    db.info.pop(ORIGIN_KEY, None)
    run = db.get(WorkflowRun, run.id, populate_existing=True) or run
    record = db.get(WorkflowRunStep, record.id, populate_existing=True) or record
    record.status = "failed"
    record.error = message[:4000]
    record.duration_ms = int((time.perf_counter() - started) * 1000)
    record.finished_at = clock.now()
    if final:
        run.status, run.error, run.finished_at = "failed", message[:4000], clock.now()
    db.commit()


def _execute(
    db: Session,
    ctx: context.RunContext,
    run: WorkflowRun,
    record: WorkflowRunStep,
    step: dict[str, Any],
    step_id: str,
) -> tuple[dict[str, Any], str | None, datetime | None, str | None]:
    """(output, next step, due time of the next step or None, final run status or None)."""
    stype = step.get("type")
    if stype == "condition":
        result = context.evaluate(step.get("if") or {}, ctx.variables, ctx.record_type)
        nxt = step.get("then") if result else step.get("else")
        return {"result": result, "next": nxt}, nxt, None, None
    if stype == "stop":
        return {"stopped": True}, None, None, "stopped"
    if stype == "wait":
        due = wait_until(ctx, step.get("params") or {})
        return {"until": due.isoformat()}, step.get("next"), due, None
    action = str(step.get("action"))
    planned = actions.plan(db, ctx, action, step.get("params") or {})
    if action in actions.NETWORK_ACTIONS:
        db.commit()  # no write transaction held during the HTTP call
    record.input = {**record.input, "rendered": planned}
    output = actions.apply(db, ctx, action, planned, key=f"workflow-run:{run.id}:{step_id}")
    return output, step.get("next"), None, None


# -- resume, cancel -----------------------------------------------------------------------------------------


def resume(db: Session, run: WorkflowRun) -> WorkflowRun:
    """A failed run goes on from its failed step (fresh attempts), in the caller's transaction."""
    run.status, run.error, run.finished_at = "running", None, None
    run.cursor_seq += 1
    _schedule(db, run)
    return run


def cancel(db: Session, run: WorkflowRun) -> WorkflowRun:
    _finish(run, "cancelled", run.error)
    return run


# -- test mode ------------------------------------------------------------------------------------------------


def simulate(
    db: Session,
    workflow: Workflow,
    version: WorkflowVersion,
    record_type: str | None,
    record_id: int | None,
    trigger: dict[str, Any],
) -> list[dict[str, Any]]:
    """Walk the definition on a record and say what each step would do. Reads only: no domain
    write, no email, no HTTP; waits are not waited."""
    ctx = context.build(db, workflow, record_type, record_id, trigger)
    steps = version.definition.get("steps") or {}
    cursor = version.definition.get("start")
    out: list[dict[str, Any]] = []
    while cursor is not None and len(out) < MAX_SIMULATED_STEPS:
        step = steps.get(cursor)
        if step is None:
            out.append({"step_id": cursor, "type": None, "status": "failed", "error": "Unknown step"})
            break
        stype = step.get("type")
        entry: dict[str, Any] = {
            "step_id": cursor,
            "type": stype,
            "label": step.get("label"),
            "status": "simulated",
        }
        nxt: str | None = None
        try:
            if stype == "condition":
                result = context.evaluate(step.get("if") or {}, ctx.variables, ctx.record_type)
                nxt = step.get("then") if result else step.get("else")
                entry["output"] = {"result": result, "next": nxt}
            elif stype == "stop":
                entry["output"] = {"stopped": True}
            elif stype == "wait":
                entry["output"] = {"would_wait_until": wait_until(ctx, step.get("params") or {}).isoformat()}
                nxt = step.get("next")
            else:
                entry["action"] = step.get("action")
                entry["output"] = {
                    "would": actions.plan(db, ctx, str(step.get("action")), step.get("params") or {})
                }
                nxt = step.get("next")
        except actions.ActionError as exc:
            entry.update(status="failed", error=str(exc))
            out.append(entry)
            break
        out.append(entry)
        cursor = nxt
    return out
