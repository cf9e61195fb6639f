"""What a run sees: the trigger record and its related records as the API reads them, the owner and
their manager, the trigger, and condition evaluation over all of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carnet.accounts.models import Role, User
from carnet.core import clock, records
from carnet.core.context import Actor
from carnet.core.errors import NotFound
from carnet.deals.models import Deal
from carnet.settings import get_settings
from carnet.workflows import catalogue
from carnet.workflows.models import Workflow
from carnet.workflows.variables import RELATED

STALE_DAYS = 30  # "stale deals" in the weekly digest


def workflow_actor(workflow: Workflow) -> Actor:
    """Actions write as the workflow: a system actor named after it in the audit trail."""
    return Actor(
        user_id=None,
        department_id=workflow.department_id,
        role="system",
        is_admin=True,
        is_manager=True,
        label=f"Workflow {workflow.name}"[:200],
    )


def user_dict(user: User | None) -> dict[str, Any]:
    if user is None:
        return {name: None for name in catalogue.USER_FIELDS}
    return {
        "id": user.id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "full_name": user.full_name,
    }


def empty_record(record_type: str) -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(catalogue.native_fields(record_type))
    out.update(cf={}, url=None)
    return out


def manager_of(db: Session, user: User | None) -> User | None:
    """The user's manager; else a manager of their department (not themselves)."""
    if user is None:
        return None
    if user.manager_id:
        manager = db.get(User, user.manager_id)
        if manager is not None and manager.active:
            return manager
    if user.department_id is None:
        return None
    return db.scalar(
        select(User)
        .join(Role, Role.id == User.role_id)
        .where(
            User.department_id == user.department_id,
            User.active.is_(True),
            Role.is_manager.is_(True),
            Role.is_admin.is_(False),
            User.id != user.id,
        )
        .order_by(User.id)
        .limit(1)
    )


def managers(db: Session) -> list[User]:
    """Every active user whose role manages a department (administrators excluded)."""
    return list(
        db.scalars(
            select(User)
            .join(Role, Role.id == User.role_id)
            .where(User.active.is_(True), Role.is_manager.is_(True), Role.is_admin.is_(False))
            .order_by(User.id)
        )
    )


@dataclass
class RunContext:
    """Everything one step needs: the template variables and the loaded records."""

    workflow: Workflow
    actor: Actor
    record_type: str | None
    record_id: int | None
    record: Any = None  # the ORM object
    variables: dict[str, Any] = field(default_factory=dict)
    owner: User | None = None
    manager: User | None = None


def read_record(db: Session, actor: Actor, record_type: str, record_id: int) -> tuple[Any, dict[str, Any]]:
    kind = catalogue.RECORD_KINDS[record_type]
    obj = kind.get(db, actor, record_id)
    data = kind.reads(db, [obj])[0]
    data["cf"] = dict(data.get("custom_fields") or {})
    if record_type == "deal":
        data["name"] = data.get("title")
    data["url"] = f"{get_settings().base_url.rstrip('/')}{records.get(record_type).url_prefix}/{record_id}"
    return obj, data


def _related_ids(record_type: str, data: dict[str, Any]) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    if record_type == "deal":
        out["organisation"] = data.get("organisation_id")
        out["contact"] = (data.get("contact_ids") or [None])[0]
    elif record_type == "contact":
        links = data.get("organisations") or []
        primary = next((link for link in links if link.get("is_primary")), links[0] if links else None)
        out["organisation"] = primary.get("organisation_id") if primary else None
    elif record_type == "task":
        if data.get("record_type") in ("organisation", "contact", "deal"):
            out[data["record_type"]] = data.get("record_id")
    elif record_type == "activity":
        for name in ("organisation", "contact", "deal"):
            out[name] = data.get(f"{name}_id")
    return out


