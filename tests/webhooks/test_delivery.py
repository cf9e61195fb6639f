"""Deliveries end to end: event → consumer → job → signed POST to a local receiver, retries with
the clock moved, Retry-After, 410, the 5-day circuit breaker, rate limit and concurrency."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from carnet.contacts import service as contacts
from carnet.core import clock, jobs
from carnet.core.audit import AuditEntry
from carnet.core.events import Event
from carnet.notifications.models import Notification
from carnet.webhooks import delivery
from carnet.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

from .conftest import NOW, Receiver


def _contact(db: Session, actor: Any, last_name: str = "Martin") -> int:
    return contacts.create_contact(db, actor, {"first_name": "Claire", "last_name": last_name}).id


def _deliveries(db: Session, endpoint_id: int) -> list[WebhookDelivery]:
    db.expire_all()
    stmt = (
        select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id).order_by(WebhookDelivery.id)
    )
    return list(db.scalars(stmt))


def _reference_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """Independent of carnet.webhooks.signing: the spec's recipe, spelled out."""
    key = base64.b64decode(secret.split("_", 1)[1])
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def test_an_event_is_posted_signed_and_a_standard_webhooks_library_verifies_it(
    db: Session, api: Any, receiver: Receiver, make_endpoint: Any, actor_of: Any
) -> None:
    clock.reset()  # the library checks the timestamp against the real time
    endpoint, secret = make_endpoint(receiver.url(), ["contact.created"])
    contact_id = _contact(db, actor_of("alice"))

    jobs.drain()

    assert len(receiver.requests) == 1
    got = receiver.requests[0]
    payload = Webhook(secret).verify(got.body, got.headers)
    assert payload["type"] == "contact.created"
    assert set(payload) == {"type", "timestamp", "data"}
    # data is the record exactly as the API returns it
    assert payload["data"] == api("admin").get(f"/api/v1/contacts/{contact_id}").json()
    event = db.scalars(
        select(Event).where(Event.type == "contact.created", Event.record_id == contact_id)
    ).one()
    assert got.headers["webhook-id"] == event.event_id
    assert got.headers["content-type"] == "application/json"
    assert got.headers["webhook-signature"] == _reference_signature(
        secret, event.event_id, got.headers["webhook-timestamp"], got.body
    )
    [row] = _deliveries(db, endpoint.id)
    assert (row.status, row.attempts, row.last_status_code) == ("succeeded", 1, 200)
    attempt = db.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == row.id)).one()
    assert (attempt.number, attempt.status_code, attempt.response_excerpt, attempt.outcome) == (
        1,
        200,
        "ok",
        "succeeded",
    )


def test_custom_headers_are_sent_and_only_subscribed_events_go_out(
    db: Session, receiver: Receiver, make_endpoint: Any, actor_of: Any
) -> None:
    make_endpoint(receiver.url("/a"), ["contact.deleted"])
    make_endpoint(receiver.url("/b"), ["contact.created"], headers={"Authorization": "Bearer s3cret"})
    _contact(db, actor_of("alice"))
    jobs.drain()
    assert receiver.on("/a") == []
    [got] = receiver.on("/b")
    assert got.headers["authorization"] == "Bearer s3cret"


def test_an_event_dispatched_twice_is_delivered_once(
    db: Session, receiver: Receiver, make_endpoint: Any, actor_of: Any
) -> None:
    from carnet.webhooks import service

    endpoint, _ = make_endpoint(receiver.url(), ["contact.created"])
    _contact(db, actor_of("alice"))
    jobs.drain()
    event = db.scalars(select(Event).where(Event.type == "contact.created")).all()[-1]
    assert service.fan_out(db, event) == 0  # at-least-once dispatch: the same event again
    db.commit()
    jobs.drain()
    assert len(receiver.requests) == 1
    assert len(_deliveries(db, endpoint.id)) == 1


