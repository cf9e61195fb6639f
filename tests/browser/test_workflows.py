"""The workflow builder in a real browser: install a template from the gallery, change a step in the
side panel (an unknown variable is refused next to its input), save, enable, trigger it by marking
a deal lost, and read the run with its steps in the run log. Desktop and phone widths.

`carnet serve` does not run the embedded job runner yet, so the test runs the jobs the server
queued (event dispatch, one job per step) with `jobs.drain()` in a separate process on the live
server's database: the same task functions the runner calls."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from screenshots import shot

pytestmark = pytest.mark.browser


def run_jobs(database_url: str) -> None:
    code = "import carnet.models\nfrom carnet.core import jobs\njobs.drain()\n"
    env = {**os.environ, "CARNET_DATABASE_URL": database_url, "CARNET_ENV": "development"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, timeout=120)


def test_template_to_run_log(page, login, live_database_url):  # type: ignore[no-untyped-def]
    login(page)
    page.goto("/workflows")
    shot(page, "wf-01-list-empty")
    page.click("text=À partir d'un modèle")
    page.wait_for_url(re.compile(r"/workflows/templates$"))
    assert page.locator(".wf-gallery article").count() >= 10
    shot(page, "wf-02-gallery")
    page.click('[data-template="lost_deal_feedback"] button[type=submit]')
    page.wait_for_url(re.compile(r"/workflows/\d+$"))
    workflow_id = int(page.url.rsplit("/", 1)[1])

    # The canvas: trigger + the template's two steps, joined by lines.
    page.locator('.wf-node[data-step-id="trigger"]').wait_for()
    assert page.locator(".wf-node").count() == 3
    assert page.locator("path.wf-edge").count() == 2
    assert page.locator('[data-testid="workflow-state"]').inner_text() == "Inactif"
    shot(page, "wf-03-canvas")

    # Side panel: an unknown variable is refused next to the title input; then a real change.
    page.click('.wf-node[data-step-id="task"]')
    title = page.locator('[data-panel] input[data-param="title"]')
    title.fill("Comprendre la perte de {{ deal.nom }}")
    with page.expect_response(lambda r: r.url.endswith("/definition")) as response:
        page.click("[data-save]")
    assert response.value.status == 422
    error = page.locator('[data-panel] [data-error-for="params.title"]')
    error.wait_for()
    assert "deal.nom" in error.inner_text()
    assert page.locator('.wf-node[data-step-id="task"].invalid').count() == 1
    shot(page, "wf-04-field-error")

    title.fill("Comprendre la perte de {{ deal.title }}")
    page.fill('[data-panel] input[data-param="due_in_days"]', "3")
    with page.expect_response(lambda r: r.url.endswith("/definition")) as response:
        page.click("[data-save]")
    assert response.value.status == 200
    page.locator('[data-status][data-kind="success"]').wait_for()
    assert page.locator("[data-status]").inner_text() == "Enregistré"
    assert page.locator(".wf-node.invalid").count() == 0
    shot(page, "wf-05-side-panel")

    page.click('[data-testid="enable"]')
    page.locator('[data-testid="disable"]').wait_for()
    assert page.locator('[data-testid="workflow-state"]').inner_text() == "Actif"

    # Trigger: a new deal, marked as lost.
    page.goto("/deals/new")
    page.fill("#f-title", "Rénovation cantine Pasteur")
    page.fill("#f-amount", "18000")
    page.click("form.form button[type=submit]")
    page.wait_for_url(re.compile(r"/deals/\d+$"))
    deal_id = int(page.url.rsplit("/", 1)[1])
    page.click('[data-testid="lost-button"]')
    page.fill("#lost-reason", "Budget reporté")
    page.click("#lost-dialog button[type=submit]")
    page.locator('[data-testid="lost-reason"]').wait_for()

    run_jobs(live_database_url)

    # Run log: one run on that deal, both steps completed.
    page.goto(f"/workflows/{workflow_id}/runs")
    rows = page.locator('[data-testid="runs"] tbody tr[data-run-id]')
    assert rows.count() == 1
    assert rows.first.locator(".badge").first.inner_text() == "Terminée"
    record = rows.first.locator(f'a[href="/deals/{deal_id}"]')
    assert record.inner_text() == "Rénovation cantine Pasteur"
    shot(page, "wf-06-run-history")
    rows.first.locator("a").first.click()
    page.wait_for_url(re.compile(r"/workflows/runs/\d+$"))
    steps = page.locator('[data-testid="run-steps"] details.wf-step')
    assert [steps.nth(i).get_attribute("data-step") for i in range(steps.count())] == ["task", "note"]
    assert [steps.nth(i).locator(".badge").inner_text() for i in range(steps.count())] == [
        "Terminée",
        "Terminée",
    ]
    assert "Comprendre la perte de Rénovation cantine Pasteur" in steps.nth(0).inner_text()
    shot(page, "wf-07-run-log")

    # The task the step created is on the deal.
    page.goto("/tasks?owner_id=all&q=Comprendre la perte")
    assert (
        page.locator(".task-title", has_text="Comprendre la perte de Rénovation cantine Pasteur").count() == 1
    )


def test_builder_on_a_phone(browser, live_server, login):  # type: ignore[no-untyped-def]
    context = browser.new_context(
        base_url=live_server, viewport={"width": 390, "height": 844}, locale="fr-FR"
    )
    phone = context.new_page()
    phone.set_default_timeout(10_000)
    phone.on("dialog", lambda dialog: dialog.accept())  # "leave with unsaved changes?"
    login(phone)
    phone.goto("/workflows/templates")
    phone.click('[data-template="stuck_deal_alert"] button[type=submit]')
    phone.wait_for_url(re.compile(r"/workflows/\d+$"))
    workflow_id = int(phone.url.rsplit("/", 1)[1])
    phone.locator('.wf-node[data-step-id="trigger"]').wait_for()
    # The page never scrolls sideways: the canvas scrolls inside its frame, the panel stacks below.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 392
    canvas, panel = phone.locator(".wf-canvas-wrap").bounding_box(), phone.locator(".wf-panel").bounding_box()
    assert panel["y"] >= canvas["y"] + canvas["height"]
    shot(phone, "wf-phone-01-canvas")

    # Keyboard: Enter on a node opens it in the panel (focus on its first input), Escape comes
    # back to the node, arrows move it.
    node = phone.locator('.wf-node[data-step-id="notify"]')
    node.focus()
    phone.keyboard.press("Enter")
    assert phone.locator(".wf-panel h2").inner_text() == "Action · notify"
    assert phone.evaluate("document.activeElement.closest('[data-panel]') !== null")
    phone.keyboard.press("Escape")
    assert phone.evaluate("document.activeElement.dataset.stepId") == "notify"
    top = node.evaluate("n => n.offsetTop")
    phone.keyboard.press("ArrowDown")
    assert node.evaluate("n => n.offsetTop") == top + 20
    assert phone.locator("[data-status]").inner_text() == "Modifications non enregistrées"
    shot(phone, "wf-phone-02-side-panel")

    phone.goto("/workflows")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 392
    shot(phone, "wf-phone-03-list")
    phone.goto(f"/workflows/{workflow_id}/runs")
    shot(phone, "wf-phone-04-run-history")
    context.close()
