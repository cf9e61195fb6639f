from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ContactOrganisationLink(BaseModel):
    """One organisation a contact works for, as a client sends it."""

    model_config = ConfigDict(extra="forbid")

    organisation_id: int
    role: str | None = Field(default=None, max_length=120)
    is_primary: bool = False


class ContactWrite(BaseModel):
    """Fields a client may set. Unknown fields are refused (no mass assignment)."""

    model_config = ConfigDict(extra="forbid")

    civility: str | None = Field(default=None, max_length=10)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    job_title: str | None = Field(default=None, max_length=150)
    emails: list[str] | None = Field(default=None, max_length=20)
    phones: list[str] | None = Field(default=None, max_length=20)
    linkedin_url: str | None = Field(default=None, max_length=300)
    rpps: str | None = Field(default=None, max_length=20)
    profession: str | None = Field(default=None, max_length=30)
    speciality: str | None = Field(default=None, max_length=120)
    marketing_consent: str | None = Field(default=None, max_length=20)
    marketing_consent_at: datetime | None = None
    marketing_consent_source: str | None = Field(default=None, max_length=120)
    do_not_call: bool | None = None
    city: str | None = Field(default=None, max_length=120)
    notes: str | None = Field(default=None, max_length=20000)
    organisations: list[ContactOrganisationLink] | None = Field(default=None, max_length=50)
    organisation_ids: list[int] | None = Field(default=None, max_length=50)
    owner_id: int | None = None
    department_id: int | None = None
    tags: list[str] | None = Field(default=None, max_length=50)
    custom_fields: dict[str, Any] | None = None


class ContactCreate(ContactWrite):
    last_name: str = Field(min_length=1, max_length=100)


class ContactUpdate(ContactWrite):
    pass


class ContactOrganisationRead(BaseModel):
    organisation_id: int
    role: str | None
    is_primary: bool


class ContactOrganisationNamedRead(ContactOrganisationRead):
    """A link with the organisation's name, for organisations the reader may see."""

    name: str


class ContactRead(BaseModel):
    id: int
    civility: str | None
    first_name: str
    last_name: str
    job_title: str | None
    emails: list[str]
    phones: list[str]
    primary_email: str | None
    linkedin_url: str | None
    rpps: str | None
    profession: str | None
    speciality: str | None
    marketing_consent: str
    marketing_consent_at: datetime | None
    marketing_consent_source: str | None
    do_not_call: bool
    city: str | None
    notes: str | None
    organisations: list[ContactOrganisationRead]
    owner_id: int | None
    department_id: int | None
    tags: list[str]
    custom_fields: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    created_by_id: int | None
    updated_by_id: int | None


class ContactEstablishmentLink(BaseModel):
    """One establishment a health professional works at, as a client sends it."""

    model_config = ConfigDict(extra="forbid")

    organisation_id: int
    service: str | None = Field(default=None, max_length=120)
    role: str | None = Field(default=None, max_length=120)


class ContactEstablishmentsWrite(BaseModel):
    """The whole list of a contact's establishments (it replaces the saved one)."""

    model_config = ConfigDict(extra="forbid")

    establishments: list[ContactEstablishmentLink] = Field(max_length=50)


class ContactEstablishmentRead(BaseModel):
    organisation_id: int
    name: str
    finess: str | None
    establishment_category: str | None
    service: str | None
    role: str | None
