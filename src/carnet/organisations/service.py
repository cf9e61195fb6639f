"""Organisations: every write goes through here (validation, visibility, audit, events, search)."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, Select, String, cast, func, select
from sqlalchemy.orm import Session

from carnet.core import (
    countries,
    customfields,
    lifecycle,
    memo,
    ownership,
    permissions,
    records,
    search,
    tags,
)
from carnet.core.context import Actor
from carnet.core.errors import DomainError, FieldErrors, as_result
from carnet.core.identifiers import (
    clean_email,
    clean_finess,
    clean_list,
    clean_naf,
    clean_phone,
    clean_siren,
    clean_siret,
    clean_url,
    clean_vat,
)
from carnet.core.listing import Listing, ListParams, fields_of, page, page_rows
from carnet.organisations.models import (
    ESTABLISHMENT_CATEGORIES,
    ESTABLISHMENT_STATUSES,
    HEADCOUNT_BRACKETS,
    ORGANISATION_TYPES,
    Organisation,
)
from carnet.organisations.schemas import OrganisationRead

RECORD_TYPE = "organisation"
records.register(RECORD_TYPE, Organisation, "organisations", "Organisation", "/organisations")

SIMPLE_FIELDS = (
    "name",
    "legal_name",
    "legal_form",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "source",
    "description",
)
# Web forms bypass the API schemas, so lengths are checked here too.
MAX_LENGTHS = {
    "name": 200,
    "legal_name": 200,
    "legal_form": 80,
    "address_line1": 200,
    "address_line2": 200,
    "postal_code": 10,
    "city": 120,
    "source": 80,
    "description": 20000,
}
LISTING = Listing(
    model=Organisation,
    record_type=RECORD_TYPE,
    fields={
        "id": Organisation.id,
        "name": Organisation.name,
        "legal_name": Organisation.legal_name,
        "siren": Organisation.siren,
        "siret": Organisation.siret,
        "vat_number": Organisation.vat_number,
        "naf_code": Organisation.naf_code,
        "legal_form": Organisation.legal_form,
        "headcount_bracket": Organisation.headcount_bracket,
        "headcount": Organisation.headcount,
        "size_category": Organisation.size_category,
        "website": Organisation.website,
        "email": cast(Organisation.emails, String),
        "phone": cast(Organisation.phones, String),
        "postal_code": Organisation.postal_code,
        "city": Organisation.city,
        "country": Organisation.country,
        "type": Organisation.type,
        "source": Organisation.source,
        "parent_id": Organisation.parent_id,
        "finess": Organisation.finess,
        "finess_ej": Organisation.finess_ej,
        "establishment_category": Organisation.establishment_category,
        "establishment_status": Organisation.establishment_status,
        "owner_id": Organisation.owner_id,
        "department_id": Organisation.department_id,
        "created_at": Organisation.created_at,
        "updated_at": Organisation.updated_at,
    },
    sortable={
        "name",
        "city",
        "postal_code",
        "type",
        "size_category",
        "headcount",
        "created_at",
        "updated_at",
        "siren",
        "naf_code",
    },
)


def size_category(headcount: int | None, revenue: Decimal | None) -> str | None:
    """Décret 2008-1354 art. 3 (france.md §6.5); "TPE" is the usual name of a micro-entreprise."""
    if headcount is None:
        return None
    if headcount < 10 and (revenue is None or revenue <= Decimal("2000000")):
        return "TPE"
    if headcount < 250 and (revenue is None or revenue <= Decimal("50000000")):
        return "PME"
    if headcount < 5000 and (revenue is None or revenue <= Decimal("1500000000")):
        return "ETI"
    return "GE"


def latest_revenue(history: dict[str, Any]) -> Decimal | None:
    if not history:
        return None
    return Decimal(str(history[max(history, key=int)]))


def _clean_revenue(value: Any, errors: FieldErrors) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.add("revenue_history", "Must map years to amounts", "invalid_type")
        return {}
    out: dict[str, str] = {}
    for year, amount in value.items():
        try:
            y = int(year)
            if not 1900 <= y <= 2100:
                raise ValueError
            a = Decimal(str(amount).replace(" ", "").replace(",", "."))
            if not a.is_finite() or abs(a) > Decimal("1e13"):
                raise ValueError
            out[str(y)] = str(a.quantize(Decimal("1")))
        except (ValueError, InvalidOperation):
            errors.add(f"revenue_history.{year}", "Enter a year and an amount in euros", "invalid")
    return dict(sorted(out.items()))


def _headcount_from_bracket(bracket: str | None) -> int | None:
    if not bracket:
        return None
    low = bracket.rstrip("+").split("-")[0]
    return int(low) if low.isdigit() else None


def snapshot(org: Organisation) -> dict[str, Any]:
    data = {f: getattr(org, f) for f in SIMPLE_FIELDS}
    data.update(
        siren=org.siren,
        siret=org.siret,
        vat_number=org.vat_number,
        naf_code=org.naf_code,
        headcount_bracket=org.headcount_bracket,
        headcount=org.headcount,
        revenue_history=dict(org.revenue_history or {}),
        website=org.website,
        emails=list(org.emails or []),
        phones=list(org.phones or []),
        country=org.country,
        type=org.type,
        parent_id=org.parent_id,
        finess=org.finess,
        finess_ej=org.finess_ej,
        establishment_category=org.establishment_category,
        establishment_status=org.establishment_status,
        owner_id=org.owner_id,
        department_id=org.department_id,
        custom_fields=dict(org.custom_fields or {}),
    )
    return data


# The representation's own columns: it adds the tags.
READ_COLUMNS = tuple(name for name in OrganisationRead.model_fields if name != "tags")


def _read_fields(org: Any, tag_names: list[str]) -> dict[str, Any]:
    """The representation as Python values, from an Organisation or a row of the READ_COLUMNS."""
    fields = fields_of(org, READ_COLUMNS)
    fields["revenue_history"] = dict(fields["revenue_history"] or {})
    fields["tags"] = tag_names
    return fields


def to_read(org: Organisation, tag_names: list[str]) -> dict[str, Any]:
    """The representation as JSON values (event payloads, webhooks, exports)."""
    return OrganisationRead.model_validate(_read_fields(org, tag_names)).model_dump(mode="json")


def _apply(
    db: Session, actor: Actor, org: Organisation, data: dict[str, Any], creating: bool
) -> list[str] | None:
    errors = FieldErrors()
    for f in SIMPLE_FIELDS:
        if f in data:
            value = data[f]
            value = value.strip() if isinstance(value, str) else value
            limit = MAX_LENGTHS.get(f)
            if limit and isinstance(value, str) and len(value) > limit:
                errors.add(f, "At most {max} characters", "too_long", max=limit)
                continue
            setattr(org, f, value or None)
    if creating or "name" in data:
        if not (org.name or "").strip():
            errors.add("name", "This field is required", "required")
    if "country" in data or creating:
        country = countries.clean_country(data.get("country"), errors)
        if country is not None:
            org.country = country
    if countries.uses_siren(org.country):
        if "siren" in data:
            org.siren = clean_siren(data["siren"], errors)
        if "siret" in data:
            org.siret = clean_siret(data["siret"], errors)
        if org.siret and org.siren and not org.siret.startswith(org.siren) and "siret" in data:
            errors.add("siret", "The SIRET must start with the SIREN", "siret_mismatch")
        if org.siret and not org.siren:
            org.siren = org.siret[:9]
    else:
        # france.md §1.5: a foreign business is identified by its VAT number, never a SIREN.
        for name in ("siren", "siret"):
            if name in data:
                setattr(org, name, str(data[name] or "").strip() or None)
            if getattr(org, name):
                errors.add(
                    name,
                    "Only an organisation registered in France has a {name}: clear it or choose France",
                    f"{name}_not_foreign",
                    name=name.upper(),
                )
    if "vat_number" in data:
        org.vat_number = clean_vat(data["vat_number"], errors, country=org.country)
    elif "country" in data and org.vat_number:
        # the stored number is checked again for the new country
        org.vat_number = clean_vat(org.vat_number, errors, country=org.country)
    if "naf_code" in data:
        org.naf_code = clean_naf(data["naf_code"], errors)
    if "finess" in data:
        org.finess = clean_finess(data["finess"], errors)
    if "finess_ej" in data:
        org.finess_ej = clean_finess(data["finess_ej"], errors, "finess_ej")
    for field, choices in (
        ("establishment_category", ESTABLISHMENT_CATEGORIES),
        ("establishment_status", ESTABLISHMENT_STATUSES),
    ):
        if field in data:
            value = data[field] or None
            if value is not None and value not in choices:
                errors.add(field, "Choose one of: {values}", "invalid_choice", values=", ".join(choices))
            setattr(org, field, value)
    if "website" in data:
        org.website = clean_url(data["website"], errors, "website")
    if "emails" in data:
        org.emails = clean_list(data["emails"], clean_email, errors, "emails")
    if "phones" in data:
        org.phones = clean_list(data["phones"], clean_phone, errors, "phones")
    if "type" in data or creating:
        org.type = data.get("type") or org.type or "prospect"
        if org.type not in ORGANISATION_TYPES:
            errors.add(
                "type", "Choose one of: {values}", "invalid_choice", values=", ".join(ORGANISATION_TYPES)
            )
    if "headcount_bracket" in data:
        bracket = data["headcount_bracket"] or None
        if bracket is not None and bracket not in HEADCOUNT_BRACKETS:
            errors.add(
                "headcount_bracket",
                "Choose one of: {values}",
                "invalid_choice",
                values=", ".join(HEADCOUNT_BRACKETS),
            )
        org.headcount_bracket = bracket
    if "headcount" in data:
        org.headcount = data["headcount"]
    if "revenue_history" in data:
        org.revenue_history = _clean_revenue(data["revenue_history"], errors)
    if (
        org.postal_code
        and org.country == "FR"
        and not (len(org.postal_code) == 5 and org.postal_code.isdigit())
    ):
        errors.add("postal_code", "A French postal code has 5 digits", "invalid_postal_code")
    if "parent_id" in data and data["parent_id"] is not None:
        parent_id = data["parent_id"]
        if parent_id == org.id:
            errors.add("parent_id", "An organisation cannot be its own parent", "invalid")
        elif (
            db.scalar(
                select(Organisation.id).where(
                    Organisation.id == parent_id,
                    permissions.visible_for_model(db, actor, RECORD_TYPE, Organisation),
                )
            )
            is None
        ):
            errors.add("parent_id", "Unknown organisation", "unknown")
        elif _would_cycle(db, org.id, parent_id):
            errors.add("parent_id", "This would make a loop of parent organisations", "cycle")
        org.parent_id = parent_id
    elif "parent_id" in data:
        org.parent_id = None
    org.owner_id, org.department_id = ownership.resolve(
        db, actor, data, None if creating else org.owner_id, None if creating else org.department_id, errors
    )
    if "custom_fields" in data or creating:
        org.custom_fields = customfields.validate(
            db, RECORD_TYPE, data.get("custom_fields"), None if creating else org.custom_fields, errors
        )
    tag_names = tags.clean_names(data["tags"], errors) if "tags" in data else None
    errors.raise_if_any()
    headcount = org.headcount if org.headcount is not None else _headcount_from_bracket(org.headcount_bracket)
    org.size_category = size_category(headcount, latest_revenue(org.revenue_history))
    org.updated_by_id = actor.user_id
    return tag_names


def _would_cycle(db: Session, org_id: int | None, parent_id: int) -> bool:
    seen = set()
    current: int | None = parent_id
    while current is not None and current not in seen:
        if current == org_id:
            return True
        seen.add(current)
        current = db.scalar(select(Organisation.parent_id).where(Organisation.id == current))
    return False


def _document(org: Organisation) -> search.Document:
    body = search.document_text(
        org.name,
        org.legal_name,
        org.city,
        org.postal_code,
        *(org.emails or []),
        org.website,
        numbers=(org.siren, org.siret, org.finess, org.finess_ej, *(org.phones or [])),
    )
    subtitle = " · ".join(x for x in (org.city, org.siren) if x)
    return search.Document(org.id, org.name, subtitle, body, org.owner_id, org.department_id)


def _index(db: Session, org: Organisation) -> None:
    doc = _document(org)
    search.index_record(
        db, RECORD_TYPE, org.id, doc.title, doc.subtitle, doc.body, doc.owner_id, doc.department_id
    )


def create_organisation(db: Session, actor: Actor, data: dict[str, Any]) -> Organisation:
    lifecycle.require(actor, RECORD_TYPE, "create")
    org = Organisation(
        created_by_id=actor.user_id, revenue_history={}, emails=[], phones=[], custom_fields={}
    )
    tag_names = _apply(db, actor, org, data, creating=True)
    db.add(org)
    db.flush()
    names = tags.set_tags(db, actor, "organisations", RECORD_TYPE, org.id, tag_names) if tag_names else []
    _index(db, org)
    lifecycle.created(
        db, actor, RECORD_TYPE, org, {**snapshot(org), "tags": names}, org.name, to_read(org, names)
    )
    db.commit()
    return org


def update_organisation(
    db: Session, actor: Actor, org: Organisation, data: dict[str, Any], expected_version: int | None = None
) -> Organisation:
    lifecycle.require(actor, RECORD_TYPE, "update")
    lifecycle.check_version(org, expected_version)
    before = {**snapshot(org), "tags": tags.tags_for(db, RECORD_TYPE, [org.id]).get(org.id, [])}
    tag_names = _apply(db, actor, org, data, creating=False)
    names = (
        tags.set_tags(db, actor, "organisations", RECORD_TYPE, org.id, tag_names)
        if tag_names is not None
        else before["tags"]
    )
    after = {**snapshot(org), "tags": names}
    if before == after:
        db.rollback()
        return org
    db.flush()
    _index(db, org)
    if before["name"] != org.name:
        search.reindex_dependents(db, RECORD_TYPE, org.id)
    lifecycle.updated(db, actor, RECORD_TYPE, org, before, after, org.name, to_read(org, names))
    db.commit()
    return org


# -- set-based writes (imports) ---------------------------------------------------------------------


def create_organisations(
    db: Session, actor: Actor, items: list[dict[str, Any]]
) -> list[Organisation | DomainError]:
    """`create_organisation` for many records at once: each item is validated exactly as alone
    (the result is its error, and nothing of it is written), then the valid ones are written with
    one statement per table: rows, taggings, search documents, events and audit entries. The caller
    commits (an import commits each chunk with its report)."""
    lifecycle.require(actor, RECORD_TYPE, "create")
    results: list[Organisation | DomainError] = []
    valid: list[tuple[Organisation, list[str]]] = []
    with memo.batch(db):
        for data in items:
            org = Organisation(
                created_by_id=actor.user_id, revenue_history={}, emails=[], phones=[], custom_fields={}
            )
            try:
                tag_names = _apply(db, actor, org, data, creating=True) or []
                tags.require_can_create(db, actor, RECORD_TYPE, tag_names)
            except DomainError as exc:
                results.append(as_result(exc))
                continue
            results.append(org)
            valid.append((org, tag_names))
        lifecycle.insert_new(db, Organisation, [org for org, _ in valid])
        names = tags.set_tags_many(db, actor, RECORD_TYPE, {org.id: t for org, t in valid if t})
    search.index_records(db, RECORD_TYPE, [_document(org) for org, _ in valid], new=True)
    written = []
    for org, _ in valid:
        org_tags = names.get(org.id, [])
        written.append(
            lifecycle.Written(org, {}, {**snapshot(org), "tags": org_tags}, org.name, to_read(org, org_tags))
        )
    lifecycle.created_many(db, actor, RECORD_TYPE, written)
    return results


def update_organisations(
    db: Session, actor: Actor, items: list[tuple[Organisation, dict[str, Any]]]
) -> list[lifecycle.Written | DomainError]:
    """`update_organisation` for many records at once, as `create_organisations` does. A record
    the data does not change comes back with `before == after`, untouched."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    current_tags = tags.tags_for(db, RECORD_TYPE, [org.id for org, _ in items])
    results: list[lifecycle.Written | DomainError] = []
    changed: list[tuple[lifecycle.Written, list[str] | None]] = []
    with memo.batch(db), db.no_autoflush:
        for org, data in items:
            before = {**snapshot(org), "tags": current_tags.get(org.id, [])}
            try:
                tag_names = _apply(db, actor, org, data, creating=False)
                if tag_names is not None:
                    tags.require_can_create(db, actor, RECORD_TYPE, tag_names)
            except DomainError as exc:
                db.expire(org)  # forget what was applied before the error
                results.append(as_result(exc))
                continue
            after = {**snapshot(org), "tags": before["tags"] if tag_names is None else tag_names}
            if _tag_key(after["tags"]) == _tag_key(before["tags"]):
                after["tags"] = before["tags"]
            written = lifecycle.Written(org, before, after, org.name, {})
            results.append(written)
            if after == before:
                db.expire(org)  # not even updated_by changes
            else:
                changed.append((written, tag_names))
    db.flush()
    names = tags.set_tags_many(
        db,
        actor,
        RECORD_TYPE,
        {w.obj.id: t for w, t in changed if t is not None and w.after["tags"] != w.before["tags"]},
    )
    for w, _ in changed:
        w.after["tags"] = names.get(w.obj.id, w.after["tags"])
        w.payload = to_read(w.obj, w.after["tags"])
    search.index_records(db, RECORD_TYPE, [_document(w.obj) for w, _ in changed])
    for w, _ in changed:
        if w.before["name"] != w.obj.name:
            search.reindex_dependents(db, RECORD_TYPE, w.obj.id)
    lifecycle.updated_many(db, actor, RECORD_TYPE, [w for w, _ in changed])
    return results


