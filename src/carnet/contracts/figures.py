"""Recurring-revenue figures, computed from plain facts about contracts (no database here, so each
formula is tested on a hand-computed data set).

Vocabulary used by every formula:
- *monthly value* of a contract on day d: the amount (excl. VAT) of the terms in force on d (the
  latest version whose effective date is on or before d) divided by the months of its billing
  period (monthly 1, quarterly 3, yearly 12). Sums are rounded half-up to the cent at the end.
- a contract is *live* on day d when start_date ≤ d ≤ end_date (the end of its current period:
  renewals move it forward without a gap) and, if terminated, d < termination_date (the effective
  date: no service from that day on).
- *as of* month M: the last day of M, or today while M is the current month (the future is not
  known yet).
- a *customer* is an organisation with at least one live contract.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from carnet.core.money import cents

PERIOD_MONTHS = {"monthly": 1, "quarterly": 3, "yearly": 12}
HORIZONS = (30, 60, 90)
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Terms:
    effective_date: date
    amount: Decimal
    billing_period: str
    vat_rate: Decimal = Decimal("20.00")


@dataclass(frozen=True)
class ContractFacts:
    id: int
    organisation_id: int | None
    status: str
    start_date: date
    end_date: date
    terms: tuple[Terms, ...]  # ordered by effective date
    termination_date: date | None = None
    termination_reason: str | None = None
    renewals: tuple[date, ...] = ()  # end dates of the periods that were renewed


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the end of a shorter month (31 Jan + 1 → 28 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def as_of(month: date, today: date) -> date:
    """The day month M is measured on: its last day, or today while it is the current month."""
    return min(month_end(month), today)


def terms_on(facts: ContractFacts, day: date) -> Terms:
    current = facts.terms[0]
    for terms in facts.terms:
        if terms.effective_date <= day:
            current = terms
    return current


def monthly_value(facts: ContractFacts, day: date) -> Decimal:
    """Unrounded monthly value of the terms in force on `day`."""
    terms = terms_on(facts, day)
    return Decimal(terms.amount) / PERIOD_MONTHS[terms.billing_period]


def is_live(facts: ContractFacts, day: date) -> bool:
    if not facts.start_date <= day <= facts.end_date:
        return False
    return facts.termination_date is None or day < facts.termination_date


def mrr(contracts: Iterable[ContractFacts], day: date) -> Decimal:
    """MRR on `day` = Σ monthly value of the contracts live on that day."""
    return cents(sum((monthly_value(c, day) for c in contracts if is_live(c, day)), Decimal(0)))


def customers(contracts: Iterable[ContractFacts], day: date) -> set[int]:
    return {c.organisation_id for c in contracts if c.organisation_id is not None and is_live(c, day)}


def percent(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    """part / whole × 100 with one decimal, None when whole is 0."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"))


def monthly_churn(
    contracts: list[ContractFacts], month: date, today: date
) -> tuple[int, int, Decimal | None]:
    """Monthly (customer) churn rate of month M = customers live on the last day of M−1 who have no
    live contract any more as of M, ÷ customers live on the last day of M−1, × 100.
    Returns (customers at start, customers lost, rate or None when there was none at start)."""
    start_day = month_start(month) - timedelta(days=1)
    at_start = customers(contracts, start_day)
    at_end = customers(contracts, as_of(month, today))
    lost = len(at_start - at_end)
    return len(at_start), lost, percent(lost, len(at_start))


def trailing_window(month: date, today: date) -> tuple[date, date]:
    """The 12 months ending with M: first day of M−11 to as-of M."""
    return add_months(month_start(month), -11), as_of(month, today)


def renewal_rate(contracts: list[ContractFacts], month: date, today: date) -> tuple[int, int, Decimal | None]:
    """Renewal rate over the 12 months ending with M = periods renewed ÷ periods that came to an
    end, × 100. A period *came to an end* in the window when its end date lies in it and it was
    renewed (tacitly or by decision), or the contract expired on that end date, or was terminated
    with an effective date in the window (its last day of service, termination_date − 1, lies in
    it). Returns (renewed, ended, rate or None when nothing ended)."""
    first, last = trailing_window(month, today)
    renewed = sum(1 for c in contracts for end in c.renewals if first <= end <= last)
    lost = 0
    for c in contracts:
        if c.status == "terminated" and c.termination_date is not None:
            if first <= c.termination_date - timedelta(days=1) <= last:
                lost += 1
        elif c.status == "expired" and first <= c.end_date <= last:
            lost += 1
    return renewed, renewed + lost, percent(renewed, renewed + lost)


@dataclass(frozen=True)
class ReasonTotal:
    reason: str  # price, dissatisfaction, competitor, other, or not_renewed (expired)
    count: int
    mrr: Decimal  # monthly value lost: on the last day of service


