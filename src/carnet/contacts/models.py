from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from carnet.core.db import Base, JSONType, RecordMixin

CIVILITIES = ("M.", "Mme")
CONSENT_STATUSES = ("unknown", "granted", "refused", "withdrawn")
# Professions met at health establishments (issue 5 §4), with their English labels. A biomedical
# engineer is not a health professional: no RPPS number.
PROFESSION_LABELS = {
    "physician": "Physician",
    "pharmacist": "Pharmacist",
    "nurse": "Nurse",
    "midwife": "Midwife",
    "dentist": "Dental surgeon",
    "physiotherapist": "Physiotherapist",
    "biomedical_engineer": "Biomedical engineer",
    "healthcare_manager": "Healthcare manager (cadre de santé)",
    "other": "Other profession",
}
PROFESSIONS = tuple(PROFESSION_LABELS)
NO_RPPS_PROFESSIONS = ("biomedical_engineer",)
# Suggestions offered for the free-text speciality (the user may type any other).
SPECIALITY_SUGGESTIONS = (
    "Anesthésie-réanimation",
    "Cardiologie",
    "Chirurgie orthopédique",
    "Chirurgie viscérale",
    "Gériatrie",
    "Médecine générale",
    "Médecine d'urgence",
    "Néphrologie",
    "Oncologie",
    "Pharmacie hospitalière",
    "Pneumologie",
    "Radiologie",
    "Réanimation",
)


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
    profession: Mapped[str | None] = mapped_column(String(30), index=True)
    speciality: Mapped[str | None] = mapped_column(String(120))
    marketing_consent: Mapped[str] = mapped_column(String(20), default="unknown")
    marketing_consent_at: Mapped[datetime | None] = mapped_column()
    marketing_consent_source: Mapped[str | None] = mapped_column(String(120))
    do_not_call: Mapped[bool] = mapped_column(Boolean, default=False)
    city: Mapped[str | None] = mapped_column(String(120))
    notes: Mapped[str | None] = mapped_column(Text)

    @property
    def full_name(self) -> str:
        return f"{self.first_name or ''} {self.last_name or ''}".strip()


class ContactOrganisation(Base):
    """A contact's link to an organisation, with their role there."""

    __tablename__ = "contact_organisations"
    __table_args__ = (Index("ix_contact_organisations_org", "organisation_id", "contact_id"),)

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str | None] = mapped_column(String(120))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)


class ContactEstablishment(Base):
    """A health professional's place of work: an establishment, with the service (unit) and the
    role there. Separate from `ContactOrganisation` (the commercial link): a professional may
    work at several sites of a GHT while being the contact of one."""

    __tablename__ = "contact_establishments"
    __table_args__ = (Index("ix_contact_establishments_org", "organisation_id", "contact_id"),)

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    service: Mapped[str | None] = mapped_column(String(120))
    role: Mapped[str | None] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)
