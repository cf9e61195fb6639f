"""Sales-document and finance events reach webhooks with the record as its API returns it."""

from __future__ import annotations

import json
from typing import Any

from invoices import conftest as invoice_fixtures
from sqlalchemy.orm import Session

from carnet.core import jobs

from .conftest import Receiver

company = invoice_fixtures.company
client_org = invoice_fixtures.client_org
make_invoice = invoice_fixtures.make_invoice
issue = invoice_fixtures.issue


def test_issuing_and_crediting_an_invoice_are_delivered_with_the_api_record(
    db: Session, api: Any, receiver: Receiver, make_endpoint: Any, make_invoice: Any, issue: Any
) -> None:
    make_endpoint(receiver.url(), ["invoice.issued", "credit_note.issued", "invoice.cancelled"])
    invoice = issue(make_invoice())
    r = api("manager").post(f"/api/v1/invoices/{invoice['id']}/credit-notes", json={"issue": True})
    assert r.status_code == 201, r.text
    credit_note = r.json()

    jobs.drain()

    bodies = [json.loads(req.body) for req in receiver.requests]
    # In order for each record (deliveries of different records may go out concurrently).
    assert [b["type"] for b in bodies if b["type"].startswith("invoice.")] == [
        "invoice.issued",
        "invoice.cancelled",
    ]
    by_type = {b["type"]: b for b in bodies}
    assert sorted(by_type) == ["credit_note.issued", "invoice.cancelled", "invoice.issued"]
    assert len(bodies) == 3
    # Data is the record read at delivery time, as GET returns it.
    assert by_type["invoice.issued"]["data"] == api("manager").get(f"/api/v1/invoices/{invoice['id']}").json()
    assert by_type["credit_note.issued"]["data"]["id"] == credit_note["id"]
    assert by_type["credit_note.issued"]["data"]["credited_invoice_id"] == invoice["id"]
    assert by_type["invoice.cancelled"]["data"]["status"] == "cancelled"


def test_a_payment_event_is_not_delivered_to_an_endpoint_owner_who_cannot_read_payments(
    db: Session,
    api: Any,
    receiver: Receiver,
    make_endpoint: Any,
    make_invoice: Any,
    issue: Any,
    client_org: int,
) -> None:
    endpoint, _ = make_endpoint(receiver.url(), ["payment.created"])
    invoice = issue(make_invoice())
    body = {
        "organisation_id": client_org,
        "paid_on": "2026-11-25",
        "amount": "100",
        "method": "transfer",
        "allocations": [{"invoice_id": invoice["id"], "amount": "100"}],
    }
    assert api("manager").post("/api/v1/payments", json=body).status_code == 201
    jobs.drain()
    assert [json.loads(req.body)["data"]["amount"] for req in receiver.requests] == ["100.00"]
