from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    event,
    inspect,
)
from sqlalchemy.orm import Mapped, mapped_column

from carnet.core.db import Base, JSONType, Money, RecordMixin
from carnet.core.errors import Conflict

DRAFT, ISSUED, PARTIALLY_PAID, PAID, OVERDUE, CANCELLED = (
    "draft",
    "issued",
    "partially_paid",
    "paid",
    "overdue",
    "cancelled",
)
INVOICE_STATUSES = (DRAFT, ISSUED, PARTIALLY_PAID, PAID, OVERDUE, CANCELLED)
# Statuses of an issued document that still waits for money.
OPEN_STATUSES = (ISSUED, PARTIALLY_PAID, OVERDUE)
INVOICE, DEPOSIT, CREDIT_NOTE = "invoice", "deposit", "credit_note"
KINDS = (INVOICE, DEPOSIT, CREDIT_NOTE)
ZERO = Decimal("0.00")


class Invoice(RecordMixin, Base):
    """An invoice, a deposit invoice or a credit note. A draft has no number and may change or be
    deleted; issuing gives it the next number of its series and freezes everything it states
    (france.md §1.3): lines, totals, parties, dates, the Factur-X PDF and its SHA-256. After that
    only its payment state changes (status, amounts paid and credited), checked below."""

    __tablename__ = "invoices"
    __table_args__ = (
        Index("ix_invoices_series_issue_date", "series", "issue_date"),
        Index("ix_invoices_status_due_date", "status", "due_date"),
        Index("ix_invoices_dept_status", "department_id", "status", "id"),
    )

    kind: Mapped[str] = mapped_column(String(12), default=INVOICE, index=True)
    number: Mapped[str | None] = mapped_column(String(40), unique=True)
    series: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16), default=DRAFT, index=True)
    title: Mapped[str | None] = mapped_column(String(200))
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id", ondelete="SET NULL"), index=True)
    quote_id: Mapped[int | None] = mapped_column(ForeignKey("quotes.id", ondelete="SET NULL"), index=True)
    # The contract whose billing schedule made it (contracts live in a higher-level module).
    contract_id: Mapped[int | None] = mapped_column(Integer, index=True)
    credited_invoice_id: Mapped[int | None] = mapped_column(
        ForeignKey("invoices.id", ondelete="RESTRICT"), index=True
    )
    deposit_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    # Deposit invoices deducted by this final invoice (ids), fixed at issue.
    deducted_deposit_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    issue_date: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date, index=True)
    payment_terms: Mapped[str] = mapped_column(String(20), default="30_days")
    public_hospital: Mapped[bool] = mapped_column(Boolean, default=False)
    periodic: Mapped[bool] = mapped_column(Boolean, default=False)
    sale_date: Mapped[date | None] = mapped_column(Date)  # BT-72, when it differs from the issue date
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    delivery_address: Mapped[str | None] = mapped_column(String(500))
    operation_category: Mapped[str] = mapped_column(String(10), default="services")
    purchase_order: Mapped[str | None] = mapped_column(String(60))
    notes: Mapped[str | None] = mapped_column(Text)
    global_discount_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    global_discount_amount: Mapped[Decimal | None] = mapped_column(Money)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    totals: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Seller and buyer as printed, frozen at issue (the company or the client may change later).
    parties: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    total_net: Mapped[Decimal] = mapped_column(Money, default=ZERO)
    total_vat: Mapped[Decimal] = mapped_column(Money, default=ZERO)
    total_gross: Mapped[Decimal] = mapped_column(Money, default=ZERO)
    prepaid_amount: Mapped[Decimal] = mapped_column(Money, default=ZERO)  # deposits deducted, BT-113
    amount_due: Mapped[Decimal] = mapped_column(Money, default=ZERO)  # BT-115
    amount_paid: Mapped[Decimal] = mapped_column(Money, default=ZERO)
    amount_credited: Mapped[Decimal] = mapped_column(Money, default=ZERO)
    issued_at: Mapped[datetime | None] = mapped_column()
    issued_by_id: Mapped[int | None] = mapped_column(Integer)
    paid_at: Mapped[datetime | None] = mapped_column()
    cancelled_at: Mapped[datetime | None] = mapped_column()
    overdue_at: Mapped[datetime | None] = mapped_column()
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    facturx_xml: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)


# What may still change once an invoice is issued: its payment and credit state, and bookkeeping.
MUTABLE_WHEN_ISSUED = frozenset(
    {
        "status",
        "amount_paid",
        "amount_credited",
        "paid_at",
        "cancelled_at",
        "overdue_at",
        "version",
        "updated_at",
        "updated_by_id",
        "owner_id",
        "department_id",
        "custom_fields",
        "organisation_id",  # SET NULL if the organisation is deleted: the frozen parties remain
        "contact_id",
        "deal_id",
        "quote_id",
    }
)


def _was_issued(target: Invoice) -> bool:
    history = inspect(target).attrs.issued_at.history
    if history.deleted:
        return history.deleted[0] is not None
    return target.issued_at is not None and not history.added


@event.listens_for(Invoice, "before_update")
def _issued_invoices_never_change(_mapper: Any, _connection: Any, target: Invoice) -> None:
    """The last line of defence of france.md §1.3: whatever a caller does, the frozen fields of an
    issued invoice cannot be written."""
    if not _was_issued(target):
        return
    state = inspect(target)
    for attr in state.mapper.column_attrs:
        if attr.key in MUTABLE_WHEN_ISSUED:
            continue
        if state.attrs[attr.key].history.has_changes():
            raise Conflict("An issued invoice cannot be changed", code="invoice_issued")


@event.listens_for(Invoice, "before_delete")
def _issued_invoices_are_never_deleted(_mapper: Any, _connection: Any, target: Invoice) -> None:
    if target.issued_at is not None or target.number is not None:
        raise Conflict("An issued invoice cannot be deleted", code="invoice_issued")
