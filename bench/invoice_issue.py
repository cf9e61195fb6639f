"""bench: invoices (issue 4 §9).

    PYTHONPATH=src python bench/invoice_issue.py pdf [--lines 50] [--runs 5]
    PYTHONPATH=src python bench/invoice_issue.py issue [--count 1000] [--clients 8] [--database-url URL]

`pdf`: the Factur-X PDF of a 50-line invoice (goal: at most 1.5 s): the WeasyPrint PDF, the CII
XML checked against the XSD, and the PDF/A-3 with the XML embedded — what issuing an invoice does.

`issue`: `--count` drafts issued at once by `--clients` threads, each with its own connection and
transaction, through `invoices.service.issue_invoice` (the function behind POST /issue), on a
fresh database (a SQLite file in a temporary folder, or the PostgreSQL database given, emptied
first). Checks the numbers are 1..count with no gap and no duplicate, and that every invoice has
its PDF. Goal: numbers 1..1000, no gap, no duplicate.
"""

from __future__ import annotations

import argparse
import queue
import statistics
import tempfile
import threading
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import create_engine, func, select, text

from carnet.company.models import Company
from carnet.core import clock, migrate
from carnet.core.context import SYSTEM
from carnet.core.db import Database
from carnet.documents import lines as doc_lines
from carnet.invoices import facturx, rendering, service
from carnet.invoices.models import Invoice
from carnet.organisations.models import Organisation

COMPANY = dict(
    name="Médicalis",
    legal_form="SAS",
    share_capital=Decimal("50000"),
    siren="732829320",
    siret="73282932000074",
    rcs_city="Lyon",
    vat_number="FR44732829320",
    address_line1="12 rue de la République",
    postal_code="69002",
    city="Lyon",
    country="FR",
    iban="FR7630006000011234567890189",
    bic="BNPAFRPPXXX",
    late_penalty_rate=Decimal("12.15"),
    brand_color="#0a7d5a",
    operation_category="goods",
    vat_on_debits=False,
)


def raw_lines(count: int) -> list[dict[str, str]]:
    return [
        {
            "description": f"Article {i} — lit, matelas ou accessoire",
            "quantity": str(1 + i % 4),
            "unit_price": f"{100 + i * 7}.50",
            "vat_rate": "5.5" if i % 3 else "20",
        }
        for i in range(count)
    ]


def bench_pdf(lines: int, runs: int) -> None:
    company = Company(**COMPANY)
    parsed = doc_lines.parse_lines(raw_lines(lines))
    invoice = Invoice(
        kind="invoice",
        number="2026-F-0042",
        issue_date=date(2026, 11, 21),
        due_date=date(2026, 12, 21),
        payment_terms="30_days",
        operation_category="goods",
        public_hospital=False,
        periodic=False,
        lines=[doc_lines.line_to_dict(line) for line in parsed],
        global_discount_percent=Decimal("3"),
        prepaid_amount=Decimal("0.00"),
        deducted_deposit_ids=[],
    )
    totals = rendering.totals_of(invoice)
    invoice.amount_due = totals.total_gross
    invoice.parties = {
        "seller": rendering.seller_snapshot(
            SimpleNamespace(**{k: COMPANY.get(k) for k in rendering.SELLER_FIELDS})
        ),
        "buyer": {
            "name": "CHU de Grenoble",
            "address_lines": ["Boulevard de la Chantourne", "38700 La Tronche"],
            "siren": "356000000",
        },
    }
    timings, cpu = [], []
    for _ in range(runs + 1):
        started, started_cpu = time.perf_counter(), time.process_time()
        xml = facturx.build_xml(rendering.facturx_data(invoice, {}))
        facturx.check_xsd(xml)
        document = rendering.render_pdf(invoice, company, {})
        pdf = facturx.embed(document, xml, title="Facture 2026-F-0042", subject="Facture", author="Médicalis")
        timings.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    steady, steady_cpu = timings[1:], cpu[1:]
    print(
        f"{lines}-line invoice, Factur-X PDF/A-3: {len(pdf)} bytes; first run {timings[0]:.3f} s (loads Pango "
        f"and fonts); wall median {statistics.median(steady):.3f} s (max {max(steady):.3f} s), CPU median "
        f"{statistics.median(steady_cpu):.3f} s over {len(steady)} runs; goal <= 1.5 s"
    )


