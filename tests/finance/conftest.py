"""Fixtures for finance: the invoices fixtures (a configured company with SIREN 732829320, a
client with a SIREN, a draft factory, issuing, an accepted quote) and helpers to read a FEC.
Time is frozen on 2026-11-21 10:00 (Paris)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from invoices import conftest as invoice_fixtures

from carnet.core import clock, jobs

NOW = invoice_fixtures.NOW
COMPANY = invoice_fixtures.COMPANY
LINES = invoice_fixtures.LINES
company = invoice_fixtures.company
client_org = invoice_fixtures.client_org
make_invoice = invoice_fixtures.make_invoice
issue = invoice_fixtures.issue
accepted_quote = invoice_fixtures.accepted_quote


@pytest.fixture(autouse=True)
def frozen_time():
    jobs._last_slot.clear()
    clock.freeze(NOW)
    yield
    clock.reset()


@pytest.fixture
def finance_org(api, personas):
    """A client of the Finance department, owned by fiona (so she sees it)."""
    fiona = personas["fiona"]
    r = api("admin").post(
        "/api/v1/organisations",
        json={
            "name": "Clinique du Parc",
            "siren": "404833048",
            "postal_code": "69006",
            "city": "Lyon",
            "owner_id": fiona.id,
            "department_id": fiona.department_id,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def line(amount: str, rate: str = "20", description: str = "Prestation", **extra) -> dict:
    return {"description": description, "quantity": "1", "unit_price": amount, "vat_rate": rate, **extra}


@pytest.fixture
def pay(api):
    def do(
        org_id: int, paid_on: str, amount: str, invoice_id: int | None = None, who: str = "manager", **extra
    ):
        body = {
            "organisation_id": org_id,
            "paid_on": paid_on,
            "amount": amount,
            "method": "transfer",
            **extra,
        }
        if invoice_id is not None:
            body["allocations"] = [{"invoice_id": invoice_id, "amount": amount}]
        r = api(who).post("/api/v1/payments", json=body)
        assert r.status_code == 201, r.text
        return r.json()

    return do


def read_fec(content: bytes) -> list[dict[str, str]]:
    """The records of a FEC as dicts (the file is ISO-8859-15, TAB-separated, CRLF)."""
    text = content.decode("iso-8859-15")
    assert text.endswith("\r\n")
    records = text[:-2].split("\r\n")
    header = records[0].split("\t")
    return [dict(zip(header, r.split("\t"), strict=True)) for r in records[1:]]


def amount(raw: str) -> Decimal:
    return Decimal(raw.replace(",", "."))


def entries(rows: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        out.setdefault(row["EcritureNum"], []).append(row)
    return out


def by_piece(rows: list[dict[str, str]], piece: str) -> list[dict[str, str]]:
    return [r for r in rows if r["PieceRef"] == piece]


def sides(rows: list[dict[str, str]]) -> list[tuple[str, str, str]]:
    """(account, debit, credit) of each line, in file order."""
    return [(r["CompteNum"], r["Debit"], r["Credit"]) for r in rows]
