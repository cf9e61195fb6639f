"""Checking a workflow definition before it is saved or enabled: unknown steps, fields, variables,
cycles without a wait, unreachable steps, missing params. Problems are returned as
{step, field, message} so the builder shows each next to its node."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.accounts.models import Department, User
from carnet.deals.models import Pipeline, Stage
from carnet.projects.models import ProjectTemplate
from carnet.workflows import catalogue, variables

STEP_TYPES = ("condition", "action", "wait", "stop")
STEP_ID = re.compile(r"^[A-Za-z0-9_-]{1,60}$")
DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)
MAX_STEPS = 200
RATE = re.compile(r"^\s*([1-9]\d{0,5})\s*/\s*(second|minute|hour|day)\s*$")
MAX_WAIT = timedelta(days=366 * 2)


def parse_duration(value: Any) -> timedelta | None:
    """An ISO-8601 duration such as P3D, PT1H30M or P2W (no months/years: they have no fixed length)."""
    if not isinstance(value, str):
        return None
    match = DURATION.match(value.strip().upper())
    if not match or value.strip().upper() in ("P", "PT"):
        return None
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    return timedelta(
        weeks=parts.get("weeks", 0),
        days=parts.get("days", 0),
        hours=parts.get("hours", 0),
        minutes=parts.get("minutes", 0),
        seconds=parts.get("seconds", 0),
    )


def valid_rate(value: Any) -> bool:
    """A rate limit such as "10/minute" (the `limits` package syntax, one amount per unit)."""
    return isinstance(value, str) and RATE.match(value) is not None


class Problems:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, step: str | None, field: str, message: str, **params: Any) -> None:
        """`message` is an English template translated with `params` where it is shown."""
        self.items.append(
            {
                "step": step,
                "field": field,
                "message": message.format(**params) if params else message,
                "template": message,
                "params": {k: str(v) for k, v in params.items()},
            }
        )


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,9}", value.strip()):
        return int(value)
    return None


def field_sets(db: Session) -> dict[str, set[str]]:
    """Fields templates may read on each record type."""
    out = {}
    for name in catalogue.RECORD_KINDS:
        out[name] = set(catalogue.native_fields(name)) | {"cf", "url"}
    return out


def condition_fields(db: Session, record_type: str | None) -> set[str]:
    if record_type not in catalogue.RECORD_KINDS:
        return set()
    fields = set(catalogue.native_fields(record_type))
    fields |= {f"cf.{key}" for key in catalogue.custom_fields(db, record_type)}
    return fields


def validate(db: Session, definition: Any) -> list[dict[str, Any]]:
    problems = Problems()
    if not isinstance(definition, dict):
        problems.add(None, "definition", "The definition must be a JSON object")
        return problems.items
    trigger = definition.get("trigger")
    if not isinstance(trigger, dict):
        problems.add("trigger", "trigger", "Choose a trigger")
        trigger = {}
    _check_trigger(db, trigger, problems)
    steps = definition.get("steps")
    if steps is None:
        steps = {}
    if not isinstance(steps, dict):
        problems.add(None, "steps", "Steps must be a JSON object keyed by step id")
        return problems.items
    if len(steps) > MAX_STEPS:
        problems.add(None, "steps", "At most {max} steps", max=MAX_STEPS)
        return problems.items
    start = definition.get("start")
    if not steps:
        if start is not None:
            problems.add(None, "start", "The first step does not exist")
    elif start not in steps:
        problems.add(None, "start", "The first step does not exist")
    record_type = trigger.get("record_type") if trigger.get("type") in catalogue.TRIGGERS else None
    roots = variables.allowed_roots(trigger, field_sets(db))
    cond_fields = condition_fields(db, record_type)
    for step_id, step in steps.items():
        if not STEP_ID.match(str(step_id)):
            problems.add(str(step_id), "id", "Step ids use letters, digits, - and _ (at most 60)")
        if not isinstance(step, dict):
            problems.add(str(step_id), "type", "Each step must be a JSON object")
            continue
        _check_step(db, str(step_id), step, steps, record_type, trigger, roots, cond_fields, problems)
    if steps and start in steps:
        _check_graph(start, steps, problems)
    return problems.items


# -- trigger ---------------------------------------------------------------------------------------------


def _check_trigger(db: Session, trigger: dict[str, Any], problems: Problems) -> None:
    ttype = trigger.get("type")
    spec = catalogue.TRIGGERS.get(ttype) if isinstance(ttype, str) else None
    if spec is None:
        problems.add("trigger", "type", "Unknown trigger")
        return
    record_type = trigger.get("record_type")
    if spec.record_types:
        if record_type not in spec.record_types:
            problems.add(
                "trigger", "record_type", "Choose one of: {values}", values=", ".join(spec.record_types)
            )
            return
    elif record_type not in (None, ""):
        problems.add("trigger", "record_type", "This trigger has no record")
    params = trigger.get("params") or {}
    if not isinstance(params, dict):
        problems.add("trigger", "params", "Params must be a JSON object")
        return
    for name in spec.required:
        if params.get(name) in (None, ""):
            problems.add("trigger", f"params.{name}", "This field is required")
    for name in params:
        if name not in spec.params:
            problems.add("trigger", f"params.{name}", "Unknown parameter")
    if ttype == "field.changed" and params.get("field"):
        if params["field"] not in condition_fields(db, record_type):
            problems.add("trigger", "params.field", "Unknown field: {name}", name=params["field"])
    if ttype == "date_relative":
        field = params.get("field")
        kind = catalogue.RECORD_KINDS[record_type]
        date_cfs = {
            f"cf.{k}"
            for k, t in catalogue.custom_fields(db, record_type).items()
            if t in ("date", "datetime")
        }
        if field and field not in kind.date_fields and field not in date_cfs:
            problems.add("trigger", "params.field", "Not a date field: {name}", name=field)
        if params.get("days") not in (None, "") and _int(params.get("days")) is None:
            problems.add("trigger", "params.days", "Must be a whole number of days")
    if ttype == "no_activity":
        days = _int(params.get("days"))
        if params.get("days") not in (None, "") and (days is None or days < 1):
            problems.add("trigger", "params.days", "Must be a whole number of days, at least 1")
        _check_stage(db, params, "stage_id", problems)
    if ttype == "task.due" and params.get("offset_minutes") not in (None, ""):
        if _int(params["offset_minutes"]) is None:
            problems.add("trigger", "params.offset_minutes", "Must be a whole number of minutes")
    if ttype == "deal.stage_changed":
        for name in ("from_stage_id", "to_stage_id"):
            _check_stage(db, params, name, problems)
        if params.get("pipeline_id") not in (None, ""):
            pid = _int(params["pipeline_id"])
            if pid is None or db.get(Pipeline, pid) is None:
                problems.add("trigger", "params.pipeline_id", "Unknown pipeline")
    if ttype == "schedule":
        cron = params.get("cron")
        if cron and (not isinstance(cron, str) or not croniter.is_valid(cron)):
            problems.add("trigger", "params.cron", "Not a valid cron expression")
        tz = params.get("timezone") or "UTC"
        try:
            ZoneInfo(str(tz))
        except (ZoneInfoNotFoundError, ValueError):
            problems.add("trigger", "params.timezone", "Unknown time zone: {name}", name=tz)


def _check_stage(db: Session, params: dict[str, Any], name: str, problems: Problems) -> None:
    if params.get(name) in (None, ""):
        return
    sid = _int(params[name])
    if sid is None or db.get(Stage, sid) is None:
        problems.add("trigger", f"params.{name}", "Unknown stage")


# -- steps -----------------------------------------------------------------------------------------------


def _check_link(step_id: str, field: str, target: Any, steps: dict[str, Any], problems: Problems) -> None:
    if target is None:
        return
    if not isinstance(target, str) or target not in steps:
        problems.add(step_id, field, "Unknown step: {name}", name=target)
    elif target == step_id:
        problems.add(step_id, field, "A step cannot lead to itself")


def _check_templates(step_id: str, field: str, value: Any, roots: dict[str, Any], problems: Problems) -> None:
    for text in variables.strings_in(value):
        try:
            bad = variables.unknown_variables(text, roots)
        except variables.TemplateProblem as exc:
            problems.add(step_id, field, "Template error: {error}", error=str(exc))
            continue
        for name in bad:
            problems.add(step_id, field, "Unknown variable: {name}", name=name)


def _check_step(
    db: Session,
    step_id: str,
    step: dict[str, Any],
    steps: dict[str, Any],
    record_type: str | None,
    trigger: dict[str, Any],
    roots: dict[str, Any],
    cond_fields: set[str],
    problems: Problems,
) -> None:
    stype = step.get("type")
    if stype not in STEP_TYPES:
        problems.add(step_id, "type", "Choose one of: {values}", values=", ".join(STEP_TYPES))
        return
    if stype == "condition":
        _check_link(step_id, "then", step.get("then"), steps, problems)
        _check_link(step_id, "else", step.get("else"), steps, problems)
        group = step.get("if")
        if not isinstance(group, dict):
            problems.add(step_id, "if", "Add a condition")
        else:
            _check_group(step_id, "if", group, record_type, cond_fields, problems, 0)
        return
    if stype == "stop":
        return
    _check_link(step_id, "next", step.get("next"), steps, problems)
    params = step.get("params") or {}
    if not isinstance(params, dict):
        problems.add(step_id, "params", "Params must be a JSON object")
        return
    if stype == "wait":
        _check_wait(step_id, params, record_type, roots, problems)
        return
    _check_action(db, step_id, step.get("action"), params, record_type, trigger, roots, problems)


def _check_wait(
    step_id: str, params: dict[str, Any], record_type: str | None, roots: dict[str, Any], problems: Problems
) -> None:
    if "duration" in params:
        delta = parse_duration(params["duration"])
        if delta is None or delta <= timedelta(0):
            problems.add(step_id, "params.duration", "Give an ISO-8601 duration such as P3D or PT2H")
        elif delta > MAX_WAIT:
            problems.add(step_id, "params.duration", "A wait lasts at most two years")
    elif "until" in params:
        until = params["until"]
        if not isinstance(until, str) or not until.strip():
            problems.add(step_id, "params.until", "This field is required")
        elif "{" in until:
            _check_templates(step_id, "params.until", until, roots, problems)
        else:
            kind = catalogue.RECORD_KINDS.get(record_type or "")
            field = (
                until.split(".", 1)[1] if "." in until and until.split(".", 1)[0] == record_type else until
            )
            if kind is None or field not in kind.date_fields:
                problems.add(step_id, "params.until", "Not a date field: {name}", name=until)
        if "offset_minutes" in params and _int(params["offset_minutes"]) is None:
            problems.add(step_id, "params.offset_minutes", "Must be a whole number of minutes")
    else:
        problems.add(step_id, "params.duration", "Give a duration or a date to wait until")


def _check_group(
    step_id: str,
    path: str,
    group: dict[str, Any],
    record_type: str | None,
    cond_fields: set[str],
    problems: Problems,
    depth: int,
) -> None:
    if depth > 10:
        problems.add(step_id, path, "Conditions are nested too deeply")
        return
    keys = [k for k in ("all", "any") if k in group]
    if keys:
        items = group[keys[0]]
        if len(keys) > 1 or not isinstance(items, list) or not items:
            problems.add(step_id, path, "A group holds a non-empty list under all or any")
            return
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                problems.add(step_id, f"{path}.{keys[0]}.{i}", "Each condition must be a JSON object")
                continue
            _check_group(
                step_id, f"{path}.{keys[0]}.{i}", item, record_type, cond_fields, problems, depth + 1
            )
        return
    field, op = group.get("field"), group.get("op")
    if record_type is None:
        problems.add(step_id, f"{path}.field", "This trigger has no record to compare")
        return
    if not isinstance(field, str) or not _known_condition_field(field, cond_fields):
        problems.add(step_id, f"{path}.field", "Unknown field: {name}", name=field)
    if op not in catalogue.OPERATORS:
        problems.add(step_id, f"{path}.op", "Choose one of: {values}", values=", ".join(catalogue.OPERATORS))
    elif op not in catalogue.UNARY_OPERATORS and group.get("value") is None:
        problems.add(step_id, f"{path}.value", "This field is required")


def _known_condition_field(field: str, cond_fields: set[str]) -> bool:
    if field.startswith("changes."):
        field = field.removeprefix("changes.")
    return field in cond_fields


def _check_action(
    db: Session,
    step_id: str,
    action: Any,
    params: dict[str, Any],
    record_type: str | None,
    trigger: dict[str, Any],
    roots: dict[str, Any],
    problems: Problems,
) -> None:
    spec = catalogue.ACTIONS.get(action) if isinstance(action, str) else None
    if spec is None:
        problems.add(step_id, "action", "Unknown action")
        return
    for name in spec.required:
        if params.get(name) in (None, "", {}, []):
            problems.add(step_id, f"params.{name}", "This field is required")
    for name in params:
        if name not in spec.params:
            problems.add(step_id, f"params.{name}", "Unknown parameter")
    if spec.needs_record and record_type is None:
        problems.add(step_id, "action", "This action needs a trigger with a record")
        return
    if spec.record_types and record_type not in spec.record_types:
        problems.add(step_id, "action", "Only for: {values}", values=", ".join(spec.record_types))
        return
    for name, value in params.items():
        if name in catalogue.TEMPLATED_PARAMS:
            _check_templates(step_id, f"params.{name}", value, roots, problems)
    checker = _ACTION_CHECKS.get(spec.name)
    if checker is not None:
        checker(db, step_id, params, record_type, problems)


def _check_recipient(step_id: str, field: str, to: Any, record_type: str | None, problems: Problems) -> None:
    if to in ("owner", "manager") and record_type is None:
        problems.add(step_id, field, "This trigger has no record with an owner")
    elif to == "contact" and record_type not in ("contact", "deal", "task", "activity"):
        problems.add(step_id, field, "This record has no contact")
    elif not isinstance(to, str):
        problems.add(step_id, field, "Give owner, manager, managers, contact or an address")


def _check_create_task(
    db: Session, step_id: str, p: dict[str, Any], rt: str | None, problems: Problems
) -> None:
    if p.get("due_in_days") not in (None, "") and _int(p["due_in_days"]) is None:
        problems.add(step_id, "params.due_in_days", "Must be a whole number of days")
    if p.get("priority") not in (None, "") and p["priority"] not in catalogue.TASK_PRIORITIES:
        problems.add(
            step_id, "params.priority", "Choose one of: {values}", values=", ".join(catalogue.TASK_PRIORITIES)
        )
    assignee = p.get("assignee", "owner")
    if isinstance(assignee, dict):
        uid = _int(assignee.get("user_id"))
        if uid is None or db.get(User, uid) is None:
            problems.add(step_id, "params.assignee", "Unknown user")
    elif assignee not in ("owner", "manager", None, ""):
        problems.add(step_id, "params.assignee", "Give owner, manager or a user id")
    elif rt is None:
        problems.add(step_id, "params.assignee", "Without a record, assign the task to a user")


def _check_create_project(
    db: Session, step_id: str, p: dict[str, Any], rt: str | None, problems: Problems
) -> None:
    template_id = _int(p.get("template_id"))
    template = db.get(ProjectTemplate, template_id) if template_id is not None else None
    if template is None or not template.active:
        problems.add(step_id, "params.template_id", "Choose an active project template")
    days = p.get("target_days")
    if days not in (None, "") and (_int(days) is None or not 0 <= int(days) <= 3650):
        problems.add(step_id, "params.target_days", "Must be a whole number of days")
    owner = p.get("owner", "owner")
    if isinstance(owner, dict):
        uid = _int(owner.get("user_id"))
        if uid is None or db.get(User, uid) is None:
            problems.add(step_id, "params.owner", "Unknown user")
    elif owner not in ("owner", "manager", None, ""):
        problems.add(step_id, "params.owner", "Give owner, manager or a user id")
    if rt not in ("deal", "organisation"):
        problems.add(step_id, "action", "Only for: {values}", values="deal, organisation")


def _check_log_activity(
    db: Session, step_id: str, p: dict[str, Any], rt: str | None, problems: Problems
) -> None:
    if p.get("kind", "note") not in catalogue.ACTIVITY_KINDS:
        problems.add(
            step_id, "params.kind", "Choose one of: {values}", values=", ".join(catalogue.ACTIVITY_KINDS)
        )
    if rt not in ("organisation", "contact", "deal"):
        problems.add(step_id, "action", "Only for: {values}", values="organisation, contact, deal")


def _check_update_fields(
    db: Session, step_id: str, p: dict[str, Any], rt: str | None, problems: Problems
) -> None:
    fields = p.get("fields")
    if not isinstance(fields, dict):
        problems.add(step_id, "params.fields", "Give the fields to set as a JSON object")
        return
    allowed = catalogue.updatable_fields(rt or "") if rt else set()
    cfs = set(catalogue.custom_fields(db, rt)) if rt else set()
    for name in fields:
        if name.startswith("cf."):
            if name[3:] not in cfs:
                problems.add(step_id, f"params.fields.{name}", "Unknown field: {name}", name=name)
        elif name not in allowed:
            problems.add(step_id, f"params.fields.{name}", "Unknown field: {name}", name=name)


def _check_assign_owner(
    db: Session, step_id: str, p: dict[str, Any], rt: str | None, problems: Problems
) -> None:
    strategy = p.get("strategy")
    if strategy not in catalogue.ASSIGN_STRATEGIES:
        problems.add(
            step_id,
            "params.strategy",
            "Choose one of: {values}",
            values=", ".join(catalogue.ASSIGN_STRATEGIES),
        )
        return
    if strategy == "user":
        uid = _int(p.get("user_id"))
        if uid is None or db.get(User, uid) is None:
            problems.add(step_id, "params.user_id", "Unknown user")
    else:
        did = _int(p.get("department_id"))
        if did is None or db.get(Department, did) is None:
            problems.add(step_id, "params.department_id", "Unknown department")
        elif not db.scalar(select(User.id).where(User.department_id == did, User.active.is_(True)).limit(1)):
            problems.add(step_id, "params.department_id", "This department has no active user")


def _check_tag(db: Session, step_id: str, p: dict[str, Any], rt: str | None, problems: Problems) -> None:
    tag = p.get("tag")
    if isinstance(tag, str) and len(tag) > 60 and "{" not in tag:
        problems.add(step_id, "params.tag", "At most 60 characters")


def _check_email(db: Session, step_id: str, p: dict[str, Any], rt: str | None, problems: Problems) -> None:
    _check_recipient(step_id, "params.to", p.get("to"), rt, problems)


def _check_webhook_message(
    db: Session, step_id: str, p: dict[str, Any], rt: str | None, problems: Problems
) -> None:
    url = p.get("webhook_url")
    if isinstance(url, str) and not url.startswith(("https://", "http://")):
        problems.add(step_id, "params.webhook_url", "Give an http(s) URL")


def _check_http(db: Session, step_id: str, p: dict[str, Any], rt: str | None, problems: Problems) -> None:
    method = str(p.get("method") or "").upper()
    if method not in catalogue.HTTP_METHODS:
        problems.add(
            step_id, "params.method", "Choose one of: {values}", values=", ".join(catalogue.HTTP_METHODS)
        )
    url = p.get("url")
    if isinstance(url, str) and not url.startswith(("https://", "http://")) and not url.startswith("{{"):
        problems.add(step_id, "params.url", "Give an http(s) URL")
    headers = p.get("headers")
    if headers is not None and (
        not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values())
    ):
        problems.add(step_id, "params.headers", "Headers are a JSON object of strings")


_ACTION_CHECKS = {
    "create_task": _check_create_task,
    "log_activity": _check_log_activity,
    "create_project": _check_create_project,
    "update_fields": _check_update_fields,
    "assign_owner": _check_assign_owner,
    "add_tag": _check_tag,
    "remove_tag": _check_tag,
    "send_email": _check_email,
    "notify": _check_email,
    "slack": _check_webhook_message,
    "teams": _check_webhook_message,
    "http_request": _check_http,
}


# -- graph ------------------------------------------------------------------------------------------------


def successors(step: Any) -> list[str]:
    if not isinstance(step, dict):
        return []
    keys = ("then", "else") if step.get("type") == "condition" else ("next",)
    return [step[k] for k in keys if isinstance(step.get(k), str)]


def _check_graph(start: str, steps: dict[str, Any], problems: Problems) -> None:
    seen: set[str] = set()
    stack = [start]
    while stack:
        sid = stack.pop()
        if sid in seen or sid not in steps:
            continue
        seen.add(sid)
        stack.extend(successors(steps[sid]))
    for sid in steps:
        if sid not in seen:
            problems.add(sid, "id", "This step cannot be reached from the first step")
    # A cycle is only allowed through a wait: otherwise one run would loop forever without pause.
    color: dict[str, int] = {}
    reported: set[str] = set()

    def dfs(sid: str, path: list[str]) -> None:
        color[sid] = 1
        path.append(sid)
        for nxt in successors(steps.get(sid)):
            if nxt not in steps:
                continue
            if color.get(nxt) == 1:
                cycle = path[path.index(nxt) :]
                if not any(steps[c].get("type") == "wait" for c in cycle) and nxt not in reported:
                    reported.add(nxt)
                    problems.add(nxt, "next", "These steps loop without a wait")
            elif color.get(nxt) is None:
                dfs(nxt, path)
        path.pop()
        color[sid] = 2

    dfs(start, [])