def _tag_key(names: list[str]) -> list[str]:
    return sorted(n.lower() for n in names)


def delete_organisation(
    db: Session, actor: Actor, org: Organisation, expected_version: int | None = None
) -> None:
    lifecycle.require(actor, RECORD_TYPE, "delete")
    lifecycle.check_version(org, expected_version)
    names = tags.tags_for(db, RECORD_TYPE, [org.id]).get(org.id, [])
    payload = to_read(org, names)
    lifecycle.deleted(db, actor, RECORD_TYPE, org, {**snapshot(org), "tags": names}, org.name, payload)
    db.delete(org)
    db.commit()


def get_organisation(db: Session, actor: Actor, org_id: Any) -> Organisation:
    return lifecycle.get_visible(db, actor, RECORD_TYPE, org_id)


def visible_clause(db: Session, actor: Actor) -> ColumnElement[bool]:
    return permissions.visible_for_model(db, actor, RECORD_TYPE, Organisation)


def visible_ids_named(db: Session, actor: Actor, prefix: str) -> Select:
    """The ids of the organisations `actor` sees whose folded name (`core.text.fold`) starts with
    `prefix` (folded), as a subquery: a picker of another record type filters its rows by client
    with it, before the client of each row is fetched (a join per row scanned costs ten times more
    on 100,000 quotes). PostgreSQL answers it from an index (migration 0067)."""
    return select(Organisation.id).where(
        search.folded(Organisation.name).startswith(prefix, autoescape=True), visible_clause(db, actor)
    )


