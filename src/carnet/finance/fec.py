"""The FEC (Fichier des Écritures Comptables) of a period, france.md §5.

Format (§5.2, §5.3, §5.5): the 18 columns in their fixed order with their official names on the
first line, TAB between fields, CRLF at the end of each record, ISO-8859-15 (characters outside it
are transliterated), dates AAAAMMJJ, amounts with a comma as decimal separator and no thousands
separator, Debit and Credit columns. File name `<SIREN>FEC<AAAAMMJJ>.txt`, the date being the end
of the period exported.

Entries (§5.4), one EcritureNum each, every entry balanced (Σ debit = Σ credit):
- sales journal VT, per issued invoice dated in the period (issue date): debit the customer
  account (411, the client's auxiliary account in CompAuxNum) with the total incl. VAT, credit
  revenue (706 by default, or the account of each line's product category) with the total excl.
  VAT, credit VAT collected (44571, one line per rate), or for the VAT of services the seller
  has no debits option on, VAT collected on hold (4458, a line per rate after that rate's 44571
  line): see `vat_on_hold.py` for how goods and services are told apart (a "mixed" invoice with
  nothing per line counts as goods) and for the option frozen on the invoice;
- a deposit invoice credits customer advances (4191) instead of revenue (§2.2), its VAT on hold
  like any other; the final invoice that deducts deposits debits the customer with what is left
  to pay and reverses the advances and their VAT on its own entry (the "deduct directly" variant
  of §2.2), the VAT taken back split between 44571 and 4458 as the final invoice splits its own
  VAT of that rate, so each document's VAT on hold moves with its own payments;
- a credit note is the mirror entry (debit revenue and VAT, credit the customer); the VAT of its
  services comes off 4458 up to what the invoice it corrects still has on hold there, the rest
  off 44571 (the VAT the client's payments already moved);
- bank journal BQ, per payment received in the period: debit the bank (512), credit the customer;
  then, per invoice it pays that has VAT on hold, debit 4458 and credit 44571 with the VAT the
  payment pays: on hold × amount paid / amount still due, in cents, the payment that settles the
  invoice taking the rest, so a paid invoice has moved exactly its VAT on hold. Each amount
  follows from the invoice's history before it (its credit notes and payments in the order of
  the books), read on the whole ledger like the lettering, whoever exports.

Lettering (EcritureLet/DateLet, §5.4 "reconcile the 411 lines"): the customer lines of an invoice,
its credit notes and the payments allocated to it share a code once they add up to zero by the end
of the period (see `lettering`); the other lines leave both columns blank.

Revenue per product category: a line's net goes to the account of its product's category; the
global discount of each VAT rate is shared between the categories of that rate in proportion to
their nets (cents to the largest), so the revenue lines add up exactly to the total excl. VAT.

Client auxiliary accounts: CompAuxNum `CLI` + the organisation id on 6 digits (the same code as
the CSV exports), CompAuxLib the client's legal name (or name).

EcritureNum: `<journal><n:06>`, numbered per journal in the order of the entries (date, then
validation), continuous inside the file.

Reading (issue 4: 100,000 entries in well under 10 s): the documents stream from the database in
batches as the file is written; on PostgreSQL the database picks out the few fields of the lines
and of the VAT per rate the entries use (`_picked`), SQLite sends that JSON whole. Each document's
lines are grouped once per rate and (revenue account, nature); nets are computed only where a rate
is shared between accounts or natures. The file holds the records the user may see (the usual
visibility rules): a complete FEC is exported by a user who sees every invoice and payment.
"""

from __future__ import annotations

import codecs
import gc
import heapq
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, null, or_, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.sqltypes import NullType

from carnet.catalogue.models import Product
from carnet.company import service as company_service
from carnet.core import audit, permissions
from carnet.core.context import Actor
from carnet.core.db import get_database
from carnet.core.errors import FieldErrors, PermissionDenied, ValidationFailed
from carnet.documents import lines as doc_lines
from carnet.finance import service, vat_on_hold
from carnet.finance.service import Account, ChartOfAccounts
from carnet.finance.vat_on_hold import (
    LINE_FIELDS,
    VAT_FIELDS,
    LineGroups,
    StoredLine,
    StoredRate,
    rate_key,
    share_out,
)
from carnet.invoices.models import CREDIT_NOTE, DEPOSIT, Invoice
from carnet.organisations.models import Organisation
from carnet.payments.models import Payment, PaymentAllocation

