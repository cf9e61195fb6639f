"""Readable history: the fields of audit changes that hold ids (owner, department, organisation,
contact, deal, pipeline, stage...) shown by name, as the reader may see them, and field names as
words ("expected_close_date" → "Expected close date", translated by the template)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.accounts.models import Department, User
from carnet.core import search
from carnet.core.audit import AuditEntry
from carnet.core.context import Actor
from carnet.deals.models import Pipeline, Stage

USER_FIELDS = frozenset({"owner_id", "manager_id", "user_id", "closed_by_id", "assignee_id"})
# Fields naming a record of a searchable type: its title comes from the search index, with the
# reader's visibility (a record they may not see keeps its number).
RECORD_FIELDS = {
    "organisation_id": "organisation",
    "parent_id": "organisation",
    "contact_id": "contact",
    "deal_id": "deal",
}
FIELD_LABELS = {
    "owner_id": "Owner",
    "department_id": "Department",
    "organisation_id": "Organisation",
    "parent_id": "Parent organisation",
    "contact_id": "Contact",
    "deal_id": "Deal",
    "pipeline_id": "Pipeline",
    "stage_id": "Stage",
    "manager_id": "Manager",
    "siren": "SIREN",
    "siret": "SIRET",
    "naf_code": "NAF code",
    "vat_number": "VAT number",
    "vat_rate": "VAT rate",
    "finess": "FINESS",
    "rpps": "RPPS",
    "linkedin_url": "LinkedIn",
    "address_line1": "Address",
    "address_line2": "Address line 2",
    "headcount_bracket": "Headcount",
    "total_net": "Total excl. VAT",
    "total_vat": "VAT",
    "total_gross": "Total incl. VAT",
    "purchase_order": "Purchase order number",
    "sale_date": "Date of the sale or service",
    "operation_category": "Nature of the operation",
    "deposit_percent": "Deposit (%)",
    "global_discount_percent": "Global discount (%)",
    "global_discount_amount": "Global discount (€)",
    "public_hospital": "Public hospital (payment within 50 days)",
    "pdf_sha256": "PDF SHA-256",
}


def field_label(field: str) -> str:
    """English words for a field name; the template translates them."""
    if field in FIELD_LABELS:
        return FIELD_LABELS[field]
    words = field.removesuffix("_id").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def _ids(entries: list[AuditEntry]) -> dict[str, set[int]]:
    found: dict[str, set[int]] = defaultdict(set)
    for entry in entries:
        for field, change in (entry.changes or {}).items():
            if not isinstance(change, dict):
                continue
            for value in (change.get("old"), change.get("new")):
                if isinstance(value, int) and not isinstance(value, bool):
                    found[field].add(value)
    return found


def value_names(db: Session, actor: Actor, entries: list[AuditEntry]) -> dict[tuple[str, int], str]:
    """{(field, id): name} for the id-valued changes of `entries` that can be named."""
    ids = _ids(entries)
    names: dict[tuple[str, int], str] = {}

    def lookup(fields: list[str], model: Any, label: Any) -> None:
        wanted = set().union(*(ids.get(f, set()) for f in fields))
        if not wanted:
            return
        rows = {row.id: label(row) for row in db.scalars(select(model).where(model.id.in_(wanted)))}
        for f in fields:
            for value in ids.get(f, ()):
                if value in rows:
                    names[(f, value)] = rows[value]

    lookup([f for f in ids if f in USER_FIELDS], User, lambda u: u.full_name)
    lookup(["department_id"], Department, lambda d: d.name)
    lookup(["pipeline_id"], Pipeline, lambda p: p.name)
    lookup(["stage_id"], Stage, lambda s: s.name)
    for field, record_type in RECORD_FIELDS.items():
        for value in ids.get(field, ()):
            hit = search.hit_for(db, actor, record_type, value)
            if hit is not None:
                names[(field, value)] = hit.title
    return names
