from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from carnet.core import clock
from carnet.core.db import Base, IdMixin, Money, RecordMixin

METHODS = ("transfer", "cheque", "card", "direct_debit", "cash")
FRIENDLY, FIRM, FORMAL = "friendly", "firm", "formal"
DUNNING_STEPS = (FRIENDLY, FIRM, FORMAL)
# Days from the due date (J-3 friendly reminder, J+7 firm reminder, J+30 formal notice).
DEFAULT_OFFSETS = {FRIENDLY: -3, FIRM: 7, FORMAL: 30}
PENDING, MATCHED, IGNORED = "pending", "matched", "ignored"


class Payment(RecordMixin, Base):
    """Money received from a client. Allocations spread it over invoices; what is not allocated
    stays the client's credit, to allocate later."""

    __tablename__ = "payments"
    __table_args__ = (Index("ix_payments_org_date", "organisation_id", "paid_on"),)

    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    paid_on: Mapped[date] = mapped_column(Date, index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    allocated: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    method: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str | None] = mapped_column(String(140))
    notes: Mapped[str | None] = mapped_column(Text)
    bank_line_id: Mapped[int | None] = mapped_column(Integer, index=True)


class PaymentAllocation(IdMixin, Base):
    """Part of a payment settling one invoice."""

    __tablename__ = "payment_allocations"
    __table_args__ = (UniqueConstraint("payment_id", "invoice_id"),)

    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="RESTRICT"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    created_by_id: Mapped[int | None] = mapped_column(Integer)


class BankLine(IdMixin, Base):
    """One line of an imported bank statement, waiting to be matched with invoices (the user
    confirms a proposal: it becomes a payment) or ignored."""

    __tablename__ = "bank_lines"
    __table_args__ = (Index("ix_bank_lines_status", "status", "id"),)

    statement: Mapped[str] = mapped_column(String(200))
    line_no: Mapped[int] = mapped_column(Integer)
    booked_on: Mapped[date] = mapped_column(Date)
    label: Mapped[str] = mapped_column(String(500))
    amount: Mapped[Decimal] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id", ondelete="SET NULL"))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL"), index=True
    )
    imported_by_id: Mapped[int | None] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(default=clock.now)


class DunningTemplate(IdMixin, Base):
    """The editable email of one dunning step (defaults in `dunning.DEFAULT_TEMPLATES`)."""

    __tablename__ = "dunning_templates"

    step: Mapped[str] = mapped_column(String(10), unique=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)
    updated_by_id: Mapped[int | None] = mapped_column(Integer)


class DunningPlan(IdMixin, Base):
    """A client's own dunning schedule (days from the due date per step) and its pause."""

    __tablename__ = "dunning_plans"

    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), unique=True
    )
    friendly_days: Mapped[int] = mapped_column(Integer, default=DEFAULT_OFFSETS[FRIENDLY])
    firm_days: Mapped[int] = mapped_column(Integer, default=DEFAULT_OFFSETS[FIRM])
    formal_days: Mapped[int] = mapped_column(Integer, default=DEFAULT_OFFSETS[FORMAL])
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class DunningHold(IdMixin, Base):
    """Dunning paused for one invoice (e.g. a dispute), until removed."""

    __tablename__ = "dunning_holds"

    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), unique=True)
    reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    created_by_id: Mapped[int | None] = mapped_column(Integer)


class DunningReminder(IdMixin, Base):
    """One dunning step for one invoice, at most once (unique): sent (with its email and, for the
    formal notice, the PDF letter) or skipped because a later step was already due."""

    __tablename__ = "dunning_reminders"
    __table_args__ = (UniqueConstraint("invoice_id", "step"),)

    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(Integer, index=True)
    step: Mapped[str] = mapped_column(String(10))
    sent: Mapped[bool] = mapped_column(Boolean, default=True)
    due_date: Mapped[date] = mapped_column(Date)
    balance: Mapped[Decimal] = mapped_column(Money)
    email_id: Mapped[int | None] = mapped_column(Integer)
    to_address: Mapped[str | None] = mapped_column(String(254))
    letter: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
