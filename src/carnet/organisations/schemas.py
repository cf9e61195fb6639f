from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

OrgType = str


class OrganisationWrite(BaseModel):
    """Fields a client may set. Unknown fields are refused (no mass assignment)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    legal_name: str | None = Field(default=None, max_length=200)
    siren: str | None = Field(default=None, max_length=20, description="France only (see `country`)")
    siret: str | None = Field(default=None, max_length=30, description="France only (see `country`)")
    vat_number: str | None = Field(
        default=None, max_length=30, description="Checked for `country`; stored with its country prefix"
    )
    naf_code: str | None = Field(default=None, max_length=10)
    legal_form: str | None = Field(default=None, max_length=80)
    headcount_bracket: str | None = Field(default=None, max_length=12)
    headcount: int | None = Field(default=None, ge=0, le=10_000_000)
    revenue_history: dict[str, Any] | None = None
    website: str | None = Field(default=None, max_length=500)
    emails: list[str] | None = Field(default=None, max_length=20)
    phones: list[str] | None = Field(default=None, max_length=20)
    address_line1: str | None = Field(default=None, max_length=200)
    address_line2: str | None = Field(default=None, max_length=200)
    postal_code: str | None = Field(default=None, max_length=10)
    city: str | None = Field(default=None, max_length=120)
    country: str | None = Field(
        default=None, max_length=2, description="ISO 3166-1 alpha-2 code; FR when left out on creation"
    )
    type: OrgType | None = None
    source: str | None = Field(default=None, max_length=80)
    parent_id: int | None = None
    finess: str | None = Field(default=None, max_length=12)
    finess_ej: str | None = Field(default=None, max_length=12)
    establishment_category: str | None = Field(default=None, max_length=12)
    establishment_status: str | None = Field(default=None, max_length=20)
    description: str | None = Field(default=None, max_length=20000)
    owner_id: int | None = None
    department_id: int | None = None
    tags: list[str] | None = Field(default=None, max_length=50)
    custom_fields: dict[str, Any] | None = None


class OrganisationCreate(OrganisationWrite):
    name: str = Field(min_length=1, max_length=200)


class OrganisationUpdate(OrganisationWrite):
    pass


class OrganisationRead(BaseModel):
    id: int
    name: str
    legal_name: str | None
    siren: str | None
    siret: str | None
    vat_number: str | None
    naf_code: str | None
    legal_form: str | None
    headcount_bracket: str | None
    headcount: int | None
    size_category: str | None
    revenue_history: dict[str, str]
    website: str | None
    emails: list[str]
    phones: list[str]
    address_line1: str | None
    address_line2: str | None
    postal_code: str | None
    city: str | None
    country: str
    type: str
    source: str | None
    parent_id: int | None
    finess: str | None
    finess_ej: str | None
    establishment_category: str | None
    establishment_status: str | None
    description: str | None
    owner_id: int | None
    department_id: int | None
    tags: list[str]
    custom_fields: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    created_by_id: int | None
    updated_by_id: int | None
