"""HTML pages of workflows: the list, the template gallery, the builder canvas (its JSON save
endpoint), enable/disable, run history with per-step detail, resume, and test mode. Every page
only parses input, calls `carnet.workflows.service` and renders."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from carnet.accounts import service as accounts
from carnet.activities import links
from carnet.api.deps import DbDep
from carnet.core.context import Actor
from carnet.core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from carnet.core.i18n import gettext
from carnet.deals import pipelines
from carnet.projects import service as projects
from carnet.web.shell import WebActor, form_errors, redirect, render
from carnet.workflows import service

router = APIRouter(prefix="/workflows", include_in_schema=False)

RUN_STATUS_LABELS = {
    "running": "Running",
    "waiting": "Waiting",
    "completed": "Finished",
    "failed": "Failed",
    "stopped": "Stopped",
    "cancelled": "Cancelled",
    "skipped": "Skipped",
    "simulated": "Simulated",
    "queued": "Queued",
}
RECORD_URLS = {"organisation": "/organisations", "contact": "/contacts", "deal": "/deals", "task": "/tasks"}
RECORD_LABELS = {
    "organisation": "Organisation",
    "contact": "Contact",
    "deal": "Deal",
    "task": "Task",
    "activity": "Activity",
    "project": "Project",
}
OPERATOR_LABELS = {
    "eq": "equals",
    "ne": "does not equal",
    "gt": "greater than",
    "gte": "greater than or equal to",
    "lt": "less than",
    "lte": "less than or equal to",
    "contains": "contains",
    "not_contains": "does not contain",
    "in": "is one of",
    "not_in": "is none of",
    "is_empty": "is empty",
    "is_not_empty": "is not empty",
    "changed": "changed",
}
UNARY_OPERATORS = {"is_empty", "is_not_empty", "changed"}

# How the side panel edits each parameter the engine's catalogues name: an input kind, a label,
# and where its choices come from. Keyed by parameter name, overridden per action/trigger.
PARAM_UI: dict[str, dict[str, Any]] = {
    "title": {"kind": "text", "label": "Title", "template": True},
    "description": {"kind": "textarea", "label": "Description", "template": True},
    "due_in_days": {"kind": "number", "label": "Due in (days)"},
    "priority": {"kind": "select", "label": "Priority", "choices": "priorities"},
    "assignee": {"kind": "assignee", "label": "Assignee", "default": "owner"},
    "kind": {"kind": "select", "label": "Kind", "choices": "activity_kinds"},
    "subject": {"kind": "text", "label": "Subject", "template": True},
    "body": {"kind": "textarea", "label": "Message", "template": True},
    "html": {"kind": "textarea", "label": "HTML version (optional)", "template": True},
    "fields": {"kind": "fields_map", "label": "Fields to update"},
    "strategy": {"kind": "select", "label": "Strategy", "choices": "strategies", "default": "user"},
    "user_id": {
        "kind": "select",
        "label": "User",
        "choices": "users",
        "numeric": True,
        "show_if": {"strategy": "user"},
    },
    "department_id": {
        "kind": "select",
        "label": "Department",
        "choices": "departments",
        "numeric": True,
        "show_if": {"strategy": ["round_robin", "least_open_deals"]},
    },
    "tag": {"kind": "text", "label": "Tag", "template": True},
    "to": {"kind": "text", "label": "Recipient", "template": True, "suggest": "recipients"},
    "webhook_url": {"kind": "text", "label": "Incoming webhook URL"},
    "text": {"kind": "textarea", "label": "Message", "template": True},
    "method": {"kind": "select", "label": "Method", "choices": "methods", "default": "POST"},
    "url": {"kind": "text", "label": "URL", "template": True},
    "headers": {"kind": "json", "label": "Headers (JSON)"},
    "template_id": {
        "kind": "select",
        "label": "Project template",
        "choices": "project_templates",
        "numeric": True,
    },
    "owner": {"kind": "assignee", "label": "Project owner", "default": "owner"},
    "name": {"kind": "text", "label": "Project name (optional)", "template": True},
    "target_days": {"kind": "number", "label": "Target date in (days, optional)"},
    "from_phase": {"kind": "text", "label": "From phase key (optional)"},
    "to_phase": {"kind": "text", "label": "To phase key (optional)"},
    # triggers
    "field": {"kind": "field", "label": "Field"},
    "from": {"kind": "text", "label": "From value (optional)"},
    "to_value": {"kind": "text", "label": "To value (optional)"},
    "from_stage_id": {
        "kind": "select",
        "label": "From stage (optional)",
        "choices": "stages",
        "numeric": True,
    },
    "to_stage_id": {"kind": "select", "label": "To stage (optional)", "choices": "stages", "numeric": True},
    "pipeline_id": {
        "kind": "select",
        "label": "Pipeline (optional)",
        "choices": "pipelines",
        "numeric": True,
    },
    "stage_id": {"kind": "select", "label": "Only in stage (optional)", "choices": "stages", "numeric": True},
    "days": {"kind": "number", "label": "Days"},
    "offset_minutes": {"kind": "number", "label": "Minutes before the due time"},
    "cron": {
        "kind": "text",
        "label": "Cron expression",
        "help": "minute hour day month weekday, e.g. 0 9 * * 1",
    },
    "timezone": {"kind": "text", "label": "Time zone", "default": "Europe/Paris"},
}
PARAM_OVERRIDES: dict[tuple[str, str], dict[str, Any]] = {
    ("http_request", "body"): {"kind": "json", "label": "Body (JSON)"},
    ("field.changed", "to"): PARAM_UI["to_value"],
    ("notify", "body"): {"kind": "textarea", "label": "Message", "template": True},
    ("date_relative", "days"): {"kind": "number", "label": "Days", "help": "Negative: before the date"},
    ("date_relative", "field"): {"kind": "field", "label": "Date field", "date_only": True},
}
STATIC_CHOICES: dict[str, list[tuple[str, str]]] = {
    "priorities": [("urgent", "Urgent"), ("high", "High"), ("normal", "Normal"), ("low", "Low")],
    "activity_kinds": [
        ("call", "Call"),
        ("email", "Email"),
        ("meeting", "Meeting"),
        ("visit", "Visit"),
        ("note", "Note"),
    ],
    "strategies": [
        ("user", "A specific user"),
        ("round_robin", "Round robin in a department"),
        ("least_open_deals", "Fewest open deals in a department"),
    ],
    "methods": [(m, m) for m in ("GET", "POST", "PUT", "PATCH", "DELETE")],
    "recipients": [
        ("owner", "Record owner"),
        ("manager", "Owner's manager"),
        ("contact", "The record's contact"),
    ],
}
DATE_TYPES = {"date", "datetime"}


def _t(actor: Actor, text: str, **params: Any) -> str:
    return gettext(text, actor.language, **params)


def _record_names(db: DbDep, actor: Actor, runs: list[Any]) -> dict[tuple[str, int], str]:
    """Names of the runs' records the actor may see (one query per record type)."""
    names: dict[tuple[str, int], str] = {}
    for rt in links.LINKABLE_TYPES:
        ids = {r.record_id for r in runs if r.record_type == rt and r.record_id}
        names.update({(rt, i): n for i, n in links.labels(db, actor, rt, ids).items()})
    return names


