"""Finance pages: the dashboard (French and English), the exports page (FEC download, errors next
to the dates, layouts) and the account settings form."""

from __future__ import annotations

from sqlalchemy import func, select

from carnet.finance.models import AccountMapping

from .conftest import line, read_fec


def _post(client, url, data):
    return client.post(url, data={"csrf_token": client.csrf, **data}, follow_redirects=False)


def test_dashboard_in_french_and_english(web, api, company, client_org, issue, pay):
    draft = api("manager").post(
        "/api/v1/invoices", json={"organisation_id": client_org, "lines": [line("1000")]}
    )
    invoice = issue(draft.json(), issue_date="2026-10-05")
    pay(client_org, "2026-11-10", "200.00", invoice["id"])
    page = web("manager").get("/finance")
    assert page.status_code == 200
    text = page.text
    assert "Facturé et encaissé sur 12 mois" in text and "Balance âgée des créances" in text
    assert 'data-testid="finance-chart"' in text and text.count('data-testid="chart-month"') == 12
    assert "1\u202f000,00\u00a0€" in text  # unpaid total: 1200.00 − 200.00
    assert "Attendu d&#39;ici J+30" in text
    assert 'href="/finance"' in text  # in the navigation
    en = web("admin")
    assert api("admin").patch("/api/v1/me", json={"language": "en"}).status_code == 200
    text = en.get("/finance").text
    assert "Invoiced and collected over 12 months" in text and "€1,000.00" in text
    assert web("alice").get("/finance").status_code == 403
    assert 'href="/finance"' not in web("alice").get("/").text


def test_fec_download_and_errors_on_the_exports_page(web, api, make_invoice, issue):
    invoice = issue(make_invoice(), issue_date="2026-11-02")
    admin = web("admin")
    page = admin.get("/finance/exports")
    assert page.status_code == 200 and 'data-testid="fec-form"' in page.text
    r = admin.get("/finance/exports/fec?from=2026-11-01&to=2026-11-30")
    assert r.status_code == 200
    assert 'filename="732829320FEC20261130.txt"' in r.headers["content-disposition"]
    assert {row["PieceRef"] for row in read_fec(r.content)} == {invoice["number"]}
    r = admin.get("/finance/exports/fec?from=2026-11-30&to=2026-11-01")
    assert r.status_code == 422 and "La fin de la période précède son début" in r.text
    assert web("manager").get("/finance/exports").status_code == 403


def test_layout_form(web, api):
    fiona = web("fiona")
    r = _post(
        fiona,
        "/finance/exports/layouts/customers",
        {
            "field": ["client_code", "name", "siren"],
            "use.client_code": "1",
            "position.client_code": "2",
            "header.client_code": "Code",
            "use.name": "1",
            "position.name": "1",
            "header.name": "Nom",
            "header.siren": "SIREN",
        },
    )
    assert r.status_code == 303
    columns = api("fiona").get("/api/v1/finance/export-layouts/customers").json()["columns"]
    assert columns == [{"field": "name", "header": "Nom"}, {"field": "client_code", "header": "Code"}]
    r = _post(
        fiona,
        "/finance/exports/layouts/customers",
        {"field": ["name"], "use.name": "1", "header.name": "x" * 61},
    )
    assert r.status_code == 422 and "Au plus 60 caractères" in r.text
    r = _post(fiona, "/finance/exports/layouts/customers", {"reset": "1"})
    assert r.status_code == 303
    assert len(api("fiona").get("/api/v1/finance/export-layouts/customers").json()["columns"]) == 11


def test_accounts_form(web, api, db):
    fiona = web("fiona")
    page = fiona.get("/finance/settings")
    assert page.status_code == 200 and 'value="411000"' in page.text and "TVA collectée à 5,5 %" in page.text
    rows = {
        "row": ["0", "1", "2", "3", "4", "5"],
        "purpose.0": "customer", "number.0": "411000", "label.0": "Clients",
        "purpose.1": "bank", "number.1": "512000", "label.1": "Banque",
        "purpose.2": "deposit", "number.2": "419100", "label.2": "Avances",
        "purpose.3": "revenue", "number.3": "706000", "label.3": "Prestations de services",
        "purpose.4": "vat", "number.4": "445710", "label.4": "TVA collectée",
        "purpose.5": "vat", "key.5": "5.50", "number.5": "445711", "label.5": "TVA 5,5 %",
    }  # fmt: skip
    r = _post(fiona, "/finance/settings", rows)
    assert r.status_code == 303
    accounts = api("fiona").get("/api/v1/finance/accounts").json()["accounts"]
    assert {(a["purpose"], a["key"], a["number"], a["label"]) for a in accounts} >= {
        ("deposit", "", "419100", "Avances"),
        ("vat", "5.50", "445711", "TVA 5,5 %"),
    }
    before = db.scalar(select(func.count()).select_from(AccountMapping))
    r = _post(fiona, "/finance/settings", {**rows, "number.5": "706100"})
    assert r.status_code == 422 and "Ce compte doit commencer par 4457" in r.text
    assert db.scalar(select(func.count()).select_from(AccountMapping)) == before
    assert _post(web("manager"), "/finance/settings", rows).status_code == 403


def test_the_on_hold_account_in_the_accounts_form(web, api, db):
    fiona = web("fiona")
    page = fiona.get("/finance/settings")
    assert "TVA collectée en attente (prestations, sans option pour les débits)" in page.text
    assert 'value="445800"' in page.text and 'value="TVA collectée en attente"' in page.text
    rows = {"row": ["0"], "purpose.0": "vat_on_hold", "number.0": "445810", "label.0": "TVA en attente"}
    r = _post(fiona, "/finance/settings", rows)
    assert r.status_code == 303
    accounts = api("fiona").get("/api/v1/finance/accounts").json()["accounts"]
    assert ("vat_on_hold", "", "445810", "TVA en attente") in {
        (a["purpose"], a["key"], a["number"], a["label"]) for a in accounts
    }
    # the on-hold account stays under 4458: not a VAT-due account
    before = db.scalar(select(func.count()).select_from(AccountMapping))
    r = _post(fiona, "/finance/settings", {**rows, "number.0": "445710"})
    assert r.status_code == 422 and "Ce compte doit commencer par 4458" in r.text
    assert db.scalar(select(func.count()).select_from(AccountMapping)) == before
    assert 'value="445810"' in fiona.get("/finance/settings").text
