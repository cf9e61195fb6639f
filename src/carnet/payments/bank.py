"""Bank statement import and matching: a CSV of `date;label;amount` lines (a header line is
optional; `;` or `,` separated; dates DD/MM/YYYY or YYYY-MM-DD; amounts "1 234,56" or "1234.56";
UTF-8 or Windows-1252). Credits wait as `pending` lines; debits are `ignored` (not client money).

Proposals for a line, best first: open invoices whose number appears in the label (and whose
balance equals the amount, better still), then open invoices whose balance equals the amount. The
user confirms one proposal (one or several invoices of one client): a payment is recorded, by
transfer, dated and referenced as the bank line, and the line is `matched`.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.core import audit, lifecycle, money
from carnet.core.context import Actor
from carnet.core.errors import Conflict, FieldErrors, NotFound, ValidationFailed
from carnet.invoices import service as invoices
from carnet.invoices.models import CREDIT_NOTE, OPEN_STATUSES, Invoice
from carnet.payments import service
from carnet.payments.models import IGNORED, MATCHED, PENDING, BankLine, Payment

MAX_LINES = 5000
NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9+\-_/]{3,34}")


def _parse_date(raw: str) -> date | None:
    raw = raw.strip()
    for fmt in ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    return None


def parse_statement(content: bytes) -> list[tuple[int, date, str, Decimal]]:
    """(line number, date, label, amount) per line, or ValidationFailed naming the bad lines."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("cp1252")
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    errors = FieldErrors()
    out = []
    for number, row in enumerate(rows, start=1):
        if not any(cell.strip() for cell in row):
            continue
        if number == 1 and _parse_date(row[0]) is None:
            continue  # a header line
        if len(row) < 3:
            errors.add(f"line.{number}", "Line {n}: expected date;label;amount", "bad_line", n=number)
            continue
        when = _parse_date(row[0])
        try:
            amount = money.parse_money(row[2], "amount", allow_negative=True)
        except ValidationFailed:
            amount = None
        if when is None or amount is None:
            errors.add(f"line.{number}", "Line {n}: expected date;label;amount", "bad_line", n=number)
            continue
        out.append((number, when, row[1].strip()[:500], amount))
    if not out and not errors:
        errors.add("file", "The file holds no bank line", "empty")
    if len(out) > MAX_LINES:
        errors.add("file", "At most {max} lines per file", "too_many", max=MAX_LINES)
    errors.raise_if_any()
    return out


def import_statement(db: Session, actor: Actor, filename: str, content: bytes) -> list[BankLine]:
    """Store the lines of a statement (all or none); lines already imported (same date, label
    and amount, still known) are skipped so importing the same file twice adds nothing."""
    lifecycle.require(actor, service.RECORD_TYPE, "create")
    parsed = parse_statement(content)
    lines = []
    for number, when, label, amount in parsed:
        duplicate = db.scalar(
            select(BankLine.id).where(
                BankLine.booked_on == when, BankLine.label == label, BankLine.amount == amount
            )
        )
        if duplicate is not None:
            continue
        line = BankLine(
            statement=(filename or "statement.csv")[:200],
            line_no=number,
            booked_on=when,
            label=label,
            amount=amount,
            status=PENDING if amount > 0 else IGNORED,
            department_id=actor.department_id,
            imported_by_id=actor.user_id,
        )
        db.add(line)
        lines.append(line)
    db.flush()
    audit.record(db, actor, "import", "bank_line", None, {"lines": [None, len(lines)]}, filename or "")
    db.commit()
    return lines


def _visible(actor: Actor) -> Any:
    """Bank lines belong to the importer's department (admins see all)."""
    if actor.is_admin:
        return BankLine.id.is_not(None)
    return BankLine.department_id == actor.department_id


def list_lines(db: Session, actor: Actor, status: str | None = PENDING, limit: int = 200) -> list[BankLine]:
    lifecycle.require(actor, service.RECORD_TYPE, "read")
    stmt = select(BankLine).where(_visible(actor))
    if status:
        stmt = stmt.where(BankLine.status == status)
    return list(db.scalars(stmt.order_by(BankLine.booked_on, BankLine.id).limit(limit)))


