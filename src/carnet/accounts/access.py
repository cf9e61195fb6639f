"""Departments, roles and record visibility: who may see and do what. All writes go through here."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carnet.accounts.models import Department, Role, User
from carnet.accounts.service import get_department, get_role, plain_page, require
from carnet.core import audit, lifecycle, permissions, records
from carnet.core.context import Actor
from carnet.core.errors import Conflict, FieldErrors, NotFound, ValidationFailed
from carnet.core.listing import Listing, ListParams
from carnet.core.permissions import ACTIONS, MODULES, SCOPES

ROLE_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,59}$")
DEPARTMENT_CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


# -- listings ---------------------------------------------------------------------------------------


DEPARTMENT_LISTING = Listing(
    model=Department,
    record_type="department",
    fields={
        "id": Department.id,
        "name": Department.name,
        "code": Department.code,
        "created_at": Department.created_at,
        "updated_at": Department.updated_at,
    },
    sortable={"name", "code", "created_at", "updated_at"},
)
ROLE_LISTING = Listing(
    model=Role,
    record_type="role",
    fields={
        "id": Role.id,
        "name": Role.name,
        "label": Role.label,
        "builtin": Role.builtin,
        "is_admin": Role.is_admin,
        "is_manager": Role.is_manager,
        "created_at": Role.created_at,
        "updated_at": Role.updated_at,
    },
    sortable={"name", "label", "created_at", "updated_at"},
)


# -- departments ------------------------------------------------------------------------------------


def page_departments(db: Session, actor: Actor, params: ListParams) -> tuple[list[Department], str | None]:
    require(actor, "departments:read")
    return plain_page(db, DEPARTMENT_LISTING, select(Department), params)


def find_department(db: Session, actor: Actor, department_id: int) -> Department:
    """A department the actor may read, else NotFound."""
    if not actor.can("departments:read"):
        raise NotFound()
    return get_department(db, department_id)


def _department_fields(db: Session, data: dict[str, Any], current: Department | None) -> None:
    errors = FieldErrors()
    name = (data.get("name") or "").strip() if "name" in data or current is None else current.name
    if not name:
        errors.add("name", "This field is required", "required")
    elif len(name) > 120:
        errors.add("name", "At most {max} characters", "too_long", max=120)
    code = (data.get("code") or "").strip() if "code" in data else (current.code if current else "")
    if not code:
        code = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-")[:40] or "department"
    elif not DEPARTMENT_CODE_RE.match(code):
        errors.add("code", "Use lower-case letters, digits, dashes and underscores (at most 40)", "invalid")
    description = (
        data.get("description") if "description" in data else (current.description if current else "")
    )
    if len(description or "") > 500:
        errors.add("description", "At most {max} characters", "too_long", max=500)
    for fld, value in (("name", name), ("code", code)):
        clash = db.scalar(select(Department.id).where(getattr(Department, fld) == value))
        if clash and (current is None or clash != current.id):
            errors.add(fld, "This value is already used", "unique")
    errors.raise_if_any()
    data["name"], data["code"], data["description"] = name, code, description or ""


def create_department(db: Session, actor: Actor, data: dict[str, Any]) -> Department:
    require(actor, "departments:create")
    _department_fields(db, data, None)
    dept = Department(
        name=data["name"],
        code=data["code"],
        description=data["description"],
        created_by_id=actor.user_id,
    )
    db.add(dept)
    db.flush()
    audit.record(
        db,
        actor,
        "create",
        "department",
        dept.id,
        audit.diff({}, {"name": dept.name, "code": dept.code, "description": dept.description}),
        dept.name,
    )
    db.commit()
    return dept


def update_department(
    db: Session, actor: Actor, dept: Department, data: dict[str, Any], expected_version: int | None = None
) -> Department:
    require(actor, "departments:update")
    lifecycle.check_version(dept, expected_version)
    old = {"name": dept.name, "code": dept.code, "description": dept.description}
    _department_fields(db, data, dept)
    dept.name, dept.code, dept.description = data["name"], data["code"], data["description"]
    changes = audit.diff(old, {"name": dept.name, "code": dept.code, "description": dept.description})
    if changes:
        dept.updated_by_id = actor.user_id
        audit.record(db, actor, "update", "department", dept.id, changes, dept.name)
    db.commit()
    return dept


def delete_department(
    db: Session, actor: Actor, dept: Department, expected_version: int | None = None
) -> None:
    require(actor, "departments:delete")
    lifecycle.check_version(dept, expected_version)
    if db.scalar(select(func.count()).select_from(User).where(User.department_id == dept.id)):
        raise Conflict("This department still has users")
    audit.record(
        db, actor, "delete", "department", dept.id, {"name": {"old": dept.name, "new": None}}, dept.name
    )
    db.delete(dept)
    db.commit()


def user_counts_by_department(db: Session) -> dict[int, int]:
    rows = db.execute(
        select(User.department_id, func.count())
        .where(User.department_id.is_not(None))
        .group_by(User.department_id)
    )
    return {dept_id: count for dept_id, count in rows}


# -- roles ------------------------------------------------------------------------------------------


def page_roles(db: Session, actor: Actor, params: ListParams) -> tuple[list[Role], str | None]:
    require(actor, "roles:read")
    return plain_page(db, ROLE_LISTING, select(Role), params)


def find_role(db: Session, actor: Actor, role_id: int) -> Role:
    if not actor.can("roles:read"):
        raise NotFound()
    return get_role(db, role_id)


def _valid_permissions(actor: Actor, perms: Any, errors: FieldErrors) -> list[str]:
    if not isinstance(perms, list | tuple | set):
        errors.add("permissions", "Must be a list of permissions", "invalid_type")
        return []
    valid = permissions.all_permissions()
    perms = [str(p) for p in perms]
    bad = [p for p in perms if p not in valid]
    if bad:
        errors.add("permissions", "Unknown permissions: {names}", "unknown", names=", ".join(bad[:5]))
        return []
    # Nobody hands out rights they do not hold themselves (no escalation through roles).
    beyond = [p for p in perms if not actor.can(p)]
    if beyond:
        errors.add(
            "permissions",
            "You cannot grant permissions you do not hold: {names}",
            "forbidden",
            names=", ".join(beyond[:5]),
        )
    return sorted(set(perms))


def _role_label(data: dict[str, Any], default: str, errors: FieldErrors) -> str:
    label = (data.get("label") or "").strip() or default
    if len(label) > 120:
        errors.add("label", "At most {max} characters", "too_long", max=120)
    return label


def create_role(db: Session, actor: Actor, data: dict[str, Any]) -> Role:
    require(actor, "roles:admin")
    errors = FieldErrors()
    name = (data.get("name") or "").strip().lower()
    if not name:
        errors.add("name", "This field is required", "required")
    elif not ROLE_NAME_RE.match(name):
        errors.add(
            "name",
            "Use lower-case letters, digits, dashes and underscores, starting with a letter",
            "invalid",
        )
    elif db.scalar(select(Role.id).where(Role.name == name)):
        errors.add("name", "This value is already used", "unique")
    perms = _valid_permissions(actor, list(data.get("permissions") or []), errors)
    label = _role_label(data, name, errors)
    if data.get("is_manager") and not (actor.is_manager or actor.is_admin):
        errors.add("is_manager", "Only managers and administrators give the manager flag", "forbidden")
    errors.raise_if_any()
    role = Role(
        name=name,
        label=label,
        builtin=False,
        is_manager=bool(data.get("is_manager")),
        is_admin=False,
        permissions=perms,
        created_by_id=actor.user_id,
    )
    db.add(role)
    db.flush()
    audit.record(
        db,
        actor,
        "permission_change",
        "role",
        role.id,
        audit.diff({}, {"name": name, "label": label, "is_manager": role.is_manager, "permissions": perms}),
        name,
    )
    db.commit()
    return role


def update_role(
    db: Session, actor: Actor, role: Role, data: dict[str, Any], expected_version: int | None = None
) -> Role:
    require(actor, "roles:admin")
    lifecycle.check_version(role, expected_version)
    if role.is_admin:
        raise Conflict("The administrator role cannot be changed")
    errors = FieldErrors()
    old = {"label": role.label, "is_manager": role.is_manager, "permissions": sorted(role.permissions or [])}
    new = dict(old)
    if "permissions" in data:
        new["permissions"] = _valid_permissions(actor, data["permissions"] or [], errors)
    if "label" in data:
        new["label"] = _role_label(data, role.name, errors)
    if "is_manager" in data:
        new["is_manager"] = bool(data["is_manager"])
        if new["is_manager"] and not old["is_manager"] and not (actor.is_manager or actor.is_admin):
            errors.add("is_manager", "Only managers and administrators give the manager flag", "forbidden")
    errors.raise_if_any()
    changes = audit.diff(old, new)
    if changes:
        role.label, role.is_manager, role.permissions = new["label"], new["is_manager"], new["permissions"]
        role.updated_by_id = actor.user_id
        audit.record(db, actor, "permission_change", "role", role.id, changes, role.name)
    db.commit()
    return role


def delete_role(db: Session, actor: Actor, role: Role, expected_version: int | None = None) -> None:
    require(actor, "roles:admin")
    lifecycle.check_version(role, expected_version)
    if role.builtin:
        raise Conflict("Built-in roles cannot be deleted")
    if db.scalar(select(func.count()).select_from(User).where(User.role_id == role.id)):
        raise Conflict("This role is still given to users")
    audit.record(
        db,
        actor,
        "permission_change",
        "role",
        role.id,
        audit.diff({"name": role.name, "permissions": sorted(role.permissions or [])}, {}),
        role.name,
    )
    db.delete(role)
    db.commit()


def permission_matrix() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Modules and actions, the two axes of the role editor."""
    return MODULES, ACTIONS


