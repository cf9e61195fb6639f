from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from carnet.core.db import Base, JSONType, RecordMixin

CIVILITIES = ("M.", "Mme")
CONSENT_STATUSES = ("unknown", "granted", "refused", "withdrawn")


class Contact(RecordMixin, Base):
    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_dept_last_name", "department_id", "last_name", "id"),
        Index("ix_contacts_last_name_id", "last_name", "id"),
        Index("ix_contacts_owner_last_name", "owner_id", "last_name", "id"),
    )

    civility: Mapped[str | None] = mapped_column(String(10))
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100))
    job_title: Mapped[str | None] = mapped_column(String(150))
    emails: Mapped[list[str]] = mapped_column(JSONType, default=list)
    phones: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # The first email, kept in its own indexed column for duplicate matching and filters.
    primary_email: Mapped[str | None] = mapped_column(String(254), index=True)
    linkedin_url: Mapped[str | None] = mapped_column(String(300))
    rpps: Mapped[str | None] = mapped_column(String(11))
    marketing_consent: Mapped[str] = mapped_column(String(20), default="unknown")
    marketing_consent_at: Mapped[datetime | None] = mapped_column()
    marketing_consent_source: Mapped[str | None] = mapped_column(String(120))
    do_not_call: Mapped[bool] = mapped_column(Boolean, default=False)
    city: Mapped[str | None] = mapped_column(String(120))
    notes: Mapped[str | None] = mapped_column(Text)


class ContactOrganisation(Base):
    """A contact's link to an organisation, with their role there."""

    __tablename__ = "contact_organisations"
    __table_args__ = (Index("ix_contact_organisations_org", "organisation_id", "contact_id"),)

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str | None] = mapped_column(String(120))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
