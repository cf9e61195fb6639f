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

from sqlalchemy import delete, func, insert, inspect, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carnet.activities.inputs import start_of_day
from carnet.core import clock, events, housekeeping, jobs
from carnet.core.db import get_database, in_ids
from carnet.core.errors import DomainError, NotFound
from carnet.workflows import actions, catalogue, context, definition
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
RUN_BATCH = 50  # run_step jobs one claim takes together (see workflows.jobs and run_batch)
BATCHED_ACTIONS = ("update_fields", "add_tag", "remove_tag")  # record updates `run_batch` sets


# -- loop protection: which run caused an event ---------------------------------------------------------


def _origin(session: Session, record_type: str, record_id: int | None) -> dict[str, Any] | None:
    """The run that caused an event written now: the run of the step (one run at a time), or, for
    a step run for many runs at once (`run_batch`), the run of the event's record."""
    origin = session.info.get(ORIGIN_KEY)
    if origin is None or "by_record" not in origin:
        return origin
    return origin["by_record"].get((record_type, record_id), origin["default"])


@sa_event.listens_for(Session, "before_flush")
def _tag_events(session: Session, _context: Any, _instances: Any) -> None:
    """Events written while a step runs get an origin row: the consumer reads the depth there."""
    if session.info.get(ORIGIN_KEY) is None:
        return
    for obj in list(session.new):
        if isinstance(obj, events.Event):
            if obj.event_id is None:
                obj.event_id = str(uuid.uuid4())
            origin = _origin(session, obj.record_type, obj.record_id)
            assert origin is not None
            session.add(WorkflowEventOrigin(event_id=obj.event_id, **_origin_values(origin)))


def _tag_inserted_events(session: Session, rows: list[dict[str, Any]]) -> None:
    """The same for events a set-based write inserts without the ORM."""
    if session.info.get(ORIGIN_KEY) is None:
        return
    values = []
    for row in rows:
        origin = _origin(session, row["record_type"], row["record_id"])
        assert origin is not None
        values.append({"event_id": row["event_id"], **_origin_values(origin)})
    session.execute(insert(WorkflowEventOrigin.__table__), values)


events.on_insert_many(_tag_inserted_events)


def _origin_values(origin: dict[str, Any]) -> dict[str, Any]:
    return {"run_id": origin["run_id"], "workflow_id": origin["workflow_id"], "depth": origin["depth"]}


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


# -- many runs at once ------------------------------------------------------------------------------------


@dataclass
class _BatchRun:
    """A run `run_batch` carries on: its position, the step rows to insert, the update it waits for."""

    index: int  # of its job in the batch
    run: WorkflowRun
    workflow: Workflow
    ctx: context.RunContext
    position: _Position
    steps: list[dict[str, Any]]
    update: tuple[dict[str, Any], str, dict[str, Any], dict[str, Any]] | None = (
        None  # row, action, plan, data
    )


def run_batch(payloads: list[dict[str, Any]]) -> list[Exception | None]:
    """The `workflows.run_step` jobs of one claim. Runs at the start of their first job (the common
    case: a dispatch batch started them) are carried on together in one transaction: their
    records read in bulk, conditions evaluated in memory, and a record update step (update fields,
    add or remove a tag) done for all of them with the record type's set-based update, with one
    INSERT for the step rows and one UPDATE for the runs. What this path does not take (waits,
    other actions, retries, resumed or waiting runs, a refused update, a record met twice) goes on
    one run at a time through `run_step`, untouched by the batch. Outcomes as `jobs.batch_task`."""
    database = get_database()
    db = database.session()
    try:
        rest = _run_batch(db, payloads)
    except Exception:
        log.exception("workflow batch failed; its runs go on one by one")
        db.rollback()
        rest = list(range(len(payloads)))
    finally:
        db.info.pop(ORIGIN_KEY, None)
        db.close()
    outcomes: list[Exception | None] = [None] * len(payloads)
    for index in rest:
        try:
            run_step(payloads[index])
        except Exception as exc:
            outcomes[index] = exc
    return outcomes