def list_organisations(
    db: Session, actor: Actor, params: ListParams
) -> tuple[list[Organisation], str | None]:
    lifecycle.require(actor, RECORD_TYPE, "read")
    return page(db, LISTING, _list_statement(db, actor, select(Organisation), params.q), params)


def list_organisation_reads(
    db: Session, actor: Actor, params: ListParams
) -> tuple[list[dict[str, Any]], str | None]:
    """`list_organisations` as `api_reads` representations, read as plain rows: no ORM object is
    built for a page the API serialises at once."""
    lifecycle.require(actor, RECORD_TYPE, "read")
    # READ_COLUMNS hold every column a page can be sorted on, as the cursor needs.
    columns = Organisation.__table__.c
    stmt = _list_statement(db, actor, select(*(columns[name] for name in READ_COLUMNS)), params.q)
    rows, cursor = page_rows(db, LISTING, stmt, params)
    return api_reads(db, rows), cursor


def _list_statement(db: Session, actor: Actor, stmt: Select, q: str | None) -> Select:
    stmt = stmt.where(visible_clause(db, actor))
    if q:
        like = f"%{q.strip().lower()}%"
        stmt = stmt.where(func.lower(Organisation.name).like(like) | (Organisation.siren == q.strip()))
    return stmt


def count_organisations(db: Session, actor: Actor, params: ListParams) -> int:
    stmt = LISTING.apply_filters(
        select(func.count()).select_from(Organisation).where(visible_clause(db, actor)), params
    )
    return db.scalar(stmt) or 0


