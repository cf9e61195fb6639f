"""One delivery attempt, in three steps so no write transaction is held during the HTTP call:
prepare (claim a rate-limit token and a concurrency slot, build and sign the body), post,
record (log the attempt, then succeed, schedule a retry, fail, or disable the endpoint)."""

from __future__ import annotations

import email.utils
import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carnet.accounts.models import User
from carnet.core import audit, clock, events, i18n
from carnet.core.context import SYSTEM
from carnet.core.db import get_database
from carnet.notifications import service as notifications
from carnet.webhooks import catalogue, client, service, signing
from carnet.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookThrottle

RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=6)
RETRY_WINDOW = timedelta(days=3)  # retried for at least this long after the first attempt
RETRY_AFTER_CAP = timedelta(days=1)
DISABLE_AFTER = timedelta(days=5)  # an endpoint failing for this long is disabled
LEASE = timedelta(seconds=client.TIMEOUT_SECONDS * 3)  # a concurrency slot a dead worker held
BUSY_WAIT = timedelta(seconds=1)
FINAL = ("succeeded", "failed", "skipped")


def jitter() -> float:
    """Multiplier spreading retries of many deliveries that failed together."""
    return random.uniform(0.8, 1.2)


def backoff(attempt: int) -> timedelta:
    """Delay after the `attempt`-th failed attempt: 30 s, 1 min, 2 min... capped at 6 h, jittered."""
    delay = min(RETRY_CAP, RETRY_BASE * (2 ** min(attempt - 1, 20)))
    return delay * jitter()


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """`Retry-After` as seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(timedelta(0), when - now)


def retry_delay(attempt: int, retry_after: str | None, now: datetime) -> timedelta:
    hinted = parse_retry_after(retry_after, now)
    if hinted is not None:
        return min(max(hinted, timedelta(seconds=1)), RETRY_AFTER_CAP)
    return backoff(attempt)


@dataclass
class Prepared:
    delivery_id: int
    seq: int
    number: int
    url: str
    body: bytes
    headers: dict[str, str]


def run(delivery_id: int, seq: int) -> None:
    """The `webhooks.deliver` job. Safe to run twice: a stale or finished delivery is left alone."""
    database = get_database()
    with database.begin() as db:
        prepared = prepare(db, delivery_id, seq)
    if prepared is None:
        return
    result = client.post(prepared.url, prepared.body, prepared.headers)
    with database.begin() as db:
        record(db, prepared, result)


def _claim_slot(db: Session, endpoint: WebhookEndpoint, now: datetime) -> timedelta | None:
    """Take a rate-limit token and a concurrency slot; the wait before trying again if none.
    The throttle row is locked, so workers on several machines share one bucket."""
    throttle = db.scalar(
        select(WebhookThrottle).where(WebhookThrottle.endpoint_id == endpoint.id).with_for_update()
    )
    if throttle is None:
        throttle = WebhookThrottle(
            endpoint_id=endpoint.id, tokens=float(endpoint.rate_limit_per_second), refilled_at=now
        )
        db.add(throttle)
    in_flight = (
        db.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(
                # in flight means not finished yet: the (endpoint_id, status) index keeps this small
                WebhookDelivery.endpoint_id == endpoint.id,
                WebhookDelivery.status.in_(("pending", "retrying")),
                WebhookDelivery.sending_until > now,
            )
        )
        or 0
    )
    if in_flight >= endpoint.max_concurrency:
        return BUSY_WAIT
    rate = float(endpoint.rate_limit_per_second)
    elapsed = max(0.0, (now - throttle.refilled_at).total_seconds())
    tokens = min(rate, throttle.tokens + elapsed * rate)
    if tokens < 1.0:
        return timedelta(seconds=(1.0 - tokens) / rate)
    throttle.tokens = tokens - 1.0
    throttle.refilled_at = now
    return None


def body_of(db: Session, delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> bytes | None:
    """The JSON body as the endpoint's owner may see it now; None when they may not."""
    if delivery.is_test:
        payload: dict[str, Any] = dict(delivery.payload or {})
    else:
        event = db.get(events.Event, delivery.event_row_id) if delivery.event_row_id else None
        owner = service.owner_actor(db, endpoint.owner_id)
        if event is None or owner is None:
            return None
        data = catalogue.event_data(
            db, owner, event.type, event.record_type, event.record_id, event.payload or {}
        )
        if data is None:
            return None
        payload = {"type": event.type, "timestamp": service.iso(event.occurred_at), "data": data}
        changes = catalogue.event_changes(event.type, event.payload or {})
        if changes is not None:
            payload["changes"] = changes
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def _finish(delivery: WebhookDelivery, status: str, now: datetime, error: str | None = None) -> None:
    delivery.status = status
    delivery.finished_at = now
    delivery.next_attempt_at = None
    delivery.sending_until = None
    if error is not None:
        delivery.last_error = error[:500]


