"""The main journey in a real browser: log in, create an organisation (see the SIREN error, fix
it), add a contact and a deal, drag the deal to the next stage, find it with the search box, and
see the move in the timeline and the history."""

from __future__ import annotations

import re

import pytest
from screenshots import shot

pytestmark = pytest.mark.browser


def drag(page, source, target) -> None:  # type: ignore[no-untyped-def]
    """A real mouse drag in small steps, as SortableJS expects from a person."""
    a, b = source.bounding_box(), target.bounding_box()
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move(a["x"] + a["width"] / 2 + 10, a["y"] + a["height"] / 2 + 10, steps=5)
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + 40, steps=20)
    page.mouse.up()


def test_sales_journey(page, login):  # type: ignore[no-untyped-def]
    login(page)
    shot(page, "01-home")

    # Organisation: a wrong SIREN is refused next to the field, then fixed.
    page.goto("/organisations/new")
    page.fill("#f-name", "Clinique Saint-Exupéry")
    page.fill("#f-siren", "732829321")
    page.fill("#f-city", "Lyon")
    page.click("form.form button[type=submit]")
    error = page.locator('[data-error-for="siren"]')
    error.wait_for()
    assert "SIREN" in error.inner_text()
    assert page.input_value("#f-name") == "Clinique Saint-Exupéry"
    shot(page, "02-siren-error")
    page.fill("#f-siren", "732 829 320")
    page.click("form.form button[type=submit]")
    page.wait_for_url(re.compile(r"/organisations/\d+$"))
    org_id = int(page.url.rsplit("/", 1)[1])
    assert page.locator('[data-testid="siren"]').inner_text() == "732829320"

    # Contact linked to it.
    page.goto(f"/contacts/new?organisation_id={org_id}")
    page.fill("#f-first_name", "Hélène")
    page.fill("#f-last_name", "Brunet")
    page.fill("#f-emails", "helene.brunet@clinique-exupery.fr")
    page.click("form.form button[type=submit]")
    page.wait_for_url(re.compile(r"/contacts/\d+$"))
    assert "Clinique Saint-Exupéry" in page.content()

    # Deal in the B2B pipeline's first stage.
    page.goto(f"/deals/new?organisation_id={org_id}")
    page.fill("#f-title", "Équipement bloc Exupéry 2026")
    page.fill("#f-amount", "25000")
    page.select_option("#f-pipeline_id", label="Ventes B2B")
    pipeline_id = page.input_value("#f-pipeline_id")
    page.click("form.form button[type=submit]")
    page.wait_for_url(re.compile(r"/deals/\d+$"))
    deal_id = int(page.url.rsplit("/", 1)[1])

    # Kanban: drag the card to the next column.
    page.goto(f"/deals/board?pipeline_id={pipeline_id}")
    card = page.locator(f'.kanban-card[data-deal-id="{deal_id}"]')
    card.wait_for()
    columns = page.locator(".kanban-cards[data-stage-kind=open]")
    source_stage = card.locator("xpath=ancestor::*[contains(@class,'kanban-cards')]").get_attribute(
        "data-stage-id"
    )
    stage_ids = [columns.nth(i).get_attribute("data-stage-id") for i in range(columns.count())]
    target_stage = stage_ids[stage_ids.index(source_stage) + 1]
    target = page.locator(f'.kanban-cards[data-stage-id="{target_stage}"]')
    with page.expect_response(lambda r: f"/deals/{deal_id}/move" in r.url):
        drag(page, card, target)
    page.locator(
        f'.kanban-cards[data-stage-id="{target_stage}"] .kanban-card[data-deal-id="{deal_id}"]'
    ).wait_for()
    shot(page, "03-kanban-after-drag")

    # Global search, typed without accents.
    page.goto("/")
    page.fill('[data-testid="global-search"]', "equipement exupery")
    result = page.locator(".search-results a.search-result", has_text="Équipement bloc Exupéry 2026")
    result.first.wait_for()
    shot(page, "04-search")
    result.first.click()
    page.wait_for_url(re.compile(rf"/deals/{deal_id}$"))

    # The move is in the timeline and in the history.
    timeline = page.locator("#record-tab .timeline")
    timeline.wait_for()
    assert re.search(r"Passée de .+ à .+", timeline.inner_text())
    page.click('[data-testid="history-tab"]')
    page.locator("#record-tab .history").wait_for()
    history = page.locator("#record-tab .history").inner_text()
    assert "Modification" in history or "Création" in history
    shot(page, "05-deal-history")


def test_english_interface(page, login):  # type: ignore[no-untyped-def]
    page.goto("/lang/en?next=/login")
    assert "Log in to your CRM" in page.content()
    page.goto("/lang/fr?next=/login")
    assert "Connectez-vous à votre CRM" in page.content()


def test_phone_layout(browser, live_server, login):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_server, viewport={"width": 360, "height": 740})
    phone = context.new_page()
    login(phone)
    phone.goto("/organisations")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 362, width
    shot(phone, "06-phone-organisations")
    context.close()
