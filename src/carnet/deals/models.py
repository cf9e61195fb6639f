from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
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