PARIS = ZoneInfo("Europe/Paris")
COLUMNS = (
    "JournalCode",
    "JournalLib",
    "EcritureNum",
    "EcritureDate",
    "CompteNum",
    "CompteLib",
    "CompAuxNum",
    "CompAuxLib",
    "PieceRef",
    "PieceDate",
    "EcritureLib",
    "Debit",
    "Credit",
    "EcritureLet",
    "DateLet",
    "ValidDate",
    "Montantdevise",
    "Idevise",
)
SEPARATOR = "\t"
NEWLINE = "\r\n"
ENCODING = "iso-8859-15"
SALES, BANK = ("VT", "Ventes"), ("BQ", "Banque")
ZERO = Decimal("0.00")
UNKNOWN_CLIENT = "CLIDIVERS"
BATCH = 5000
TITLES = {"invoice": "Facture", "deposit": "Facture d'acompte", "credit_note": "Avoir"}

# Characters ISO-8859-15 lacks that French text often holds, then anything else loses its accents.
_REPLACEMENTS = {
    "\u2019": "'",
    "\u2018": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2026": "...",
    "\u00a0": " ",
    "\u202f": " ",
}


def _transliterate(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeEncodeError)
    out = []
    for char in error.object[error.start : error.end]:
        if char in _REPLACEMENTS:
            out.append(_REPLACEMENTS[char])
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        try:
            base.encode(ENCODING)
            out.append(base or "?")
        except UnicodeEncodeError:
            out.append("?")
    return "".join(out), error.end


codecs.register_error("fec_transliterate", _transliterate)


def client_code(organisation_id: int | None) -> str:
    """The client's auxiliary account (CompAuxNum): CLI + the organisation id on 6 digits."""
    return f"CLI{organisation_id:06d}" if organisation_id else UNKNOWN_CLIENT


def _text(value: Any) -> str:
    """A field never holds the separator or a line break."""
    if value is None:
        return ""
    return " ".join(str(value).replace("\t", " ").split())


def _amount(value: Decimal) -> str:
    return f"{value:.2f}".replace(".", ",")


def _day(value: date | None) -> str:
    return value.strftime("%Y%m%d") if value else ""


def _local_day(value: datetime | None) -> date | None:
    return value.astimezone(PARIS).date() if value else None


NO_AUX = ("", "")
# A line of an entry: (account, amount > 0 debit < 0 credit, the client's auxiliary account
# (CompAuxNum, CompAuxLib), and on a customer line the ("invoice" | "payment", id) it settles for
# the lettering). A plain tuple: an export makes hundreds of thousands of them.
Line = tuple[Account, Decimal, tuple[str, str], tuple[str, int] | None]


@dataclass
class Entry:
    journal: tuple[str, str]
    day: date
    valid_day: date
    piece_ref: str
    piece_day: date
    label: str
    lines: list[Line] = field(default_factory=list)

    def add(
        self,
        account: Account,
        amount: Decimal,
        aux: tuple[str, str] = NO_AUX,
        settles: tuple[str, int] | None = None,
    ) -> None:
        if amount:
            self.lines.append((account, amount, aux, settles))


@dataclass
class FecFile:
    filename: str
    content: bytes
    entries: int
    lines: int
    total_debit: Decimal
    total_credit: Decimal
    period: tuple[date, date] | None = None


def parse_period(raw_from: Any, raw_to: Any) -> tuple[date, date]:
    """`from` and `to` as YYYY-MM-DD, from ≤ to; every problem at once (422)."""
    errors = FieldErrors()
    out: list[date | None] = []
    for name, raw in (("from", raw_from), ("to", raw_to)):
        if raw in (None, ""):
            errors.add(name, "This field is required", "required")
            out.append(None)
            continue
        try:
            out.append(date.fromisoformat(str(raw)))
        except ValueError:
            errors.add(name, "Enter a date as YYYY-MM-DD", "invalid_date")
            out.append(None)
    start, end = out
    if start and end and end < start:
        errors.add("to", "The end of the period is before its start", "before_start")
    errors.raise_if_any()
    assert start is not None and end is not None
    return start, end


# -- sales journal ---------------------------------------------------------------------------------


@dataclass
class _Books:
    """What the entries of one export share, read once: the chart of accounts, the products'
    categories and the goods-or-services nature their revenue accounts tell, the deposits final
    invoices deducted (their frozen references) with those deposits' totals, and the VAT on hold
    moved by the payments and taken back by the credit notes of the period."""

    chart: ChartOfAccounts
    categories: dict[int, str | None] = field(default_factory=dict)
    natures: dict[str, str] = field(default_factory=dict)
    deducted: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    deposits: dict[int, list[StoredRate]] = field(default_factory=dict)  # their VAT per rate
    settlement: vat_on_hold.Settlement = field(default_factory=lambda: vat_on_hold.Settlement({}, {}))
    # per product id as text (as PostgreSQL picks the lines' fields out, see `_picked`), read once:
    # its revenue account and the nature that account tells (None when it does not, the line then
    # taking the document's)
    products: dict[str, tuple[Account, str | None]] = field(default_factory=dict)
    postgresql: bool = False


