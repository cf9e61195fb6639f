"""Which runs to start: domain events matched against event triggers (the consumer), and the
time-based triggers found by a scan each minute. Every start goes through engine.start_run with a
key naming the occurrence, so an event or an occurrence starts a workflow at most once."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from carnet.activities.models import Activity
from carnet.core import clock, events, records
from carnet.core.customfields import CustomFieldDefinition
from carnet.deals.models import Deal
from carnet.organisations.models import Organisation
from carnet.settings import get_settings
from carnet.tasks.models import Task
from carnet.workflows import catalogue, engine
from carnet.workflows.models import Workflow, WorkflowRun, WorkflowVersion

log = logging.getLogger("carnet.workflows")

LOOKBACK = timedelta(days=7)  # date triggers older than this when the scan runs are not caught up
BATCH = 500
MAX_STARTS_PER_SCAN = 2000  # per workflow; the next minute's scan goes on


# -- event triggers -----------------------------------------------------------------------------------------


def candidate_triggers(event_type: str) -> tuple[str | None, tuple[str, ...]]:
    """(record type, trigger types) an event may fire."""
    record_type, _, verb = event_type.partition(".")
    if record_type not in catalogue.RECORD_KINDS:
        return None, ()
    found: list[str] = []
    if verb == "created":
        found.append("record.created")
    elif verb == "updated":
        found += ["record.updated", "field.changed"]
    if event_type in (
        "deal.stage_changed",
        "deal.won",
        "deal.lost",
        "task.completed",
        "project.phase_changed",
        "project.completed",
    ):
        found.append(event_type)
    return record_type, tuple(found)


def _matches(trigger: dict[str, Any], event: events.Event) -> bool:
    params = trigger.get("params") or {}
    payload = event.payload or {}
    ttype = trigger.get("type")
    if ttype == "field.changed":
        change = (payload.get("changes") or {}).get(params.get("field"))
        if not isinstance(change, dict):
            return False
        for side, key in (("from", "old"), ("to", "new")):
            if params.get(side) not in (None, "") and str(change.get(key)) != str(params[side]):
                return False
        return True
    if ttype == "deal.stage_changed":
        for name in ("from_stage_id", "to_stage_id", "pipeline_id"):
            if params.get(name) not in (None, "") and str(payload.get(name)) != str(params[name]):
                return False
    if ttype == "project.phase_changed":
        for name in ("from_phase", "to_phase"):  # phase keys
            if params.get(name) not in (None, "") and str(payload.get(name)) != str(params[name]):
                return False
    return True


ENABLED_KEY = "workflows.enabled_event_triggers"

Enabled = dict[tuple[str | None, str], list[tuple[Workflow, WorkflowVersion]]]


def enabled_event_workflows(db: Session) -> Enabled:
    """The active workflows with an event trigger and their current versions, by (record type,
    trigger type): one query, kept for the dispatch batch."""
    rows = db.execute(
        select(Workflow, WorkflowVersion)
        .join(
            WorkflowVersion,
            (WorkflowVersion.workflow_id == Workflow.id)
            & (WorkflowVersion.number == Workflow.current_version),
        )
        .where(Workflow.active.is_(True), Workflow.trigger_type.in_(catalogue.EVENT_TRIGGERS))
        .order_by(Workflow.id)
    )
    found: Enabled = {}
    for workflow, version in rows.tuples():
        found.setdefault((workflow.record_type, workflow.trigger_type), []).append((workflow, version))
    return found


def on_event(db: Session, event: events.Event) -> None:
    """`on_events` for one event."""
    on_events(db, [event])


def on_events(db: Session, batch: list[events.Event]) -> None:
    """The `workflows` consumer: start the active workflows the batch's events trigger. Matching is
    done in memory against the batch's enabled triggers: an event no workflow wants costs no query;
    the runs of the whole batch are inserted together."""
    matched: list[tuple[events.Event, str, list[tuple[Workflow, WorkflowVersion]]]] = []
    for event in batch:
        record_type, trigger_types = candidate_triggers(event.type)
        if not trigger_types or event.record_id is None or record_type is None:
            continue
        enabled: Enabled = events.batch_cached(db, ENABLED_KEY, lambda: enabled_event_workflows(db))
        candidates = sorted(
            (pair for ttype in trigger_types for pair in enabled.get((record_type, ttype), ())),
            key=lambda pair: pair[0].id,
        )
        matching = [
            (workflow, version)
            for workflow, version in candidates
            if _matches(version.definition.get("trigger") or {}, event)
        ]
        if matching:
            matched.append((event, record_type, matching))
    if not matched:
        return
    depths = engine.event_depths(db, [event.event_id for event, _r, _m in matched])
    starts: list[engine.Start] = []
    for event, record_type, matching in matched:
        payload = event.payload or {}
        trigger = {
            "type": event.type,
            "event_id": event.event_id,
            "changes": payload.get("changes") or {},
            "payload": {k: v for k, v in payload.items() if k != "changes"},
        }
        for workflow, version in matching:
            starts.append(
                engine.Start(
                    workflow,
                    version,
                    event.event_id,
                    record_type,
                    event.record_id,
                    trigger,
                    depth=depths.get(event.event_id, 0),
                )
            )
    engine.start_runs(db, starts)


# -- time triggers ------------------------------------------------------------------------------------------


def _existing_keys(db: Session, workflow_id: int, keys: list[str]) -> set[str]:
    if not keys:
        return set()
    return set(
        db.scalars(
            select(WorkflowRun.trigger_event_id).where(
                WorkflowRun.workflow_id == workflow_id, WorkflowRun.trigger_event_id.in_(keys)
            )
        )
    )


def _start_batch(
    db: Session, workflow: Workflow, found: list[tuple[str, str | None, int | None, dict[str, Any]]]
) -> int:
    known = _existing_keys(db, workflow.id, [f[0] for f in found])
    started = 0
    for key, record_type, record_id, trigger in found:
        if key in known:
            continue
        if engine.start_run(db, workflow, key, record_type, record_id, trigger) is not None:
            started += 1
    return started


def _keyset(db: Session, stmt: Any, id_col: Any) -> Any:
    """Rows of `stmt` by id, in batches."""
    last = 0
    while True:
        rows = db.execute(stmt.where(id_col > last).order_by(id_col).limit(BATCH)).all()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _later(a: Any, b: Any) -> Any:
    """The later of two datetime columns (either may be NULL), portable to SQLite."""
    return case((a.is_(None), b), (b.is_(None), a), (a > b, a), else_=b)


def scan_no_activity(db: Session, workflow: Workflow, trigger: dict[str, Any], now: datetime) -> int:
    params = trigger.get("params") or {}
    days = int(params.get("days") or 0)
    cutoff = now - timedelta(days=days)
    record_type = trigger.get("record_type")
    if record_type == "deal":
        last = (
            select(Activity.deal_id.label("rid"), func.max(Activity.occurred_at).label("last"))
            .where(Activity.deal_id.is_not(None))
            .group_by(Activity.deal_id)
            .subquery()
        )
        base = func.coalesce(Deal.stage_entered_at, Deal.created_at)
        quiet_since = _later(last.c.last, base)
        stmt = (
            select(Deal.id, quiet_since.label("since"))
            .outerjoin(last, last.c.rid == Deal.id)
            .where(Deal.status == "open", quiet_since <= cutoff)
        )
        if params.get("stage_id") not in (None, ""):
            stmt = stmt.where(Deal.stage_id == int(params["stage_id"]))
        id_col = Deal.id
    else:
        last = (
            select(Activity.organisation_id.label("rid"), func.max(Activity.occurred_at).label("last"))
            .where(Activity.organisation_id.is_not(None))
            .group_by(Activity.organisation_id)
            .subquery()
        )
        quiet_since = _later(last.c.last, Organisation.created_at)
        stmt = (
            select(Organisation.id, quiet_since.label("since"))
            .outerjoin(last, last.c.rid == Organisation.id)
            .where(quiet_since <= cutoff)
        )
        id_col = Organisation.id
    started = 0
    for rows in _keyset(db, stmt, id_col):
        found = []
        for rid, since in rows:
            since = _as_datetime(since)
            key = f"no_activity:{record_type}:{rid}:{since.isoformat()}"
            found.append(
                (
                    key,
                    record_type,
                    rid,
                    {"type": "no_activity", "quiet_since": since.isoformat(), "days": days},
                )
            )
        started += _start_batch(db, workflow, found)
        if started >= MAX_STARTS_PER_SCAN:
            break
    return started


def _as_datetime(value: Any) -> datetime:
    """Aggregates come back as text on SQLite."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def _since(workflow: Workflow, now: datetime) -> datetime:
    """Date triggers look back a week, and not before the workflow was turned on (less a day)."""
    since = now - LOOKBACK
    if workflow.activated_at is not None:
        since = max(since, workflow.activated_at - timedelta(days=1))
    return since


