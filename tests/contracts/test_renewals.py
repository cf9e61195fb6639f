"""The daily contracts job with the clock moved: renewal alerts at J-90, J-60, J-30 (once each),
tacit renewal on the end date, expiry the day after, automatic invoices per billing period, and
the MRR and renewal rate across those changes."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from carnet.contracts.models import ContractAlert
from carnet.core import clock, jobs
from carnet.core.events import Event
from carnet.core.mail import OutgoingEmail
from carnet.notifications.models import Notification
from carnet.tasks.models import Task


def at(day: str) -> None:
    """Move the clock to 10:00 Paris on `day` and run what is due."""
    clock.freeze(datetime.fromisoformat(f"{day}T09:00:00").replace(tzinfo=UTC))
    jobs.drain()


def _alerts(db, contract_id):
    rows = db.execute(
        select(ContractAlert.offset_days, ContractAlert.period_end, ContractAlert.sent)
        .where(ContractAlert.contract_id == contract_id)
        .order_by(ContractAlert.period_end, ContractAlert.offset_days.desc())
    )
    return [(o, p.isoformat(), s) for o, p, s in rows]


def _types(db, contract_id):
    rows = db.scalars(
        select(Event.type)
        .where(Event.record_type == "contract", Event.record_id == contract_id)
        .order_by(Event.id)
    )
    return list(rows)


def test_alerts_once_each_then_tacit_renewal(make_contract, api, db, personas):
    c = make_contract(
        start_date="2025-04-01",
        tacit_renewal=True,
        notice_days=60,
        client_email="achats@clinique-alpes.fr",
        notify_client=True,
    )
    assert c["end_date"] == "2026-03-31"
    at("2026-01-15")  # 75 days left: J-90
    at("2026-01-15")  # again the same day: nothing new
    assert _alerts(db, c["id"]) == [(90, "2026-03-31", True)]
    body = api("manager").get(f"/api/v1/contracts/{c['id']}").json()
    assert body["status"] == "to_renew"
    tasks = list(db.scalars(select(Task).where(Task.owner_id == personas["manager"].id).order_by(Task.id)))
    assert len(tasks) == 1
    assert tasks[0].record_type == "organisation" and tasks[0].record_id == c["organisation_id"]
    assert tasks[0].due_at == datetime(2026, 1, 30, 8, 0, tzinfo=UTC)  # notice deadline, 09:00 Paris
    assert tasks[0].title == "Contrat à renouveler avant le 31 mars 2026 : Maintenance des lits"

    at("2026-02-01")  # 58 days: J-60
    at("2026-03-02")  # 29 days: J-30
    at("2026-03-03")
    assert _alerts(db, c["id"]) == [
        (90, "2026-03-31", True),
        (60, "2026-03-31", True),
        (30, "2026-03-31", True),
    ]
    notes = db.scalars(
        select(Notification.title).where(
            Notification.user_id == personas["manager"].id, Notification.type == "contract_renewal"
        )
    ).all()
    assert len(notes) == 3
    emails = db.scalars(select(OutgoingEmail.to_address).where(OutgoingEmail.record_type == "contract")).all()
    # The owner by email (their default for renewals) and the client, once per alert.
    assert sorted(emails) == ["achats@clinique-alpes.fr"] * 3 + ["manager@example.fr"] * 3
    assert db.scalar(select(Task.priority).order_by(Task.id.desc()).limit(1)) == "high"  # J-30

    at("2026-03-30")
    assert api("manager").get(f"/api/v1/contracts/{c['id']}").json()["end_date"] == "2026-03-31"
    at("2026-03-31")  # the end date: renews itself for 12 months
    body = api("manager").get(f"/api/v1/contracts/{c['id']}").json()
    assert (body["status"], body["period_start"], body["end_date"], body["renewal_count"]) == (
        "renewed",
        "2026-04-01",
        "2027-03-31",
        1,
    )
    renewals = api("manager").get(f"/api/v1/contracts/{c['id']}/renewals").json()
    assert [(r["kind"], r["previous_end"], r["new_end"]) for r in renewals] == [
        ("tacit", "2026-03-31", "2027-03-31")
    ]
    at("2026-04-01")
    assert len(api("manager").get(f"/api/v1/contracts/{c['id']}/renewals").json()) == 1
    assert _types(db, c["id"]).count("contract.renewed") == 1
    # The new period gets its own alerts, J-90 before 31/03/2027.
    at("2026-12-31")
    assert _alerts(db, c["id"])[-1] == (90, "2027-03-31", True)


def test_closest_alert_only_when_created_late(make_contract, db):
    c = make_contract(start_date="2025-02-01")  # ends 31/01/2026: 16 days left on 15/01
    at("2026-01-15")
    assert _alerts(db, c["id"]) == [
        (90, "2026-01-31", False),
        (60, "2026-01-31", False),
        (30, "2026-01-31", True),
    ]
    assert db.scalar(select(Notification.id).where(Notification.type == "contract_renewal")) is not None


def test_expiry_and_figures_across_the_renewal(make_contract, make_org, api, db):
    tacit = make_contract(start_date="2025-04-01", tacit_renewal=True, amount="1000")
    other = make_contract(start_date="2025-04-01", amount="500", organisation_id=make_org("Pharmacie du Lac"))
    march = api("manager").get("/api/v1/finance/recurring?month=2026-03").json()
    assert (march["mrr"], march["arr"], march["customers"]) == ("1500.00", "18000.00", 2)
    assert march["to_renew"] == [
        {"days": 30, "count": 0, "mrr": "0.00"},
        {"days": 60, "count": 0, "mrr": "0.00"},
        {"days": 90, "count": 2, "mrr": "1500.00"},
    ]
    at("2026-03-31")
    assert api("manager").get(f"/api/v1/contracts/{other['id']}").json()["status"] == "to_renew"
    at("2026-04-01")  # the day after the end date: the other one expires
    body = api("manager").get(f"/api/v1/contracts/{other['id']}").json()
    assert body["status"] == "expired" and body["expired_at"] is not None
    assert "contract.expired" in _types(db, other["id"])
    assert api("manager").get(f"/api/v1/contracts/{tacit['id']}").json()["status"] == "renewed"

    april = api("manager").get("/api/v1/finance/recurring?month=2026-04").json()
    assert (april["mrr"], april["previous_mrr"], april["mrr_change"], april["mrr_change_percent"]) == (
        "1000.00",
        "1500.00",
        "-500.00",
        "-33.3",
    )
    assert april["churn"] == {
        "customers_at_start": 2,
        "customers_lost": 1,
        "rate_percent": "50.0",
        "average_rate_percent_12_months": "4.2",  # 0.5 / 12
    }
    assert april["renewal"] == {"renewed": 1, "came_to_end": 2, "rate_percent": "50.0"}
    assert april["churn_by_reason"] == [{"reason": "not_renewed", "count": 1, "mrr": "500.00"}]
    assert april["lifetime_value"] == "24000.00"  # ARPA 1000 / (0.5 / 12)
    # A decided renewal of the expired contract at a new price brings it back, from 01/04.
    r = api("manager").post(f"/api/v1/contracts/{other['id']}/renew", json={"amount": "600"})
    assert r.status_code == 200 and r.json()["status"] == "renewed"
    april = api("manager").get("/api/v1/finance/recurring?month=2026-04").json()
    assert april["mrr"] == "1600.00" and april["renewal"]["rate_percent"] == "100.0"
    assert api("manager").get("/api/v1/finance/recurring?month=2026-13").status_code == 422
    assert api("alice").get("/api/v1/finance/recurring").status_code == 403


def test_automatic_invoices_per_billing_period(make_contract, api, db):
    c = make_contract(auto_invoice=True, amount="1200", vat_rate="20")
    at("2026-01-15")
    at("2026-01-20")
    invoices = api("manager").get(f"/api/v1/invoices?contract_id={c['id']}").json()["items"]
    assert [(i["period_start"], i["period_end"], i["status"], i["total_gross"]) for i in invoices] == [
        ("2026-01-01", "2026-01-31", "draft", "1440.00")
    ]
    assert invoices[0]["periodic"] is True and invoices[0]["owner_id"] == c["owner_id"]
    at("2026-02-01")
    at("2026-02-02")
    invoices = api("manager").get(f"/api/v1/invoices?contract_id={c['id']}&sort=id").json()["items"]
    assert [i["period_start"] for i in invoices] == ["2026-01-01", "2026-02-01"]
    assert api("manager").get(f"/api/v1/contracts/{c['id']}").json()["next_billing_date"] == "2026-03-01"
    # Terminated from 01/03: no invoice for March.
    api("manager").post(
        f"/api/v1/contracts/{c['id']}/terminate", json={"reason": "other", "effective_date": "2026-03-01"}
    )
    at("2026-03-05")
    assert len(api("manager").get(f"/api/v1/invoices?contract_id={c['id']}").json()["items"]) == 2
