"""Fixtures for quotes: a configured company, a client organisation with a contact, a deal, and
a small factory. Time is frozen on 2026-11-21 10:00 (Paris)."""

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
    "email": "devis@medicalis.fr",
    "iban": "FR7630006000011234567890189",
    "bic": "BNPAFRPPXXX",
    "brand_color": "#0a7d5a",
}
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
            "address_line1": "Boulevard de la Chantourne",
            "postal_code": "38700",
            "city": "La Tronche",
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.fixture
def client_contact(db, personas, client_org):
    from carnet.contacts.models import Contact, ContactOrganisation

    contact = Contact(
        first_name="Claire",
        last_name="Dumas",
        emails=["claire.dumas@chu-grenoble.fr"],
        primary_email="claire.dumas@chu-grenoble.fr",
        phones=[],
        custom_fields={},
        owner_id=personas["alice"].id,
        department_id=personas["alice"].department_id,
    )
    db.add(contact)
    db.flush()
    db.add(ContactOrganisation(contact_id=contact.id, organisation_id=client_org))
    db.commit()
    return contact.id


@pytest.fixture
def deal(api, db, client_org):
    from carnet.deals import pipelines

    pipelines.ensure_default_pipelines(db)
    db.commit()
    r = api("alice").post(
        "/api/v1/deals", json={"title": "Équipement service gériatrie", "organisation_id": client_org}
    )
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def make_quote(api, company, client_org, client_contact):
    def make(who: str = "alice", lines=None, **extra) -> dict:
        body = {
            "organisation_id": client_org,
            "contact_id": client_contact,
            "title": "Équipement chambre",
            "lines": LINES if lines is None else lines,
            **extra,
        }
        r = api(who).post("/api/v1/quotes", json=body)
        assert r.status_code == 201, r.text
        return r.json()

    return make
