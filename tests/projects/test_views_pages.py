"""Project pages: the creation form (field errors, duplicate warning), the list with its counts
per phase, the project page, board, timeline, home block and settings, each for the owner, and
404 for a colleague of another department."""

from __future__ import annotations

import re

import pytest

from tests.projects.views_support import make_org, make_template, post


@pytest.fixture
def template_id(db) -> int:  # type: ignore[no-untyped-def]
    return make_template(db)


@pytest.fixture
def org_id(api) -> int:  # type: ignore[no-untyped-def]
    return make_org(api, "CH de Valence", postal_code="26000", city="Valence")


def _create(web_client, org_id: int, template_id: int, **extra: str):  # type: ignore[no-untyped-def]
    return post(
        web_client,
        "/projects/new",
        {
            "organisation_id": str(org_id),
            "template_id": str(template_id),
            "target_date": "2026-09-30",
            **extra,
        },
    )


def _project_id(response) -> int:  # type: ignore[no-untyped-def]
    assert response.status_code == 303, response.text
    return int(re.fullmatch(r"/projects/(\d+)", response.headers["location"]).group(1))


def test_creation_form_shows_field_errors_and_writes_nothing(web, api, template_id):
    alice = web("alice")
    page = alice.get("/projects/new")
    assert page.status_code == 200
    assert 'hx-get="/contacts/_organisation_options"' in page.text  # the search-as-you-type picker
    assert "Centre Hospitalier" in page.text
    r = post(alice, "/projects/new", {"template_id": str(template_id), "start_date": "2026-02-30"})
    assert r.status_code == 422
    assert 'data-error-for="organisation_id"' in r.text and 'data-error-for="start_date"' in r.text
    assert api("alice").get("/api/v1/projects").json()["items"] == []


def test_duplicate_warns_with_a_link_and_create_anyway_when_allowed(web, api, db, template_id, org_id):
    alice = web("alice")
    first = _project_id(_create(alice, org_id, template_id))
    r = _create(alice, org_id, template_id)
    assert r.status_code == 409
    assert 'data-testid="duplicate-warning"' in r.text and f'href="/projects/{first}"' in r.text
    assert 'data-testid="create-anyway"' not in r.text  # the setting allows one active project only

    manager = web("manager")
    saved = post(manager, "/settings/projects", {"portal_link_days": "60"})  # box unticked: off
    assert saved.status_code == 303
    r = _create(alice, org_id, template_id)
    assert r.status_code == 409 and 'data-testid="create-anyway"' in r.text
    second = _project_id(_create(alice, org_id, template_id, allow_duplicate="1"))
    assert second != first
    assert len(api("alice").get("/api/v1/projects").json()["items"]) == 2


def test_every_page_renders_for_the_owner_and_404_for_an_outsider(web, api, template_id, org_id):
    alice = web("alice")
    pid = _project_id(_create(alice, org_id, template_id, name="Déploiement pompes"))

    page = alice.get(f"/projects/{pid}")
    assert page.status_code == 200
    assert 'data-testid="stepper"' in page.text
    assert page.text.count('class="stepper-step ') == 3
    assert 'data-state="open" data-position="0"' in page.text
    assert "Identifier les interlocuteurs clés" in page.text  # phase 0's task
    assert "Besoin clinique identifié" in page.text and "Fiche établissement" in page.text
    assert "CH de Valence" in page.text and "version 1" in page.text

    listing = alice.get(f"/projects?template_id={template_id}")
    assert listing.status_code == 200
    assert "Déploiement pompes" in listing.text
    counts = re.findall(r'data-phase="(\w+)">[^<]*<span class="pill-count">(\d+)</span>', listing.text)
    assert counts == [("qualification", "1"), ("presentation", "0"), ("essai", "0")]

    board = alice.get(f"/projects/board?template_id={template_id}")
    assert board.status_code == 200
    assert re.search(rf'data-phase-key="qualification">.*?data-project-id="{pid}"', board.text, re.S)

    home = alice.get("/")
    assert 'data-testid="my-projects"' in home.text and "Déploiement pompes" in home.text

    assert alice.get("/projects/timeline").status_code == 403  # managers only
    timeline = web("manager").get("/projects/timeline")
    assert timeline.status_code == 200 and f'data-project-id="{pid}"' in timeline.text
    assert 'data-testid="gantt-segment"' in timeline.text

    outsider = web("outsider")
    assert outsider.get(f"/projects/{pid}").status_code == 404
    assert "Déploiement pompes" not in outsider.get("/projects").text
    assert "Déploiement pompes" not in outsider.get(f"/projects/board?template_id={template_id}").text
    r = post(outsider, f"/projects/{pid}/phases/0/checklist", {"item": "Budget connu", "done": "1"})
    assert r.status_code == 404


def test_settings_page_is_for_managers(web):
    assert web("alice").get("/settings/projects").status_code == 403
    manager = web("manager")
    page = manager.get("/settings/projects")
    assert page.status_code == 200 and 'name="one_active_per_establishment" checked' in page.text
    r = post(manager, "/settings/projects", {"one_active_per_establishment": "on", "portal_link_days": "0"})
    assert r.status_code == 422 and 'data-error-for="portal_link_days"' in r.text


def test_the_establishment_page_lists_its_projects(web, api, template_id):
    org = make_org(api, "CH de Montélimar")
    r = api("alice").post("/api/v1/projects", json={"template_id": template_id, "organisation_id": org})
    assert r.status_code == 201, r.text
    page = web("alice").get(f"/organisations/{org}")
    assert f'hx-get="/projects/_for/organisation/{org}"' in page.text
    panel = web("alice").get(f"/projects/_for/organisation/{org}")
    assert panel.status_code == 200 and "<html" not in panel.text
    assert f'href="/projects/{r.json()["id"]}"' in panel.text and "Qualification" in panel.text
    assert f'href="/projects/new?organisation_id={org}"' in panel.text
    assert web("outsider").get(f"/projects/_for/organisation/{org}").status_code == 404