def test_failures_are_retried_with_exponential_backoff_for_three_days_then_fail(
    db: Session, receiver: Receiver, make_endpoint: Any, actor_of: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "jitter", lambda: 1.0)
    receiver.answer("/hook", *[(500, {}, b"down")] * 40)
    endpoint, _ = make_endpoint(receiver.url(), ["contact.created"])
    _contact(db, actor_of("alice"))
    jobs.drain()

    expected = [30, 60, 120, 240, 480, 960, 1920, 3840, 7680, 15360] + [21600] * 11
    for number, delay in enumerate(expected, start=1):
        [row] = _deliveries(db, endpoint.id)
        assert (row.status, row.attempts) == ("retrying", number)
        assert row.next_attempt_at == clock.now() + timedelta(seconds=delay)
        clock.advance(timedelta(seconds=delay - 1))
        jobs.drain()
        assert len(receiver.requests) == number  # not a second early
        clock.advance(timedelta(seconds=1))
        jobs.drain()

    [row] = _deliveries(db, endpoint.id)
    assert (row.status, row.attempts, row.last_status_code) == ("failed", 22, 500)
    assert clock.now() - NOW == timedelta(seconds=sum(expected)) >= timedelta(days=3)
    assert len(receiver.requests) == 22
    assert {r.headers["webhook-id"] for r in receiver.requests} == {row.event_id}  # stable across retries
    attempts = db.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == row.id)).all()
    assert [a.outcome for a in attempts] == ["retrying"] * 21 + ["failed"]
    assert attempts[0].response_excerpt == "down"


def test_backoff_has_jitter_within_twenty_percent() -> None:
    delays = {delivery.backoff(3) for _ in range(50)}
    assert len(delays) > 1
    assert all(timedelta(seconds=96) <= d <= timedelta(seconds=144) for d in delays)


def test_retry_after_in_seconds_and_as_an_http_date_is_honoured(
    db: Session, receiver: Receiver, make_endpoint: Any, actor_of: Any
) -> None:
    when = NOW + timedelta(minutes=7)
    receiver.answer(
        "/hook",
        (429, {"Retry-After": "120"}, b"slow down"),
        (503, {"Retry-After": format_datetime(when + timedelta(seconds=120), usegmt=True)}, b""),
    )
    endpoint, _ = make_endpoint(receiver.url(), ["contact.created"])
    _contact(db, actor_of("alice"))
    jobs.drain()
    [row] = _deliveries(db, endpoint.id)
    assert row.next_attempt_at == NOW + timedelta(seconds=120)

    clock.advance(timedelta(seconds=120))
    jobs.drain()
    [row] = _deliveries(db, endpoint.id)
    assert (row.status, row.attempts) == ("retrying", 2)
    assert row.next_attempt_at == when + timedelta(seconds=120)

    clock.freeze(when + timedelta(seconds=120))
    jobs.drain()
    [row] = _deliveries(db, endpoint.id)
    assert (row.status, row.attempts, row.last_status_code) == ("succeeded", 3, 200)


def test_a_client_error_is_not_retried(
    db: Session, receiver: Receiver, make_endpoint: Any, actor_of: Any
) -> None:
    receiver.answer("/hook", (400, {}, b"bad"))
    endpoint, _ = make_endpoint(receiver.url(), ["contact.created"])
    _contact(db, actor_of("alice"))
    jobs.drain()
    [row] = _deliveries(db, endpoint.id)
    assert (row.status, row.attempts, row.last_status_code, row.next_attempt_at) == ("failed", 1, 400, None)
    assert db.get(WebhookEndpoint, endpoint.id).active is True


def test_410_gone_disables_the_endpoint(
    db: Session, receiver: Receiver, make_endpoint: Any, actor_of: Any
) -> None:
    receiver.answer("/hook", (410, {}, b"gone"))
    endpoint, _ = make_endpoint(receiver.url(), ["contact.created"])
    _contact(db, actor_of("alice"))
    jobs.drain()
    db.expire_all()
    disabled = db.get(WebhookEndpoint, endpoint.id)
    assert (disabled.active, disabled.disabled_reason) == (False, "The receiver answered 410 Gone")
    assert [d.status for d in _deliveries(db, endpoint.id)] == ["failed"]
    [message] = db.scalars(select(Notification).where(Notification.type == "webhook_disabled")).all()
    assert (message.body, message.url) == (
        "Le destinataire a répondu 410 Gone",
        f"/settings/webhooks/{endpoint.id}",
    )

    _contact(db, actor_of("alice"), "Durand")
    jobs.drain()
    assert len(receiver.requests) == 1  # nothing more is sent
    assert len(_deliveries(db, endpoint.id)) == 1


