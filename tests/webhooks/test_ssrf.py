"""SSRF guard: only http(s), no private/loopback/link-local/multicast/reserved targets (checked on
the address connected to, at connection time), no redirects followed."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.contacts import service as contacts
from carnet.core import jobs
from carnet.settings import get_settings
from carnet.webhooks import client
from carnet.webhooks.models import WebhookDelivery, WebhookEndpoint

from .conftest import Receiver


@pytest.fixture
def private_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARNET_WEBHOOK_ALLOW_PRIVATE_TARGETS", "false")
    get_settings.cache_clear()


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.10",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::1",
        "64:ff9b::a00:1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert client.address_allowed(ipaddress.ip_address(address)) is False


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::6810:84e5", "::ffff:93.184.215.14"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert client.address_allowed(ipaddress.ip_address(address)) is True


def test_a_private_literal_address_is_refused_when_saved(
    api: Any, db: Session, private_refused: None
) -> None:
    before = db.scalars(select(WebhookEndpoint)).all()
    for url in (
        "http://127.0.0.1:9/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest",
        "http://[::ffff:7f00:1]/",
    ):
        r = api("admin").post("/api/v1/webhook-endpoints", json={"url": url})
        assert r.status_code == 422, url
        assert r.json()["errors"] == [
            {
                "field": "url",
                "code": "private_target",
                "message": "Les adresses privées, locales et de lien local sont refusées",
            }
        ]
    r = api("admin").post("/api/v1/webhook-endpoints", json={"url": "ftp://example.com/x"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["code"] == "invalid_url"
    assert db.scalars(select(WebhookEndpoint)).all() == before


def test_a_host_name_resolving_to_loopback_is_refused_at_connection_time(
    db: Session, receiver: Receiver, make_endpoint: Any, actor_of: Any, private_refused: None
) -> None:
    # "localhost" is not a literal address: saving it works, connecting to it must not.
    endpoint, _ = make_endpoint(receiver.url(host="localhost"), ["contact.created"])
    contacts.create_contact(db, actor_of("alice"), {"first_name": "Claire", "last_name": "Martin"})
    jobs.drain()

    assert receiver.requests == []
    db.expire_all()
    row = db.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)).one()
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 1, None)  # refused, not retried
    assert row.last_error.startswith("localhost resolves to a non-public address")


def test_the_guard_also_refuses_direct_client_calls(receiver: Receiver, private_refused: None) -> None:
    result = client.post(receiver.url(), b"{}", {})
    assert result.refused is True and result.status_code is None
    assert receiver.requests == []


def test_redirects_are_not_followed(
    db: Session, receiver: Receiver, make_endpoint: Any, actor_of: Any
) -> None:
    receiver.answer("/hook", (302, {"Location": receiver.url("/elsewhere")}, b""))
    endpoint, _ = make_endpoint(receiver.url(), ["contact.created"])
    contacts.create_contact(db, actor_of("alice"), {"first_name": "Claire", "last_name": "Martin"})
    jobs.drain()

    assert [r.path for r in receiver.requests] == ["/hook"]
    db.expire_all()
    row = db.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)).one()
    assert (row.status, row.last_status_code) == ("failed", 302)
