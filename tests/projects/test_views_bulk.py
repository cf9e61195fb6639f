"""Bulk creation in the UI: pasted SIREN / FINESS numbers, or establishments ticked in the
organisation list; the result page lists the created projects and the skipped entries with their
reasons."""

from __future__ import annotations

import re

from tests.projects.views_support import make_org, make_template, post, siren


def _project_names(api) -> set[str]:  # type: ignore[no-untyped-def]
    return {p["name"] for p in api("manager").get("/api/v1/projects?limit=100").json()["items"]}


def test_pasted_numbers_create_six_projects_and_list_the_skipped(web, api, db):
    template_id = make_template(db)
    numbers = []
    for i in range(6):
        number = siren(i)
        make_org(api, f"Établissement {i + 1}", siren=number)
        numbers.append(number)
    manager = web("manager")
    page = manager.get("/projects/bulk")
    assert page.status_code == 200 and 'data-testid="bulk-identifiers"' in page.text
    pasted = "\n".join(numbers[:3]) + " ; " + ", ".join(numbers[3:]) + "\n123456789\n" + numbers[0]
    r = post(manager, "/projects/bulk", {"template_id": str(template_id), "identifiers": pasted})
    assert r.status_code == 200
    assert 'data-testid="bulk-summary">6 créé(s), 2 ignoré(s)' in r.text
    created = re.search(r'data-testid="bulk-created">(.*?)</ul>', r.text, re.S).group(1)
    assert created.count("<li>") == 6
    skipped = re.search(r'data-testid="bulk-skipped">(.*?)</ul>', r.text, re.S).group(1)
    assert skipped.count("<li>") == 2 and "123456789" in skipped
    assert _project_names(api) == {f"Hôpital (modèle des pages) – Établissement {i + 1}" for i in range(6)}


def test_organisation_list_selection_then_result(web, api, db):
    template_id = make_template(db)
    org_ids = [make_org(api, f"EHPAD {n}") for n in ("Les Tilleuls", "Les Lilas")]
    manager = web("manager")
    listing = manager.get("/organisations")
    assert 'formaction="/projects/bulk/selection"' in listing.text
    r = post(manager, "/projects/bulk/selection", {"ids": [str(i) for i in org_ids], "action": "assign"})
    assert r.status_code == 200
    assert r.text.count('name="organisation_ids"') == 2 and "EHPAD Les Lilas" in r.text

    # Missing template: the form comes back with the error, nothing created.
    r = post(manager, "/projects/bulk", {"organisation_ids": [str(i) for i in org_ids], "template_id": ""})
    assert r.status_code == 422 and 'data-error-for="template_id"' in r.text
    assert r.text.count('name="organisation_ids"') == 2
    assert _project_names(api) == set()

    r = post(
        manager,
        "/projects/bulk",
        {"organisation_ids": [str(i) for i in org_ids], "template_id": str(template_id)},
    )
    assert r.status_code == 200 and 'data-testid="bulk-summary">2 créé(s), 0 ignoré(s)' in r.text
    # The second time, both already have an open project from this template.
    r = post(
        manager,
        "/projects/bulk",
        {"organisation_ids": [str(i) for i in org_ids], "template_id": str(template_id)},
    )
    assert 'data-testid="bulk-summary">0 créé(s), 2 ignoré(s)' in r.text
    assert len(_project_names(api)) == 2


def test_bulk_pages_need_the_create_permission(web):
    assert web("reader").get("/projects/bulk").status_code == 403
    r = post(web("reader"), "/projects/bulk/selection", {"ids": ["1"]})
    assert r.status_code == 403
