"""API shapes of the finance module. Money travels as decimal strings, months as YYYY-MM."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class MonthRead(BaseModel):
    month: str
    invoiced: str = Field(
        description="Invoices and deposit invoices issued in the month less credit notes, incl. VAT"
    )
    collected: str = Field(description="Payments allocated to invoices, by payment date")


class UnpaidRead(BaseModel):
    count: int
    total: str


class AgedBucketRead(BaseModel):
    bucket: str = Field(description="not_due, 0_30, 31_60, 61_90 or over_90 (days past the due date)")
    count: int
    amount: str


class ForecastRead(BaseModel):
    days: int
    until: date
    invoices: str
    contracts: str
    total: str


class RecurringRead(BaseModel):
    mrr: str
    arr: str
    previous_mrr: str
    mrr_change: str
    mrr_change_percent: str | None


class SummaryRead(BaseModel):
    today: date
    currency: str
    months: list[MonthRead]
    unpaid: UnpaidRead
    aged_receivables: list[AgedBucketRead]
    cash_forecast: list[ForecastRead]
    contracts_included: bool
    recurring: RecurringRead | None


class AccountWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: str = Field(description="customer, bank, deposit, revenue, vat or vat_on_hold")
    key: str | None = Field(
        default=None,
        description="revenue: a product category; vat: a rate such as 20 or 5.5; empty: the default",
    )
    number: str | None = Field(default=None, description="Empty with a key: back to the default account")
    label: str | None = None


class AccountRead(BaseModel):
    purpose: str
    key: str
    number: str
    label: str


class AccountsWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accounts: list[AccountWrite]


class AccountsRead(BaseModel):
    accounts: list[AccountRead]


class ColumnWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str
    header: str | None = None


class ColumnRead(BaseModel):
    field: str
    header: str


class LayoutWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    columns: list[ColumnWrite] | None = Field(default=None, description="null or []: the default layout")


class LayoutRead(BaseModel):
    kind: str
    columns: list[ColumnRead]
    fields: list[ColumnRead] = Field(description="Every column this export offers, with its default header")
