"""Contracts in the browser: create one, record an amendment in its dialog, renew it, and read
the recurring-revenue dashboard with its chart."""

from __future__ import annotations

import re

import pytest
from screenshots import shot

pytestmark = pytest.mark.browser


def test_contract_amendment_renewal_and_mrr(page, login):  # type: ignore[no-untyped-def]
    login(page)
    page.goto("/organisations/new")
    page.fill("#f-name", "Résidence Les Tilleuls de Valmorel")
    page.click("form.form button[type=submit]")
    page.wait_for_url(re.compile(r"/organisations/\d+$"))
    org_id = page.url.rsplit("/", 1)[1]
    page.goto(f"/quotes/new?organisation_id={org_id}")
    page.fill("#f-title", "Maintenance des lits")
    page.click("form.form button[type=submit]")
    page.wait_for_url(re.compile(r"/quotes/\d+$"))
    quote_id = page.url.rsplit("/", 1)[1]
    number = re.search(r"DEV-\d{4}-\d{4}", page.inner_text("h1")).group(0)

    page.goto("/contracts/new")
    page.fill("#f-title", "Maintenance des lits")
    # The organisation is picked by searching its name: the best match is selected.
    page.fill('[data-record-picker="organisation"] input[name=pick_q]', "Tilleuls Valmorel")
    page.wait_for_function(f"document.querySelector('#f-organisation_id').value === '{org_id}'")
    assert (
        "Résidence Les Tilleuls de Valmorel" in page.locator("#f-organisation_id option:checked").inner_text()
    )
    # The quote too, by its number: it shows with its client.
    page.fill('[data-record-picker="quote"] input[name=pick_q]', number)
    page.wait_for_function(f"document.querySelector('#f-quote_id').value === '{quote_id}'")
    quote_label = f"{number} · Résidence Les Tilleuls de Valmorel"
    assert page.locator("#f-quote_id option:checked").inner_text() == quote_label
    page.fill("#f-start_date", "2025-01-01")
    page.fill("#f-amount", "600")
    page.select_option("#f-contract_type", "maintenance")
    page.check("input[name=tacit_renewal]")
    shot(page, "contract-new-pickers")
    page.click("[data-testid=create-contract]")
    page.wait_for_url(re.compile(r"/contracts/\d+$"))
    page.click("[data-open-dialog=edit-dialog]")
    assert page.locator("#edit-dialog #f-quote_id option:checked").inner_text() == quote_label
    shot(page, "contract-edit-dialog")
    page.click("#edit-dialog [data-close-dialog]")
    assert page.inner_text("[data-testid=monthly-value]").replace("\u202f", " ").startswith("600,00")
    shot(page, "contract-detail")

    page.click("[data-testid=amend]")
    page.fill("#amend-dialog #f-amount", "750")
    page.fill("#amend-dialog #f-effective_date", "2025-07-01")
    page.fill("#amend-dialog #f-reason", "Dix lits de plus")
    shot(page, "contract-amend-dialog")
    page.click("[data-testid=save-amendment]")
    page.wait_for_selector("[data-testid=versions] >> text=Dix lits de plus")
    assert page.locator("[data-testid=versions] tbody tr").count() == 2

    page.click("[data-testid=renew]")
    page.click("[data-testid=confirm-renew]")
    page.wait_for_selector("[data-testid=renewals] li >> text=→")
    assert page.inner_text("[data-testid=contract-status]") == "Renouvelé"

    page.goto("/contracts/recurring")
    assert page.locator("[data-testid=mrr-chart] rect").count() == 12
    assert page.inner_text("[data-testid=mrr] .stat-value").replace("\u202f", " ").startswith("750,00")
    shot(page, "recurring-dashboard")
