"""Links from activities and tasks to the records they are about (organisation, contact, deal).

A link target must be visible to the actor. Organisations answer through their service; contacts
and deals are checked with the same visibility clause their own services use, so activities and
tasks never show or accept a record the actor could not open.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.contacts.models import Contact, ContactOrganisation
from carnet.core import permissions, records
from carnet.core.context import Actor
from carnet.core.errors import FieldErrors
from carnet.deals.models import Deal
from carnet.organisations import service as organisations

LINKABLE_TYPES = ("organisation", "contact", "deal", "project")
# record type -> (permission module, url prefix)
_MODULES = {"organisation": "organisations", "contact": "contacts", "deal": "deals", "project": "projects"}
URLS = {"organisation": "/organisations", "contact": "/contacts", "deal": "/deals", "project": "/projects"}
_UNKNOWN = {
    "organisation": "Unknown organisation",
    "contact": "Unknown contact",
    "deal": "Unknown deal",
    "project": "Unknown project",
}


def _model(record_type: str) -> Any:
    """Contacts and deals are imported; projects sit above tasks and activities, so their model
    comes from the record registry (the projects package registers it) instead of an import."""
    if record_type == "contact":
        return Contact
    if record_type == "deal":
        return Deal
    return records.get(record_type).model


def _visible_clause(db: Session, actor: Actor, record_type: str) -> Any:
    if record_type == "contact":
        return permissions.visible(db, actor, "contact", Contact.owner_id, Contact.department_id)
    if record_type == "deal":
        return permissions.visible(db, actor, "deal", Deal.owner_id, Deal.department_id)
    if record_type == "project":  # team members included (the projects service's rule)
        rt = records.get("project")
        return (
            rt.visible(db, actor)
            if rt.visible
            else permissions.visible_for_model(db, actor, "project", rt.model)
        )
    return organisations.visible_clause(db, actor)


def require_visible(
    db: Session, actor: Actor, record_type: str, record_id: int, field: str, errors: FieldErrors
) -> None:
    """Adds a field error unless `actor` may read the record (no hint that it exists)."""
    if not actor.can(f"{_MODULES[record_type]}:read"):
        errors.add(field, _UNKNOWN[record_type], "unknown")
        return
    if record_type == "organisation":
        organisations.require_visible_id(db, actor, record_id, field, errors)
        return
    model = _model(record_type)
    found = db.scalar(select(model.id).where(model.id == record_id, _visible_clause(db, actor, record_type)))
    if found is None:
        errors.add(field, _UNKNOWN[record_type], "unknown")


def is_visible(db: Session, actor: Actor, record_type: str, record_id: int) -> bool:
    errors = FieldErrors()
    require_visible(db, actor, record_type, record_id, "record_id", errors)
    return not errors


def organisation_of_deal(db: Session, deal_id: int) -> int | None:
    return db.scalar(select(Deal.organisation_id).where(Deal.id == deal_id))


def sole_organisation_of_contact(db: Session, contact_id: int) -> int | None:
    """The contact's organisation when it has exactly one, else None (ambiguous or none)."""
    rows = db.scalars(
        select(ContactOrganisation.organisation_id)
        .where(ContactOrganisation.contact_id == contact_id)
        .limit(2)
    ).all()
    return rows[0] if len(rows) == 1 else None


def labels(db: Session, actor: Actor, record_type: str, ids: set[int]) -> dict[int, str]:
    """Display names of the linked records `actor` may see, in one query."""
    ids = {i for i in ids if i is not None}
    if not ids or not actor.can(f"{_MODULES[record_type]}:read"):
        return {}
    if record_type == "organisation":
        return organisations.names_by_id(db, actor, ids)
    if record_type == "contact":
        rows = db.execute(
            select(Contact.id, Contact.first_name, Contact.last_name).where(
                Contact.id.in_(ids), _visible_clause(db, actor, "contact")
            )
        )
        return {r.id: f"{r.first_name or ''} {r.last_name}".strip() for r in rows}
    if record_type == "project":
        model = _model("project")
        rows = db.execute(
            select(model.id, model.name).where(model.id.in_(ids), _visible_clause(db, actor, "project"))
        )
        return {r.id: r.name for r in rows}
    rows = db.execute(select(Deal.id, Deal.title).where(Deal.id.in_(ids), _visible_clause(db, actor, "deal")))
    return {r.id: r.title for r in rows}