def test_an_endpoint_failing_for_five_days_is_disabled_and_its_owner_notified(
    db: Session,
    receiver: Receiver,
    make_endpoint: Any,
    actor_of: Any,
    personas: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(delivery, "jitter", lambda: 1.0)
    receiver.answer("/hook", *[(503, {}, b"")] * 100)
    endpoint, _ = make_endpoint(receiver.url(), ["contact.created"])
    alice = actor_of("alice")
    _contact(db, alice, "Premier")
    jobs.drain()
    for day in range(1, 7):  # a new event every day, each retried, every attempt failing
        target = NOW + timedelta(days=day)
        while True:
            pending = [d.next_attempt_at for d in _deliveries(db, endpoint.id) if d.status == "retrying"]
            due = min(pending, default=None)
            if due is None or due > target:
                break
            clock.freeze(due)
            jobs.drain()
        clock.freeze(target)
        if db.get(WebhookEndpoint, endpoint.id).active:
            _contact(db, alice, f"Jour {day}")
            jobs.drain()

    db.expire_all()
    disabled = db.get(WebhookEndpoint, endpoint.id)
    assert disabled.active is False
    assert disabled.disabled_reason == "Every delivery failed for 5 days"
    assert disabled.failing_since == NOW
    assert timedelta(days=5) <= disabled.disabled_at - NOW < timedelta(days=5, hours=6)
    entry = db.scalars(
        select(AuditEntry).where(AuditEntry.action == "disable", AuditEntry.record_id == endpoint.id)
    ).one()
    assert entry.record_type == "webhook_endpoint"
    notice = db.scalars(select(Event).where(Event.type == "webhook_endpoint.disabled")).one()
    assert notice.payload["owner_id"] == personas["admin"].id
    assert notice.payload["url"] == receiver.url()
    # the owner is notified (bell, and email per their preferences), in their language
    [message] = db.scalars(select(Notification).where(Notification.type == "webhook_disabled")).all()
    assert message.user_id == personas["admin"].id
    assert message.title == f"Webhook désactivé : {receiver.url()}"
    assert message.body == "Tous les envois ont échoué pendant 5 jours"
    assert message.url == f"/settings/webhooks/{endpoint.id}"
    # deliveries still waiting are not sent any more
    sent = len(receiver.requests)
    clock.advance(timedelta(days=2))
    jobs.drain()
    assert len(receiver.requests) == sent
    assert {d.status for d in _deliveries(db, endpoint.id)} == {"failed"}


def test_over_the_rate_limit_a_delivery_is_rescheduled_not_failed(
    db: Session, receiver: Receiver, make_endpoint: Any, actor_of: Any
) -> None:
    endpoint, _ = make_endpoint(receiver.url(), ["contact.created"], rate_limit_per_second=10)
    alice = actor_of("alice")
    for n in range(12):
        _contact(db, alice, f"Nom {n}")
    jobs.drain()

    assert len(receiver.requests) == 10  # the clock is frozen: one second's worth
    rows = _deliveries(db, endpoint.id)
    waiting = [d for d in rows if d.status == "pending"]
    assert len(waiting) == 2
    assert all(d.attempts == 0 and d.next_attempt_at == NOW + timedelta(milliseconds=100) for d in waiting)

    clock.advance(timedelta(seconds=1))
    jobs.drain()
    assert len(receiver.requests) == 12
    assert [(d.status, d.attempts) for d in _deliveries(db, endpoint.id)] == [("succeeded", 1)] * 12


def test_concurrency_limit_reschedules_while_the_endpoint_is_busy(
    db: Session, receiver: Receiver, make_endpoint: Any, actor_of: Any
) -> None:
    endpoint, _ = make_endpoint(receiver.url(), ["contact.created"], max_concurrency=1)
    alice = actor_of("alice")
    _contact(db, alice, "Un")
    _contact(db, alice, "Deux")
    from carnet.core import events

    events.dispatch_pending()
    first, second = _deliveries(db, endpoint.id)
    first.sending_until = NOW + timedelta(seconds=30)  # another worker is posting it right now
    first.schedule_seq += 1  # ... and owns it
    db.commit()

    jobs.drain()
    assert receiver.requests == []
    second = _deliveries(db, endpoint.id)[1]
    assert (second.status, second.attempts, second.next_attempt_at) == (
        "pending",
        0,
        NOW + timedelta(seconds=1),
    )

    clock.advance(timedelta(seconds=31))  # the other worker's lease ran out
    jobs.drain()
    assert len(receiver.requests) == 1
    assert _deliveries(db, endpoint.id)[1].status == "succeeded"


def test_old_finished_deliveries_are_purged_after_thirty_days(
    db: Session, receiver: Receiver, make_endpoint: Any, actor_of: Any
) -> None:
    from carnet.settings import get_settings
    from carnet.webhooks import service

    receiver.answer("/hook", (500, {}, b""))
    endpoint, _ = make_endpoint(receiver.url(), ["contact.created"])
    _contact(db, actor_of("alice"), "Ancien")
    jobs.drain()  # first one fails and waits for a retry
    clock.advance(timedelta(days=1))
    _contact(db, actor_of("alice"), "Récent")
    jobs.drain()
    old, _recent = _deliveries(db, endpoint.id)
    old.status = "failed"
    db.commit()

    clock.freeze(NOW + timedelta(days=30, seconds=1))
    assert service.purge_old_deliveries(db, get_settings(), dry_run=True) == 1
    assert service.purge_old_deliveries(db, get_settings(), dry_run=False) == 1
    remaining = _deliveries(db, endpoint.id)
    assert [d.id for d in remaining] == [_recent.id]
    assert db.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == old.id)).all() == []


