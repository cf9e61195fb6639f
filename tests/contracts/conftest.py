"""Fixtures for contracts: a client organisation and a contract factory. Time is frozen on
2026-01-15 10:00 (Paris) unless a test moves it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from carnet.core import clock, jobs

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_time():
    jobs._last_slot.clear()  # periodic slots remembered by an earlier test's (rolled back) tick
    clock.freeze(NOW)
    yield
    clock.reset()


@pytest.fixture
def make_org(api):
    def make(name: str = "Clinique des Alpes", who: str = "alice", **extra) -> int:
        r = api(who).post("/api/v1/organisations", json={"name": name, **extra})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    return make


@pytest.fixture
def client_org(make_org):
    return make_org()


@pytest.fixture
def make_contract(api, client_org):
    def make(who: str = "manager", **extra) -> dict:
        body = {
            "title": "Maintenance des lits",
            "organisation_id": client_org,
            "contract_type": "maintenance",
            "start_date": "2026-01-01",
            "amount": "1200.00",
            "billing_period": "monthly",
            **extra,
        }
        r = api(who).post("/api/v1/contracts", json=body)
        assert r.status_code == 201, r.text
        return r.json()

    return make