def churn_by_reason(contracts: list[ContractFacts], month: date, today: date) -> list[ReasonTotal]:
    """Contracts lost over the 12 months ending with M, per reason: terminated ones by their
    termination reason (last day of service in the window), expired ones as `not_renewed` (end
    date in the window). Each with the monthly value it had on its last day of service."""
    first, last = trailing_window(month, today)
    counts: dict[str, int] = {}
    values: dict[str, Decimal] = {}
    for c in contracts:
        if c.status == "terminated" and c.termination_date is not None:
            last_day, reason = c.termination_date - timedelta(days=1), c.termination_reason or "other"
        elif c.status == "expired":
            last_day, reason = c.end_date, "not_renewed"
        else:
            continue
        if not first <= last_day <= last or last_day < c.start_date:
            continue
        counts[reason] = counts.get(reason, 0) + 1
        values[reason] = values.get(reason, Decimal(0)) + monthly_value(c, last_day)
    order = ("price", "dissatisfaction", "competitor", "other", "not_renewed")
    return [ReasonTotal(r, counts[r], cents(values[r])) for r in order if r in counts]


@dataclass(frozen=True)
class Horizon:
    days: int
    count: int
    mrr: Decimal


def to_renew(contracts: list[ContractFacts], today: date) -> list[Horizon]:
    """Running contracts (active, to renew, renewed) whose current period ends within 30, 60 and
    90 days from today (today included; the horizons are cumulative), with their monthly value."""
    out = []
    for days in HORIZONS:
        due = [
            c
            for c in contracts
            if c.status in ("active", "to_renew", "renewed")
            and today <= c.end_date <= today + timedelta(days)
        ]
        out.append(Horizon(days, len(due), cents(sum((monthly_value(c, today) for c in due), Decimal(0)))))
    return out


@dataclass(frozen=True)
class MonthPoint:
    month: date
    mrr: Decimal


@dataclass
class Figures:
    month: date
    as_of: date
    mrr: Decimal
    arr: Decimal
    previous_mrr: Decimal
    mrr_change: Decimal
    mrr_change_percent: Decimal | None
    customers: int
    arpa: Decimal | None
    churn_start_customers: int
    churned_customers: int
    churn_rate: Decimal | None
    average_churn_rate: Decimal | None
    lifetime_value: Decimal | None
    renewed: int
    came_to_end: int
    renewal_rate: Decimal | None
    to_renew: list[Horizon]
    churn_by_reason: list[ReasonTotal]
    series: list[MonthPoint] = field(default_factory=list)


def compute(contracts: list[ContractFacts], month: date, today: date) -> Figures:
    """Every figure for month M (any day of M), measured as of M.

    - MRR = MRR on as-of M; ARR = 12 × MRR.
    - Month-over-month change = MRR(M) − MRR(M−1), and as a % of MRR(M−1) (None when it was 0).
    - ARPA (average revenue per account) = MRR ÷ customers as of M.
    - Average monthly churn = the mean of the monthly churn rates of the 12 months ending with M
      (months with no customer at their start are left out).
    - Customer lifetime value = ARPA ÷ average monthly churn (as a fraction): the revenue a
      customer brings over its expected lifetime of 1 / churn months; None without churn.
    - Renewal rate, churn by reason and contracts to renew: see their functions.
    """
    month = month_start(month)
    day = as_of(month, today)
    previous = add_months(month, -1)
    current_mrr = mrr(contracts, day)
    previous_mrr = mrr(contracts, as_of(previous, today))
    change = current_mrr - previous_mrr
    live_customers = customers(contracts, day)
    arpa = cents(current_mrr / len(live_customers)) if live_customers else None
    start_count, lost, churn = monthly_churn(contracts, month, today)
    rates = []
    for back in range(12):
        m = add_months(month, -back)
        n, gone, _rate = monthly_churn(contracts, m, today)
        if n:
            rates.append(Decimal(gone) / n)
    average = sum(rates, Decimal(0)) / len(rates) if rates else None
    clv = cents(arpa / average) if arpa is not None and average else None
    renewed, ended, rate = renewal_rate(contracts, month, today)
    series = [
        MonthPoint(add_months(month, -back), mrr(contracts, as_of(add_months(month, -back), today)))
        for back in range(11, -1, -1)
    ]
    return Figures(
        month=month,
        as_of=day,
        mrr=current_mrr,
        arr=cents(current_mrr * 12),
        previous_mrr=previous_mrr,
        mrr_change=change,
        mrr_change_percent=percent(change, previous_mrr),
        customers=len(live_customers),
        arpa=arpa,
        churn_start_customers=start_count,
        churned_customers=lost,
        churn_rate=churn,
        average_churn_rate=(average * 100).quantize(Decimal("0.1")) if average is not None else None,
        lifetime_value=clv,
        renewed=renewed,
        came_to_end=ended,
        renewal_rate=rate,
        to_renew=to_renew(contracts, today),
        churn_by_reason=churn_by_reason(contracts, month, today),
        series=series,
    )
