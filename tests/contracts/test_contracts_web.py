"""Contract pages: list, creation form with errors next to the fields, detail with amendment,
renewal and termination dialogs, the recurring-revenue dashboard with its SVG chart."""

from __future__ import annotations

import re


def _post(client, url: str, data: dict):
    return client.post(url, data={"csrf_token": client.csrf, **data}, follow_redirects=False)


def test_create_through_the_form(web, client_org, api):
    manager = web("manager")
    page = manager.get("/contracts/new")
    assert page.status_code == 200 and 'name="tacit_renewal"' in page.text
    r = _post(manager, "/contracts/new", {"title": "", "organisation_id": str(client_org), "amount": "abc"})
    assert r.status_code == 422
    assert 'data-error-for="title"' in r.text and 'data-error-for="amount"' in r.text
    assert 'data-error-for="start_date"' in r.text
    assert api("manager").get("/api/v1/contracts").json()["items"] == []
    r = _post(
        manager,
        "/contracts/new",
        {
            "title": "Abonnement logiciel",
            "organisation_id": str(client_org),
            "contract_type": "subscription",
            "start_date": "2026-01-01",
            "amount": "1 800,00",
            "billing_period": "quarterly",
            "vat_rate": "20.00",
            "renewal_months": "12",
            "notice_days": "30",
            "tacit_renewal": "on",
        },
    )
    assert r.status_code == 303
    contract = api("manager").get("/api/v1/contracts").json()["items"][0]
    assert r.headers["location"] == f"/contracts/{contract['id']}"
    assert (
        contract["amount"],
        contract["monthly_value"],
        contract["tacit_renewal"],
        contract["end_date"],
    ) == (
        "1800.00",
        "600.00",
        True,
        "2026-12-31",
    )
    listing = manager.get("/contracts?status=active")
    assert "Abonnement logiciel" in listing.text and "600,00" in listing.text


def test_detail_amend_renew_terminate(web, make_contract, api):
    c = make_contract(amount="1000")
    manager = web("manager")
    page = manager.get(f"/contracts/{c['id']}")
    assert page.status_code == 200
    assert 'data-testid="contract-status">Actif' in page.text
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    r = _post(
        manager,
        f"/contracts/{c['id']}/amend",
        {
            "version": version,
            "contract_type": "maintenance",
            "amount": "1250",
            "billing_period": "monthly",
            "vat_rate": "20.00",
            "end_date": "2026-12-31",
            "renewal_months": "12",
            "notice_days": "0",
            "effective_date": "2026-02-01",
            "reason": "",
        },
    )
    assert r.status_code == 422 and 'data-error-for="reason"' in r.text and "<dialog" in r.text
    assert api("manager").get(f"/api/v1/contracts/{c['id']}").json()["current_version"] == 1
    r = _post(
        manager,
        f"/contracts/{c['id']}/amend",
        {
            "version": version,
            "contract_type": "maintenance",
            "amount": "1250",
            "billing_period": "monthly",
            "vat_rate": "20.00",
            "end_date": "2026-12-31",
            "renewal_months": "12",
            "notice_days": "0",
            "effective_date": "2026-02-01",
            "reason": "Extension à la maternité",
        },
    )
    assert r.status_code == 303
    page = manager.get(f"/contracts/{c['id']}")
    assert "Extension à la maternité" in page.text and "v2" in page.text
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    r = _post(manager, f"/contracts/{c['id']}/renew", {"version": version, "months": "24", "amount": ""})
    assert r.status_code == 303
    assert api("manager").get(f"/api/v1/contracts/{c['id']}").json()["end_date"] == "2028-12-31"
    page = manager.get(f"/contracts/{c['id']}")
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    r = _post(
        manager,
        f"/contracts/{c['id']}/terminate",
        {"version": version, "reason": "dissatisfaction", "effective_date": "2026-06-01", "note": ""},
    )
    assert r.status_code == 303
    page = manager.get(f"/contracts/{c['id']}")
    assert 'data-testid="termination">Insatisfaction' in page.text
    assert 'data-testid="terminate"' not in page.text


