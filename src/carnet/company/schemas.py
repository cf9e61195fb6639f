"""API shapes of the company settings. Money and rates travel as decimal strings."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


class CompanyUpdate(BaseModel):
    """Fields not sent keep their value."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    legal_form: str | None = Field(default=None, max_length=60)
    share_capital: Decimal | str | None = None
    siren: str | None = Field(default=None, max_length=20)
    siret: str | None = Field(default=None, max_length=30)
    rcs_city: str | None = Field(default=None, max_length=80)
    vat_number: str | None = Field(default=None, max_length=30)
    naf_code: str | None = Field(default=None, max_length=10)
    address_line1: str | None = Field(default=None, max_length=200)
    address_line2: str | None = Field(default=None, max_length=200)
    postal_code: str | None = Field(default=None, max_length=10)
    city: str | None = Field(default=None, max_length=100)
    country: str | None = Field(default=None, max_length=2)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    website: str | None = Field(default=None, max_length=200)
    einvoicing_address: str | None = Field(default=None, max_length=120)
    iban: str | None = Field(default=None, max_length=50)
    bic: str | None = Field(default=None, max_length=15)
    bank_name: str | None = Field(default=None, max_length=120)
    brand_color: str | None = Field(default=None, max_length=7)
    default_payment_terms: str | None = Field(
        default=None, description="on_receipt, 30_days, 45_days_eom or 60_days"
    )
    late_penalty_rate: Decimal | str | None = Field(default=None, description="Annual %, e.g. 12.15")
    early_payment_discount: str | None = Field(
        default=None, max_length=300, description="Escompte conditions; empty: no escompte"
    )
    legal_footer: str | None = Field(default=None, max_length=4000)
    quote_number_pattern: str | None = Field(default=None, max_length=60)
    invoice_number_pattern: str | None = Field(default=None, max_length=60)
    credit_note_number_pattern: str | None = Field(default=None, max_length=60)
    quote_validity_days: int | None = None
    quote_accepted_stage_id: int | None = None
    vat_on_debits: bool | None = None
    operation_category: str | None = Field(default=None, description="goods, services or mixed")


class CompanyRead(BaseModel):
    name: str
    legal_form: str | None
    share_capital: str | None
    siren: str | None
    siret: str | None
    rcs_city: str | None
    vat_number: str | None
    naf_code: str | None
    address_line1: str | None
    address_line2: str | None
    postal_code: str | None
    city: str | None
    country: str
    email: str | None
    phone: str | None
    website: str | None
    einvoicing_address: str | None
    iban: str | None
    bic: str | None
    bank_name: str | None
    brand_color: str
    default_payment_terms: str
    late_penalty_rate: str
    early_payment_discount: str | None
    legal_footer: str | None
    quote_number_pattern: str
    invoice_number_pattern: str
    credit_note_number_pattern: str
    quote_validity_days: int
    quote_accepted_stage_id: int | None
    vat_on_debits: bool
    operation_category: str
    has_logo: bool
    version: int | None
    updated_at: datetime | None
