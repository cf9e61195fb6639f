"""What a run sees: the trigger record and its related records as the API reads them, the owner and
their manager, the trigger, and condition evaluation over all of it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carnet.accounts.models import Role, User
from carnet.core import clock, records
from carnet.core.context import Actor
from carnet.core.db import in_ids
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


class LazyVariables(Mapping[str, Any]):
    """The template and condition variables, each loaded the first time a step reads it: a run
    whose steps only read `deal.amount` never loads the owner, the manager or the organisation.
    Every name the validator allows is a key, so `in` and StrictUndefined behave as if all were
    loaded."""

    def __init__(self, values: dict[str, Any], loaders: dict[str, Callable[[], Any]]) -> None:
        self._values = values
        self._loaders = loaders

    def __getitem__(self, name: str) -> Any:
        if name not in self._values:
            loader = self._loaders.get(name)
            if loader is None:
                raise KeyError(name)
            self._values[name] = loader()
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        return name in self._values or name in self._loaders

    def __iter__(self) -> Iterator[str]:
        yield from self._values
        yield from (name for name in self._loaders if name not in self._values)

    def __len__(self) -> int:
        return len(self._values) + sum(1 for name in self._loaders if name not in self._values)

    def loaded(self) -> set[str]:
        return set(self._values)

    def scope(self, names: Iterable[str]) -> dict[str, Any]:
        """The variables a template reads (by root name), loaded; unknown names are left out."""
        return {name: self[name] for name in names if name in self}


class RunContext:
    """Everything one step needs: the template variables and the loaded records. Only the trigger
    record itself is read up front (a deleted record fails the step); the rest on first use."""

    def __init__(
        self,
        db: Session,
        workflow: Workflow,
        actor: Actor,
        record_type: str | None,
        record_id: int | None,
        record: Any = None,
    ) -> None:
        self.db = db
        self.workflow = workflow
        self.actor = actor
        self.record_type = record_type
        self.record_id = record_id
        self.record = record  # the ORM object
        self.variables = LazyVariables({}, {})
        self._users: dict[str, User | None] = {}

    @property
    def owner(self) -> User | None:
        if "owner" not in self._users:
            owner_id = getattr(self.record, "owner_id", None)
            self._users["owner"] = self.db.get(User, owner_id) if owner_id else None
        return self._users["owner"]

    @property
    def manager(self) -> User | None:
        if "manager" not in self._users:
            self._users["manager"] = manager_of(self.db, self.owner) if self.record is not None else None
        return self._users["manager"]


def read_record(db: Session, actor: Actor, record_type: str, record_id: int) -> tuple[Any, dict[str, Any]]:
    kind = catalogue.RECORD_KINDS[record_type]
    return _as_variables(db, record_type, kind.get(db, actor, record_id))


def _as_variables(db: Session, record_type: str, obj: Any) -> tuple[Any, dict[str, Any]]:
    return obj, _with_extras(record_type, obj, catalogue.RECORD_KINDS[record_type].reads(db, [obj])[0])


def _with_extras(record_type: str, obj: Any, data: dict[str, Any]) -> dict[str, Any]:
    """The API shape of a record plus what templates also read: `cf`, a deal's `name`, `url`."""
    data["cf"] = dict(data.get("custom_fields") or {})
    if record_type == "deal":
        data["name"] = data.get("title")
    data["url"] = f"{get_settings().base_url.rstrip('/')}{records.get(record_type).url_prefix}/{obj.id}"
    return data


def load_records(
    db: Session, record_type: str, record_ids: set[int]
) -> dict[int, tuple[Any, dict[str, Any]]]:
    """The records and their variables for many runs of workflows (whose actor sees every record:
    see `workflow_actor`), with a few queries; a deleted record is missing from the result."""
    kind = catalogue.RECORD_KINDS[record_type]
    model = records.get(record_type).model
    objs = list(db.scalars(select(model).where(in_ids(db, model.id, record_ids)))) if record_ids else []
    return {
        obj.id: (obj, _with_extras(record_type, obj, data))
        for obj, data in zip(objs, kind.reads(db, objs), strict=True)
    }


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
    preloaded: tuple[Any, dict[str, Any]] | None = None,
) -> RunContext:
    """Load the record (NotFound when it was deleted); every other variable the validator allows
    is loaded when a step first reads it. `preloaded` is the record and its variables when the
    caller read them in bulk (`load_records`)."""
    actor = workflow_actor(workflow)
    ctx = RunContext(db, workflow, actor, record_type, record_id)
    values: dict[str, Any] = {
        "now": clock.now(),
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
    loaders: dict[str, Callable[[], Any]] = {
        "owner": lambda: user_dict(ctx.owner),
        "manager": lambda: user_dict(ctx.manager),
    }
    if record_type in catalogue.RECORD_KINDS and record_id is not None:
        loaded: dict[str, Any] = {}
        if preloaded is not None:
            ctx.record, loaded["data"] = preloaded
        else:
            ctx.record = catalogue.RECORD_KINDS[record_type].get(db, actor, record_id)

        def record_data() -> dict[str, Any]:
            if "data" not in loaded:
                loaded["data"] = _as_variables(db, record_type, ctx.record)[1]
            return loaded["data"]

        def related(name: str) -> dict[str, Any]:
            rid = _related_ids(record_type, record_data()).get(name)
            if rid is not None:
                try:
                    return read_record(db, actor, name, rid)[1]
                except NotFound:
                    pass
            return empty_record(name)

        loaders[record_type] = record_data
        loaders["record"] = record_data
        for name in RELATED.get(record_type, ()):
            loaders[name] = lambda name=name: related(name)
    if trigger.get("type") == "schedule":
        loaders["digest"] = lambda: digest(db, None)
    ctx.variables = LazyVariables(values, loaders)
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


def field_value(variables: Mapping[str, Any], record_type: str | None, path: str) -> Any:
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


def evaluate(group: dict[str, Any], variables: Mapping[str, Any], record_type: str | None) -> bool:
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