def scan_date_relative(db: Session, workflow: Workflow, trigger: dict[str, Any], now: datetime) -> int:
    """Fires once per (record, date value) when date + days has come (days < 0: before the date)."""
    params = trigger.get("params") or {}
    record_type = str(trigger.get("record_type"))
    field = str(params.get("field"))
    days = int(params.get("days") or 0)
    model = records.get(record_type).model
    since = _since(workflow, now)
    tz = get_settings().default_timezone
    started = 0
    if field.startswith("cf."):
        rows_iter = _keyset(db, select(model.id, model.custom_fields), model.id)
        key_name = field[3:]
        kind = db.scalar(
            select(CustomFieldDefinition.field_type).where(
                CustomFieldDefinition.record_type == record_type, CustomFieldDefinition.key == key_name
            )
        )
        for rows in rows_iter:
            found = []
            for rid, custom in rows:
                raw = (custom or {}).get(key_name)
                moment = _moment(raw, kind, days, tz)
                if moment is not None and since <= moment <= now:
                    found.append(_date_occurrence(record_type, rid, field, raw, moment))
            started += _start_batch(db, workflow, found)
        return started
    column = getattr(model, field)
    is_date = field in ("expected_close_date",)
    if is_date:
        low = (since - timedelta(days=days)).astimezone(ZoneInfo(tz)).date()
        high = (now - timedelta(days=days)).astimezone(ZoneInfo(tz)).date()
        stmt = select(model.id, column).where(column >= low, column <= high)
    else:
        stmt = select(model.id, column).where(
            column >= since - timedelta(days=days), column <= now - timedelta(days=days)
        )
    for rows in _keyset(db, stmt, model.id):
        found = []
        for rid, value in rows:
            moment = _moment(value, "date" if is_date else "datetime", days, tz)
            if moment is not None and since <= moment <= now:
                found.append(_date_occurrence(record_type, rid, field, value, moment))
        started += _start_batch(db, workflow, found)
    return started


