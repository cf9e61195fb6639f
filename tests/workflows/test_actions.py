"""Each action, run for real through the engine and the domain services."""

from __future__ import annotations

from datetime import timedelta

import pytest

from carnet.accounts.models import User
from carnet.activities.models import Activity
from carnet.core import clock, customfields
from carnet.core.audit import AuditEntry
from carnet.core.context import SYSTEM
from carnet.core.tags import tags_for
from carnet.deals.models import Deal
from carnet.organisations import service as organisations
from carnet.tasks.models import Task
from carnet.workflows.models import WorkflowRotation, WorkflowRun, WorkflowRunStep


def on_deal_created(*steps: dict, record_type: str = "deal") -> dict:
    """Steps chained in order after a record.created trigger."""
    ids = [f"s{i}" for i in range(len(steps))]
    chained = {}
    for i, step in enumerate(steps):
        step = dict(step)
        if step["type"] in ("action", "wait"):
            step.setdefault("next", ids[i + 1] if i + 1 < len(ids) else None)
        chained[ids[i]] = step
    return {
        "trigger": {"type": "record.created", "record_type": record_type, "params": {}},
        "start": "s0",
        "steps": chained,
    }


def action(name: str, **params) -> dict:
    return {"type": "action", "action": name, "params": params}


def the_run(db, wf) -> WorkflowRun:
    return db.query(WorkflowRun).filter_by(workflow_id=wf.id).one()


def steps_of(db, run) -> list[tuple[str, str, int]]:
    return [
        (s.step_id, s.status, s.attempt)
        for s in db.query(WorkflowRunStep).filter_by(run_id=run.id).order_by(WorkflowRunStep.id)
    ]


def test_create_task_for_the_manager_and_audit_names_the_workflow(
    db, make_workflow, make_deal, drain, personas
):
    make_workflow(
        on_deal_created(
            action(
                "create_task",
                title="Revoir {{ deal.title }} ({{ owner.first_name }})",
                due_in_days=3,
                priority="high",
                assignee="manager",
            )
        ),
        name="Escalade",
    )
    now = clock.now()
    deal = make_deal("alice", title="Mairie de Lyon")
    drain()
    task = db.query(Task).filter_by(record_id=deal.id).one()
    assert (task.title, task.owner_id, task.priority) == (
        "Revoir Mairie de Lyon (Alice)",
        personas["manager"].id,
        "high",
    )
    assert task.due_at - now >= timedelta(days=3) and task.due_at - now < timedelta(days=3, minutes=1)
    entry = db.query(AuditEntry).filter_by(record_type="task", record_id=task.id, action="create").one()
    assert (entry.actor_id, entry.actor_label) == (None, "Workflow Escalade")


def test_log_activity(db, make_workflow, make_deal, drain, personas):
    wf = make_workflow(
        on_deal_created(
            action(
                "log_activity",
                kind="note",
                subject="Créée : {{ deal.title }}",
                body="Montant {{ deal.amount }}",
            )
        )
    )
    deal = make_deal("bob", title="Clinique Sud", amount="1200")
    drain()
    act = db.query(Activity).filter_by(deal_id=deal.id).one()
    assert (act.kind, act.subject, act.body, act.owner_id) == (
        "note",
        "Créée : Clinique Sud",
        "Montant 1200.00",
        personas["bob"].id,
    )
    assert the_run(db, wf).status == "completed"


def test_update_fields_with_custom_fields(db, make_workflow, make_deal, drain):
    customfields.create_definition(
        db, SYSTEM, {"record_type": "deal", "key": "segment", "label": "Segment", "field_type": "text"}
    )
    db.commit()
    make_workflow(
        on_deal_created(
            action("update_fields", fields={"source": "workflow", "cf.segment": "{{ deal.title | upper }}"})
        )
    )
    deal = make_deal(title="pme")
    drain()
    db.refresh(deal)
    assert (deal.source, deal.custom_fields) == ("workflow", {"segment": "PME"})


