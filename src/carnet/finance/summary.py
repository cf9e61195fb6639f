"""The finance dashboard's figures, over the invoices (and contracts) the user may see.

Definitions (amounts incl. VAT: they are what the bank account sees; dates are French dates):
- *invoiced* in month M: Σ total incl. VAT of the invoices and deposit invoices issued in M, less
  the credit notes issued in M;
- *collected* in month M: Σ of the payment allocations to those invoices whose payment is dated
  in M (money not yet allocated to an invoice, a client's credit, is not counted);
- *balance* of an invoice: amount due − paid − credited (never below 0); *unpaid* invoices are
  the issued ones still waiting for money (issued, partially paid, overdue);
- *aged receivables*: the unpaid balances by days past the due date on today: not yet due,
  0–30 (due today included), 31–60, 61–90, over 90;
- *cash forecast* at J+30, J+60, J+90 (cumulative): the balances of unpaid invoices due between
  today and today + N days, plus the contract billings expected in that window. Balances already
  past due are in the aged receivables, not in the forecast;
- *contract billing*: each running contract the user may see is billed per period (its terms in
  force on the period's first day, amount × (1 + VAT rate)); the billings not invoiced yet (from
  `next_billing_date` for automatically invoiced contracts, otherwise the periods starting after
  today) are expected on the due date that the company's default payment terms give a periodic
  invoice issued on the period's first day (france.md §1.4). A tacit-renewal contract keeps
  billing after its end date; other contracts stop at their end (or termination);
- MRR, ARR and their change come from the contracts module (`recurring_figures`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.company import service as company_service
from carnet.contracts import figures as contract_figures
from carnet.contracts import service as contracts
from carnet.contracts.models import RUNNING_STATUSES, Contract
from carnet.core import money
from carnet.core.context import Actor
from carnet.core.errors import PermissionDenied
from carnet.documents import terms
from carnet.invoices import service as invoices
from carnet.invoices.models import CREDIT_NOTE, OPEN_STATUSES, Invoice
from carnet.payments.models import Payment, PaymentAllocation

ZERO = Decimal("0.00")
HORIZONS = (30, 60, 90)
AGE_BUCKETS = ("not_due", "0_30", "31_60", "61_90", "over_90")
MONTHS = 12
MAX_PERIODS = 400  # per contract and forecast: a daily contract over 90 days stays bounded


@dataclass
class MonthFigures:
    month: date
    invoiced: Decimal = ZERO
    collected: Decimal = ZERO


@dataclass
class Bucket:
    key: str
    count: int = 0
    amount: Decimal = ZERO


@dataclass
class Forecast:
    days: int
    until: date
    invoices: Decimal = ZERO
    contracts: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.invoices + self.contracts


@dataclass
class Summary:
    today: date
    months: list[MonthFigures]
    unpaid_count: int
    unpaid_total: Decimal
    aged: list[Bucket]
    forecast: list[Forecast]
    recurring: Any | None = None  # contracts.figures.Figures when the user may read contracts
    contracts_included: bool = False
    top_month: Decimal = field(default=ZERO)


def _add_months(day: date, months: int) -> date:
    return contract_figures.add_months(day, months)


def _month_key(day: date) -> date:
    return day.replace(day=1)


def age_bucket(due: date | None, today: date) -> str:
    if due is None or due > today:
        return "not_due"
    late = (today - due).days
    if late <= 30:
        return "0_30"
    if late <= 60:
        return "31_60"
    if late <= 90:
        return "61_90"
    return "over_90"


def _monthly(db: Session, actor: Actor, first: date, today: date) -> list[MonthFigures]:
    months = {_add_months(first, i): MonthFigures(_add_months(first, i)) for i in range(MONTHS)}
    visible = invoices.visible_clause(db, actor)
    rows = db.execute(
        select(Invoice.kind, Invoice.issue_date, Invoice.total_gross).where(
            Invoice.issued_at.is_not(None), Invoice.issue_date >= first, Invoice.issue_date <= today, visible
        )
    )
    for kind, issued_on, gross in rows:
        sign = -1 if kind == CREDIT_NOTE else 1
        months[_month_key(issued_on)].invoiced += sign * Decimal(gross)
    collected = db.execute(
        select(Payment.paid_on, PaymentAllocation.amount)
        .join(PaymentAllocation, PaymentAllocation.payment_id == Payment.id)
        .join(Invoice, Invoice.id == PaymentAllocation.invoice_id)
        .where(Payment.paid_on >= first, Payment.paid_on <= today, visible)
    )
    for paid_on, amount in collected:
        months[_month_key(paid_on)].collected += Decimal(amount)
    return [months[m] for m in sorted(months)]


def _contract_billings(db: Session, actor: Actor, today: date, until: date) -> list[tuple[date, Decimal]]:
    """(expected cash date, amount incl. VAT) of the contract billings expected by `until`."""
    company = company_service.get_company(db)
    rows = list(
        db.scalars(
            select(Contract)
            .where(Contract.status.in_(RUNNING_STATUSES), contracts.visible_clause(db, actor))
            .order_by(Contract.id)
        )
    )
    out: list[tuple[date, Decimal]] = []
    for contract, facts in zip(rows, contracts.facts_of(db, rows), strict=True):
        if contract.auto_invoice and contract.next_billing_date:
            anchor, skip_past = contract.next_billing_date, False
        else:
            anchor, skip_past = contract.period_start or contract.start_date, True
        months = contract_figures.PERIOD_MONTHS[contract_figures.terms_on(facts, anchor).billing_period]
        for k in range(MAX_PERIODS):
            start = _add_months(anchor, k * months)
            if start > until:
                break
            if skip_past and start <= today:
                continue
            live = contract_figures.is_live(facts, start) or (
                contract.tacit_renewal and start > facts.end_date and facts.termination_date is None
            )
            if not live:
                if start > facts.end_date or (facts.termination_date and start >= facts.termination_date):
                    break
                continue
            in_force = contract_figures.terms_on(facts, start)
            amount = money.cents(Decimal(in_force.amount) * (100 + Decimal(in_force.vat_rate)) / 100)
            expected = terms.due_date(start, company.default_payment_terms, periodic=True)
            if today <= expected <= until:
                out.append((expected, amount))
    return out


def compute(db: Session, actor: Actor) -> Summary:
    """Every figure of the dashboard, on today (France), for what `actor` may see."""
    if not actor.can("finance:read"):
        raise PermissionDenied()
    today = invoices.today()
    first = _add_months(today.replace(day=1), -(MONTHS - 1))
    if not actor.can("invoices:read"):
        months = [MonthFigures(_add_months(first, i)) for i in range(MONTHS)]
        open_rows: list[Any] = []
    else:
        months = _monthly(db, actor, first, today)
        open_rows = db.execute(
            select(
                Invoice.due_date,
                Invoice.amount_due - Invoice.amount_paid - Invoice.amount_credited,
            ).where(
                Invoice.issued_at.is_not(None),
                Invoice.kind != CREDIT_NOTE,
                Invoice.status.in_(OPEN_STATUSES),
                invoices.visible_clause(db, actor),
            )
        ).all()
    aged = {key: Bucket(key) for key in AGE_BUCKETS}
    forecast = [Forecast(days, today + timedelta(days)) for days in HORIZONS]
    unpaid_count, unpaid_total = 0, ZERO
    for due, left in open_rows:
        balance = max(money.cents(Decimal(left)), ZERO)
        if not balance:
            continue
        unpaid_count += 1
        unpaid_total += balance
        bucket = aged[age_bucket(due, today)]
        bucket.count += 1
        bucket.amount += balance
        for f in forecast:
            if due is not None and today <= due <= f.until:
                f.invoices += balance
    recurring = None
    contracts_included = actor.can("contracts:read")
    if contracts_included:
        for expected, amount in _contract_billings(db, actor, today, forecast[-1].until):
            for f in forecast:
                if expected <= f.until:
                    f.contracts += amount
        recurring = contracts.recurring_figures(db, actor)
    top = max((max(m.invoiced, m.collected) for m in months), default=ZERO)
    return Summary(
        today=today,
        months=months,
        unpaid_count=unpaid_count,
        unpaid_total=unpaid_total,
        aged=[aged[k] for k in AGE_BUCKETS],
        forecast=forecast,
        recurring=recurring,
        contracts_included=contracts_included,
        top_month=top,
    )


def to_read(summary: Summary) -> dict[str, Any]:
    m = money.money_str
    out: dict[str, Any] = {
        "today": summary.today,
        "currency": "EUR",
        "months": [
            {"month": x.month.isoformat()[:7], "invoiced": m(x.invoiced), "collected": m(x.collected)}
            for x in summary.months
        ],
        "unpaid": {"count": summary.unpaid_count, "total": m(summary.unpaid_total)},
        "aged_receivables": [
            {"bucket": b.key, "count": b.count, "amount": m(b.amount)} for b in summary.aged
        ],
        "cash_forecast": [
            {
                "days": f.days,
                "until": f.until,
                "invoices": m(f.invoices),
                "contracts": m(f.contracts),
                "total": m(f.total),
            }
            for f in summary.forecast
        ],
        "contracts_included": summary.contracts_included,
        "recurring": None,
    }
    if summary.recurring is not None:
        r = summary.recurring
        out["recurring"] = {
            "mrr": m(r.mrr),
            "arr": m(r.arr),
            "previous_mrr": m(r.previous_mrr),
            "mrr_change": m(r.mrr_change),
            "mrr_change_percent": None if r.mrr_change_percent is None else f"{r.mrr_change_percent:.1f}",
        }
    return out
