"""Fixtures for the transparency register: time frozen on 2026-01-15 10:00 (Paris), a company,
a health professional at an establishment, and factories for agreements and benefits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from carnet.core import clock

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
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
    "email": "contact@medicalis.fr",
}


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
def chu(api) -> int:
    r = api("alice").post(
        "/api/v1/organisations",
        json={
            "name": "CHU de Nantes",
            "finess_ej": "750712184",
            "establishment_category": "chu",
            "establishment_status": "public",
            "address_line1": "5 allée de l'Île Gloriette",
            "postal_code": "44000",
            "city": "Nantes",
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.fixture
def doctor(api, chu) -> int:
    r = api("alice").post(
        "/api/v1/contacts",
        json={
            "first_name": "Claire",
            "last_name": "Durand",
            "rpps": "10003879623",
            "profession": "physician",
            "speciality": "Cardiologie",
        },
    )
    assert r.status_code == 201, r.text
    contact_id = r.json()["id"]
    r = api("alice").put(
        f"/api/v1/contacts/{contact_id}/establishments",
        json={"establishments": [{"organisation_id": chu, "service": "Cardiologie"}]},
    )
    assert r.status_code == 200, r.text
    return contact_id


@pytest.fixture
def make_benefit(api):
    def make(who: str = "alice", **fields: Any) -> dict[str, Any]:
        r = api(who).post("/api/v1/benefits", json=fields)
        assert r.status_code == 201, r.text
        return r.json()

    return make


@pytest.fixture
def make_agreement(api):
    def make(who: str = "alice", **fields: Any) -> dict[str, Any]:
        body = {
            "reference": "CONV-2026-001",
            "signed_on": "2026-01-10",
            "purpose": "Formation",
            "amount": "0",
            **fields,
        }
        r = api(who).post("/api/v1/agreements", json=body)
        assert r.status_code == 201, r.text
        return r.json()

    return make