def _moment(value: Any, kind: str | None, days: int, tz: str) -> datetime | None:
    """When a date trigger fires for `value`: the date's local midnight (or the datetime) + days."""
    if value in (None, ""):
        return None
    try:
        if isinstance(value, datetime):
            base = value if value.tzinfo else value.replace(tzinfo=UTC)
        elif isinstance(value, date):
            base = datetime.combine(value, datetime.min.time(), tzinfo=ZoneInfo(tz))
        elif kind == "date" or (isinstance(value, str) and len(value) == 10):
            base = datetime.combine(date.fromisoformat(str(value)), datetime.min.time(), tzinfo=ZoneInfo(tz))
        else:
            base = datetime.fromisoformat(str(value))
            base = base if base.tzinfo else base.replace(tzinfo=UTC)
    except ValueError:
        return None
    return base + timedelta(days=days)


def _date_occurrence(
    record_type: str, rid: int, field: str, value: Any, moment: datetime
) -> tuple[str, str, int, dict[str, Any]]:
    text = value.isoformat() if isinstance(value, date | datetime) else str(value)
    return (
        f"date:{record_type}:{rid}:{field}:{text}",
        record_type,
        rid,
        {"type": "date_relative", "field": field, "date": text, "fires_at": moment.isoformat()},
    )


def scan_task_due(db: Session, workflow: Workflow, trigger: dict[str, Any], now: datetime) -> int:
    """Open tasks whose due time + offset_minutes has come; once per (task, due time)."""
    offset = timedelta(minutes=int((trigger.get("params") or {}).get("offset_minutes") or 0))
    since = _since(workflow, now)
    stmt = select(Task.id, Task.due_at).where(
        Task.status.in_(("todo", "in_progress")),
        Task.due_at >= since - offset,
        Task.due_at <= now - offset,
    )
    started = 0
    for rows in _keyset(db, stmt, Task.id):
        found = [
            (
                f"task_due:{rid}:{_as_datetime(due).isoformat()}",
                "task",
                rid,
                {
                    "type": "task.due",
                    "due_at": _as_datetime(due).isoformat(),
                    "offset_minutes": offset.total_seconds() // 60,
                },
            )
            for rid, due in rows
        ]
        started += _start_batch(db, workflow, found)
    return started


def latest_slot(cron: str, tz: str, now: datetime) -> datetime:
    local = now.astimezone(ZoneInfo(tz))
    return croniter(cron, local + timedelta(seconds=1)).get_prev(datetime).astimezone(UTC)


def scan_schedule(db: Session, workflow: Workflow, trigger: dict[str, Any], now: datetime) -> int:
    """The latest cron slot (in the workflow's time zone), once; slots before it was enabled never."""
    params = trigger.get("params") or {}
    slot = latest_slot(str(params.get("cron")), str(params.get("timezone") or "UTC"), now)
    if workflow.activated_at is not None and slot < workflow.activated_at:
        return 0
    if slot < now - timedelta(days=1):
        return 0
    found = [(f"schedule:{slot.isoformat()}", None, None, {"type": "schedule", "slot": slot.isoformat()})]
    return _start_batch(db, workflow, found)


SCANNERS = {
    "no_activity": scan_no_activity,
    "date_relative": scan_date_relative,
    "task.due": scan_task_due,
    "schedule": scan_schedule,
}


def scan_time_triggers(db_factory: Any) -> int:
    """One transaction per workflow, so one broken definition does not hold the others back."""
    now = clock.now()
    with db_factory() as db:
        ids = list(
            db.scalars(
                select(Workflow.id).where(
                    Workflow.active.is_(True), Workflow.trigger_type.in_(catalogue.TIME_TRIGGERS)
                )
            )
        )
    started = 0
    for workflow_id in ids:
        try:
            with db_factory() as db:
                workflow = db.get(Workflow, workflow_id)
                if workflow is None or not workflow.active:
                    continue
                trigger = engine.version_for(db, workflow).definition.get("trigger") or {}
                scanner = SCANNERS.get(str(trigger.get("type")))
                if scanner is not None:
                    started += scanner(db, workflow, trigger, now)
        except Exception:
            log.exception("time trigger scan failed for workflow %s", workflow_id)
    return started
