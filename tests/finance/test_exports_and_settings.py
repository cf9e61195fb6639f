"""Accounting CSV exports with their saved column layouts, and the account mapping settings."""

from __future__ import annotations

import csv
import io

from sqlalchemy import func, select

from carnet.core.audit import AuditEntry
from carnet.finance.models import AccountMapping, ExportLayout

from .conftest import line


def _rows(content: bytes) -> list[list[str]]:
    assert content.startswith("\ufeff".encode())
    text = content.decode("utf-8")[1:]
    assert "\r\n" in text
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))


def test_invoices_csv_default_layout(api, make_invoice, issue, client_org, pay):
    invoice = issue(make_invoice(), issue_date="2026-11-02")
    credit = (
        api("manager")
        .post(f"/api/v1/invoices/{invoice['id']}/credit-notes", json={"lines": [line("100")], "issue": True})
        .json()
    )
    pay(client_org, "2026-11-10", "1000.00", invoice["id"])
    r = api("admin").get("/api/v1/finance/exports/invoices?from=2026-11-01&to=2026-11-30")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="invoices-2026-11-21.csv"' in r.headers["content-disposition"]
    rows = _rows(r.content)
    code = f"CLI{client_org:06d}"
    assert rows == [
        [
            "Date", "N° pièce", "Type", "Compte client", "Client", "SIREN", "N° TVA", "Montant HT", "TVA",
            "Montant TTC", "Échéance", "Réglé", "Reste dû", "Statut", "Facture d'origine", "Devise",
        ],
        [
            "02/11/2026", invoice["number"], "Facture", code, "CHU de Grenoble", "356000000", "FR39356000000",
            "3241,00", "321,95", "3562,95", "02/12/2026", "1000,00", "2442,95", "Partiellement réglée", "", "EUR",
        ],
        [
            "21/11/2026", credit["number"], "Avoir", code, "CHU de Grenoble", "356000000", "FR39356000000",
            "-100,00", "-20,00", "-120,00", "21/11/2026", "0,00", "0,00", "Émise", invoice["number"], "EUR",
        ],
    ]  # fmt: skip
    # fiona (Finance department) exports only what she may see: not the Commercial department's
    r = api("fiona").get("/api/v1/finance/exports/invoices?from=2026-11-01&to=2026-11-30")
    assert _rows(r.content) == [rows[0]]
    assert _rows(api("admin").get("/api/v1/finance/exports/invoices?from=2026-11-22").content) == [rows[0]]