def establishments(db: Session, actor: Actor, org: Organisation) -> list[Organisation]:
    return list(
        db.scalars(
            select(Organisation)
            .where(Organisation.parent_id == org.id, visible_clause(db, actor))
            .order_by(Organisation.name)
        )
    )


def ght_of(db: Session, actor: Actor, org: Organisation) -> Organisation | None:
    """The GHT this establishment belongs to: its parent when that parent is a visible GHT."""
    if org.parent_id is None:
        return None
    return db.scalar(
        select(Organisation).where(
            Organisation.id == org.parent_id,
            Organisation.establishment_category == "ght",
            visible_clause(db, actor),
        )
    )


def health_establishments(db: Session, actor: Actor, limit: int = 500) -> list[Organisation]:
    """Visible organisations with an establishment category other than GHT, by name (pickers)."""
    lifecycle.require(actor, RECORD_TYPE, "read")
    return list(
        db.scalars(
            select(Organisation)
            .where(
                Organisation.establishment_category.is_not(None),
                Organisation.establishment_category != "ght",
                visible_clause(db, actor),
            )
            .order_by(Organisation.name, Organisation.id)
            .limit(limit)
        )
    )


def reads(db: Session, orgs: list[Organisation]) -> list[dict[str, Any]]:
    """Representations as JSON values; the tags are loaded in one query."""
    return [OrganisationRead.model_validate(fields).model_dump(mode="json") for fields in api_reads(db, orgs)]


