"""Contacts: every write goes through here (validation, visibility, audit, events, search).

A contact's visibility comes from its own owner and department, never from the organisations it
is linked to.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.orm import Session

from carnet.contacts.models import (
    CIVILITIES,
    CONSENT_STATUSES,
    NO_RPPS_PROFESSIONS,
    PROFESSIONS,
    Contact,
    ContactOrganisation,
)
from carnet.contacts.schemas import ContactRead
from carnet.core import clock, customfields, lifecycle, memo, ownership, permissions, records, search, tags
from carnet.core.context import SYSTEM, Actor
from carnet.core.db import Prepared, ids_param
from carnet.core.errors import DomainError, FieldErrors, NotFound, as_result
from carnet.core.identifiers import clean_email, clean_list, clean_phone, clean_rpps, clean_url
from carnet.core.listing import Listing, ListParams, fields_of, page, page_rows
from carnet.organisations import service as organisations

RECORD_TYPE = "contact"
records.register(RECORD_TYPE, Contact, "contacts", "Contact", "/contacts")

MAX_LINKS = 50
# Ids are 32-bit integers in the database; PostgreSQL refuses to even compare a larger number.
MAX_ID = 2**31 - 1
MAX_ITEMS = 20  # emails or phones of one contact
# Free-text columns and their maximum length (the web form does not go through Pydantic).
TEXT_FIELDS = {
    "first_name": 100,
    "last_name": 100,
    "job_title": 150,
    "city": 120,
    "marketing_consent_source": 120,
    "notes": 20000,
    "speciality": 120,
}
_CIVILITY_ALIASES = {
    "m": "M.",
    "m.": "M.",
    "mr": "M.",
    "mr.": "M.",
    "monsieur": "M.",
    "mme": "Mme",
    "mme.": "Mme",
    "madame": "Mme",
}


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def _linked_to(organisation_ids: list[int]) -> ColumnElement[bool]:
    return exists(
        select(ContactOrganisation.contact_id).where(
            ContactOrganisation.contact_id == Contact.id,
            ContactOrganisation.organisation_id.in_(organisation_ids),
        )
    )


def _has_link() -> ColumnElement[bool]:
    return exists(select(ContactOrganisation.contact_id).where(ContactOrganisation.contact_id == Contact.id))


def _emails_text() -> Any:
    return func.lower(cast(Contact.emails, String))


def _email_equals(email: str) -> ColumnElement[bool]:
    """The primary email or any other email equals `email` (case-insensitive)."""
    value = email.strip().lower()
    # The JSON text holds each address in quotes; on SQLite non-ASCII characters are \\u-escaped.
    forms = {f'"{value}"', json.dumps(value)}
    return or_(
        func.lower(Contact.primary_email) == value,
        *(_emails_text().contains(form, autoescape=True) for form in sorted(forms)),
    )


@dataclass
class ContactListing(Listing):
    """Adds the filters that are not one column: `organisation_id` (contacts linked to any of the
    given organisations) and `email` (the primary email or any other one)."""

    def apply_filters(self, stmt: Select, params: ListParams) -> Select:
        errors = FieldErrors()
        plain: dict[str, str] = {}
        for key, value in params.filters.items():
            name, _, op = key.partition("__")
            if name == "organisation_id":
                clause = _organisation_filter(key, op, value, errors)
            elif name == "email":
                clause = _email_filter(key, op, value, errors)
            else:
                plain[key] = value
                continue
            if clause is not None:
                stmt = stmt.where(clause)
        errors.raise_if_any()
        return super().apply_filters(stmt, replace(params, filters=plain))


def _organisation_filter(key: str, op: str, value: str, errors: FieldErrors) -> ColumnElement[bool] | None:
    if op == "isnull":
        return ~_has_link() if value.lower() in ("true", "1") else _has_link()
    if op not in ("", "in"):
        errors.add(key, "Unknown filter operator", "unknown_filter")
        return None
    try:
        ids = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        ids = [0]
    if not all(_is_id(i) for i in ids):
        errors.add(key, "Invalid filter value", "invalid_filter")
        return None
    return _linked_to(ids) if ids else None


def _email_filter(key: str, op: str, value: str, errors: FieldErrors) -> ColumnElement[bool] | None:
    if op == "isnull":
        missing = value.lower() in ("true", "1")
        return Contact.primary_email.is_(None) if missing else Contact.primary_email.is_not(None)
    if op == "contains":
        return _emails_text().contains(value.lower(), autoescape=True)
    if op not in ("", "in"):
        errors.add(key, "Unknown filter operator", "unknown_filter")
        return None
    values = [v for v in value.split(",") if v.strip()]
    return or_(*(_email_equals(v) for v in values)) if values else None


LISTING = ContactListing(
    model=Contact,
    record_type=RECORD_TYPE,
    fields={
        "id": Contact.id,
        "name": Contact.first_name + " " + Contact.last_name,
        "civility": Contact.civility,
        "first_name": Contact.first_name,
        "last_name": Contact.last_name,
        "job_title": Contact.job_title,
        "primary_email": Contact.primary_email,
        "phone": cast(Contact.phones, String),
        "linkedin_url": Contact.linkedin_url,
        "rpps": Contact.rpps,
        "profession": Contact.profession,
        "speciality": Contact.speciality,
        "marketing_consent": Contact.marketing_consent,
        "marketing_consent_at": Contact.marketing_consent_at,
        "marketing_consent_source": Contact.marketing_consent_source,
        "do_not_call": Contact.do_not_call,
        "city": Contact.city,
        "notes": Contact.notes,
        "owner_id": Contact.owner_id,
        "department_id": Contact.department_id,
        "created_by_id": Contact.created_by_id,
        "created_at": Contact.created_at,
        "updated_at": Contact.updated_at,
    },
    sortable={
        "last_name",
        "first_name",
        "job_title",
        "city",
        "marketing_consent",
        "marketing_consent_at",
        "created_at",
        "updated_at",
    },
)


# -- cleaning ----------------------------------------------------------------------------------------


def _clean_text(value: Any, field: str, max_length: int, errors: FieldErrors) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.add(field, "Must be text", "invalid_type")
        return None
    text = value.strip()
    if len(text) > max_length:
        errors.add(field, "At most {max} characters", "too_long", max=max_length)
        return None
    return text or None


def _clean_civility(value: Any, errors: FieldErrors) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    civility = _CIVILITY_ALIASES.get(text.lower(), text)
    if civility not in CIVILITIES:
        errors.add("civility", "Choose one of: {values}", "invalid_choice", values=", ".join(CIVILITIES))
        return None
    return civility


def _clean_linkedin(value: Any, errors: FieldErrors) -> str | None:
    if isinstance(value, str) and len(value.strip()) > 300:
        errors.add("linkedin_url", "At most {max} characters", "too_long", max=300)
        return None
    url = clean_url(value, errors, "linkedin_url")
    if url is None:
        return None
    host = (urlsplit(url).hostname or "").lower()
    if host != "linkedin.com" and not host.endswith(".linkedin.com"):
        errors.add("linkedin_url", "Enter a LinkedIn address (linkedin.com/in/…)", "invalid_linkedin")
        return None
    return url


def _clean_when(value: Any, actor: Actor, field: str, errors: FieldErrors) -> datetime | None:
    """A date or date-time; a date alone or a naive time is read in the actor's time zone."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    tz = ZoneInfo(actor.timezone)
    try:
        if isinstance(value, datetime):
            when = value
        elif isinstance(value, date):
            when = datetime.combine(value, time(0))
        elif isinstance(value, str):
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        else:
            raise ValueError
    except ValueError:
        errors.add(field, "Enter a date", "invalid_date")
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    when = when.astimezone(UTC)
    # A little slack for clocks that differ between the client and the server.
    if when > clock.now() + timedelta(minutes=5):
        errors.add(field, "This date cannot be in the future", "in_future")
        return None
    return when


