"""Webhook endpoints, REST hooks and their deliveries: every write goes through here.

Endpoints are settings (permission `webhooks:admin`, audited); REST hooks belong to the API user
who subscribed them (any user who may read the event's record type). Both deliver alike: the
`webhooks` event consumer (events.py) calls `fan_out`, the `webhooks.deliver` job (jobs.py) runs
`delivery.run`."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from carnet.accounts import service as accounts
from carnet.accounts.models import User
from carnet.core import audit, clock, events, housekeeping, jobs
from carnet.core.context import Actor
from carnet.core.errors import FieldErrors, NotFound, PermissionDenied, ValidationFailed
from carnet.core.listing import MAX_LIMIT, decode_cursor, encode_cursor
from carnet.settings import get_settings
from carnet.webhooks import catalogue, client, signing
from carnet.webhooks.models import (
    ALL_EVENTS,
    DELIVERY_STATUSES,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookThrottle,
)

RECORD_TYPE = "webhook_endpoint"
DELIVER_JOB = "webhooks.deliver"
DEFAULT_OVERLAP = timedelta(hours=24)
MAX_HEADERS = 20
# Set by the delivery itself: a custom header may not replace them.
RESERVED_HEADERS = {
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-type",
    "content-length",
    "host",
    "transfer-encoding",
    "connection",
}
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")


def require_admin(actor: Actor) -> None:
    if not actor.can("webhooks:admin"):
        raise PermissionDenied()


# -- validation ------------------------------------------------------------------------------------------


def clean_url(value: Any, field: str, errors: FieldErrors) -> str | None:
    """http(s) with a host; a literal private address is refused at once (host names are checked
    again on every connection, on the address they resolve to)."""
    url = value.strip() if isinstance(value, str) else ""
    if not url:
        errors.add(field, "This field is required", "required")
        return None
    if len(url) > 2000:
        errors.add(field, "At most {max} characters", "too_long", max=2000)
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        errors.add(field, "Enter a valid http or https address", "invalid_url")
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        errors.add(field, "Enter a valid http or https address", "invalid_url")
        return None
    if port == 0:
        errors.add(field, "Enter a valid http or https address", "invalid_url")
        return None
    literal = client.literal_address(parts.hostname)
    if literal is not None and not client.private_targets_allowed() and not client.address_allowed(literal):
        errors.add(field, "Private, loopback and link-local addresses are not allowed", "private_target")
        return None
    return url


def _clean_event_types(value: Any, errors: FieldErrors) -> list[str] | None:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        errors.add("event_types", "Choose at least one event type", "required")
        return None
    chosen = list(dict.fromkeys(v.strip() for v in value))
    if ALL_EVENTS in chosen:
        return [ALL_EVENTS]
    unknown = [v for v in chosen if v not in catalogue.BY_NAME]
    if unknown:
        errors.add("event_types", "Unknown event type: {value}", "unknown_event_type", value=unknown[0])
        return None
    return chosen


def _clean_headers(value: Any, errors: FieldErrors) -> dict[str, str] | None:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_HEADERS:
        errors.add("headers", "At most {max} headers, as name: value", "invalid", max=MAX_HEADERS)
        return None
    out: dict[str, str] = {}
    for name, header_value in value.items():
        if not isinstance(name, str) or not HEADER_NAME.match(name.strip()):
            errors.add("headers", "Invalid header name: {name}", "invalid_header", name=str(name)[:100])
            return None
        if name.strip().lower() in RESERVED_HEADERS:
            errors.add(
                "headers", "This header is set by Carnet: {name}", "reserved_header", name=name.strip()
            )
            return None
        text = header_value if isinstance(header_value, str) else ""
        if not isinstance(header_value, str) or len(text) > 1000 or any(c in text for c in "\r\n\0"):
            errors.add("headers", "Invalid value for header {name}", "invalid_header", name=name.strip())
            return None
        out[name.strip()] = text.strip()
    return out


def _clean_int(value: Any, field: str, low: int, high: int, errors: FieldErrors) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors.add(field, "Must be a number between {min} and {max}", "out_of_range", min=low, max=high)
        return None
    return value


def _apply(endpoint: WebhookEndpoint, data: dict[str, Any], creating: bool) -> None:
    errors = FieldErrors()
    if creating or "url" in data:
        endpoint.url = clean_url(data.get("url"), "url", errors) or endpoint.url
    if "description" in data:
        endpoint.description = (data["description"] or "").strip()[:500]
    if creating or "event_types" in data:
        endpoint.event_types = _clean_event_types(data.get("event_types", [ALL_EVENTS]), errors) or []
    if "headers" in data:
        endpoint.headers = _clean_headers(data["headers"], errors) or {}
    if data.get("rate_limit_per_second") is not None:
        endpoint.rate_limit_per_second = (
            _clean_int(data["rate_limit_per_second"], "rate_limit_per_second", 1, 1000, errors)
            or endpoint.rate_limit_per_second
        )
    if data.get("max_concurrency") is not None:
        endpoint.max_concurrency = (
            _clean_int(data["max_concurrency"], "max_concurrency", 1, 100, errors) or endpoint.max_concurrency
        )
    if data.get("active") is not None:
        if data["active"] and not endpoint.active:
            # Turned back on by hand: the circuit breaker starts afresh.
            endpoint.disabled_at = endpoint.disabled_reason = endpoint.failing_since = None
        endpoint.active = bool(data["active"])
    errors.raise_if_any()


def snapshot(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """What the audit trail records (never the secret)."""
    return {
        "kind": endpoint.kind,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types or []),
        "active": endpoint.active,
        "headers": sorted((endpoint.headers or {}).keys()),
        "owner_id": endpoint.owner_id,
        "rate_limit_per_second": endpoint.rate_limit_per_second,
        "max_concurrency": endpoint.max_concurrency,
    }


def to_read(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types or []),
        "active": endpoint.active,
        "headers": dict(endpoint.headers or {}),
        "owner_id": endpoint.owner_id,
        "rate_limit_per_second": endpoint.rate_limit_per_second,
        "max_concurrency": endpoint.max_concurrency,
        "failing_since": endpoint.failing_since,
        "last_success_at": endpoint.last_success_at,
        "disabled_at": endpoint.disabled_at,
        "disabled_reason": endpoint.disabled_reason,
        "previous_secret_expires_at": endpoint.previous_secret_expires_at,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
    }


def hook_read(hook: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": hook.id,
        "target_url": hook.url,
        "event": (hook.event_types or [""])[0],
        "active": hook.active,
        "created_at": hook.created_at,
    }


# -- endpoints -------------------------------------------------------------------------------------------


def list_endpoints(db: Session, actor: Actor) -> list[WebhookEndpoint]:
    require_admin(actor)
    stmt = select(WebhookEndpoint).where(WebhookEndpoint.kind == "endpoint")
    return list(db.scalars(stmt.order_by(WebhookEndpoint.id)))


def get_endpoint(db: Session, actor: Actor, endpoint_id: Any) -> WebhookEndpoint:
    require_admin(actor)
    endpoint = _get(db, endpoint_id)
    if endpoint is None or endpoint.kind != "endpoint":
        raise NotFound()
    return endpoint


def _get(db: Session, endpoint_id: Any) -> WebhookEndpoint | None:
    try:
        endpoint_id = int(endpoint_id)
    except (TypeError, ValueError):
        return None
    if not 0 < endpoint_id <= 2**31 - 1:
        return None
    return db.get(WebhookEndpoint, endpoint_id)


def _new(actor: Actor, kind: str) -> WebhookEndpoint:
    return WebhookEndpoint(
        kind=kind,
        owner_id=actor.user_id,
        secret=signing.new_secret(),
        headers={},
        description="",
        active=True,
        created_by_id=actor.user_id,
        updated_by_id=actor.user_id,
    )


def _add(db: Session, endpoint: WebhookEndpoint) -> None:
    db.add(endpoint)
    db.flush()
    # The throttle row exists from the start: deliveries only ever lock and update it.
    db.add(
        WebhookThrottle(
            endpoint_id=endpoint.id, tokens=float(endpoint.rate_limit_per_second), refilled_at=clock.now()
        )
    )


def create_endpoint(db: Session, actor: Actor, data: dict[str, Any]) -> tuple[WebhookEndpoint, str]:
    """The new endpoint and its secret (shown once)."""
    require_admin(actor)
    if actor.user_id is None:
        raise PermissionDenied()
    endpoint = _new(actor, "endpoint")
    _apply(endpoint, data, creating=True)
    _add(db, endpoint)
    audit.record(
        db, actor, "create", RECORD_TYPE, endpoint.id, audit.diff({}, snapshot(endpoint)), endpoint.url
    )
    db.commit()
    return endpoint, endpoint.secret


def update_endpoint(
    db: Session, actor: Actor, endpoint: WebhookEndpoint, data: dict[str, Any]
) -> WebhookEndpoint:
    require_admin(actor)
    before = snapshot(endpoint)
    _apply(endpoint, data, creating=False)
    after = snapshot(endpoint)
    if before == after:
        db.rollback()
        return endpoint
    endpoint.updated_by_id = actor.user_id
    audit.record(db, actor, "update", RECORD_TYPE, endpoint.id, audit.diff(before, after), endpoint.url)
    db.commit()
    return endpoint


def delete_endpoint(db: Session, actor: Actor, endpoint: WebhookEndpoint) -> None:
    require_admin(actor)
    audit.record(
        db, actor, "delete", RECORD_TYPE, endpoint.id, audit.diff(snapshot(endpoint), {}), endpoint.url
    )
    _delete(db, endpoint)
    db.commit()


def _delete(db: Session, endpoint: WebhookEndpoint) -> None:
    # Explicit deletes: the log goes with the endpoint on every database, cascades or not.
    delivery_ids = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id)
    db.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(delivery_ids)))
    db.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    db.execute(delete(WebhookThrottle).where(WebhookThrottle.endpoint_id == endpoint.id))
    db.delete(endpoint)


def rotate_secret(
    db: Session, actor: Actor, endpoint: WebhookEndpoint, overlap: timedelta = DEFAULT_OVERLAP
) -> str:
    """A new secret (returned, shown once); the old one keeps signing, as a second signature,
    for `overlap` so receivers can switch without losing a delivery."""
    require_admin(actor)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = clock.now() + overlap
    endpoint.secret = signing.new_secret()
    endpoint.updated_by_id = actor.user_id
    audit.record(
        db,
        actor,
        "rotate_secret",
        RECORD_TYPE,
        endpoint.id,
        {"previous_secret_expires_at": {"old": None, "new": endpoint.previous_secret_expires_at}},
        endpoint.url,
    )
    db.commit()
    return endpoint.secret


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    secrets_in_use = [endpoint.secret]
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_expires_at
        and endpoint.previous_secret_expires_at > now
    ):
        secrets_in_use.append(endpoint.previous_secret)
    return secrets_in_use


# -- REST hooks (Zapier, Make) ------------------------------------------------------------------------------


def create_hook(db: Session, actor: Actor, target_url: Any, event: Any) -> tuple[WebhookEndpoint, str]:
    """Subscribe `target_url` to one event type; any user who may read its record type may."""
    if actor.user_id is None:
        raise PermissionDenied()
    errors = FieldErrors()
    spec = catalogue.BY_NAME.get(event) if isinstance(event, str) else None
    if spec is None:
        errors.add("event", "Unknown event type: {value}", "unknown_event_type", value=str(event)[:80])
    elif not catalogue.readable_by(actor, spec.record_type):
        raise PermissionDenied()
    url = clean_url(target_url, "target_url", errors)
    errors.raise_if_any()
    hook = _new(actor, "rest_hook")
    hook.url = url or ""
    hook.event_types = [event]
    _add(db, hook)
    audit.record(db, actor, "create", "rest_hook", hook.id, audit.diff({}, snapshot(hook)), hook.url)
    db.commit()
    return hook, hook.secret


def list_hooks(db: Session, actor: Actor) -> list[WebhookEndpoint]:
    """The actor's own hooks."""
    stmt = select(WebhookEndpoint).where(
        WebhookEndpoint.kind == "rest_hook", WebhookEndpoint.owner_id == (actor.user_id or 0)
    )
    return list(db.scalars(stmt.order_by(WebhookEndpoint.id)))


