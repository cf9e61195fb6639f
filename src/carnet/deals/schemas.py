"""API shapes for pipelines, stages and deals. Money travels as decimal strings."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# -- pipelines and stages ----------------------------------------------------------------------------


class StageWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=120)
    kind: str | None = Field(default=None, max_length=10)
    probability: int | None = None
    rotting_days: int | None = None
    color: str | None = Field(default=None, max_length=20)
    position: int | None = None


class StageCreate(StageWrite):
    name: str = Field(min_length=1, max_length=120)


class StageUpdate(StageWrite):
    pass


class StageRead(BaseModel):
    id: int
    pipeline_id: int
    name: str
    position: int
    kind: str
    probability: int
    rotting_days: int | None
    color: str | None


class PipelineWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=120)
    department_id: int | None = None
    position: int | None = None
    is_default: bool | None = None
    active: bool | None = None


class PipelineCreate(PipelineWrite):
    name: str = Field(min_length=1, max_length=120)
    stages: list[StageCreate] | None = Field(default=None, max_length=50)


class PipelineUpdate(PipelineWrite):
    stage_ids: list[int] | None = Field(
        default=None, max_length=50, description="Every stage id of the pipeline, in the new order"
    )


class PipelineRead(BaseModel):
    id: int
    name: str
    department_id: int | None
    position: int
    is_default: bool
    active: bool
    version: int
    stages: list[StageRead]
    created_at: datetime
    updated_at: datetime


# -- deals ---------------------------------------------------------------------------------------------


class DealWrite(BaseModel):
    """Fields a client may set. `status` is not among them: it follows the stage's kind."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=200)
    organisation_id: int | None = None
    contact_ids: list[int] | None = Field(default=None, max_length=100)
    pipeline_id: int | None = None
    stage_id: int | None = None
    amount: Decimal | None = Field(default=None, description="Euros, at most 2 decimals, as a string")
    currency: str | None = Field(default=None, max_length=3)
    expected_close_date: date | None = None
    probability: int | None = None
    lost_reason: str | None = Field(default=None, max_length=200)
    source: str | None = Field(default=None, max_length=80)
    description: str | None = Field(default=None, max_length=20000)
    owner_id: int | None = None
    department_id: int | None = None
    tags: list[str] | None = Field(default=None, max_length=50)
    custom_fields: dict[str, Any] | None = None


class DealCreate(DealWrite):
    title: str = Field(min_length=1, max_length=200)


class DealUpdate(DealWrite):
    pass


class DealMove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage_id: int
    lost_reason: str | None = Field(default=None, max_length=200)


class DealRead(BaseModel):
    id: int
    title: str
    organisation_id: int | None
    contact_ids: list[int]
    pipeline_id: int
    stage_id: int
    amount: str | None
    currency: str
    expected_close_date: date | None
    probability: int | None
    status: str
    lost_reason: str | None
    source: str | None
    description: str | None
    closed_at: datetime | None
    stage_entered_at: datetime | None
    owner_id: int | None
    department_id: int | None
    tags: list[str]
    custom_fields: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    created_by_id: int | None
    updated_by_id: int | None


class StageStayRead(BaseModel):
    stage_id: int
    stage_name: str
    stage_kind: str
    entered_at: datetime
    left_at: datetime | None
    seconds: int
    moved_by_id: int | None


class StageTotalRead(BaseModel):
    stage_id: int
    stage_name: str
    seconds: int


class StageHistoryRead(BaseModel):
    items: list[StageStayRead]
    totals: list[StageTotalRead]


class BoardDealRead(DealRead):
    stale: bool
    stale_days: int | None


class BoardColumnRead(BaseModel):
    stage: StageRead
    count: int
    total_amount: str
    weighted_amount: str
    deals: list[BoardDealRead]
    more: int = Field(description="Deals of this column not returned (over the per-column limit)")


class BoardRead(BaseModel):
    pipeline: PipelineRead
    count: int
    total_amount: str
    weighted_amount: str
    columns: list[BoardColumnRead]