def _record_link(
    actor: Actor, record_type: str | None, record_id: int | None, names: dict[tuple[str, int], str]
) -> tuple[str, str | None]:
    """(label, url) of a run's record: its name when visible, else type and number (the record
    page itself applies visibility)."""
    if not record_type or not record_id:
        return "", None
    label = names.get((record_type, record_id)) or (
        f"{_t(actor, RECORD_LABELS.get(record_type, record_type))} #{record_id}"
    )
    prefix = RECORD_URLS.get(record_type)
    return label, f"{prefix}/{record_id}" if prefix else None


def _trigger_label(actor: Actor, trigger_type: str, record_type: str | None) -> str:
    specs = {t["type"]: t for t in service.trigger_catalogue()}
    spec = specs.get(trigger_type)
    text = _t(actor, spec["label"]) if spec else trigger_type
    if record_type and spec and spec["record_types"]:
        text += f" · {_t(actor, RECORD_LABELS.get(record_type, record_type))}"
    return text


def _can_write(actor: Actor) -> bool:
    return actor.can("workflows:update")


def _require_create(actor: Actor) -> None:
    """Pages that only lead to creating a workflow; the service checks again when it writes."""
    if not actor.can("workflows:create"):
        raise PermissionDenied()


# -- list, creation, templates -------------------------------------------------------------------------


