"""Bank statement import with match proposals confirmed by the user; the dunning schedule with
a controlled clock: J-3, J+7, J+30 each once, the formal notice PDF letter, pauses honoured."""

from __future__ import annotations

import subprocess

from sqlalchemy import select

from carnet.core.mail import OutgoingEmail, OutgoingEmailAttachment
from payments.conftest import at


def _upload(api, who, content: str, name="releve.csv"):
    return api(who).post(
        "/api/v1/payments/bank-lines", files={"file": (name, content.encode("utf-8"), "text/csv")}
    )


def test_bank_import_proposals_and_confirmation(api, issued, client_org):
    by_number, by_amount = (
        issued(),
        issued(lines=[{"description": "Formation", "quantity": "1", "unit_price": "500", "vat_rate": "20"}]),
    )
    csv = (
        "date;libellé;montant\n"
        f"24/11/2026;VIR CHU GRENOBLE FACT {by_number['number']};3 562,95\n"
        "25/11/2026;VIR SEPA CHU GRENOBLE;600,00\n"
        "25/11/2026;PRLV URSSAF;-1 200,00\n"
    )
    r = _upload(api, "manager", csv)
    assert r.status_code == 201, r.text
    lines = r.json()
    assert [(x["booked_on"], x["amount"], x["status"]) for x in lines] == [
        ("2026-11-24", "3562.95", "pending"),
        ("2026-11-25", "600.00", "pending"),
        ("2026-11-25", "-1200.00", "ignored"),
    ]
    assert _upload(api, "manager", csv).json() == []  # the same file again adds nothing

    first = api("manager").get(f"/api/v1/payments/bank-lines/{lines[0]['id']}/proposals").json()
    assert first[0] == {
        "invoice_ids": [by_number["id"]],
        "numbers": [by_number["number"]],
        "organisation_id": client_org,
        "amount": "3562.95",
        "reason": "number_and_amount",
    }
    second = api("manager").get(f"/api/v1/payments/bank-lines/{lines[1]['id']}/proposals").json()
    assert [(p["invoice_ids"], p["reason"]) for p in second] == [([by_amount["id"]], "amount")]

    r = api("manager").post(
        f"/api/v1/payments/bank-lines/{lines[0]['id']}/confirm", json={"invoice_ids": [by_number["id"]]}
    )
    assert r.status_code == 200, r.text
    payment = r.json()
    assert (payment["method"], payment["paid_on"], payment["amount"], payment["bank_line_id"]) == (
        "transfer",
        "2026-11-24",
        "3562.95",
        lines[0]["id"],
    )
    assert api("manager").get(f"/api/v1/invoices/{by_number['id']}").json()["status"] == "paid"
    assert [x["id"] for x in api("manager").get("/api/v1/payments/bank-lines").json()] == [lines[1]["id"]]
    again = api("manager").post(
        f"/api/v1/payments/bank-lines/{lines[0]['id']}/confirm", json={"invoice_ids": [by_number["id"]]}
    )
    assert again.status_code == 409
    assert (
        api("manager").post(f"/api/v1/payments/bank-lines/{lines[1]['id']}/ignore").json()["status"]
        == "ignored"
    )
    # Another department does not see these lines.
    assert api("fiona").get("/api/v1/payments/bank-lines?status=").json() == []
    bad = _upload(api, "manager", "24/11/2026;VIR;abc\nnot a date;x;1\n")
    assert bad.status_code == 422
    assert [e["code"] for e in bad.json()["errors"]] == ["bad_line", "bad_line"]


def _emails(db, invoice_id):
    rows = db.execute(
        select(OutgoingEmail.id, OutgoingEmail.to_address, OutgoingEmail.subject)
        .where(OutgoingEmail.record_type == "invoice", OutgoingEmail.record_id == invoice_id)
        .order_by(OutgoingEmail.id)
    )
    return [(to, subject) for _id, to, subject in rows]


def _steps(api, invoice_id):
    body = api("manager").get(f"/api/v1/payments/dunning/invoices/{invoice_id}").json()
    return [(r["step"], r["sent"]) for r in body["reminders"]]


