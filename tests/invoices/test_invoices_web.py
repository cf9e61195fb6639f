"""Invoice pages: list with status filters and totals, draft editing and issuing, downloads,
credit note, and immutability in the UI (no edit/issue/delete buttons once issued, and the
POSTs answer 409 and change nothing)."""

from __future__ import annotations

import re

from carnet.documents.editor import LINE_FIELDS
from invoices.conftest import LINES


def _post(client, url: str, data: dict | None = None):
    return client.post(url, data={"csrf_token": client.csrf, **(data or {})}, follow_redirects=False)


def test_list_filters_by_status_with_totals(make_invoice, issue, web):
    issue(make_invoice())
    make_invoice(title="Brouillon en cours")
    client = web("manager")
    page = client.get("/invoices")
    assert page.status_code == 200
    assert "2026-F-0001" in page.text and "Brouillon en cours" in page.text
    totals = re.search(r'data-testid="status-totals".*?</table>', page.text, re.S).group(0)
    assert re.search(
        r'data-status="issued"><td>[^<]+</td><td class="right num">1</td><td class="right num">3\u202f562,95\xa0€',
        totals,
    )
    assert "3\u202f562,95\xa0€" in re.search(r'data-testid="outstanding".*?</p>', page.text, re.S).group(0)
    issued_only = client.get("/invoices?status=issued")
    assert "2026-F-0001" in issued_only.text and "Brouillon en cours" not in issued_only.text


def test_draft_is_edited_then_issued_in_the_ui(make_invoice, web, api):
    draft = make_invoice()
    client = web("manager")
    page = client.get(f"/invoices/{draft['id']}")
    assert 'data-testid="issue"' in page.text and 'data-testid="save-invoice"' in page.text
    r = _post(
        client,
        f"/invoices/{draft['id']}/edit",
        {
            "version": str(draft["version"]),
            "title": "Révision",
            "payment_terms": "60_days",
            "operation_category": "goods",
            "line_description": ["Contrôle annuel", ""],
            "line_quantity": ["2", "1"],
            "line_unit_price": ["150", ""],
            "line_discount_percent": ["", ""],
            "line_vat_rate": ["20.00", "20.00"],
            "line_vat_exemption_reason": ["", ""],
        },
    )
    assert r.status_code == 303, r.text
    saved = api("manager").get(f"/api/v1/invoices/{draft['id']}").json()
    assert (saved["title"], saved["total_gross"], len(saved["lines"])) == ("Révision", "360.00", 1)
    r = _post(client, f"/invoices/{draft['id']}/issue")
    assert r.status_code == 303
    issued = api("manager").get(f"/api/v1/invoices/{draft['id']}").json()
    assert issued["number"] == "2026-F-0001" and issued["due_date"] == "2027-01-20"