def get_hook(db: Session, actor: Actor, hook_id: Any) -> WebhookEndpoint:
    """One of the actor's hooks (admins: anyone's); 404 otherwise."""
    hook = _get(db, hook_id)
    if (
        hook is None
        or hook.kind != "rest_hook"
        or (hook.owner_id != actor.user_id and not actor.can("webhooks:admin"))
    ):
        raise NotFound()
    return hook


def delete_hook(db: Session, actor: Actor, hook: WebhookEndpoint) -> None:
    audit.record(db, actor, "delete", "rest_hook", hook.id, audit.diff(snapshot(hook), {}), hook.url)
    _delete(db, hook)
    db.commit()


# -- deliveries ------------------------------------------------------------------------------------------


def schedule(db: Session, delivery: WebhookDelivery, due_at: datetime) -> None:
    """Schedule the next attempt as a new job; jobs scheduled before become stale."""
    delivery.schedule_seq = (delivery.schedule_seq or 0) + 1
    delivery.next_attempt_at = due_at
    jobs.enqueue(
        db,
        DELIVER_JOB,
        {"delivery_id": delivery.id, "seq": delivery.schedule_seq},
        due_at=due_at,
        key=f"{DELIVER_JOB}:{delivery.id}:{delivery.schedule_seq}",
    )