def test_add_and_remove_tag(db, make_workflow, make_deal, drain):
    make_workflow(
        on_deal_created(action("add_tag", tag="Nouveau {{ now.year }}"), action("remove_tag", tag="froid"))
    )
    deal = make_deal(tags=["froid", "salon"])
    drain()
    assert sorted(tags_for(db, "deal", [deal.id])[deal.id]) == sorted(
        ["salon", f"Nouveau {clock.now().year}"]
    )


def test_assign_owner_to_a_user(db, make_workflow, make_deal, drain, personas):
    make_workflow(on_deal_created(action("assign_owner", strategy="user", user_id=personas["bob"].id)))
    deal = make_deal("alice")
    drain()
    db.refresh(deal)
    assert deal.owner_id == personas["bob"].id


def test_round_robin_rotates_within_the_department_and_keeps_its_state(
    db, make_workflow, actor, drain, personas
):
    commercial = personas["_departments"]["commercial"]
    wf = make_workflow(
        on_deal_created(
            action("assign_owner", strategy="round_robin", department_id=commercial),
            record_type="organisation",
        )
    )
    people = sorted(u.id for u in db.query(User).filter_by(department_id=commercial, active=True))
    assert len(people) == 3
    owners = []
    for i in range(4):
        org = organisations.create_organisation(db, actor("admin"), {"name": f"Lead {i}"})
        drain()
        db.refresh(org)
        owners.append(org.owner_id)
    assert owners == [people[0], people[1], people[2], people[0]]
    assert db.get(WorkflowRotation, (wf.id, commercial)).last_user_id == people[0]


def test_least_open_deals(db, make_workflow, make_deal, drain, personas):
    commercial = personas["_departments"]["commercial"]
    make_deal("alice")
    make_deal("alice")
    make_deal("manager")
    drain()
    make_workflow(
        on_deal_created(action("assign_owner", strategy="least_open_deals", department_id=commercial))
    )
    deal = make_deal("alice")
    drain()
    db.refresh(deal)
    assert deal.owner_id == personas["bob"].id  # bob has none open


def test_slack_and_teams_post_json_to_the_incoming_webhook(db, make_workflow, make_deal, drain, receiver):
    make_workflow(
        on_deal_created(
            action("slack", webhook_url=receiver.url + "/slack", text="Nouvelle affaire {{ deal.title }}"),
            action("teams", webhook_url=receiver.url + "/teams", text="{{ deal.amount }} €"),
        )
    )
    make_deal(title="Lycée Hugo", amount="5000")
    drain()
    assert [(r["method"], r["path"]) for r in receiver.requests] == [("POST", "/slack"), ("POST", "/teams")]
    assert receiver.json(0) == {"text": "Nouvelle affaire Lycée Hugo"}
    assert receiver.json(1) == {"text": "5000.00 €"}


def test_http_request_with_templated_headers_and_json_body(db, make_workflow, make_deal, drain, receiver):
    wf = make_workflow(
        on_deal_created(
            action(
                "http_request",
                method="put",
                url=receiver.url + "/deals/{{ deal.id }}",
                headers={"X-Source": "carnet-{{ owner.first_name }}"},
                body={"title": "{{ deal.title }}", "amount": "{{ deal.amount }}", "fixed": 3},
            )
        )
    )
    deal = make_deal("alice", title="Atelier", amount="10")
    drain()
    request = receiver.requests[0]
    assert (request["method"], request["path"]) == ("PUT", f"/deals/{deal.id}")
    assert request["headers"]["X-Source"] == "carnet-Alice"
    assert receiver.json() == {"title": "Atelier", "amount": "10.00", "fixed": 3}
    step = db.query(WorkflowRunStep).filter_by(run_id=the_run(db, wf).id).one()
    assert step.output["status_code"] == 200


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://127.0.0.1:9/x", "Refused: 127.0.0.1 resolves to a non-public address (127.0.0.1)"),
        # a host name is judged on the address it resolves to, at connection time
        ("http://localhost:9/x", "Refused: localhost resolves to a non-public address"),
    ],
)
def test_http_request_to_a_private_address_is_refused(
    db, make_workflow, make_deal, drain, monkeypatch, url, error
):
    from carnet.settings import get_settings

    monkeypatch.setenv("CARNET_WEBHOOK_ALLOW_PRIVATE_TARGETS", "false")
    get_settings.cache_clear()
    wf = make_workflow(on_deal_created(action("http_request", method="POST", url=url)))
    make_deal()
    drain()
    run = the_run(db, wf)
    assert run.status == "failed"
    assert run.error.startswith(error)
    assert steps_of(db, run) == [("s0", "failed", 1)]  # refused at once, not retried