def prepare(db: Session, delivery_id: int, seq: int) -> Prepared | None:
    now = clock.now()
    delivery = db.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.schedule_seq != seq or delivery.status in FINAL:
        return None  # deleted, rescheduled or redelivered since, or already done
    endpoint = db.get(WebhookEndpoint, delivery.endpoint_id)
    if endpoint is None:
        return None
    if not endpoint.active:
        _finish(delivery, "failed", now, "endpoint disabled")
        return None
    wait = _claim_slot(db, endpoint, now)
    if wait is not None:
        # Over the endpoint's rate or concurrency: later, not failed, and not an attempt.
        service.schedule(db, delivery, now + wait)
        return None
    body = body_of(db, delivery, endpoint)
    if body is None:
        _finish(delivery, "skipped", now, "not visible to the endpoint's owner")
        return None
    delivery.attempts += 1
    delivery.first_attempt_at = delivery.first_attempt_at or now
    delivery.sending_until = now + LEASE
    timestamp = int(now.timestamp())
    headers = {str(k): str(v) for k, v in (endpoint.headers or {}).items()}
    headers.update(
        {
            "content-type": "application/json",
            "webhook-id": delivery.event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signing.signature_header(
                service.signing_secrets(endpoint, now), delivery.event_id, timestamp, body
            ),
        }
    )
    return Prepared(delivery.id, seq, delivery.attempts, endpoint.url, body, headers)


def _retryable(result: client.PostResult) -> bool:
    if result.refused:
        return False
    if result.status_code is None:
        return True  # timeout or network error
    return result.status_code == 429 or result.status_code >= 500


def record(db: Session, prepared: Prepared, result: client.PostResult) -> None:
    now = clock.now()
    delivery = db.get(WebhookDelivery, prepared.delivery_id)
    if delivery is None:
        return  # the endpoint was deleted meanwhile
    endpoint = db.get(WebhookEndpoint, delivery.endpoint_id)
    attempt = WebhookAttempt(
        delivery_id=delivery.id,
        number=prepared.number,
        started_at=now - timedelta(milliseconds=result.duration_ms),
        duration_ms=result.duration_ms,
        status_code=result.status_code,
        response_excerpt=result.excerpt,
        error=result.error,
        outcome="failed",
    )
    db.add(attempt)
    delivery.sending_until = None
    delivery.last_status_code = result.status_code
    delivery.last_error = result.error or (
        f"HTTP {result.status_code}" if result.status_code and result.status_code >= 300 else None
    )
    if delivery.schedule_seq != prepared.seq:
        attempt.outcome = "superseded"  # redelivered while this attempt was in flight
        return
    if result.status_code is not None and 200 <= result.status_code < 300:
        attempt.outcome = "succeeded"
        _finish(delivery, "succeeded", now)
        if endpoint is not None:
            endpoint.failing_since = None
            if endpoint.last_success_at is None or now - endpoint.last_success_at > timedelta(minutes=1):
                endpoint.last_success_at = now
        return
    if endpoint is not None and result.status_code == 410:
        _finish(delivery, "failed", now)
        disable(db, endpoint, "The receiver answered 410 Gone", now)
        return
    first = delivery.first_attempt_at or now
    if _retryable(result) and now - first < RETRY_WINDOW:
        due = now + retry_delay(delivery.attempts, result.retry_after, now)
        attempt.outcome = "retrying"
        attempt.next_retry_at = due
        delivery.status = "retrying"
        service.schedule(db, delivery, due)
    else:
        _finish(delivery, "failed", now)
    if endpoint is not None:
        endpoint.failing_since = endpoint.failing_since or now
        if endpoint.active and now - endpoint.failing_since >= DISABLE_AFTER:
            disable(db, endpoint, "Every delivery failed for 5 days", now)


def disable(db: Session, endpoint: WebhookEndpoint, reason: str, now: datetime) -> None:
    """Stop delivering to `endpoint` and tell its owner (bell and email, per their preferences);
    the audit trail and the `webhook_endpoint.disabled` event record it too."""
    if not endpoint.active:
        return
    endpoint.active = False
    endpoint.disabled_at = now
    endpoint.disabled_reason = reason
    record_type = "rest_hook" if endpoint.kind == "rest_hook" else service.RECORD_TYPE
    audit.record(
        db, SYSTEM, "disable", record_type, endpoint.id, {"active": {"old": True, "new": False}}, reason
    )
    if endpoint.owner_id is not None:
        owner_language = db.scalar(select(User.language).where(User.id == endpoint.owner_id)) or "fr"
        notifications.notify(
            db,
            endpoint.owner_id,
            "webhook_disabled",
            i18n.gettext("Webhook disabled: {url}", owner_language, url=endpoint.url[:200]),
            i18n.gettext(reason, owner_language),
            url=f"/settings/webhooks/{endpoint.id}" if endpoint.kind == "endpoint" else None,
            key=f"webhook_disabled:{endpoint.id}:{now.isoformat()}",
        )
    events.emit(
        db,
        SYSTEM,
        "webhook_endpoint.disabled",
        record_type,
        endpoint.id,
        {
            "id": endpoint.id,
            "kind": endpoint.kind,
            "url": endpoint.url,
            "owner_id": endpoint.owner_id,
            "reason": reason,
        },
    )
