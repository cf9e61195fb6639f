"""Company settings: identifiers checked with their keys, permissions, audit, logo upload."""

from __future__ import annotations

from sqlalchemy import select

from carnet.company.models import Company
from carnet.core.audit import AuditEntry

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)
GOOD = {
    "name": "Médicalis",
    "legal_form": "SAS",
    "share_capital": "50 000",
    "siren": "732 829 320",
    "siret": "73282932000074",
    "rcs_city": "Lyon",
    "vat_number": "FR 44 732829320",
    "iban": "FR76 3000 6000 0112 3456 7890 189",
    "bic": "BNPAFRPPXXX",
    "late_penalty_rate": "12,15",
    "quote_number_pattern": "DEV-{YYYY}-{seq:05}",
}


def test_defaults_before_anyone_saves(api):
    r = api("alice").get("/api/v1/settings/company")
    assert r.status_code == 200
    body = r.json()
    assert body["quote_number_pattern"] == "DEV-{YYYY}-{seq:04}"
    assert body["invoice_number_pattern"] == "{YYYY}-F-{seq:04}"
    assert body["default_payment_terms"] == "30_days"
    assert body["quote_validity_days"] == 30
    assert body["version"] is None


def test_finance_saves_the_identity_normalised_and_audited(api, db):
    r = api("fiona").put("/api/v1/settings/company", json=GOOD)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["siren"], body["vat_number"], body["iban"], body["share_capital"]) == (
        "732829320",
        "FR44732829320",
        "FR7630006000011234567890189",
        "50000.00",
    )
    assert body["late_penalty_rate"] == "12.15" and body["version"] == 1
    assert r.headers["ETag"] == '"1"'
    r = api("fiona").put("/api/v1/settings/company", json={"city": "Lyon"}, headers={"If-Match": '"1"'})
    assert r.json()["city"] == "Lyon" and r.json()["siren"] == "732829320" and r.json()["version"] == 2
    r = api("fiona").put("/api/v1/settings/company", json={"city": "Paris"}, headers={"If-Match": '"1"'})
    assert r.status_code == 412
    entries = db.scalars(select(AuditEntry).where(AuditEntry.record_type == "company")).all()
    assert [e.changes.get("city", {}).get("new") for e in entries] == [None, "Lyon"]


def test_wrong_identifiers_are_refused_field_by_field(api, db):
    r = api("admin").put(
        "/api/v1/settings/company",
        json={
            "name": "X",
            "siren": "732829321",
            "siret": "73282932000075",
            "vat_number": "FR45732829320",
            "iban": "FR7630006000011234567890188",
            "bic": "BNPA",
            "brand_color": "blue",
            "invoice_number_pattern": "FA {YYYY} {seq}",
            "default_payment_terms": "90_days",
        },
    )
    assert r.status_code == 422
    fields = sorted(e["field"] for e in r.json()["errors"])
    assert fields == [
        "bic",
        "brand_color",
        "default_payment_terms",
        "iban",
        "invoice_number_pattern",
        "siren",
        "siret",
        "vat_number",
    ]
    assert db.get(Company, 1) is None  # nothing written


def test_siret_and_vat_must_match_the_siren(api):
    r = api("admin").put(
        "/api/v1/settings/company", json={"name": "X", "siren": "732829320", "siret": "35600000000048"}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "siret_siren_mismatch"


def test_sales_can_read_but_not_change(api, db):
    assert api("alice").get("/api/v1/settings/company").status_code == 200
    r = api("alice").put("/api/v1/settings/company", json={"name": "Hack"})
    assert r.status_code == 403
    assert db.get(Company, 1) is None


def test_settings_page_and_logo_upload(web, db):
    client = web("admin")
    page = client.get("/settings/company")
    assert page.status_code == 200 and "SIREN" in page.text
    r = client.post("/settings/company", data={"csrf_token": client.csrf, **GOOD}, follow_redirects=False)
    assert r.status_code == 303, r.text
    r = client.post(
        "/settings/company/logo",
        data={"csrf_token": client.csrf},
        files={"logo": ("logo.png", PNG, "image/png")},
        follow_redirects=False,
    )
    assert r.status_code == 303
    logo = client.get("/settings/company/logo")
    assert logo.status_code == 200 and logo.content == PNG and logo.headers["content-type"] == "image/png"
    bad = client.post(
        "/settings/company/logo",
        data={"csrf_token": client.csrf},
        files={"logo": ("logo.png", b"<svg onload=alert(1)>", "image/png")},
    )
    assert bad.status_code == 422 and "Le logo doit être une image PNG ou JPEG" in bad.text
    assert client.get("/settings/company/logo").content == PNG


def test_settings_page_is_refused_to_sales(web):
    assert web("alice").get("/settings/company").status_code == 403


def test_form_errors_show_next_to_the_field(web):
    client = web("admin")
    r = client.post("/settings/company", data={"csrf_token": client.csrf, "name": "X", "siren": "123"})
    assert r.status_code == 422
    assert 'data-error-for="siren"' in r.text
