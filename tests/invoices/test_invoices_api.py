"""Invoices through the API: drafts, issuing with gapless numbers, immutability (409), the
Factur-X PDF and XML, deposits and the final invoice, credit notes, due dates, payment status."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from carnet.core import clock, jobs
from carnet.core.events import Event
from carnet.invoices import facturx
from carnet.invoices.models import Invoice
from invoices.conftest import LINES
from invoices.validation import all_problems


def _events(db, invoice_id: int) -> list[str]:
    rows = db.scalars(
        select(Event.type)
        .where(Event.record_type == "invoice", Event.record_id == invoice_id)
        .order_by(Event.id)
    )
    return list(rows)


def test_draft_has_no_number_and_exact_totals(make_invoice):
    draft = make_invoice()
    assert draft["status"] == "draft" and draft["number"] is None and draft["issue_date"] is None
    assert (draft["total_net"], draft["total_vat"], draft["total_gross"]) == ("3241.00", "321.95", "3562.95")
    assert draft["totals"]["vat_by_rate"] == [
        {"rate": "20.00", "base": "991.00", "vat": "198.20"},
        {"rate": "5.50", "base": "2250.00", "vat": "123.75"},
    ]
    assert draft["amount_due"] == "3562.95"


def test_issue_gives_the_next_number_and_freezes(make_invoice, issue, api, db):
    first = issue(make_invoice())
    second = issue(make_invoice())
    assert (first["number"], second["number"]) == ("2026-F-0001", "2026-F-0002")
    assert first["status"] == "issued" and first["issue_date"] == "2026-11-21"
    assert first["due_date"] == "2026-12-21"  # 30 days, the company's default terms
    assert first["buyer"]["siren"] == "356000000"
    stored = db.get(Invoice, first["id"])
    assert hashlib.sha256(stored.pdf).hexdigest() == first["pdf_sha256"]
    assert _events(db, first["id"]) == ["invoice.created", "invoice.updated", "invoice.issued"]


def test_issued_invoice_cannot_be_edited_or_deleted(make_invoice, issue, api, db):
    invoice = issue(make_invoice())
    before = api("manager").get(f"/api/v1/invoices/{invoice['id']}").json()
    r = api("manager").patch(f"/api/v1/invoices/{invoice['id']}", json={"title": "Autre"})
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "invoice_issued"
    assert api("manager").delete(f"/api/v1/invoices/{invoice['id']}").status_code == 409
    assert api("admin").delete(f"/api/v1/invoices/{invoice['id']}").status_code == 409
    assert api("manager").post(f"/api/v1/invoices/{invoice['id']}/issue", json={}).status_code == 409
    after = api("manager").get(f"/api/v1/invoices/{invoice['id']}").json()
    assert after == before


def test_model_refuses_writes_to_an_issued_invoice(make_invoice, issue, db):
    """Even code that bypasses the service cannot change what was issued."""
    import pytest

    from carnet.core.errors import Conflict

    invoice = db.get(Invoice, issue(make_invoice())["id"])
    invoice.total_gross = Decimal("1.00")
    with pytest.raises(Conflict):
        db.flush()
    db.rollback()
    invoice = db.get(Invoice, invoice.id)
    db.delete(invoice)
    with pytest.raises(Conflict):
        db.flush()
    db.rollback()


def test_draft_can_be_edited_and_deleted(make_invoice, api):
    draft = make_invoice()
    r = api("manager").patch(
        f"/api/v1/invoices/{draft['id']}",
        json={"lines": [{"description": "Audit", "quantity": "1", "unit_price": "100", "vat_rate": "20"}]},
    )
    assert r.status_code == 200 and r.json()["total_gross"] == "120.00"
    assert api("manager").delete(f"/api/v1/invoices/{draft['id']}").status_code == 204
    assert api("manager").get(f"/api/v1/invoices/{draft['id']}").status_code == 404


def test_deleted_drafts_leave_no_gap(make_invoice, issue, api):
    draft = make_invoice()
    api("manager").delete(f"/api/v1/invoices/{draft['id']}")
    assert issue(make_invoice())["number"] == "2026-F-0001"


def test_back_dating_is_refused_and_gives_no_gap(make_invoice, issue, api):
    issue(make_invoice(), issue_date="2026-11-20")
    r = api("manager").post(
        f"/api/v1/invoices/{make_invoice()['id']}/issue", json={"issue_date": "2026-11-19"}
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "issue_date"
    assert r.json()["errors"][0]["code"] == "back_dated"
    r = api("manager").post(
        f"/api/v1/invoices/{make_invoice()['id']}/issue", json={"issue_date": "2026-11-22"}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "in_the_future"
    assert issue(make_invoice())["number"] == "2026-F-0002"  # the refused issues took no number


def test_a_new_year_restarts_the_series(make_invoice, issue):
    issue(make_invoice())
    clock.freeze(clock.now() + timedelta(days=45))
    assert issue(make_invoice())["number"] == "2027-F-0001"


def test_client_siren_is_required_to_issue(make_invoice, api):
    org = api("alice").post("/api/v1/organisations", json={"name": "Sans SIREN"}).json()["id"]
    draft = make_invoice(organisation_id=org)
    r = api("manager").post(f"/api/v1/invoices/{draft['id']}/issue", json={})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "client_siren_required"
    assert api("manager").get(f"/api/v1/invoices/{draft['id']}").json()["status"] == "draft"


def test_pdf_is_facturx_and_xml_is_valid(make_invoice, issue, api):
    invoice = issue(make_invoice(delivery_address="Pavillon B\n38700 La Tronche", purchase_order="BC-77"))
    pdf = api("manager").get(f"/api/v1/invoices/{invoice['id']}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(pdf.content).hexdigest() == invoice["pdf_sha256"]
    embedded = facturx.extract_xml(pdf.content)
    xml = api("manager").get(f"/api/v1/invoices/{invoice['id']}/facturx.xml")
    assert xml.status_code == 200 and xml.content == embedded
    assert all_problems(xml.content) == {"xsd": [], "en16931": [], "fr_ctc": []}
    assert b"<ram:ID>2026-F-0001</ram:ID>" in xml.content
    assert b"<ram:GrandTotalAmount>3562.95</ram:GrandTotalAmount>" in xml.content


def test_draft_has_no_xml(make_invoice, api):
    draft = make_invoice()
    assert api("manager").get(f"/api/v1/invoices/{draft['id']}/facturx.xml").status_code == 409
    preview = api("manager").get(f"/api/v1/invoices/{draft['id']}/pdf")
    assert preview.status_code == 200 and preview.content.startswith(b"%PDF")


def test_due_date_terms_and_public_hospital_cap(make_invoice, issue):
    assert issue(make_invoice(payment_terms="45_days_eom"))["due_date"] == "2027-01-14"  # 30/11 + 45
    assert issue(make_invoice(payment_terms="60_days"))["due_date"] == "2027-01-20"
    assert issue(make_invoice(payment_terms="60_days", public_hospital=True))["due_date"] == "2027-01-10"
    assert issue(make_invoice(payment_terms="on_receipt"))["due_date"] == "2026-11-21"


def test_full_credit_note_cancels_the_invoice(make_invoice, issue, api, db):
    invoice = issue(make_invoice())
    r = api("manager").post(f"/api/v1/invoices/{invoice['id']}/credit-notes", json={"issue": True})
    assert r.status_code == 201, r.text
    credit = r.json()
    assert (credit["kind"], credit["number"], credit["total_gross"]) == (
        "credit_note",
        "2026-A-0001",
        "3562.95",
    )
    assert credit["credited_invoice_id"] == invoice["id"]
    original = api("manager").get(f"/api/v1/invoices/{invoice['id']}").json()
    assert original["status"] == "cancelled" and original["amount_credited"] == "3562.95"
    assert original["balance"] == "0.00"
    xml = api("manager").get(f"/api/v1/invoices/{credit['id']}/facturx.xml").content
    assert all_problems(xml) == {"xsd": [], "en16931": [], "fr_ctc": []}
    assert b"<ram:TypeCode>381</ram:TypeCode>" in xml
    assert b"<ram:IssuerAssignedID>2026-F-0001</ram:IssuerAssignedID>" in xml
    assert "credit_note.issued" in _events(db, credit["id"])
    assert api("manager").post(f"/api/v1/invoices/{invoice['id']}/credit-notes", json={}).status_code == 409


def test_partial_credit_note(make_invoice, issue, api):
    invoice = issue(make_invoice())
    line = {"description": "Geste commercial", "quantity": "1", "unit_price": "100.00", "vat_rate": "20"}
    r = api("manager").post(f"/api/v1/invoices/{invoice['id']}/credit-notes", json={"lines": [line]})
    credit = r.json()
    assert credit["status"] == "draft" and credit["total_gross"] == "120.00"
    issued = api("manager").post(f"/api/v1/invoices/{credit['id']}/issue", json={}).json()
    assert issued["number"] == "2026-A-0001"
    original = api("manager").get(f"/api/v1/invoices/{invoice['id']}").json()
    assert original["status"] == "issued" and original["balance"] == "3442.95"
    too_much = {**line, "unit_price": "5000.00"}
    r = api("manager").post(f"/api/v1/invoices/{invoice['id']}/credit-notes", json={"lines": [too_much]})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "exceeds_invoice"
    listed = api("manager").get(f"/api/v1/invoices/{invoice['id']}/credit-notes").json()
    assert [c["number"] for c in listed] == ["2026-A-0001"]


def test_deposit_then_final_invoice_deducts_it(accepted_quote, issue, api):
    r = api("manager").post(
        "/api/v1/invoices", json={"quote_id": accepted_quote["id"], "deposit_percent": "30"}
    )
    assert r.status_code == 201, r.text
    deposit = r.json()
    # 30 % of each base: 5.5 %: 675.00 (VAT 37.13), 20 %: 297.30 (VAT 59.46)
    assert deposit["kind"] == "deposit" and deposit["total_net"] == "972.30"
    assert deposit["total_gross"] == "1068.89"
    deposit = issue(deposit)
    assert deposit["number"] == "2026-F-0001"
    xml = api("manager").get(f"/api/v1/invoices/{deposit['id']}/facturx.xml").content
    assert b"<ram:TypeCode>386</ram:TypeCode>" in xml
    assert all_problems(xml) == {"xsd": [], "en16931": [], "fr_ctc": []}

    final = api("manager").post("/api/v1/invoices", json={"quote_id": accepted_quote["id"]}).json()
    assert final["total_gross"] == "3562.95" and final["prepaid_amount"] == "1068.89"
    final = issue(final)
    assert final["number"] == "2026-F-0002"
    assert final["deducted_deposit_ids"] == [deposit["id"]]
    assert (final["prepaid_amount"], final["amount_due"]) == ("1068.89", "2494.06")
    xml = api("manager").get(f"/api/v1/invoices/{final['id']}/facturx.xml").content
    assert all_problems(xml) == {"xsd": [], "en16931": [], "fr_ctc": []}
    assert b"<ram:ID>B4</ram:ID>" in xml
    assert b"<ram:TotalPrepaidAmount>1068.89</ram:TotalPrepaidAmount>" in xml
    assert b"<ram:DuePayableAmount>2494.06</ram:DuePayableAmount>" in xml
    # a second final invoice would not deduct the same deposit again
    again = api("manager").post("/api/v1/invoices", json={"quote_id": accepted_quote["id"]}).json()
    assert again["prepaid_amount"] == "0.00"


def test_only_an_accepted_quote_can_be_invoiced(api, company, client_org):
    quote = api("alice").post("/api/v1/quotes", json={"organisation_id": client_org, "lines": LINES}).json()
    r = api("manager").post("/api/v1/invoices", json={"quote_id": quote["id"]})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "quote_not_accepted"


def test_payment_status_and_overdue_job(make_invoice, issue, db):
    from carnet.invoices import service

    paid_later = db.get(Invoice, issue(make_invoice())["id"])
    unpaid = db.get(Invoice, issue(make_invoice())["id"])
    assert service.apply_payment_status(db, paid_later, "1000.00") == "partially_paid"
    db.commit()
    clock.freeze(clock.now() + timedelta(days=31))  # past the due date 2026-12-21
    jobs.drain()
    db.expire_all()
    assert db.get(Invoice, unpaid.id).status == "overdue"
    assert db.get(Invoice, paid_later.id).status == "overdue"
    assert "invoice.overdue" in _events(db, unpaid.id)
    paid_later = db.get(Invoice, paid_later.id)
    assert service.apply_payment_status(db, paid_later, "3562.95") == "paid"
    db.commit()
    assert _events(db, paid_later.id)[-1] == "invoice.paid"
    jobs.drain()
    db.expire_all()
    assert db.get(Invoice, paid_later.id).status == "paid"


def test_schedule_invoice_for_a_contract(company, client_org, db, personas):
    from datetime import date

    from carnet.accounts import service as accounts
    from carnet.accounts.models import User
    from carnet.invoices import service

    actor = accounts.actor_for(db.get(User, personas["manager"].id))
    invoice = service.create_invoice_from_schedule(
        db,
        actor,
        17,
        date(2026, 11, 1),
        date(2026, 11, 30),
        [{"description": "Maintenance mensuelle", "quantity": "1", "unit_price": "250", "vat_rate": "20"}],
        organisation_id=client_org,
        payment_terms="60_days",
    )
    assert (invoice.contract_id, invoice.periodic, invoice.total_gross) == (17, True, Decimal("300.00"))
    issued = service.issue_invoice(db, actor, invoice)
    assert issued.due_date == date(2027, 1, 5)  # periodic invoices: at most 45 days (L441-10)
    assert all_problems(issued.facturx_xml) == {"xsd": [], "en16931": [], "fr_ctc": []}
    assert b'<udt:DateTimeString format="102">20261101</udt:DateTimeString>' in issued.facturx_xml


def test_a_failed_render_leaves_the_invoice_issued_and_the_job_renders_it(make_invoice, api, db, monkeypatch):
    from carnet.invoices import rendering

    real = rendering.render_pdf
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("fonts missing")
        return real(*args, **kwargs)

    monkeypatch.setattr(rendering, "render_pdf", flaky)
    draft = make_invoice()
    r = api("manager").post(f"/api/v1/invoices/{draft['id']}/issue", json={})
    assert r.status_code == 200
    assert (r.json()["number"], r.json()["pdf_sha256"]) == ("2026-F-0001", None)
    jobs.drain()
    db.expire_all()
    stored = db.get(Invoice, draft["id"])
    assert stored.pdf_sha256 == hashlib.sha256(stored.pdf).hexdigest()
    assert facturx.extract_xml(stored.pdf) == stored.facturx_xml
    first = stored.pdf
    jobs.drain()  # idempotent: the stored PDF is never replaced
    assert api("manager").get(f"/api/v1/invoices/{draft['id']}/pdf").content == first