def _books(db: Session, chart: ChartOfAccounts) -> _Books:
    books = _Books(chart, postgresql=db.get_bind().dialect.name == "postgresql")
    if chart.revenue_by_category:  # lines are read only when a category has its own account
        books.categories = dict(db.execute(select(Product.id, Product.category)).tuples().all())
        books.natures = vat_on_hold.category_natures(chart)
        books.products = {
            str(product_id): (chart.revenue_for(category), books.natures.get(category or ""))
            for product_id, category in books.categories.items()
        }
    return books


def _vat_account(chart: ChartOfAccounts, rate: str) -> Account:
    """`chart.vat_for` of a rate already written as the totals write it ("20.00")."""
    return chart.vat_by_rate.get(rate, chart.vat)


def _on_debits(model: Any) -> Any:
    """The seller's VAT-on-debits option as frozen on the document at issue (france.md §1.5)."""
    return model.parties[("seller", "vat_on_debits")].as_boolean()


def _documents(books: _Books, *where: Any) -> Any:
    """The issued documents matching `where`, with what their sales entries need."""
    credited = aliased(Invoice)
    columns = [
        Invoice.id,
        Invoice.kind,
        Invoice.number,
        Invoice.issue_date,
        Invoice.issued_at,
        Invoice.organisation_id,
        Organisation.legal_name,
        Organisation.name,
        # only the parts of the totals the entries use: the smaller the documents, the faster read
        _picked(books, Invoice.totals["vat_by_rate"], VAT_FIELDS).label("vat_by_rate"),
        Invoice.totals["total_net"].as_string().label("total_net"),
        Invoice.total_gross,
        Invoice.operation_category,
        Invoice.credited_invoice_id,
        credited.kind.label("credited_kind"),
        _on_debits(Invoice).label("on_debits"),
        _on_debits(credited).label("credited_on_debits"),
    ]
    columns.append(_line_fields(books).label("lines"))
    return (
        select(*columns)
        .outerjoin(Organisation, Organisation.id == Invoice.organisation_id)
        .outerjoin(credited, credited.id == Invoice.credited_invoice_id)
        .where(*where)
    )


def _line_fields(books: _Books) -> Any:
    """The lines of a document, read only when a product category has its own revenue account."""
    if not books.chart.revenue_by_category:
        return null()
    return _picked(books, Invoice.lines, LINE_FIELDS)


def _picked(books: _Books, document: Any, fields: tuple[str, ...]) -> Any:
    """A JSON array of objects (lines, VAT per rate) to read as the values of `fields` of each.
    PostgreSQL picks them out, an array of text per element in their order: a fraction of the
    document to send and decode. SQLite sends the array whole and `_stored` picks them out."""
    if not books.postgresql:
        return document
    # anything but an array (a JSON null) reads as nothing, as on SQLite, rather than failing
    array = case((func.jsonb_typeof(document) == "array", document))
    item = (
        func.jsonb_array_elements(array)
        .table_valued("value", with_ordinality="position")
        .render_derived(name="item")
    )
    values = postgresql.array([item.c.value.op("->>")(name) for name in fields])
    in_order = postgresql.aggregate_order_by(values, item.c.position)
    # no SQLAlchemy type to process the arrays with: psycopg already gives lists of str
    return select(func.array_agg(in_order, type_=NullType())).scalar_subquery()


def _stored(books: _Books, picked: list[Any] | None, fields: tuple[str, ...]) -> list[Any]:
    """What `_picked(books, document, fields)` read, as one list of the values of `fields` per
    element (those of PostgreSQL are text)."""
    if not picked:
        return []
    if books.postgresql:
        return picked
    return [[element.get(name) for name in fields] for element in picked]


def _load_deductions(db: Session, books: _Books, *where: Any) -> None:
    """What the final invoices matching `where` deducted, and those deposits' own totals: a few
    small queries, whatever the number of invoices."""
    found: list[list[dict[str, Any]]] = []
    for invoice_id, parties in db.execute(
        select(Invoice.id, Invoice.parties).where(
            *where, Invoice.kind != CREDIT_NOTE, Invoice.prepaid_amount > 0
        )
    ):
        refs = ((parties or {}).get("references") or {}).get("deposits") or []
        books.deducted[invoice_id] = refs
        found.append(refs)
    deposit_ids = sorted({int(d["id"]) for refs in found for d in refs if d.get("id")} - set(books.deposits))
    vat_by_rate = _picked(books, Invoice.totals["vat_by_rate"], VAT_FIELDS)
    for chunk in _chunks(deposit_ids):
        for deposit_id, rates in db.execute(select(Invoice.id, vat_by_rate).where(Invoice.id.in_(chunk))):
            books.deposits[deposit_id] = _stored(books, rates, VAT_FIELDS)


