"""Payment pages: the panel on the invoice page (record a payment, pause dunning), bank matching
from an uploaded statement, the editable dunning templates."""

from __future__ import annotations


def _post(client, url, data, **kw):
    return client.post(url, data={"csrf_token": client.csrf, **data}, follow_redirects=False, **kw)


def test_invoice_panel_records_a_payment(web, api, issued):
    inv = issued()
    manager = web("manager")
    page = manager.get(f"/invoices/{inv['id']}")
    assert f'hx-get="/payments/invoice/{inv["id"]}"' in page.text
    panel = manager.get(f"/payments/invoice/{inv['id']}")
    assert panel.status_code == 200 and "Aucun paiement" in panel.text and 'value="3562.95"' in panel.text
    r = _post(
        manager,
        f"/payments/invoice/{inv['id']}/pay",
        {"paid_on": "2026-11-25", "amount": "abc", "method": "card"},
    )
    assert r.status_code == 422 and 'data-error-for="amount"' in r.text
    r = _post(
        manager,
        f"/payments/invoice/{inv['id']}/pay",
        {"paid_on": "2026-11-25", "amount": "1 000,00", "method": "card", "reference": "CB"},
    )
    assert r.status_code == 303
    after = api("manager").get(f"/api/v1/invoices/{inv['id']}").json()
    assert (after["status"], after["balance"]) == ("partially_paid", "2562.95")
    panel = manager.get(f"/payments/invoice/{inv['id']}")
    assert "Carte bancaire" in panel.text and "2\u202f562,95" in panel.text
    r = _post(manager, f"/payments/invoice/{inv['id']}/pause", {})
    assert r.status_code == 303
    assert api("manager").get(f"/api/v1/payments/dunning/invoices/{inv['id']}").json()["paused"] is True
    assert 'data-testid="resume-dunning"' in manager.get(f"/payments/invoice/{inv['id']}").text
    assert web("alice").get(f"/payments/invoice/{inv['id']}").status_code == 403  # sales: no payments
    assert 'data-testid="invoice-payments"' not in web("alice").get(f"/invoices/{inv['id']}").text


def test_bank_page_import_and_confirm(web, api, issued):
    inv = issued()
    manager = web("manager")
    csv = f"2026-11-24;VIREMENT {inv['number']};3562.95\n"
    r = manager.post(
        "/payments/bank/import",
        data={"csrf_token": manager.csrf},
        files={"file": ("releve.csv", csv.encode(), "text/csv")},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = manager.get("/payments/bank")
    assert inv["number"] in page.text and "Numéro de facture et montant" in page.text
    line_id = api("manager").get("/api/v1/payments/bank-lines").json()[0]["id"]
    r = _post(manager, f"/payments/bank/{line_id}/confirm", {"invoice_ids": str(inv["id"])})
    assert r.status_code == 303
    assert api("manager").get(f"/api/v1/invoices/{inv['id']}").json()["status"] == "paid"
    assert "Aucune ligne bancaire" in manager.get("/payments/bank").text
    assert "VIREMENT" in manager.get("/payments").text


def test_dunning_templates_page(web, api):
    manager = web("manager")
    page = manager.get("/payments/dunning")
    assert page.status_code == 200 and "Mise en demeure : facture {number}" in page.text
    r = _post(manager, "/payments/dunning/firm", {"subject": "Relance {nope}", "body": "x"})
    assert r.status_code == 422 and 'data-error-for="subject"' in r.text
    r = _post(
        manager,
        "/payments/dunning/firm",
        {"subject": "Relance {number}", "body": "Merci de régler {balance}."},
    )
    assert r.status_code == 303
    firm = next(
        t for t in api("manager").get("/api/v1/payments/dunning/templates").json() if t["step"] == "firm"
    )
    assert firm == {"step": "firm", "subject": "Relance {number}", "body": "Merci de régler {balance}."}
