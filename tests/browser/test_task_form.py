"""The task form in the browser: the linked record is found by name, among the records of the type
chosen in "Linked to" (an organisation, then a project of the demo data)."""

from __future__ import annotations

import re

import pytest
from screenshots import shot

pytestmark = pytest.mark.browser


def test_the_linked_record_follows_the_chosen_type(page, login):  # type: ignore[no-untyped-def]
    login(page)
    page.goto("/organisations/new")
    page.fill("#f-name", "Clinique Valmorel")
    page.click("form.form button[type=submit]")
    page.wait_for_url(re.compile(r"/organisations/\d+$"))
    org_id = page.url.rsplit("/", 1)[1]

    page.goto("/tasks/new")
    page.fill("#f-title", "Préparer la formation")
    search = page.locator('[data-record-picker="record_type"] input[name=pick_q]')
    page.select_option("#f-record_type", "organisation")
    search.fill("Valmorel")
    page.wait_for_function(f"document.querySelector('#f-record_id').value === '{org_id}'")
    assert page.locator("#f-record_id option:checked").inner_text() == "Clinique Valmorel"

    # Another type: the organisation is no longer offered, the same words search projects.
    page.select_option("#f-record_type", "project")
    page.wait_for_function("document.querySelectorAll('#f-record_id option').length === 1")
    assert page.locator("#f-record_id").input_value() == ""
    search.fill("Centre Hospitalier")
    page.wait_for_function("document.querySelector('#f-record_id').value !== ''")
    project_id = page.locator("#f-record_id").input_value()
    project_label = page.locator("#f-record_id option:checked").inner_text()
    # named after its establishment, a project shows its name alone
    assert project_label.startswith("Centre Hospitalier – ") and " · " not in project_label
    shot(page, "task-form-linked-project")
    page.click("form.form button[type=submit]")
    page.wait_for_url(re.compile(r"/tasks/\d+$"))
    link = page.locator(f'a[href="/projects/{project_id}"]')
    assert link.count() >= 1 and link.first.inner_text() == project_label

    # Editing shows the project by its name, without a search.
    page.goto(page.url + "/edit")
    assert page.locator("#f-record_type").input_value() == "project"
    assert page.locator("#f-record_id option:checked").inner_text() == project_label
    shot(page, "task-form-edit")
