"""Bulk creation, the workflow action "create project from template", project events as workflow
triggers, and the timeline shared with the organisation."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from stdnum import luhn

from carnet.accounts import service as accounts
from carnet.accounts.models import User
from carnet.core import jobs, timeline
from carnet.deals import pipelines
from carnet.deals import service as deals
from carnet.deals.models import Pipeline
from carnet.projects import service as projects
from carnet.projects.models import Project, ProjectDeal
from carnet.webhooks import catalogue
from carnet.workflows import service as workflows
from carnet.workflows.models import WorkflowRun, WorkflowRunStep


def _siren(seed: int) -> str:
    base = f"{seed:08d}"
    return base + luhn.calc_check_digit(base)


def _finess(seed: int) -> str:
    """A FINESS of the Drôme (26) with its Luhn key."""
    base = f"26000{seed:03d}"
    return base + luhn.calc_check_digit(base)


@pytest.fixture
def actor(db, personas):
    return lambda key: accounts.actor_for(db.get(User, personas[key].id))


@pytest.fixture
def stages(db):
    pipelines.ensure_default_pipelines(db)
    db.commit()
    pipeline = db.query(Pipeline).filter(Pipeline.is_default.is_(True)).one()
    return {s.name: s for s in pipelines.stages(db, pipeline)}


@pytest.fixture
def drain(db):
    def run() -> int:
        done = jobs.drain()
        db.expire_all()
        return done

    return run


def test_bulk_creation_of_six_projects_by_organisation_ids(api, db, template_id, make_org):
    orgs = [make_org(f"Établissement {i}") for i in range(6)]
    r = api("alice").post(
        "/api/v1/projects/bulk",
        json={"template_id": template_id, "organisation_ids": orgs, "target_date": "2026-09-30"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert sorted(p["organisation_id"] for p in body["created"]) == sorted(orgs)
    assert body["skipped"] == []
    assert {p["target_date"] for p in body["created"]} == {"2026-09-30"}
    assert all(p["current_phase"]["key"] == "qualification" for p in body["created"])
    assert db.query(Project).count() == 6


def test_bulk_by_pasted_numbers_reports_unknown_invalid_and_duplicates(api, db, template_id, make_org):
    by_siren = [make_org(f"Clinique {i}", siren=_siren(10000 + i)) for i in range(4)]
    # a site (FINESS ET) and a legal entity (FINESS EJ)
    by_finess = [make_org("EHPAD 0", finess=_finess(0)), make_org("EHPAD 1", finess_ej=_finess(1))]
    # One of them already has an open project of the template.
    r = api("alice").post(
        "/api/v1/projects", json={"template_id": template_id, "organisation_id": by_siren[0]}
    )
    assert r.status_code == 201
    unknown = _siren(99999)
    pasted = "\n".join(
        [
            _siren(10000),
            f"{_siren(10001)[:3]} {_siren(10001)[3:6]} {_siren(10001)[6:]}",  # spaces inside a number
            f"{_siren(10002)}, {_siren(10003)}; {_finess(0)}",
            _finess(1),
            unknown,
            "ABC",
            _siren(10002),
        ]
    )
    r = api("alice").post("/api/v1/projects/bulk", json={"template_id": template_id, "identifiers": pasted})
    assert r.status_code == 201, r.text
    body = r.json()
    assert sorted(p["organisation_id"] for p in body["created"]) == sorted(by_siren[1:] + by_finess)
    assert body["skipped"] == [
        {
            "label": f"{_siren(10000)} (Clinique 0)",
            "reason": "Un projet en cours issu de ce modèle existe déjà",
        },
        {"label": unknown, "reason": "Aucune organisation visible n'a ce numéro"},
        {"label": "ABC", "reason": "Ce n'est pas un numéro SIREN, SIRET ou FINESS"},
        {"label": f"{_siren(10002)} (Clinique 2)", "reason": "Présent deux fois"},
    ]
    assert db.query(Project).count() == 6


def test_bulk_invalid_template_creates_nothing(api, db, make_org):
    org = make_org()
    r = api("alice").post("/api/v1/projects/bulk", json={"template_id": 9999, "organisation_ids": [org]})
    assert r.status_code == 422
    assert db.query(Project).count() == 0


def _won_workflow(db, actor, template_id: int, **params: Any):
    definition = {
        "trigger": {"type": "deal.won", "record_type": "deal", "params": {}},
        "start": "project",
        "steps": {
            "project": {
                "type": "action",
                "action": "create_project",
                "params": {"template_id": template_id, "target_days": 90, **params},
            }
        },
    }
    assert workflows.validate_definition(db, definition) == []
    wf = workflows.create_workflow(
        db, actor("admin"), {"name": "Projet quand gagné", "definition": definition}
    )
    workflows.enable(db, actor("admin"), wf)
    return wf


def test_workflow_creates_the_project_when_a_deal_is_won(
    db, actor, stages, drain, template_id, org_id, personas
):
    wf = _won_workflow(db, actor, template_id)
    deal = deals.create_deal(
        db,
        actor("alice"),
        {
            "title": "Pompes",
            "pipeline_id": stages["Qualification"].pipeline_id,
            "stage_id": stages["Qualification"].id,
            "organisation_id": org_id,
        },
    )
    deals.move_deal(db, actor("alice"), deal, stages["Gagné"].id)
    drain()
    project = db.scalars(select(Project)).one()
    assert (project.organisation_id, project.template_id, project.owner_id) == (
        org_id,
        template_id,
        personas["alice"].id,
    )
    assert project.target_date.isoformat() == "2026-04-15"  # 2026-01-15 + 90 days
    assert db.scalars(select(ProjectDeal.deal_id).where(ProjectDeal.project_id == project.id)).all() == [
        deal.id
    ]
    assert db.query(WorkflowRun).filter_by(workflow_id=wf.id).one().status == "completed"

    # A second won deal of the same establishment: the duplicate fails the step for good.
    second = deals.create_deal(
        db,
        actor("alice"),
        {
            "title": "Lits",
            "pipeline_id": stages["Qualification"].pipeline_id,
            "stage_id": stages["Qualification"].id,
            "organisation_id": org_id,
        },
    )
    deals.move_deal(db, actor("alice"), second, stages["Gagné"].id)
    drain()
    runs = db.query(WorkflowRun).filter_by(workflow_id=wf.id).order_by(WorkflowRun.id).all()
    assert runs[1].status == "failed"
    step = db.query(WorkflowRunStep).filter_by(run_id=runs[1].id).one()
    assert f"already has an open project from this template (project {project.id})" in (step.error or "")
    assert db.query(Project).count() == 1


def test_create_project_action_is_checked(db, template_id):
    def problems(record_type: str, params: dict) -> set[str]:
        definition = {
            "trigger": {"type": "record.created", "record_type": record_type, "params": {}},
            "start": "p",
            "steps": {"p": {"type": "action", "action": "create_project", "params": params}},
        }
        return {p["field"] for p in workflows.validate_definition(db, definition)}

    assert problems("deal", {"template_id": 9999, "target_days": "x"}) == {
        "params.template_id",
        "params.target_days",
    }
    assert problems("organisation", {"template_id": template_id}) == set()
    assert problems("contact", {"template_id": template_id}) == {"action"}


def test_phase_changed_and_completed_trigger_workflows(db, actor, drain, api, make_project):
    def stop_on(trigger_type: str, **params: Any):
        definition = {
            "trigger": {"type": trigger_type, "record_type": "project", "params": params},
            "start": "s",
            "steps": {"s": {"type": "stop"}},
        }
        wf = workflows.create_workflow(db, actor("admin"), {"name": trigger_type, "definition": definition})
        workflows.enable(db, actor("admin"), wf)
        return wf

    to_presentation = stop_on("project.phase_changed", to_phase="presentation")
    to_other = stop_on("project.phase_changed", to_phase="deploiement")
    completed = stop_on("project.completed")
    project = make_project(target_date="2026-06-30")
    pid = project["id"]
    for item in ("Besoin identifié", "Budget connu"):
        api("alice").put(f"/api/v1/projects/{pid}/phases/0/checklist", json={"item": item, "done": True})
    # Skip the other required items through the definition: reopen/close on phase 1 is enough.
    p = projects.get_project(db, actor("alice"), pid)
    phase = projects._phase(db, p, 0)
    from carnet.projects.models import ProjectTemplateVersion

    version = db.get(ProjectTemplateVersion, p.template_version_id)
    definition = dict(version.definition)
    definition["phases"] = [dict(definition["phases"][0], required_fields=[]), *definition["phases"][1:]]
    version.definition = definition
    db.commit()
    assert phase.state == "open"
    assert api("alice").post(f"/api/v1/projects/{pid}/phases/0/close").status_code == 200
    drain()
    runs = lambda wf: db.query(WorkflowRun).filter_by(workflow_id=wf.id).count()  # noqa: E731
    assert (runs(to_presentation), runs(to_other), runs(completed)) == (1, 0, 0)
    api("alice").put(f"/api/v1/projects/{pid}/phases/1/checklist", json={"item": "Démo faite", "done": True})
    assert api("alice").post(f"/api/v1/projects/{pid}/phases/1/close").status_code == 200
    assert api("alice").post(f"/api/v1/projects/{pid}/phases/2/close").status_code == 200
    drain()
    assert (runs(to_presentation), runs(to_other), runs(completed)) == (1, 1, 1)


def test_project_events_are_catalogued_with_an_example_of_the_read_shape():
    from carnet.projects.schemas import ProjectRead

    for name in (
        "project.created",
        "project.updated",
        "project.deleted",
        "project.phase_changed",
        "project.completed",
    ):
        assert name in catalogue.names()
    ProjectRead.model_validate(catalogue.EXAMPLES["project"])
    assert set(catalogue.EXAMPLES["project"]) == set(ProjectRead.model_fields)
    assert catalogue.example_payload("project.phase_changed")["changes"]["phase"] == {
        "old": "qualification",
        "new": "presentation",
    }


def test_timeline_shared_with_the_organisation(api, db, actor, make_project, org_id):
    project = make_project()
    pid = project["id"]
    r = api("alice").post(
        "/api/v1/activities", json={"kind": "call", "subject": "Appel pharmacien", "organisation_id": org_id}
    )
    assert r.status_code == 201, r.text
    projects.log_activity(
        db,
        actor("alice"),
        projects.get_project(db, actor("alice"), pid),
        {"kind": "visit", "subject": "Visite du bloc"},
    )
    on_project = timeline.for_record(db, actor("alice"), "project", pid)
    titles = {i.title for i in on_project}
    tasks_shown = [i.title for i in on_project if i.kind == "task"]
    assert len(tasks_shown) == len(set(tasks_shown))  # each task once
    assert {
        "Appel pharmacien",
        "Visite du bloc",
        "Project created: {name}",
        "Identifier les interlocuteurs",
    } <= titles
    on_org = timeline.for_record(db, actor("alice"), "organisation", org_id)
    org_titles = {i.title for i in on_org}
    org_tasks = [i.title for i in on_org if i.kind == "task"]
    assert len(org_tasks) == len(set(org_tasks))
    assert {"Visite du bloc", "Project created: {name}", "Identifier les interlocuteurs"} <= org_titles
    # An outsider sees neither the project's events nor its tasks on the organisation.
    assert timeline.for_record(db, actor("outsider"), "project", pid) == []