def test_dunning_schedule_with_the_clock(api, issued, client_org, db, tmp_path):
    api("alice").patch(f"/api/v1/organisations/{client_org}", json={"emails": ["compta@chu-grenoble.fr"]})
    inv = issued()
    assert inv["due_date"] == "2026-12-21"
    number = inv["number"]
    at("2026-12-17")  # J-4: nothing yet
    assert _steps(api, inv["id"]) == []
    at("2026-12-18")  # J-3: friendly reminder
    at("2026-12-18")
    assert _steps(api, inv["id"]) == [("friendly", True)]
    assert _emails(db, inv["id"]) == [
        ("compta@chu-grenoble.fr", f"Rappel : facture {number} à régler le 21/12/2026")
    ]
    at("2026-12-27")  # J+6
    assert len(_steps(api, inv["id"])) == 1
    at("2026-12-28")  # J+7: firm reminder, the invoice is overdue by now
    assert _steps(api, inv["id"]) == [("friendly", True), ("firm", True)]
    assert api("manager").get(f"/api/v1/invoices/{inv['id']}").json()["status"] == "overdue"

    r = api("manager").post(f"/api/v1/payments/dunning/invoices/{inv['id']}/pause", json={"reason": "Litige"})
    assert r.status_code == 200 and r.json()["paused"] is True
    at("2027-01-20")  # J+30 while paused: nothing
    at("2027-01-25")
    assert len(_steps(api, inv["id"])) == 2
    api("manager").delete(f"/api/v1/payments/dunning/invoices/{inv['id']}/pause")
    at("2027-01-26")  # resumed: the formal notice, with its letter
    at("2027-01-27")
    reminders = api("manager").get(f"/api/v1/payments/dunning/invoices/{inv['id']}").json()["reminders"]
    assert [(r["step"], r["sent"], r["balance"]) for r in reminders] == [
        ("friendly", True, "3562.95"),
        ("firm", True, "3562.95"),
        ("formal", True, "3562.95"),
    ]
    emails = _emails(db, inv["id"])
    assert [s for _to, s in emails] == [
        f"Rappel : facture {number} à régler le 21/12/2026",
        f"Relance : facture {number} échue le 21/12/2026",
        f"Mise en demeure : facture {number}",
    ]
    attached = db.scalars(select(OutgoingEmailAttachment.filename)).all()
    assert attached == [f"mise-en-demeure-{number}.pdf"]
    letter = api("manager").get(f"/api/v1/payments/dunning/invoices/{inv['id']}/letters/{reminders[2]['id']}")
    assert letter.status_code == 200 and letter.content.startswith(b"%PDF")
    path = tmp_path / "letter.pdf"
    path.write_bytes(letter.content)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "MISE EN DEMEURE" in text and number in text and "3 562,95" in text.replace("\u202f", " ")
    assert "40 €" in text and "L441-10" in text
    # The invoice's and the client's timelines show the steps.
    titles = [i["title"] for i in api("manager").get(f"/api/v1/organisations/{client_org}/timeline").json()]
    assert "Formal notice: {number}" in titles and "Friendly reminder: {number}" in titles


def test_late_invoice_gets_only_the_latest_step_and_paid_ones_none(api, issued, client_org, db):
    api("alice").patch(f"/api/v1/organisations/{client_org}", json={"emails": ["compta@chu-grenoble.fr"]})
    late = issued(payment_terms="on_receipt")  # due on 21/11/2026
    paid = issued(payment_terms="on_receipt")
    api("manager").post(
        "/api/v1/payments",
        json={
            "organisation_id": client_org,
            "paid_on": "2026-11-22",
            "amount": "3562.95",
            "allocations": [{"invoice_id": paid["id"]}],
        },
    )
    at("2026-12-22")  # J+31: straight to the formal notice
    assert _steps(api, late["id"]) == [("friendly", False), ("firm", False), ("formal", True)]
    assert _steps(api, paid["id"]) == []
    assert len(_emails(db, late["id"])) == 1


def test_client_plan_and_pause(api, issued, client_org, db):
    api("alice").patch(f"/api/v1/organisations/{client_org}", json={"emails": ["compta@chu-grenoble.fr"]})
    r = api("manager").put(
        f"/api/v1/payments/dunning/plans/{client_org}", json={"friendly_days": 3, "firm_days": 2}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "order"
    r = api("manager").put(
        f"/api/v1/payments/dunning/plans/{client_org}",
        json={"friendly_days": 0, "firm_days": 15, "formal_days": 45},
    )
    assert r.json() == {
        "organisation_id": client_org,
        "friendly_days": 0,
        "firm_days": 15,
        "formal_days": 45,
        "paused": False,
    }
    inv = issued()
    at("2026-12-18")
    assert _steps(api, inv["id"]) == []  # no J-3 for this client
    at("2026-12-21")
    assert _steps(api, inv["id"]) == [("friendly", True)]
    api("manager").put(f"/api/v1/payments/dunning/plans/{client_org}", json={"paused": True})
    at("2027-01-10")
    assert _steps(api, inv["id"]) == [("friendly", True)]
    assert (
        api("alice").put(f"/api/v1/payments/dunning/plans/{client_org}", json={"paused": False}).status_code
        == 403
    )
    assert api("manager").get(f"/api/v1/payments/dunning/plans/{client_org}").json()["paused"] is True


def test_editable_templates(api, issued, client_org, db):
    r = api("manager").put(
        "/api/v1/payments/dunning/templates/friendly",
        json={
            "subject": "Petit rappel {number}",
            "body": "Bonjour {client}, reste {balance} au {due_date}. {oops}",
        },
    )
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "bad_placeholder"
    r = api("manager").put(
        "/api/v1/payments/dunning/templates/friendly",
        json={"subject": "Petit rappel {number}", "body": "Bonjour {client}, reste {balance} au {due_date}."},
    )
    assert r.status_code == 200
    api("alice").patch(f"/api/v1/organisations/{client_org}", json={"emails": ["compta@chu-grenoble.fr"]})
    inv = issued()
    at("2026-12-18")
    body = db.scalar(select(OutgoingEmail.text_body).where(OutgoingEmail.record_id == inv["id"]))
    assert body == "Bonjour CHU de Grenoble, reste 3\u202f562,95\u00a0€ au 21/12/2026."
    assert (
        api("alice")
        .put("/api/v1/payments/dunning/templates/firm", json={"subject": "x", "body": "y"})
        .status_code
        == 403
    )
