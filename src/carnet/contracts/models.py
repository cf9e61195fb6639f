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
    Numeric,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from carnet.core import clock
from carnet.core.db import Base, IdMixin, JSONType, Money, RecordMixin
from carnet.core.errors import Conflict

ACTIVE, TO_RENEW, RENEWED, TERMINATED, EXPIRED = "active", "to_renew", "renewed", "terminated", "expired"
CONTRACT_STATUSES = (ACTIVE, TO_RENEW, RENEWED, TERMINATED, EXPIRED)
# Statuses of a contract that still runs (it may be renewed, alerted, invoiced).
RUNNING_STATUSES = (ACTIVE, TO_RENEW, RENEWED)
CONTRACT_TYPES = ("service", "subscription", "maintenance")
BILLING_PERIODS = ("monthly", "quarterly", "yearly")
PERIOD_MONTHS = {"monthly": 1, "quarterly": 3, "yearly": 12}
TERMINATION_REASONS = ("price", "dissatisfaction", "competitor", "other")
ALERT_OFFSETS = (90, 60, 30)  # renewal alerts, in days before the end date
# The terms an amendment (avenant) changes; each version freezes them.
TERM_FIELDS = (
    "contract_type",
    "amount",
    "vat_rate",
    "billing_period",
    "end_date",
    "tacit_renewal",
    "notice_days",
    "renewal_months",
)


class Contract(RecordMixin, Base):
    """A contract with a client organisation. Its current terms are on this row and in its latest
    version; an amendment adds a version (older ones never change). `start_date` is the first day
    the contract ever ran; `period_start`/`end_date` bound the current period, which a renewal
    moves forward (recorded as a ContractRenewal)."""

    __tablename__ = "contracts"
    __table_args__ = (
        Index("ix_contracts_status_end_date", "status", "end_date"),
        Index("ix_contracts_dept_status", "department_id", "status", "id"),
    )

    title: Mapped[str] = mapped_column(String(200))
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id", ondelete="SET NULL"), index=True)
    quote_id: Mapped[int | None] = mapped_column(ForeignKey("quotes.id", ondelete="SET NULL"), index=True)
    contract_type: Mapped[str] = mapped_column(String(20), default="service")
    status: Mapped[str] = mapped_column(String(12), default=ACTIVE, index=True)
    start_date: Mapped[date] = mapped_column(Date)
    period_start: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date, index=True)
    amount: Mapped[Decimal] = mapped_column(Money)  # excl. VAT, per billing period
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("20.00"))
    billing_period: Mapped[str] = mapped_column(String(10), default="monthly")
    tacit_renewal: Mapped[bool] = mapped_column(Boolean, default=False)
    notice_days: Mapped[int] = mapped_column(Integer, default=0)
    renewal_months: Mapped[int] = mapped_column(Integer, default=12)
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    renewal_count: Mapped[int] = mapped_column(Integer, default=0)
    # Optional automatic draft invoices, one per billing period from `next_billing_date`.
    auto_invoice: Mapped[bool] = mapped_column(Boolean, default=False)
    next_billing_date: Mapped[date | None] = mapped_column(Date, index=True)
    # Optional email to the client with each renewal alert.
    client_email: Mapped[str | None] = mapped_column(String(254))
    notify_client: Mapped[bool] = mapped_column(Boolean, default=False)
    signed_attachment_id: Mapped[int | None] = mapped_column(
        ForeignKey("attachments.id", ondelete="SET NULL")
    )
    notes: Mapped[str | None] = mapped_column(Text)
    termination_reason: Mapped[str | None] = mapped_column(String(20))
    termination_date: Mapped[date | None] = mapped_column(Date)  # effective: no service from that day
    termination_note: Mapped[str | None] = mapped_column(Text)
    terminated_at: Mapped[datetime | None] = mapped_column()
    expired_at: Mapped[datetime | None] = mapped_column()


class ContractVersion(IdMixin, Base):
    """The terms of a contract from `effective_date` on: version 1 at signature, then one per
    amendment. Written once, never changed (see the listener below)."""

    __tablename__ = "contract_versions"
    __table_args__ = (UniqueConstraint("contract_id", "version"),)

    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    effective_date: Mapped[date] = mapped_column(Date)
    terms: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    created_by_id: Mapped[int | None] = mapped_column(Integer)


@event.listens_for(ContractVersion, "before_update")
def _versions_never_change(_mapper: Any, _connection: Any, _target: ContractVersion) -> None:
    raise Conflict("An amendment cannot be changed once recorded", code="version_frozen")


@event.listens_for(ContractVersion, "before_delete")
def _versions_are_never_deleted(_mapper: Any, _connection: Any, _target: ContractVersion) -> None:
    raise Conflict("An amendment cannot be changed once recorded", code="version_frozen")


class ContractRenewal(IdMixin, Base):
    """One renewal: the period that ended and the one that follows (tacit or decided)."""

    __tablename__ = "contract_renewals"
    __table_args__ = (UniqueConstraint("contract_id", "previous_end"),)

    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # tacit | manual
    previous_start: Mapped[date] = mapped_column(Date)
    previous_end: Mapped[date] = mapped_column(Date, index=True)
    new_start: Mapped[date] = mapped_column(Date)
    new_end: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    renewed_at: Mapped[datetime] = mapped_column(default=clock.now)
    actor_id: Mapped[int | None] = mapped_column(Integer)


class ContractAlert(IdMixin, Base):
    """A renewal alert sent (or skipped because a closer one was due) for one period end: the
    unique key makes each of J-90, J-60, J-30 happen at most once per period."""

    __tablename__ = "contract_alerts"
    __table_args__ = (UniqueConstraint("contract_id", "offset_days", "period_end"),)

    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"), index=True)
    offset_days: Mapped[int] = mapped_column(Integer)
    period_end: Mapped[date] = mapped_column(Date)
    sent: Mapped[bool] = mapped_column(Boolean, default=True)
    task_id: Mapped[int | None] = mapped_column(Integer)
    email_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class ContractBilling(IdMixin, Base):
    """A billing period invoiced automatically (the draft invoice's id): one per period start."""

    __tablename__ = "contract_billings"
    __table_args__ = (UniqueConstraint("contract_id", "period_start"),)

    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"), index=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    invoice_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
