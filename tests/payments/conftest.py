"""Fixtures for payments: the invoices fixtures (company, client with a SIREN, draft factory,
issue), an issued-invoice factory and a clock helper. Time starts on 2026-11-21 10:00 (Paris)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from invoices import conftest as invoice_fixtures

from carnet.core import clock, jobs

# The invoices fixtures: a configured company, a client with a SIREN, a draft factory, issuing.
NOW = invoice_fixtures.NOW
company = invoice_fixtures.company
client_org = invoice_fixtures.client_org
make_invoice = invoice_fixtures.make_invoice
issue = invoice_fixtures.issue


@pytest.fixture(autouse=True)
def frozen_time():
    jobs._last_slot.clear()  # periodic slots remembered by an earlier test's (rolled back) tick
    clock.freeze(NOW)
    yield
    clock.reset()


def at(day: str) -> None:
    """Move the clock to 10:00 Paris on `day` and run every job due."""
    clock.freeze(datetime.fromisoformat(f"{day}T09:00:00").replace(tzinfo=UTC))
    jobs.drain()


@pytest.fixture
def issued(make_invoice, issue):
    """issued(**extra) -> an issued invoice of 3562.95 € for the client (due 30 days later)."""

    def make(**extra) -> dict:
        return issue(make_invoice(**extra))

    return make
