"""Permissions and the record-visibility filter.

Permissions are `<module>:<action>` strings held by roles. Visibility is set by admins per record
type: `own`, `department` or `all`. `visible()` builds the one clause every read path uses (lists,
detail, search, exports, counts, related lists, API); a record outside it answers 404.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ColumnElement, Integer, String, false, func, literal, or_, select, true
from sqlalchemy.orm import Mapped, Session, mapped_column

from carnet.core.context import Actor
from carnet.core.db import Base

ACTIONS = ("read", "create", "update", "delete", "export", "admin")
MODULES = (
    "organisations",
    "contacts",
    "deals",
    "activities",
    "tasks",
    "pipelines",
    "users",
    "departments",
    "roles",
    "custom_fields",
    "tags",
    "imports",
    "audit",
    "jobs",
    "events",
    "company",
    "products",
    "quotes",
    "invoices",
    "payments",
    "contracts",
    "workflows",
    "webhooks",
    "finance",
    "projects",
    "project_templates",
    "transparency",
)
SCOPES = ("own", "department", "all")
DEFAULT_SCOPE = "department"


class VisibilityRule(Base):
    __tablename__ = "visibility_rules"

    record_type: Mapped[str] = mapped_column(String(60), primary_key=True)
    scope: Mapped[str] = mapped_column(String(20), default=DEFAULT_SCOPE)


def all_permissions() -> frozenset[str]:
    return frozenset(f"{m}:{a}" for m in MODULES for a in ACTIONS)


def scope_for(db: Session, record_type: str) -> str:
    scopes: dict[str, str] | None = db.info.get("visibility_scopes")
    if scopes is None:
        # Every rule at once (a handful of rows): a request often reads several record types.
        scopes = dict(db.execute(select(VisibilityRule.record_type, VisibilityRule.scope)).tuples().all())
        remember_scopes(db, scopes)
    return scopes.get(record_type, DEFAULT_SCOPE)


def remember_scopes(db: Session, scopes: dict[str, str]) -> None:
    """The visibility rules (record type -> scope) as `db` reads them, when they were read with
    something else (the API token's query): the request then reads no rule again."""
    db.info["visibility_scopes"] = scopes


def rules_column(dialect: str) -> Any:
    """A scalar subquery of every visibility rule as a JSON object (NULL or {} when none), to add
    to a statement the request runs anyway."""
    rules = VisibilityRule.__table__.c  # table columns: ORM attributes would make the statement an ORM one
    pairs = (rules.record_type, rules.scope)
    if dialect == "postgresql":
        aggregate = func.json_object_agg(*pairs, type_=JSON)
    else:
        aggregate = func.json_group_object(*pairs, type_=JSON)
    return select(aggregate).scalar_subquery()


def set_scope(db: Session, record_type: str, scope: str) -> None:
    rule = db.get(VisibilityRule, record_type)
    if rule is None:
        db.add(VisibilityRule(record_type=record_type, scope=scope))
    else:
        rule.scope = scope
    db.info.pop("visibility_scopes", None)


def visibility(db: Session, actor: Actor, record_type: str) -> str:
    """How much of `record_type` `actor` sees: "all", "own" (the records they own), "department"
    (theirs and their department's) or "none"."""
    if actor.is_admin:
        return "all"
    if actor.user_id is None:
        return "none"
    scope = scope_for(db, record_type)
    if scope == "all":
        return "all"
    if (scope == "own" and not actor.is_manager) or actor.department_id is None:
        return "own"
    return "department"


def visibility_clause(
    kind: str, owner_col: Any, department_col: Any, user_id: Any, department_id: Any
) -> ColumnElement[bool]:
    """The WHERE clause of a `visibility` kind; the ids may be values or bound parameters (a
    statement built once for every user, see core.search)."""
    if kind == "all":
        return true()
    if kind == "none":
        return false()
    mine = owner_col == user_id
    return mine if kind == "own" else or_(mine, department_col == department_id)


def visible(
    db: Session, actor: Actor, record_type: str, owner_col: Any, department_col: Any
) -> ColumnElement[bool]:
    """The WHERE clause selecting the records of `record_type` that `actor` may see."""
    kind = visibility(db, actor, record_type)
    return visibility_clause(kind, owner_col, department_col, actor.user_id, actor.department_id)


def visible_for_model(db: Session, actor: Actor, record_type: str, model: Any) -> ColumnElement[bool]:
    return visible(db, actor, record_type, model.owner_id, model.department_id)


def values_visible(
    db: Session, actor: Actor, record_type: str, owner_id: int | None, department_id: int | None
) -> bool:
    """Whether a record with this owner and department is visible to `actor`, judged by the same
    clause as every read (for a record that is gone, e.g. a deleted record's snapshot)."""
    clause = visible(db, actor, record_type, literal(owner_id, Integer), literal(department_id, Integer))
    return db.scalar(select(literal(True)).where(clause)) is not None
