"""API shapes for the catalogue. Money and rates travel as decimal strings."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


class ProductWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=10000)
    reference: str | None = Field(default=None, max_length=60)
    unit: str | None = Field(default=None, max_length=20)
    unit_price: Decimal | str | None = Field(default=None, description="Euros excl. VAT, 2 decimals")
    vat_rate: Decimal | str | None = Field(default=None, description="20, 10, 5.5, 2.1 or 0")
    vat_exemption_reason: str | None = Field(default=None, max_length=200, description="Required at 0 %")
    category: str | None = Field(default=None, max_length=80)
    active: bool | None = None
    recurring: bool | None = None


class ProductCreate(ProductWrite):
    name: str = Field(min_length=1, max_length=200)


class ProductUpdate(ProductWrite):
    pass


class ProductRead(BaseModel):
    id: int
    name: str
    description: str | None
    reference: str | None
    unit: str | None
    unit_price: str
    vat_rate: str
    vat_exemption_reason: str | None
    category: str | None
    active: bool
    recurring: bool
    version: int
    created_at: datetime
    updated_at: datetime
