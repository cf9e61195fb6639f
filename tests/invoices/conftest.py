"""Fixtures for invoices: a configured company, a client organisation with a SIREN and a contact,
a draft factory and an accepted quote. Time is frozen on 2026-11-21 10:00 (Paris)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from carnet.core import clock

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
COMPANY = {
    "name": "Médicalis",
    "legal_form": "SAS",
    "share_capital": "50000",
    "siren": "732829320",
    "siret": "73282932000074",
    "rcs_city": "Lyon",
    "vat_number": "FR44732829320",
    "address_line1": "12 rue de la République",
    "postal_code": "69002",
    "city": "Lyon",
    "email": "factures@medicalis.fr",
    "iban": "FR7630006000011234567890189",
    "bic": "BNPAFRPPXXX",
    "brand_color": "#0a7d5a",
    "operation_category": "goods",
}
# 5.5 %: 2 × 1250.00 − 10 % = 2250.00; 20 %: 2 × 420.50 = 841.00 and 180.00 − 30.00 = 150.00.
# Nets 3241.00; VAT 5.5 % on 2250.00 = 123.75, 20 % on 991.00 = 198.20; total 3562.95.
LINES = [
    {"kind": "section", "description": "Équipement"},
    {
        "description": "Lit médicalisé",
        "quantity": "2",
        "unit_price": "1250.00",
        "vat_rate": "5.5",
        "discount_percent": "10",
    },
    {"description": "Matelas anti-escarres", "quantity": "2", "unit_price": "420.50", "vat_rate": "20"},
    {"kind": "section", "description": "Services"},
    {
        "description": "Installation",
        "quantity": "1",
        "unit_price": "180",
        "vat_rate": "20",
        "discount_amount": "30",
    },
]


@pytest.fixture(autouse=True)
def frozen_time():
    clock.freeze(NOW)
    yield
    clock.reset()


@pytest.fixture
def company(api):
    r = api("admin").put("/api/v1/settings/company", json=COMPANY)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def client_org(api):
    r = api("alice").post(
        "/api/v1/organisations",
        json={
            "name": "CHU de Grenoble",
            "siren": "356000000",
            "vat_number": "FR39356000000",
            "address_line1": "Boulevard de la Chantourne",
            "postal_code": "38700",
            "city": "La Tronche",
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.fixture
def make_invoice(api, company, client_org):
    def make(who: str = "manager", lines=None, **extra) -> dict:
        body = {
            "organisation_id": client_org,
            "title": "Équipement chambre",
            "lines": LINES if lines is None else lines,
            **extra,
        }
        r = api(who).post("/api/v1/invoices", json=body)
        assert r.status_code == 201, r.text
        return r.json()

    return make


@pytest.fixture
def issue(api):
    def do(invoice: dict, who: str = "manager", **body) -> dict:
        r = api(who).post(f"/api/v1/invoices/{invoice['id']}/issue", json=body)
        assert r.status_code == 200, r.text
        return r.json()

    return do


@pytest.fixture
def accepted_quote(api, company, client_org):
    r = api("alice").post(
        "/api/v1/quotes",
        json={
            "organisation_id": client_org,
            "title": "Équipement chambre",
            "lines": LINES,
            "delivery_address": "Pavillon B, 12 avenue des Alpes\n38700 La Tronche",
            "operation_category": "goods",
        },
    )
    assert r.status_code == 201, r.text
    quote = r.json()
    r = api("alice").post(f"/api/v1/quotes/{quote['id']}/send", json={"to": "achats@chu-grenoble.fr"})
    assert r.status_code == 200, r.text
    r = api("alice").post(f"/api/v1/quotes/{quote['id']}/accept", json={"signer_name": "Dr Martin"})
    assert r.status_code == 200, r.text
    return r.json()
