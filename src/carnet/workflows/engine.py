"""Runs: one job carries a run through its consecutive steps, until the run ends, reaches a wait
(the next job is due when the wait ends) or a step fails (its retry is a job with backoff). Every
attempt is recorded, loop protection goes by depth, and test mode only plans.

Each step commits with its record and the run's new position: a domain service that commits
(they all do) commits them too, so a crash never leaves an action done with its record saying it
was not (the action would run twice) nor the reverse. Steps without side effects (conditions)
ride along with the next commit.

Job payloads carry the run id and the cursor position (`seq`) the job starts at. A duplicate or
stale job finds the run elsewhere and does nothing; a job whose earlier execution died after
moving the run on (and so scheduled nothing) carries on from there."""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, inspect, select
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
MAX_INLINE_STEPS = 100  # steps one job runs before it hands the rest of the run to a new job
RUN_BATCH = 20  # run_step jobs one claim takes together (see workflows.jobs)


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


def _job_key(run_id: int, seq: int) -> str:
    return f"workflow-run:{run_id}:{seq}"


def _schedule(
    db: Session, run_id: int, seq: int, due_at: datetime | None = None, *, keyed: bool = True
) -> None:
    """The job that goes on with the run from position `seq`. Unkeyed only for a run just
    inserted: no job can exist for it yet, and the key lookup would cost a query and a savepoint."""
    jobs.enqueue(
        db,
        RUN_STEP,
        {"run_id": run_id, "seq": seq},
        due_at=due_at,
        key=_job_key(run_id, seq) if keyed else None,
    )


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
    version: WorkflowVersion | None = None,
) -> WorkflowRun | None:
    """Start a run of the workflow's current version (`version` when the caller has it loaded), in
    the caller's transaction. None when this trigger occurrence already started this workflow (the
    unique key on (workflow, occurrence) says so). A run past the depth limit is recorded as
    `skipped` (visible in the history) and does nothing."""
    if version is None or version.number != workflow.current_version:
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
    except IntegrityError:  # this occurrence already started it (here or in a concurrent transaction)
        return None
    if not version.frozen:
        version.frozen = True
    if run.status == "running":
        _schedule(db, run.id, run.cursor_seq, keyed=False)
    return run


@dataclass
class Start:
    """One run to start with `start_runs`."""

    workflow: Workflow
    version: WorkflowVersion
    trigger_key: str
    record_type: str | None
    record_id: int | None
    trigger: dict[str, Any]
    depth: int = 0


def start_runs(db: Session, starts: list[Start]) -> int:
    """`start_run` for many runs at once (the events of a dispatch batch), in the caller's
    transaction: one INSERT for the runs, skipping an occurrence that already started its
    workflow (the same unique key), and one for their jobs. Returns how many runs were added."""
    if not starts:
        return 0
    now = clock.now()
    rows: list[dict[str, Any]] = []
    for start in starts:
        cursor = start.version.definition.get("start")
        row: dict[str, Any] = {
            "workflow_id": start.workflow.id,
            "version_id": start.version.id,
            "version_number": start.version.number,
            "trigger_event_id": start.trigger_key,
            "trigger": start.trigger,
            "record_type": start.record_type,
            "record_id": start.record_id,
            "status": "running",
            "depth": start.depth,
            "test": False,
            "started_by_id": None,
            "started_at": now,
            "finished_at": None,
            "error": None,
            "cursor": cursor,
            "cursor_seq": 0,
        }
        if start.depth >= MAX_DEPTH:
            row.update(status="skipped", finished_at=now, cursor=None)
            row["error"] = (
                f"Loop protection: started by a chain of {start.depth} workflow runs (limit {MAX_DEPTH})"
            )
            log.warning("workflow %s not started: %s", start.workflow.id, row["error"])
        elif cursor is None:
            row.update(status="completed", finished_at=now)
        rows.append(row)
    if db.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    table = WorkflowRun.__table__
    statement = (
        dialect_insert(table)
        .on_conflict_do_nothing(index_elements=["workflow_id", "trigger_event_id"])
        .returning(table.c.id, table.c.status)
    )
    added = db.execute(statement, rows).all()
    for version in {id(s.version): s.version for s in starts}.values():
        if not version.frozen:
            version.frozen = True
    running = [run_id for run_id, status in added if status == "running"]
    # Runs just inserted: no job can exist for them yet, so no key is needed to deduplicate.
    jobs.enqueue_many(db, RUN_STEP, [({"run_id": run_id, "seq": 0}, now, None) for run_id in running])
    return len(added)


