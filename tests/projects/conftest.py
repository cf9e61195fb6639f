"""Fixtures for projects: a template factory (template + version with a definition dict), an
establishment, a project factory. Time is frozen on 2026-01-15 10:00 (Paris) unless a test moves it."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from carnet.core import clock, jobs
from carnet.projects.models import ProjectTemplate, ProjectTemplateVersion

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)

DEFINITION: dict[str, Any] = {
    "phases": [
        {
            "key": "qualification",
            "name": "Qualification",
            "tasks": [
                {"title": "Identifier les interlocuteurs", "due_days": 7, "assignee": {"type": "owner"}},
                {
                    "title": "Visite du service",
                    "due_days": 3,
                    "priority": "high",
                    "assignee": {"type": "user"},
                },
                {
                    "title": "Planifier la formation",
                    "due_days": 10,
                    "assignee": {"type": "member_role", "role": "formateur"},
                },
            ],
            "checklist": ["Besoin identifié", "Budget connu"],
            "documents": ["Fiche établissement"],
            "required_fields": ["target_date", "contact_role:pharmacist", "document:Fiche établissement"],
        },
        {
            "key": "presentation",
            "name": "Présentation",
            "tasks": [{"title": "Présenter la gamme", "due_days": 5}],
            "checklist": ["Démo faite"],
            "documents": [],
            "required_fields": [],
        },
        {
            "key": "deploiement",
            "name": "Déploiement",
            "tasks": [{"title": "Installer", "due_days": 0}],
            "checklist": [],
            "documents": [],
            "required_fields": [],
        },
    ]
}


@pytest.fixture(autouse=True)
def frozen_time():
    jobs._last_slot.clear()
    clock.freeze(NOW)
    yield
    clock.reset()


@pytest.fixture
def make_template(db, personas):
    """make_template(definition=None, name=...) -> template id; the `user` assignee of the default
    definition is bob."""

    def make(definition: dict[str, Any] | None = None, name: str = "Hôpital (modèle de test)") -> int:
        if definition is None:
            definition = copy.deepcopy(DEFINITION)
            definition["phases"][0]["tasks"][1]["assignee"]["user_id"] = personas["bob"].id
        template = ProjectTemplate(name=name, active=True, current_version=1)
        db.add(template)
        db.flush()
        db.add(ProjectTemplateVersion(template_id=template.id, number=1, definition=definition))
        db.commit()
        return template.id

    return make


@pytest.fixture
def template_id(make_template):
    return make_template()


@pytest.fixture
def make_org(api):
    def make(name: str = "CH de Valence", who: str = "alice", **extra: Any) -> int:
        r = api(who).post("/api/v1/organisations", json={"name": name, **extra})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    return make


@pytest.fixture
def org_id(make_org):
    return make_org()


@pytest.fixture
def make_project(api, template_id, org_id):
    def make(who: str = "alice", **extra: Any) -> dict:
        body = {"template_id": template_id, "organisation_id": org_id, **extra}
        r = api(who).post("/api/v1/projects", json=body)
        assert r.status_code == 201, r.text
        return r.json()

    return make
