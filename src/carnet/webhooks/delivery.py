"""One delivery attempt, in three steps so no write transaction is held during the HTTP call:
prepare (claim a rate-limit token and a concurrency slot, build and sign the body), post,
record (log the attempt, then succeed, schedule a retry, fail, or disable the endpoint)."""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from carnet.accounts.models import User
from carnet.core import audit, clock, events, i18n
from carnet.core.context import SYSTEM, Actor
from carnet.core.db import get_database
from carnet.notifications import service as notifications
from carnet.webhooks import catalogue, client, service, signing
from carnet.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookThrottle

log = logging.getLogger("carnet.webhooks")

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


BATCH_SIZE = 50  # deliveries one `webhooks.deliver` batch takes at a time
POST_THREADS = 16  # concurrent POSTs of a batch (each endpoint also keeps to its max_concurrency)


@dataclass
class Prepared:
    delivery_id: int
    seq: int
    number: int
    url: str
    body: bytes
    headers: dict[str, str]
    endpoint_id: int = 0
    record: tuple[str | None, int | None] = (None, None)  # deliveries of one record go in order
    slots: int = 1  # concurrency slots the endpoint lent this wave: at most that many at once


def run(delivery_id: int, seq: int) -> None:
    """One delivery attempt (see `run_many`)."""
    run_many([(delivery_id, seq)])


def run_many(items: list[tuple[int, int]]) -> None:
    """The `webhooks.deliver` jobs of a batch: (delivery id, schedule seq) each. Safe to run twice:
    a stale or finished delivery is left alone.

    In waves, so no write transaction is held during HTTP calls: one transaction prepares every
    delivery it can send now (rate-limit tokens and concurrency slots taken per endpoint at once),
    the POSTs go out concurrently (one record's deliveries one after the other, in order), one
    transaction records every result. Deliveries an endpoint had no free slot for among its own
    in-flight ones go in the next wave; those over its rate, or kept out by another worker's
    in-flight deliveries, are rescheduled as before."""
    database = get_database()
    waiting = sorted(set(items))
    while waiting:
        with database.begin() as db:
            prepared, waiting = prepare_many(db, waiting)
        if not prepared:
            return
        results = post_all(prepared)
        with database.begin() as db:
            record_many(db, list(zip(prepared, results, strict=True)))


def post_all(prepared: list[Prepared]) -> list[client.PostResult]:
    """POST every prepared delivery; concurrently across records, in order within one record."""
    groups: dict[tuple[int, str | None, int | None], list[int]] = {}
    for index, item in enumerate(prepared):
        groups.setdefault((item.endpoint_id, *item.record), []).append(index)
    results: list[client.PostResult | None] = [None] * len(prepared)

    # At most the endpoint's lent slots in flight at once, whatever the number of its records.
    gates = {item.endpoint_id: threading.BoundedSemaphore(item.slots) for item in prepared}

    def send(indexes: list[int]) -> None:
        for index in indexes:
            item = prepared[index]
            with gates[item.endpoint_id]:
                try:
                    results[index] = client.post(item.url, item.body, item.headers)
                except Exception as exc:  # one delivery's surprise must not sink its whole batch
                    log.exception("webhook delivery %s could not be sent", item.delivery_id)
                    results[index] = client.PostResult(None, 0, error=f"{type(exc).__name__}: {exc}"[:500])

    if len(groups) == 1:
        send(next(iter(groups.values())))
    else:
        for future in [_pool().submit(send, indexes) for indexes in groups.values()]:
            future.result()
    return [result for result in results if result is not None]


_post_pool: ThreadPoolExecutor | None = None
_post_pool_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """Threads for concurrent POSTs, created on first use (after a Celery worker forked)."""
    global _post_pool
    with _post_pool_lock:
        if _post_pool is None:
            _post_pool = ThreadPoolExecutor(
                max_workers=POST_THREADS, thread_name_prefix="carnet-webhook-post"
            )
        return _post_pool


def _claim_slots(
    db: Session, endpoint: WebhookEndpoint, now: datetime, wanted: int
) -> tuple[int, int, timedelta | None]:
    """Take up to `wanted` rate-limit tokens, and concurrency slots for them: (deliveries that may
    go now, how many of them may be in flight at once, the wait before trying again when none may).
    Slots are the endpoint's free ones, at most POST_THREADS (a wave never posts more at once), so
    workers sending to one endpoint side by side each get a share. The throttle row is locked, so
    workers on several machines share one bucket; the in-flight count is taken under that lock."""
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
    free = endpoint.max_concurrency - in_flight
    if free <= 0:
        return 0, 0, BUSY_WAIT
    rate = float(endpoint.rate_limit_per_second)
    elapsed = max(0.0, (now - throttle.refilled_at).total_seconds())
    tokens = min(rate, throttle.tokens + elapsed * rate)
    granted = min(wanted, int(tokens))
    if granted < 1:
        return 0, 0, timedelta(seconds=(1.0 - tokens) / rate)
    throttle.tokens = tokens - granted
    throttle.refilled_at = now
    return granted, min(granted, free, POST_THREADS), None