def event_depths(db: Session, event_ids: list[str]) -> dict[str, int]:
    """`event_depth` for many events with one query: only events written by a run have one."""
    if not event_ids:
        return {}
    rows = db.execute(
        select(WorkflowEventOrigin.event_id, WorkflowEventOrigin.depth).where(
            WorkflowEventOrigin.event_id.in_(event_ids)
        )
    )
    return {event_id: depth for event_id, depth in rows}


# -- running steps --------------------------------------------------------------------------------------


@dataclass
class _Position:
    """Where the run stands: what the next commit writes on the run row."""

    cursor: str | None
    seq: int
    status: str
    error: str | None
    finished_at: datetime | None

    def advance(self, next_step: str | None, waiting: bool = False) -> None:
        self.cursor = next_step
        self.seq += 1  # any job still pending for the old position becomes a no-op
        if next_step is None and not waiting:
            self.status, self.finished_at = "completed", clock.now()
        else:
            self.status = "waiting" if waiting else "running"

    def finish(self, status: str, error: str | None = None) -> None:
        self.status, self.error, self.finished_at = status, error, clock.now()
        self.seq += 1


class _Unsaved:
    """Step records and the run's position not yet committed. They are put on the session before a
    domain service runs, so the service's own commit writes them with its changes; a service that
    rolls the session back (a no-op update does) drops them, so `stage` puts them back."""

    def __init__(self, db: Session, run: WorkflowRun) -> None:
        self.db = db
        self.run = run
        self.run_id = run.id  # read once: a service's rollback expires the run object
        self.position = _Position(run.cursor, run.cursor_seq, run.status, run.error, run.finished_at)
        self.records: dict[int, tuple[WorkflowRunStep, dict[str, Any]]] = {}

    def record(self, row: WorkflowRunStep, **values: Any) -> None:
        entry = self.records.setdefault(id(row), (row, {}))
        entry[1].update(values)

    def forget(self, row: WorkflowRunStep) -> None:
        self.records.pop(id(row), None)

    def stage(self) -> None:
        for row, values in self.records.values():
            for name, value in values.items():
                setattr(row, name, value)
            if inspect(row).transient:  # never inserted, or its insert was rolled back
                row.id = None  # type: ignore[assignment]  # a rolled-back insert's id is not ours
                self.db.add(row)
        position = self.position
        run = self.run
        run.cursor, run.cursor_seq, run.status = position.cursor, position.seq, position.status
        run.error, run.finished_at = position.error, position.finished_at

    def commit(self) -> None:
        self.stage()
        self.db.commit()
        self.records.clear()


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
    """The `workflows.run_step` job: carry the run on from its cursor, recording every step."""
    run_id, seq = int(payload["run_id"]), int(payload["seq"])
    database = get_database()
    db = database.session()
    try:
        _run_steps(db, run_id, seq)
    finally:
        db.info.pop(ORIGIN_KEY, None)
        db.close()


def _load(db: Session, run_id: int) -> tuple[WorkflowRun, Workflow, WorkflowVersion, bool] | None:
    """The run, its workflow and version, and whether any step was recorded yet: one query."""
    recorded = select(WorkflowRunStep.id).where(WorkflowRunStep.run_id == WorkflowRun.id).exists()
    row = db.execute(
        select(WorkflowRun, Workflow, WorkflowVersion, recorded)
        .join(Workflow, Workflow.id == WorkflowRun.workflow_id)
        .join(WorkflowVersion, WorkflowVersion.id == WorkflowRun.version_id)
        .where(WorkflowRun.id == run_id)
    ).first()
    return None if row is None else (row[0], row[1], row[2], bool(row[3]))