def fresh_database(url: str | None) -> str:
    if url is None:
        folder = Path(tempfile.mkdtemp(prefix="carnet-bench-invoices-"))
        url = f"sqlite:///{folder / 'bench.db'}"
    else:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    migrate.upgrade(url, Path(tempfile.mkdtemp(prefix="carnet-bench-backups-")))
    return url


def bench_issue(count: int, clients: int, url: str | None) -> None:
    url = fresh_database(url)
    database = Database(url)
    with database.begin() as db:
        db.add(Company(id=1, **COMPANY))
        org = Organisation(name="CHU de Grenoble", siren="356000000", city="La Tronche", custom_fields={})
        db.add(org)
        db.flush()
        org_id = org.id
    started = time.perf_counter()
    ids = []
    for _ in range(count):
        db = database.session()
        try:
            draft = service.create_invoice(db, SYSTEM, {"organisation_id": org_id, "lines": raw_lines(3)})
            ids.append(draft.id)
        finally:
            db.close()
    print(f"{count} drafts created in {time.perf_counter() - started:.1f} s ({database.dialect})")
    work: queue.Queue[int] = queue.Queue()
    for invoice_id in ids:
        work.put(invoice_id)
    latencies: list[float] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def client() -> None:
        while True:
            try:
                invoice_id = work.get_nowait()
            except queue.Empty:
                return
            db = database.session()
            began = time.perf_counter()
            try:
                service.issue_invoice(db, SYSTEM, service.get_invoice(db, SYSTEM, invoice_id))
                with lock:
                    latencies.append(time.perf_counter() - began)
            except BaseException as exc:  # reported below: a bench never hides a failure
                failures.append(exc)
            finally:
                db.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    with database.begin() as db:
        numbers = list(db.scalars(select(Invoice.number).where(Invoice.number.is_not(None))))
        without_pdf = db.scalar(
            select(func.count()).where(Invoice.number.is_not(None), Invoice.pdf_sha256.is_(None))
        )
    year = service.today().year
    expected = [f"{year}-F-{n:04d}" for n in range(1, count + 1)]
    gapless = sorted(numbers) == expected
    latencies.sort()
    print(
        f"{count} invoices issued by {clients} clients in {elapsed:.1f} s ({count / elapsed:.1f}/s); "
        f"latency median {statistics.median(latencies):.3f} s, p95 {latencies[int(len(latencies) * 0.95) - 1]:.3f} s; "
        f"failures {len(failures)}; numbers 1..{count} without gap or duplicate: {gapless} "
        f"({len(numbers)} numbers, {len(set(numbers))} distinct); issued without PDF: {without_pdf}"
    )
    if failures:
        print("first failure:", repr(failures[0]))
    if not gapless or failures or without_pdf:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    pdf = sub.add_parser("pdf")
    pdf.add_argument("--lines", type=int, default=50)
    pdf.add_argument("--runs", type=int, default=5)
    issue = sub.add_parser("issue")
    issue.add_argument("--count", type=int, default=1000)
    issue.add_argument("--clients", type=int, default=8)
    issue.add_argument("--database-url", default=None, help="PostgreSQL database to empty and use")
    args = parser.parse_args()
    clock.freeze(clock.now())  # one business day for the whole run
    if args.what == "pdf":
        bench_pdf(args.lines, args.runs)
    else:
        bench_issue(args.count, args.clients, args.database_url)


if __name__ == "__main__":
    main()
