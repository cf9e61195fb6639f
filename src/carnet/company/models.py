from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Boolean, Integer, LargeBinary, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from carnet.core.db import Base, IdMixin, Money, TimestampMixin, VersionedMixin

OPERATION_CATEGORIES = ("goods", "services", "mixed")  # france.md §1.5: nature of the operation
DEFAULT_QUOTE_PATTERN = "DEV-{YYYY}-{seq:04}"
DEFAULT_INVOICE_PATTERN = "{YYYY}-F-{seq:04}"
DEFAULT_CREDIT_NOTE_PATTERN = "{YYYY}-A-{seq:04}"
DEFAULT_LATE_PENALTY_RATE = Decimal("12.15")  # ECB refinancing rate 2.15 % + 10 points (france.md §1.4)
DEFAULT_BRAND_COLOR = "#3b4fd8"
COMPANY_ID = 1


class Company(IdMixin, TimestampMixin, VersionedMixin, Base):
    """The company's legal identity printed on every quote and invoice (one row, id 1)."""

    __tablename__ = "company"

    name: Mapped[str] = mapped_column(String(200), default="")
    legal_form: Mapped[str | None] = mapped_column(String(60))
    share_capital: Mapped[Decimal | None] = mapped_column(Money)
    siren: Mapped[str | None] = mapped_column(String(9))
    siret: Mapped[str | None] = mapped_column(String(14))
    rcs_city: Mapped[str | None] = mapped_column(String(80))
    vat_number: Mapped[str | None] = mapped_column(String(20))
    naf_code: Mapped[str | None] = mapped_column(String(6))
    address_line1: Mapped[str | None] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(10))
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2), default="FR")
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    website: Mapped[str | None] = mapped_column(String(200))
    # The electronic invoicing address published in the PPF directory (BT-34, france.md §1.5).
    einvoicing_address: Mapped[str | None] = mapped_column(String(120))
    iban: Mapped[str | None] = mapped_column(String(34))
    bic: Mapped[str | None] = mapped_column(String(11))
    bank_name: Mapped[str | None] = mapped_column(String(120))
    logo: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    logo_content_type: Mapped[str | None] = mapped_column(String(40))
    brand_color: Mapped[str] = mapped_column(String(7), default=DEFAULT_BRAND_COLOR)
    default_payment_terms: Mapped[str] = mapped_column(String(20), default="30_days")
    late_penalty_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=DEFAULT_LATE_PENALTY_RATE)
    early_payment_discount: Mapped[str | None] = mapped_column(String(300))  # None: "pas d'escompte"
    legal_footer: Mapped[str | None] = mapped_column(Text)
    quote_number_pattern: Mapped[str] = mapped_column(String(60), default=DEFAULT_QUOTE_PATTERN)
    invoice_number_pattern: Mapped[str] = mapped_column(String(60), default=DEFAULT_INVOICE_PATTERN)
    credit_note_number_pattern: Mapped[str] = mapped_column(String(60), default=DEFAULT_CREDIT_NOTE_PATTERN)
    quote_validity_days: Mapped[int] = mapped_column(Integer, default=30)
    # The stage an accepted quote moves its deal to; None: the won stage of the deal's pipeline.
    quote_accepted_stage_id: Mapped[int | None] = mapped_column(Integer)
    vat_on_debits: Mapped[bool] = mapped_column(Boolean, default=False)
    operation_category: Mapped[str] = mapped_column(String(10), default="services")