def api_reads(db: Session, orgs: list[Any]) -> list[dict[str, Any]]:
    """Representations as Python values, of Organisations or rows of their columns, for a route
    whose response model (OrganisationRead) validates and serialises them once."""
    tag_map = tags.tags_for(db, RECORD_TYPE, [o.id for o in orgs])
    return [_read_fields(o, tag_map.get(o.id, [])) for o in orgs]


def names_by_id(db: Session, actor: Actor, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = db.execute(
        select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids), visible_clause(db, actor))
    )
    return {r.id: r.name for r in rows}


def require_visible_id(db: Session, actor: Actor, org_id: int, field: str, errors: FieldErrors) -> None:
    """For other domains linking to an organisation: the link target must be visible."""
    visible = memo.cached(
        db,
        ("visible_organisation", actor.user_id, org_id),
        lambda: (
            db.scalar(select(Organisation.id).where(Organisation.id == org_id, visible_clause(db, actor)))
            is not None
        ),
    )
    if not visible:
        errors.add(field, "Unknown organisation", "unknown")


def find_by_name(db: Session, actor: Actor, name: str, limit: int = 2) -> list[Organisation]:
    """Visible organisations named `name`, ignoring case (for links typed as a name, as in an
    imported file). Records spelled exactly the same come first and alone when there are any."""
    lifecycle.require(actor, RECORD_TYPE, "read")
    text = unicodedata.normalize("NFC", name or "").strip()
    if not text:
        return []
    visible = visible_clause(db, actor)
    exact = list(
        db.scalars(
            select(Organisation)
            .where(Organisation.name == text, visible)
            .order_by(Organisation.id)
            .limit(limit)
        )
    )
    if exact:
        return exact
    # SQLite folds only ASCII letters: match the other characters with a wildcard, then compare
    # the few candidates in Python.
    pattern = "".join(
        c if c.isascii() else "_" for c in text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    )
    candidates = db.scalars(
        select(Organisation)
        .where(Organisation.name.ilike(pattern, escape="\\"), visible)
        .order_by(Organisation.id)
        .limit(50)
    )
    wanted = text.casefold()
    return [o for o in candidates if unicodedata.normalize("NFC", o.name).casefold() == wanted][:limit]


def find_by_number(db: Session, actor: Actor, number: str) -> Organisation | None:
    """The visible organisation with this SIRET (14 digits) or SIREN (9 digits). A SIRET nobody
    holds falls back to its SIREN; a SIREN prefers the record without a SIRET (the company itself)."""
    lifecycle.require(actor, RECORD_TYPE, "read")
    digits = re.sub(r"\D", "", number or "")
    visible = visible_clause(db, actor)
    if len(digits) == 14:
        found = db.scalars(
            select(Organisation)
            .where(Organisation.siret == digits, visible)
            .order_by(Organisation.id)
            .limit(1)
        ).first()
        if found is not None:
            return found
        digits = digits[:9]
    if len(digits) != 9:
        return None
    return db.scalars(
        select(Organisation)
        .where(Organisation.siren == digits, visible)
        .order_by(Organisation.siret.is_(None).desc(), Organisation.id)
        .limit(1)
    ).first()


records.register_actions(RECORD_TYPE, get_organisation, update_organisation, delete_organisation)