def _apply_consent(actor: Actor, contact: Contact, data: dict[str, Any], errors: FieldErrors) -> None:
    previous = contact.marketing_consent or "unknown"
    status = previous
    if "marketing_consent" in data:
        status = data["marketing_consent"] or "unknown"
        if status not in CONSENT_STATUSES:
            errors.add(
                "marketing_consent",
                "Choose one of: {values}",
                "invalid_choice",
                values=", ".join(CONSENT_STATUSES),
            )
            return
        contact.marketing_consent = status
    given = data.get("marketing_consent_at")
    if given not in (None, ""):
        contact.marketing_consent_at = _clean_when(given, actor, "marketing_consent_at", errors)
    elif status != previous:
        # The date consent was given or withdrawn is evidence (RGPD): record it when nobody did.
        contact.marketing_consent_at = clock.now()
    elif "marketing_consent_at" in data:
        contact.marketing_consent_at = None


def _clean_bool(value: Any, field: str, errors: FieldErrors) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        errors.add(field, "Must be true or false", "invalid_type")
        return False
    return value


def _clean_links(
    db: Session,
    actor: Actor,
    contact: Contact,
    data: dict[str, Any],
    errors: FieldErrors,
    creating: bool,
    current_links: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]] | None:
    """The new organisation links (replace-all), or None when `data` does not touch them.

    Links to organisations the actor cannot see are kept as they are: nobody removes or rewrites
    what they cannot see. A link that already exists may be resent even if its organisation is
    hidden, so a read-modify-write round trip always works."""
    if "organisations" in data and "organisation_ids" in data:
        errors.add("organisation_ids", "Give either organisations or organisation_ids, not both", "conflict")
        return None
    if "organisations" in data:
        raw = data["organisations"]
    elif "organisation_ids" in data:
        ids = data["organisation_ids"]
        if ids is not None and not isinstance(ids, list):
            errors.add("organisation_ids", "Must be a list", "invalid_type")
            return None
        raw = [{"organisation_id": i} for i in ids or []]
    else:
        return None
    raw = raw if raw is not None else []
    if not isinstance(raw, list):
        errors.add("organisations", "Must be a list", "invalid_type")
        return None
    if len(raw) > MAX_LINKS:
        errors.add("organisations", "At most {max} organisations", "too_many", max=MAX_LINKS)
        return None
    if creating:
        current = {}
    else:
        saved = current_links if current_links is not None else _links_of(db, [contact.id])[contact.id]
        current = {link["organisation_id"]: link for link in saved}
    links: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        prefix = f"organisations.{i}"
        if not isinstance(item, dict):
            errors.add(prefix, "Must be an object", "invalid_type")
            continue
        for key in item:
            if key not in ("organisation_id", "role", "is_primary"):
                errors.add(f"{prefix}.{key}", "This field is not allowed", "extra_forbidden")
        org_id = item.get("organisation_id")
        if isinstance(org_id, str) and org_id.strip().isdigit():
            org_id = int(org_id)
        if isinstance(org_id, bool) or not isinstance(org_id, int):
            errors.add(f"{prefix}.organisation_id", "Choose an organisation", "required")
            continue
        if any(link["organisation_id"] == org_id for link in links):
            errors.add(f"{prefix}.organisation_id", "This organisation is already listed", "duplicate")
            continue
        if not _is_id(org_id):
            errors.add(f"{prefix}.organisation_id", "Unknown organisation", "unknown")
        elif org_id not in current:
            organisations.require_visible_id(db, actor, org_id, f"{prefix}.organisation_id", errors)
        role = _clean_text(item.get("role"), f"{prefix}.role", 120, errors)
        is_primary = _clean_bool(item.get("is_primary"), f"{prefix}.is_primary", errors)
        if is_primary and any(link["is_primary"] for link in links):
            errors.add(f"{prefix}.is_primary", "Only one organisation can be the main one", "duplicate")
        links.append({"organisation_id": org_id, "role": role, "is_primary": is_primary})
    sent_primary = any(link["is_primary"] for link in links)
    hidden = [oid for oid in current if oid not in {link["organisation_id"] for link in links}]
    if hidden:
        visible = organisations.names_by_id(db, actor, set(hidden))
        for oid in hidden:
            if oid not in visible:
                kept = current[oid]
                links.append({**kept, "is_primary": kept["is_primary"] and not sent_primary})
    if links and not any(link["is_primary"] for link in links):
        links[0]["is_primary"] = True
    return links


