from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from carnet.core.db import Base, JSONType, RecordMixin

ORGANISATION_TYPES = ("prospect", "client", "partner", "supplier", "former_client")
# Health establishments (issue 5 §4). A GHT (groupement hospitalier de territoire) is an
# organisation of category "ght"; its member establishments point at it through parent_id.
ESTABLISHMENT_CATEGORIES = ("chu", "ch", "clinic", "ehpad", "other", "ght")
ESTABLISHMENT_STATUSES = ("public", "private_non_profit", "private_for_profit")
ESTABLISHMENT_CATEGORY_LABELS = {
    "chu": "University hospital (CHU)",
    "ch": "Hospital (CH)",
    "clinic": "Private clinic",
    "ehpad": "Nursing home (EHPAD)",
    "other": "Other establishment",
    "ght": "Hospital group (GHT)",
}
ESTABLISHMENT_STATUS_LABELS = {
    "public": "Public",
    "private_non_profit": "Private non-profit (ESPIC)",
    "private_for_profit": "Private for-profit",
}
SIZE_CATEGORIES = ("TPE", "PME", "ETI", "GE")
HEADCOUNT_BRACKETS = (
    "0",
    "1-2",
    "3-5",
    "6-9",
    "10-19",
    "20-49",
    "50-99",
    "100-199",
    "200-249",
    "250-499",
    "500-999",
    "1000-1999",
    "2000-4999",
    "5000+",
)


class Organisation(RecordMixin, Base):
    __tablename__ = "organisations"
    __table_args__ = (
        Index("ix_organisations_dept_name", "department_id", "name", "id"),
        Index("ix_organisations_name_id", "name", "id"),
    )

    name: Mapped[str] = mapped_column(String(200))
    legal_name: Mapped[str | None] = mapped_column(String(200))
    siren: Mapped[str | None] = mapped_column(String(9), index=True)
    siret: Mapped[str | None] = mapped_column(String(14), index=True)
    vat_number: Mapped[str | None] = mapped_column(String(20))
    naf_code: Mapped[str | None] = mapped_column(String(6), index=True)
    legal_form: Mapped[str | None] = mapped_column(String(80))
    headcount_bracket: Mapped[str | None] = mapped_column(String(12))
    headcount: Mapped[int | None] = mapped_column(Integer)
    size_category: Mapped[str | None] = mapped_column(String(3), index=True)
    revenue_history: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    website: Mapped[str | None] = mapped_column(String(500))
    emails: Mapped[list[str]] = mapped_column(JSONType, default=list)
    phones: Mapped[list[str]] = mapped_column(JSONType, default=list)
    address_line1: Mapped[str | None] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(10), index=True)
    city: Mapped[str | None] = mapped_column(String(120), index=True)
    country: Mapped[str] = mapped_column(String(2), default="FR")
    type: Mapped[str] = mapped_column(String(20), default="prospect", index=True)
    source: Mapped[str | None] = mapped_column(String(80))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    # FINESS géographique (ET): the site; `finess_ej` is the legal entity's number.
    finess: Mapped[str | None] = mapped_column(String(9))
    finess_ej: Mapped[str | None] = mapped_column(String(9))
    establishment_category: Mapped[str | None] = mapped_column(String(12), index=True)
    establishment_status: Mapped[str | None] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(Text)