def _run_batch(db: Session, payloads: list[dict[str, Any]]) -> list[int]:
    """Carry on the runs this path takes and commit; the indexes of the payloads it left."""
    wanted: dict[int, tuple[int, int]] = {}
    rest: list[int] = []
    for index, payload in enumerate(payloads):
        run_id = int(payload["run_id"])
        if run_id in wanted:
            rest.append(index)
        else:
            wanted[run_id] = (index, int(payload["seq"]))
    recorded = select(WorkflowRunStep.id).where(WorkflowRunStep.run_id == WorkflowRun.id).exists()
    rows = db.execute(
        select(WorkflowRun, Workflow, WorkflowVersion, recorded)
        .join(Workflow, Workflow.id == WorkflowRun.workflow_id)
        .join(WorkflowVersion, WorkflowVersion.id == WorkflowRun.version_id)
        .where(in_ids(db, WorkflowRun.id, wanted))
        .order_by(WorkflowRun.id)  # a record's runs in the order they started
    ).all()
    fresh = []
    for run, workflow, version, has_steps in rows:
        index, seq = wanted.pop(run.id)
        if has_steps or run.status != "running" or run.cursor_seq != seq or run.cursor is None:
            rest.append(index)  # a retry, a resume, a wait over, a stale job: the careful path
        else:
            fresh.append((index, run, workflow, version))
    rest += [index for index, _ in wanted.values()]  # runs that no longer exist: nothing to do
    loaded: dict[str, dict[int, tuple[Any, dict[str, Any]]]] = {}
    for record_type in {r.record_type for _, r, _, _ in fresh if r.record_type in catalogue.RECORD_KINDS}:
        ids = {r.record_id for _, r, _, _ in fresh if r.record_type == record_type and r.record_id}
        loaded[record_type] = context.load_records(db, record_type, ids)
    walked: list[_BatchRun] = []
    for index, run, workflow, version in fresh:
        preloaded = None
        if run.record_type in loaded and run.record_id is not None:
            preloaded = loaded[run.record_type].get(run.record_id)
            if preloaded is None:  # deleted: the careful path records the failure
                rest.append(index)
                continue
        ctx = context.build(db, workflow, run.record_type, run.record_id, dict(run.trigger or {}), preloaded)
        position = _Position(run.cursor, run.cursor_seq, run.status, run.error, run.finished_at)
        item = _BatchRun(index, run, workflow, ctx, position, [])
        if _walk(item, version.definition.get("steps") or {}):
            walked.append(item)
        else:
            rest.append(index)
    rest += _apply_updates(db, [item for item in walked if item.update is not None])
    left = set(rest)
    done = [item for item in walked if item.index not in left]
    if not done:
        db.rollback()
        return rest
    db.execute(insert(WorkflowRunStep.__table__), [row for item in done for row in item.steps])
    db.execute(
        update(WorkflowRun),
        [
            {
                "id": item.run.id,
                "cursor": item.position.cursor,
                "cursor_seq": item.position.seq,
                "status": item.position.status,
                "error": item.position.error,
                "finished_at": item.position.finished_at,
            }
            for item in done
        ],
    )
    for item in done:
        if item.position.status == "running":  # steps left after the update: a job of their own
            _schedule(db, item.run.id, item.position.seq)
    db.commit()
    return rest


