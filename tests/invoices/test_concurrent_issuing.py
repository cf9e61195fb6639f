"""Issuing under concurrency (france.md §1.3): 50 invoices issued by 8 threads, each with its own
connection and transaction, get the numbers 1..50 with no gap and no duplicate, in date order;
issues that fail after taking a number (a rendering error, a back-dated issue) give it back.

Runs on a database of its own (a fresh SQLite file, or a sibling PostgreSQL database when
CARNET_TEST_DATABASE_URL points at PostgreSQL), because it commits for real."""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from carnet.company.models import Company
from carnet.core import migrate
from carnet.core.context import SYSTEM
from carnet.core.db import Database
from carnet.core.errors import ValidationFailed
from carnet.invoices import facturx, service
from carnet.invoices.models import Invoice
from carnet.organisations.models import Organisation

THREADS = 8
INVOICES = 50


@pytest.fixture
def own_database(migrated: str, tmp_path: Path) -> Iterator[str]:
    url = make_url(migrated)
    if url.get_backend_name() == "postgresql":
        name = f"{url.database}_conc_{uuid.uuid4().hex[:8]}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        own = url.set(database=name).render_as_string(hide_password=False)
    else:
        admin = None
        own = f"sqlite:///{tmp_path / 'concurrency.db'}"
    migrate.upgrade(own, tmp_path / "backups")
    try:
        yield own
    finally:
        from carnet.core import db as core_db

        for key in [k for k in core_db._engines if k[0] == own]:
            core_db._engines.pop(key).dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def _setup(database: Database, count: int, failing: int) -> list[int]:
    """A company, a client and `count` drafts (the `failing` first ones titled "boom")."""
    with database.begin() as db:
        db.add(
            Company(
                id=1,
                name="Médicalis",
                siren="732829320",
                vat_number="FR44732829320",
                address_line1="12 rue de la République",
                postal_code="69002",
                city="Lyon",
                iban="FR7630006000011234567890189",
            )
        )
        org = Organisation(name="CHU de Grenoble", siren="356000000", city="La Tronche", custom_fields={})
        db.add(org)
        db.flush()
        org_id = org.id
    ids = []
    line = {"description": "Lit médicalisé", "quantity": "1", "unit_price": "1250.00", "vat_rate": "5.5"}
    for i in range(count):
        db = database.session()
        try:
            draft = service.create_invoice(
                db,
                SYSTEM,
                {
                    "organisation_id": org_id,
                    "title": "boom" if i < failing else None,
                    "lines": [{**line, "description": "boom"} if i < failing else line],
                },
            )
            ids.append(draft.id)
        finally:
            db.close()
    return ids


def test_concurrent_issuing_is_gapless(own_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    database = Database(own_database)
    failing = 3
    ids = _setup(database, INVOICES + failing, failing)
    real_build = facturx.build_xml

    def build(data: facturx.FacturXInvoice) -> bytes:
        if data.lines[0].name == "boom":  # fails after the number was taken: it must be given back
            raise RuntimeError("XML builder crashed")
        return real_build(data)

    monkeypatch.setattr(facturx, "build_xml", build)
    work: queue.Queue[tuple[int, str | None]] = queue.Queue()
    for invoice_id in ids:
        work.put((invoice_id, None))
    for invoice_id in ids[failing : failing + 4]:
        work.put((invoice_id, "2020-01-01"))  # back-dated (and already issued): refused, no number
    outcomes: list[tuple[int, str]] = []
    unexpected: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        while True:
            try:
                invoice_id, when = work.get_nowait()
            except queue.Empty:
                return
            db = database.session()
            try:
                invoice = service.get_invoice(db, SYSTEM, invoice_id)
                if when is not None or invoice.status == "draft":
                    issued = service.issue_invoice(db, SYSTEM, invoice, when)
                    with lock:
                        outcomes.append((issued.id, issued.number or ""))
            except (RuntimeError, ValidationFailed):
                pass
            except Exception as exc:  # the Conflict of an already issued invoice is expected too
                if getattr(exc, "code", None) != "invoice_issued":
                    unexpected.append(exc)
            finally:
                db.close()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert unexpected == []
    with database.begin() as db:
        rows = db.execute(
            select(Invoice.number, Invoice.issue_date, Invoice.status, Invoice.title, Invoice.pdf_sha256)
        ).all()
    year = service.today().year
    expected = [f"{year}-F-{n:04d}" for n in range(1, INVOICES + 1)]
    assert sorted(number for _, number in outcomes) == expected  # each issue reported its own number
    assert sorted(r.number for r in rows if r.number) == expected
    assert all(r.pdf_sha256 for r in rows if r.number)
    assert sorted(r.title or "" for r in rows if r.status == "draft") == ["boom"] * failing
    assert all(r.number is None for r in rows if r.status == "draft")
    with database.begin() as db:
        from carnet.core import sequences

        assert sequences.current_value(db, f"invoice:{year}-F-{{seq:04}}") == INVOICES
        assert db.scalar(select(Invoice.total_gross).where(Invoice.number == f"{year}-F-0001")) == Decimal(
            "1318.75"
        )