def get_line(db: Session, actor: Actor, line_id: Any) -> BankLine:
    lifecycle.require(actor, service.RECORD_TYPE, "read")
    try:
        line_id = int(line_id)
    except (TypeError, ValueError):
        raise NotFound()
    line = db.scalar(select(BankLine).where(BankLine.id == line_id, _visible(actor)))
    if line is None:
        raise NotFound()
    return line


@dataclass(frozen=True)
class Proposal:
    invoice_ids: tuple[int, ...]
    numbers: tuple[str, ...]
    organisation_id: int | None
    amount: Decimal  # what the proposal would settle
    reason: str  # number_and_amount, number, amount
    score: int


def _open(db: Session, actor: Actor) -> Any:
    return select(Invoice).where(
        Invoice.status.in_(OPEN_STATUSES), Invoice.kind != CREDIT_NOTE, invoices.visible_clause(db, actor)
    )


def proposals(db: Session, actor: Actor, line: BankLine, limit: int = 5) -> list[Proposal]:
    """Candidate invoices for a bank line, best first (see the module docstring)."""
    lifecycle.require(actor, service.RECORD_TYPE, "read")
    amount = Decimal(line.amount)
    out: list[Proposal] = []
    tokens = {t.upper() for t in NUMBER.findall(line.label)}
    named = (
        [i for i in db.scalars(_open(db, actor).where(Invoice.number.in_(tokens))) if invoices.balance(i) > 0]
        if tokens
        else []
    )
    if named:
        total = sum((invoices.balance(i) for i in named), Decimal(0))
        same_client = len({i.organisation_id for i in named}) == 1
        if same_client:
            exact = total == amount
            out.append(
                Proposal(
                    tuple(i.id for i in named),
                    tuple(i.number or "" for i in named),
                    named[0].organisation_id,
                    min(total, amount),
                    "number_and_amount" if exact else "number",
                    100 if exact else 80,
                )
            )
        for i in named if not same_client else []:
            out.append(
                Proposal(
                    (i.id,),
                    (i.number or "",),
                    i.organisation_id,
                    min(invoices.balance(i), amount),
                    "number",
                    70,
                )
            )
    taken = {i for p in out for i in p.invoice_ids}
    for invoice in db.scalars(_open(db, actor).order_by(Invoice.due_date, Invoice.id)):
        if invoice.id in taken or invoices.balance(invoice) != amount:
            continue
        out.append(
            Proposal((invoice.id,), (invoice.number or "",), invoice.organisation_id, amount, "amount", 50)
        )
    return sorted(out, key=lambda p: -p.score)[:limit]


def confirm(db: Session, actor: Actor, line: BankLine, invoice_ids: list[int]) -> Payment:
    """Record the line as a transfer paying `invoice_ids` (one client), in the order given; any
    excess stays the client's credit."""
    lifecycle.require(actor, service.RECORD_TYPE, "create")
    if line.status != PENDING:
        raise Conflict("This bank line is already matched or ignored", code="line_done")
    if not invoice_ids:
        raise ValidationFailed.on("invoice_ids", "Choose at least one invoice", "required")
    chosen = []
    for invoice_id in invoice_ids:
        try:
            chosen.append(invoices.get_invoice(db, actor, invoice_id))
        except NotFound:
            raise ValidationFailed.on("invoice_ids", "Unknown invoice", "unknown")
    if len({i.organisation_id for i in chosen}) != 1:
        raise ValidationFailed.on(
            "invoice_ids", "The invoices of one payment belong to one client", "other_client"
        )
    left = Decimal(line.amount)
    allocations = []
    for invoice in chosen:
        share = min(left, invoices.balance(invoice))
        if share > 0:
            allocations.append({"invoice_id": invoice.id, "amount": f"{share:.2f}"})
            left -= share
    payment = service.record_payment(
        db,
        actor,
        {
            "organisation_id": chosen[0].organisation_id,
            "paid_on": line.booked_on,
            "amount": f"{Decimal(line.amount):.2f}",
            "method": "transfer",
            "reference": line.label[:140],
            "bank_line_id": line.id,
            "allocations": allocations,
        },
        commit=False,
    )
    line.status = MATCHED
    line.payment_id = payment.id
    db.commit()
    return payment


def ignore(db: Session, actor: Actor, line: BankLine) -> BankLine:
    lifecycle.require(actor, service.RECORD_TYPE, "update")
    if line.status != PENDING:
        raise Conflict("This bank line is already matched or ignored", code="line_done")
    line.status = IGNORED
    db.commit()
    return line