def _apply(
    db: Session,
    actor: Actor,
    contact: Contact,
    data: dict[str, Any],
    creating: bool,
    current_links: list[dict[str, Any]] | None = None,
) -> tuple[list[str] | None, list[dict[str, Any]] | None]:
    """Validate `data` onto `contact`; returns (tag names, organisation links), None = unchanged.
    `current_links`: the contact's saved links when the caller read them already."""
    # No autoflush: a half-validated row (say, an emptied last name) must never reach the database.
    with db.no_autoflush:
        errors = FieldErrors()
        for name, max_length in TEXT_FIELDS.items():
            if name in data:
                setattr(contact, name, _clean_text(data[name], name, max_length, errors))
        contact.first_name = contact.first_name or ""
        if (creating or "last_name" in data) and not contact.last_name:
            if not any(e.field == "last_name" for e in errors.errors):
                errors.add("last_name", "This field is required", "required")
        if "civility" in data:
            contact.civility = _clean_civility(data["civility"], errors)
        for name, cleaner in (("emails", clean_email), ("phones", clean_phone)):
            if name not in data:
                continue
            if isinstance(data[name], list) and len(data[name]) > MAX_ITEMS:
                errors.add(name, "At most {max} values", "too_many", max=MAX_ITEMS)
                continue
            setattr(contact, name, clean_list(data[name], cleaner, errors, name))
        contact.primary_email = contact.emails[0] if contact.emails else None
        if "linkedin_url" in data:
            contact.linkedin_url = _clean_linkedin(data["linkedin_url"], errors)
        if "rpps" in data:
            contact.rpps = clean_rpps(data["rpps"], errors)
        if "profession" in data:
            profession = data["profession"] or None
            if profession is not None and profession not in PROFESSIONS:
                errors.add(
                    "profession", "Choose one of: {values}", "invalid_choice", values=", ".join(PROFESSIONS)
                )
            contact.profession = profession
        if (
            contact.rpps
            and contact.profession in NO_RPPS_PROFESSIONS
            and ("rpps" in data or "profession" in data)
        ):
            errors.add(
                "rpps", "A biomedical engineer is not a health professional and has no RPPS number", "no_rpps"
            )
        _apply_consent(actor, contact, data, errors)
        if "do_not_call" in data:
            contact.do_not_call = _clean_bool(data["do_not_call"], "do_not_call", errors)
        contact.owner_id, contact.department_id = ownership.resolve(
            db,
            actor,
            data,
            None if creating else contact.owner_id,
            None if creating else contact.department_id,
            errors,
        )
        if "custom_fields" in data or creating:
            contact.custom_fields = customfields.validate(
                db,
                RECORD_TYPE,
                data.get("custom_fields"),
                None if creating else contact.custom_fields,
                errors,
            )
        tag_names = tags.clean_names(data["tags"], errors) if "tags" in data else None
        links = _clean_links(db, actor, contact, data, errors, creating, current_links)
        errors.raise_if_any()
    contact.updated_by_id = actor.user_id
    return tag_names, links


