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
    UniqueConstraint,
    event,
    inspect,
)
from sqlalchemy.orm import Mapped, mapped_column

from carnet.core.db import Base, IdMixin, JSONType, Money, RecordMixin
from carnet.core.errors import Conflict

DRAFT, SENT, ACCEPTED, REFUSED, EXPIRED = "draft", "sent", "accepted", "refused", "expired"
QUOTE_STATUSES = (DRAFT, SENT, ACCEPTED, REFUSED, EXPIRED)


class Quote(RecordMixin, Base):
    """A quote (devis). Its lines, totals and terms live in its versions: the current one is
    edited in place until it is sent; editing a sent quote starts a new version."""

    __tablename__ = "quotes"
    __table_args__ = (Index("ix_quotes_status_valid_until", "status", "valid_until"),)

    number: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str | None] = mapped_column(String(200))
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(10), default=DRAFT, index=True)
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    valid_until: Mapped[date] = mapped_column(Date)
    total_net: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    total_vat: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    total_gross: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    sent_at: Mapped[datetime | None] = mapped_column()
    accepted_at: Mapped[datetime | None] = mapped_column()
    refused_at: Mapped[datetime | None] = mapped_column()
    expired_at: Mapped[datetime | None] = mapped_column()
    refusal_reason: Mapped[str | None] = mapped_column(String(500))
    accepted_version: Mapped[int | None] = mapped_column(Integer)
    # The public link: only the SHA-256 of the token is kept; it stops working at `link_expires_at`.
    public_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    link_expires_at: Mapped[datetime | None] = mapped_column()


class QuoteVersion(IdMixin, Base):
    """One version of a quote: its header fields, lines and totals, and its PDF once sent.
    A sent version is frozen: it never changes again (checked below, before any UPDATE)."""

    __tablename__ = "quote_versions"
    __table_args__ = (UniqueConstraint("quote_id", "version"),)

    quote_id: Mapped[int] = mapped_column(ForeignKey("quotes.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column()
    created_by_id: Mapped[int | None] = mapped_column(Integer)
    issue_date: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    payment_terms: Mapped[str] = mapped_column(String(20))
    deposit_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    execution_date: Mapped[date | None] = mapped_column(Date)
    delivery_address: Mapped[str | None] = mapped_column(String(500))
    operation_category: Mapped[str] = mapped_column(String(10))
    notes: Mapped[str | None] = mapped_column(Text)
    global_discount_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    global_discount_amount: Mapped[Decimal | None] = mapped_column(Money)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    totals: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Who the quote was for and from, as printed (the organisation may change later).
    parties: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    total_net: Mapped[Decimal] = mapped_column(Money)
    total_vat: Mapped[Decimal] = mapped_column(Money)
    total_gross: Mapped[Decimal] = mapped_column(Money)
    frozen_at: Mapped[datetime | None] = mapped_column()
    sent_to: Mapped[str | None] = mapped_column(String(320))
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))


@event.listens_for(QuoteVersion, "before_update")
def _frozen_versions_never_change(_mapper: Any, _connection: Any, target: QuoteVersion) -> None:
    history = inspect(target).attrs.frozen_at.history
    was_frozen = history.deleted[0] if history.deleted else (target.frozen_at if not history.added else None)
    if was_frozen is not None:
        raise Conflict("A sent version of a quote cannot be changed", code="version_frozen")


class QuoteSignature(IdMixin, Base):
    """The client's electronic signature of one version: who, when, from where, what exactly
    (the SHA-256 of the PDF they read), and the signed PDF archived read-only."""

    __tablename__ = "quote_signatures"

    quote_id: Mapped[int] = mapped_column(ForeignKey("quotes.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    signer_name: Mapped[str] = mapped_column(String(200))
    signed_at: Mapped[datetime] = mapped_column()
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
    consent: Mapped[bool] = mapped_column(Boolean)
    document_sha256: Mapped[str] = mapped_column(String(64))
    signature_png: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    signed_pdf_path: Mapped[str] = mapped_column(String(500))
    signed_pdf_sha256: Mapped[str] = mapped_column(String(64))