def bodies_of(
    db: Session, deliveries: list[WebhookDelivery], endpoints: dict[int, WebhookEndpoint]
) -> dict[int, bytes | None]:
    """{delivery id: JSON body as its endpoint's owner may see it now, or None when they may not}.
    Events are read in one query; each owner's records in one query per record type; an event
    going to several endpoints of one owner is read and serialised once."""
    event_ids = {d.event_row_id for d in deliveries if not d.is_test and d.event_row_id}
    found = (
        {e.id: e for e in db.scalars(select(events.Event).where(events.Event.id.in_(event_ids)))}
        if event_ids
        else {}
    )
    owners: dict[int | None, Actor | None] = {}
    wanted: dict[int | None, list[events.Event]] = {}
    for d in deliveries:
        owner_id = endpoints[d.endpoint_id].owner_id
        if not d.is_test and owner_id not in owners:
            owners[owner_id] = service.owner_actor(db, owner_id)
        event = found.get(d.event_row_id) if d.event_row_id else None
        if event is not None and owners.get(owner_id) is not None:
            wanted.setdefault(owner_id, []).append(event)
    bodies: dict[tuple[int | None, int], bytes | None] = {}
    for owner_id, owner_events in wanted.items():
        unique = list({e.id: e for e in owner_events}.values())
        owner = owners[owner_id]
        assert owner is not None
        data = catalogue.event_data_many(
            db, owner, [(e.type, e.record_type, e.record_id, e.payload or {}) for e in unique]
        )
        for event, event_data in zip(unique, data, strict=True):
            if event_data is None:
                bodies[(owner_id, event.id)] = None
                continue
            payload: dict[str, Any] = {
                "type": event.type,
                "timestamp": service.iso(event.occurred_at),
                "data": event_data,
            }
            changes = catalogue.event_changes(event.type, event.payload or {})
            if changes is not None:
                payload["changes"] = changes
            bodies[(owner_id, event.id)] = _json(payload)
    out: dict[int, bytes | None] = {}
    for d in deliveries:
        if d.is_test:
            out[d.id] = _json(dict(d.payload or {}))
        else:
            out[d.id] = bodies.get((endpoints[d.endpoint_id].owner_id, d.event_row_id or 0))
    return out