def _walk(item: _BatchRun, steps: dict[str, Any]) -> bool:
    """Run the run's steps without side effects (conditions, stop) up to its end or its first
    step that writes. False when the run needs the careful path (nothing of it is kept)."""
    position = item.position
    attempts: Counter[str] = Counter()
    for _ in range(MAX_INLINE_STEPS):
        step_id = position.cursor
        step = steps.get(step_id or "")
        if step_id is None or step is None:
            return False
        attempts[step_id] += 1
        started = time.perf_counter()
        row: dict[str, Any] = {
            "run_id": item.run.id,
            "step_id": step_id,
            "step_type": str(step.get("type")),
            "seq": position.seq,
            "attempt": attempts[step_id],
            "status": "completed",
            "input": _step_input(step),
            "error": None,
            "started_at": clock.now(),
        }
        stype = step.get("type")
        try:
            if stype == "condition":
                result = context.evaluate(step.get("if") or {}, item.ctx.variables, item.ctx.record_type)
                nxt = step.get("then") if result else step.get("else")
                row["output"] = {"result": result, "next": nxt}
                position.advance(nxt)
            elif stype == "stop":
                row["output"] = {"stopped": True}
                position.finish("stopped")
            elif stype == "action" and _batchable(item, step):
                action = str(step.get("action"))
                planned = actions.plan(item.ctx.db, item.ctx, action, step.get("params") or {})
                row["input"] = {**row["input"], "rendered": planned}
                if action == "update_fields":
                    data = planned["data"]
                elif planned["changed"]:
                    data = {"tags": planned["tags"]}
                else:  # the tag is already there (or not): nothing to write
                    row["output"] = {"tags": planned["tags"], "changed": False}
                    position.advance(step.get("next"))
                    _finish_row(row, started)
                    item.steps.append(row)
                    continue
                item.update = (row, action, planned, data)
                position.advance(step.get("next"))
                item.steps.append(row)
                return True
            else:
                return False
        except Exception:  # an error to record with its retries: the careful path does it
            return False
        _finish_row(row, started)
        item.steps.append(row)
        if position.status != "running":
            return True
    return False


def _batchable(item: _BatchRun, step: dict[str, Any]) -> bool:
    record_type = item.ctx.record_type
    return (
        step.get("action") in BATCHED_ACTIONS
        and record_type in catalogue.RECORD_KINDS
        and catalogue.RECORD_KINDS[record_type].update_many is not None
        and item.ctx.record is not None
    )


def _finish_row(row: dict[str, Any], started: float) -> None:
    row["duration_ms"] = int((time.perf_counter() - started) * 1000)
    row["finished_at"] = clock.now()


def _apply_updates(db: Session, items: list[_BatchRun]) -> list[int]:
    """The record updates of the walked runs, one set-based update per workflow and record type,
    each in a savepoint; the indexes of the runs left to the careful path (a record already
    updated in this batch, an update refused for one record or for the whole set)."""
    groups: dict[tuple[int, str], list[_BatchRun]] = {}
    seen: set[tuple[str, int]] = set()
    rest: list[int] = []
    for item in items:
        key = (item.ctx.record_type or "", item.ctx.record_id or 0)
        if key in seen:
            rest.append(item.index)  # after the first update: it must see it, so one at a time
            continue
        seen.add(key)
        groups.setdefault((item.workflow.id, key[0]), []).append(item)
    for (_, record_type), members in groups.items():
        members.sort(key=lambda m: m.ctx.record_id or 0)  # rows locked in one order: no deadlock
        origins = {
            (record_type, m.ctx.record_id): {
                "run_id": m.run.id,
                "workflow_id": m.workflow.id,
                "depth": m.run.depth + 1,
            }
            for m in members
        }
        db.info[ORIGIN_KEY] = {"by_record": origins, "default": next(iter(origins.values()))}
        update_many = catalogue.RECORD_KINDS[record_type].update_many
        started = time.perf_counter()
        try:
            with db.begin_nested():
                assert all(m.update is not None for m in members)
                results = update_many(
                    db,
                    members[0].ctx.actor,
                    [(m.ctx.record, m.update[3]) for m in members],  # type: ignore[index]
                )
                db.flush()
        except Exception:
            log.exception(
                "workflow %s: updating %s records together failed", members[0].workflow.id, record_type
            )
            rest += [m.index for m in members]
            continue
        finally:
            db.info.pop(ORIGIN_KEY, None)
        for member, result in zip(members, results, strict=True):
            assert member.update is not None
            row, action, planned, _ = member.update
            if isinstance(result, DomainError):
                rest.append(member.index)  # nothing of it was written; the careful path records why
                continue
            if action == "update_fields":
                row["output"] = {
                    "record_type": record_type,
                    "record_id": member.ctx.record_id,
                    "version": result.obj.version,
                }
            else:
                row["output"] = {"tags": planned["tags"], "changed": True}
            _finish_row(row, started)  # the time of the set-based write its runs shared
    return rest


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