def test_wait_for_a_duration_then_go_on(db, make_workflow, make_deal, drain):
    wf = make_workflow(
        on_deal_created(
            {"type": "wait", "params": {"duration": "P2DT3H"}},
            action("create_task", title="Après attente", assignee="owner"),
        )
    )
    deal = make_deal()
    drain()
    run = the_run(db, wf)
    assert (run.status, run.cursor) == ("waiting", "s1")
    assert db.query(Task).filter_by(record_id=deal.id).count() == 0
    clock.advance(timedelta(days=2, hours=2))
    drain()
    assert db.query(Task).filter_by(record_id=deal.id).count() == 0
    clock.advance(timedelta(hours=1, minutes=1))
    drain()
    assert db.query(Task).filter_by(record_id=deal.id).count() == 1
    db.refresh(run)
    assert run.status == "completed"
    assert steps_of(db, run) == [("s0", "waiting", 1), ("s1", "completed", 1)]


def test_wait_until_a_date_field_with_offset(db, make_workflow, make_deal, actor, drain):
    from carnet.activities import service as activities

    wf = make_workflow(
        on_deal_created(
            {"type": "wait", "params": {"until": "occurred_at", "offset_minutes": -60}},
            {"type": "stop"},
            record_type="activity",
        )
    )
    meeting_at = clock.now().replace(microsecond=0) + timedelta(days=1)
    activities.create_activity(
        db,
        actor("alice"),
        {
            "kind": "meeting",
            "subject": "Démo",
            "deal_id": make_deal().id,
            "occurred_at": meeting_at.isoformat(),
        },
    )
    drain()
    run = the_run(db, wf)
    step = db.query(WorkflowRunStep).filter_by(run_id=run.id).one()
    assert step.output == {"until": (meeting_at - timedelta(hours=1)).isoformat()}
    clock.advance(timedelta(hours=23, minutes=1))
    drain()
    db.refresh(run)
    assert run.status == "stopped"


def test_condition_branches_and_stop(db, make_workflow, make_deal, drain):
    definition = {
        "trigger": {"type": "record.created", "record_type": "deal", "params": {}},
        "start": "c",
        "steps": {
            "c": {
                "type": "condition",
                "if": {
                    "all": [
                        {"field": "amount", "op": "gt", "value": "50000"},
                        {
                            "any": [
                                {"field": "tags", "op": "contains", "value": "vip"},
                                {"field": "source", "op": "eq", "value": "salon"},
                            ]
                        },
                    ]
                },
                "then": "big",
                "else": "end",
            },
            "big": action("create_task", title="Gros client", assignee="owner") | {"next": None},
            "end": {"type": "stop"},
        },
    }
    wf = make_workflow(definition)
    big = make_deal(amount="60000", tags=["vip"])
    small = make_deal(amount="60000", tags=["autre"], source="web")
    drain()
    assert [t.record_id for t in db.query(Task).all()] == [big.id]
    statuses = {r.record_id: r.status for r in db.query(WorkflowRun).filter_by(workflow_id=wf.id)}
    assert statuses == {big.id: "completed", small.id: "stopped"}


@pytest.mark.parametrize("count", [1])
def test_deal_amount_rendered_as_the_api_shows_it(db, make_workflow, make_deal, drain, count):
    make_workflow(
        on_deal_created(action("update_fields", fields={"description": "{{ deal.amount }} {{ deal.name }}"}))
    )
    deal = make_deal(title="T", amount="1234.5")
    drain()
    assert db.get(Deal, deal.id).description == "1234.50 T"
