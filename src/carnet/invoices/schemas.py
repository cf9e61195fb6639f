"""API shapes for invoices and credit notes. Money, quantities and rates travel as decimal strings."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from carnet.quotes.schemas import QuoteLineWrite


class InvoiceWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=200)
    organisation_id: int | None = None
    contact_id: int | None = None
    deal_id: int | None = None
    payment_terms: str | None = Field(default=None, description="on_receipt, 30_days, 45_days_eom or 60_days")
    public_hospital: bool | None = Field(default=None, description="Caps the due date at 50 days")
    sale_date: date | None = Field(
        default=None, description="Date of the sale or service, if not the issue date"
    )
    period_start: date | None = None
    period_end: date | None = None
    delivery_address: str | None = Field(
        default=None, max_length=500, description="When it differs from the client's"
    )
    operation_category: str | None = Field(default=None, description="goods, services or mixed")
    purchase_order: str | None = Field(default=None, max_length=60)
    notes: str | None = Field(default=None, max_length=10000)
    global_discount_percent: str | int | float | None = None
    global_discount_amount: str | int | float | None = None
    lines: list[QuoteLineWrite] | None = Field(default=None, max_length=1000)
    owner_id: int | None = None
    department_id: int | None = None


class InvoiceCreate(InvoiceWrite):
    kind: str | None = Field(default=None, description="invoice (default) or deposit")
    quote_id: int | None = Field(default=None, description="Invoice an accepted quote (its lines are copied)")
    deposit_percent: str | int | float | None = Field(
        default=None, description="With quote_id: a deposit invoice of this % of the quote"
    )


class InvoiceUpdate(InvoiceWrite):
    pass


class InvoiceIssue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    issue_date: date | None = Field(default=None, description="Default today; never before the series' last")


class CreditNoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=200)
    notes: str | None = Field(default=None, max_length=10000)
    lines: list[QuoteLineWrite] | None = Field(
        default=None, max_length=1000, description="Omitted: the whole invoice is credited"
    )
    issue: bool = Field(default=False, description="Issue the credit note at once")


class InvoiceRead(BaseModel):
    id: int
    kind: str
    number: str | None
    status: str
    title: str | None
    organisation_id: int | None
    contact_id: int | None
    deal_id: int | None
    quote_id: int | None
    contract_id: int | None
    credited_invoice_id: int | None
    deposit_percent: str | None
    deducted_deposit_ids: list[int]
    issue_date: date | None
    due_date: date | None
    payment_terms: str
    public_hospital: bool
    periodic: bool
    sale_date: date | None
    period_start: date | None
    period_end: date | None
    delivery_address: str | None
    operation_category: str
    purchase_order: str | None
    notes: str | None
    global_discount_percent: str | None
    global_discount_amount: str | None
    lines: list[dict[str, Any]]
    totals: dict[str, Any]
    buyer: dict[str, Any] | None
    total_net: str
    total_vat: str
    total_gross: str
    prepaid_amount: str
    amount_due: str
    amount_paid: str
    amount_credited: str
    balance: str
    issued_at: datetime | None
    paid_at: datetime | None
    cancelled_at: datetime | None
    pdf_sha256: str | None
    owner_id: int | None
    department_id: int | None
    custom_fields: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