# -- storage helpers ---------------------------------------------------------------------------------


LINKS_OF = Prepared(
    lambda dialect: (
        select(
            ContactOrganisation.contact_id,
            ContactOrganisation.organisation_id,
            ContactOrganisation.role,
            ContactOrganisation.is_primary,
        )
        .where(ids_param(dialect, ContactOrganisation.contact_id))
        .order_by(ContactOrganisation.contact_id, ContactOrganisation.position)
    )
)


def _links_of(db: Session, contact_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Organisation links of several contacts in one query, in their saved order."""
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not contact_ids:
        return out
    rows = db.execute(LINKS_OF(db), {"ids": list(contact_ids)})
    for row in rows:
        out[row.contact_id].append(
            {"organisation_id": row.organisation_id, "role": row.role, "is_primary": row.is_primary}
        )
    return out


def _store_links(db: Session, contact_id: int, links: list[dict[str, Any]]) -> None:
    _store_links_many(db, {contact_id: links})


def _store_links_many(db: Session, links_by_contact: dict[int, list[dict[str, Any]]]) -> None:
    """Replace the links of these contacts: one DELETE, one INSERT."""
    if not links_by_contact:
        return
    db.execute(delete(ContactOrganisation).where(ContactOrganisation.contact_id.in_(list(links_by_contact))))
    _insert_links(db, links_by_contact)


def _insert_links(db: Session, links_by_contact: dict[int, list[dict[str, Any]]]) -> None:
    """The links of contacts that have none yet (just created): one INSERT."""
    rows = [
        {**link, "contact_id": contact_id, "position": i}
        for contact_id, links in links_by_contact.items()
        for i, link in enumerate(links)
    ]
    if rows:
        db.execute(insert(ContactOrganisation.__table__), rows)


def snapshot(contact: Contact) -> dict[str, Any]:
    """The contact's own fields, as the audit trail and the edit form see them."""
    return {
        "civility": contact.civility,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "job_title": contact.job_title,
        "emails": list(contact.emails or []),
        "phones": list(contact.phones or []),
        "linkedin_url": contact.linkedin_url,
        "rpps": contact.rpps,
        "profession": contact.profession,
        "speciality": contact.speciality,
        "marketing_consent": contact.marketing_consent,
        "marketing_consent_at": contact.marketing_consent_at,
        "marketing_consent_source": contact.marketing_consent_source,
        "do_not_call": contact.do_not_call,
        "city": contact.city,
        "notes": contact.notes,
        "owner_id": contact.owner_id,
        "department_id": contact.department_id,
        "custom_fields": dict(contact.custom_fields or {}),
    }


def _full_snapshot(contact: Contact, links: list[dict[str, Any]], tag_names: list[str]) -> dict[str, Any]:
    return {**snapshot(contact), "organisations": [dict(link) for link in links], "tags": list(tag_names)}


# The representation's own columns: it adds the tags and the organisation links.
READ_COLUMNS = tuple(name for name in ContactRead.model_fields if name not in ("tags", "organisations"))


def _read_fields(contact: Any, tag_names: list[str], links: list[dict[str, Any]]) -> dict[str, Any]:
    """The representation as Python values, from a Contact or a row of the READ_COLUMNS."""
    fields = fields_of(contact, READ_COLUMNS)
    fields["tags"] = tag_names
    fields["organisations"] = links
    return fields


def to_read(contact: Contact, tag_names: list[str], links: list[dict[str, Any]]) -> dict[str, Any]:
    """The representation as JSON values (event payloads, webhooks, exports)."""
    return ContactRead.model_validate(_read_fields(contact, tag_names, links)).model_dump(mode="json")


def _tag_key(names: list[str]) -> list[str]:
    """Tags compare as a set, case-insensitively, as `tags.set_tags` matches them."""
    return sorted(n.lower() for n in names)


def _primary_first(links: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(links, key=lambda link: not link["is_primary"])


def _document(contact: Contact, links: list[dict[str, Any]], names: dict[int, str]) -> search.Document:
    """The search document; `names` holds the names of the linked organisations."""
    org_names = [
        names[link["organisation_id"]] for link in _primary_first(links) if link["organisation_id"] in names
    ]
    body = search.document_text(
        contact.first_name,
        contact.last_name,
        contact.job_title,
        *(contact.emails or []),
        contact.city,
        *org_names,
        numbers=(*(contact.phones or []), contact.rpps),
    )
    subtitle = " · ".join(x for x in (contact.job_title, org_names[0] if org_names else None) if x)
    return search.Document(
        contact.id, contact.full_name, subtitle, body, contact.owner_id, contact.department_id
    )


def _organisation_names(db: Session, links: list[list[dict[str, Any]]]) -> dict[int, str]:
    # The search document is system-wide; each reader's visibility is applied when searching.
    return organisations.names_by_id(db, SYSTEM, {link["organisation_id"] for some in links for link in some})


def _index(db: Session, contact: Contact, links: list[dict[str, Any]]) -> None:
    doc = _document(contact, links, _organisation_names(db, [links]))
    search.index_record(
        db, RECORD_TYPE, contact.id, doc.title, doc.subtitle, doc.body, doc.owner_id, doc.department_id
    )


# -- writes ------------------------------------------------------------------------------------------


def create_contact(db: Session, actor: Actor, data: dict[str, Any]) -> Contact:
    return create_contact_read(db, actor, data)[0]


def create_contact_read(db: Session, actor: Actor, data: dict[str, Any]) -> tuple[Contact, dict[str, Any]]:
    """`create_contact`, and the contact's representation as `api_reads` gives it, from what was
    written: the API answers without reading the tags and links back."""
    lifecycle.require(actor, RECORD_TYPE, "create")
    contact = Contact(
        created_by_id=actor.user_id,
        first_name="",
        emails=[],
        phones=[],
        custom_fields={},
        marketing_consent="unknown",
        do_not_call=False,
    )
    tag_names, links = _apply(db, actor, contact, data, creating=True)
    links = links or []
    db.add(contact)
    db.flush()
    if links:
        _insert_links(db, {contact.id: links})
    names = tags.set_tags(db, actor, "contacts", RECORD_TYPE, contact.id, tag_names) if tag_names else []
    _index(db, contact, links)
    read = _read_fields(contact, names, links)
    lifecycle.created(
        db,
        actor,
        RECORD_TYPE,
        contact,
        _full_snapshot(contact, links, names),
        contact.full_name,
        ContactRead.model_validate(read).model_dump(mode="json"),
    )
    db.commit()
    return contact, read


def update_contact(
    db: Session, actor: Actor, contact: Contact, data: dict[str, Any], expected_version: int | None = None
) -> Contact:
    lifecycle.require(actor, RECORD_TYPE, "update")
    lifecycle.check_version(contact, expected_version)
    before_links = _links_of(db, [contact.id])[contact.id]
    before_tags = tags.tags_for(db, RECORD_TYPE, [contact.id]).get(contact.id, [])
    before_own = snapshot(contact)
    tag_names, links = _apply(db, actor, contact, data, creating=False)
    new_links = links if links is not None else before_links
    tags_changed = tag_names is not None and _tag_key(tag_names) != _tag_key(before_tags)
    if snapshot(contact) == before_own and new_links == before_links and not tags_changed:
        db.rollback()
        return contact
    # Set before anything flushes, so the row is written (and its version bumped) exactly once,
    # also when only links or tags changed: they live in other tables but are part of the ETag.
    contact.updated_at = clock.now()
    db.flush()
    names = (
        tags.set_tags(db, actor, "contacts", RECORD_TYPE, contact.id, tag_names)
        if tag_names is not None and tags_changed
        else before_tags
    )
    if new_links != before_links:
        _store_links(db, contact.id, new_links)
    before = {**before_own, "organisations": before_links, "tags": before_tags}
    after = _full_snapshot(contact, new_links, names)
    _index(db, contact, new_links)
    lifecycle.updated(
        db, actor, RECORD_TYPE, contact, before, after, contact.full_name, to_read(contact, names, new_links)
    )
    db.commit()
    return contact


# -- set-based writes (imports) ----------------------------------------------------------------------


def create_contacts(db: Session, actor: Actor, items: list[dict[str, Any]]) -> list[Contact | DomainError]:
    """`create_contact` for many contacts at once: each item is validated exactly as alone (the
    result is its error, and nothing of it is written), then the valid ones are written with one
    statement per table: rows, organisation links, taggings, search documents, events and audit
    entries. The caller commits (an import commits each chunk with its report). The contacts
    come back as drafts (`lifecycle.draft`): a Contact's attributes, outside the session."""
    lifecycle.require(actor, RECORD_TYPE, "create")
    results: list[Contact | DomainError] = []
    valid: list[tuple[Contact, list[str], list[dict[str, Any]]]] = []
    with memo.batch(db):
        for data in items:
            contact = lifecycle.draft(
                Contact,
                created_by_id=actor.user_id,
                first_name="",
                emails=[],
                phones=[],
                custom_fields={},
                marketing_consent="unknown",
                do_not_call=False,
            )
            try:
                tag_names, links = _apply(db, actor, contact, data, creating=True)
                tags.require_can_create(db, actor, RECORD_TYPE, tag_names or [])
            except DomainError as exc:
                results.append(as_result(exc))
                continue
            results.append(contact)
            valid.append((contact, tag_names or [], links or []))
        lifecycle.insert_new(db, Contact, [contact for contact, _, _ in valid])
        names = tags.set_tags_many(db, actor, RECORD_TYPE, {c.id: t for c, t, _ in valid if t})
    _insert_links(db, {c.id: links for c, _, links in valid if links})
    org_names = _organisation_names(db, [links for _, _, links in valid])
    search.index_records(db, RECORD_TYPE, [_document(c, links, org_names) for c, _, links in valid], new=True)
    written = []
    for contact, _, links in valid:
        contact_tags = names.get(contact.id, [])
        written.append(
            lifecycle.Written(
                contact,
                {},
                _full_snapshot(contact, links, contact_tags),
                contact.full_name,
                to_read(contact, contact_tags, links),
            )
        )
    lifecycle.created_many(db, actor, RECORD_TYPE, written)
    return results


def update_contacts(
    db: Session, actor: Actor, items: list[tuple[Contact, dict[str, Any]]]
) -> list[lifecycle.Written | DomainError]:
    """`update_contact` for many contacts at once, as `create_contacts` does. A contact the data
    does not change comes back with `before == after`, untouched."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    ids = [contact.id for contact, _ in items]
    link_map = _links_of(db, ids)
    tag_map = tags.tags_for(db, RECORD_TYPE, ids)
    results: list[lifecycle.Written | DomainError] = []
    changed: list[tuple[lifecycle.Written, list[str] | None, list[dict[str, Any]] | None]] = []
    now = clock.now()
    with memo.batch(db), db.no_autoflush:
        for contact, data in items:
            before_links = link_map.get(contact.id, [])
            before_tags = tag_map.get(contact.id, [])
            before_own = snapshot(contact)
            before = {**before_own, "organisations": before_links, "tags": before_tags}
            try:
                tag_names, links = _apply(
                    db, actor, contact, data, creating=False, current_links=before_links
                )
                if tag_names is not None:
                    tags.require_can_create(db, actor, RECORD_TYPE, tag_names)
            except DomainError as exc:
                db.expire(contact)  # forget what was applied before the error
                results.append(as_result(exc))
                continue
            new_links = links if links is not None else before_links
            tags_changed = tag_names is not None and _tag_key(tag_names) != _tag_key(before_tags)
            if snapshot(contact) == before_own and new_links == before_links and not tags_changed:
                db.expire(contact)  # not even updated_by changes
                results.append(lifecycle.Written(contact, before, before, contact.full_name, {}))
                continue
            contact.updated_at = now
            after = _full_snapshot(
                contact, new_links, tag_names if tag_names is not None and tags_changed else before_tags
            )
            written = lifecycle.Written(contact, before, after, contact.full_name, {})
            results.append(written)
            changed.append(
                (
                    written,
                    tag_names if tags_changed else None,
                    new_links if new_links != before_links else None,
                )
            )
    db.flush()
    names = tags.set_tags_many(db, actor, RECORD_TYPE, {w.obj.id: t for w, t, _ in changed if t is not None})
    _store_links_many(db, {w.obj.id: links for w, _, links in changed if links is not None})
    for w, _, _ in changed:
        w.after["tags"] = names.get(w.obj.id, w.after["tags"])
        w.payload = to_read(w.obj, w.after["tags"], w.after["organisations"])
    org_names = _organisation_names(db, [w.after["organisations"] for w, _, _ in changed])
    search.index_records(
        db, RECORD_TYPE, [_document(w.obj, w.after["organisations"], org_names) for w, _, _ in changed]
    )
    lifecycle.updated_many(db, actor, RECORD_TYPE, [w for w, _, _ in changed])
    return results


def delete_contact(db: Session, actor: Actor, contact: Contact, expected_version: int | None = None) -> None:
    lifecycle.require(actor, RECORD_TYPE, "delete")
    lifecycle.check_version(contact, expected_version)
    links = _links_of(db, [contact.id])[contact.id]
    names = tags.tags_for(db, RECORD_TYPE, [contact.id]).get(contact.id, [])
    lifecycle.deleted(
        db,
        actor,
        RECORD_TYPE,
        contact,
        _full_snapshot(contact, links, names),
        contact.full_name,
        to_read(contact, names, links),
    )
    db.execute(delete(ContactOrganisation).where(ContactOrganisation.contact_id == contact.id))
    db.delete(contact)
    db.commit()


# -- reads -------------------------------------------------------------------------------------------


def get_contact(db: Session, actor: Actor, contact_id: Any) -> Contact:
    if isinstance(contact_id, int) and not _is_id(contact_id):
        raise NotFound()
    return lifecycle.get_visible(db, actor, RECORD_TYPE, contact_id)


def is_visible(db: Session, actor: Actor, contact_id: Any) -> bool:
    """Whether `actor` may read this contact (documents check the contact they are addressed to)."""
    try:
        get_contact(db, actor, contact_id)
    except NotFound:
        return False
    return True


def visible_clause(db: Session, actor: Actor) -> ColumnElement[bool]:
    return permissions.visible_for_model(db, actor, RECORD_TYPE, Contact)


def _base_statement(db: Session, actor: Actor, stmt: Select, q: str | None) -> Select:
    stmt = stmt.where(visible_clause(db, actor))
    if q and q.strip():
        like = f"%{q.strip().lower()}%"
        stmt = stmt.where(
            func.lower(Contact.first_name + " " + Contact.last_name).like(like)
            | func.lower(Contact.last_name).like(like)
            | func.lower(Contact.primary_email).like(like)
        )
    return stmt


def list_contacts(db: Session, actor: Actor, params: ListParams) -> tuple[list[Contact], str | None]:
    lifecycle.require(actor, RECORD_TYPE, "read")
    return page(db, LISTING, _base_statement(db, actor, select(Contact), params.q), params)


def list_contact_reads(
    db: Session, actor: Actor, params: ListParams
) -> tuple[list[dict[str, Any]], str | None]:
    """`list_contacts` as `api_reads` representations, read as plain rows: no ORM object is built
    for a page the API serialises at once."""
    lifecycle.require(actor, RECORD_TYPE, "read")
    # READ_COLUMNS hold every column a page can be sorted on, as the cursor needs.
    columns = Contact.__table__.c
    stmt = _base_statement(db, actor, select(*(columns[name] for name in READ_COLUMNS)), params.q)
    rows, cursor = page_rows(db, LISTING, stmt, params)
    return api_reads(db, rows), cursor


def count_contacts(db: Session, actor: Actor, params: ListParams) -> int:
    lifecycle.require(actor, RECORD_TYPE, "read")
    stmt = _base_statement(db, actor, select(func.count()).select_from(Contact), params.q)
    return db.scalar(LISTING.apply_filters(stmt, params)) or 0


def reads(db: Session, contacts: list[Contact]) -> list[dict[str, Any]]:
    """Representations as JSON values; tags and organisation links are loaded in one query each."""
    return [ContactRead.model_validate(fields).model_dump(mode="json") for fields in api_reads(db, contacts)]


def api_reads(db: Session, contacts: list[Any]) -> list[dict[str, Any]]:
    """Representations as Python values, of Contacts or rows of their columns, for a route whose
    response model (ContactRead) validates and serialises them once."""
    ids = [c.id for c in contacts]
    tag_map = tags.tags_for(db, RECORD_TYPE, ids)
    link_map = _links_of(db, ids)
    return [_read_fields(c, tag_map.get(c.id, []), link_map.get(c.id, [])) for c in contacts]


def links_of(db: Session, contact_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """{contact id: [{"organisation_id", "role", "is_primary"}, ...]} for contacts already read."""
    return _links_of(db, contact_ids)


def organisations_of(db: Session, actor: Actor, contact: Contact) -> list[dict[str, Any]]:
    """The contact's links to organisations `actor` may see, with their names."""
    links = _links_of(db, [contact.id])[contact.id]
    names = organisations.names_by_id(db, actor, {link["organisation_id"] for link in links})
    return [
        {**link, "name": names[link["organisation_id"]]} for link in links if link["organisation_id"] in names
    ]


def for_organisation(
    db: Session, actor: Actor, organisation_id: int, limit: int | None = None
) -> list[Contact]:
    """Contacts `actor` may see that are linked to the organisation, by name."""
    lifecycle.require(actor, RECORD_TYPE, "read")
    if not _is_id(organisation_id):
        return []
    stmt = (
        select(Contact)
        .where(visible_clause(db, actor), _linked_to([organisation_id]))
        .order_by(Contact.last_name, Contact.first_name, Contact.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(db.scalars(stmt))


def roles_at(db: Session, organisation_id: int, contact_ids: list[int]) -> dict[int, str | None]:
    """{contact id: role} at one organisation, for contacts already read through the filter."""
    if not contact_ids:
        return {}
    rows = db.execute(
        select(ContactOrganisation.contact_id, ContactOrganisation.role).where(
            ContactOrganisation.organisation_id == organisation_id,
            ContactOrganisation.contact_id.in_(contact_ids),
        )
    )
    return {r.contact_id: r.role for r in rows}


def find_by_email(db: Session, actor: Actor, email: str) -> Contact | None:
    """A visible contact with this email (primary matches first), or None."""
    lifecycle.require(actor, RECORD_TYPE, "read")
    value = (email or "").strip().lower()
    if not value:
        return None
    stmt = (
        select(Contact)
        .where(visible_clause(db, actor), _email_equals(value))
        .order_by(case((func.lower(Contact.primary_email) == value, 0), else_=1), Contact.id)
        .limit(1)
    )
    return db.scalars(stmt).first()


def find_by_emails(db: Session, actor: Actor, emails: set[str]) -> dict[str, Contact]:
    """{lower-cased email: the visible contact `find_by_email` gives for it}, for many emails in
    two queries (primary emails, then the other ones)."""
    lifecycle.require(actor, RECORD_TYPE, "read")
    values = {e.strip().lower() for e in emails if e and e.strip()}
    if not values:
        return {}
    visible = visible_clause(db, actor)
    out: dict[str, Contact] = {}
    for contact in db.scalars(
        select(Contact).where(visible, func.lower(Contact.primary_email).in_(values)).order_by(Contact.id)
    ):
        out.setdefault((contact.primary_email or "").lower(), contact)
    rest = values - set(out)
    if rest:
        items = _email_items(db)
        others = select(items.c.value).where(func.lower(items.c.value).in_(rest)).exists()
        for contact in db.scalars(select(Contact).where(visible, others).order_by(Contact.id)):
            for email in contact.emails or []:
                if email.lower() in rest:
                    out.setdefault(email.lower(), contact)
    return out


def _email_items(db: Session) -> Any:
    """The contact's emails as rows of a `value` column, for a correlated EXISTS."""
    if db.get_bind().dialect.name == "postgresql":
        return func.jsonb_array_elements_text(Contact.emails).table_valued("value")
    return func.json_each(Contact.emails).table_valued("value")


def names_by_id(db: Session, actor: Actor, ids: set[int]) -> dict[int, str]:
    ids = {i for i in ids if _is_id(i)}
    if not ids:
        return {}
    rows = db.execute(
        select(Contact.id, Contact.first_name, Contact.last_name).where(
            Contact.id.in_(ids), visible_clause(db, actor)
        )
    )
    return {r.id: f"{r.first_name or ''} {r.last_name}".strip() for r in rows}


records.register_actions(RECORD_TYPE, get_contact, update_contact, delete_contact)


def _reindex_for_organisation(db: Session, organisation_id: int) -> None:
    """An organisation was renamed: refresh the search text of the contacts linked to it."""
    ids = list(
        db.scalars(
            select(ContactOrganisation.contact_id).where(
                ContactOrganisation.organisation_id == organisation_id
            )
        )
    )
    links = _links_of(db, ids)
    for contact in db.scalars(select(Contact).where(Contact.id.in_(ids))):
        _index(db, contact, links.get(contact.id, []))


search.register_dependent("organisation", _reindex_for_organisation)
