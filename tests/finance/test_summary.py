"""The finance dashboard figures on a hand-built data set, clock frozen on 2026-11-21 (Paris).

Invoices of the Commercial department (manager), one line each at 20 % VAT, 30 days unless said:
  A 1000.00 + 200.00 = 1200.00 issued 2026-06-10, due 07-10, unpaid (134 days late)
  F  400.00 +  80.00 =  480.00 issued 2026-08-01, fully credited on 2026-08-05
  B 2000.00 + 400.00 = 2400.00 issued 2026-09-15, due 10-15, 1000.00 paid on 10-20 (37 days late)
  C  500.00 + 100.00 =  600.00 issued 2026-10-05, due 11-04, 500.00 paid on 11-10 (17 days late)
  D  250.00 +  50.00 =  300.00 issued 2026-11-02, due 12-02
  E  100.00 +  20.00 =  120.00 issued 2026-11-20 at 60 days, due 2027-01-19
A contract of 100.00 a month excl. VAT (120.00 incl. VAT) from 2026-11-01 to 2027-10-31, billed by
hand: the periods of 12-01, 01-01 and 02-01 are expected at 30 days (12-31, 01-31, 03-03).
"""

from __future__ import annotations

import pytest

from .conftest import line

ZERO_MONTHS = {
    "2025-12", "2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-07",
}  # fmt: skip


@pytest.fixture
def dataset(api, company, client_org, issue, pay):
    manager = api("manager")

    def invoice(amount: str, issued_on: str, **extra) -> dict:
        r = manager.post(
            "/api/v1/invoices", json={"organisation_id": client_org, "lines": [line(amount)], **extra}
        )
        assert r.status_code == 201, r.text
        return issue(r.json(), issue_date=issued_on)

    a = invoice("1000", "2026-06-10")
    f = invoice("400", "2026-08-01")
    credit = manager.post(f"/api/v1/invoices/{f['id']}/credit-notes", json={}).json()
    issue(credit, issue_date="2026-08-05")
    b = invoice("2000", "2026-09-15")
    c = invoice("500", "2026-10-05")
    d = invoice("250", "2026-11-02")
    e = invoice("100", "2026-11-20", payment_terms="60_days")
    pay(client_org, "2026-10-20", "1000.00", b["id"])
    pay(client_org, "2026-11-10", "500.00", c["id"])
    r = manager.post(
        "/api/v1/contracts",
        json={
            "title": "Maintenance",
            "organisation_id": client_org,
            "contract_type": "maintenance",
            "start_date": "2026-11-01",
            "end_date": "2027-10-31",
            "amount": "100.00",
            "billing_period": "monthly",
        },
    )
    assert r.status_code == 201, r.text
    return {"a": a, "b": b, "c": c, "d": d, "e": e}


def _summary(api, who: str) -> dict:
    r = api(who).get("/api/v1/finance/summary")
    assert r.status_code == 200, r.text
    return r.json()


def test_summary_figures(api, dataset):
    s = _summary(api, "manager")
    assert s["today"] == "2026-11-21"
    months = {m["month"]: (m["invoiced"], m["collected"]) for m in s["months"]}
    assert list(months) == [
        "2025-12", "2026-01", "2026-02", "2026-03", "2026-04", "2026-05",
        "2026-06", "2026-07", "2026-08", "2026-09", "2026-10", "2026-11",
    ]  # fmt: skip
    assert {k: v for k, v in months.items() if k not in ZERO_MONTHS} == {
        "2026-06": ("1200.00", "0.00"),
        "2026-08": ("0.00", "0.00"),  # 480.00 invoiced, 480.00 credited
        "2026-09": ("2400.00", "0.00"),
        "2026-10": ("600.00", "1000.00"),
        "2026-11": ("420.00", "500.00"),
    }
    assert all(months[k] == ("0.00", "0.00") for k in ZERO_MONTHS)
    assert s["unpaid"] == {"count": 5, "total": "3120.00"}
    assert s["aged_receivables"] == [
        {"bucket": "not_due", "count": 2, "amount": "420.00"},
        {"bucket": "0_30", "count": 1, "amount": "100.00"},
        {"bucket": "31_60", "count": 1, "amount": "1400.00"},
        {"bucket": "61_90", "count": 0, "amount": "0.00"},
        {"bucket": "over_90", "count": 1, "amount": "1200.00"},
    ]
    assert s["cash_forecast"] == [
        {"days": 30, "until": "2026-12-21", "invoices": "300.00", "contracts": "0.00", "total": "300.00"},
        {"days": 60, "until": "2027-01-20", "invoices": "420.00", "contracts": "120.00", "total": "540.00"},
        {"days": 90, "until": "2027-02-19", "invoices": "420.00", "contracts": "240.00", "total": "660.00"},
    ]
    assert s["contracts_included"] is True
    assert s["recurring"] == {
        "mrr": "100.00",
        "arr": "1200.00",
        "previous_mrr": "0.00",
        "mrr_change": "100.00",
        "mrr_change_percent": None,
    }
    assert _summary(api, "admin") == s  # the admin sees the same records


def test_a_user_sees_the_totals_of_the_invoices_they_may_see(
    api, dataset, finance_org, make_invoice, issue, pay
):
    s = _summary(api, "fiona")  # Finance department: none of the Commercial department's records
    assert all(m["invoiced"] == m["collected"] == "0.00" for m in s["months"])
    assert s["unpaid"] == {"count": 0, "total": "0.00"}
    assert [f["total"] for f in s["cash_forecast"]] == ["0.00", "0.00", "0.00"]
    assert s["recurring"]["mrr"] == "0.00"
    mine = issue(
        make_invoice(who="fiona", organisation_id=finance_org, lines=[line("50")]),
        who="fiona",
        issue_date="2026-11-21",
    )
    pay(finance_org, "2026-11-21", "20.00", mine["id"], who="fiona")
    s = _summary(api, "fiona")
    assert s["months"][-1] == {"month": "2026-11", "invoiced": "60.00", "collected": "20.00"}
    assert s["unpaid"] == {"count": 1, "total": "40.00"}
    assert s["cash_forecast"][0]["invoices"] == "40.00"  # due 2026-12-21, the last day of J+30
    admin = _summary(api, "admin")
    assert admin["unpaid"] == {"count": 6, "total": "3160.00"}
    assert admin["months"][-1] == {"month": "2026-11", "invoiced": "480.00", "collected": "520.00"}


def test_permissions(api, company):
    assert api("alice").get("/api/v1/finance/summary").status_code == 403  # sales: no finance
    assert api("reader").get("/api/v1/finance/summary").status_code == 200
    assert api("fiona").get("/api/v1/finance/summary").status_code == 200


def test_automatic_billing_counts_from_the_next_billing_date(api, company, client_org):
    r = api("manager").post(
        "/api/v1/contracts",
        json={
            "title": "Abonnement",
            "organisation_id": client_org,
            "contract_type": "subscription",
            "start_date": "2026-10-01",
            "end_date": "2027-09-30",
            "amount": "300.00",
            "vat_rate": "20",
            "billing_period": "quarterly",
            "auto_invoice": True,
            "next_billing_date": "2026-10-01",
        },
    )
    assert r.status_code == 201, r.text
    # not invoiced yet: the quarter of 10-01 is expected on 10-31 (past: not in the forecast),
    # the next one, 2027-01-01, on 01-31 (J+90); MRR 300 / 3 = 100
    s = _summary(api, "manager")
    assert [f["contracts"] for f in s["cash_forecast"]] == ["0.00", "0.00", "360.00"]
    assert s["recurring"]["mrr"] == "100.00"
