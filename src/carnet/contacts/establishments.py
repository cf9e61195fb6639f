"""A health professional's establishments (contact ↔ organisation, with service and role).

The list is written as a whole (it replaces the saved one), audited and announced as a
`contact.updated` event with the old and new lists, like any other change of the contact.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from carnet.contacts import service
from carnet.contacts.models import Contact, ContactEstablishment
from carnet.core import clock, lifecycle
from carnet.core.context import Actor
from carnet.core.db import in_ids
from carnet.core.errors import FieldErrors
from carnet.organisations import service as organisations
from carnet.organisations.models import Organisation

MAX_ESTABLISHMENTS = 50


def _saved(db: Session, contact_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not contact_ids:
        return out
    rows = db.execute(
        select(ContactEstablishment)
        .where(in_ids(db, ContactEstablishment.contact_id, contact_ids))
        .order_by(ContactEstablishment.contact_id, ContactEstablishment.position)
    ).scalars()
    for row in rows:
        out[row.contact_id].append(
            {"organisation_id": row.organisation_id, "service": row.service, "role": row.role}
        )
    return out


def establishments_of(db: Session, actor: Actor, contact: Contact) -> list[dict[str, Any]]:
    """The contact's establishments that `actor` may see, with their name, FINESS and category."""
    links = _saved(db, [contact.id])[contact.id]
    if not links:
        return []
    orgs = {
        o.id: o
        for o in db.scalars(
            select(Organisation).where(
                Organisation.id.in_([link["organisation_id"] for link in links]),
                organisations.visible_clause(db, actor),
            )
        )
    }
    return [
        {
            **link,
            "name": orgs[link["organisation_id"]].name,
            "finess": orgs[link["organisation_id"]].finess,
            "establishment_category": orgs[link["organisation_id"]].establishment_category,
        }
        for link in links
        if link["organisation_id"] in orgs
    ]


def establishments_by_contact(db: Session, contact_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Saved links of contacts already read through their visibility filter (reports, exports)."""
    return _saved(db, contact_ids)


def professional_ids_at(db: Session, organisation_id: int) -> list[int]:
    """Ids of the contacts linked to this establishment (the caller filters their visibility)."""
    return list(
        db.scalars(
            select(ContactEstablishment.contact_id).where(
                ContactEstablishment.organisation_id == organisation_id
            )
        )
    )


def _text(value: Any, field: str, errors: FieldErrors) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.add(field, "Must be text", "invalid_type")
        return None
    text = value.strip()
    if len(text) > 120:
        errors.add(field, "At most {max} characters", "too_long", max=120)
    return text or None


def _clean(db: Session, actor: Actor, items: Any, current: set[int]) -> list[dict[str, Any]]:
    errors = FieldErrors()
    if not isinstance(items, list):
        errors.add("establishments", "Must be a list", "invalid_type")
        errors.raise_if_any()
    if len(items) > MAX_ESTABLISHMENTS:
        errors.add("establishments", "At most {max} values", "too_many", max=MAX_ESTABLISHMENTS)
        errors.raise_if_any()
    links: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        prefix = f"establishments.{i}"
        org_id = item.get("organisation_id") if isinstance(item, dict) else None
        if isinstance(org_id, str) and org_id.strip().isdigit():
            org_id = int(org_id)
        if isinstance(org_id, bool) or not isinstance(org_id, int):
            errors.add(f"{prefix}.organisation_id", "Choose an organisation", "required")
            continue
        if any(link["organisation_id"] == org_id for link in links):
            errors.add(f"{prefix}.organisation_id", "This organisation is already listed", "duplicate")
            continue
        if not 0 < org_id <= lifecycle.MAX_ID:
            errors.add(f"{prefix}.organisation_id", "Unknown organisation", "unknown")
        elif org_id not in current:
            organisations.require_visible_id(db, actor, org_id, f"{prefix}.organisation_id", errors)
        links.append(
            {
                "organisation_id": org_id,
                "service": _text(item.get("service"), f"{prefix}.service", errors),
                "role": _text(item.get("role"), f"{prefix}.role", errors),
            }
        )
    errors.raise_if_any()
    return links


def set_establishments(db: Session, actor: Actor, contact: Contact, items: Any) -> list[dict[str, Any]]:
    """Replace the contact's establishments by `items` ([{organisation_id, service, role}]).
    Links to establishments the actor may not see are kept as they are (never dropped unseen)."""
    lifecycle.require(actor, service.RECORD_TYPE, "update")
    before = _saved(db, [contact.id])[contact.id]
    current = {link["organisation_id"] for link in before}
    links = _clean(db, actor, items, current)
    sent = {link["organisation_id"] for link in links}
    hidden = current - sent
    if hidden:
        visible = organisations.names_by_id(db, actor, hidden)
        links += [link for link in before if link["organisation_id"] in hidden - set(visible)]
    if links == before:
        return establishments_of(db, actor, contact)
    db.execute(delete(ContactEstablishment).where(ContactEstablishment.contact_id == contact.id))
    if links:
        db.execute(
            insert(ContactEstablishment.__table__),
            [{**link, "contact_id": contact.id, "position": i} for i, link in enumerate(links)],
        )
    # The establishments are part of the contact: touching the row bumps its version (ETag).
    contact.updated_by_id = actor.user_id
    contact.updated_at = clock.now()
    db.flush()
    lifecycle.updated(
        db,
        actor,
        service.RECORD_TYPE,
        contact,
        {"establishments": before},
        {"establishments": links},
        contact.full_name,
        service.reads(db, [contact])[0],
    )
    db.commit()
    return establishments_of(db, actor, contact)
