"""Workflows: every write goes through here (permissions, validation, versions, audit). The engine
that runs them lives in engine.py, the triggers in triggers.py; this module is what the API and
the builder UI call."""

from __future__ import annotations

import copy
import secrets
import uuid
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from carnet.core import audit, clock
from carnet.core.audit import jsonable
from carnet.core.context import Actor
from carnet.core.errors import (
    Conflict,
    FieldError,
    FieldErrors,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    ValidationFailed,
)
from carnet.core.listing import ListParams
from carnet.settings import get_settings
from carnet.workflows import catalogue, definition, engine, library
from carnet.workflows.models import OPEN_RUN_STATUSES, Workflow, WorkflowRun, WorkflowRunStep, WorkflowVersion

RECORD_TYPE = "workflow"
READ, CREATE, UPDATE, DELETE = "workflows:read", "workflows:create", "workflows:update", "workflows:delete"
EXPORT_FORMAT = "carnet.workflow/1"
EMPTY_DEFINITION: dict[str, Any] = {
    "trigger": {"type": "manual", "record_type": "deal", "params": {}},
    "start": None,
    "steps": {},
}


def _require(actor: Actor, permission: str) -> None:
    if not actor.can(permission):
        raise PermissionDenied()


# -- catalogues (for the builder's pickers) ------------------------------------------------------------


def field_catalogue(db: Session, record_type: str) -> list[dict[str, Any]]:
    return catalogue.field_catalogue(db, record_type)


def action_catalogue() -> list[dict[str, Any]]:
    return catalogue.action_catalogue()


def trigger_catalogue() -> list[dict[str, Any]]:
    return catalogue.trigger_catalogue()


def operator_catalogue() -> list[dict[str, str]]:
    return [{"op": op, "label": label} for op, label in catalogue.OPERATORS.items()]


def validate_definition(db: Session, definition_data: Any) -> list[dict[str, Any]]:
    """[{step, field, message, template, params}] — empty when the definition is valid."""
    return definition.validate(db, definition_data)


# -- reading ---------------------------------------------------------------------------------------------


def list_workflows(db: Session, actor: Actor) -> list[Workflow]:
    _require(actor, READ)
    return list(db.scalars(select(Workflow).order_by(Workflow.name, Workflow.id)))


def get_workflow(db: Session, actor: Actor, workflow_id: Any) -> Workflow:
    if not actor.can(READ):
        raise NotFound()
    try:
        wid = int(workflow_id)
    except (TypeError, ValueError):
        raise NotFound()
    workflow = db.get(Workflow, wid) if 0 < wid < 2**31 else None
    if workflow is None:
        raise NotFound()
    return workflow


def current_version(db: Session, workflow: Workflow) -> WorkflowVersion:
    version = db.scalar(
        select(WorkflowVersion).where(
            WorkflowVersion.workflow_id == workflow.id, WorkflowVersion.number == workflow.current_version
        )
    )
    assert version is not None, "a workflow always has its current version"
    return version


def current_definition(db: Session, workflow: Workflow) -> dict[str, Any]:
    return copy.deepcopy(current_version(db, workflow).definition)


def list_versions(db: Session, actor: Actor, workflow: Workflow) -> list[WorkflowVersion]:
    _require(actor, READ)
    return list(
        db.scalars(
            select(WorkflowVersion)
            .where(WorkflowVersion.workflow_id == workflow.id)
            .order_by(WorkflowVersion.number.desc())
        )
    )


