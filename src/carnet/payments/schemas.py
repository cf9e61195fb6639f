"""API shapes for payments, bank lines and dunning. Money travels as decimal strings."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

Amount = str | int | float


class AllocationWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invoice_id: int
    amount: Amount | None = Field(default=None, description="Default: what is left to pay on the invoice")


class PaymentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation_id: int | None = None
    paid_on: date | None = None
    amount: Amount | None = None
    method: str | None = Field(default=None, description="transfer, cheque, card, direct_debit or cash")
    reference: str | None = Field(default=None, max_length=140)
    notes: str | None = Field(default=None, max_length=5000)
    allocations: list[AllocationWrite] | None = Field(
        default=None, description="Omitted: the client's open invoices, oldest due first; the rest is credit"
    )
    owner_id: int | None = None
    department_id: int | None = None


class AllocateCredit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allocations: list[AllocationWrite] | None = None


class AllocationRead(BaseModel):
    invoice_id: int
    amount: str


class PaymentRead(BaseModel):
    id: int
    organisation_id: int | None
    paid_on: date
    amount: str
    allocated: str
    credit: str
    method: str
    reference: str | None
    notes: str | None
    bank_line_id: int | None
    allocations: list[AllocationRead]
    owner_id: int | None
    department_id: int | None
    version: int
    created_at: datetime
    updated_at: datetime


class CreditRead(BaseModel):
    organisation_id: int
    credit: str


class BankLineRead(BaseModel):
    id: int
    statement: str
    line_no: int
    booked_on: date
    label: str
    amount: str
    status: str
    payment_id: int | None


class ProposalRead(BaseModel):
    invoice_ids: list[int]
    numbers: list[str]
    organisation_id: int | None
    amount: str
    reason: str


class BankConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invoice_ids: list[int]


class TemplateRead(BaseModel):
    step: str
    subject: str
    body: str


class TemplateWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str | None = None
    body: str | None = None


class PlanWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    friendly_days: int | None = None
    firm_days: int | None = None
    formal_days: int | None = None
    paused: bool | None = None


class PlanRead(BaseModel):
    organisation_id: int
    friendly_days: int
    firm_days: int
    formal_days: int
    paused: bool


class PauseWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=500)


class ReminderRead(BaseModel):
    id: int
    step: str
    sent: bool
    due_date: date
    balance: str
    to_address: str | None
    email_id: int | None
    has_letter: bool
    created_at: datetime


class InvoiceDunningRead(BaseModel):
    invoice_id: int
    paused: bool
    reminders: list[ReminderRead]
