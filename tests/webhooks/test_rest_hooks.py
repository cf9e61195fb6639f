"""REST hooks (Zapier, Make): subscribe, receive the events about records you may see, signed
with your hook's secret, unsubscribe."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from carnet.contacts import service as contacts
from carnet.core import clock, jobs
from carnet.webhooks.models import WebhookDelivery, WebhookEndpoint

from .conftest import Receiver


def _subscribe(api: Any, who: str, url: str, event: str) -> dict[str, Any]:
    r = api(who).post("/api/v1/hooks", json={"target_url": url, "event": event})
    assert r.status_code == 201, r.text
    return r.json()


def test_subscribe_receive_and_unsubscribe(api: Any, db: Session, receiver: Receiver, actor_of: Any) -> None:
    clock.reset()
    hook = _subscribe(api, "alice", receiver.url("/zap"), "contact.created")
    assert set(hook) == {"id", "target_url", "event", "active", "created_at", "secret"}
    assert (hook["target_url"], hook["event"], hook["active"]) == (
        receiver.url("/zap"),
        "contact.created",
        True,
    )
    assert [h["id"] for h in api("alice").get("/api/v1/hooks").json()["items"]] == [hook["id"]]
    assert api("bob").get("/api/v1/hooks").json()["items"] == []

    contact = contacts.create_contact(db, actor_of("alice"), {"first_name": "Claire", "last_name": "Martin"})
    jobs.drain()
    [got] = receiver.on("/zap")
    payload = Webhook(hook["secret"]).verify(got.body, got.headers)
    assert payload["data"] == api("alice").get(f"/api/v1/contacts/{contact.id}").json()

    assert api("bob").delete(f"/api/v1/hooks/{hook['id']}").status_code == 404  # not his
    assert api("alice").delete(f"/api/v1/hooks/{hook['id']}").status_code == 204
    assert api("alice").get("/api/v1/hooks").json()["items"] == []
    contacts.create_contact(db, actor_of("alice"), {"first_name": "Paul", "last_name": "Durand"})
    jobs.drain()
    assert len(receiver.on("/zap")) == 1


def test_hooks_only_deliver_records_the_subscriber_may_see(
    api: Any, db: Session, receiver: Receiver, actor_of: Any
) -> None:
    """Default visibility is per department: alice (Commercial) sees bob's contacts, not outsider's
    (Finance), created, updated or deleted."""
    for event in ("contact.created", "contact.updated", "contact.deleted"):
        _subscribe(api, "alice", receiver.url(f"/{event}"), event)
    bob, fiona = actor_of("bob"), actor_of("outsider")
    seen = contacts.create_contact(db, bob, {"first_name": "Vu", "last_name": "Commercial"})
    hidden = contacts.create_contact(db, fiona, {"first_name": "Pas", "last_name": "Finance"})
    jobs.drain()
    contacts.update_contact(db, bob, contacts.get_contact(db, bob, seen.id), {"job_title": "Gérant"})
    contacts.update_contact(db, fiona, contacts.get_contact(db, fiona, hidden.id), {"job_title": "DAF"})
    jobs.drain()
    contacts.delete_contact(db, bob, contacts.get_contact(db, bob, seen.id))
    contacts.delete_contact(db, fiona, contacts.get_contact(db, fiona, hidden.id))
    jobs.drain()

    for event in ("contact.created", "contact.updated", "contact.deleted"):
        got = receiver.on(f"/{event}")
        assert [r.json["data"]["id"] for r in got] == [seen.id], event
    assert receiver.on("/contact.updated")[0].json["changes"] == {"job_title": {"old": None, "new": "Gérant"}}
    deleted = receiver.on("/contact.deleted")[0].json["data"]
    assert (deleted["last_name"], deleted["owner_id"]) == ("Commercial", bob.user_id)  # the snapshot
    skipped = db.scalars(select(WebhookDelivery).where(WebhookDelivery.status == "skipped")).all()
    assert sorted(d.record_id for d in skipped) == [hidden.id] * 3


def test_an_admin_endpoint_receives_every_record(
    api: Any, db: Session, receiver: Receiver, make_endpoint: Any, actor_of: Any
) -> None:
    make_endpoint(receiver.url(), ["contact.created"])
    contacts.create_contact(db, actor_of("outsider"), {"first_name": "A", "last_name": "Finance"})
    contacts.create_contact(db, actor_of("bob"), {"first_name": "B", "last_name": "Commercial"})
    jobs.drain()
    assert sorted(r.json["data"]["last_name"] for r in receiver.requests) == ["Commercial", "Finance"]


def test_a_deactivated_subscriber_receives_nothing(
    api: Any, db: Session, receiver: Receiver, actor_of: Any, personas: Any
) -> None:
    from carnet.accounts.models import User

    _subscribe(api, "bob", receiver.url("/zap"), "contact.created")
    db.get(User, personas["bob"].id).active = False
    db.commit()
    contacts.create_contact(db, actor_of("alice"), {"first_name": "Claire", "last_name": "Martin"})
    jobs.drain()
    assert receiver.requests == []


def test_bad_subscriptions_are_refused_with_problem_details(api: Any, db: Session) -> None:
    r = api("alice").post(
        "/api/v1/hooks", json={"target_url": "http://example.com/x", "event": "contact.exploded"}
    )
    assert r.status_code == 422
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [("event", "unknown_event_type")]
    r = api("alice").post(
        "/api/v1/hooks", json={"target_url": "javascript:alert(1)", "event": "contact.created"}
    )
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [("target_url", "invalid_url")]
    r = api("alice").post("/api/v1/hooks", json={"event": "contact.created"})
    assert r.status_code == 422
    assert api("alice").delete("/api/v1/hooks/999999").status_code == 404
    assert db.scalars(select(WebhookEndpoint)).all() == []


def test_a_user_without_read_access_to_the_record_type_cannot_subscribe(
    api: Any, db: Session, personas: Any
) -> None:
    from carnet.accounts.models import Role, User

    reader = db.get(User, personas["reader"].id)
    role = db.get(Role, reader.role_id)
    role.permissions = [p for p in role.permissions if not p.startswith("deals:")]
    db.commit()
    r = api("reader").post("/api/v1/hooks", json={"target_url": "http://example.com/x", "event": "deal.won"})
    assert r.status_code == 403
    assert db.scalars(select(WebhookEndpoint)).all() == []
    r = api("reader").post(
        "/api/v1/hooks", json={"target_url": "http://example.com/x", "event": "contact.created"}
    )
    assert r.status_code == 201