def _lines_by_rate(
    books: _Books, lines: list[StoredLine] | None, default_nature: str
) -> dict[str, LineGroups]:
    """A document's item lines per VAT rate, grouped by (revenue account, goods or services): the
    account of the line's product category, or the default revenue account; the nature that
    account tells, or else the document's."""
    out: dict[str, LineGroups] = {}
    if not lines:
        return out
    products = books.products
    fallback = (books.chart.revenue, None)
    for line in lines:
        kind, vat_rate, product_id = line[0], line[1], line[2]
        if kind == doc_lines.SECTION:
            continue
        account, nature = products.get(str(product_id), fallback) if product_id else fallback
        groups = out.setdefault(rate_key(vat_rate or 0), {})
        key = (account, nature or default_nature)
        group = groups.get(key)
        if group is None:
            groups[key] = [line]
        else:
            group.append(line)
    return out


def _revenue_by_account(
    chart: ChartOfAccounts,
    account: Account | None,
    row: Any,
    vat_by_rate: list[StoredRate],
    lines_by_rate: dict[str, LineGroups],
) -> dict[Account, Decimal]:
    """Total excl. VAT split between revenue accounts (see the module docstring)."""
    if account is not None:  # deposit invoices: everything to customer advances
        return {account: Decimal(row.total_net or 0)}
    if not chart.revenue_by_category or not row.lines:
        return {chart.revenue: Decimal(row.total_net or 0)}
    out: dict[Account, Decimal] = {}
    for rate, base_text, _vat in vat_by_rate:
        base = Decimal(base_text)
        groups = lines_by_rate.get(rate_key(rate))
        if not groups:
            target = chart.revenue
        elif len(groups) == 1:  # one account at this rate: no need for the nets
            target = next(iter(groups))[0]
        else:
            nets: dict[Account, Decimal] = {}
            for (account, _nature), group in groups.items():
                nets[account] = nets.get(account, ZERO) + vat_on_hold.group_net(group)
            for account, share in share_out(base, nets).items():
                out[account] = out.get(account, ZERO) + share
            continue
        out[target] = out.get(target, ZERO) + base
    return out


def _deposit_reversal(
    chart: ChartOfAccounts,
    deducted: list[dict[str, Any]],
    deposits: dict[int, list[StoredRate]],
    vat_by_rate: list[StoredRate],
    held: dict[str, Decimal],
) -> tuple[list[tuple[Account, Decimal]], dict[str, Decimal]]:
    """What a final invoice takes back from customer advances and their VAT (debits): each
    deducted deposit's amount incl. VAT split like that deposit's own net and VAT per rate. The
    VAT taken back comes off the accounts this invoice credits its own VAT of that rate to, in the
    same proportion (VAT due, VAT on hold): the deposit's VAT on hold moves to 44571 when the
    deposit is paid, this invoice's when it is paid. Also returns the VAT on hold taken back."""
    own = {rate_key(rate): Decimal(vat) for rate, _base, vat in vat_by_rate}
    out: list[tuple[Account, Decimal]] = []
    taken: dict[str, Decimal] = {}
    for ref in deducted:
        deposit = deposits.get(int(ref["id"]))
        if not deposit:
            continue
        parts: dict[tuple[str, str], Decimal] = {}
        for raw_rate, base, vat in deposit:
            rate = rate_key(raw_rate)
            parts[("net", rate)] = Decimal(base)
            parts[("vat", rate)] = Decimal(vat)
        for (part, rate), value in share_out(Decimal(ref["amount"]), parts).items():
            if part == "net":
                out.append((chart.deposit, value))
                continue
            on_hold = vat_on_hold.held_part(value, own.get(rate, ZERO), held.get(rate, ZERO))
            out.append((_vat_account(chart, rate), value - on_hold))
            if on_hold:
                out.append((chart.vat_on_hold, on_hold))
                taken[rate] = taken.get(rate, ZERO) + on_hold
    return out, taken


def _on_debits_of(row: Any) -> bool:
    """The seller's debits option for a document: a credit note follows the invoice it corrects."""
    if row.kind == CREDIT_NOTE and row.credited_invoice_id:
        return bool(row.credited_on_debits)
    return bool(row.on_debits)


def _own_held(books: _Books, row: Any, lines_by_rate: dict[str, LineGroups]) -> dict[str, Decimal]:
    """The services VAT of a document without the debits option, per rate (vat_on_hold)."""
    return vat_on_hold.held_by_rate(
        _stored(books, row.vat_by_rate, VAT_FIELDS),
        lines_by_rate,
        row.operation_category,
        _on_debits_of(row),
        books.natures,
    )


