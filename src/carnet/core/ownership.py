"""Owner and department of a record, checked on every write (field-level rule: only admins move a
record to another department; the owner must be an active user)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import column, select, table
from sqlalchemy.orm import Session

from carnet.core import memo
from carnet.core.context import Actor
from carnet.core.errors import FieldErrors

_users = table("users", column("id"), column("department_id"), column("active"))
_departments = table("departments", column("id"))


def resolve(
    db: Session,
    actor: Actor,
    data: dict[str, Any],
    current_owner: int | None,
    current_dept: int | None,
    errors: FieldErrors,
) -> tuple[int | None, int | None]:
    """(owner_id, department_id) after applying `data`; defaults to the actor and their department."""
    creating = current_owner is None and current_dept is None
    owner_id = data.get("owner_id", current_owner if not creating else actor.user_id)
    owner_dept: int | None = None
    if owner_id is not None:
        row = memo.cached(
            db,
            ("user", owner_id),
            lambda: db.execute(
                select(_users.c.department_id, _users.c.active).where(_users.c.id == owner_id)
            ).first(),
        )
        if row is None:
            errors.add("owner_id", "Unknown user", "unknown")
            return current_owner, current_dept
        if not row.active:
            errors.add("owner_id", "This user is deactivated", "inactive")
        owner_dept = row.department_id
    if "department_id" in data:
        dept_id = data["department_id"]
    elif creating or "owner_id" in data:
        dept_id = (
            owner_dept if owner_dept is not None else (actor.department_id if creating else current_dept)
        )
    else:
        dept_id = current_dept
    # The owner's department, read with the owner in this transaction, exists (a foreign key).
    if dept_id is not None and dept_id != owner_dept and not _department_exists(db, dept_id):
        errors.add("department_id", "Unknown department", "unknown")
    if dept_id != current_dept and not actor.is_admin and dept_id != actor.department_id and not creating:
        errors.add(
            "department_id", "Only an administrator can move a record to another department", "forbidden"
        )
    if (
        creating
        and not actor.is_admin
        and dept_id is not None
        and dept_id != actor.department_id
        and "department_id" in data
    ):
        errors.add(
            "department_id", "Only an administrator can create a record in another department", "forbidden"
        )
    return owner_id, dept_id


def _department_exists(db: Session, dept_id: int) -> bool:
    return memo.cached(
        db,
        ("department", dept_id),
        lambda: db.execute(select(_departments.c.id).where(_departments.c.id == dept_id)).first() is not None,
    )
