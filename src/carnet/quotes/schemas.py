"""API shapes for quotes. Money, quantities and rates travel as decimal strings."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class QuoteLineWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(default="item", description="item, or section (a title followed by a subtotal)")
    description: str | None = Field(default=None, max_length=2000)
    product_id: int | None = None
    reference: str | None = Field(default=None, max_length=60)
    quantity: str | int | float | None = Field(default=None, description="Up to 3 decimals; default 1")
    unit: str | None = Field(default=None, max_length=20)
    unit_price: str | int | float | None = Field(default=None, description="Euros excl. VAT, 2 decimals")
    vat_rate: str | int | float | None = Field(default=None, description="20, 10, 5.5, 2.1 or 0")
    vat_exemption_reason: str | None = Field(default=None, max_length=200, description="Required at 0 %")
    discount_percent: str | int | float | None = None
    discount_amount: str | int | float | None = None


class QuoteWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=200)
    organisation_id: int | None = None
    contact_id: int | None = None
    deal_id: int | None = None
    valid_until: date | None = None
    validity_days: int | None = Field(default=None, description="Sets valid_until to today + this many days")
    payment_terms: str | None = Field(default=None, description="on_receipt, 30_days, 45_days_eom or 60_days")
    deposit_percent: str | int | float | None = None
    execution_date: date | None = None
    delivery_address: str | None = Field(default=None, max_length=500)
    operation_category: str | None = Field(default=None, description="goods, services or mixed")
    notes: str | None = Field(default=None, max_length=10000)
    global_discount_percent: str | int | float | None = None
    global_discount_amount: str | int | float | None = None
    lines: list[QuoteLineWrite] | None = Field(default=None, max_length=1000)
    owner_id: int | None = None
    department_id: int | None = None


class QuoteCreate(QuoteWrite):
    organisation_id: int | None = None


class QuoteUpdate(QuoteWrite):
    pass


class QuoteVersionRead(BaseModel):
    version: int
    issue_date: date
    valid_until: date
    payment_terms: str
    deposit_percent: str | None
    execution_date: date | None
    delivery_address: str | None
    operation_category: str
    notes: str | None
    global_discount_percent: str | None
    global_discount_amount: str | None
    lines: list[dict[str, Any]]
    totals: dict[str, Any]
    buyer: dict[str, Any] | None
    frozen: bool
    frozen_at: datetime | None
    sent_to: str | None
    pdf_sha256: str | None
    created_at: datetime


class QuoteRead(BaseModel):
    id: int
    number: str
    title: str | None
    status: str
    organisation_id: int | None
    contact_id: int | None
    deal_id: int | None
    current_version: int
    total_net: str
    total_vat: str
    total_gross: str
    sent_at: datetime | None
    accepted_at: datetime | None
    accepted_version: int | None
    refused_at: datetime | None
    refusal_reason: str | None
    expired_at: datetime | None
    link_expires_at: datetime | None
    owner_id: int | None
    department_id: int | None
    custom_fields: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    current: QuoteVersionRead


class QuoteSend(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str | None = Field(default=None, max_length=320, description="Default: the quote contact's email")
    message: str | None = Field(default=None, max_length=10000)


class QuoteSent(BaseModel):
    quote: QuoteRead
    public_url: str = Field(description="The client's signing page; shown only once (stored hashed)")
    email_id: int | None


class QuoteAccept(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signer_name: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, max_length=500)


class QuoteRefuse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(max_length=500)