@router.get("")
def list_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    workflows = service.list_workflows(db, actor)
    stats = service.workflow_stats(db, [w.id for w in workflows])
    rows = [
        {
            "id": w.id,
            "name": w.name,
            "description": w.description,
            "active": w.active,
            "version": w.current_version,
            "trigger": _trigger_label(actor, w.trigger_type, w.record_type),
            **stats[w.id],
        }
        for w in workflows
    ]
    return render(request, "workflows/list.html", workflows=rows, can_create=actor.can("workflows:create"))


@router.get("/new")
def new_page(request: Request, actor: WebActor) -> Response:
    _require_create(actor)
    return render(request, "workflows/new.html", values={}, errors={})


@router.post("")
async def create(request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    values = {"name": str(form.get("name") or "").strip(), "description": str(form.get("description") or "")}
    try:
        workflow = service.create_workflow(db, actor, values)
    except ValidationFailed as exc:
        db.rollback()
        return render(
            request,
            "workflows/new.html",
            status_code=422,
            values=values,
            errors=form_errors(exc, actor.language),
        )
    return redirect(f"/workflows/{workflow.id}", flash=_t(actor, "Workflow created"), request=request)


@router.get("/templates")
def templates_page(request: Request, actor: WebActor) -> Response:
    _require_create(actor)
    gallery = [
        {
            "key": tpl["key"],
            "name": _t(actor, tpl["name"]),
            "description": _t(actor, tpl["description"]),
            "trigger": _trigger_label(actor, tpl["trigger_type"], None),
        }
        for tpl in service.list_templates()
    ]
    return render(request, "workflows/templates.html", gallery=gallery)


@router.post("/templates/{key}/install")
async def install_template(key: str, request: Request, db: DbDep, actor: WebActor) -> Response:
    workflow = service.install_template(db, actor, key)
    return redirect(
        f"/workflows/{workflow.id}",
        flash=_t(actor, "Template installed: adapt it, save, then enable it"),
        request=request,
    )


# -- builder -------------------------------------------------------------------------------------------


def _choices(db: DbDep, actor: Actor) -> dict[str, list[dict[str, Any]]]:
    out = {
        name: [{"value": v, "label": _t(actor, label)} for v, label in items]
        for name, items in STATIC_CHOICES.items()
    }
    out["users"] = [{"value": u.id, "label": u.full_name} for u in accounts.list_users(db, active_only=True)]
    out["departments"] = [{"value": d.id, "label": d.name} for d in accounts.list_departments(db)]
    out["project_templates"] = (
        [{"value": t.id, "label": t.name} for t in projects.active_templates(db, actor)]
        if actor.can("projects:read")
        else []
    )
    visible = pipelines.list_pipelines(db, actor)
    out["pipelines"] = [{"value": p.id, "label": p.name} for p in visible]
    stages = pipelines.stages_of(db, [p.id for p in visible])
    out["stages"] = [
        {"value": s.id, "label": f"{p.name} · {s.name}" if len(visible) > 1 else s.name}
        for p in visible
        for s in stages.get(p.id, [])
    ]
    return out


def _param_specs(actor: Actor, owner: str, names: list[str], required: list[str]) -> list[dict[str, Any]]:
    specs = []
    for name in names:
        ui = dict(PARAM_OVERRIDES.get((owner, name)) or PARAM_UI.get(name) or {"kind": "text", "label": name})
        ui["name"] = name
        ui["label"] = _t(actor, ui["label"])
        if ui.get("help"):
            ui["help"] = _t(actor, ui["help"])
        ui["required"] = name in required
        specs.append(ui)
    return specs


def _field_catalogues(db: DbDep, actor: Actor, record_types: list[str]) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for rt in record_types:
        fields = []
        for f in service.field_catalogue(db, rt):
            fields.append(
                {
                    "name": f["path"],
                    "label": f["label"] if f.get("custom") else _t(actor, f["label"]),
                    "type": f["type"],
                    "custom": bool(f.get("custom")),
                    "updatable": bool(f.get("updatable", True)),
                    "options": [{"value": o, "label": o} for o in f.get("options") or []],
                }
            )
        out[rt] = fields
    return out


def _variables(fields: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    """Variable hints per trigger record type: the record's fields, the people, the trigger."""
    common = ["owner.first_name", "owner.email", "manager.email", "now"]
    out: dict[str, list[str]] = {"_common": common + ["trigger.type"]}
    for rt, items in fields.items():
        names = [f"{rt}.{f['name']}" for f in items]
        out[rt] = names + common + ["trigger.changes"]
    return out


def _builder_config(db: DbDep, actor: Actor, workflow: Any, definition: dict[str, Any]) -> dict[str, Any]:
    triggers = service.trigger_catalogue()
    record_types = sorted({rt for t in triggers for rt in t["record_types"]}, key=list(RECORD_LABELS).index)
    fields = _field_catalogues(db, actor, record_types)
    choices = _choices(db, actor)
    trigger_specs = []
    for t in triggers:
        params = _param_specs(actor, t["type"], t["params"], t.get("required", []))
        trigger_specs.append(
            {
                "type": t["type"],
                "label": _t(actor, t["label"]),
                "record_types": t["record_types"],
                "params": params,
            }
        )
    action_specs = []
    for a in service.action_catalogue():
        params = _param_specs(actor, a["action"], a["params"], a.get("required", []))
        for p in params:
            if p.get("suggest"):
                p["suggest"] = choices[p["suggest"]]
        action_specs.append({"action": a["action"], "label": _t(actor, a["label"]), "params": params})
    return {
        # `etag` is the optimistic-concurrency token save_definition expects back
        "workflow": {"id": workflow.id, "name": workflow.name, "etag": workflow.version},
        "definition": definition,
        "errors": _errors_json(actor, service.validate_definition(db, definition)),
        "triggers": trigger_specs,
        "actions": action_specs,
        "operators": [
            {"op": op, "label": _t(actor, label), "unary": op in UNARY_OPERATORS}
            for op, label in OPERATOR_LABELS.items()
        ],
        "record_types": [{"name": rt, "label": _t(actor, RECORD_LABELS[rt])} for rt in record_types],
        "fields": fields,
        "variables": _variables(fields),
        "choices": choices,
        "save_url": f"/workflows/{workflow.id}/definition",
        "csrf": "",
        "can_edit": _can_write(actor),
    }


def _errors_json(actor: Actor, problems: list[Any]) -> list[dict[str, Any]]:
    """validate_definition's problems ({step, field, message[, params]}) in the user's language."""
    out = []
    for p in problems:
        item = p if isinstance(p, dict) else {"step": p.step, "field": p.field, "message": p.message}
        out.append(
            {
                "step": item.get("step"),
                "field": item.get("field"),
                "message": _t(
                    actor, item.get("template") or item.get("message", ""), **(item.get("params") or {})
                ),
            }
        )
    return out


def _builder_page(
    request: Request,
    db: DbDep,
    actor: Actor,
    workflow: Any,
    enable_errors: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    definition = service.current_definition(db, workflow)
    config = _builder_config(db, actor, workflow, definition)
    config["csrf"] = getattr(request.state, "csrf_token", "")
    return render(
        request,
        "workflows/builder.html",
        status_code=status_code,
        workflow=workflow,
        version_number=workflow.current_version,
        builder=config,
        tab="builder",
        can_write=_can_write(actor),
        enable_errors=enable_errors or [],
    )


@router.get("/{workflow_id}")
def builder_page(workflow_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    workflow = service.get_workflow(db, actor, workflow_id)
    return _builder_page(request, db, actor, workflow)


@router.post("/{workflow_id}/definition")
async def save_definition(workflow_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    """The canvas' Save: the whole definition as JSON. Answers the new version number and the
    validation problems to show next to each node (a saved draft may still have some)."""
    workflow = service.get_workflow(db, actor, workflow_id)
    try:
        body = json.loads(await request.body())
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("definition"), dict):
        return JSONResponse({"message": _t(actor, "The definition must be a JSON object")}, status_code=422)
    expected = body.get("expected_version")
    try:
        workflow = service.save_definition(
            db, actor, workflow, body["definition"], expected if isinstance(expected, int) else None
        )
    except ValidationFailed as exc:
        db.rollback()
        errors = [
            {
                "step": _step_of(e.field),
                "field": _field_of(e.field),
                "message": _t(actor, e.message, **e.params),
            }
            for e in exc.errors
        ]
        return JSONResponse(
            {"message": _t(actor, exc.message, **exc.params), "errors": errors}, status_code=exc.status
        )
    except DomainError as exc:
        db.rollback()
        return JSONResponse(
            {"message": _t(actor, exc.message, **exc.params), "errors": []}, status_code=exc.status
        )
    problems = _errors_json(actor, service.validate_definition(db, service.current_definition(db, workflow)))
    return JSONResponse({"version": workflow.current_version, "etag": workflow.version, "errors": problems})


def _step_of(field: str) -> str | None:
    """A field error's path is `steps.<id>.<field>` or `trigger.<field>`: which node it is on."""
    parts = field.split(".")
    if parts[0] == "steps" and len(parts) > 1:
        return parts[1]
    return "trigger" if parts[0] == "trigger" else None


def _field_of(field: str) -> str:
    parts = field.split(".")
    if parts[0] == "steps" and len(parts) > 2:
        return ".".join(parts[2:])
    if parts[0] == "trigger":
        return ".".join(parts[1:])
    return field


@router.post("/{workflow_id}/enable")
async def enable(workflow_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    workflow = service.get_workflow(db, actor, workflow_id)
    try:
        service.enable(db, actor, workflow)
    except ValidationFailed as exc:
        db.rollback()
        workflow = service.get_workflow(db, actor, workflow_id)
        messages = [_t(actor, e.message, **e.params) for e in exc.errors] or [_t(actor, exc.message)]
        return _builder_page(request, db, actor, workflow, enable_errors=messages, status_code=422)
    return redirect(f"/workflows/{workflow_id}", flash=_t(actor, "Workflow enabled"), request=request)


@router.post("/{workflow_id}/disable")
async def disable(workflow_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    workflow = service.get_workflow(db, actor, workflow_id)
    service.disable(db, actor, workflow)
    return redirect(f"/workflows/{workflow_id}", flash=_t(actor, "Workflow disabled"), request=request)


@router.get("/{workflow_id}/export")
def export(workflow_id: int, db: DbDep, actor: WebActor) -> Response:
    workflow = service.get_workflow(db, actor, workflow_id)
    data = service.export_workflow(db, actor, workflow)
    return JSONResponse(
        data, headers={"Content-Disposition": f'attachment; filename="workflow-{workflow.id}.json"'}
    )


# -- runs ----------------------------------------------------------------------------------------------


def _run_row(actor: Actor, run: Any, names: dict[tuple[str, int], str]) -> dict[str, Any]:
    label, url = _record_link(actor, run.record_type, run.record_id, names)
    return {
        "id": run.id,
        "status": run.status,
        "test": run.test,
        "version": run.version_number,
        "record_label": label,
        "record_url": url,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "error": run.error,
        "depth": run.depth,
    }


def _pretty(value: Any) -> str | None:
    """Step input/output as readable JSON (accents kept); nothing for an empty one."""
    if value in (None, {}, []):
        return None
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def _step_rows(actor: Actor, definition: dict[str, Any], steps: list[Any]) -> list[dict[str, Any]]:
    """Run steps (rows or simulated dicts) with a readable title taken from the definition."""
    actions = {a["action"]: a["label"] for a in service.action_catalogue()}
    defined = definition.get("steps") or {}
    out = []
    for s in steps:
        item = s if isinstance(s, dict) else {k: getattr(s, k, None) for k in STEP_KEYS}
        step = defined.get(item.get("step_id")) or {}
        title = step.get("label") or (
            actions.get(step.get("action", ""), step.get("action")) if step.get("type") == "action" else None
        )
        out.append(
            {
                **{k: item.get(k) for k in STEP_KEYS},
                "title": _t(actor, title) if title else _t(actor, (step.get("type") or "step").capitalize()),
                "input": _pretty(item.get("input")),
                "output": _pretty(item.get("output")),
            }
        )
    return out


RUNS_PER_PAGE = 50
STEP_KEYS = (
    "step_id",
    "status",
    "attempt",
    "input",
    "output",
    "error",
    "duration_ms",
    "started_at",
    "finished_at",
)


def _runs_page(
    request: Request,
    db: DbDep,
    actor: Actor,
    workflow: Any,
    test_steps: list[dict[str, Any]] | None = None,
    test_error: str | None = None,
    test_record: tuple[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    before = request.query_params.get("before_id", "")
    runs = service.list_runs(db, actor, workflow, {"before_id": before, "limit": RUNS_PER_PAGE + 1})
    older = runs[RUNS_PER_PAGE].id + 1 if len(runs) > RUNS_PER_PAGE else None
    runs = runs[:RUNS_PER_PAGE]
    names = _record_names(db, actor, runs)
    definition = service.current_definition(db, workflow)
    trigger = definition.get("trigger") or {}
    record_types = [
        {"name": rt, "label": _t(actor, RECORD_LABELS[rt])} for rt in RECORD_URLS if rt in RECORD_LABELS
    ]
    return render(
        request,
        "workflows/runs.html",
        status_code=status_code,
        workflow=workflow,
        tab="runs",
        runs=[_run_row(actor, r, names) for r in runs],
        older_than=older,
        record_types=record_types,
        test_record_type=(test_record or (trigger.get("record_type") or "deal", ""))[0],
        test_record_id=(test_record or ("", ""))[1],
        test_steps=test_steps,
        test_error=test_error,
        manual=trigger.get("type") == "manual" and workflow.active,
        can_write=_can_write(actor),
        run_status_labels={k: _t(actor, v) for k, v in RUN_STATUS_LABELS.items()},
    )


@router.get("/{workflow_id}/runs")
def runs_page(workflow_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    workflow = service.get_workflow(db, actor, workflow_id)
    return _runs_page(request, db, actor, workflow)


@router.post("/{workflow_id}/test")
async def test_or_run(workflow_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    """Test mode ("what would each step do") or, for a manual workflow, a real run."""
    workflow = service.get_workflow(db, actor, workflow_id)
    form = await request.form()
    record_type = str(form.get("record_type") or "")
    raw_id = str(form.get("record_id") or "").strip()
    record = (record_type, raw_id)
    if record_type not in RECORD_LABELS or not raw_id.isdigit():
        message = _t(actor, "Choose a record type and a record number")
        return _runs_page(
            request, db, actor, workflow, test_error=message, test_record=record, status_code=422
        )
    try:
        if form.get("mode") == "run":
            run = service.run_manual(db, actor, workflow, record_type, int(raw_id))
            return redirect(f"/workflows/runs/{run.id}", flash=_t(actor, "Workflow started"), request=request)
        result = service.test_run(db, actor, workflow, record_type, int(raw_id))
    except (ValidationFailed, NotFound, Conflict) as exc:
        db.rollback()
        if isinstance(exc, ValidationFailed) and exc.errors:
            message = "; ".join(form_errors(exc, actor.language).values())
        else:
            message = _t(actor, exc.message, **exc.params)
        return _runs_page(
            request, db, actor, workflow, test_error=message, test_record=record, status_code=exc.status
        )
    definition = service.current_definition(db, workflow)
    return _runs_page(
        request,
        db,
        actor,
        workflow,
        test_steps=_step_rows(actor, definition, result["steps"]),
        test_record=record,
    )


@router.get("/runs/{run_id}")
def run_page(run_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    run = service.get_run(db, actor, run_id)
    workflow = service.get_workflow(db, actor, run.workflow_id)
    version = next(v for v in service.list_versions(db, actor, workflow) if v.id == run.version_id)
    row = _run_row(actor, run, _record_names(db, actor, [run]))
    row["steps"] = _step_rows(actor, version.definition, service.run_steps(db, run))
    return render(
        request,
        "workflows/run.html",
        workflow=workflow,
        run=row,
        can_write=_can_write(actor),
        run_status_labels={k: _t(actor, v) for k, v in RUN_STATUS_LABELS.items()},
    )


@router.post("/runs/{run_id}/resume")
async def resume(run_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    run = service.get_run(db, actor, run_id)
    service.resume_run(db, actor, run)
    return redirect(f"/workflows/runs/{run_id}", flash=_t(actor, "Run resumed"), request=request)