def _grouped_lines(books: _Books, row: Any) -> dict[str, LineGroups]:
    return _lines_by_rate(
        books, _stored(books, row.lines, LINE_FIELDS), vat_on_hold.document_nature(row.operation_category)
    )


def _sale(
    books: _Books, row: Any, held: dict[str, Decimal], lines_by_rate: dict[str, LineGroups]
) -> tuple[list[tuple[Account, Decimal]], dict[str, Decimal]]:
    """The lines of a document's sales entry, the customer's first (> 0 debit, < 0 credit), with
    `held` (per rate) of its VAT on the on-hold account; and the VAT on hold the entry leaves
    waiting for the payments, per rate (its own, less what it takes back from deposits)."""
    chart = books.chart
    vat_by_rate = _stored(books, row.vat_by_rate, VAT_FIELDS)
    is_deposit = row.kind == DEPOSIT or (row.kind == CREDIT_NOTE and row.credited_kind == DEPOSIT)
    revenue = _revenue_by_account(
        chart, chart.deposit if is_deposit else None, row, vat_by_rate, lines_by_rate
    )
    credit_note = row.kind == CREDIT_NOTE
    reversal: list[tuple[Account, Decimal]] = []
    taken: dict[str, Decimal] = {}
    if row.id in books.deducted:
        reversal, taken = _deposit_reversal(chart, books.deducted[row.id], books.deposits, vat_by_rate, held)
    gross = Decimal(row.total_gross)
    if reversal:
        gross -= sum((v for _a, v in reversal), ZERO)
    # amounts are negated rather than multiplied by ±1: the same values, without a multiplication
    out = [(chart.customer, -gross if credit_note else gross)]
    out += reversal
    for account, value in revenue.items():
        out.append((account, value if credit_note else -value))
    for raw_rate, _base, vat in vat_by_rate:
        rate = rate_key(raw_rate)
        on_hold = held.get(rate, ZERO)
        due = Decimal(vat) - on_hold
        out.append((_vat_account(chart, rate), due if credit_note else -due))
        if on_hold:
            out.append((chart.vat_on_hold, on_hold if credit_note else -on_hold))
    waiting = {rate: value - taken.get(rate, ZERO) for rate, value in held.items()}
    return out, waiting


def _sales_entries(db: Session, actor: Actor, books: _Books, start: date, end: date) -> Iterator[Entry]:
    """The sales entries of the period in the order of their dates, streamed from the database."""
    if not actor.can("invoices:read"):
        return
    in_period = (
        Invoice.issued_at.is_not(None),
        Invoice.issue_date >= start,
        Invoice.issue_date <= end,
        permissions.visible_for_model(db, actor, "invoice", Invoice),
    )
    _load_deductions(db, books, *in_period)
    stmt = _documents(books, *in_period).order_by(Invoice.issue_date, Invoice.issued_at, Invoice.id)
    clients: dict[int | None, tuple[str, str]] = {}
    # Core rows (no ORM identity work), fetched in batches as the file is written.
    for row in db.connection().execute(stmt.execution_options(yield_per=BATCH)):
        aux = clients.get(row.organisation_id)
        if aux is None:
            aux = clients[row.organisation_id] = (
                client_code(row.organisation_id),
                _text(row.legal_name or row.name),
            )
        entry = Entry(
            SALES,
            row.issue_date,
            _local_day(row.issued_at) or row.issue_date,
            row.number,
            row.issue_date,
            f"{TITLES.get(row.kind, 'Facture')} {row.number} {aux[1]}".strip(),
        )
        lines_by_rate = _grouped_lines(books, row)
        if row.kind == CREDIT_NOTE and row.credited_invoice_id:
            # what is still on hold of the invoice it corrects (vat_on_hold.settle)
            held = books.settlement.taken_back.get(row.id, {})
        else:
            held = _own_held(books, row, lines_by_rate)
        lines, _waiting = _sale(books, row, held, lines_by_rate)
        (customer, due), *others = lines
        if due:
            entry.lines.append((customer, due, aux, ("invoice", row.id)))
        entry.lines += [(account, value, NO_AUX, None) for account, value in others if value]
        if entry.lines:
            yield entry