def _owns(db: Session, run: WorkflowRun, job_seq: int) -> bool:
    """Whether this job may carry the run on. Yes at its own position. Past it, only when no job is
    scheduled for the run's position: an earlier execution of this job moved the run on inline
    and died before finishing (a wait, a retry, a resume or a hand-over always schedules one)."""
    if run.status not in OPEN_RUN_STATUSES:
        return False
    if run.cursor_seq == job_seq:
        return True
    if run.cursor_seq < job_seq:
        return False
    key = _job_key(run.id, run.cursor_seq)
    return db.scalar(select(jobs.Job.id).where(jobs.Job.key == key)) is None


def _attempts(db: Session, run_id: int, recorded: bool) -> tuple[Counter[str], Counter[int]]:
    """Attempts so far, per step id (the `attempt` number) and per position (the retry budget)."""
    per_step: Counter[str] = Counter()
    per_seq: Counter[int] = Counter()
    if not recorded:  # a run's first job: nothing to count
        return per_step, per_seq
    rows = db.execute(
        select(WorkflowRunStep.step_id, WorkflowRunStep.seq, func.count())
        .where(WorkflowRunStep.run_id == run_id)
        .group_by(WorkflowRunStep.step_id, WorkflowRunStep.seq)
    )
    for step_id, seq, count in rows:
        per_step[step_id] += count
        per_seq[seq] += count
    return per_step, per_seq


def _step_input(step: dict[str, Any]) -> dict[str, Any]:
    if step.get("type") == "action":
        return {"params": step.get("params") or {}, "action": step.get("action")}
    return {k: v for k, v in step.items() if k not in ("ui",)}


def _run_steps(db: Session, run_id: int, job_seq: int) -> None:
    loaded = _load(db, run_id)
    if loaded is None or not _owns(db, loaded[0], job_seq):
        db.rollback()
        return
    run, workflow, version, recorded = loaded
    unsaved = _Unsaved(db, run)
    position = unsaved.position
    if position.cursor is None:  # the last wait of the run is over
        position.finish("completed")
        unsaved.commit()
        return
    steps = version.definition.get("steps") or {}
    per_step, per_seq = _attempts(db, run_id, recorded)
    # Read once: a service that rolls the session back expires the run, and a reload costs a query.
    subject = (workflow, run.record_type, run.record_id, dict(run.trigger or {}))
    db.info[ORIGIN_KEY] = {"run_id": run_id, "workflow_id": workflow.id, "depth": run.depth + 1}
    ctx: context.RunContext | None = None
    for _ in range(MAX_INLINE_STEPS):
        step_id = position.cursor
        step = steps.get(step_id or "")
        if step_id is None or step is None:
            position.finish("failed", f"Unknown step {step_id}")
            break
        seq = position.seq
        tries_here = per_seq[seq]
        per_seq[seq] += 1
        per_step[step_id] += 1
        record = WorkflowRunStep(
            run_id=run_id,
            step_id=step_id,
            step_type=str(step.get("type")),
            seq=seq,
            attempt=per_step[step_id],
            started_at=clock.now(),
        )
        unsaved.record(record, status="running", input=_step_input(step), output={})
        before = replace(position, status="running")
        position.status = "running"
        started = time.perf_counter()
        try:
            if ctx is None:
                ctx = context.build(db, *subject)
            if step.get("type") == "action":
                _run_action(db, ctx, unsaved, record, step, step_id, run_id, started)
                if step.get("action") not in actions.NETWORK_ACTIONS:
                    ctx = None  # the action changed records: the next step reads them afresh
            else:
                _run_flow_step(db, ctx, unsaved, record, step, started)
        except (actions.ActionError, NotFound) as exc:
            permanent = isinstance(exc, NotFound) or exc.permanent
            message = "The record no longer exists" if isinstance(exc, NotFound) else str(exc)
            _fail(unsaved, before, record, message, started, permanent, tries_here, seq == job_seq)
            return
        except Exception as exc:  # a bug or the database: recorded, then retried like a network error
            log.exception("workflow run %s step %s failed", run_id, step_id)
            message = f"{type(exc).__name__}: {exc}"
            _fail(unsaved, before, record, message, started, False, tries_here, seq == job_seq)
            return
        if position.status != "running":  # ended, stopped or waiting (its job is scheduled)
            break
    else:  # a long chain of steps: the rest of the run in a job of its own
        _schedule(db, run_id, position.seq)
    unsaved.commit()