def test_recurring_dashboard(web, make_contract):
    make_contract(amount="1200", billing_period="yearly", start_date="2025-06-01")
    page = web("manager").get("/contracts/recurring?month=2026-01")
    assert page.status_code == 200
    assert 'data-testid="mrr-chart"' in page.text and page.text.count("<rect") == 12
    mrr = re.search(r'data-testid="mrr"><span class="stat-value">([^<]+)<', page.text).group(1)
    assert mrr.replace("\u202f", " ").replace("\xa0", " ") == "100,00 €"
    assert web("alice").get("/contracts/recurring").status_code == 403


def _quote(api, who: str, org_id: int, title: str) -> dict:
    r = api(who).post("/api/v1/quotes", json={"organisation_id": org_id, "title": title, "lines": []})
    assert r.status_code == 201, r.text
    return r.json()


def _quote_picker(page: str) -> str:
    return page.split('data-record-picker="quote"')[1].split('<div class="field ')[0]


def test_the_quote_is_picked_by_number_and_client(web, api, client_org):
    quote = _quote(api, "alice", client_org, "Lits médicalisés")
    label = f"{quote['number']} · Clinique des Alpes"
    manager = web("manager")
    picker = _quote_picker(manager.get("/contracts/new").text)
    assert "Devis" in picker and "(id)" not in picker and 'type="number"' not in picker
    assert 'hx-get="/search/pick/quote"' in picker and 'name="quote_id"' in picker
    # the quotes of the manager's department are offered by client name or number
    options = manager.get("/search/pick/quote", params={"pick_q": "clinique", "field": "quote_id"}).text
    assert f'<option value="{quote["id"]}" selected>{label}</option>' in options
    prefilled = _quote_picker(manager.get(f"/contracts/new?quote_id={quote['id']}").text)
    assert f'<option value="{quote["id"]}" selected>{label}</option>' in prefilled
    r = _post(
        manager,
        "/contracts/new",
        {
            "title": "Maintenance des lits",
            "organisation_id": str(client_org),
            "quote_id": str(quote["id"]),
            "contract_type": "maintenance",
            "start_date": "2026-01-01",
            "amount": "100",
            "billing_period": "monthly",
        },
    )
    assert r.status_code == 303, r.text
    contract = api("manager").get(r.headers["location"].replace("/contracts", "/api/v1/contracts")).json()
    assert contract["quote_id"] == quote["id"]
    # the edit dialog shows the current quote by its number and client
    edit = _quote_picker(manager.get(r.headers["location"]).text)
    assert f'<option value="{quote["id"]}" selected>{label}</option>' in edit


def test_a_quote_the_user_may_not_see_is_neither_offered_nor_accepted(web, api, client_org):
    quote = _quote(api, "alice", client_org, "Lits médicalisés")  # Commercial department
    fiona = web("fiona")  # Finance: may create contracts, sees her department's quotes only
    options = fiona.get("/search/pick/quote", params={"pick_q": "clinique", "field": "quote_id"}).text
    assert re.findall(r'<option value="(\d+)"', options) == []
    options = fiona.get("/search/pick/quote", params={"pick_q": quote["number"], "field": "quote_id"}).text
    assert re.findall(r'<option value="(\d+)"', options) == []
    r = _post(
        fiona,
        "/contracts/new",
        {
            "title": "Maintenance des lits",
            "organisation_id": str(client_org),
            "quote_id": str(quote["id"]),
            "contract_type": "maintenance",
            "start_date": "2026-01-01",
            "amount": "100",
            "billing_period": "monthly",
        },
    )
    assert r.status_code == 422
    picker = _quote_picker(r.text)
    assert '<div class="field-error" data-error-for="quote_id">Devis inconnu</div>' in picker
    assert f'<option value="{quote["id"]}" selected>#{quote["id"]}</option>' in picker
    assert quote["number"] not in picker
    assert api("fiona").get("/api/v1/contracts").json()["items"] == []
