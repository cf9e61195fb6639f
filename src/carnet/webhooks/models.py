from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from carnet.core import clock
from carnet.core.db import Base, IdMixin, JSONType, TimestampMixin

KINDS = ("endpoint", "rest_hook")  # configured in settings / subscribed through POST /hooks
ALL_EVENTS = "*"
DELIVERY_STATUSES = ("pending", "retrying", "succeeded", "failed", "skipped")
DEFAULT_RATE_PER_SECOND = 10
DEFAULT_MAX_CONCURRENCY = 5


class WebhookEndpoint(IdMixin, TimestampMixin, Base):
    """Where deliveries go. Both kinds deliver alike; a REST hook is owned by the API user who
    subscribed it, an endpoint by the admin who created it. The owner's visibility decides which
    events they receive."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_kind_owner", "kind", "owner_id"),)

    kind: Mapped[str] = mapped_column(String(12), default="endpoint")
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(500), default="")
    event_types: Mapped[list[str]] = mapped_column(JSONType, default=list)  # ["*"] = all
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    headers: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    secret: Mapped[str] = mapped_column(String(100))
    # After a rotation the previous secret still signs (second signature) until it expires.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column()
    rate_limit_per_second: Mapped[int] = mapped_column(Integer, default=DEFAULT_RATE_PER_SECOND)
    max_concurrency: Mapped[int] = mapped_column(Integer, default=DEFAULT_MAX_CONCURRENCY)
    # Circuit breaker: the first failure since the last success; disabled after 5 days of it.
    failing_since: Mapped[datetime | None] = mapped_column()
    last_success_at: Mapped[datetime | None] = mapped_column()
    disabled_at: Mapped[datetime | None] = mapped_column()
    disabled_reason: Mapped[str | None] = mapped_column(String(300))


class WebhookThrottle(Base):
    """Per-endpoint token bucket (rate limit), apart from the endpoint so that taking a token
    never touches the endpoint's updated_at."""

    __tablename__ = "webhook_throttles"

    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), primary_key=True
    )
    tokens: Mapped[float] = mapped_column(Float, default=0.0)
    refilled_at: Mapped[datetime] = mapped_column(default=clock.now)


class WebhookDelivery(Base):
    """One event for one endpoint. `event_id` is the `webhook-id` header: stable across retries
    and redeliveries. `schedule_seq` numbers the job scheduled for it: a job carrying an older
    number is stale (redelivered or rescheduled since) and does nothing."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at", "id"),
        Index("ix_webhook_deliveries_endpoint_status", "endpoint_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(80))
    event_row_id: Mapped[int | None] = mapped_column(Integer)  # events.id (None for test events)
    record_type: Mapped[str | None] = mapped_column(String(60))
    record_id: Mapped[int | None] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(default=clock.now)
    is_test: Mapped[bool] = mapped_column(Boolean, default=False)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # test events only
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    schedule_seq: Mapped[int] = mapped_column(Integer, default=1)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    first_attempt_at: Mapped[datetime | None] = mapped_column()
    sending_until: Mapped[datetime | None] = mapped_column()  # lease while an attempt is in flight
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    finished_at: Mapped[datetime | None] = mapped_column()


class WebhookAttempt(Base):
    """One HTTP attempt of a delivery, as the delivery log shows it."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column()
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(String(500))
    outcome: Mapped[str] = mapped_column(String(10))  # succeeded | retrying | failed
    next_retry_at: Mapped[datetime | None] = mapped_column()
