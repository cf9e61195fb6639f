"""Payments: every write goes through here. A payment is money received from a client on a date,
by a method, with a reference; allocations spread it over that client's issued invoices (one
payment may settle several, an invoice may take several partial payments); what is left is the
client's credit, allocated later. After each change the invoices service sets each touched
invoice's status (issued / partially paid / paid / overdue) from the total allocated to it.

Bank statements: `bank.py` imports CSV lines and proposes matches; confirming one records a
payment through `record_payment`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from carnet.core import audit, inputs, lifecycle, money, ownership, permissions, records
from carnet.core.context import Actor
from carnet.core.errors import Conflict, FieldErrors, NotFound, ValidationFailed
from carnet.core.listing import Listing, ListParams, page
from carnet.invoices import service as invoices
from carnet.invoices.models import CREDIT_NOTE, OPEN_STATUSES, Invoice
from carnet.organisations import service as organisations
from carnet.payments.models import METHODS, Payment, PaymentAllocation

RECORD_TYPE = "payment"
records.register(RECORD_TYPE, Payment, "payments", "Payment", "/payments")
ZERO = Decimal("0.00")
LISTING = Listing(
    model=Payment,
    record_type=RECORD_TYPE,
    fields={
        "id": Payment.id,
        "organisation_id": Payment.organisation_id,
        "paid_on": Payment.paid_on,
        "amount": Payment.amount,
        "method": Payment.method,
        "reference": Payment.reference,
        "owner_id": Payment.owner_id,
        "department_id": Payment.department_id,
        "created_at": Payment.created_at,
    },
    sortable={"paid_on", "amount", "created_at"},
)


# -- reading ---------------------------------------------------------------------------------------


def visible_clause(db: Session, actor: Actor) -> ColumnElement[bool]:
    return permissions.visible_for_model(db, actor, RECORD_TYPE, Payment)


def get_payment(db: Session, actor: Actor, payment_id: Any) -> Payment:
    return lifecycle.get_visible(db, actor, RECORD_TYPE, payment_id)


def list_payments(db: Session, actor: Actor, params: ListParams) -> tuple[list[Payment], str | None]:
    lifecycle.require(actor, RECORD_TYPE, "read")
    stmt = select(Payment).where(visible_clause(db, actor))
    if params.q:
        stmt = stmt.where(
            func.lower(func.coalesce(Payment.reference, "")).contains(params.q.lower(), autoescape=True)
        )
    return page(db, LISTING, stmt, params)


def allocations_of(db: Session, payment: Payment) -> list[PaymentAllocation]:
    return list(
        db.scalars(
            select(PaymentAllocation)
            .where(PaymentAllocation.payment_id == payment.id)
            .order_by(PaymentAllocation.id)
        )
    )


def payments_of_invoice(
    db: Session, actor: Actor, invoice: Invoice
) -> list[tuple[Payment, PaymentAllocation]]:
    """The allocations to `invoice` with their payments (the invoice itself is visible)."""
    if not actor.can("payments:read"):
        return []
    rows = db.execute(
        select(Payment, PaymentAllocation)
        .join(PaymentAllocation, PaymentAllocation.payment_id == Payment.id)
        .where(PaymentAllocation.invoice_id == invoice.id)
        .order_by(Payment.paid_on, Payment.id)
    )
    return [(p, a) for p, a in rows]


def credit(payment: Payment) -> Decimal:
    """What is left of a payment once allocated: the client's credit."""
    return money.cents(Decimal(payment.amount) - Decimal(payment.allocated))


def client_credit(db: Session, actor: Actor, organisation_id: int) -> Decimal:
    """The client's credit: the unallocated part of its payments the actor may see."""
    lifecycle.require(actor, RECORD_TYPE, "read")
    total = db.scalar(
        select(func.coalesce(func.sum(Payment.amount - Payment.allocated), 0)).where(
            Payment.organisation_id == organisation_id, visible_clause(db, actor)
        )
    )
    return money.cents(Decimal(total or 0))


def to_read(db: Session, payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "organisation_id": payment.organisation_id,
        "paid_on": payment.paid_on,
        "amount": money.money_str(payment.amount),
        "allocated": money.money_str(payment.allocated),
        "credit": money.money_str(credit(payment)),
        "method": payment.method,
        "reference": payment.reference,
        "notes": payment.notes,
        "bank_line_id": payment.bank_line_id,
        "allocations": [
            {"invoice_id": a.invoice_id, "amount": money.money_str(a.amount)}
            for a in allocations_of(db, payment)
        ],
        "owner_id": payment.owner_id,
        "department_id": payment.department_id,
        "version": payment.version,
        "created_at": payment.created_at,
        "updated_at": payment.updated_at,
    }


