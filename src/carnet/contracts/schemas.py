"""API shapes for contracts and recurring-revenue figures. Money and rates travel as decimal strings."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Amount = str | int | float


class ContractOptions(BaseModel):
    """What a plain update may change (the terms need an amendment)."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=200)
    organisation_id: int | None = None
    deal_id: int | None = None
    quote_id: int | None = None
    auto_invoice: bool | None = Field(default=None, description="A draft invoice per billing period")
    next_billing_date: date | None = Field(default=None, description="Start of the next period to invoice")
    client_email: str | None = Field(default=None, max_length=254)
    notify_client: bool | None = Field(default=None, description="Email the client with each renewal alert")
    signed_attachment_id: int | None = Field(default=None, description="The attached signed document")
    notes: str | None = Field(default=None, max_length=10000)
    owner_id: int | None = None
    department_id: int | None = None


class ContractTerms(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contract_type: str | None = Field(default=None, description="service, subscription or maintenance")
    amount: Amount | None = Field(default=None, description="Euros excl. VAT per billing period")
    vat_rate: Amount | None = Field(default=None, description="20, 10, 5.5, 2.1 or 0")
    billing_period: str | None = Field(default=None, description="monthly, quarterly or yearly")
    end_date: date | None = Field(default=None, description="Last day of the current period")
    tacit_renewal: bool | None = None
    notice_days: int | None = Field(default=None, description="Notice before the end date, in days")
    renewal_months: int | None = Field(default=None, description="Length of a renewed period (default 12)")


class ContractCreate(ContractOptions, ContractTerms):
    start_date: date | None = None


class ContractUpdate(ContractOptions):
    model_config = ConfigDict(extra="allow")  # terms sent here answer 409 amendment_required


class AmendmentCreate(ContractTerms):
    effective_date: date | None = Field(default=None, description="Default today")
    reason: str | None = Field(default=None, max_length=2000)


class RenewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    months: int | None = Field(default=None, description="Default: the contract's renewal length")
    amount: Amount | None = Field(default=None, description="A new price from the new period")


class TerminateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, description="price, dissatisfaction, competitor or other")
    effective_date: date | None = Field(default=None, description="First day without service")
    note: str | None = Field(default=None, max_length=2000)


class ContractVersionRead(BaseModel):
    version: int
    effective_date: date
    terms: dict[str, Any]
    reason: str | None
    created_at: datetime
    created_by_id: int | None


class ContractRenewalRead(BaseModel):
    kind: str
    previous_start: date
    previous_end: date
    new_start: date
    new_end: date
    amount: str
    renewed_at: datetime


class ContractRead(BaseModel):
    id: int
    title: str
    organisation_id: int | None
    deal_id: int | None
    quote_id: int | None
    contract_type: str
    status: str
    start_date: date
    period_start: date
    end_date: date
    amount: str
    vat_rate: str
    billing_period: str
    monthly_value: str
    tacit_renewal: bool
    notice_days: int
    notice_deadline: date
    renewal_months: int
    current_version: int
    renewal_count: int
    auto_invoice: bool
    next_billing_date: date | None
    client_email: str | None
    notify_client: bool
    signed_attachment_id: int | None
    notes: str | None
    termination_reason: str | None
    termination_date: date | None
    termination_note: str | None
    terminated_at: datetime | None
    expired_at: datetime | None
    owner_id: int | None
    department_id: int | None
    custom_fields: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime


class Horizon(BaseModel):
    days: int
    count: int
    mrr: str


class ReasonTotal(BaseModel):
    reason: str
    count: int
    mrr: str


class MonthPoint(BaseModel):
    month: str
    mrr: str


class Churn(BaseModel):
    customers_at_start: int
    customers_lost: int
    rate_percent: str | None
    average_rate_percent_12_months: str | None


class Renewal(BaseModel):
    renewed: int
    came_to_end: int
    rate_percent: str | None


class RecurringFigures(BaseModel):
    month: str
    as_of: date
    mrr: str
    arr: str
    previous_mrr: str
    mrr_change: str
    mrr_change_percent: str | None
    customers: int
    arpa: str | None
    churn: Churn
    lifetime_value: str | None
    renewal: Renewal
    to_renew: list[Horizon]
    churn_by_reason: list[ReasonTotal]
    series: list[MonthPoint]
