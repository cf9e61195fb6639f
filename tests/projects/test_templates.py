"""Project templates: the definition rules (each with its error path), versions (a changed
definition adds one, an unchanged one does not, old versions and the projects on them stay as they
were), duplicate, export → import, delete refused while used, permissions, the shipped templates
and the settings editor pages."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from carnet.core.audit import AuditEntry
from carnet.core.errors import ValidationFailed
from carnet.projects.definition import parse_definition
from carnet.projects.models import Project, ProjectTemplate, ProjectTemplateVersion

CH_PHASES = [
    "Qualification",
    "Présentation",
    "Essai / Évaluation",
    "Référencement / Appel d'offres",
    "Déploiement",
    "Formation",
    "Suivi",
]


def definition(**phase: Any) -> dict[str, Any]:
    base = {
        "name": "Qualification",
        "tasks": [{"title": "Identifier les interlocuteurs", "due_days": 7}],
        "checklist": ["Besoin identifié"],
        "documents": ["Fiche établissement"],
        "required_fields": ["target_date"],
    }
    return {"phases": [{**base, **phase}]}


def errors_of(data: Any) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        parse_definition(data)
    return {e.field: e.code for e in caught.value.errors}


# -- definition rules --------------------------------------------------------------------------------


def test_normalises_strings_defaults_and_keys():
    parsed = parse_definition(
        {
            "phases": [
                {
                    "name": "  Essai / Évaluation ",
                    "description": "  ",
                    "tasks": [{"title": " Livrer le matériel ", "due_days": "10"}],
                    "checklist": [" Convention signée "],
                    "documents": ["Compte rendu d'essai"],
                    "required_fields": [" document:Compte rendu d'essai", "contact_role:pharmacist"],
                    "unknown": "dropped",
                },
                {"name": "Essai - évaluation bis", "key": ""},
                {"name": "Essai ; Évaluation"},
            ]
        }
    )
    first = parsed["phases"][0]
    assert first == {
        "key": "essai_evaluation",
        "name": "Essai / Évaluation",
        "description": None,
        "tasks": [
            {
                "title": "Livrer le matériel",
                "description": None,
                "due_days": 10,
                "priority": "normal",
                "assignee": {"type": "owner"},
            }
        ],
        "checklist": ["Convention signée"],
        "documents": ["Compte rendu d'essai"],
        "required_fields": ["document:Compte rendu d'essai", "contact_role:pharmacist"],
    }
    # derived keys never clash
    assert [p["key"] for p in parsed["phases"]] == [
        "essai_evaluation",
        "essai_evaluation_bis",
        "essai_evaluation_2",
    ]
    assert parse_definition(parsed) == parsed  # normalising twice changes nothing


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, {"phases": "required"}),
        ({"phases": []}, {"phases": "required"}),
        ({"phases": [{"name": f"P{i}"} for i in range(31)]}, {"phases": "too_many"}),
        ({"phases": ["not an object"]}, {"phases[0]": "invalid_type"}),
        (definition(name=" "), {"phases[0].name": "required"}),
        (definition(name="x" * 121), {"phases[0].name": "too_long"}),
        (definition(key="Bad Key"), {"phases[0].key": "invalid"}),
        (definition(tasks="x"), {"phases[0].tasks": "invalid_type"}),
        (definition(tasks=[{"title": ""}]), {"phases[0].tasks[0].title": "required"}),
        (definition(tasks=[{"title": "t" * 201}]), {"phases[0].tasks[0].title": "too_long"}),
        (definition(tasks=[{"title": "T", "due_days": -1}]), {"phases[0].tasks[0].due_days": "out_of_range"}),
        (
            definition(tasks=[{"title": "T", "due_days": 3651}]),
            {"phases[0].tasks[0].due_days": "out_of_range"},
        ),
        (
            definition(tasks=[{"title": "T", "due_days": "abc"}]),
            {"phases[0].tasks[0].due_days": "invalid_type"},
        ),
        (
            definition(tasks=[{"title": "T", "due_days": True}]),
            {"phases[0].tasks[0].due_days": "invalid_type"},
        ),
        (
            definition(tasks=[{"title": "T", "priority": "asap"}]),
            {"phases[0].tasks[0].priority": "invalid_choice"},
        ),
        (
            definition(tasks=[{"title": "T"}, {"title": "U", "assignee": {"type": "user"}}]),
            {"phases[0].tasks[1].assignee.user_id": "required"},
        ),
        (
            definition(tasks=[{"title": "T", "assignee": {"type": "member_role", "role": " "}}]),
            {"phases[0].tasks[0].assignee.role": "required"},
        ),
        (
            definition(tasks=[{"title": "T", "assignee": {"type": "robot"}}]),
            {"phases[0].tasks[0].assignee.type": "invalid_choice"},
        ),
        (definition(checklist=["Budget connu", " budget connu "]), {"phases[0].checklist[1]": "duplicate"}),
        (definition(checklist=["ok", ""]), {"phases[0].checklist[1]": "required"}),
        (definition(checklist=["c" * 201]), {"phases[0].checklist[0]": "too_long"}),
        (definition(checklist="Budget"), {"phases[0].checklist": "invalid_type"}),
        (definition(documents=["Devis", "Devis"]), {"phases[0].documents[1]": "duplicate"}),
        (
            definition(required_fields=["target_date", "budget"]),
            {"phases[0].required_fields[1]": "invalid_choice"},
        ),
        (definition(required_fields=["deal:x"]), {"phases[0].required_fields[0]": "invalid_choice"}),
        (
            definition(required_fields=["contact_role:dentist"]),
            {"phases[0].required_fields[0]": "invalid_choice"},
        ),
        (definition(required_fields=["contact_role:"]), {"phases[0].required_fields[0]": "required"}),
        (definition(required_fields=["custom:Bad Key"]), {"phases[0].required_fields[0]": "invalid"}),
        (definition(required_fields=["document:Devis signé"]), {"phases[0].required_fields[0]": "unknown"}),
    ],
)
def test_each_rule_names_its_path(data, expected):
    assert errors_of(data) == expected


def test_duplicate_phase_names_and_keys():
    data = {
        "phases": [
            {"name": "Suivi", "key": "suivi"},
            {"name": "suivi ", "key": "suivi"},
        ]
    }
    assert errors_of(data) == {"phases[1].name": "duplicate", "phases[1].key": "duplicate"}


def test_every_vocabulary_entry_is_accepted():
    fields = [
        "target_date",
        "description",
        "notes",
        "deal",
        "deal_won",
        "custom:numero_marche",
        "contact_role:biomedical_engineer",
        "member_role:Formateur",
        "document:Fiche établissement",
    ]
    tasks = [
        {"title": "A", "assignee": {"type": "user", "user_id": 3}, "priority": "urgent"},
        {"title": "B", "assignee": {"type": "member_role", "role": " Formateur "}},
    ]
    phase = parse_definition(definition(required_fields=fields, tasks=tasks))["phases"][0]
    assert phase["required_fields"] == fields
    assert [t["assignee"] for t in phase["tasks"]] == [
        {"type": "user", "user_id": 3},
        {"type": "member_role", "role": "Formateur"},
    ]


# -- API -----------------------------------------------------------------------------------------------


def _create(api, who: str = "manager", name: str = "Ehpad", definition_: dict | None = None):
    return api(who).post(
        "/api/v1/project-templates",
        json={"name": name, "description": "Maisons de retraite", "definition": definition_ or definition()},
    )


def _template_count(db) -> int:
    return len(db.scalars(select(ProjectTemplate.id)).all())


def test_shipped_templates_exist_after_migration(api):
    r = api("reader").get("/api/v1/project-templates")
    assert r.status_code == 200
    by_name = {t["name"]: t for t in r.json()["items"]}
    assert {"Centre Hospitalier", "Clinique privée"} <= set(by_name)
    ch = by_name["Centre Hospitalier"]
    assert ch["current_version"] == 1 and ch["phase_count"] == 7
    assert [p["name"] for p in ch["definition"]["phases"]] == CH_PHASES
    assert all(p["tasks"] and p["checklist"] for p in ch["definition"]["phases"])
    clinic = by_name["Clinique privée"]["definition"]["phases"]
    assert [p["name"] for p in clinic] == [
        "Qualification",
        "Présentation",
        "Essai",
        "Négociation",
        "Déploiement",
        "Formation",
        "Suivi",
    ]
    # what the migration stored passes today's rules unchanged
    assert parse_definition(ch["definition"]) == ch["definition"]


def test_versions_projects_keep_theirs(api, db, personas):
    created = _create(api)
    assert created.status_code == 201, created.text
    template = created.json()
    assert created.headers["location"] == f"/api/v1/project-templates/{template['id']}"
    assert template["current_version"] == 1 and template["definition"]["phases"][0]["key"] == "qualification"
    tid = template["id"]
    v1 = template["definition"]

    # a project started on version 1
    org = api("alice").post("/api/v1/organisations", json={"name": "Ehpad Les Tilleuls"}).json()
    version1 = db.scalar(
        select(ProjectTemplateVersion).where(
            ProjectTemplateVersion.template_id == tid, ProjectTemplateVersion.number == 1
        )
    )
    project = Project(
        name="Ehpad Les Tilleuls",
        organisation_id=org["id"],
        template_id=tid,
        template_version_id=version1.id,
        start_date=date(2026, 1, 5),
        owner_id=personas["alice"].id,
    )
    db.add(project)
    db.commit()

    # the same definition (even re-spelt with spaces) adds no version
    same = definition(name=" Qualification ")
    r = api("manager").patch(
        f"/api/v1/project-templates/{tid}", json={"definition": same, "description": "EHPAD"}
    )
    assert r.status_code == 200 and r.json()["current_version"] == 1 and r.json()["description"] == "EHPAD"
    assert len(api("manager").get(f"/api/v1/project-templates/{tid}/versions").json()["items"]) == 1

    changed = definition(checklist=["Besoin identifié", "Budget connu"])
    r = api("manager").patch(f"/api/v1/project-templates/{tid}", json={"definition": changed})
    assert r.status_code == 200, r.text
    assert r.json()["current_version"] == 2
    assert r.json()["definition"]["phases"][0]["checklist"] == ["Besoin identifié", "Budget connu"]

    versions = api("reader").get(f"/api/v1/project-templates/{tid}/versions").json()["items"]
    assert [(v["number"], v["project_count"]) for v in versions] == [(2, 0), (1, 1)]
    old = api("reader").get(f"/api/v1/project-templates/{tid}/versions/1").json()
    assert old["definition"] == v1
    assert api("reader").get(f"/api/v1/project-templates/{tid}/versions/3").status_code == 404

    db.expire_all()
    assert db.get(Project, project.id).template_version_id == version1.id
    entries = db.scalars(
        select(AuditEntry).where(AuditEntry.record_type == "project_template", AuditEntry.record_id == tid)
    ).all()
    assert [e.action for e in entries] == ["create", "update", "update"]
    assert entries[-1].changes["current_version"] == {"old": 1, "new": 2}


def test_concurrent_save_gets_409_and_changes_nothing(api, db):
    tid = _create(api).json()["id"]
    # another save took number 2 after this one read the template
    db.add(ProjectTemplateVersion(template_id=tid, number=2, definition=definition(name="Autre")))
    db.commit()
    r = api("manager").patch(
        f"/api/v1/project-templates/{tid}",
        json={"name": "Ehpad public", "definition": definition(name="Accueil")},
    )
    assert r.status_code == 409 and r.json()["code"] == "template_version_conflict"
    after = api("manager").get(f"/api/v1/project-templates/{tid}").json()
    assert (after["name"], after["current_version"]) == ("Ehpad", 1)


def test_invalid_definition_is_refused_with_paths(api, db):
    before = _template_count(db)
    bad = definition(tasks=[{"title": "T", "due_days": -2}], required_fields=["budget"])
    r = _create(api, definition_=bad)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {
        "definition.phases[0].tasks[0].due_days",
        "definition.phases[0].required_fields[0]",
    }
    r = _create(api, name="Centre Hospitalier")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name"
    assert _template_count(db) == before


def test_duplicate_copies_the_current_version(api):
    tid = _create(api).json()["id"]
    changed = definition(documents=["Fiche établissement", "Contrat de séjour"])
    api("manager").patch(f"/api/v1/project-templates/{tid}", json={"definition": changed})
    r = api("manager").post(f"/api/v1/project-templates/{tid}/duplicate", json={"name": "Ehpad privé"})
    assert r.status_code == 201, r.text
    copy = r.json()
    assert copy["id"] != tid and copy["current_version"] == 1 and copy["name"] == "Ehpad privé"
    assert copy["definition"]["phases"][0]["documents"] == ["Fiche établissement", "Contrat de séjour"]
    clash = api("manager").post(f"/api/v1/project-templates/{tid}/duplicate", json={"name": "ehpad privé"})
    assert clash.status_code == 422 and clash.json()["errors"][0]["field"] == "name"


def test_export_import_round_trip(api):
    listing = api("manager").get("/api/v1/project-templates").json()["items"]
    ch = next(t for t in listing if t["name"] == "Centre Hospitalier")
    r = api("reader").get(f"/api/v1/project-templates/{ch['id']}/export")
    assert r.status_code == 200
    assert r.headers["content-disposition"] == 'attachment; filename="centre-hospitalier-v1.json"'
    document = r.json()
    assert (document["format"], document["format_version"], document["version"]) == (
        "carnet.project-template",
        1,
        1,
    )

    clash = api("manager").post("/api/v1/project-templates/import", json=document)
    assert clash.status_code == 422 and [e["field"] for e in clash.json()["errors"]] == ["name"]

    r = api("manager").post(
        "/api/v1/project-templates/import", params={"name": "CH de Lorient"}, json=document
    )
    assert r.status_code == 201, r.text
    imported = r.json()
    assert imported["name"] == "CH de Lorient" and imported["current_version"] == 1
    assert imported["definition"] == document["definition"] == ch["definition"]


def test_import_of_an_invalid_file_lists_field_errors(api, db):
    before = _template_count(db)
    document = {
        "format": "carnet.project-template",
        "format_version": 1,
        "name": "Cassé",
        "definition": {"phases": [{"name": "A", "tasks": [{"title": "", "due_days": 5000}]}]},
    }
    r = api("manager").post("/api/v1/project-templates/import", json=document)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert {e["field"] for e in r.json()["errors"]} == {
        "definition.phases[0].tasks[0].title",
        "definition.phases[0].tasks[0].due_days",
    }
    r = api("manager").post("/api/v1/project-templates/import", json={"format": "other", "name": "X"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "format"
    assert _template_count(db) == before


def test_delete_refused_while_used_archive_instead(api, db, personas):
    tid = _create(api).json()["id"]
    org = api("alice").post("/api/v1/organisations", json={"name": "Ehpad du Lac"}).json()
    version = db.scalar(select(ProjectTemplateVersion).where(ProjectTemplateVersion.template_id == tid))
    db.add(
        Project(
            name="Ehpad du Lac",
            organisation_id=org["id"],
            template_id=tid,
            template_version_id=version.id,
            start_date=date(2026, 1, 5),
            owner_id=personas["alice"].id,
        )
    )
    db.commit()
    r = api("admin").delete(f"/api/v1/project-templates/{tid}")
    assert r.status_code == 409 and r.json()["code"] == "template_in_use"
    assert api("admin").get(f"/api/v1/project-templates/{tid}").status_code == 200

    r = api("manager").patch(f"/api/v1/project-templates/{tid}", json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    names = [t["name"] for t in api("manager").get("/api/v1/project-templates").json()["items"]]
    assert "Ehpad" not in names
    names = [
        t["name"]
        for t in api("manager")
        .get("/api/v1/project-templates", params={"include_inactive": "true"})
        .json()["items"]
    ]
    assert "Ehpad" in names


def test_delete_unused(api, db):
    tid = _create(api).json()["id"]
    assert api("manager").delete(f"/api/v1/project-templates/{tid}").status_code == 204
    assert api("manager").get(f"/api/v1/project-templates/{tid}").status_code == 404
    assert (
        db.scalars(select(ProjectTemplateVersion).where(ProjectTemplateVersion.template_id == tid)).all()
        == []
    )
    assert db.scalar(
        select(AuditEntry.action).where(
            AuditEntry.record_type == "project_template",
            AuditEntry.record_id == tid,
            AuditEntry.action == "delete",
        )
    )


def test_permissions(api, db):
    before = _template_count(db)
    assert _create(api, who="alice").status_code == 403
    assert _create(api, who="fiona").status_code == 403
    assert _template_count(db) == before
    for who in ("alice", "fiona", "reader", "outsider"):
        assert api(who).get("/api/v1/project-templates").status_code == 200
    tid = _create(api, who="admin").json()["id"]
    r = api("reader").patch(
        f"/api/v1/project-templates/{tid}", json={"name": "Renommé", "definition": definition(name="X")}
    )
    assert r.status_code == 403
    assert api("reader").delete(f"/api/v1/project-templates/{tid}").status_code == 403
    assert (
        api("alice").post(f"/api/v1/project-templates/{tid}/duplicate", json={"name": "Copie"}).status_code
        == 403
    )
    after = api("reader").get(f"/api/v1/project-templates/{tid}").json()
    assert (after["name"], after["current_version"]) == ("Ehpad", 1)
    assert api("reader").get(f"/api/v1/project-templates/{tid}/export").status_code == 200
    assert api("manager").get("/api/v1/project-templates/999999").status_code == 404


def test_routes_are_in_openapi(api):
    paths = api("reader").get("/api/openapi.json").json()["paths"]
    for path in (
        "/api/v1/project-templates",
        "/api/v1/project-templates/import",
        "/api/v1/project-templates/{template_id}",
        "/api/v1/project-templates/{template_id}/versions",
        "/api/v1/project-templates/{template_id}/versions/{number}",
        "/api/v1/project-templates/{template_id}/duplicate",
        "/api/v1/project-templates/{template_id}/export",
    ):
        assert path in paths


# -- settings pages -------------------------------------------------------------------------------------


def _post(client, url: str, data: dict, **kwargs):
    return client.post(url, data={"csrf_token": client.csrf, **data}, follow_redirects=False, **kwargs)


def _ch_id(api) -> int:
    items = api("manager").get("/api/v1/project-templates").json()["items"]
    return next(t["id"] for t in items if t["name"] == "Centre Hospitalier")


def test_editor_pages(web, api):
    manager = web("manager")
    listing = manager.get("/settings/project-templates")
    assert (
        listing.status_code == 200
        and "Centre Hospitalier" in listing.text
        and "Modèles de projet" in listing.text
    )
    assert manager.get("/settings").text.count("/settings/project-templates") >= 1

    tid = _ch_id(api)
    page = manager.get(f"/settings/project-templates/{tid}")
    assert page.status_code == 200
    assert page.text.count('data-testid="phase-card"') == 7 + 1  # + the blank one the script clones
    assert "Sortable.min.js" in page.text and 'value="Référencement / Appel d&#39;offres"' in page.text

    document = api("manager").get(f"/api/v1/project-templates/{tid}").json()["definition"]
    bad = json.loads(json.dumps(document))
    bad["phases"][0]["tasks"][0]["due_days"] = -3
    bad["phases"][2]["name"] = "Qualification"
    r = _post(
        manager,
        f"/settings/project-templates/{tid}",
        {"name": "Centre Hospitalier", "description": "CH", "active": "1", "definition": json.dumps(bad)},
    )
    assert r.status_code == 422
    assert 'data-error-for="definition.phases[0].tasks[0].due_days"' in r.text
    assert 'data-error-for="definition.phases[2].name"' in r.text
    assert "Doit être compris entre 0 et 3650" in r.text
    assert api("manager").get(f"/api/v1/project-templates/{tid}").json()["current_version"] == 1

    good = json.loads(json.dumps(document))
    good["phases"][0]["tasks"].append({"title": "Appeler le pharmacien", "due_days": 3})
    good["phases"].insert(0, good["phases"].pop(6))  # "Suivi" dragged first
    r = _post(
        manager,
        f"/settings/project-templates/{tid}",
        {"name": "Centre Hospitalier", "description": "CH", "active": "1", "definition": json.dumps(good)},
    )
    assert r.status_code == 303 and r.headers["location"] == f"/settings/project-templates/{tid}"
    saved = api("manager").get(f"/api/v1/project-templates/{tid}").json()
    assert saved["current_version"] == 2 and saved["description"] == "CH"
    assert saved["definition"]["phases"][0]["name"] == "Suivi"
    assert saved["definition"]["phases"][1]["tasks"][-1]["title"] == "Appeler le pharmacien"

    old = manager.get(f"/settings/project-templates/{tid}/versions/1")
    assert old.status_code == 200 and old.text.count('data-testid="phase-view"') == 7
    assert "Lecture seule" in old.text
    download = manager.get(f"/settings/project-templates/{tid}/export?version=1")
    assert download.headers["content-disposition"] == 'attachment; filename="centre-hospitalier-v1.json"'


def test_new_duplicate_and_import_pages(web, api):
    manager = web("manager")
    assert manager.get("/settings/project-templates/new").status_code == 200
    r = _post(
        manager, "/settings/project-templates/new", {"name": "", "definition": json.dumps({"phases": []})}
    )
    assert r.status_code == 422
    assert 'data-error-for="name"' in r.text and 'data-error-for="definition.phases"' in r.text
    r = _post(
        manager, "/settings/project-templates/new", {"name": "Ehpad", "definition": json.dumps(definition())}
    )
    assert r.status_code == 303
    tid = int(re.search(r"/(\d+)$", r.headers["location"]).group(1))

    r = _post(manager, f"/settings/project-templates/{tid}/duplicate", {"copy_name": "Centre Hospitalier"})
    assert r.status_code == 422 and 'data-error-for="copy_name"' in r.text
    r = _post(manager, f"/settings/project-templates/{tid}/duplicate", {"copy_name": "Ehpad (copie)"})
    assert r.status_code == 303

    exported = api("manager").get(f"/api/v1/project-templates/{tid}/export").content
    r = _post(
        manager,
        "/settings/project-templates/import",
        {},
        files={"file": ("ehpad.json", exported, "application/json")},
    )
    assert r.status_code == 422 and 'data-error-for="name"' in r.text
    r = _post(
        manager,
        "/settings/project-templates/import",
        {"name": "Ehpad importé"},
        files={"file": ("ehpad.json", exported, "application/json")},
    )
    assert r.status_code == 303
    r = _post(
        manager,
        "/settings/project-templates/import",
        {},
        files={"file": ("x.json", b"{oops", "application/json")},
    )
    assert r.status_code == 422 and 'data-error-for="file"' in r.text
    names = {t["name"] for t in api("manager").get("/api/v1/project-templates").json()["items"]}
    assert {"Ehpad", "Ehpad (copie)", "Ehpad importé"} <= names


def test_sales_reads_but_cannot_edit(web, api):
    alice = web("alice")
    page = alice.get("/settings/project-templates")
    assert page.status_code == 200 and "/settings/project-templates/new" not in page.text
    tid = _ch_id(api)
    r = _post(
        alice,
        f"/settings/project-templates/{tid}",
        {"name": "Pirate", "definition": json.dumps(definition())},
    )
    assert r.status_code == 403
    assert api("manager").get(f"/api/v1/project-templates/{tid}").json()["name"] == "Centre Hospitalier"