def _chunks(ids: list[int], size: int = 500) -> Iterable[list[int]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


# -- VAT on hold -----------------------------------------------------------------------------------


def _settle_vat_on_hold(db: Session, books: _Books, start: date, end: date) -> None:
    """Fill `books.settlement` for the payments and credit notes of the period: each invoice they
    touch that left VAT on hold is walked through its credit notes and payments up to `end`, in
    the order of the books (date, sales before bank on a day, then validation). Judged on the whole
    ledger, like the lettering, so the amounts do not depend on who exports."""
    paid = (
        select(PaymentAllocation.invoice_id)
        .join(Payment, Payment.id == PaymentAllocation.payment_id)
        .where(Payment.paid_on >= start, Payment.paid_on <= end)
    )
    credited = select(Invoice.credited_invoice_id).where(
        Invoice.kind == CREDIT_NOTE,
        Invoice.issued_at.is_not(None),
        Invoice.issue_date >= start,
        Invoice.issue_date <= end,
    )
    candidates = sorted(
        invoice_id
        for invoice_id, category, on_debits in db.execute(
            select(Invoice.id, Invoice.operation_category, _on_debits(Invoice)).where(
                or_(Invoice.id.in_(paid), Invoice.id.in_(credited)),
                Invoice.issued_at.is_not(None),
                Invoice.kind != CREDIT_NOTE,
                Invoice.total_vat != 0,
            )
        )
        if vat_on_hold.may_hold(on_debits, category, books.natures)
    )
    waiting: dict[int, tuple[dict[str, Decimal], Decimal]] = {}
    for chunk in _chunks(candidates):
        _load_deductions(db, books, Invoice.id.in_(chunk))
        for row in db.execute(_documents(books, Invoice.id.in_(chunk))):
            lines_by_rate = _grouped_lines(books, row)
            held = _own_held(books, row, lines_by_rate)
            if not held:
                continue
            on_hold, due = held, Decimal(row.total_gross)
            if row.id in books.deducted:  # a final invoice: less what it takes back from deposits
                lines, on_hold = _sale(books, row, held, lines_by_rate)
                due = lines[0][1]  # what the client owes on the entry
            if sum(on_hold.values(), ZERO) > 0:
                waiting[row.id] = (on_hold, due)
    history: dict[int, list[tuple[tuple[Any, ...], vat_on_hold.CreditNote | vat_on_hold.Allocation]]] = {}
    for chunk in _chunks(sorted(waiting)):
        for row in db.execute(
            _documents(
                books,
                Invoice.credited_invoice_id.in_(chunk),
                Invoice.kind == CREDIT_NOTE,
                Invoice.issued_at.is_not(None),
                Invoice.issue_date <= end,
            )
        ):
            history.setdefault(row.credited_invoice_id, []).append(
                (
                    (row.issue_date, 0, row.issued_at, row.id),
                    vat_on_hold.CreditNote(
                        row.id, _own_held(books, row, _grouped_lines(books, row)), Decimal(row.total_gross)
                    ),
                )
            )
        for invoice_id, payment_id, amount, paid_on, created_at in db.execute(
            select(
                PaymentAllocation.invoice_id,
                PaymentAllocation.payment_id,
                PaymentAllocation.amount,
                Payment.paid_on,
                Payment.created_at,
            )
            .join(Payment, Payment.id == PaymentAllocation.payment_id)
            .where(PaymentAllocation.invoice_id.in_(chunk), Payment.paid_on <= end)
        ):
            history.setdefault(invoice_id, []).append(
                ((paid_on, 1, created_at, payment_id), vat_on_hold.Allocation(payment_id, Decimal(amount)))
            )
    for invoice_id, (on_hold, due) in waiting.items():
        events = sorted(history.get(invoice_id, []), key=lambda item: item[0])
        vat_on_hold.settle(invoice_id, on_hold, due, (e for _key, e in events), books.settlement)


# -- bank journal ----------------------------------------------------------------------------------


def _bank_entries(db: Session, actor: Actor, books: _Books, start: date, end: date) -> Iterator[Entry]:
    """The bank entries (payments received) of the period in date order, streamed. A payment of
    invoices with VAT on hold also moves the VAT it pays from the on-hold account to 44571, per
    invoice (vat_on_hold.settle)."""
    if not actor.can("payments:read"):
        return
    chart = books.chart
    in_period = (
        Payment.paid_on >= start,
        Payment.paid_on <= end,
        permissions.visible_for_model(db, actor, "payment", Payment),
    )
    allocated: dict[int, list[tuple[int, str]]] = {}
    for payment_id, invoice_id, number in db.execute(
        select(PaymentAllocation.payment_id, PaymentAllocation.invoice_id, Invoice.number)
        .join(Invoice, Invoice.id == PaymentAllocation.invoice_id)
        .join(Payment, Payment.id == PaymentAllocation.payment_id)
        .where(*in_period)
        .order_by(PaymentAllocation.payment_id, PaymentAllocation.id)
    ):
        allocated.setdefault(payment_id, []).append((invoice_id, number))
    stmt = (
        select(
            Payment.id,
            Payment.paid_on,
            Payment.amount,
            Payment.reference,
            Payment.organisation_id,
            Payment.created_at,
            Organisation.legal_name,
            Organisation.name,
        )
        .outerjoin(Organisation, Organisation.id == Payment.organisation_id)
        .where(*in_period)
        .order_by(Payment.paid_on, Payment.created_at, Payment.id)
    )
    moved = books.settlement.moved
    clients: dict[int | None, tuple[str, str]] = {}
    for row in db.connection().execute(stmt.execution_options(yield_per=BATCH)):
        aux = clients.get(row.organisation_id)
        if aux is None:
            aux = clients[row.organisation_id] = (
                client_code(row.organisation_id),
                _text(row.legal_name or row.name),
            )
        settled = allocated.get(row.id, [])
        label = f"Règlement {', '.join(n for _i, n in settled)}" if settled else f"Règlement {aux[1]}".strip()
        entry = Entry(
            BANK,
            row.paid_on,
            _local_day(row.created_at) or row.paid_on,
            row.reference or f"REG{row.id:06d}",
            row.paid_on,
            label[:200],
        )
        amount = Decimal(row.amount)
        entry.add(chart.bank, amount)
        entry.add(chart.customer, -amount, aux, ("payment", row.id))
        for invoice_id, _number in settled:
            parts = moved.get((row.id, invoice_id))
            if not parts:
                continue
            entry.add(chart.vat_on_hold, sum(parts.values(), ZERO))
            per_account: dict[Account, Decimal] = {}
            for rate, value in parts.items():
                vat_account = _vat_account(chart, rate)
                per_account[vat_account] = per_account.get(vat_account, ZERO) + value
            for account, value in per_account.items():
                entry.add(account, -value)
        if entry.lines:
            yield entry


# -- lettering -------------------------------------------------------------------------------------


def lettering(db: Session, end: date) -> dict[tuple[str, int], tuple[str, date]]:
    """The reconciliation (lettrage, EcritureLet/DateLet) of the customer lines as of `end`:
    invoices, the credit notes that correct them and the payments allocated to them form groups
    (one payment may settle several invoices); a group whose customer lines add up to zero by
    `end` gets one code, `L<smallest invoice id>` (the same in every export), and the date of its
    last movement. A group with money still due or a payment not fully allocated stays blank.
    Judged on the whole ledger, not only the lines the exporting user may see."""
    parent: dict[tuple[str, int], tuple[str, int]] = {}

    def find(node: tuple[str, int]) -> tuple[str, int]:
        root = node
        while parent[root] != root:
            root = parent[root]
        while parent[node] != root:  # path compression
            parent[node], node = root, parent[node]
        return root

    def union(a: tuple[str, int], b: tuple[str, int]) -> None:
        if a in parent and b in parent:
            parent[find(a)] = find(b)

    balance: dict[tuple[str, int], Decimal] = {}
    day: dict[tuple[str, int], date] = {}
    credited: list[tuple[int, int]] = []
    invoices = select(
        Invoice.id,
        Invoice.kind,
        Invoice.amount_due,
        Invoice.total_gross,
        Invoice.issue_date,
        Invoice.credited_invoice_id,
    ).where(Invoice.issued_at.is_not(None), Invoice.issue_date <= end)
    for invoice_id, kind, amount_due, total_gross, issue_date, credited_invoice_id in db.execute(invoices):
        node = ("invoice", invoice_id)
        parent[node] = node
        # the customer line of the sales entry: what is due (after deposits), a credit note credits
        balance[node] = -Decimal(total_gross) if kind == CREDIT_NOTE else Decimal(amount_due)
        day[node] = issue_date
        if kind == CREDIT_NOTE and credited_invoice_id:
            credited.append((invoice_id, credited_invoice_id))
    for payment_id, amount, paid_on in db.execute(
        select(Payment.id, Payment.amount, Payment.paid_on).where(Payment.paid_on <= end)
    ):
        node = ("payment", payment_id)
        parent[node] = node
        balance[node] = -Decimal(amount)
        day[node] = paid_on
    for credit_note_id, invoice_id in credited:
        union(("invoice", credit_note_id), ("invoice", invoice_id))
    for payment_id, invoice_id in db.execute(
        select(PaymentAllocation.payment_id, PaymentAllocation.invoice_id)
        .join(Payment, Payment.id == PaymentAllocation.payment_id)
        .where(Payment.paid_on <= end)
    ):
        union(("payment", payment_id), ("invoice", invoice_id))
    groups: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for node in parent:
        groups.setdefault(find(node), []).append(node)
    letters: dict[tuple[str, int], tuple[str, date]] = {}
    for members in groups.values():
        if len(members) < 2 or sum((balance[m] for m in members), ZERO) != ZERO:
            continue
        invoice_ids = [i for kind, i in members if kind == "invoice"]
        if not invoice_ids:
            continue
        code = f"L{min(invoice_ids)}"
        settled_on = max(day[m] for m in members)
        for member in members:
            letters[member] = (code, settled_on)
    return letters


# -- the file --------------------------------------------------------------------------------------


def _records(
    entries: Iterable[Entry], letters: dict[tuple[str, int], tuple[str, date]]
) -> tuple[list[str], dict[str, int], int, Decimal, Decimal]:
    """The header and one record per line of the entries, the entries numbered per journal; with
    the count of entries per journal, the count of lines and the debit and credit totals."""
    out = [SEPARATOR.join(COLUMNS)]
    days = _DayTexts()
    accounts: dict[Account, str] = {}
    counters: dict[str, int] = {}
    total_debit = total_credit = ZERO
    zero = _amount(ZERO)
    append = out.append
    # Each record is built from the parts its entry shares (the 18 fields in COLUMNS order).
    for entry in entries:
        code, journal_label = entry.journal
        number = counters[code] = counters.get(code, 0) + 1
        head = f"{code}\t{journal_label}\t{code}{number:06d}\t{days[entry.day]}\t"
        middle = f"\t{_text(entry.piece_ref)}\t{days[entry.piece_day]}\t{_text(entry.label)}\t"
        valid_day = days[entry.valid_day]
        tail = f"\t\t\t{valid_day}\t\t"
        for account, amount, aux, settles in entry.lines:
            account_text = accounts.get(account)
            if account_text is None:
                account_text = accounts[account] = f"{account.number}\t{_text(account.label)}"
            if amount > 0:
                total_debit += amount
                sides = f"{amount:.2f}\t{zero}".replace(".", ",", 1)  # _amount, inlined
            else:
                total_credit -= amount
                sides = f"{zero}\t{-amount:.2f}".replace(".", ",", 1)
            end_of_line = tail
            letter = letters.get(settles) if settles else None
            if letter is not None:  # EcritureLet, DateLet
                end_of_line = f"\t{letter[0]}\t{days[letter[1]]}\t{valid_day}\t\t"
            append(f"{head}{account_text}\t{aux[0]}\t{aux[1]}{middle}{sides}{end_of_line}")
    return out, counters, len(out) - 1, total_debit, total_credit


class _DayTexts(dict[date, str]):
    """AAAAMMJJ of each date, written once."""

    def __missing__(self, value: date) -> str:
        text = self[value] = _day(value)
        return text


def build(db: Session, actor: Actor, start: date, end: date) -> FecFile:
    """The FEC of the period [start, end] as the actor may see it (not audited: see export_fec)."""
    company = company_service.get_company(db)
    if not company.siren:
        raise ValidationFailed.on(
            "company", "Complete the company settings (SIREN) before exporting the FEC", "company_incomplete"
        )
    # Millions of short-lived objects and no cycles: the cyclic collector would only slow us down.
    collecting = gc.isenabled()
    gc.disable()
    try:
        books = _books(db, service.chart_of_accounts(db))
        _settle_vat_on_hold(db, books, start, end)
        letters = lettering(db, end)
        # Both journals come in date order; merged by date (sales first on a day), written as they come.
        entries = heapq.merge(
            _sales_entries(db, actor, books, start, end),
            _bank_entries(db, actor, books, start, end),
            key=lambda e: e.day,
        )
        out, counters, count, total_debit, total_credit = _records(entries, letters)
    finally:
        if collecting:
            gc.enable()
    content = (NEWLINE.join(out) + NEWLINE).encode(ENCODING, errors="fec_transliterate")
    return FecFile(
        filename=f"{company.siren}FEC{end:%Y%m%d}.txt",
        content=content,
        entries=sum(counters.values()),
        lines=count,
        total_debit=total_debit,
        total_credit=total_credit,
    )


def export_fec(db: Session, actor: Actor, raw_from: Any, raw_to: Any) -> FecFile:
    """The FEC download: permission `finance:export`, dates checked (422). The caller records the
    export with `record_export` once the file is sent."""
    if not actor.can("finance:export"):
        raise PermissionDenied()
    start, end = parse_period(raw_from, raw_to)
    fec = build(db, actor, start, end)
    fec.period = (start, end)
    return fec


def record_export(actor: Actor, fec: FecFile) -> None:
    """Audit the export like every export (action "export", record type "fec", the period and
    the counts), in a transaction of its own: the request's session is over by then."""
    assert fec.period is not None
    start, end = fec.period
    with get_database().begin() as db:
        audit.record(
            db,
            actor,
            "export",
            "fec",
            None,
            {
                "format": "fec",
                "filters": {"from": start.isoformat(), "to": end.isoformat()},
                "rows": fec.lines,
                "entries": fec.entries,
                "complete": True,
            },
            fec.filename,
        )
