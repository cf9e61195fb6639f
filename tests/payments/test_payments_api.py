"""Payments through the API: partial payments, one payment over several invoices, overpayment
kept as credit and allocated later, invoice statuses, validation, deletion, permissions."""

from __future__ import annotations

from sqlalchemy import func, select

from carnet.core.events import Event
from carnet.payments.models import Payment


def _invoice(api, invoice_id):
    return api("manager").get(f"/api/v1/invoices/{invoice_id}").json()


def test_partial_then_full_payment(api, issued, client_org, db):
    inv = issued()
    r = api("manager").post(
        "/api/v1/payments",
        json={
            "organisation_id": client_org,
            "paid_on": "2026-11-25",
            "amount": "1000",
            "method": "cheque",
            "reference": "CHQ 0012345",
            "allocations": [{"invoice_id": inv["id"], "amount": "1000"}],
        },
    )
    assert r.status_code == 201, r.text
    assert (r.json()["allocated"], r.json()["credit"]) == ("1000.00", "0.00")
    after = _invoice(api, inv["id"])
    assert (after["status"], after["amount_paid"], after["balance"]) == (
        "partially_paid",
        "1000.00",
        "2562.95",
    )
    r = api("manager").post(
        "/api/v1/payments",
        json={
            "organisation_id": client_org,
            "paid_on": "2026-11-30",
            "amount": "2562,95",
            "method": "transfer",
        },
    )
    assert r.status_code == 201, r.text
    after = _invoice(api, inv["id"])
    assert (after["status"], after["amount_paid"], after["balance"]) == ("paid", "3562.95", "0.00")
    paid = db.scalar(select(func.count()).where(Event.type == "invoice.paid", Event.record_id == inv["id"]))
    assert paid == 1


def test_one_payment_over_several_invoices_and_credit(api, issued, client_org):
    first, second = issued(), issued()
    r = api("manager").post(
        "/api/v1/payments",
        json={
            "organisation_id": client_org,
            "paid_on": "2026-11-28",
            "amount": "8000.00",
            "method": "transfer",
        },
    )
    assert r.status_code == 201, r.text
    payment = r.json()
    assert payment["allocations"] == [
        {"invoice_id": first["id"], "amount": "3562.95"},
        {"invoice_id": second["id"], "amount": "3562.95"},
    ]
    assert payment["credit"] == "874.10"  # 8000 − 2 × 3562.95
    assert [_invoice(api, i["id"])["status"] for i in (first, second)] == ["paid", "paid"]
    assert (
        api("manager").get(f"/api/v1/payments/credit?organisation_id={client_org}").json()["credit"]
        == "874.10"
    )

    third = issued()
    r = api("manager").post(f"/api/v1/payments/{payment['id']}/allocations", json={})
    assert r.status_code == 200, r.text
    assert r.json()["credit"] == "0.00"
    after = _invoice(api, third["id"])
    assert (after["status"], after["amount_paid"], after["balance"]) == (
        "partially_paid",
        "874.10",
        "2688.85",
    )
    assert api("manager").post(f"/api/v1/payments/{payment['id']}/allocations", json={}).status_code == 409


def test_invalid_allocations_record_nothing(api, issued, make_invoice, client_org, db):
    inv = issued()
    draft = make_invoice()
    other = (
        api("alice")
        .post("/api/v1/organisations", json={"name": "Autre client", "siren": "552100554"})
        .json()["id"]
    )
    before = db.scalar(select(func.count()).select_from(Payment))
    r = api("manager").post(
        "/api/v1/payments",
        json={
            "organisation_id": client_org,
            "paid_on": "2026-11-25",
            "amount": "5000",
            "method": "bitcoin",
            "allocations": [
                {"invoice_id": inv["id"], "amount": "4000"},
                {"invoice_id": draft["id"], "amount": "10"},
                {"invoice_id": 999999, "amount": "10"},
            ],
        },
    )
    assert r.status_code == 422
    assert {e["field"]: e["code"] for e in r.json()["errors"]} == {"method": "invalid_choice"}
    r = api("manager").post(
        "/api/v1/payments",
        json={
            "organisation_id": client_org,
            "paid_on": "2026-11-25",
            "amount": "5000",
            "allocations": [
                {"invoice_id": inv["id"], "amount": "4000"},
                {"invoice_id": draft["id"], "amount": "10"},
                {"invoice_id": 999999, "amount": "10"},
            ],
        },
    )
    assert r.status_code == 422
    assert {e["field"]: e["code"] for e in r.json()["errors"]} == {
        "allocations.0.amount": "exceeds_balance",
        "allocations.1.invoice_id": "not_payable",
        "allocations.2.invoice_id": "unknown",
    }
    r = api("manager").post(
        "/api/v1/payments",
        json={
            "organisation_id": other,
            "paid_on": "2026-11-25",
            "amount": "10",
            "allocations": [{"invoice_id": inv["id"]}],
        },
    )
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "other_client"
    r = api("manager").post(
        "/api/v1/payments",
        json={
            "organisation_id": client_org,
            "paid_on": "2026-11-25",
            "amount": "100",
            "allocations": [{"invoice_id": inv["id"], "amount": "150"}],
        },
    )
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "exceeds_payment"
    assert db.scalar(select(func.count()).select_from(Payment)) == before
    assert _invoice(api, inv["id"])["status"] == "issued"


def test_deleting_a_payment_reopens_its_invoices(api, issued, client_org):
    inv = issued()
    pay = (
        api("manager")
        .post(
            "/api/v1/payments",
            json={"organisation_id": client_org, "paid_on": "2026-11-25", "amount": "3562.95"},
        )
        .json()
    )
    assert _invoice(api, inv["id"])["status"] == "paid"
    assert api("manager").delete(f"/api/v1/payments/{pay['id']}").status_code == 204
    after = _invoice(api, inv["id"])
    assert (after["status"], after["amount_paid"], after["paid_at"]) == ("issued", "0.00", None)


def test_permissions(api, issued, client_org, db):
    inv = issued()
    body = {"organisation_id": client_org, "paid_on": "2026-11-25", "amount": "10"}
    assert api("alice").post("/api/v1/payments", json=body).status_code == 403  # sales: no payments
    assert api("reader").post("/api/v1/payments", json=body).status_code == 403
    # finance, another department: neither the client nor its invoice is visible
    r = api("fiona").post("/api/v1/payments", json={**body, "allocations": [{"invoice_id": inv["id"]}]})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"organisation_id"}
    assert db.scalar(select(func.count()).select_from(Payment)) == 0
    assert _invoice(api, inv["id"])["status"] == "issued"
    pay = api("manager").post("/api/v1/payments", json=body).json()
    assert api("fiona").get(f"/api/v1/payments/{pay['id']}").status_code == 404
    assert api("fiona").delete(f"/api/v1/payments/{pay['id']}").status_code == 404
