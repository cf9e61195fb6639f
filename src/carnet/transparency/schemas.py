"""API shapes of the transparency register. Money is a decimal string, dates ISO 8601."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

# An amount as a decimal string ("45.50", "45,50") or a JSON number.
Amount = str | int | float


class _FormalityWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    formality_status: str | None = Field(default=None, max_length=24)
    declared_on: date | None = None
    authorisation_requested_on: date | None = None
    authorisation_decided_on: date | None = None


class AgreementWrite(_FormalityWrite):
    reference: str | None = Field(default=None, max_length=60)
    signed_on: date | None = None
    contact_id: int | None = None
    organisation_id: int | None = None
    beneficiary_category: str | None = Field(default=None, max_length=24)
    nature: str | None = Field(default=None, max_length=12)
    purpose: str | None = Field(default=None, max_length=10000)
    amount: Amount | None = Field(default=None, description="incl. VAT, e.g. 1200.00 (may be 0)")
    start_date: date | None = None
    end_date: date | None = None
    event: str | None = Field(default=None, max_length=200)
    project_id: int | None = None
    owner_id: int | None = None
    department_id: int | None = None


class AgreementCreate(AgreementWrite):
    reference: str = Field(min_length=1, max_length=60)
    signed_on: date
    purpose: str = Field(min_length=1, max_length=10000)
    amount: Amount


class BenefitWrite(_FormalityWrite):
    granted_on: date | None = None
    contact_id: int | None = None
    organisation_id: int | None = None
    beneficiary_category: str | None = Field(default=None, max_length=24)
    nature: str | None = Field(default=None, max_length=12)
    amount: Amount | None = Field(default=None, description="incl. VAT, e.g. 45.50")
    event: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=10000)
    project_id: int | None = None
    agreement_id: int | None = None
    owner_id: int | None = None
    department_id: int | None = None


class BenefitCreate(BenefitWrite):
    granted_on: date
    nature: str = Field(max_length=12)
    amount: Amount


class RulesRead(BaseModel):
    """What the rules say, with the thresholds valid on the record's date."""

    published: bool
    publication_due: date | None
    formality: str = Field(
        description="not_applicable, negligible, agreement_required, declaration or authorisation"
    )
    deadline: date | None
    reasons: list[str]
    warnings: list[str]


class _FormalityRead(BaseModel):
    formality_status: str
    declared_on: date | None
    authorisation_requested_on: date | None
    authorisation_decided_on: date | None


class AgreementRead(_FormalityRead):
    id: int
    reference: str
    signed_on: date
    contact_id: int | None
    organisation_id: int | None
    beneficiary_category: str
    nature: str
    purpose: str
    amount: str
    start_date: date | None
    end_date: date | None
    event: str | None
    project_id: int | None
    owner_id: int | None
    department_id: int | None
    rules: RulesRead
    version: int
    created_at: datetime
    updated_at: datetime


class BenefitRead(_FormalityRead):
    id: int
    granted_on: date
    contact_id: int | None
    organisation_id: int | None
    beneficiary_category: str
    nature: str
    amount: str
    event: str | None
    description: str | None
    project_id: int | None
    agreement_id: int | None
    owner_id: int | None
    department_id: int | None
    rules: RulesRead
    version: int
    created_at: datetime
    updated_at: datetime


class ThresholdWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(default=None, max_length=40)
    nature: str | None = Field(default=None, max_length=12)
    amount: Amount | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    source: str | None = Field(default=None, max_length=500)


class ThresholdRead(BaseModel):
    id: int
    key: str
    nature: str
    amount: str
    valid_from: date
    valid_to: date | None
    source: str
    created_at: datetime
    updated_at: datetime


class YearNatureTotal(BaseModel):
    year: int
    nature: str
    count: int
    amount: str


class YearTotal(BaseModel):
    year: int
    count: int
    amount: str


class ReportRead(BaseModel):
    beneficiary: dict[str, str | int | None]
    professionals: list[dict[str, str | int]]
    agreements: list[AgreementRead]
    benefits: list[BenefitRead]
    benefit_totals: list[YearNatureTotal]
    agreement_totals: list[YearTotal]
    benefits_total: str
    agreements_total: str


class TraceabilityRow(BaseModel):
    activity_id: int
    occurred_at: datetime
    user: str
    contact_id: int | None
    contact: str
    rpps: str | None
    profession: str | None
    organisation_id: int | None
    establishment: str
    kind: str
    subject: str
    project_id: int | None
    project: str
