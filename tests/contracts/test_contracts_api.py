"""Contracts through the API: creation, terms only through amendments (frozen versions),
renewal, termination, permissions and visibility."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from carnet.contracts.models import ContractVersion
from carnet.core.errors import Conflict
from carnet.core.events import Event


def _events(db, contract_id: int) -> list[str]:
    rows = db.scalars(
        select(Event.type)
        .where(Event.record_type == "contract", Event.record_id == contract_id)
        .order_by(Event.id)
    )
    return list(rows)


def test_create_defaults_and_version_one(make_contract, api, db):
    c = make_contract(tacit_renewal=True, notice_days=90)
    assert c["status"] == "active"
    assert (c["start_date"], c["period_start"], c["end_date"]) == ("2026-01-01", "2026-01-01", "2026-12-31")
    assert (c["amount"], c["vat_rate"], c["monthly_value"]) == ("1200.00", "20.00", "1200.00")
    assert c["notice_deadline"] == "2026-10-02"
    assert c["current_version"] == 1
    versions = api("manager").get(f"/api/v1/contracts/{c['id']}/amendments").json()
    assert versions == [
        {
            "version": 1,
            "effective_date": "2026-01-01",
            "terms": {
                "contract_type": "maintenance",
                "amount": "1200.00",
                "vat_rate": "20.00",
                "billing_period": "monthly",
                "end_date": "2026-12-31",
                "tacit_renewal": True,
                "notice_days": 90,
                "renewal_months": 12,
            },
            "reason": None,
            "created_at": versions[0]["created_at"],
            "created_by_id": versions[0]["created_by_id"],
        }
    ]
    assert _events(db, c["id"]) == ["contract.created"]


def test_validation_reports_every_field(api, client_org, db):
    r = api("manager").post(
        "/api/v1/contracts",
        json={
            "organisation_id": client_org,
            "contract_type": "lease",
            "billing_period": "weekly",
            "amount": "-5",
            "notify_client": True,
        },
    )
    assert r.status_code == 422
    fields = {e["field"]: e["code"] for e in r.json()["errors"]}
    assert fields == {
        "contract_type": "invalid_choice",
        "billing_period": "invalid_choice",
        "amount": "negative",
        "start_date": "required",
        "title": "required",
        "client_email": "required",
    }
    assert api("manager").get("/api/v1/contracts").json()["items"] == []


def test_terms_change_only_through_an_amendment(make_contract, api, db):
    c = make_contract()
    r = api("manager").patch(f"/api/v1/contracts/{c['id']}", json={"amount": "1500"})
    assert r.status_code == 409 and r.json()["code"] == "amendment_required"
    r = api("manager").patch(f"/api/v1/contracts/{c['id']}", json={"title": "Maintenance 2026"})
    assert (
        r.status_code == 200 and r.json()["title"] == "Maintenance 2026" and r.json()["amount"] == "1200.00"
    )

    r = api("manager").post(
        f"/api/v1/contracts/{c['id']}/amendments",
        json={
            "amount": "1500.00",
            "billing_period": "quarterly",
            "effective_date": "2026-04-01",
            "reason": "Ajout de 10 lits",
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2 and r.json()["terms"]["amount"] == "1500.00"
    after = api("manager").get(f"/api/v1/contracts/{c['id']}").json()
    assert (after["amount"], after["billing_period"], after["monthly_value"], after["current_version"]) == (
        "1500.00",
        "quarterly",
        "500.00",
        2,
    )
    first = api("manager").get(f"/api/v1/contracts/{c['id']}/amendments/1").json()
    assert (first["terms"]["amount"], first["terms"]["billing_period"]) == ("1200.00", "monthly")
    # An amendment cannot take effect before the previous one, and must change something.
    r = api("manager").post(
        f"/api/v1/contracts/{c['id']}/amendments",
        json={"amount": "1600", "effective_date": "2026-03-01", "reason": "x"},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "before_previous"
    r = api("manager").post(
        f"/api/v1/contracts/{c['id']}/amendments",
        json={"amount": "1500", "effective_date": "2026-05-01", "reason": "rien"},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "no_change"
    assert len(api("manager").get(f"/api/v1/contracts/{c['id']}/amendments").json()) == 2


def test_versions_are_immutable_even_bypassing_the_service(make_contract, db):
    c = make_contract()
    version = db.scalar(select(ContractVersion).where(ContractVersion.contract_id == c["id"]))
    version.terms = {**version.terms, "amount": "1.00"}
    with pytest.raises(Conflict):
        db.flush()
    db.rollback()
    version = db.scalar(select(ContractVersion).where(ContractVersion.contract_id == c["id"]))
    db.delete(version)
    with pytest.raises(Conflict):
        db.flush()


def test_manual_renewal_at_a_new_price(make_contract, api, db):
    c = make_contract(amount="1000", billing_period="yearly")
    r = api("manager").post(f"/api/v1/contracts/{c['id']}/renew", json={"amount": "1100"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["period_start"], body["end_date"], body["amount"]) == (
        "renewed",
        "2027-01-01",
        "2027-12-31",
        "1100.00",
    )
    assert body["renewal_count"] == 1 and body["current_version"] == 2
    renewals = api("manager").get(f"/api/v1/contracts/{c['id']}/renewals").json()
    assert [(x["kind"], x["previous_end"], x["new_start"], x["new_end"], x["amount"]) for x in renewals] == [
        ("manual", "2026-12-31", "2027-01-01", "2027-12-31", "1100.00")
    ]
    v2 = api("manager").get(f"/api/v1/contracts/{c['id']}/amendments/2").json()
    assert v2["effective_date"] == "2027-01-01" and v2["terms"]["amount"] == "1100.00"
    assert _events(db, c["id"]) == ["contract.created", "contract.renewed", "contract.updated"]


def test_termination_with_reason_and_effective_date(make_contract, api, db):
    c = make_contract()
    r = api("manager").post(
        f"/api/v1/contracts/{c['id']}/terminate", json={"reason": "cheaper", "effective_date": "2027-03-01"}
    )
    assert r.status_code == 422
    assert {e["field"]: e["code"] for e in r.json()["errors"]} == {
        "reason": "invalid_choice",
        "effective_date": "after_end",
    }
    r = api("manager").post(
        f"/api/v1/contracts/{c['id']}/terminate",
        json={"reason": "competitor", "effective_date": "2026-07-01", "note": "Parti chez Medisoft"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["termination_reason"], body["termination_date"]) == (
        "terminated",
        "competitor",
        "2026-07-01",
    )
    assert (
        api("manager")
        .post(
            f"/api/v1/contracts/{c['id']}/terminate", json={"reason": "price", "effective_date": "2026-08-01"}
        )
        .status_code
        == 409
    )
    assert api("manager").post(f"/api/v1/contracts/{c['id']}/renew", json={}).status_code == 409
    assert (
        api("manager")
        .post(f"/api/v1/contracts/{c['id']}/amendments", json={"amount": "1", "reason": "x"})
        .status_code
        == 409
    )
    assert _events(db, c["id"]) == ["contract.created", "contract.terminated"]


def test_permissions_and_visibility(make_contract, api):
    c = make_contract(who="manager")  # Commercial department
    url = f"/api/v1/contracts/{c['id']}"
    assert api("manager").get(url).status_code == 200
    assert api("reader").get("/api/v1/contracts").json()["items"] == []  # Support: not their department
    assert api("fiona").get(url).status_code == 404  # finance, but another department
    assert api("alice").get(url).status_code == 404  # sales have no contracts permission
    assert api("alice").get("/api/v1/contracts").status_code == 403
    r = api("alice").post(
        "/api/v1/contracts",
        json={
            "title": "x",
            "organisation_id": c["organisation_id"],
            "start_date": "2026-01-01",
            "amount": "1",
        },
    )
    assert r.status_code == 403
    before = api("manager").get(url).json()
    assert api("fiona").patch(url, json={"title": "Volé"}).status_code == 404
    r = api("fiona").post(f"{url}/terminate", json={"reason": "price", "effective_date": "2026-02-01"})
    assert r.status_code == 404
    assert api("fiona").delete(url).status_code == 404
    assert api("manager").get(url).json() == before
    assert api("manager").get("/api/v1/contracts?status=active").json()["items"][0]["id"] == c["id"]