def body_of(db: Session, delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> bytes | None:
    """The JSON body as the endpoint's owner may see it now; None when they may not."""
    return bodies_of(db, [delivery], {endpoint.id: endpoint})[delivery.id]


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def _finish(delivery: WebhookDelivery, status: str, now: datetime, error: str | None = None) -> None:
    delivery.status = status
    delivery.finished_at = now
    delivery.next_attempt_at = None
    delivery.sending_until = None
    if error is not None:
        delivery.last_error = error[:500]


def prepare(db: Session, delivery_id: int, seq: int) -> Prepared | None:
    """One delivery's attempt, if it may go now (see `prepare_many`)."""
    prepared, _later = prepare_many(db, [(delivery_id, seq)])
    return prepared[0] if prepared else None


def prepare_many(db: Session, items: list[tuple[int, int]]) -> tuple[list[Prepared], list[tuple[int, int]]]:
    """The attempts that may go now, and the (id, seq) to try again in the next wave (an
    endpoint's own deliveries in flight held its last slots). Deleted, stale (rescheduled or
    redelivered since) and finished deliveries are left alone."""
    now = clock.now()
    rows = db.scalars(select(WebhookDelivery).where(WebhookDelivery.id.in_({i for i, _s in items})))
    by_id = {d.id: d for d in rows}
    current = sorted(
        {
            delivery.id: delivery
            for delivery_id, seq in items
            if (delivery := by_id.get(delivery_id)) is not None
            and delivery.schedule_seq == seq
            and delivery.status not in FINAL
        }.values(),
        key=lambda d: d.id,
    )
    if not current:
        return [], []
    endpoint_ids = {d.endpoint_id for d in current}
    endpoints = {
        e.id: e for e in db.scalars(select(WebhookEndpoint).where(WebhookEndpoint.id.in_(endpoint_ids)))
    }
    per_endpoint: dict[int, list[WebhookDelivery]] = {}
    for delivery in current:
        endpoint = endpoints.get(delivery.endpoint_id)
        if endpoint is None:
            continue
        if not endpoint.active:
            _finish(delivery, "failed", now, "endpoint disabled")
            continue
        per_endpoint.setdefault(endpoint.id, []).append(delivery)
    if not per_endpoint:
        return [], []
    bodies = bodies_of(db, [d for group in per_endpoint.values() for d in group], endpoints)
    prepared: list[Prepared] = []
    later: list[tuple[int, int]] = []
    for endpoint_id in sorted(per_endpoint):  # one lock order for every worker
        endpoint = endpoints[endpoint_id]
        sendable = []
        for delivery in per_endpoint[endpoint_id]:
            if bodies[delivery.id] is None:
                _finish(delivery, "skipped", now, "not visible to the endpoint's owner")
            else:
                sendable.append(delivery)
        if not sendable:
            continue
        granted, slots, wait = _claim_slots(db, endpoint, now, len(sendable))
        for n, delivery in enumerate(sendable[:granted]):
            # Only `slots` of them are leased: no more than that are ever posted at once.
            prepared.append(_signed(delivery, endpoint, bodies[delivery.id] or b"", now, slots, n < slots))
        rest = sendable[granted:]
        if granted and rest:
            later += [(d.id, d.schedule_seq) for d in rest]
        elif rest:
            # Over the endpoint's rate or concurrency: later, not failed, and not an attempt.
            service.schedule_many(db, rest, now + (wait or BUSY_WAIT))
    return prepared, later


def _signed(
    delivery: WebhookDelivery,
    endpoint: WebhookEndpoint,
    body: bytes,
    now: datetime,
    slots: int,
    leased: bool,
) -> Prepared:
    delivery.attempts += 1
    delivery.first_attempt_at = delivery.first_attempt_at or now
    delivery.sending_until = now + LEASE if leased else None
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
    return Prepared(
        delivery.id,
        delivery.schedule_seq,
        delivery.attempts,
        endpoint.url,
        body,
        headers,
        endpoint.id,
        (delivery.record_type, delivery.record_id),
        slots,
    )


def _retryable(result: client.PostResult) -> bool:
    if result.refused:
        return False
    if result.status_code is None:
        return True  # timeout or network error
    return result.status_code == 429 or result.status_code >= 500


def record_many(db: Session, results: list[tuple[Prepared, client.PostResult]]) -> None:
    """Record a wave's results in one transaction: its deliveries and endpoints read with one
    query each, the attempt rows inserted together."""
    if not results:
        return
    ids = {prepared.delivery_id for prepared, _r in results}
    deliveries = list(db.scalars(select(WebhookDelivery).where(WebhookDelivery.id.in_(ids))))
    endpoint_ids = {d.endpoint_id for d in deliveries}
    if endpoint_ids:
        db.scalars(select(WebhookEndpoint).where(WebhookEndpoint.id.in_(endpoint_ids))).all()
    attempts: list[dict[str, Any]] = []
    for prepared, result in results:
        record(db, prepared, result, attempts)  # rows now come from the session's identity map
    if attempts:
        db.execute(insert(WebhookAttempt.__table__), attempts)


def record(
    db: Session,
    prepared: Prepared,
    result: client.PostResult,
    attempts: list[dict[str, Any]] | None = None,
) -> None:
    """Log the attempt (added to `attempts` for the caller to insert, else inserted now), then
    succeed, schedule a retry, fail, or disable the endpoint."""
    now = clock.now()
    delivery = db.get(WebhookDelivery, prepared.delivery_id)
    if delivery is None:
        return  # the endpoint was deleted meanwhile
    endpoint = db.get(WebhookEndpoint, delivery.endpoint_id)
    attempt: dict[str, Any] = {
        "delivery_id": delivery.id,
        "number": prepared.number,
        "started_at": now - timedelta(milliseconds=result.duration_ms),
        "duration_ms": result.duration_ms,
        "status_code": result.status_code,
        "response_excerpt": result.excerpt,
        "error": result.error,
        "outcome": "failed",
        "next_retry_at": None,
    }
    _record_outcome(db, prepared, result, delivery, endpoint, attempt, now)
    if attempts is None:
        db.execute(insert(WebhookAttempt.__table__), [attempt])
    else:
        attempts.append(attempt)


def _record_outcome(
    db: Session,
    prepared: Prepared,
    result: client.PostResult,
    delivery: WebhookDelivery,
    endpoint: WebhookEndpoint | None,
    attempt: dict[str, Any],
    now: datetime,
) -> None:
    delivery.sending_until = None
    delivery.last_status_code = result.status_code
    delivery.last_error = result.error or (
        f"HTTP {result.status_code}" if result.status_code and result.status_code >= 300 else None
    )
    if delivery.schedule_seq != prepared.seq:
        attempt["outcome"] = "superseded"  # redelivered while this attempt was in flight
        return
    if result.status_code is not None and 200 <= result.status_code < 300:
        attempt["outcome"] = "succeeded"
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
        attempt["outcome"] = "retrying"
        attempt["next_retry_at"] = due
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