def workflow_stats(db: Session, workflow_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Runs, failures and the last start of each workflow (test runs left out)."""
    if not workflow_ids:
        return {}
    rows = db.execute(
        select(
            WorkflowRun.workflow_id,
            func.count().label("runs"),
            func.sum(case((WorkflowRun.status == "failed", 1), else_=0)).label("failures"),
            func.max(WorkflowRun.started_at).label("last_run_at"),
        )
        .where(WorkflowRun.workflow_id.in_(workflow_ids), WorkflowRun.test.is_(False))
        .group_by(WorkflowRun.workflow_id)
    )
    out = {wid: {"runs": 0, "failures": 0, "last_run_at": None} for wid in workflow_ids}
    for r in rows:
        out[r.workflow_id] = {"runs": r.runs, "failures": int(r.failures or 0), "last_run_at": r.last_run_at}
    return out


def webhook_path(workflow: Workflow) -> str:
    return f"/api/v1/workflows/hooks/{workflow.webhook_token}"


def to_read(db: Session, workflow: Workflow, stats: dict[str, Any] | None = None) -> dict[str, Any]:
    stats = stats or workflow_stats(db, [workflow.id])[workflow.id]
    return {
        "id": workflow.id,
        "name": workflow.name,
        "description": workflow.description,
        "active": workflow.active,
        "current_version": workflow.current_version,
        "trigger_type": workflow.trigger_type,
        "record_type": workflow.record_type,
        "template_key": workflow.template_key,
        "definition": current_definition(db, workflow),
        "webhook_url": webhook_path(workflow) if workflow.trigger_type == "webhook" else None,
        "webhook_rate": workflow.webhook_rate,
        "owner_id": workflow.owner_id,
        "department_id": workflow.department_id,
        "activated_at": workflow.activated_at,
        "runs": stats["runs"],
        "failures": stats["failures"],
        "last_run_at": stats["last_run_at"],
        "version": workflow.version,
        "created_at": workflow.created_at,
        "updated_at": workflow.updated_at,
    }


def reads(db: Session, workflows: list[Workflow]) -> list[dict[str, Any]]:
    stats = workflow_stats(db, [w.id for w in workflows])
    return [to_read(db, w, stats[w.id]) for w in workflows]


# -- writing ---------------------------------------------------------------------------------------------


def _raise_problems(problems: list[dict[str, Any]]) -> None:
    if problems:
        raise ValidationFailed(errors=[_field_error(p) for p in problems])


def _field_error(problem: dict[str, Any]) -> FieldError:
    step, field = problem["step"], problem["field"]
    if step == "trigger":
        name = f"trigger.{field}"
    elif step:
        name = f"steps.{step}.{field}"
    else:
        name = field
    return FieldError(name, problem["template"], "invalid_definition", dict(problem["params"]))


def _clean_header(workflow: Workflow, data: dict[str, Any], creating: bool, errors: FieldErrors) -> None:
    if creating or "name" in data:
        name = data.get("name")
        name = name.strip() if isinstance(name, str) else ""
        if not name:
            errors.add("name", "This field is required", "required")
        elif len(name) > 200:
            errors.add("name", "At most {max} characters", "too_long", max=200)
        workflow.name = name
    if creating or "description" in data:
        description = data.get("description") or ""
        if not isinstance(description, str) or len(description) > 5000:
            errors.add("description", "At most {max} characters", "too_long", max=5000)
        else:
            workflow.description = description.strip()
    if "webhook_rate" in data:
        rate = data.get("webhook_rate") or None
        if rate is not None and not definition.valid_rate(rate):
            errors.add("webhook_rate", "Give a rate such as 10/minute", "invalid")
        else:
            workflow.webhook_rate = rate


def _snapshot(workflow: Workflow) -> dict[str, Any]:
    return {
        "name": workflow.name,
        "description": workflow.description,
        "active": workflow.active,
        "current_version": workflow.current_version,
        "webhook_rate": workflow.webhook_rate,
    }


def _sync_trigger(workflow: Workflow, definition_data: dict[str, Any]) -> None:
    trigger = definition_data.get("trigger") or {}
    workflow.trigger_type = str(trigger.get("type") or "manual")
    workflow.record_type = trigger.get("record_type") or None


def create_workflow(db: Session, actor: Actor, data: dict[str, Any]) -> Workflow:
    """`data`: name, description, definition (an empty manual workflow when left out)."""
    _require(actor, CREATE)
    workflow = Workflow(
        active=False,
        current_version=1,
        webhook_token=secrets.token_urlsafe(32),
        owner_id=actor.user_id,
        department_id=actor.department_id,
        created_by_id=actor.user_id,
        updated_by_id=actor.user_id,
        template_key=data.get("template_key"),
    )
    errors = FieldErrors()
    _clean_header(workflow, data, True, errors)
    definition_data = data.get("definition")
    if definition_data is None:
        definition_data = copy.deepcopy(EMPTY_DEFINITION)
    errors.raise_if_any()
    _raise_problems(definition.validate(db, definition_data))
    _sync_trigger(workflow, definition_data)
    db.add(workflow)
    db.flush()
    db.add(
        WorkflowVersion(
            workflow_id=workflow.id, number=1, definition=definition_data, created_by_id=actor.user_id
        )
    )
    db.flush()
    audit.record(
        db, actor, "create", RECORD_TYPE, workflow.id, audit.diff({}, _snapshot(workflow)), workflow.name
    )
    db.commit()
    return workflow


def update_workflow(
    db: Session, actor: Actor, workflow: Workflow, data: dict[str, Any], expected_version: int | None = None
) -> Workflow:
    """Name, description, webhook rate; `definition` saves a new definition like save_definition."""
    _require(actor, UPDATE)
    if expected_version is not None and workflow.version != expected_version:
        raise PreconditionFailed()
    before = _snapshot(workflow)
    errors = FieldErrors()
    _clean_header(workflow, data, False, errors)
    if errors:
        db.rollback()
        errors.raise_if_any()
    if "definition" in data:
        return save_definition(db, actor, workflow, data["definition"], None, _before=before)
    after = _snapshot(workflow)
    if before == after:
        db.rollback()
        return workflow
    workflow.updated_by_id = actor.user_id
    db.flush()
    audit.record(db, actor, "update", RECORD_TYPE, workflow.id, audit.diff(before, after), workflow.name)
    db.commit()
    return workflow


def _has_runs(db: Session, version: WorkflowVersion) -> bool:
    return db.scalar(select(WorkflowRun.id).where(WorkflowRun.version_id == version.id).limit(1)) is not None


def save_definition(
    db: Session,
    actor: Actor,
    workflow: Workflow,
    definition_data: Any,
    expected_version: int | None = None,
    *,
    _before: dict[str, Any] | None = None,
) -> Workflow:
    """Store a new definition. When the workflow is active or its current version has runs, it
    becomes a new version (running instances finish on theirs); otherwise the current, never-used
    version is edited in place. Refused with field errors when invalid. `expected_version` is the
    workflow's `version` (ETag) the editor started from."""
    _require(actor, UPDATE)
    if expected_version is not None and workflow.version != expected_version:
        raise PreconditionFailed()
    before = _before or _snapshot(workflow)
    problems = definition.validate(db, definition_data)
    if problems:
        db.rollback()
        _raise_problems(problems)
    current = current_version(db, workflow)
    if current.definition == definition_data:
        after = _snapshot(workflow)
        if after == before:
            return workflow
        workflow.updated_by_id = actor.user_id  # only the name or description changed
        db.flush()
        audit.record(db, actor, "update", RECORD_TYPE, workflow.id, audit.diff(before, after), workflow.name)
        db.commit()
        return workflow
    if workflow.active or current.frozen or _has_runs(db, current):
        current.frozen = True
        number = workflow.current_version + 1
        db.add(
            WorkflowVersion(
                workflow_id=workflow.id,
                number=number,
                definition=definition_data,
                created_by_id=actor.user_id,
                frozen=workflow.active,
            )
        )
        workflow.current_version = number
    else:
        current.definition = copy.deepcopy(definition_data)
        current.created_by_id = actor.user_id
        current.created_at = clock.now()
    _sync_trigger(workflow, definition_data)
    workflow.updated_by_id = actor.user_id
    workflow.updated_at = clock.now()  # bumps the ETag even when only the definition changed
    db.flush()
    changes = audit.diff(before, _snapshot(workflow))
    changes["definition"] = {"old": current.number, "new": workflow.current_version}
    audit.record(db, actor, "update", RECORD_TYPE, workflow.id, changes, workflow.name)
    db.commit()
    return workflow


def enable(db: Session, actor: Actor, workflow: Workflow) -> Workflow:
    """Turn the workflow on; refused with the definition's field errors when it is not valid."""
    _require(actor, UPDATE)
    version = current_version(db, workflow)
    problems = definition.validate(db, version.definition)
    if not version.definition.get("steps"):
        problems.append(
            {
                "step": None,
                "field": "steps",
                "message": "Add at least one step",
                "template": "Add at least one step",
                "params": {},
            }
        )
    _raise_problems(problems)
    if workflow.active:
        return workflow
    before = _snapshot(workflow)
    workflow.active = True
    workflow.activated_at = clock.now()
    workflow.updated_by_id = actor.user_id
    version.frozen = True
    db.flush()
    audit.record(
        db, actor, "enable", RECORD_TYPE, workflow.id, audit.diff(before, _snapshot(workflow)), workflow.name
    )
    db.commit()
    return workflow


def disable(db: Session, actor: Actor, workflow: Workflow) -> Workflow:
    """Turn the workflow off. Runs already started go on to their end."""
    _require(actor, UPDATE)
    if not workflow.active:
        return workflow
    before = _snapshot(workflow)
    workflow.active = False
    workflow.updated_by_id = actor.user_id
    db.flush()
    audit.record(
        db, actor, "disable", RECORD_TYPE, workflow.id, audit.diff(before, _snapshot(workflow)), workflow.name
    )
    db.commit()
    return workflow


def delete_workflow(
    db: Session, actor: Actor, workflow: Workflow, expected_version: int | None = None
) -> None:
    """Delete with its versions and run history (an active workflow must be disabled first)."""
    _require(actor, DELETE)
    if expected_version is not None and workflow.version != expected_version:
        raise PreconditionFailed()
    if workflow.active:
        raise Conflict("Disable the workflow before deleting it")
    audit.record(
        db, actor, "delete", RECORD_TYPE, workflow.id, audit.diff(_snapshot(workflow), {}), workflow.name
    )
    db.delete(workflow)
    db.commit()


def rotate_webhook_token(db: Session, actor: Actor, workflow: Workflow) -> Workflow:
    """A new secret URL; the old one answers 404 at once."""
    _require(actor, UPDATE)
    workflow.webhook_token = secrets.token_urlsafe(32)
    workflow.updated_by_id = actor.user_id
    db.flush()
    audit.record(db, actor, "rotate_secret", RECORD_TYPE, workflow.id, {}, workflow.name)
    db.commit()
    return workflow


# -- export / import ---------------------------------------------------------------------------------------


def export_workflow(db: Session, actor: Actor, workflow: Workflow) -> dict[str, Any]:
    """A portable JSON document (no ids of this installation besides those in the definition)."""
    _require(actor, READ)
    return {
        "format": EXPORT_FORMAT,
        "name": workflow.name,
        "description": workflow.description,
        "definition": current_definition(db, workflow),
    }


def import_workflow(db: Session, actor: Actor, document: Any) -> Workflow:
    """Create a (disabled) workflow from an exported document."""
    _require(actor, CREATE)
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise ValidationFailed.on("format", "Not a Carnet workflow export", "invalid_format")
    return create_workflow(
        db,
        actor,
        {
            "name": document.get("name"),
            "description": document.get("description") or "",
            "definition": document.get("definition"),
        },
    )


# -- templates -------------------------------------------------------------------------------------------


def list_templates() -> list[dict[str, Any]]:
    return [
        {"key": t.key, "name": t.name, "description": t.description, "trigger_type": t.trigger_type}
        for t in library.TEMPLATES.values()
    ]


def install_template(db: Session, actor: Actor, key: str) -> Workflow:
    """A new, disabled workflow from a template, ready to edit."""
    _require(actor, CREATE)
    template = library.TEMPLATES.get(key)
    if template is None:
        raise NotFound()
    return create_workflow(
        db,
        actor,
        {
            "name": template.name,
            "description": template.description,
            "definition": template.build(db),
            "template_key": template.key,
        },
    )


# -- runs ------------------------------------------------------------------------------------------------


def list_runs(
    db: Session, actor: Actor, workflow: Workflow, params: ListParams | dict[str, Any] | None = None
) -> list[WorkflowRun]:
    """Newest first. `params` (a ListParams or a dict): `status`, `test` ("true"/"false"), `limit`
    (default 50, at most 200), `before_id` (keyset: runs older than that id)."""
    _require(actor, READ)
    filters = dict(params.filters) if isinstance(params, ListParams) else dict(params or {})
    limit = params.limit if isinstance(params, ListParams) else filters.pop("limit", 50)
    try:
        limit = max(1, min(int(limit), 200))
    except (TypeError, ValueError):
        raise ValidationFailed.on("limit", "Must be a number", "invalid_type")
    stmt = select(WorkflowRun).where(WorkflowRun.workflow_id == workflow.id)
    status = filters.get("status")
    if status:
        stmt = stmt.where(WorkflowRun.status.in_(str(status).split(",")))
    if filters.get("test") not in (None, ""):
        stmt = stmt.where(WorkflowRun.test.is_(str(filters["test"]).lower() in ("true", "1")))
    if filters.get("before_id") not in (None, ""):
        try:
            stmt = stmt.where(WorkflowRun.id < int(filters["before_id"]))
        except (TypeError, ValueError):
            raise ValidationFailed.on("before_id", "Must be a number", "invalid_type")
    return list(db.scalars(stmt.order_by(WorkflowRun.id.desc()).limit(limit)))


def get_run(db: Session, actor: Actor, run_id: Any) -> WorkflowRun:
    if not actor.can(READ):
        raise NotFound()
    try:
        rid = int(run_id)
    except (TypeError, ValueError):
        raise NotFound()
    run = db.get(WorkflowRun, rid) if 0 < rid < 2**31 else None
    if run is None:
        raise NotFound()
    return run


def run_steps(db: Session, run: WorkflowRun) -> list[WorkflowRunStep]:
    return list(
        db.scalars(
            select(WorkflowRunStep).where(WorkflowRunStep.run_id == run.id).order_by(WorkflowRunStep.id)
        )
    )


def run_read(db: Session, run: WorkflowRun, with_steps: bool = True) -> dict[str, Any]:
    out = {
        "id": run.id,
        "workflow_id": run.workflow_id,
        "version": run.version_number,
        "trigger_event_id": run.trigger_event_id,
        "trigger": run.trigger,
        "record_type": run.record_type,
        "record_id": run.record_id,
        "status": run.status,
        "depth": run.depth,
        "test": run.test,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "error": run.error,
        "current_step": run.cursor,
    }
    if with_steps:
        out["steps"] = [
            {
                "id": s.id,
                "step_id": s.step_id,
                "type": s.step_type,
                "attempt": s.attempt,
                "status": s.status,
                "input": s.input,
                "output": s.output,
                "error": s.error,
                "duration_ms": s.duration_ms,
                "started_at": s.started_at,
                "finished_at": s.finished_at,
            }
            for s in run_steps(db, run)
        ]
    return out


def _record_for(
    db: Session, actor: Actor, workflow: Workflow, record_type: Any, record_id: Any
) -> tuple[str | None, int | None]:
    """The record a manual or test run works on: of the trigger's type, and visible to `actor`."""
    expected = workflow.record_type
    if expected is None:
        if record_type not in (None, "") or record_id not in (None, ""):
            raise ValidationFailed.on("record_type", "This workflow's trigger has no record", "no_record")
        return None, None
    if record_type not in (None, "", expected):
        raise ValidationFailed.on(
            "record_type", "Choose a record of type {type}", "wrong_type", type=expected
        )
    if record_id in (None, ""):
        raise ValidationFailed.on("record_id", "This field is required", "required")
    record = catalogue.RECORD_KINDS[expected].get(db, actor, record_id)  # NotFound when not visible
    return expected, record.id


def test_run(
    db: Session,
    actor: Actor,
    workflow: Workflow,
    record_type: Any = None,
    record_id: Any = None,
    definition_data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the current definition on a record with every side effect simulated: no domain write,
    no email, no HTTP call, no wait. Recorded as a test run; returns it with what each step would do."""
    _require(actor, UPDATE)
    rtype, rid = _record_for(db, actor, workflow, record_type, record_id)
    version = current_version(db, workflow)
    trigger = {"type": "test", "changes": {}, "payload": {}}
    steps = engine.simulate(db, workflow, version, rtype, rid, trigger)
    now = clock.now()
    failed = next((s for s in steps if s["status"] == "failed"), None)
    run = WorkflowRun(
        workflow_id=workflow.id,
        version_id=version.id,
        version_number=version.number,
        trigger_event_id=f"test:{uuid.uuid4()}",
        trigger=trigger,
        record_type=rtype,
        record_id=rid,
        status="failed" if failed else "completed",
        error=failed.get("error") if failed else None,
        depth=0,
        test=True,
        started_by_id=actor.user_id,
        started_at=now,
        finished_at=now,
    )
    db.add(run)
    db.flush()
    for i, step in enumerate(steps):
        db.add(
            WorkflowRunStep(
                run_id=run.id,
                step_id=step["step_id"],
                step_type=str(step.get("type")),
                seq=i,
                attempt=1,
                status=step["status"],
                input={"action": step.get("action")} if step.get("action") else {},
                output=jsonable(step.get("output") or {}),
                error=step.get("error"),
                duration_ms=0,
                started_at=now,
                finished_at=now,
            )
        )
    db.commit()
    return {"run_id": run.id, "status": run.status, "steps": jsonable(steps)}


def run_manual(
    db: Session, actor: Actor, workflow: Workflow, record_type: Any = None, record_id: Any = None
) -> WorkflowRun:
    """Start the workflow now on a record. Anyone who may read workflows can run an active
    workflow whose trigger is `manual` on a record they can see; writers can run any active one."""
    _require(actor, READ)
    if workflow.trigger_type != "manual":
        _require(actor, UPDATE)
    if not workflow.active:
        raise Conflict("Enable the workflow before running it")
    rtype, rid = _record_for(db, actor, workflow, record_type, record_id)
    run = engine.start_run(
        db,
        workflow,
        f"manual:{uuid.uuid4()}",
        rtype,
        rid,
        {"type": "manual", "user_id": actor.user_id},
        started_by_id=actor.user_id,
    )
    assert run is not None  # a fresh key never collides
    audit.record(
        db, actor, "run", RECORD_TYPE, workflow.id, {"run_id": {"old": None, "new": run.id}}, workflow.name
    )
    db.commit()
    return run


def resume_run(db: Session, actor: Actor, run: WorkflowRun) -> WorkflowRun:
    """A failed run goes on from the step that failed, with fresh attempts, on its own version."""
    _require(actor, UPDATE)
    if run.status != "failed" or run.test:
        raise Conflict("Only a failed run can be resumed")
    engine.resume(db, run)
    audit.record(
        db,
        actor,
        "resume",
        RECORD_TYPE,
        run.workflow_id,
        {"run_id": {"old": None, "new": run.id}},
        f"run {run.id}",
    )
    db.commit()
    return run


def cancel_run(db: Session, actor: Actor, run: WorkflowRun) -> WorkflowRun:
    """A running or waiting run stops where it is."""
    _require(actor, UPDATE)
    if run.status not in OPEN_RUN_STATUSES:
        raise Conflict("Only a running or waiting run can be cancelled")
    engine.cancel(db, run)
    audit.record(
        db,
        actor,
        "cancel",
        RECORD_TYPE,
        run.workflow_id,
        {"run_id": {"old": None, "new": run.id}},
        f"run {run.id}",
    )
    db.commit()
    return run


# -- incoming webhook -----------------------------------------------------------------------------------------


def webhook_workflow(db: Session, token: str) -> Workflow:
    """The active webhook-triggered workflow behind a secret URL; NotFound for anything else."""
    if not token or len(token) > 64:
        raise NotFound()
    workflow = db.scalar(select(Workflow).where(Workflow.webhook_token == token))
    if workflow is None or not workflow.active or workflow.trigger_type != "webhook":
        raise NotFound()
    return workflow


def webhook_rate(workflow: Workflow) -> str:
    return workflow.webhook_rate or get_settings().workflow_webhook_rate


def receive_webhook(
    db: Session, workflow: Workflow, body: Any, delivery_id: str | None = None
) -> WorkflowRun | None:
    """Start the workflow with the posted JSON object as `{{ webhook.* }}`. A sender's delivery id
    (`webhook-id` header) makes a redelivery start nothing; returns None then."""
    if not isinstance(body, dict):
        raise ValidationFailed.on("body", "Send a JSON object", "invalid_body")
    key = f"webhook:{delivery_id[:120]}" if delivery_id else f"webhook:{uuid.uuid4()}"
    run = engine.start_run(db, workflow, key, None, None, {"type": "webhook", "webhook": body})
    db.commit()
    return run
