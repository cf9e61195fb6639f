"""Settings pages for webhooks: list, create (secret shown once), edit with errors next to the
fields, delivery log with status filter, test event, redeliver, rotate, delete; admins only."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.core import jobs
from carnet.webhooks.models import WebhookDelivery, WebhookEndpoint

from .conftest import Receiver


def _post(client: Any, path: str, **data: Any) -> Any:
    return client.post(path, data={"csrf_token": client.csrf, **data}, follow_redirects=False)


def test_an_admin_creates_an_endpoint_and_sees_the_secret_once(
    web: Any, db: Session, receiver: Receiver
) -> None:
    admin = web("admin")
    assert "Webhooks" in admin.get("/settings").text
    r = _post(
        admin,
        "/settings/webhooks/new",
        url=receiver.url(),
        description="ERP",
        event_types=["deal.won", "deal.lost"],
        headers="X-Env: prod",
        rate_limit_per_second="5",
        max_concurrency="2",
        active="1",
    )
    assert r.status_code == 200
    secret = re.search(r'data-testid="secret">(whsec_[^<]+)<', r.text).group(1)
    endpoint = db.scalars(select(WebhookEndpoint)).one()
    assert (endpoint.secret, endpoint.event_types, endpoint.headers) == (
        secret,
        ["deal.won", "deal.lost"],
        {"X-Env": "prod"},
    )
    assert (endpoint.rate_limit_per_second, endpoint.max_concurrency, endpoint.description) == (5, 2, "ERP")

    page = admin.get(f"/settings/webhooks/{endpoint.id}").text
    assert secret not in page
    assert receiver.url() in admin.get("/settings/webhooks").text


def test_form_errors_are_shown_next_to_the_fields_and_nothing_is_saved(web: Any, db: Session) -> None:
    admin = web("admin")
    r = _post(admin, "/settings/webhooks/new", url="ftp://x", headers="no colon here")
    assert r.status_code == 422
    assert 'data-error-for="headers"' in r.text
    r = _post(admin, "/settings/webhooks/new", url="ftp://x", headers="")
    assert r.status_code == 422
    assert re.search(r'data-error-for="url">Saisissez une adresse http ou https valide<', r.text)
    assert re.search(r'data-error-for="event_types">Choisissez au moins un type d', r.text)
    assert db.scalars(select(WebhookEndpoint)).all() == []


def test_log_filter_test_event_redeliver_rotate_and_delete(
    web: Any, db: Session, receiver: Receiver, make_endpoint: Any
) -> None:
    receiver.answer("/hook", (500, {}, b"boom"))
    endpoint, secret = make_endpoint(receiver.url(), ["contact.created"])
    admin = web("admin")
    base = f"/settings/webhooks/{endpoint.id}"
    assert _post(admin, f"{base}/test", event_type="contact.created").status_code == 303
    jobs.drain()
    [delivery] = db.scalars(select(WebhookDelivery)).all()
    page = admin.get(f"{base}?status=retrying").text
    assert delivery.event_id in page and "boom" in page
    assert delivery.event_id not in admin.get(f"{base}?status=succeeded").text

    assert _post(admin, f"{base}/deliveries/{delivery.id}/redeliver").status_code == 303
    jobs.drain()
    db.expire_all()
    assert (db.get(WebhookDelivery, delivery.id).status, len(receiver.requests)) == ("succeeded", 2)
    assert delivery.event_id in admin.get(f"{base}?status=succeeded").text

    r = _post(admin, f"{base}/rotate-secret")
    new_secret = re.search(r'data-testid="secret">(whsec_[^<]+)<', r.text).group(1)
    db.expire_all()
    assert (
        db.get(WebhookEndpoint, endpoint.id).secret,
        db.get(WebhookEndpoint, endpoint.id).previous_secret,
    ) == (new_secret, secret)

    r = _post(
        admin, f"{base}/edit", url=receiver.url("/v2"), event_types=["contact.created"], headers="", active=""
    )
    assert r.status_code == 303
    db.expire_all()
    assert (db.get(WebhookEndpoint, endpoint.id).url, db.get(WebhookEndpoint, endpoint.id).active) == (
        receiver.url("/v2"),
        False,
    )

    assert _post(admin, f"{base}/delete").status_code == 303
    db.expire_all()
    assert db.scalars(select(WebhookEndpoint.id)).all() == []
    assert db.scalars(select(WebhookDelivery.id)).all() == []


def test_other_roles_cannot_open_the_pages(
    web: Any, db: Session, make_endpoint: Any, receiver: Receiver
) -> None:
    endpoint, _ = make_endpoint(receiver.url())
    manager = web("manager")
    assert "/settings/webhooks" not in manager.get("/settings").text
    assert manager.get("/settings/webhooks").status_code == 403
    assert manager.get(f"/settings/webhooks/{endpoint.id}").status_code == 403
    assert _post(manager, f"/settings/webhooks/{endpoint.id}/delete").status_code == 403
    assert _post(manager, f"/settings/webhooks/{endpoint.id}/test").status_code == 403
    db.expire_all()
    assert db.get(WebhookEndpoint, endpoint.id) is not None
    assert db.scalars(select(WebhookDelivery)).all() == []
