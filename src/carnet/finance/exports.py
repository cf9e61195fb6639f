"""CSV exports of invoices, payments and customers for French accounting tools, with the column
layout saved per export kind (`service.layout_of`: chosen, renamed, ordered columns).

The file is what French accounting software imports by default: UTF-8 with a byte order mark,
`;` between cells, CRLF line ends, dates as DD/MM/YYYY, amounts with a decimal comma and no
thousands separator; a credit note's amounts are negative (it reduces the sales), its type says
"Avoir". Client accounts use the same auxiliary code as the FEC (`CLI000042`), so both files
match in the accounting tool. A text cell a spreadsheet would run as a formula gets a leading
apostrophe.

Rows are the records the user may see; the export needs `finance:export` and the read
permission of the record type, and is audited (action "export").
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.core import audit, clock, permissions
from carnet.core.context import Actor
from carnet.core.db import get_database
from carnet.core.errors import FieldErrors, PermissionDenied
from carnet.finance import service
from carnet.finance.fec import client_code
from carnet.finance.service import CUSTOMERS, INVOICES, PAYMENTS
from carnet.invoices import service as invoices
from carnet.invoices.models import CREDIT_NOTE, Invoice
from carnet.organisations.models import Organisation
from carnet.payments.models import Payment, PaymentAllocation

KIND_LABELS = {"invoice": "Facture", "deposit": "Facture d'acompte", "credit_note": "Avoir"}
STATUS_LABELS = {
    "issued": "Émise",
    "partially_paid": "Partiellement réglée",
    "paid": "Réglée",
    "overdue": "En retard",
    "cancelled": "Annulée",
}
METHOD_LABELS = {
    "transfer": "Virement",
    "cheque": "Chèque",
    "card": "Carte bancaire",
    "direct_debit": "Prélèvement",
    "cash": "Espèces",
}
READ_PERMISSION = {INVOICES: "invoices:read", PAYMENTS: "payments:read", CUSTOMERS: "organisations:read"}
RECORD_TYPES = {INVOICES: "invoice", PAYMENTS: "payment", CUSTOMERS: "organisation"}
_SAFE_SIGNED_NUMBER = re.compile(r"^[+-][\d\s().,+\-/]*$")


@dataclass
class CsvFile:
    filename: str
    content: bytes
    rows: int
    kind: str
    filters: dict[str, str]
    columns: list[str]


def _money(value: Decimal | None) -> str:
    return "" if value is None else f"{Decimal(value):.2f}".replace(".", ",")


def _day(value: date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def _safe(text: str) -> str:
    if text[:1] in ("=", "@", "\t", "\r") or (text[:1] in ("+", "-") and not _SAFE_SIGNED_NUMBER.match(text)):
        return "'" + text
    return text


def _optional_period(raw_from: Any, raw_to: Any) -> tuple[date | None, date | None]:
    errors = FieldErrors()
    out: list[date | None] = []
    for name, raw in (("from", raw_from), ("to", raw_to)):
        if raw in (None, ""):
            out.append(None)
            continue
        try:
            out.append(date.fromisoformat(str(raw)))
        except ValueError:
            errors.add(name, "Enter a date as YYYY-MM-DD", "invalid_date")
            out.append(None)
    if out[0] and out[1] and out[1] < out[0]:
        errors.add("to", "The end of the period is before its start", "before_start")
    errors.raise_if_any()
    return out[0], out[1]


def _invoice_rows(
    db: Session, actor: Actor, start: date | None, end: date | None
) -> Iterable[dict[str, Any]]:
    stmt = select(Invoice).where(Invoice.issued_at.is_not(None), invoices.visible_clause(db, actor))
    if start:
        stmt = stmt.where(Invoice.issue_date >= start)
    if end:
        stmt = stmt.where(Invoice.issue_date <= end)
    rows = list(db.scalars(stmt.order_by(Invoice.issue_date, Invoice.number)))
    numbers = dict(
        db.execute(
            select(Invoice.id, Invoice.number).where(
                Invoice.id.in_({r.credited_invoice_id for r in rows if r.credited_invoice_id} or {0})
            )
        )
        .tuples()
        .all()
    )
    for inv in rows:
        buyer = (inv.parties or {}).get("buyer") or {}
        sign = Decimal(-1) if inv.kind == CREDIT_NOTE else Decimal(1)
        yield {
            "issue_date": _day(inv.issue_date),
            "number": inv.number,
            "kind": KIND_LABELS.get(inv.kind, inv.kind),
            "client_code": client_code(buyer.get("organisation_id") or inv.organisation_id),
            "client_name": buyer.get("name"),
            "client_siren": buyer.get("siren"),
            "client_vat_number": buyer.get("vat_number"),
            "total_net": _money(sign * Decimal(inv.total_net)),
            "total_vat": _money(sign * Decimal(inv.total_vat)),
            "total_gross": _money(sign * Decimal(inv.total_gross)),
            "due_date": _day(inv.due_date),
            "amount_paid": _money(inv.amount_paid),
            "balance": _money(invoices.balance(inv)),
            "status": STATUS_LABELS.get(inv.status, inv.status),
            "credited_number": numbers.get(inv.credited_invoice_id) if inv.credited_invoice_id else "",
            "currency": "EUR",
        }


def _payment_rows(
    db: Session, actor: Actor, start: date | None, end: date | None
) -> Iterable[dict[str, Any]]:
    stmt = (
        select(Payment, Organisation.legal_name, Organisation.name)
        .outerjoin(Organisation, Organisation.id == Payment.organisation_id)
        .where(permissions.visible_for_model(db, actor, "payment", Payment))
    )
    if start:
        stmt = stmt.where(Payment.paid_on >= start)
    if end:
        stmt = stmt.where(Payment.paid_on <= end)
    rows = db.execute(stmt.order_by(Payment.paid_on, Payment.id)).all()
    settled: dict[int, list[str]] = {}
    ids = [p.id for p, _l, _n in rows]
    for i in range(0, len(ids), 500):
        for payment_id, number in db.execute(
            select(PaymentAllocation.payment_id, Invoice.number)
            .join(Invoice, Invoice.id == PaymentAllocation.invoice_id)
            .where(PaymentAllocation.payment_id.in_(ids[i : i + 500]))
            .order_by(PaymentAllocation.payment_id, PaymentAllocation.id)
        ):
            settled.setdefault(payment_id, []).append(number)
    for payment, legal_name, name in rows:
        yield {
            "paid_on": _day(payment.paid_on),
            "reference": payment.reference,
            "method": METHOD_LABELS.get(payment.method, payment.method),
            "client_code": client_code(payment.organisation_id),
            "client_name": legal_name or name,
            "amount": _money(payment.amount),
            "allocated": _money(payment.allocated),
            "credit": _money(Decimal(payment.amount) - Decimal(payment.allocated)),
            "invoices": ", ".join(settled.get(payment.id, [])),
            "currency": "EUR",
        }


def _customer_rows(db: Session, actor: Actor) -> Iterable[dict[str, Any]]:
    """The organisations invoiced at least once (an issued invoice the user may see)."""
    invoiced = select(Invoice.organisation_id).where(
        Invoice.issued_at.is_not(None), invoices.visible_clause(db, actor)
    )
    stmt = (
        select(Organisation)
        .where(
            Organisation.id.in_(invoiced),
            permissions.visible(db, actor, "organisation", Organisation.owner_id, Organisation.department_id),
        )
        .order_by(Organisation.id)
    )
    for org in db.scalars(stmt):
        yield {
            "client_code": client_code(org.id),
            "name": org.legal_name or org.name,
            "siren": org.siren,
            "siret": org.siret,
            "vat_number": org.vat_number,
            "address": " ".join(v for v in (org.address_line1, org.address_line2) if v),
            "postal_code": org.postal_code,
            "city": org.city,
            "country": org.country,
            "email": (org.emails or [""])[0],
            "phone": (org.phones or [""])[0],
        }


def export_csv(db: Session, actor: Actor, kind: Any, raw_from: Any = None, raw_to: Any = None) -> CsvFile:
    """The CSV file of `kind` (invoices by issue date, payments by payment date, customers) in
    its saved layout. The caller records the export with `record_export` once it is sent."""
    if not actor.can("finance:export"):
        raise PermissionDenied()
    layout = service.get_layout(db, actor, kind)
    kind = str(kind)
    if not actor.can(READ_PERMISSION[kind]):
        raise PermissionDenied()
    start, end = _optional_period(raw_from, raw_to)
    if kind == INVOICES:
        rows = _invoice_rows(db, actor, start, end)
    elif kind == PAYMENTS:
        rows = _payment_rows(db, actor, start, end)
    else:
        rows = _customer_rows(db, actor)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([c["header"] for c in layout])
    count = 0
    for row in rows:
        writer.writerow([_safe("" if row.get(c["field"]) is None else str(row[c["field"]])) for c in layout])
        count += 1
    filename = f"{kind}-{clock.now().date().isoformat()}.csv"
    filters = {k: v.isoformat() for k, v in (("from", start), ("to", end)) if v}
    content = ("\ufeff" + buffer.getvalue()).encode("utf-8")
    return CsvFile(filename, content, count, kind, filters, [c["field"] for c in layout])


def record_export(actor: Actor, export: CsvFile) -> None:
    """Audit the export (action "export"), in a transaction of its own once the file is sent."""
    with get_database().begin() as db:
        audit.record(
            db,
            actor,
            "export",
            RECORD_TYPES[export.kind],
            None,
            {
                "format": "accounting_csv",
                "filters": export.filters,
                "rows": export.rows,
                "columns": export.columns,
                "complete": True,
            },
            f"{export.rows} {export.kind} (accounting CSV)",
        )
