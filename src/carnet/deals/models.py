from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from carnet.core.db import Base, IdMixin, Money, RecordMixin, TimestampMixin, VersionedMixin

STAGE_KINDS = ("open", "won", "lost")
DEAL_STATUSES = ("open", "won", "lost")


class Pipeline(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "pipelines"

    name: Mapped[str] = mapped_column(String(120), unique=True)
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_default: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)


class Stage(IdMixin, TimestampMixin, Base):
    """Configuration as data: logic keys off `kind`, never the label."""

    __tablename__ = "stages"
    __table_args__ = (UniqueConstraint("pipeline_id", "name"),)

    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(10), default="open")
    probability: Mapped[int] = mapped_column(Integer, default=0)
    rotting_days: Mapped[int | None] = mapped_column(Integer)
    color: Mapped[str | None] = mapped_column(String(20))


class Deal(RecordMixin, Base):
    __tablename__ = "deals"
    __table_args__ = (
        Index("ix_deals_pipeline_stage", "pipeline_id", "stage_id", "status"),
        # Kanban: the newest cards of a stage, and per-stage totals read from the index alone.
        Index("ix_deals_stage_entered", "stage_id", "stage_entered_at", "id"),
        Index(
            "ix_deals_board_totals",
            "pipeline_id",
            "stage_id",
            postgresql_include=["probability", "amount", "owner_id", "department_id"],
        ),
        Index("ix_deals_dept_status", "department_id", "status", "id"),
    )

    title: Mapped[str] = mapped_column(String(200))
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id"), index=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id"), index=True)
    amount: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    expected_close_date: Mapped[date | None] = mapped_column(Date, index=True)
    probability: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    lost_reason: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(String(80))
    closed_at: Mapped[datetime | None] = mapped_column()
    stage_entered_at: Mapped[datetime | None] = mapped_column()
    description: Mapped[str | None] = mapped_column(Text)


class DealContact(Base):
    __tablename__ = "deal_contacts"
    __table_args__ = (Index("ix_deal_contacts_contact", "contact_id", "deal_id"),)

    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str | None] = mapped_column(String(120))


class DealStageHistory(IdMixin, Base):
    """One row per stay of a deal in a stage; `left_at` is set when it moves on."""

    __tablename__ = "deal_stage_history"
    __table_args__ = (Index("ix_deal_stage_history_deal", "deal_id", "entered_at"),)

    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))
    stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id", ondelete="CASCADE"), index=True)
    entered_at: Mapped[datetime] = mapped_column()
    left_at: Mapped[datetime | None] = mapped_column()
    moved_by_id: Mapped[int | None] = mapped_column(Integer)


class DealStageTotal(Base):
    """Stored per-stage totals of the pipeline board, per owner and department (the two columns the
    visibility filter keys on), so the board sums a few rows instead of every deal of the pipeline.

    Kept by database triggers on `deals` (migration 0065), in the writing statement's transaction:
    whatever changes a deal (the service, a set-based UPDATE, a bulk insert, a foreign key setting
    an owner or department to NULL) changes these rows with it. See deals/totals.py."""

    __tablename__ = "deal_stage_totals"

    # No foreign keys: a derived row outlives a deleted stage or user until `carnet maintenance`
    # drops it (empty by then). 0 stands for "none" in the key (a NULL would never conflict).
    pipeline_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    stage_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    department_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    owner_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    deal_count: Mapped[int] = mapped_column(Integer, default=0)
    amount_total: Mapped[Decimal] = mapped_column(Numeric(20, 2), default=0)
    # amount × probability / 100 of the deals that have a probability (exact: 4 decimals)...
    weighted_total: Mapped[Decimal] = mapped_column(Numeric(22, 4), default=0)
    # ...and the amount of those that have none, which the board weights by the stage's probability
    # as it is when the board is read (a stage's probability can change).
    unweighted_amount: Mapped[Decimal] = mapped_column(Numeric(20, 2), default=0)
