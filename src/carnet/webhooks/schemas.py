from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EndpointWrite(BaseModel):
    """Fields an admin may set. `event_types` is a list of catalogue names, or `["*"]` for all."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, max_length=2000)
    description: str | None = Field(default=None, max_length=500)
    event_types: list[str] | None = Field(default=None, max_length=100)
    active: bool | None = None
    headers: dict[str, str] | None = Field(
        default=None, description="Custom headers sent with every delivery"
    )
    rate_limit_per_second: int | None = Field(default=None, description="Deliveries per second (default 10)")
    max_concurrency: int | None = Field(default=None, description="Deliveries in flight at once (default 5)")


class EndpointCreate(EndpointWrite):
    url: str = Field(min_length=1, max_length=2000)
    event_types: list[str] = Field(default_factory=lambda: ["*"], max_length=100)


class EndpointUpdate(EndpointWrite):
    pass


class EndpointRead(BaseModel):
    id: int
    url: str
    description: str
    event_types: list[str]
    active: bool
    headers: dict[str, str]
    owner_id: int | None
    rate_limit_per_second: int
    max_concurrency: int
    failing_since: datetime | None
    last_success_at: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


class EndpointCreated(EndpointRead):
    secret: str = Field(description="Shown once: keep it to verify signatures")


class SecretRotated(BaseModel):
    secret: str = Field(description="The new secret, shown once")
    previous_secret_expires_at: datetime = Field(description="Until then deliveries carry both signatures")


class RotateSecret(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overlap_hours: int = Field(
        default=24, ge=0, le=24 * 7, description="How long the old secret keeps signing"
    )


class TestEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_type: str | None = Field(default=None, description="Defaults to the endpoint's first event type")


class AttemptRead(BaseModel):
    number: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    response_excerpt: str | None
    error: str | None
    outcome: str
    next_retry_at: datetime | None


class DeliveryRead(BaseModel):
    id: int
    endpoint_id: int
    event_id: str
    event_type: str
    record_type: str | None
    record_id: int | None
    is_test: bool
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None
    attempt_log: list[AttemptRead]


class EventTypeRead(BaseModel):
    type: str
    record_type: str
    description: str
    example: dict[str, Any]


class HookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_url: str = Field(min_length=1, max_length=2000)
    event: str = Field(min_length=1, max_length=80)


class HookRead(BaseModel):
    id: int
    target_url: str
    event: str
    active: bool
    created_at: datetime


class HookCreated(HookRead):
    secret: str = Field(description="Shown once: verify the `webhook-signature` header with it")