def schedule_many(db: Session, deliveries: list[WebhookDelivery], due_at: datetime) -> None:
    """`schedule` for many deliveries due at the same time, with one INSERT for their jobs."""
    for delivery in deliveries:
        delivery.schedule_seq = (delivery.schedule_seq or 0) + 1
        delivery.next_attempt_at = due_at
    jobs.enqueue_many(
        db,
        DELIVER_JOB,
        [
            (
                {"delivery_id": d.id, "seq": d.schedule_seq},
                due_at,
                f"{DELIVER_JOB}:{d.id}:{d.schedule_seq}",
            )
            for d in deliveries
        ],
    )


def owner_actor(db: Session, owner_id: int | None) -> Actor | None:
    """The endpoint owner as an Actor (their permissions and visibility); None when the owner is
    gone or deactivated: nobody receives events on their behalf any more."""
    if owner_id is None:
        return None
    user = db.get(User, owner_id)
    if user is None or not user.active:
        return None
    return accounts.actor_for(user)


def fan_out(db: Session, event: events.Event) -> int:
    """`fan_out_many` for one event."""
    return fan_out_many(db, [event])


def _active_endpoints(db: Session) -> list[tuple[int, int | None, tuple[str, ...]]]:
    """(id, owner id, event types) of the active endpoints, read once per dispatch batch."""
    rows = db.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.owner_id, WebhookEndpoint.event_types).where(
            WebhookEndpoint.active.is_(True)
        )
    )
    return [(row.id, row.owner_id, tuple(row.event_types or ())) for row in rows]


