"""bench: render the PDF of a 50-line quote (goal: at most 1 s, issue 4 §9).

    PYTHONPATH=src python bench/quote_pdf.py [--lines 50] [--runs 5]

Builds the quote in memory (company, buyer, 50 lines over two VAT rates, a section, a global
discount) and times `rendering.quote_pdf`, the function sending a quote calls. The first run
includes loading Pango and fonts; the median of the following runs is what a server answers.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date
from decimal import Decimal

from carnet.company.models import Company
from carnet.documents import lines as doc_lines
from carnet.quotes import rendering
from carnet.quotes.models import QuoteVersion


def build(count: int) -> tuple[Company, QuoteVersion]:
    company = Company(
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
        iban="FR7630006000011234567890189",
        bic="BNPAFRPPXXX",
        late_penalty_rate=Decimal("12.15"),
        brand_color="#0a7d5a",
        operation_category="goods",
        vat_on_debits=False,
    )
    raw = [{"kind": "section", "description": "Équipement des chambres"}]
    raw += [
        {
            "description": f"Article {i} — lit, matelas ou accessoire",
            "quantity": str(1 + i % 4),
            "unit_price": f"{100 + i * 7}.50",
            "vat_rate": "5.5" if i % 3 else "20",
            "unit": "u",
        }
        for i in range(count)
    ]
    parsed = doc_lines.parse_lines(raw)
    totals = doc_lines.compute(parsed, doc_lines.Discount(percent=Decimal("3")))
    version = QuoteVersion(
        version=1,
        issue_date=date(2026, 11, 21),
        valid_until=date(2026, 12, 21),
        payment_terms="30_days",
        operation_category="goods",
        lines=[doc_lines.line_to_dict(line) for line in parsed],
        global_discount_percent=Decimal("3"),
        totals=totals.as_dict(),
        parties={
            "buyer": {
                "name": "CHU de Grenoble",
                "address_lines": ["Boulevard de la Chantourne", "38700 La Tronche"],
                "siren": "356000000",
            }
        },
    )
    return company, version


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    company, version = build(args.lines)
    timings, cpu = [], []
    for _ in range(args.runs + 1):
        started, started_cpu = time.perf_counter(), time.process_time()
        pdf = rendering.quote_pdf(company, "DEV-2026-0042", version, date(2026, 11, 21))
        timings.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    steady, steady_cpu = timings[1:], cpu[1:]
    # CPU time is what one idle core takes; wall time also counts waiting on a busy machine.
    print(
        f"{args.lines}-line quote PDF: {len(pdf)} bytes; first run {timings[0]:.3f} s (loads Pango and fonts); "
        f"wall median {statistics.median(steady):.3f} s (max {max(steady):.3f} s), "
        f"CPU median {statistics.median(steady_cpu):.3f} s over {len(steady)} runs; goal <= 1 s"
    )


if __name__ == "__main__":
    main()
