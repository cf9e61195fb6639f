"""Helpers of the project page tests: a template written straight through the models (the
templates service lives in another branch), establishments created through the API, and form
posts with the CSRF token."""

from __future__ import annotations

from typing import Any

from stdnum import luhn

from carnet.projects.models import ProjectTemplate, ProjectTemplateVersion

PHASES: list[dict[str, Any]] = [
    {
        "key": "qualification",
        "name": "Qualification",
        "tasks": [
            {"title": "Identifier les interlocuteurs clés", "due_days": 7, "assignee": {"type": "owner"}}
        ],
        "checklist": ["Besoin clinique identifié", "Budget connu"],
        "documents": ["Fiche établissement"],
        "required_fields": ["target_date"],
    },
    {
        "key": "presentation",
        "name": "Présentation",
        "tasks": [{"title": "Présenter la gamme au pharmacien", "due_days": 3}],
        "checklist": [],
        "documents": [],
        "required_fields": [],
    },
    {
        "key": "essai",
        "name": "Essai / Évaluation",
        "tasks": [{"title": "Organiser l'essai", "due_days": 10}],
        "checklist": ["Matériel livré"],
        "documents": [],
        "required_fields": ["contact_role:pharmacist"],
    },
]


def make_template(
    db, name: str = "Hôpital (modèle des pages)", phases: list[dict[str, Any]] | None = None
) -> int:  # type: ignore[no-untyped-def]
    template = ProjectTemplate(name=name, active=True, current_version=1)
    db.add(template)
    db.flush()
    db.add(ProjectTemplateVersion(template_id=template.id, number=1, definition={"phases": phases or PHASES}))
    db.commit()
    return template.id


def siren(seed: int) -> str:
    body = f"{73282932 + seed:08d}"
    return body + luhn.calc_check_digit(body)


def make_org(api, name: str, who: str = "alice", **extra: Any) -> int:  # type: ignore[no-untyped-def]
    r = api(who).post("/api/v1/organisations", json={"name": name, **extra})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def post(client, url: str, data: dict[str, Any] | None = None, **kwargs: Any):  # type: ignore[no-untyped-def]
    return client.post(
        url, data={"csrf_token": client.csrf, **(data or {})}, follow_redirects=False, **kwargs
    )