def build(
    db: Session,
    workflow: Workflow,
    record_type: str | None,
    record_id: int | None,
    trigger: dict[str, Any],
) -> RunContext:
    """Load the record (NotFound when it was deleted) and fill every variable the validator allows."""
    actor = workflow_actor(workflow)
    ctx = RunContext(workflow, actor, record_type, record_id)
    now = clock.now()
    variables: dict[str, Any] = {
        "now": now,
        "trigger": {
            "type": trigger.get("type"),
            "event_id": trigger.get("event_id"),
            "changes": trigger.get("changes") or {},
            "payload": trigger.get("payload") or {},
            "record_type": record_type,
            "record_id": record_id,
        },
        "webhook": trigger.get("webhook") or {},
        "recipient": user_dict(None),
    }
    if record_type in catalogue.RECORD_KINDS and record_id is not None:
        obj, data = read_record(db, actor, record_type, record_id)
        ctx.record = obj
        variables[record_type] = data
        variables["record"] = data
        for name in RELATED.get(record_type, ()):
            variables[name] = empty_record(name)
        for name, rid in _related_ids(record_type, data).items():
            if rid is None:
                continue
            try:
                variables[name] = read_record(db, actor, name, rid)[1]
            except NotFound:
                pass
        ctx.owner = db.get(User, obj.owner_id) if getattr(obj, "owner_id", None) else None
        ctx.manager = manager_of(db, ctx.owner)
    variables["owner"] = user_dict(ctx.owner)
    variables["manager"] = user_dict(ctx.manager)
    if trigger.get("type") == "schedule":
        variables["digest"] = digest(db, None)
    ctx.variables = variables
    return ctx


def digest(db: Session, department_id: int | None) -> dict[str, Any]:
    """Pipeline figures for the weekly digest (of one department when given)."""
    now = clock.now()
    base = select(func.count(), func.coalesce(func.sum(Deal.amount), 0)).select_from(Deal)
    if department_id is not None:
        base = base.where(Deal.department_id == department_id)
    open_count, open_amount = db.execute(base.where(Deal.status == "open")).one()
    won_count, won_amount = db.execute(
        base.where(Deal.status == "won", Deal.closed_at >= now - timedelta(days=7))
    ).one()
    stale = db.execute(
        base.where(Deal.status == "open", Deal.updated_at < now - timedelta(days=STALE_DAYS))
    ).one()[0]
    return {
        "open_deals": open_count,
        "open_amount": f"{Decimal(open_amount):.2f}",
        "won_deals_7_days": won_count,
        "won_amount_7_days": f"{Decimal(won_amount):.2f}",
        "stale_deals": stale,
    }


# -- conditions ------------------------------------------------------------------------------------------


def field_value(variables: dict[str, Any], record_type: str | None, path: str) -> Any:
    record = variables.get(record_type or "", {}) or {}
    if path.startswith("changes."):
        change = (variables["trigger"]["changes"] or {}).get(path.removeprefix("changes."))
        return change.get("new") if isinstance(change, dict) else None
    if path.startswith("cf."):
        return (record.get("cf") or {}).get(path[3:])
    return record.get(path)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value).replace(" ", "").replace(",", "."))
    except (InvalidOperation, ValueError):
        return None


def _comparable(a: Any, b: Any) -> tuple[Any, Any] | None:
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None:
        return na, nb
    if a is None or b is None:
        return None
    if isinstance(a, datetime | date):
        a = a.isoformat()
    return str(a), str(b)


def _equals(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return str(a).lower() == str(b).lower()
    pair = _comparable(a, b)
    if pair is None:
        return a is None and b in (None, "")
    return pair[0] == pair[1]


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [v.strip() for v in value.split(",")]
    return [value]


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "eq":
        return _equals(actual, expected)
    if op == "ne":
        return not _equals(actual, expected)
    if op in ("gt", "gte", "lt", "lte"):
        pair = _comparable(actual, expected)
        if pair is None:
            return False
        a, b = pair
        return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]
    if op in ("contains", "not_contains"):
        if isinstance(actual, list):
            found = any(_equals(item, expected) for item in actual)
        else:
            found = actual is not None and str(expected).lower() in str(actual).lower()
        return found if op == "contains" else not found
    if op in ("in", "not_in"):
        found = any(_equals(actual, item) for item in _as_list(expected))
        return found if op == "in" else not found
    if op == "is_empty":
        return _is_empty(actual)
    if op == "is_not_empty":
        return not _is_empty(actual)
    raise ValueError(f"unknown operator {op}")


def evaluate(group: dict[str, Any], variables: dict[str, Any], record_type: str | None) -> bool:
    """True when the (nested all/any) condition group holds."""
    if "all" in group:
        return all(evaluate(item, variables, record_type) for item in group["all"])
    if "any" in group:
        return any(evaluate(item, variables, record_type) for item in group["any"])
    path, op = group["field"], group["op"]
    if op == "changed":
        name = path.removeprefix("changes.")
        return name in (variables["trigger"]["changes"] or {})
    return compare(op, field_value(variables, record_type, path), group.get("value"))