def test_issued_invoice_is_read_only_in_the_ui(make_invoice, issue, web, api):
    invoice = issue(make_invoice())
    client = web("manager")
    page = client.get(f"/invoices/{invoice['id']}")
    assert 'data-testid="issue"' not in page.text
    assert 'data-testid="save-invoice"' not in page.text
    assert f'action="/invoices/{invoice["id"]}/delete"' not in page.text
    assert 'data-testid="invoice-xml"' in page.text and 'data-testid="credit-note"' in page.text
    assert "payments/_invoice_payments.html" not in page.text  # the include is silent until payments exist
    before = api("manager").get(f"/api/v1/invoices/{invoice['id']}").json()
    edit = _post(client, f"/invoices/{invoice['id']}/edit", {"title": "Changé", "line_description": "X"})
    assert edit.status_code == 409
    assert _post(client, f"/invoices/{invoice['id']}/issue").status_code == 409
    assert _post(client, f"/invoices/{invoice['id']}/delete").status_code == 409
    assert api("manager").get(f"/api/v1/invoices/{invoice['id']}").json() == before
    pdf = client.get(f"/invoices/{invoice['id']}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    xml = client.get(f"/invoices/{invoice['id']}/facturx.xml")
    assert xml.status_code == 200 and b"<ram:ID>2026-F-0001</ram:ID>" in xml.content


def test_credit_note_from_an_invoice_in_the_ui(make_invoice, issue, web, api):
    invoice = issue(make_invoice())
    client = web("manager")
    r = _post(client, f"/invoices/{invoice['id']}/credit-note")
    assert r.status_code == 303
    credit_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert _post(client, f"/invoices/{credit_id}/issue").status_code == 303
    credit = api("manager").get(f"/api/v1/invoices/{credit_id}").json()
    assert (credit["kind"], credit["number"], credit["total_gross"]) == (
        "credit_note",
        "2026-A-0001",
        "3562.95",
    )
    page = client.get(f"/invoices/{invoice['id']}")
    assert "2026-A-0001" in page.text and 'data-testid="credit-note"' not in page.text


def test_new_invoice_from_an_accepted_quote(accepted_quote, web, api):
    client = web("manager")
    page = client.get("/invoices/new")
    assert accepted_quote["number"] in page.text
    r = _post(client, "/invoices/new", {"quote_id": str(accepted_quote["id"]), "deposit_percent": "30"})
    assert r.status_code == 303, r.text
    invoice_id = int(r.headers["location"].rsplit("/", 1)[1])
    deposit = api("manager").get(f"/api/v1/invoices/{invoice_id}").json()
    assert (deposit["kind"], deposit["total_gross"]) == ("deposit", "1068.89")


def test_permissions(make_invoice, issue, api, web):
    invoice = issue(make_invoice(lines=LINES))
    # sales may read invoices but not create or issue them
    assert api("alice").get(f"/api/v1/invoices/{invoice['id']}").status_code == 200
    assert (
        api("alice")
        .post("/api/v1/invoices", json={"organisation_id": invoice["organisation_id"]})
        .status_code
        == 403
    )
    draft = make_invoice()
    assert api("alice").post(f"/api/v1/invoices/{draft['id']}/issue", json={}).status_code == 403
    assert api("reader").patch(f"/api/v1/invoices/{draft['id']}", json={"title": "x"}).status_code in (
        403,
        404,
    )
    # another department does not see them at all
    assert api("outsider").get(f"/api/v1/invoices/{invoice['id']}").status_code == 404
    assert api("outsider").get(f"/api/v1/invoices/{invoice['id']}/pdf").status_code == 404
    assert api("manager").get(f"/api/v1/invoices/{draft['id']}").json()["status"] == "draft"
    assert "Invoices" in web("alice").get("/").text or "Factures" in web("alice").get("/").text


def test_the_draft_editor_keeps_sections_and_shows_live_totals(make_invoice, web, api):
    draft = make_invoice()  # LINES: two sections, four items
    client = web("manager")
    page = client.get(f"/invoices/{draft['id']}")
    assert page.text.count('data-kind="section"') == 2 + 1  # the two sections and the row template
    assert 'hx-post="/invoices/{}/totals"'.format(draft["id"]) in page.text
    rows = [
        {"kind": "section", "description": "Maintenance"},
        {"kind": "item", "description": "Contrôle annuel", "quantity": "2", "unit": "u", "unit_price": "150"}
        | {"discount_percent": "10", "vat_rate": "20.00"},
        {
            "kind": "item",
            "description": "Déplacement",
            "quantity": "1",
            "unit_price": "80",
            "vat_rate": "20.00",
        },
    ]
    lines = {f"line_{f}": [row.get(f, "") for row in rows] for f in LINE_FIELDS}
    totals = _post(client, f"/invoices/{draft['id']}/totals", {**lines, "global_discount_amount": "10"})
    assert totals.status_code == 200
    assert 'data-total="net"><strong>340,00\xa0€' in totals.text  # 270 + 80 - 10
    assert 'data-total="gross"><strong>408,00\xa0€' in totals.text
    wrong = _post(client, f"/invoices/{draft['id']}/totals", {**lines, "line_quantity": ["", "deux", "1"]})
    assert wrong.status_code == 200 and 'role="alert"' in wrong.text and "data-total" not in wrong.text
    r = _post(
        client,
        f"/invoices/{draft['id']}/edit",
        {
            "version": str(draft["version"]),
            "title": "Maintenance",
            "payment_terms": "30_days",
            "operation_category": "services",
            **lines,
        },
    )
    assert r.status_code == 303, r.text
    saved = api("manager").get(f"/api/v1/invoices/{draft['id']}").json()
    assert [(line["kind"], line["description"]) for line in saved["lines"]] == [
        ("section", "Maintenance"),
        ("item", "Contrôle annuel"),
        ("item", "Déplacement"),
    ]
    assert (saved["total_net"], saved["lines"][1]["unit"]) == ("350.00", "u")