# -- record visibility -----------------------------------------------------------------------------------


def visibility_scopes(db: Session, actor: Actor) -> list[dict[str, str]]:
    """The scope (own, department, all) of every record type, in registry order."""
    require(actor, "roles:read")
    return [
        {"record_type": rt.name, "label": rt.label, "scope": permissions.scope_for(db, rt.name)}
        for rt in records.REGISTRY.values()
    ]


def set_visibility(db: Session, actor: Actor, scopes: dict[str, Any]) -> list[dict[str, str]]:
    """Set the scope of some record types; one `permission_change` audit entry lists what moved."""
    require(actor, "roles:admin")
    errors = FieldErrors()
    if not isinstance(scopes, dict) or not scopes:
        raise ValidationFailed.on("scopes", "Give at least one record type", "required")
    for record_type, scope in scopes.items():
        if record_type not in records.REGISTRY:
            errors.add(f"scopes.{record_type}", "Unknown record type", "unknown")
        elif scope not in SCOPES:
            errors.add(f"scopes.{record_type}", "Choose own, department or all", "invalid_choice")
    errors.raise_if_any()
    before = {rt: permissions.scope_for(db, rt) for rt in scopes}
    changes = audit.diff(before, scopes)
    for record_type in changes:
        permissions.set_scope(db, record_type, scopes[record_type])
    if changes:
        db.flush()
        audit.record(db, actor, "permission_change", "visibility", None, changes, "visibility")
    db.commit()
    return visibility_scopes(db, actor)
