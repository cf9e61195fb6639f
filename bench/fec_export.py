"""bench: FEC export of 100,000 entries (issue 4 §9, goal: at most 10 s).

    PYTHONPATH=src python bench/fec_export.py [--entries 100000] [--payments 0.3] [--runs 3]
                                              [--database-url URL [--reuse]] [--output FILE]

Builds a fresh database (a SQLite file in a temporary folder, or the PostgreSQL database given,
emptied first) and inserts in bulk, set-based: the company, 500 clients, issued invoices over one
year (each with two VAT rates and lines of two product categories mapped to their own revenue
accounts, so every sales entry has 5 lines and its revenue is split per category) and payments
allocated to them (2 lines each). `--payments` is the share of the entries that are payments.
`--reuse` keeps a PostgreSQL database an earlier run built (when it holds invoices) instead of
building it again. Then times `finance.fec.build` (the work behind GET /api/v1/exports/fec: the
queries, the entries, the ISO-8859-15 file) for the whole year, checks each entry balances, and
prints the median; `--output` writes the last file built (to compare two versions of the export
byte for byte).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, insert, text
from sqlalchemy.exc import DBAPIError

from carnet.catalogue.models import Product
from carnet.company.models import Company
from carnet.core import migrate
from carnet.core.context import SYSTEM
from carnet.core.db import Database
from carnet.documents import lines as doc_lines
from carnet.finance import fec
from carnet.finance.models import AccountMapping
from carnet.invoices.models import Invoice
from carnet.organisations.models import Organisation
from carnet.payments.models import Payment, PaymentAllocation

CHUNK = 5000
YEAR = 2026


def fresh_database(url: str | None) -> str:
    if url is None:
        folder = Path(tempfile.mkdtemp(prefix="carnet-bench-fec-"))
        url = f"sqlite:///{folder / 'bench.db'}"
    else:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    migrate.upgrade(url, Path(tempfile.mkdtemp(prefix="carnet-bench-backups-")))
    return url


def _invoice_content(products: list[int], n: int) -> tuple[list[dict], doc_lines.Totals]:
    raw = [
        {"description": "Lit médicalisé", "quantity": "1", "unit_price": f"{800 + n % 97}.00", "vat_rate": "5.5",
         "product_id": products[0]},
        {"description": "Matelas", "quantity": "2", "unit_price": "420.50", "vat_rate": "20", "product_id": products[0]},
        {"description": "Installation", "quantity": "1", "unit_price": "180.00", "vat_rate": "20",
         "product_id": products[1]},
    ]  # fmt: skip
    parsed = doc_lines.parse_lines(raw)
    return [doc_lines.line_to_dict(line) for line in parsed], doc_lines.compute(parsed)


def populate(database: Database, entries: int, payment_share: float) -> tuple[int, int]:
    payments = int(entries * payment_share)
    invoices = entries - payments
    now = datetime(YEAR, 12, 31, 12, tzinfo=UTC)
    with database.begin() as db:
        db.add(
            Company(id=1, name="Médicalis", siren="732829320", legal_form="SAS", operation_category="goods")
        )
        goods = Product(name="Lit", unit_price=Decimal("800"), vat_rate=Decimal("5.5"), category="Matériel")
        service = Product(
            name="Installation", unit_price=Decimal("180"), vat_rate=Decimal("20"), category="Services"
        )
        db.add_all([goods, service])
        db.add(AccountMapping(purpose="revenue", key="Matériel", number="707100", label="Ventes de matériel"))
        db.add(AccountMapping(purpose="vat", key="5.50", number="445711", label="TVA collectée 5,5 %"))
        db.flush()
        products = [goods.id, service.id]
        db.execute(
            insert(Organisation),
            [
                {"name": f"Clinique n° {i}", "siren": f"{100000000 + i}", "country": "FR", "type": "client",
                 "emails": [], "phones": [], "revenue_history": {}, "custom_fields": {}, "created_at": now,
                 "updated_at": now, "version": 1}
                for i in range(500)
            ],
        )  # fmt: skip
        org_ids = [r[0] for r in db.execute(text("SELECT id FROM organisations ORDER BY id"))]
    lines, totals = _invoice_content(products, 0)
    started = time.perf_counter()
    first = date(YEAR, 1, 1)
    for base in range(0, invoices, CHUNK):
        rows = []
        for n in range(base, min(base + CHUNK, invoices)):
            issued_on = first + timedelta(days=n * 365 // invoices)
            org_id = org_ids[n % len(org_ids)]
            gross = totals.total_gross
            rows.append(
                {
                    "kind": "invoice", "number": f"{YEAR}-F-{n + 1:06d}", "series": f"invoice:{YEAR}",
                    "status": "issued", "organisation_id": org_id, "issue_date": issued_on,
                    "due_date": issued_on + timedelta(days=30), "payment_terms": "30_days",
                    "public_hospital": False, "periodic": False, "operation_category": "mixed",
                    "deducted_deposit_ids": [], "lines": lines, "totals": totals.as_dict(),
                    "parties": {"buyer": {"organisation_id": org_id, "name": f"Clinique n° {n % 500}"}},
                    "total_net": totals.total_net, "total_vat": totals.total_vat, "total_gross": gross,
                    "prepaid_amount": Decimal("0.00"), "amount_due": gross, "amount_paid": Decimal("0.00"),
                    "amount_credited": Decimal("0.00"), "issued_at": datetime.combine(issued_on, datetime.min.time(), UTC)
                    + timedelta(hours=9), "custom_fields": {}, "created_at": now, "updated_at": now, "version": 1,
                }
            )  # fmt: skip
        with database.begin() as db:
            db.execute(insert(Invoice), rows)
    invoice_ids = []
    with database.begin() as db:
        invoice_ids = [r[0] for r in db.execute(text("SELECT id, organisation_id FROM invoices ORDER BY id"))]
        orgs = dict(db.execute(text("SELECT id, organisation_id FROM invoices")).all())
    for base in range(0, payments, CHUNK):
        rows = []
        for n in range(base, min(base + CHUNK, payments)):
            invoice_id = invoice_ids[n % len(invoice_ids)]
            paid_on = first + timedelta(days=15 + n * 340 // max(payments, 1))
            rows.append(
                {
                    "organisation_id": orgs[invoice_id], "paid_on": paid_on, "amount": Decimal("500.00"),
                    "allocated": Decimal("500.00"), "method": "transfer", "reference": f"VIR-{n:06d}",
                    "custom_fields": {}, "created_at": now, "updated_at": now, "version": 1,
                }
            )  # fmt: skip
        with database.begin() as db:
            db.execute(insert(Payment), rows)
            ids = [
                r[0]
                for r in db.execute(
                    text("SELECT id FROM payments ORDER BY id DESC LIMIT :n"), {"n": len(rows)}
                )
            ]
            ids.reverse()
            db.execute(
                insert(PaymentAllocation),
                [
                    {"payment_id": pid, "invoice_id": invoice_ids[(base + i) % len(invoice_ids)],
                     "amount": Decimal("500.00"), "created_at": now}
                    for i, pid in enumerate(ids)
                ],
            )  # fmt: skip
    print(f"inserted {invoices} invoices and {payments} payments in {time.perf_counter() - started:.1f} s")
    return invoices, payments


def _built(url: str) -> tuple[int, int] | None:
    """The invoices and payments of a database an earlier run built, None when there are none."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            invoices = conn.execute(text("SELECT count(*) FROM invoices")).scalar_one()
            payments = conn.execute(text("SELECT count(*) FROM payments")).scalar_one()
    except DBAPIError:  # no schema yet
        return None
    finally:
        engine.dispose()
    return (invoices, payments) if invoices else None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--payments", type=float, default=0.3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url")
    parser.add_argument("--reuse", action="store_true", help="keep the data an earlier run built")
    parser.add_argument("--output", type=Path, help="write the last FEC built to this file")
    args = parser.parse_args()
    built = _built(args.database_url) if args.reuse and args.database_url else None
    if built is None:
        url = fresh_database(args.database_url)
        database = Database(url)
        invoices, payments = populate(database, args.entries, args.payments)
    else:
        url = args.database_url
        database = Database(url)
        invoices, payments = built
        print(f"reusing {invoices} invoices and {payments} payments")
    times = []
    result = None
    for _ in range(args.runs):
        with database.session(write=False) as db:
            started = time.perf_counter()
            result = fec.build(db, SYSTEM, date(YEAR, 1, 1), date(YEAR, 12, 31))
            times.append(time.perf_counter() - started)
    assert result is not None
    if args.output:
        args.output.write_bytes(result.content)
    # every entry balances, and the file holds every entry
    sums: dict[str, Decimal] = {}
    records = result.content.decode("iso-8859-15").split("\r\n")[1:-1]
    for record in records:
        fields = record.split("\t")
        assert len(fields) == 18
        sums[fields[2]] = (
            sums.get(fields[2], Decimal(0))
            + Decimal(fields[11].replace(",", "."))
            - Decimal(fields[12].replace(",", "."))
        )
    assert all(v == 0 for v in sums.values()), "unbalanced entry"
    assert result.entries == invoices + payments == len(sums), (result.entries, len(sums))
    dialect = url.split(":", 1)[0]
    median = statistics.median(times)
    print(
        f"FEC export ({dialect}): {result.entries} entries, {result.lines} lines, "
        f"{len(result.content) / 1e6:.1f} MB: median {median:.2f} s over {len(times)} runs "
        f"(runs: {', '.join(f'{t:.2f}' for t in times)}); goal <= 10 s"
    )
    sys.exit(0 if median <= 10 else 1)


if __name__ == "__main__":
    main()
