"""Projects in the browser, on the shipped "Centre Hospitalier" template: create the project of an
establishment found with the search-as-you-type picker, try to close its first phase (refused: the
checklist items and the missing head of department are listed), tick them, add the key contact and
close the phase; on the board a forward drag is refused with what is missing and a backward drag
reopens the phase; then a portal link is created, the establishment's staff send a request through
it without an account, and the request and its task appear in Carnet. Screenshots go to the folder
named by CARNET_SCREENSHOTS."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

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


def centre_hospitalier_template(database_url: str) -> int:
    """The shipped "Centre Hospitalier" template (migration 0062) of the live server's database."""
    from sqlalchemy import select

    from carnet.core import db as core_db
    from carnet.projects.models import ProjectTemplate

    with core_db.Database(database_url).session() as session:
        found = session.scalar(select(ProjectTemplate.id).where(ProjectTemplate.name == "Centre Hospitalier"))
    assert found is not None, "the Centre Hospitalier template ships with every install"
    return found


def test_project_journey(page, login, live_database_url, browser, live_server):  # type: ignore[no-untyped-def]
    template_id = centre_hospitalier_template(live_database_url)
    login(page)

    page.goto("/organisations/new")
    page.fill("#f-name", "Centre Hospitalier de Valmont")
    page.fill("#f-postal_code", "26000")
    page.fill("#f-city", "Valence")
    page.click("form.form button[type=submit]")
    page.wait_for_url(re.compile(r"/organisations/\d+$"))
    org_id = page.url.rsplit("/", 1)[1]
    page.goto(f"/contacts/new?organisation_id={org_id}")
    page.fill("#f-first_name", "Hélène")
    page.fill("#f-last_name", "Roux")
    page.click("form.form button[type=submit]")
    page.wait_for_url(re.compile(r"/contacts/\d+$"))

    # New project: the establishment is found by typing part of its name.
    page.goto("/projects/new")
    with page.expect_response(lambda r: "/contacts/_organisation_options" in r.url):
        page.fill("[data-testid=org-search]", "Valmont")
    page.wait_for_function("v => document.querySelector('[data-testid=org-select]').value === v", arg=org_id)
    page.select_option("[data-testid=template-select]", str(template_id))
    page.fill("#f-target_date", "2027-06-30")
    page.click("[data-testid=create-project]")
    page.wait_for_url(re.compile(r"/projects/\d+$"))
    project_id = page.url.rsplit("/", 1)[1]
    assert page.locator(".stepper-step").count() == 7
    assert page.locator('.stepper-step[data-state="open"] .stepper-name').inner_text() == "Qualification"

    # First attempt refused: every missing checklist item and the missing key contact are listed.
    page.click("[data-testid=close-phase]")
    blocked = page.locator("[data-testid=phase-blocked]")
    blocked.wait_for()
    assert "Besoin clinique identifié" in blocked.inner_text()
    assert "Budget ou enveloppe d'investissement connu" in blocked.inner_text()
    assert "Chef de service" in blocked.inner_text()
    shot(page, "project-close-blocked")

    # Tick the checklist (htmx), add the head of department, then close: the next phase opens.
    boxes = page.locator("[data-testid=checklist-item]")
    for i in range(boxes.count()):
        with page.expect_response(lambda r: "/checklist" in r.url):
            boxes.nth(i).check()
    assert page.locator("[data-testid=checklist-item]:checked").count() == 4
    page.select_option("#f-contact", label="Hélène Roux")
    page.select_option("#f-contact-role", "head_of_department")
    page.locator("[data-testid=key-contacts] button[type=submit]").last.click()
    page.wait_for_url(re.compile(rf"/projects/{project_id}"))
    assert "Hélène Roux" in page.locator("[data-testid=key-contacts]").inner_text()
    page.click("[data-testid=close-phase]")
    page.wait_for_selector('.stepper-step[data-position="1"][data-state="open"]')
    assert page.locator('.stepper-step[data-position="0"]').get_attribute("data-state") == "closed"
    assert (
        "Organiser la présentation au staff médical" in page.locator("[data-testid=open-phase]").inner_text()
    )
    shot(page, "project-page")

    # Board, filtered on my projects (the demo data has others): a drag to "Essai / Évaluation" is
    # refused with what "Présentation" still needs...
    page.goto(f"/projects/board?template_id={template_id}")
    me = page.locator("select[name=owner_id] option", has_text="Agnès Navigateur").get_attribute("value")
    page.goto(f"/projects/board?template_id={template_id}&owner_id={me}")
    card = page.locator(f'.kanban-card[data-project-id="{project_id}"]')
    card.wait_for()
    assert card.locator("xpath=ancestor::section").get_attribute("data-phase-key") == "presentation"
    with page.expect_response(lambda r: f"/projects/{project_id}/move" in r.url):
        drag(page, card, page.locator('.kanban-cards[data-position="2"]'))
    page.locator("#board-flash [role=alert]").wait_for()
    assert "Démonstration réalisée" in page.locator("#board-flash").inner_text()
    page.locator(f'.kanban-cards[data-position="1"] .kanban-card[data-project-id="{project_id}"]').wait_for()
    shot(page, "board-refused")
    # ...and a drag back to "Qualification" reopens that phase.
    page.goto(f"/projects/board?template_id={template_id}&owner_id={me}")
    card = page.locator(f'.kanban-card[data-project-id="{project_id}"]')
    with page.expect_response(lambda r: f"/projects/{project_id}/move" in r.url):
        drag(page, card, page.locator('.kanban-cards[data-position="0"]'))
    page.locator(f'.kanban-cards[data-position="0"] .kanban-card[data-project-id="{project_id}"]').wait_for()
    assert page.locator("#board-flash [role=alert]").count() == 0
    shot(page, "board")

    page.goto(f"/projects?template_id={template_id}")
    row = page.locator(f'tr[data-project-id="{project_id}"]')
    assert "Qualification" in row.inner_text()
    shot(page, "list")

    page.goto(f"/projects/timeline?template_id={template_id}")
    bar = page.locator(f'[data-testid=gantt-row][data-project-id="{project_id}"]')
    assert bar.locator("[data-testid=gantt-segment]").count() >= 1
    shot(page, "timeline")

    # Portal: a link for the pharmacy, showing the phases and the upcoming steps.
    page.goto(f"/projects/{project_id}")
    panel = page.locator("[data-testid=portal-panel]")
    panel.wait_for()
    panel.locator("summary").first.click()
    page.fill("#pl-label", "Pharmacie")
    page.check("[data-testid=portal-new-link] input[name=phases]")
    page.check("[data-testid=portal-new-link] input[name=upcoming]")
    page.click("[data-testid=portal-new-link] button[type=submit]")
    page.locator("[data-testid=portal-created]").wait_for()
    link = urlsplit(page.input_value("[data-testid=portal-url]")).path
    assert re.fullmatch(r"/p/[A-Za-z0-9_-]{43,}", link)

    # The pharmacist opens it on a phone, without an account, and asks for a training session.
    phone = browser.new_context(base_url=live_server, viewport={"width": 390, "height": 844}, locale="fr-FR")
    staff = phone.new_page()
    staff.goto(link)
    assert "Centre Hospitalier de Valmont" in staff.locator("[data-testid=portal-establishment]").inner_text()
    assert "Qualification" in staff.locator("[data-testid=portal-phases]").inner_text()
    staff.check("input[name=kind][value=training]")
    staff.fill("#f-name", "Claire Pharma")
    staff.fill("#f-email", "claire.pharma@ch-valmont.fr")
    staff.fill("#f-message", "Pouvez-vous former l'équipe de nuit du service de gériatrie ?")
    shot(staff, "portal-phone")
    staff.click("[data-testid=portal-submit]")
    staff.locator("[data-testid=portal-thanks]").wait_for()
    phone.close()

    # Back in Carnet: the request is listed on the project, and its task is in the owner's tasks.
    page.goto(f"/projects/{project_id}")
    requests = page.locator("[data-testid=portal-requests]")
    requests.wait_for()
    assert "Claire Pharma" in requests.inner_text()
    page.goto("/tasks")
    assert "Formation : Pouvez-vous former l'équipe de nuit" in page.locator("main").inner_text()
    shot(page, "tasks-with-portal-request")

    # Phone width: the project page stays usable (the stepper turns vertical).
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/projects/{project_id}")
    shot(page, "project-page-phone")