def test_a_batch_sends_each_records_events_in_order_and_logs_every_attempt(
    db: Session, receiver: Receiver, make_endpoint: Any, actor_of: Any
) -> None:
    endpoint, _ = make_endpoint(receiver.url(), ["contact.created", "contact.updated"])
    alice = actor_of("alice")
    first = contacts.create_contact(db, alice, {"first_name": "Anne", "last_name": "Un"})
    second = contacts.create_contact(db, alice, {"first_name": "Bruno", "last_name": "Deux"})
    for n in range(1, 4):  # interleaved updates of the two contacts
        for contact in (first, second):
            contacts.update_contact(db, alice, contact, {"job_title": f"Poste {n}"})
    jobs.drain()  # every delivery is due at once: they go out in one batch

    bodies = [r.json for r in receiver.requests]
    assert len(bodies) == 8
    for contact in (first, second):
        mine = [
            (b["type"], b.get("changes", {}).get("job_title"))
            for b in bodies
            if b["data"]["id"] == contact.id
        ]
        assert mine == [
            ("contact.created", None),
            ("contact.updated", {"old": None, "new": "Poste 1"}),
            ("contact.updated", {"old": "Poste 1", "new": "Poste 2"}),
            ("contact.updated", {"old": "Poste 2", "new": "Poste 3"}),
        ]
    rows = _deliveries(db, endpoint.id)
    assert [(d.status, d.attempts) for d in rows] == [("succeeded", 1)] * 8
    attempts = db.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_([d.id for d in rows])))
    assert sorted((a.delivery_id, a.number, a.outcome) for a in attempts) == [
        (d.id, 1, "succeeded") for d in rows
    ]
    # one webhook-id per event and endpoint
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 8


def test_a_batch_keeps_to_the_endpoints_concurrency_limit(
    db: Session, receiver: Receiver, make_endpoint: Any, actor_of: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    from carnet.webhooks import client

    endpoint, _ = make_endpoint(receiver.url(), ["contact.created"], max_concurrency=2)
    alice = actor_of("alice")
    for n in range(7):
        _contact(db, alice, f"Nom {n}")
    in_flight = 0
    most = 0
    lock = threading.Lock()
    real_post = client.post

    def counting_post(url: str, body: bytes, headers: dict[str, str]) -> client.PostResult:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        time.sleep(0.02)  # long enough for concurrent posts to overlap
        try:
            return real_post(url, body, headers)
        finally:
            with lock:
                in_flight -= 1

    monkeypatch.setattr(client, "post", counting_post)
    jobs.drain()

    assert len(receiver.requests) == 7  # all in one drain: the batch goes on in waves of 2
    assert most == 2
    assert [(d.status, d.attempts) for d in _deliveries(db, endpoint.id)] == [("succeeded", 1)] * 7


def test_a_delivery_that_cannot_be_sent_fails_alone_and_is_retried(
    db: Session, receiver: Receiver, make_endpoint: Any, actor_of: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from carnet.webhooks import client

    endpoint, _ = make_endpoint(receiver.url(), ["contact.created"])
    alice = actor_of("alice")
    for name in ("Un", "Deux", "Trois"):
        _contact(db, alice, name)
    real_post = client.post

    def post(url: str, body: bytes, headers: dict[str, str]) -> client.PostResult:
        if b'"Deux"' in body:
            raise ValueError("unexpected")
        return real_post(url, body, headers)

    monkeypatch.setattr(client, "post", post)
    jobs.drain()

    assert len(receiver.requests) == 2
    rows = _deliveries(db, endpoint.id)
    assert [(d.status, d.attempts) for d in rows] == [("succeeded", 1), ("retrying", 1), ("succeeded", 1)]
    failed = db.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == rows[1].id)).one()
    assert (failed.outcome, failed.error) == ("retrying", "ValueError: unexpected")
    assert rows[1].next_attempt_at is not None and rows[1].next_attempt_at > NOW
