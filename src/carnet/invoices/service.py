"""Invoices, deposit invoices and credit notes: every write goes through here (validation,
visibility, issuing with gapless numbers, immutability, payment state, audit and events).

Numbering (france.md §1.3): a draft has no number and may be deleted. Issuing takes the next value
of the series' counter (core.sequences, one counter per pattern and year: `{YYYY}-F-{seq:04}` for
invoices and deposit invoices, `{YYYY}-A-{seq:04}` for credit notes) inside the issuing
transaction. The counter's row lock is held until commit, so two issuers queue; a transaction
that fails after taking a number (bad date, rendering error) rolls the counter back: no gap.
Chronology: under that lock the issue date is compared with the latest issue date of the series,
and an earlier one is refused (no back-dating).

Immutability: issuing freezes the lines, totals, parties (company and client as printed), dates,
the Factur-X PDF and its SHA-256 (models.py refuses any later write of those columns). An issued
invoice is corrected only by a credit note that refers to it (france.md §2.1), in full or in part.

Status: draft → issued → partially_paid / paid, overdue (a daily job, `invoice.overdue`), or
cancelled once credit notes cover it in full. The payments module reports what was paid with
`apply_payment_status`.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from carnet.catalogue.models import Product
from carnet.company import service as company_service
from carnet.core import (
    audit,
    clock,
    events,
    inputs,
    jobs,
    lifecycle,
    money,
    ownership,
    permissions,
    records,
    sequences,
)
from carnet.core.context import Actor
from carnet.core.errors import Conflict, FieldErrors, NotFound, ValidationFailed
from carnet.core.listing import Listing, ListParams, page
from carnet.documents import clients, exemptions, terms
from carnet.documents import lines as doc_lines
from carnet.invoices import buyers, facturx, rendering
from carnet.invoices.models import (
    CANCELLED,
    CREDIT_NOTE,
    DEPOSIT,
    DRAFT,
    INVOICE,
    ISSUED,
    OVERDUE,
    PAID,
    PARTIALLY_PAID,
    ZERO,
    Invoice,
)
from carnet.quotes import service as quotes
from carnet.quotes.models import ACCEPTED, Quote

log = logging.getLogger("carnet.invoices")
RECORD_TYPE = "invoice"
records.register(RECORD_TYPE, Invoice, "invoices", "Invoice", "/invoices")
PARIS = ZoneInfo("Europe/Paris")
OPERATION_CATEGORIES = ("goods", "services", "mixed")
LISTING = Listing(
    model=Invoice,
    record_type=RECORD_TYPE,
    fields={
        "id": Invoice.id,
        "kind": Invoice.kind,
        "number": Invoice.number,
        "title": Invoice.title,
        "status": Invoice.status,
        "organisation_id": Invoice.organisation_id,
        "contact_id": Invoice.contact_id,
        "deal_id": Invoice.deal_id,
        "quote_id": Invoice.quote_id,
        "contract_id": Invoice.contract_id,
        "credited_invoice_id": Invoice.credited_invoice_id,
        "issue_date": Invoice.issue_date,
        "due_date": Invoice.due_date,
        "total_net": Invoice.total_net,
        "total_gross": Invoice.total_gross,
        "amount_due": Invoice.amount_due,
        "amount_paid": Invoice.amount_paid,
        "owner_id": Invoice.owner_id,
        "department_id": Invoice.department_id,
        "created_at": Invoice.created_at,
        "updated_at": Invoice.updated_at,
    },
    sortable={"number", "issue_date", "due_date", "total_net", "total_gross", "created_at", "updated_at"},
)


def today() -> date:
    """Business dates are French dates."""
    return clock.now().astimezone(PARIS).date()


# -- reading ---------------------------------------------------------------------------------------


def visible_clause(db: Session, actor: Actor) -> ColumnElement[bool]:
    return permissions.visible_for_model(db, actor, RECORD_TYPE, Invoice)


def preview_totals(db: Session, actor: Actor, data: dict[str, Any]) -> doc_lines.Totals:
    """Totals of the lines of a draft being edited, nothing saved (the editor's live totals)."""
    lifecycle.require(actor, RECORD_TYPE, "read")
    return doc_lines.preview(data)


def get_invoice(db: Session, actor: Actor, invoice_id: Any) -> Invoice:
    return lifecycle.get_visible(db, actor, RECORD_TYPE, invoice_id)


def _search(stmt: Any, q: str | None) -> Any:
    if q:
        needle = q.strip().lower()
        stmt = stmt.where(
            func.lower(func.coalesce(Invoice.number, "")).contains(needle, autoescape=True)
            | func.lower(func.coalesce(Invoice.title, "")).contains(needle, autoescape=True)
        )
    return stmt


def list_invoices(db: Session, actor: Actor, params: ListParams) -> tuple[list[Invoice], str | None]:
    lifecycle.require(actor, RECORD_TYPE, "read")
    return page(db, LISTING, _search(select(Invoice).where(visible_clause(db, actor)), params.q), params)


@dataclass(frozen=True)
class StatusTotal:
    status: str
    count: int
    total_gross: Decimal
    outstanding: Decimal


def totals_by_status(db: Session, actor: Actor, kind: str | None = None) -> list[StatusTotal]:
    """Count, total incl. VAT and what is still to be paid, per status (the list page's totals)."""
    lifecycle.require(actor, RECORD_TYPE, "read")
    stmt = select(
        Invoice.status,
        func.count(),
        func.coalesce(func.sum(Invoice.total_gross), 0),
        func.coalesce(func.sum(Invoice.amount_due - Invoice.amount_paid - Invoice.amount_credited), 0),
    ).where(visible_clause(db, actor))
    if kind:
        stmt = stmt.where(Invoice.kind == kind)
    rows = db.execute(stmt.group_by(Invoice.status))
    return [StatusTotal(s, int(n), money.cents(Decimal(g)), money.cents(Decimal(o))) for s, n, g, o in rows]


def balance(invoice: Invoice) -> Decimal:
    """What the client still owes on an issued invoice (never below zero)."""
    if invoice.kind == CREDIT_NOTE or invoice.issued_at is None:
        return ZERO
    left = Decimal(invoice.amount_due) - Decimal(invoice.amount_paid) - Decimal(invoice.amount_credited)
    return max(money.cents(left), ZERO)


def credit_notes_of(db: Session, invoice: Invoice) -> list[Invoice]:
    return list(
        db.scalars(
            select(Invoice)
            .where(Invoice.credited_invoice_id == invoice.id, Invoice.kind == CREDIT_NOTE)
            .order_by(Invoice.id)
        )
    )


def to_read(invoice: Invoice) -> dict[str, Any]:
    return {
        "id": invoice.id,
        "kind": invoice.kind,
        "number": invoice.number,
        "status": invoice.status,
        "title": invoice.title,
        "organisation_id": invoice.organisation_id,
        "contact_id": invoice.contact_id,
        "deal_id": invoice.deal_id,
        "quote_id": invoice.quote_id,
        "contract_id": invoice.contract_id,
        "credited_invoice_id": invoice.credited_invoice_id,
        "deposit_percent": money.money_str(invoice.deposit_percent),
        "deducted_deposit_ids": list(invoice.deducted_deposit_ids or []),
        "issue_date": invoice.issue_date,
        "due_date": invoice.due_date,
        "payment_terms": invoice.payment_terms,
        "public_hospital": invoice.public_hospital,
        "periodic": invoice.periodic,
        "sale_date": invoice.sale_date,
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "delivery_address": invoice.delivery_address,
        "operation_category": invoice.operation_category,
        "purchase_order": invoice.purchase_order,
        "notes": invoice.notes,
        "global_discount_percent": money.money_str(invoice.global_discount_percent),
        "global_discount_amount": money.money_str(invoice.global_discount_amount),
        "lines": invoice.lines,
        "totals": invoice.totals,
        "buyer": (invoice.parties or {}).get("buyer"),
        "total_net": money.money_str(invoice.total_net),
        "total_vat": money.money_str(invoice.total_vat),
        "total_gross": money.money_str(invoice.total_gross),
        "prepaid_amount": money.money_str(invoice.prepaid_amount),
        "amount_due": money.money_str(invoice.amount_due),
        "amount_paid": money.money_str(invoice.amount_paid),
        "amount_credited": money.money_str(invoice.amount_credited),
        "balance": money.money_str(balance(invoice)),
        "issued_at": invoice.issued_at,
        "paid_at": invoice.paid_at,
        "cancelled_at": invoice.cancelled_at,
        "pdf_sha256": invoice.pdf_sha256,
        "owner_id": invoice.owner_id,
        "department_id": invoice.department_id,
        "custom_fields": dict(invoice.custom_fields or {}),
        "version": invoice.version,
        "created_at": invoice.created_at,
        "updated_at": invoice.updated_at,
    }


def snapshot(invoice: Invoice) -> dict[str, Any]:
    """What the audit trail compares."""
    data = to_read(invoice)
    for key in ("id", "version", "created_at", "updated_at", "totals", "buyer", "balance"):
        data.pop(key)
    return data


def _payload(invoice: Invoice, **extra: Any) -> dict[str, Any]:
    return {
        "invoice_id": invoice.id,
        "kind": invoice.kind,
        "number": invoice.number,
        "status": invoice.status,
        "organisation_id": invoice.organisation_id,
        "issue_date": invoice.issue_date.isoformat() if invoice.issue_date else None,
        "due_date": invoice.due_date.isoformat() if invoice.due_date else None,
        "total_net": money.money_str(invoice.total_net),
        "total_gross": money.money_str(invoice.total_gross),
        "amount_due": money.money_str(invoice.amount_due),
        "amount_paid": money.money_str(invoice.amount_paid),
        **extra,
    }


# -- validation ------------------------------------------------------------------------------------


def _clean(
    db: Session, actor: Actor, invoice: Invoice, data: dict[str, Any], creating: bool
) -> tuple[dict[str, Any], doc_lines.Totals]:
    """Validate `data` for a draft; every problem is reported at once (ValidationFailed)."""
    errors = FieldErrors()
    v: dict[str, Any] = {}
    if "title" in data:
        v["title"] = inputs.text(data["title"], "title", 200, errors)
    v.update(clients.clean_links(db, actor, invoice, data, errors))
    org_after = v.get("organisation_id", invoice.organisation_id)
    if (creating or "organisation_id" in data) and not org_after:
        errors.add("organisation_id", "Choose the client organisation", "required")
    v["owner_id"], v["department_id"] = ownership.resolve(
        db,
        actor,
        data,
        None if creating else invoice.owner_id,
        None if creating else invoice.department_id,
        errors,
    )
    if data.get("payment_terms") not in (None, ""):
        v["payment_terms"] = inputs.collect(errors, terms.clean_terms, data["payment_terms"])
    for name in ("public_hospital",):
        if name in data and data[name] is not None:
            v[name] = bool(data[name])
    for name in ("sale_date", "period_start", "period_end"):
        if name in data:
            v[name] = inputs.day(data[name], name, errors)
    start = v.get("period_start", invoice.period_start)
    end = v.get("period_end", invoice.period_end)
    if start and end and end < start:
        errors.add("period_end", "The end of the period is before its start", "before_start")
    if "delivery_address" in data:
        v["delivery_address"] = inputs.text(data["delivery_address"], "delivery_address", 500, errors)
    if "purchase_order" in data:
        order = inputs.text(data["purchase_order"], "purchase_order", 60, errors)
        v["purchase_order"] = order
    if data.get("operation_category") not in (None, ""):
        if data["operation_category"] not in OPERATION_CATEGORIES:
            errors.add("operation_category", "Choose goods, services or mixed", "invalid_choice")
        v["operation_category"] = data["operation_category"]
    if "notes" in data:
        v["notes"] = inputs.text(data["notes"], "notes", 10000, errors)
    parsed = None
    if "lines" in data or creating:
        parsed = inputs.collect(errors, doc_lines.parse_lines, data.get("lines") or [])
        if parsed is not None:
            product_ids = {line.product_id for line in parsed if line.product_id}
            if product_ids:
                known = set(db.scalars(select(Product.id).where(Product.id.in_(product_ids))))
                for i, line in enumerate(parsed):
                    if line.product_id and line.product_id not in known:
                        errors.add(f"lines.{i}.product_id", "Unknown product", "unknown")
    line_inputs = parsed if parsed is not None else [doc_lines.line_from_dict(d) for d in invoice.lines]
    lines_net = doc_lines.compute(line_inputs).lines_net
    percent_raw = data.get("global_discount_percent", invoice.global_discount_percent)
    amount_raw = data.get("global_discount_amount", invoice.global_discount_amount)
    discount = inputs.collect(errors, doc_lines.parse_discount, percent_raw, amount_raw, lines_net)
    errors.raise_if_any()
    if "global_discount_percent" in data or "global_discount_amount" in data:
        v["global_discount_percent"] = discount.percent if discount else None
        v["global_discount_amount"] = discount.amount if discount else None
    if parsed is not None:
        v["lines"] = [doc_lines.line_to_dict(line) for line in parsed]
    return v, doc_lines.compute(line_inputs, discount)


def _apply_totals(invoice: Invoice, totals: doc_lines.Totals) -> None:
    invoice.totals = totals.as_dict()
    invoice.total_net = totals.total_net
    invoice.total_vat = totals.total_vat
    invoice.total_gross = totals.total_gross
    invoice.amount_due = totals.total_gross - Decimal(invoice.prepaid_amount or 0)


def _require_draft(invoice: Invoice) -> None:
    if invoice.status != DRAFT or invoice.issued_at is not None:
        raise Conflict("An issued invoice cannot be changed: issue a credit note", code="invoice_issued")


# -- drafts ----------------------------------------------------------------------------------------


def _new_draft(db: Session, actor: Actor, kind: str, data: dict[str, Any]) -> Invoice:
    company = company_service.get_company(db)
    invoice = Invoice(
        kind=kind,
        status=DRAFT,
        custom_fields={},
        lines=[],
        totals={},
        parties={},
        deducted_deposit_ids=[],
        payment_terms=company.default_payment_terms,
        operation_category=company.operation_category,
        prepaid_amount=ZERO,
        amount_paid=ZERO,
        amount_credited=ZERO,
        public_hospital=False,
        periodic=False,
        created_by_id=actor.user_id,
    )
    with db.no_autoflush:
        values, totals = _clean(db, actor, invoice, data, True)
    for key, value in values.items():
        setattr(invoice, key, value)
    _apply_totals(invoice, totals)
    invoice.updated_by_id = actor.user_id
    return invoice


def _created(db: Session, actor: Actor, invoice: Invoice) -> Invoice:
    db.add(invoice)
    db.flush()
    lifecycle.created(
        db, actor, RECORD_TYPE, invoice, snapshot(invoice), _summary(invoice), _payload(invoice)
    )
    db.commit()
    return invoice


def _summary(invoice: Invoice) -> str:
    return invoice.number or invoice.title or f"Draft #{invoice.id}"


def create_invoice(db: Session, actor: Actor, data: dict[str, Any]) -> Invoice:
    """A draft invoice from scratch (or a deposit invoice with `kind: "deposit"`)."""
    lifecycle.require(actor, RECORD_TYPE, "create")
    kind = data.get("kind") or INVOICE
    if kind not in (INVOICE, DEPOSIT):
        raise ValidationFailed.on("kind", "Choose invoice or deposit", "invalid_choice")
    return _created(db, actor, _new_draft(db, actor, kind, data))


def _accepted_quote(db: Session, actor: Actor, quote_id: Any) -> tuple[Any, Any]:
    try:
        quote = quotes.get_quote(db, actor, quote_id)
    except NotFound:
        raise ValidationFailed.on("quote_id", "Unknown quote", "unknown")
    if quote.status != ACCEPTED:
        raise ValidationFailed.on("quote_id", "Only an accepted quote can be invoiced", "quote_not_accepted")
    version = quotes.get_version(db, actor, quote, quote.accepted_version or quote.current_version)
    return quote, version


def _deposits_of_quote(db: Session, quote_id: int, *, exclude: int | None = None) -> list[Invoice]:
    """Issued deposit invoices of a quote that no issued final invoice has deducted yet."""
    deposits = list(
        db.scalars(
            select(Invoice)
            .where(Invoice.quote_id == quote_id, Invoice.kind == DEPOSIT, Invoice.issued_at.is_not(None))
            .order_by(Invoice.id)
        )
    )
    finals = db.scalars(
        select(Invoice.deducted_deposit_ids).where(
            Invoice.quote_id == quote_id,
            Invoice.kind == INVOICE,
            Invoice.issued_at.is_not(None),
            Invoice.id != (exclude or 0),
        )
    )
    taken = {i for ids in finals for i in (ids or [])}
    return [d for d in deposits if d.id not in taken and d.status != CANCELLED]


def _quote_totals(version: Any) -> doc_lines.Totals:
    discount = None
    if version.global_discount_percent or version.global_discount_amount:
        discount = doc_lines.Discount(
            percent=Decimal(version.global_discount_percent) if version.global_discount_percent else None,
            amount=Decimal(version.global_discount_amount) if version.global_discount_amount else None,
        )
    return doc_lines.compute([doc_lines.line_from_dict(d) for d in version.lines], discount)


def _deposit_value(deposit: Invoice) -> Decimal:
    return Decimal(deposit.total_gross) - Decimal(deposit.amount_credited)


def create_from_quote(
    db: Session, actor: Actor, quote_id: Any, deposit_percent: Any = None, data: dict[str, Any] | None = None
) -> Invoice:
    """A draft from an accepted quote: all of it (the final invoice, which deducts the deposits
    already invoiced, france.md §2.2), or a deposit invoice of `deposit_percent` % of each VAT
    rate's base (one line per rate, so the deposit carries the VAT of what it pays for)."""
    lifecycle.require(actor, RECORD_TYPE, "create")
    quote, version = _accepted_quote(db, actor, quote_id)
    buyer = (version.parties or {}).get("buyer") or {}
    base: dict[str, Any] = {
        "title": quote.title,
        "organisation_id": quote.organisation_id or buyer.get("organisation_id"),
        "contact_id": quote.contact_id,
        "deal_id": quote.deal_id,
        "payment_terms": version.payment_terms,
        "delivery_address": version.delivery_address,
        "operation_category": version.operation_category,
        "sale_date": version.execution_date.isoformat() if version.execution_date else None,
        **(data or {}),
    }
    if deposit_percent in (None, ""):
        base["lines"] = list(version.lines)
        base["global_discount_percent"] = version.global_discount_percent
        base["global_discount_amount"] = version.global_discount_amount
        invoice = _new_draft(db, actor, INVOICE, base)
        deposits = _deposits_of_quote(db, quote.id)
        invoice.prepaid_amount = sum((_deposit_value(d) for d in deposits), ZERO)
        invoice.amount_due = Decimal(invoice.total_gross) - invoice.prepaid_amount
    else:
        percent = money.percent(deposit_percent, "deposit_percent")
        if not 0 < percent < 100:
            raise ValidationFailed.on(
                "deposit_percent", "Enter a percentage between 0 and 100", "out_of_range"
            )
        # One line per VAT rate, and at 0 % per exemption category, each with the mentions of
        # the lines it pays for: the deposit declares the VAT (or its absence) of what it pays.
        groups = exemptions.vat_groups(_quote_totals(version))
        zero_rated = sum(1 for g in groups if g.rate == 0)
        lines = []
        for group in groups:
            amount = money.cents(group.base * percent / 100)
            if not amount:
                continue
            reason = "; ".join(group.reasons)[:200] or "Exonération de TVA"
            suffix = f" (TVA {group.rate.normalize():f} %)" if len(groups) > 1 else ""
            if group.rate == 0 and zero_rated > 1:
                suffix = f" (TVA 0 %, {reason})"
            line = {
                "description": f"Acompte de {percent.normalize():f} % sur le devis n° {quote.number}{suffix}",
                "quantity": "1",
                "unit_price": f"{amount:.2f}",
                "vat_rate": f"{group.rate:.2f}",
            }
            if group.rate == 0:
                line["vat_exemption_reason"] = reason
            lines.append(line)
        base["lines"] = lines
        invoice = _new_draft(db, actor, DEPOSIT, base)
        invoice.deposit_percent = percent
    invoice.quote_id = quote.id
    return _created(db, actor, invoice)


def create_invoice_from_schedule(
    db: Session,
    actor: Actor,
    contract_id: int,
    period_start: date,
    period_end: date,
    lines: list[dict[str, Any]],
    *,
    organisation_id: int,
    contact_id: int | None = None,
    deal_id: int | None = None,
    payment_terms: str | None = None,
    title: str | None = None,
) -> Invoice:
    """A draft invoice for one billing period of a contract (called by the contracts module).
    It is a periodic invoice: its due date is capped at 45 days (france.md §1.4)."""
    lifecycle.require(actor, RECORD_TYPE, "create")
    data: dict[str, Any] = {
        "title": title,
        "organisation_id": organisation_id,
        "contact_id": contact_id,
        "deal_id": deal_id,
        "period_start": period_start,
        "period_end": period_end,
        "lines": lines,
    }
    if payment_terms:
        data["payment_terms"] = payment_terms
    invoice = _new_draft(db, actor, INVOICE, data)
    invoice.contract_id = contract_id
    invoice.periodic = True
    return _created(db, actor, invoice)


def update_invoice(
    db: Session, actor: Actor, invoice: Invoice, data: dict[str, Any], expected_version: int | None = None
) -> Invoice:
    """Change a draft; an issued invoice answers 409 (france.md §1.3)."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    _require_draft(invoice)
    lifecycle.check_version(invoice, expected_version)
    before = snapshot(invoice)
    with db.no_autoflush:
        values, totals = _clean(db, actor, invoice, data, False)
    for key, value in values.items():
        setattr(invoice, key, value)
    _apply_totals(invoice, totals)
    after = snapshot(invoice)
    if before == after:
        db.rollback()
        return invoice
    invoice.updated_by_id = actor.user_id
    db.flush()
    lifecycle.updated(db, actor, RECORD_TYPE, invoice, before, after, _summary(invoice), _payload(invoice))
    db.commit()
    return invoice


def delete_invoice(db: Session, actor: Actor, invoice: Invoice, expected_version: int | None = None) -> None:
    """Only a draft can be deleted; an issued invoice stays (409)."""
    lifecycle.require(actor, RECORD_TYPE, "delete")
    _require_draft(invoice)
    lifecycle.check_version(invoice, expected_version)
    lifecycle.deleted(
        db, actor, RECORD_TYPE, invoice, snapshot(invoice), _summary(invoice), _payload(invoice)
    )
    db.delete(invoice)
    db.commit()


# -- credit notes ----------------------------------------------------------------------------------


def creditable(db: Session, invoice: Invoice, *, exclude: int | None = None) -> Decimal:
    """What credit notes may still take off `invoice`: its total less the issued credit notes."""
    credited = db.scalar(
        select(func.coalesce(func.sum(Invoice.total_gross), 0)).where(
            Invoice.credited_invoice_id == invoice.id,
            Invoice.kind == CREDIT_NOTE,
            Invoice.issued_at.is_not(None),
            Invoice.id != (exclude or 0),
        )
    )
    return money.cents(Decimal(invoice.total_gross) - Decimal(credited or 0))


def create_credit_note(
    db: Session, actor: Actor, invoice: Invoice, data: dict[str, Any] | None = None
) -> Invoice:
    """A draft credit note correcting an issued invoice (france.md §2.1): all of it when no lines
    are given, or the given lines (a partial credit). Amounts are positive: the type carries the
    sign. With `issue: true` it is issued at once."""
    lifecycle.require(actor, RECORD_TYPE, "create")
    data = dict(data or {})
    if invoice.issued_at is None or invoice.kind == CREDIT_NOTE:
        raise Conflict("Only an issued invoice can be credited", code="not_creditable")
    remaining = creditable(db, invoice)
    if remaining <= 0:
        raise Conflict("This invoice is already credited in full", code="already_credited")
    issue = bool(data.pop("issue", False))
    base: dict[str, Any] = {
        "title": data.get("title") or f"Avoir sur la facture {invoice.number}",
        "organisation_id": invoice.organisation_id,
        "contact_id": invoice.contact_id,
        "deal_id": invoice.deal_id,
        "payment_terms": terms.ON_RECEIPT,
        "operation_category": invoice.operation_category,
        "delivery_address": invoice.delivery_address,
        "purchase_order": invoice.purchase_order,
        "notes": data.get("notes"),
    }
    if not data.get("lines"):
        base["lines"] = list(invoice.lines)
        base["global_discount_percent"] = invoice.global_discount_percent
        base["global_discount_amount"] = invoice.global_discount_amount
    else:
        base["lines"] = data["lines"]
    if invoice.organisation_id is None:
        raise Conflict("The client of this invoice was deleted: it cannot be credited here", code="no_client")
    credit = _new_draft(db, actor, CREDIT_NOTE, base)
    credit.credited_invoice_id = invoice.id
    credit.quote_id = invoice.quote_id
    if credit.total_gross > remaining:
        raise ValidationFailed.on(
            "lines",
            "A credit note cannot exceed what is left to credit on the invoice ({amount})",
            "exceeds_invoice",
            amount=f"{remaining:.2f}",
        )
    credit = _created(db, actor, credit)
    if issue:
        return issue_invoice(db, actor, credit)
    return credit


# -- issuing ---------------------------------------------------------------------------------------


def _references(db: Session, invoice: Invoice, deposits: list[Invoice]) -> dict[str, Any]:
    """What the document refers to, frozen with it: the credited invoice, the quote, deposits."""
    out: dict[str, Any] = {}
    if invoice.credited_invoice_id:
        credited = db.get(Invoice, invoice.credited_invoice_id)
        assert credited is not None and credited.number and credited.issue_date
        out["credited"] = {"number": credited.number, "issue_date": credited.issue_date.isoformat()}
    if invoice.quote_id:
        quote_number = db.scalar(select(Quote.number).where(Quote.id == invoice.quote_id))
        out["quote_number"] = quote_number
    out["deposits"] = [
        {
            "id": d.id,
            "number": d.number,
            "issue_date": d.issue_date.isoformat() if d.issue_date else None,
            "amount": f"{_deposit_value(d):.2f}",
        }
        for d in deposits
    ]
    return out


def references_of(invoice: Invoice) -> dict[str, Any]:
    """The frozen references with their dates as dates (for rendering)."""
    refs = dict((invoice.parties or {}).get("references") or {})
    if refs.get("credited"):
        refs["credited"] = {
            **refs["credited"],
            "issue_date": date.fromisoformat(refs["credited"]["issue_date"]),
        }
    refs["deposits"] = [
        {**d, "issue_date": date.fromisoformat(d["issue_date"]) if d.get("issue_date") else None}
        for d in refs.get("deposits") or []
    ]
    return refs


def _check_issuable(db: Session, invoice: Invoice, company: Any, buyer: dict[str, Any]) -> None:
    errors = FieldErrors()
    if not company.name or not company.siren:
        errors.add(
            "company",
            "Complete the company settings (name and SIREN) before issuing an invoice",
            "company_incomplete",
        )
    if not buyer:
        errors.add("organisation_id", "Choose the client organisation", "required")
    else:
        buyers.check(invoice.lines, company, buyer, errors)
    if not any(line.get("kind") != doc_lines.SECTION for line in invoice.lines):
        errors.add("lines", "Add at least one line", "required")
    if Decimal(invoice.total_gross) < 0:
        errors.add("lines", "The total cannot be negative", "negative")
    errors.raise_if_any()


def _last_issue_date(db: Session, series: str) -> date | None:
    return db.scalar(
        select(func.max(Invoice.issue_date)).where(Invoice.series == series, Invoice.issued_at.is_not(None))
    )


def issue_invoice(
    db: Session, actor: Actor, invoice: Invoice, issue_date: Any = None, expected_version: int | None = None
) -> Invoice:
    """Give the draft its number and date, freeze it and store its Factur-X PDF, in one
    transaction (france.md §1.3). Events `invoice.issued` or `credit_note.issued`."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    _require_draft(invoice)
    lifecycle.check_version(invoice, expected_version)
    before = snapshot(invoice)
    errors = FieldErrors()
    when = inputs.day(issue_date, "issue_date", errors) if issue_date not in (None, "") else today()
    errors.raise_if_any()
    assert when is not None
    if when > today():
        raise ValidationFailed.on("issue_date", "An invoice cannot be dated in the future", "in_the_future")
    company = company_service.get_company(db)
    buyer = buyers.snapshot(db, invoice)
    _check_issuable(db, invoice, company, buyer)

    # Recompute from the lines: what is issued is what the lines say, not a stale cached total.
    totals = rendering.totals_of(invoice)
    _apply_totals(invoice, totals)
    deposits: list[Invoice] = []
    if invoice.kind == INVOICE and invoice.quote_id:
        deposits = _deposits_of_quote(db, invoice.quote_id, exclude=invoice.id)
        invoice.prepaid_amount = sum((_deposit_value(d) for d in deposits), ZERO)
        if invoice.prepaid_amount > invoice.total_gross:
            raise ValidationFailed.on(
                "lines", "The deposits invoiced exceed this invoice's total", "deposits_exceed"
            )
        invoice.deducted_deposit_ids = [d.id for d in deposits]
        invoice.amount_due = Decimal(invoice.total_gross) - invoice.prepaid_amount
    credited: Invoice | None = None
    if invoice.kind == CREDIT_NOTE:
        credited = db.get(Invoice, invoice.credited_invoice_id)
        assert credited is not None
        if invoice.total_gross > creditable(db, credited, exclude=invoice.id):
            raise ValidationFailed.on(
                "lines",
                "A credit note cannot exceed what is left to credit on the invoice",
                "exceeds_invoice",
            )

    # The number: the counter row stays locked until this transaction ends.
    pattern = (
        company.credit_note_number_pattern if invoice.kind == CREDIT_NOTE else company.invoice_number_pattern
    )
    series = sequences.series_key("credit_note" if invoice.kind == CREDIT_NOTE else "invoice", pattern, when)
    value = sequences.next_value(db, series)
    last = _last_issue_date(db, series)
    if last is not None and when < last:
        db.rollback()
        raise ValidationFailed.on(
            "issue_date",
            "The issue date cannot be earlier than the last invoice of the series ({date})",
            "back_dated",
            date=last.isoformat(),
        )
    number = facturx.check_number(sequences.format_number(pattern, value, when), "number")

    invoice.number = number
    invoice.series = series
    invoice.issue_date = when
    invoice.due_date = (
        when
        if invoice.kind == CREDIT_NOTE
        else terms.due_date(when, invoice.payment_terms, invoice.public_hospital, invoice.periodic)
    )
    invoice.parties = {
        "seller": rendering.seller_snapshot(company),
        "buyer": buyer,
        "references": _references(db, invoice, deposits),
    }
    # The XML is built and checked against the XSD here: an invalid one refuses the issue (rolled
    # back, number given back). The PDF, slow to draw, is rendered once right after the commit,
    # outside the write lock, from the frozen fields (see `ensure_pdf`); a job does it if we die.
    invoice.facturx_xml = facturx.build_xml(rendering.facturx_data(invoice, references_of(invoice)))
    facturx.check_xsd(invoice.facturx_xml)
    now = clock.now()
    invoice.status = ISSUED
    invoice.issued_at = now
    invoice.issued_by_id = actor.user_id
    invoice.updated_by_id = actor.user_id
    db.flush()
    lifecycle.updated(db, actor, RECORD_TYPE, invoice, before, snapshot(invoice), number, _payload(invoice))
    audit.record(db, actor, "issue", RECORD_TYPE, invoice.id, {"number": [None, number]}, number)
    if invoice.kind == CREDIT_NOTE and credited is not None:
        events.emit(
            db,
            actor,
            "credit_note.issued",
            RECORD_TYPE,
            invoice.id,
            _payload(invoice, credited_invoice_id=credited.id, credited_number=credited.number),
        )
        _credit(db, actor, credited, Decimal(invoice.total_gross))
    else:
        events.emit(db, actor, "invoice.issued", RECORD_TYPE, invoice.id, _payload(invoice))
        _refresh_status(db, actor, invoice)
    jobs.enqueue(db, "invoices.render_pdf", {"invoice_id": invoice.id}, key=f"invoice-pdf:{invoice.id}")
    db.commit()
    try:
        ensure_pdf(db, invoice)
    except Exception:  # the invoice is issued; the queued job renders its PDF later
        db.rollback()
        log.exception("Rendering the PDF of invoice %s failed; the render job will retry", invoice.number)
    return invoice


def ensure_pdf(db: Session, invoice: Invoice) -> bytes:
    """The Factur-X PDF of an issued invoice, rendered once from its frozen fields and stored with
    its SHA-256. The UPDATE only fills an empty PDF, so two renderers never replace each other's."""
    if invoice.pdf_sha256 is not None and invoice.pdf is not None:
        return invoice.pdf
    assert invoice.issued_at is not None and invoice.facturx_xml is not None
    company = company_service.get_company(db)
    _ = company.logo  # deferred: load it before the transaction ends
    references = references_of(invoice)
    # End the read transaction before drawing: on SQLite it holds the write lock (BEGIN IMMEDIATE).
    db.commit()
    document = rendering.render_pdf(invoice, company, references)
    title = f"{rendering.TITLES[invoice.kind]} {invoice.number}"
    content = facturx.embed(document, invoice.facturx_xml, title=title, subject=title, author=company.name)
    digest = hashlib.sha256(content).hexdigest()
    stored = db.execute(
        update(Invoice)
        .where(Invoice.id == invoice.id, Invoice.pdf_sha256.is_(None))
        .values(pdf=content, pdf_sha256=digest)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.commit()
    db.refresh(invoice, ["pdf", "pdf_sha256"])
    if not stored:
        assert invoice.pdf is not None
    return invoice.pdf or content


def _credit(db: Session, actor: Actor, invoice: Invoice, amount: Decimal) -> None:
    invoice.amount_credited = Decimal(invoice.amount_credited) + amount
    _refresh_status(db, actor, invoice)


# -- payment state ---------------------------------------------------------------------------------


def _status_for(invoice: Invoice, on: date) -> str:
    if invoice.kind == CREDIT_NOTE:
        return ISSUED
    if Decimal(invoice.amount_credited) >= Decimal(invoice.total_gross) and invoice.total_gross > 0:
        return CANCELLED
    if balance(invoice) == 0:
        return PAID
    if invoice.due_date is not None and on > invoice.due_date:
        return OVERDUE
    if Decimal(invoice.amount_paid) > 0:
        return PARTIALLY_PAID
    return ISSUED


def _refresh_status(db: Session, actor: Actor, invoice: Invoice) -> str:
    """Set the status the amounts and the date call for, and emit what changed."""
    old = invoice.status
    new = _status_for(invoice, today())
    if new == old:
        return new
    now = clock.now()
    invoice.status = new
    if new == PAID:
        invoice.paid_at = now
        events.emit(db, actor, "invoice.paid", RECORD_TYPE, invoice.id, _payload(invoice))
    elif new == OVERDUE:
        invoice.overdue_at = now
        events.emit(db, actor, "invoice.overdue", RECORD_TYPE, invoice.id, _payload(invoice))
    elif new == CANCELLED:
        invoice.cancelled_at = now
        events.emit(db, actor, "invoice.cancelled", RECORD_TYPE, invoice.id, _payload(invoice))
    if old == PAID and new != PAID:
        invoice.paid_at = None
    audit.record(db, actor, "update", RECORD_TYPE, invoice.id, {"status": [old, new]}, invoice.number or "")
    return new


def apply_payment_status(
    db: Session, invoice: Invoice, amount_paid: Any = None, actor: Actor | None = None
) -> str:
    """Called by the payments module after it records or removes an allocation: `amount_paid` is
    the total now allocated to `invoice` (omitted: keep it and re-evaluate, e.g. after a credit
    note). Sets partially_paid / paid / overdue / issued and emits `invoice.paid` when it becomes
    paid. Runs in the caller's transaction; the caller commits."""
    from carnet.core.context import SYSTEM

    if invoice.issued_at is None:
        raise Conflict("A draft invoice cannot be paid", code="invoice_draft")
    if amount_paid is not None:
        paid = money.parse_money(amount_paid, "amount_paid")
        invoice.amount_paid = paid
    return _refresh_status(db, actor or SYSTEM, invoice)


def mark_overdue(db: Session, on: date | None = None, limit: int = 500) -> int:
    """Issued invoices past their due date and not paid become overdue (`invoice.overdue`)."""
    from carnet.core.context import SYSTEM

    on = on or today()
    rows = list(
        db.scalars(
            select(Invoice)
            .where(
                Invoice.status.in_((ISSUED, PARTIALLY_PAID)),
                Invoice.kind != CREDIT_NOTE,
                Invoice.due_date < on,
            )
            .order_by(Invoice.id)
            .limit(limit)
        )
    )
    for invoice in rows:
        _refresh_status(db, SYSTEM, invoice)
    return len(rows)


# -- documents -------------------------------------------------------------------------------------


def invoice_pdf(db: Session, invoice: Invoice) -> bytes:
    """The stored Factur-X PDF of an issued invoice, or a preview of a draft (no number, no XML)."""
    if invoice.issued_at is not None:
        return ensure_pdf(db, invoice)
    company = company_service.get_company(db)
    preview = Invoice(
        **{
            c.key: getattr(invoice, c.key)
            for c in Invoice.__table__.columns
            if c.key not in ("pdf", "facturx_xml")
        }
    )
    preview.parties = {
        "seller": rendering.seller_snapshot(company),
        "buyer": buyers.snapshot(db, invoice),
    }
    preview.due_date = terms.due_date(
        today(), invoice.payment_terms, invoice.public_hospital, invoice.periodic
    )
    refs: dict[str, Any] = {}
    if invoice.credited_invoice_id:
        credited = db.get(Invoice, invoice.credited_invoice_id)
        if credited is not None and credited.issue_date:
            refs["credited"] = {"number": credited.number, "issue_date": credited.issue_date}
    return rendering.render_pdf(preview, company, refs)


def invoice_xml(invoice: Invoice) -> bytes:
    if invoice.issued_at is None or invoice.facturx_xml is None:
        raise Conflict("A draft has no Factur-X XML: issue it first", code="invoice_draft")
    return invoice.facturx_xml


def render_pending_pdf(db: Session, invoice_id: int) -> None:
    """The job's work: store the PDF of an issued invoice if it is still missing."""
    invoice = db.get(Invoice, invoice_id)
    if invoice is not None and invoice.issued_at is not None and invoice.pdf_sha256 is None:
        ensure_pdf(db, invoice)


def pdf_matches(invoice: Invoice) -> bool:
    """The stored PDF is the one issued (its SHA-256 is unchanged)."""
    return bool(invoice.pdf) and hashlib.sha256(invoice.pdf or b"").hexdigest() == invoice.pdf_sha256


records.register_actions(RECORD_TYPE, get_invoice, update_invoice, delete_invoice)
