"""The transparency register: agreements (conventions) and benefits (avantages) granted to health
professionals and establishments, and the dated thresholds the rules read
(documentation/health-transparency.md)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from carnet.core.db import Base, IdMixin, Money, RecordMixin, TimestampMixin

NATURES = ("meal", "hospitality", "travel", "gift", "fee", "other")
NATURE_LABELS = {
    "meal": "Meal",
    "hospitality": "Hospitality",
    "travel": "Travel",
    "gift": "Gift",
    "fee": "Fee",
    "other": "Other benefit",
}
# Who receives: the Transparence Santé beneficiary categories we deal with. The anti-gift regime
# (L.1453-3 ff.) covers professionals, students and their associations, not establishments.
BENEFICIARY_CATEGORIES = ("health_professional", "student", "association", "establishment", "other")
BENEFICIARY_LABELS = {
    "health_professional": "Health professional",
    "student": "Student",
    "association": "Association",
    "establishment": "Health establishment",
    "other": "Other beneficiary",
}
ANTI_GIFT_CATEGORIES = ("health_professional", "student", "association")
FORMALITY_STATUSES = ("not_required", "declared", "authorisation_requested", "authorised", "refused")
FORMALITY_LABELS = {
    "not_required": "Not required",
    "declared": "Declared",
    "authorisation_requested": "Authorisation requested",
    "authorised": "Authorised",
    "refused": "Refused",
}
# Threshold keys (documentation/health-transparency.md, "Thresholds"): `publication` applies to
# every nature ("any"); `negligible` per nature; `authorisation_<beneficiary category>` per nature.
THRESHOLD_KEYS = (
    "publication",
    "negligible",
    "authorisation_health_professional",
    "authorisation_student",
    "authorisation_association",
)
ANY_NATURE = "any"


class _Formality:
    """The anti-gift formality recorded for an agreement or a benefit, with its dates."""

    formality_status: Mapped[str] = mapped_column(String(24), default="not_required")
    declared_on: Mapped[date | None] = mapped_column(Date)
    authorisation_requested_on: Mapped[date | None] = mapped_column(Date)
    authorisation_decided_on: Mapped[date | None] = mapped_column(Date)


class Agreement(_Formality, RecordMixin, Base):
    """A convention with a health professional (contact) or an organisation."""

    __tablename__ = "transparency_agreements"
    __table_args__ = (
        Index("ix_transparency_agreements_signed", "signed_on", "id"),
        Index("ix_transparency_agreements_dept", "department_id", "signed_on"),
    )

    reference: Mapped[str] = mapped_column(String(60), index=True)
    signed_on: Mapped[date] = mapped_column(Date)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="RESTRICT"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    beneficiary_category: Mapped[str] = mapped_column(String(24))
    # The main nature of the benefits it stipulates: the authorisation threshold of that nature
    # applies to `amount` until benefits are recorded under it.
    nature: Mapped[str] = mapped_column(String(12), default="fee")
    purpose: Mapped[str] = mapped_column(Text)
    amount: Mapped[Decimal] = mapped_column(Money)  # incl. VAT, may be 0
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    event: Mapped[str | None] = mapped_column(String(200))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"), index=True)


class Benefit(_Formality, RecordMixin, Base):
    """A benefit (avantage) given on a date: a meal, hospitality, travel, a gift, a fee..."""

    __tablename__ = "transparency_benefits"
    __table_args__ = (
        Index("ix_transparency_benefits_date", "granted_on", "id"),
        Index("ix_transparency_benefits_dept", "department_id", "granted_on"),
    )

    granted_on: Mapped[date] = mapped_column(Date)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="RESTRICT"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    beneficiary_category: Mapped[str] = mapped_column(String(24))
    nature: Mapped[str] = mapped_column(String(12))
    amount: Mapped[Decimal] = mapped_column(Money)  # incl. VAT
    event: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"), index=True)
    agreement_id: Mapped[int | None] = mapped_column(
        ForeignKey("transparency_agreements.id", ondelete="RESTRICT"), index=True
    )


class TransparencyThreshold(IdMixin, TimestampMixin, Base):
    """An amount a rule compares with, valid from a date until another (null: still valid).
    The rules read the row valid on the date of the benefit or agreement."""

    __tablename__ = "transparency_thresholds"
    __table_args__ = (Index("ix_transparency_thresholds_lookup", "key", "nature", "valid_from"),)

    key: Mapped[str] = mapped_column(String(40))
    nature: Mapped[str] = mapped_column(String(12), default=ANY_NATURE)
    amount: Mapped[Decimal] = mapped_column(Money)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(500), default="")