def _run_flow_step(
    db: Session,
    ctx: context.RunContext,
    unsaved: _Unsaved,
    record: WorkflowRunStep,
    step: dict[str, Any],
    started: float,
) -> None:
    """A condition, a stop or a wait: no side effect, so recorded with the next commit."""
    position = unsaved.position
    stype = step.get("type")
    if stype == "condition":
        result = context.evaluate(step.get("if") or {}, ctx.variables, ctx.record_type)
        nxt = step.get("then") if result else step.get("else")
        output: dict[str, Any] = {"result": result, "next": nxt}
        position.advance(nxt)
        status = "completed"
    elif stype == "stop":
        output = {"stopped": True}
        position.finish("stopped")
        status = "completed"
    elif stype == "wait":
        due = wait_until(ctx, step.get("params") or {})
        output = {"until": due.isoformat()}
        position.advance(step.get("next"), waiting=True)
        _schedule(db, unsaved.run_id, position.seq, due)
        status = "waiting"
    else:
        raise actions.ActionError(f"Unknown step type {stype}", permanent=True)
    unsaved.record(
        record,
        status=status,
        output=output,
        duration_ms=int((time.perf_counter() - started) * 1000),
        finished_at=clock.now(),
    )


def _run_action(
    db: Session,
    ctx: context.RunContext,
    unsaved: _Unsaved,
    record: WorkflowRunStep,
    step: dict[str, Any],
    step_id: str,
    run_id: int,
    started: float,
) -> None:
    action = str(step.get("action"))
    planned = actions.plan(db, ctx, action, step.get("params") or {})
    unsaved.record(record, input={**_step_input(step), "rendered": planned})
    key = f"workflow-run:{run_id}:{step_id}"
    if action in actions.NETWORK_ACTIONS:
        # No write transaction held during the HTTP call: the attempt is recorded as running first.
        unsaved.commit()
        output = actions.apply(db, ctx, action, planned, key=key)
        unsaved.position.advance(step.get("next"))
    else:
        # Recorded as done and the run moved on before the service runs: its commit writes both.
        unsaved.record(record, status="completed")
        unsaved.position.advance(step.get("next"))
        unsaved.stage()
        output = actions.apply(db, ctx, action, planned, key=key)
    unsaved.record(
        record,
        status="completed",
        output=output,
        duration_ms=int((time.perf_counter() - started) * 1000),
        finished_at=clock.now(),
    )
    unsaved.stage()


def _fail(
    unsaved: _Unsaved,
    before: _Position,
    record: WorkflowRunStep,
    message: str,
    started: float,
    permanent: bool,
    tries_here: int,
    first_of_job: bool,
) -> None:
    """Undo the step's writes, record the failed attempt and either fail the run or retry the step
    later: this job again when the step is the one it was scheduled for, else a new job."""
    db = unsaved.db
    db.rollback()
    db.info.pop(ORIGIN_KEY, None)
    final = permanent or tries_here + 1 >= MAX_STEP_ATTEMPTS
    unsaved.position = position = before
    unsaved.record(
        record,
        status="failed",
        error=message[:4000],
        duration_ms=int((time.perf_counter() - started) * 1000),
        finished_at=clock.now(),
    )
    retry_after = jobs.backoff(tries_here + 1, RETRY_BASE)
    if final:
        position.status, position.error, position.finished_at = "failed", message[:4000], clock.now()
    elif not first_of_job:
        _schedule(db, unsaved.run_id, position.seq, clock.now() + retry_after)
    unsaved.commit()
    if not final and first_of_job:
        raise jobs.Retry(after=retry_after, reason=message)


# -- resume, cancel -----------------------------------------------------------------------------------------


def resume(db: Session, run: WorkflowRun) -> WorkflowRun:
    """A failed run goes on from its failed step (fresh attempts), in the caller's transaction."""
    run.status, run.error, run.finished_at = "running", None, None
    run.cursor_seq += 1
    _schedule(db, run.id, run.cursor_seq)
    return run


def cancel(db: Session, run: WorkflowRun) -> WorkflowRun:
    run.status, run.finished_at = "cancelled", clock.now()
    run.cursor_seq += 1  # any job still pending for this run becomes a no-op
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
