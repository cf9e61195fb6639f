from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from carnet.core.db import Base, RecordMixin

ACTIVITY_KINDS = ("call", "email", "meeting", "visit", "note")


class Activity(RecordMixin, Base):
    __tablename__ = "activities"
    __table_args__ = (
        Index("ix_activities_org_when", "organisation_id", "occurred_at"),
        Index("ix_activities_contact_when", "contact_id", "occurred_at"),
        Index("ix_activities_deal_when", "deal_id", "occurred_at"),
        Index("ix_activities_owner_when", "owner_id", "occurred_at"),
        # The activity list, newest first, walks this instead of sorting every visible row.
        Index("ix_activities_when", "occurred_at", "id"),
    )

    kind: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column()
    duration_minutes: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(String(200))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))


class ActivityParticipant(Base):
    """Other people present: users of Carnet or contacts."""

    __tablename__ = "activity_participants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