def fan_out_many(db: Session, batch: list[events.Event]) -> int:
    """One delivery per (event, active endpoint subscribed to it), and a job for each, with one
    INSERT for the deliveries and one for the jobs. Runs in the dispatcher's transaction; a second
    run for the same events adds nothing."""
    endpoints = events.batch_cached(db, "webhooks.endpoints", lambda: _active_endpoints(db))
    if not endpoints:
        return 0
    wanted: list[tuple[events.Event, int, int | None]] = [
        (event, endpoint_id, owner_id)
        for event in batch
        if event.type in catalogue.BY_NAME
        for endpoint_id, owner_id, chosen in endpoints
        if ALL_EVENTS in chosen or event.type in chosen
    ]
    if not wanted:
        return 0
    already = set(
        db.execute(
            select(WebhookDelivery.endpoint_id, WebhookDelivery.event_id).where(
                WebhookDelivery.event_id.in_({event.event_id for event, _e, _o in wanted}),
                WebhookDelivery.endpoint_id.in_({endpoint_id for _e, endpoint_id, _o in wanted}),
            )
        ).tuples()
    )
    owners: dict[int | None, Actor | None] = events.batch_cached(db, "webhooks.owners", dict)
    now = clock.now()
    rows: list[dict[str, Any]] = []
    for event, endpoint_id, owner_id in wanted:
        if (endpoint_id, event.event_id) in already:
            continue
        if owner_id not in owners:
            owners[owner_id] = owner_actor(db, owner_id)
        owner = owners[owner_id]
        # Record-level visibility is judged when the delivery is sent; the record type here.
        if owner is None or not catalogue.readable_by(owner, event.record_type):
            continue
        already.add((endpoint_id, event.event_id))
        rows.append(
            {
                "endpoint_id": endpoint_id,
                "event_id": event.event_id,
                "event_type": event.type,
                "event_row_id": event.id,
                "record_type": event.record_type,
                "record_id": event.record_id,
                "occurred_at": event.occurred_at,
                "is_test": False,
                "status": "pending",
                "attempts": 0,
                "schedule_seq": 1,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    if not rows:
        return 0
    table = WebhookDelivery.__table__
    ids = db.scalars(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows).all()
    # New deliveries: no job can exist for them yet, so no key is needed to deduplicate.
    jobs.enqueue_many(db, DELIVER_JOB, [({"delivery_id": i, "seq": 1}, now, None) for i in ids])
    return len(ids)


def send_test(
    db: Session, actor: Actor, endpoint: WebhookEndpoint, event_type: str | None = None
) -> WebhookDelivery:
    """Deliver an example of `event_type` now. Each test is a new message: a new `webhook-id`."""
    require_admin(actor)
    event_type = event_type or next(
        (t for t in (endpoint.event_types or []) if t in catalogue.BY_NAME), "contact.created"
    )
    if event_type not in catalogue.BY_NAME:
        raise ValidationFailed.on(
            "event_type", "Unknown event type: {value}", "unknown_event_type", value=event_type[:80]
        )
    now = clock.now()
    payload = catalogue.example_payload(event_type)
    payload["timestamp"] = iso(now)
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id,
        event_id=f"msg_test_{uuid.uuid4().hex}",
        event_type=event_type,
        occurred_at=now,
        is_test=True,
        payload=payload,
        status="pending",
        attempts=0,
        schedule_seq=0,
        created_at=now,
    )
    db.add(delivery)
    db.flush()
    schedule(db, delivery, now)
    audit.record(
        db,
        actor,
        "send_test",
        RECORD_TYPE,
        endpoint.id,
        {"event_type": {"old": None, "new": event_type}},
        endpoint.url,
    )
    db.commit()
    return delivery


def redeliver(db: Session, actor: Actor, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send the same message again now: same `webhook-id`, a fresh retry schedule."""
    require_admin(actor)
    now = clock.now()
    delivery.status = "pending"
    delivery.finished_at = None
    delivery.first_attempt_at = None
    schedule(db, delivery, now)
    audit.record(
        db,
        actor,
        "redeliver",
        RECORD_TYPE,
        delivery.endpoint_id,
        {"delivery_id": {"old": None, "new": delivery.id}},
        delivery.event_type,
    )
    db.commit()
    return delivery


def get_delivery(db: Session, actor: Actor, endpoint: WebhookEndpoint, delivery_id: Any) -> WebhookDelivery:
    require_admin(actor)
    try:
        delivery_id = int(delivery_id)
    except (TypeError, ValueError):
        raise NotFound()
    delivery = db.get(WebhookDelivery, delivery_id) if 0 < delivery_id <= 2**31 - 1 else None
    if delivery is None or delivery.endpoint_id != endpoint.id:
        raise NotFound()
    return delivery


def list_deliveries(
    db: Session,
    actor: Actor,
    endpoint: WebhookEndpoint,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[WebhookDelivery], str | None]:
    """Newest first; `status` filters (pending, retrying, succeeded, failed, skipped)."""
    require_admin(actor)
    errors = FieldErrors()
    if status and status not in DELIVERY_STATUSES:
        errors.add("status", "Choose one of: {values}", "invalid_choice", values=", ".join(DELIVERY_STATUSES))
    if not 1 <= limit <= MAX_LIMIT:
        errors.add("limit", "Must be a number between 1 and {max}", "out_of_range", max=MAX_LIMIT)
    last_id = None
    if cursor:
        try:
            _value, last_id = decode_cursor(cursor)
        except ValueError:
            errors.add("cursor", "Invalid cursor", "invalid_cursor")
    errors.raise_if_any()
    stmt = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if status:
        stmt = stmt.where(WebhookDelivery.status == status)
    if last_id is not None:
        stmt = stmt.where(WebhookDelivery.id < last_id)
    rows = list(db.scalars(stmt.order_by(WebhookDelivery.id.desc()).limit(limit + 1)))
    next_cursor = encode_cursor(None, rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def attempts_of(db: Session, deliveries: list[WebhookDelivery]) -> dict[int, list[WebhookAttempt]]:
    out: dict[int, list[WebhookAttempt]] = {d.id: [] for d in deliveries}
    if not deliveries:
        return out
    stmt = select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(list(out)))
    for attempt in db.scalars(stmt.order_by(WebhookAttempt.delivery_id, WebhookAttempt.number)):
        out[attempt.delivery_id].append(attempt)
    return out


def delivery_reads(db: Session, deliveries: list[WebhookDelivery]) -> list[dict[str, Any]]:
    attempts = attempts_of(db, deliveries)
    fields = (
        "id",
        "endpoint_id",
        "event_id",
        "event_type",
        "record_type",
        "record_id",
        "is_test",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "created_at",
        "finished_at",
    )
    out = []
    for d in deliveries:
        row = {f: getattr(d, f) for f in fields}
        row["attempt_log"] = [
            {
                "number": a.number,
                "started_at": a.started_at,
                "duration_ms": a.duration_ms,
                "status_code": a.status_code,
                "response_excerpt": a.response_excerpt,
                "error": a.error,
                "outcome": a.outcome,
                "next_retry_at": a.next_retry_at,
            }
            for a in attempts[d.id]
        ]
        out.append(row)
    return out


def status_counts(db: Session, endpoint_ids: list[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {i: {} for i in endpoint_ids}
    if not endpoint_ids:
        return out
    rows = db.execute(
        select(WebhookDelivery.endpoint_id, WebhookDelivery.status, func.count())
        .where(WebhookDelivery.endpoint_id.in_(endpoint_ids))
        .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.status)
    )
    for endpoint_id, status, count in rows:
        out[endpoint_id][status] = count
    return out


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- retention -------------------------------------------------------------------------------------------


def purge_old_deliveries(db: Session, settings: Any, dry_run: bool) -> int:
    """Finished deliveries (and their attempts) older than the retention period (30 days)."""
    cutoff = clock.now() - timedelta(days=(settings or get_settings()).retention_webhook_delivery_days)
    old = (WebhookDelivery.created_at < cutoff) & WebhookDelivery.status.in_(
        ("succeeded", "failed", "skipped")
    )
    if dry_run:
        return db.scalar(select(func.count()).select_from(WebhookDelivery).where(old)) or 0
    total = 0
    while True:
        ids = list(db.scalars(select(WebhookDelivery.id).where(old).limit(1000)))
        if not ids:
            return total
        db.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids)))
        db.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids)))
        db.commit()
        total += len(ids)


housekeeping.register_purger("webhook deliveries", purge_old_deliveries)