def _snapshot(db: Session, payment: Payment) -> dict[str, Any]:
    data = to_read(db, payment)
    for key in ("id", "version", "created_at", "updated_at"):
        data.pop(key)
    return data


def _payload(payment: Payment, **extra: Any) -> dict[str, Any]:
    return {
        "payment_id": payment.id,
        "organisation_id": payment.organisation_id,
        "paid_on": payment.paid_on.isoformat(),
        "amount": money.money_str(payment.amount),
        "method": payment.method,
        "reference": payment.reference,
        **extra,
    }


def open_invoices(db: Session, actor: Actor, organisation_id: int) -> list[Invoice]:
    """The client's issued invoices still waiting for money, oldest due first."""
    rows = db.scalars(
        select(Invoice)
        .where(
            Invoice.organisation_id == organisation_id,
            Invoice.status.in_(OPEN_STATUSES),
            Invoice.kind != CREDIT_NOTE,
            invoices.visible_clause(db, actor),
        )
        .order_by(Invoice.due_date, Invoice.id)
    )
    return [i for i in rows if invoices.balance(i) > 0]


# -- writes ----------------------------------------------------------------------------------------


def _allocated_to(db: Session, invoice_id: int) -> Decimal:
    total = db.scalar(
        select(func.coalesce(func.sum(PaymentAllocation.amount), 0)).where(
            PaymentAllocation.invoice_id == invoice_id
        )
    )
    return money.cents(Decimal(total or 0))


def _allocate(
    db: Session, actor: Actor, payment: Payment, wanted: list[dict[str, Any]] | None, errors: FieldErrors
) -> list[Invoice]:
    """Add allocations of `payment` (explicit `wanted` ones, or by default the client's open
    invoices, oldest due first, up to what is left); returns the invoices touched."""
    left = credit(payment)
    touched: list[Invoice] = []
    plan: list[tuple[Invoice, Decimal, str]] = []
    if wanted is None:
        for invoice in open_invoices(db, actor, payment.organisation_id or 0):
            if left <= 0:
                break
            share = min(left, invoices.balance(invoice))
            plan.append((invoice, share, ""))
            left -= share
    else:
        seen: set[int] = set()
        for i, item in enumerate(wanted):
            name = f"allocations.{i}"
            try:
                invoice = invoices.get_invoice(db, actor, item.get("invoice_id"))
            except NotFound:
                errors.add(f"{name}.invoice_id", "Unknown invoice", "unknown")
                continue
            if invoice.id in seen:
                errors.add(f"{name}.invoice_id", "This invoice is already in the list", "duplicate")
                continue
            seen.add(invoice.id)
            if (
                invoice.issued_at is None
                or invoice.kind == CREDIT_NOTE
                or invoice.status not in OPEN_STATUSES
            ):
                errors.add(f"{name}.invoice_id", "This invoice is not waiting for a payment", "not_payable")
                continue
            if invoice.organisation_id != payment.organisation_id:
                errors.add(f"{name}.invoice_id", "This invoice belongs to another client", "other_client")
                continue
            try:
                amount = money.parse_money(item.get("amount", invoices.balance(invoice)), f"{name}.amount")
            except ValidationFailed as exc:
                errors.errors.extend(exc.errors)
                continue
            if amount <= 0:
                errors.add(f"{name}.amount", "Enter an amount above 0", "not_positive")
                continue
            if amount > invoices.balance(invoice):
                errors.add(
                    f"{name}.amount",
                    "More than what is left to pay on this invoice ({amount})",
                    "exceeds_balance",
                    amount=f"{invoices.balance(invoice):.2f}",
                )
                continue
            plan.append((invoice, amount, name))
        if sum((a for _i, a, _n in plan), ZERO) > left:
            errors.add(
                "allocations",
                "The allocations exceed the payment ({amount})",
                "exceeds_payment",
                amount=f"{left:.2f}",
            )
    errors.raise_if_any()
    for invoice, amount, _name in plan:
        existing = db.scalar(
            select(PaymentAllocation).where(
                PaymentAllocation.payment_id == payment.id, PaymentAllocation.invoice_id == invoice.id
            )
        )
        if existing is None:
            db.add(
                PaymentAllocation(
                    payment_id=payment.id, invoice_id=invoice.id, amount=amount, created_by_id=actor.user_id
                )
            )
        else:
            existing.amount = Decimal(existing.amount) + amount
        payment.allocated = Decimal(payment.allocated) + amount
        touched.append(invoice)
    db.flush()
    for invoice in touched:
        invoices.apply_payment_status(db, invoice, _allocated_to(db, invoice.id), actor)
    return touched


