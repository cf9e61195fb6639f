"""The ready-made templates: each installs valid and editable; some run end to end with the clock moved."""

from __future__ import annotations

from datetime import timedelta

import pytest

from carnet.core import clock
from carnet.deals import service as deals
from carnet.tasks.models import Task
from carnet.workflows import library, service
from carnet.workflows.models import WorkflowRun


@pytest.mark.parametrize("key", sorted(library.TEMPLATES))
def test_every_template_installs_valid_enables_and_is_editable(db, actor, stages, key):
    wf = service.install_template(db, actor("manager"), key)
    definition = service.current_definition(db, wf)
    assert service.validate_definition(db, definition) == []
    service.enable(db, actor("manager"), wf)
    assert wf.active and wf.template_key == key
    first = next(iter(definition["steps"]))
    definition["steps"][first]["label"] = "Edited"
    service.save_definition(db, actor("manager"), wf, definition)
    assert service.current_definition(db, wf)["steps"][first]["label"] == "Edited"


def test_automatic_follow_up_targets_the_proposal_stage(db, actor, stages):
    wf = service.install_template(db, actor("admin"), "automatic_follow_up")
    trigger = service.current_definition(db, wf)["trigger"]
    assert trigger == {
        "type": "no_activity",
        "record_type": "deal",
        "params": {"days": 30, "stage_id": stages["Proposition"].id},
    }


def test_lost_deal_feedback_runs(db, actor, make_deal, stages, drain, personas):
    wf = service.install_template(db, actor("admin"), "lost_deal_feedback")
    service.enable(db, actor("admin"), wf)
    deal = make_deal("bob", title="Cantine")
    deals.move_deal(db, actor("bob"), deal, stages["Perdu"].id, lost_reason="Budget")
    drain()
    task = db.query(Task).filter_by(record_id=deal.id).one()
    assert (task.title, task.description, task.owner_id) == (
        "Recueillir le retour sur l'affaire perdue Cantine",
        "Raison indiquée : Budget",
        personas["bob"].id,
    )
    assert db.query(WorkflowRun).filter_by(workflow_id=wf.id).one().status == "completed"


def test_lead_nurturing_emails_on_days_0_3_7_and_a_call_task_on_day_14(db, actor, drain, personas):
    from carnet.core.mail import OutgoingEmail
    from carnet.organisations import service as organisations

    wf = service.install_template(db, actor("admin"), "lead_nurturing")
    service.enable(db, actor("admin"), wf)
    org = organisations.create_organisation(
        db,
        actor("alice"),
        {"name": "Garage Petit", "type": "prospect", "emails": ["contact@garage-petit.fr"]},
    )
    organisations.create_organisation(db, actor("alice"), {"name": "Client déjà", "type": "client"})
    drain()

    def sent() -> list[tuple[str, str]]:
        return [(e.to_address, e.subject) for e in db.query(OutgoingEmail).order_by(OutgoingEmail.id)]

    assert sent() == [("contact@garage-petit.fr", "Bienvenue Garage Petit")]
    clock.advance(timedelta(days=3, minutes=1))
    drain()
    assert [s for _, s in sent()] == ["Bienvenue Garage Petit", "Nos clients en parlent"]
    clock.advance(timedelta(days=4))
    drain()
    assert len(sent()) == 3
    assert db.query(Task).filter_by(record_id=org.id).count() == 0
    clock.advance(timedelta(days=7))
    drain()
    task = db.query(Task).filter_by(record_type="organisation", record_id=org.id).one()
    assert (task.title, task.owner_id) == ("Appeler Garage Petit", personas["alice"].id)
    assert [r.status for r in db.query(WorkflowRun).filter_by(workflow_id=wf.id)] == [
        "completed",
        "completed",
    ]
