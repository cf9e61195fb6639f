"""Recurring-revenue formulas on a hand-computed data set (see each expected value's comment).

Today is 2026-03-15; figures for March 2026 are measured on that day, February on the 28th.
  A org 1  2025-01-01 → renewed on 2025-12-31 → 2026-12-31, 1000 €/month
  B org 2  2025-06-01 → 2026-05-31, 6000 €/year = 500 €/month
  C org 3  2025-03-01 → 2026-02-28, 900 €/quarter = 300 €/month, expired
  D org 2  2025-09-01 → 2026-08-31, 200 €/month, terminated for price from 2026-02-10
  E org 4  2026-02-01 → 2027-01-31, 400 €/month, amended to 600 € from 2026-03-01
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from carnet.contracts.figures import ContractFacts, Horizon, MonthPoint, ReasonTotal, Terms, compute

D = Decimal
TODAY = date(2026, 3, 15)
DATA = [
    ContractFacts(
        1,
        1,
        "renewed",
        date(2025, 1, 1),
        date(2026, 12, 31),
        (Terms(date(2025, 1, 1), D("1000"), "monthly"),),
        renewals=(date(2025, 12, 31),),
    ),
    ContractFacts(
        2, 2, "active", date(2025, 6, 1), date(2026, 5, 31), (Terms(date(2025, 6, 1), D("6000"), "yearly"),)
    ),
    ContractFacts(
        3,
        3,
        "expired",
        date(2025, 3, 1),
        date(2026, 2, 28),
        (Terms(date(2025, 3, 1), D("900"), "quarterly"),),
    ),
    ContractFacts(
        4,
        2,
        "terminated",
        date(2025, 9, 1),
        date(2026, 8, 31),
        (Terms(date(2025, 9, 1), D("200"), "monthly"),),
        termination_date=date(2026, 2, 10),
        termination_reason="price",
    ),
    ContractFacts(
        5,
        4,
        "active",
        date(2026, 2, 1),
        date(2027, 1, 31),
        (Terms(date(2026, 2, 1), D("400"), "monthly"), Terms(date(2026, 3, 1), D("600"), "monthly")),
    ),
]


def test_march_2026_by_hand():
    f = compute(DATA, date(2026, 3, 1), TODAY)
    assert f.as_of == TODAY
    assert f.mrr == D("2100.00")  # A 1000 + B 500 + E 600 (C ended 28/02, D terminated)
    assert f.arr == D("25200.00")
    assert f.previous_mrr == D("2200.00")  # 28/02: A 1000 + B 500 + C 300 + E 400
    assert (f.mrr_change, f.mrr_change_percent) == (D("-100.00"), D("-4.5"))  # −100 / 2200
    assert (f.customers, f.arpa) == (3, D("700.00"))  # orgs 1, 2, 4: 2100 / 3
    # Customers on 28/02 {1, 2, 3, 4}; org 3 has no live contract on 15/03: 1 / 4.
    assert (f.churn_start_customers, f.churned_customers, f.churn_rate) == (4, 1, D("25.0"))
    # Only March lost a customer in the 12 months: (0.25 + 11 × 0) / 12 = 2.08 %.
    assert f.average_churn_rate == D("2.1")
    assert f.lifetime_value == D("33600.00")  # 700 / (0.25 / 12)
    # Ended in 01/04/2025–15/03/2026: A renewed (31/12), C expired (28/02), D terminated (last day 09/02).
    assert (f.renewed, f.came_to_end, f.renewal_rate) == (1, 3, D("33.3"))
    assert f.churn_by_reason == [
        ReasonTotal("price", 1, D("200.00")),
        ReasonTotal("not_renewed", 1, D("300.00")),
    ]
    # Only B (ends 31/05, in 77 days) is due within the horizons.
    assert f.to_renew == [Horizon(30, 0, D("0.00")), Horizon(60, 0, D("0.00")), Horizon(90, 1, D("500.00"))]
    assert f.series == [
        MonthPoint(date(2025, 4, 1), D("1300.00")),  # A + C
        MonthPoint(date(2025, 5, 1), D("1300.00")),
        MonthPoint(date(2025, 6, 1), D("1800.00")),  # + B
        MonthPoint(date(2025, 7, 1), D("1800.00")),
        MonthPoint(date(2025, 8, 1), D("1800.00")),
        MonthPoint(date(2025, 9, 1), D("2000.00")),  # + D
        MonthPoint(date(2025, 10, 1), D("2000.00")),
        MonthPoint(date(2025, 11, 1), D("2000.00")),
        MonthPoint(date(2025, 12, 1), D("2000.00")),
        MonthPoint(date(2026, 1, 1), D("2000.00")),
        MonthPoint(date(2026, 2, 1), D("2200.00")),  # − D + E (400)
        MonthPoint(date(2026, 3, 1), D("2100.00")),  # − C, E at 600
    ]


def test_february_2026_by_hand():
    f = compute(DATA, date(2026, 2, 14), TODAY)
    assert f.as_of == date(2026, 2, 28)
    assert (f.mrr, f.previous_mrr, f.mrr_change, f.mrr_change_percent) == (
        D("2200.00"),
        D("2000.00"),
        D("200.00"),
        D("10.0"),
    )
    # D's customer (org 2) keeps B: nobody is lost in February.
    assert (f.churn_start_customers, f.churned_customers, f.churn_rate) == (3, 0, D("0.0"))
    assert f.lifetime_value is None  # no churn over the 12 months: no finite lifetime
    assert (f.renewed, f.came_to_end, f.renewal_rate) == (1, 3, D("33.3"))


def test_no_contract_gives_no_rate():
    f = compute([], date(2026, 3, 1), TODAY)
    assert (f.mrr, f.arr, f.mrr_change_percent, f.churn_rate, f.renewal_rate, f.arpa, f.lifetime_value) == (
        D("0.00"),
        D("0.00"),
        None,
        None,
        None,
        None,
        None,
    )