def test_layout_chooses_renames_and_orders_columns(api, make_invoice, issue, client_org, pay, db):
    invoice = issue(make_invoice(), issue_date="2026-11-02")
    pay(client_org, "2026-11-10", "3562.95", invoice["id"], reference="VIR 123")
    r = api("fiona").put(
        "/api/v1/finance/export-layouts/payments",
        json={
            "columns": [
                {"field": "amount", "header": "Montant réglé"},
                {"field": "paid_on"},
                {"field": "invoices"},
            ]
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["columns"] == [
        {"field": "amount", "header": "Montant réglé"},
        {"field": "paid_on", "header": "Date"},
        {"field": "invoices", "header": "Factures réglées"},
    ]
    assert (
        api("fiona").get("/api/v1/finance/export-layouts/payments").json()["columns"] == r.json()["columns"]
    )
    rows = _rows(api("admin").get("/api/v1/finance/exports/payments").content)
    assert rows == [
        ["Montant réglé", "Date", "Factures réglées"],
        ["3562,95", "10/11/2026", invoice["number"]],
    ]
    # visibility: fiona sees none of the Commercial department's payments
    assert _rows(api("fiona").get("/api/v1/finance/exports/payments").content) == [rows[0]]
    audits = db.scalars(
        select(AuditEntry).where(AuditEntry.action == "export", AuditEntry.record_type == "payment")
    ).all()
    assert [(a.changes["rows"], a.changes["columns"]) for a in audits] == [
        (1, ["amount", "paid_on", "invoices"]),
        (0, ["amount", "paid_on", "invoices"]),
    ]
    # back to the default layout
    r = api("fiona").put("/api/v1/finance/export-layouts/payments", json={"columns": None})
    assert [c["field"] for c in r.json()["columns"]][:3] == ["paid_on", "reference", "method"]


def test_layout_validation_writes_nothing(api, db):
    bad = [
        ({"columns": [{"field": "nope"}]}, "columns.0.field", "invalid_choice"),
        ({"columns": [{"field": "name"}, {"field": "name"}]}, "columns.1.field", "duplicate"),
        ({"columns": [{"field": "name", "header": "x" * 61}]}, "columns.0.header", "too_long"),
    ]
    for body, field, code in bad:
        r = api("fiona").put("/api/v1/finance/export-layouts/customers", json=body)
        assert r.status_code == 422, body
        assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [(field, code)]
    assert api("fiona").put("/api/v1/finance/export-layouts/quotes", json={"columns": []}).status_code == 422
    r = api("reader").put("/api/v1/finance/export-layouts/customers", json={"columns": [{"field": "name"}]})
    assert r.status_code == 403
    assert db.scalar(select(func.count()).select_from(ExportLayout)) == 0


def test_customers_csv(api, make_invoice, issue, client_org, company):
    api("alice").post("/api/v1/organisations", json={"name": "Prospect jamais facturé"})
    issue(make_invoice(), issue_date="2026-11-02")
    api("fiona").put(
        "/api/v1/finance/export-layouts/customers",
        json={
            "columns": [{"field": "client_code"}, {"field": "name"}, {"field": "siren"}, {"field": "city"}]
        },
    )
    rows = _rows(api("admin").get("/api/v1/finance/exports/customers").content)
    assert rows == [
        ["Compte client", "Raison sociale", "SIREN", "Ville"],
        [f"CLI{client_org:06d}", "CHU de Grenoble", "356000000", "La Tronche"],
    ]


def test_csv_exports_need_the_export_permission_and_good_dates(api, company):
    assert api("alice").get("/api/v1/finance/exports/invoices").status_code == 403
    assert api("manager").get("/api/v1/finance/exports/invoices").status_code == 403
    r = api("fiona").get("/api/v1/finance/exports/invoices?from=2026-02-30")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "from"
    assert api("fiona").get("/api/v1/finance/exports/quotes").status_code == 422


def test_account_mapping_settings(api, db):
    r = api("fiona").get("/api/v1/finance/accounts")
    assert r.status_code == 200
    assert [(a["purpose"], a["number"]) for a in r.json()["accounts"]] == [
        ("customer", "411000"),
        ("bank", "512000"),
        ("deposit", "419100"),
        ("revenue", "706000"),
        ("vat", "445710"),
        ("vat_on_hold", "445800"),
    ]
    body = {
        "accounts": [
            {"purpose": "revenue", "key": "Matériel", "number": "707000", "label": "Ventes de marchandises"},
            {"purpose": "vat", "key": "5,5", "number": "445711", "label": "TVA 5,5 %"},
            {"purpose": "bank", "number": "512100", "label": "Banque Populaire"},
        ]
    }
    r = api("fiona").put("/api/v1/finance/accounts", json=body)
    assert r.status_code == 200, r.text
    assert [(a["purpose"], a["key"], a["number"]) for a in r.json()["accounts"]] == [
        ("customer", "", "411000"),
        ("bank", "", "512100"),
        ("deposit", "", "419100"),
        ("revenue", "", "706000"),
        ("vat", "", "445710"),
        ("vat_on_hold", "", "445800"),
        ("revenue", "Matériel", "707000"),
        ("vat", "5.50", "445711"),
    ]
    # removing a category's account brings back the default
    r = api("fiona").put(
        "/api/v1/finance/accounts", json={"accounts": [{"purpose": "revenue", "key": "Matériel"}]}
    )
    assert ("revenue", "Matériel") not in {(a["purpose"], a["key"]) for a in r.json()["accounts"]}
    assert db.scalar(select(func.count()).select_from(AccountMapping)) == 2
    audits = db.scalars(select(AuditEntry).where(AuditEntry.record_type == "finance_settings")).all()
    assert len(audits) == 2


def test_account_mapping_validation_writes_nothing(api, db):
    r = api("fiona").put(
        "/api/v1/finance/accounts",
        json={
            "accounts": [
                {
                    "purpose": "revenue",
                    "key": "A",
                    "number": "445710",
                    "label": "TVA",
                },  # not a revenue account
                {"purpose": "vat", "key": "19", "number": "445719", "label": "TVA 19 %"},  # not a French rate
                {"purpose": "customer", "number": "CLIENTS", "label": "Clients"},
                {"purpose": "bank", "number": "512000", "label": ""},
                {"purpose": "stock", "number": "310000", "label": "Stock"},
                {"purpose": "vat_on_hold", "number": "445710", "label": "TVA"},  # VAT due, not on hold
                {"purpose": "vat_on_hold", "key": "20", "number": "445820", "label": "TVA 20 %"},
            ]
        },
    )
    assert r.status_code == 422
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
        ("accounts.0.number", "wrong_class"),
        ("accounts.1.key", "invalid_vat_rate"),
        ("accounts.2.number", "invalid_account"),
        ("accounts.3.label", "required"),
        ("accounts.4.purpose", "invalid_choice"),
        ("accounts.5.number", "wrong_class"),
        ("accounts.6.key", "no_key"),
    ]
    assert api("manager").put("/api/v1/finance/accounts", json={"accounts": []}).status_code == 403
    assert api("alice").get("/api/v1/finance/accounts").status_code == 403
    assert db.scalar(select(func.count()).select_from(AccountMapping)) == 0