def record_payment(db: Session, actor: Actor, data: dict[str, Any], *, commit: bool = True) -> Payment:
    """Record money received. `allocations` ([{invoice_id, amount}]) says which invoices it pays;
    omitted, it pays the client's open invoices oldest due first; whatever is left is credit."""
    lifecycle.require(actor, RECORD_TYPE, "create")
    errors = FieldErrors()
    org_id = data.get("organisation_id")
    if org_id in (None, ""):
        errors.add("organisation_id", "Choose the client organisation", "required")
    else:
        try:
            org_id = int(org_id)
        except (TypeError, ValueError):
            errors.add("organisation_id", "Unknown organisation", "unknown")
            org_id = None
        else:
            organisations.require_visible_id(db, actor, org_id, "organisation_id", errors)
    paid_on = inputs.day(data.get("paid_on"), "paid_on", errors)
    if paid_on is None and data.get("paid_on") in (None, ""):
        errors.add("paid_on", "This field is required", "required")
    amount = None
    try:
        amount = money.parse_money(data.get("amount"), "amount")
        if amount <= 0:
            errors.add("amount", "Enter an amount above 0", "not_positive")
    except ValidationFailed as exc:
        errors.errors.extend(exc.errors)
    method = data.get("method") or "transfer"
    if method not in METHODS:
        errors.add("method", "Choose one of: {values}", "invalid_choice", values=", ".join(METHODS))
    reference = (data.get("reference") or "").strip() or None
    if reference and len(reference) > 140:
        errors.add("reference", "At most {max} characters", "too_long", max=140)
    owner_id, dept_id = ownership.resolve(db, actor, data, None, None, errors)
    errors.raise_if_any()
    payment = Payment(
        organisation_id=org_id,
        paid_on=paid_on,
        amount=amount,
        allocated=ZERO,
        method=method,
        reference=reference,
        notes=(data.get("notes") or "").strip() or None,
        bank_line_id=data.get("bank_line_id"),
        owner_id=owner_id,
        department_id=dept_id,
        custom_fields={},
        created_by_id=actor.user_id,
        updated_by_id=actor.user_id,
    )
    db.add(payment)
    db.flush()
    try:
        _allocate(db, actor, payment, data.get("allocations"), errors)
    except ValidationFailed:
        db.rollback()
        raise
    lifecycle.created(
        db, actor, RECORD_TYPE, payment, _snapshot(db, payment), _summary(payment), _payload(payment)
    )
    if commit:
        db.commit()
    return payment


def _summary(payment: Payment) -> str:
    return f"{payment.paid_on.isoformat()} {money.money_str(payment.amount)} €"


def allocate_credit(
    db: Session, actor: Actor, payment: Payment, allocations: list[dict[str, Any]] | None
) -> Payment:
    """Allocate what is left of a payment (the client's credit) to invoices."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    if credit(payment) <= 0:
        raise Conflict("This payment is fully allocated", code="no_credit")
    before = _snapshot(db, payment)
    try:
        _allocate(db, actor, payment, allocations, FieldErrors())
    except ValidationFailed:
        db.rollback()
        raise
    payment.updated_by_id = actor.user_id
    db.flush()
    lifecycle.updated(
        db, actor, RECORD_TYPE, payment, before, _snapshot(db, payment), _summary(payment), _payload(payment)
    )
    db.commit()
    return payment


def delete_payment(db: Session, actor: Actor, payment: Payment, expected_version: int | None = None) -> None:
    """Remove a payment recorded by mistake: its invoices go back to what the rest pays."""
    lifecycle.require(actor, RECORD_TYPE, "delete")
    lifecycle.check_version(payment, expected_version)
    invoice_ids = [a.invoice_id for a in allocations_of(db, payment)]
    lifecycle.deleted(
        db, actor, RECORD_TYPE, payment, _snapshot(db, payment), _summary(payment), _payload(payment)
    )
    db.delete(payment)
    db.flush()
    for invoice_id in invoice_ids:
        invoice = db.get(Invoice, invoice_id)
        if invoice is not None:
            invoices.apply_payment_status(db, invoice, _allocated_to(db, invoice_id), actor)
    audit.record(db, actor, "delete", RECORD_TYPE, payment.id, {}, f"invoices {invoice_ids}")
    db.commit()


def _no_update(db: Session, actor: Actor, payment: Payment, data: dict[str, Any]) -> Payment:
    raise Conflict("A payment is not edited: delete it and record it again", code="payment_immutable")


records.register_actions(RECORD_TYPE, get_payment, _no_update, delete_payment)
