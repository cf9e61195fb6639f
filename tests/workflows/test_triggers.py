"""Each trigger type starts the right runs, once per event or occurrence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from carnet.activities import service as activities
from carnet.core import clock, events
from carnet.deals import service as deals
from carnet.organisations import service as organisations
from carnet.tasks import service as tasks
from carnet.workflows import triggers
from carnet.workflows.models import WorkflowRun


def stop_only(trigger: dict) -> dict:
    return {"trigger": trigger, "start": "s", "steps": {"s": {"type": "stop"}}}


def runs_of(db, wf) -> list[WorkflowRun]:
    return db.query(WorkflowRun).filter_by(workflow_id=wf.id).order_by(WorkflowRun.id).all()


def test_record_updated_and_field_changed_from_to(db, make_workflow, make_deal, actor, drain):
    updated = make_workflow(stop_only({"type": "record.updated", "record_type": "deal", "params": {}}))
    to_big = make_workflow(
        stop_only(
            {
                "type": "field.changed",
                "record_type": "deal",
                "params": {"field": "source", "from": "salon", "to": "web"},
            }
        )
    )
    any_source = make_workflow(
        stop_only({"type": "field.changed", "record_type": "deal", "params": {"field": "source"}})
    )
    deal = make_deal(source="salon")
    drain()
    assert [len(runs_of(db, w)) for w in (updated, to_big, any_source)] == [0, 0, 0]
    deals.update_deal(db, actor("alice"), deal, {"source": "partner"})
    drain()
    assert [len(runs_of(db, w)) for w in (updated, to_big, any_source)] == [1, 0, 1]
    deals.update_deal(db, actor("alice"), deal, {"source": "salon"})
    deals.update_deal(db, actor("alice"), deal, {"source": "web"})
    drain()
    assert [len(runs_of(db, w)) for w in (updated, to_big, any_source)] == [3, 1, 3]
    assert runs_of(db, to_big)[0].trigger["changes"]["source"] == {"old": "salon", "new": "web"}


def test_stage_changed_won_and_lost(db, make_workflow, make_deal, actor, stages, drain):
    to_proposal = make_workflow(
        stop_only(
            {
                "type": "deal.stage_changed",
                "record_type": "deal",
                "params": {"to_stage_id": stages["Proposition"].id},
            }
        )
    )
    won = make_workflow(stop_only({"type": "deal.won", "record_type": "deal", "params": {}}))
    lost = make_workflow(stop_only({"type": "deal.lost", "record_type": "deal", "params": {}}))
    first, second = make_deal(), make_deal()
    deals.move_deal(db, actor("alice"), first, stages["Découverte"].id)
    deals.move_deal(db, actor("alice"), second, stages["Proposition"].id)
    deals.move_deal(db, actor("alice"), second, stages["Gagné"].id)
    deals.move_deal(db, actor("alice"), first, stages["Perdu"].id, lost_reason="Prix")
    drain()
    assert [r.record_id for r in runs_of(db, to_proposal)] == [second.id]
    assert [r.record_id for r in runs_of(db, won)] == [second.id]
    assert [r.record_id for r in runs_of(db, lost)] == [first.id]


def test_task_completed(db, make_workflow, actor, personas, drain):
    wf = make_workflow(stop_only({"type": "task.completed", "record_type": "task", "params": {}}))
    task = tasks.create_task(db, actor("alice"), {"title": "Rappeler"})
    drain()
    assert runs_of(db, wf) == []
    tasks.complete_task(db, actor("alice"), task)
    drain()
    assert [(r.record_type, r.record_id) for r in runs_of(db, wf)] == [("task", task.id)]


def test_an_event_dispatched_twice_starts_one_run(db, make_workflow, make_deal, drain):
    wf = make_workflow(stop_only({"type": "record.created", "record_type": "deal", "params": {}}))
    deal = make_deal()
    drain()
    event = db.query(events.Event).filter_by(type="deal.created", record_id=deal.id).one()
    triggers.on_event(db, event)  # the dispatcher retrying the same event
    triggers.on_event(db, event)
    db.commit()
    assert [r.trigger_event_id for r in runs_of(db, wf)] == [event.event_id]


def test_inactive_workflow_starts_nothing(db, make_workflow, make_deal, drain):
    wf = make_workflow(
        stop_only({"type": "record.created", "record_type": "deal", "params": {}}), active=False
    )
    make_deal()
    drain()
    assert runs_of(db, wf) == []


def test_no_activity_on_deals_in_a_stage_fires_once_per_quiet_period(
    db, make_workflow, make_deal, actor, stages, drain
):
    wf = make_workflow(
        stop_only(
            {
                "type": "no_activity",
                "record_type": "deal",
                "params": {"days": 30, "stage_id": stages["Proposition"].id},
            }
        )
    )
    quiet = make_deal(stage="Proposition")
    busy = make_deal(stage="Proposition")
    elsewhere = make_deal(stage="Qualification")
    clock.advance(timedelta(days=20))
    activities.create_activity(db, actor("alice"), {"kind": "call", "subject": "Point", "deal_id": busy.id})
    clock.advance(timedelta(days=11))
    drain()
    assert [r.record_id for r in runs_of(db, wf)] == [quiet.id]
    clock.advance(timedelta(minutes=5))
    drain()  # later scans: the same quiet period does not fire again
    assert [r.record_id for r in runs_of(db, wf)] == [quiet.id]
    clock.advance(timedelta(days=20))
    drain()  # busy's last activity is now 31 days old
    assert sorted(r.record_id for r in runs_of(db, wf)) == sorted([quiet.id, busy.id])
    assert elsewhere.id not in [r.record_id for r in runs_of(db, wf)]
    # Activity on the quiet deal, then 30 more quiet days: a new occurrence.
    activities.create_activity(
        db, actor("alice"), {"kind": "call", "subject": "Relance", "deal_id": quiet.id}
    )
    clock.advance(timedelta(days=31))
    drain()
    assert [r.record_id for r in runs_of(db, wf)].count(quiet.id) == 2


def test_no_activity_on_organisations(db, make_workflow, actor, drain):
    wf = make_workflow(
        stop_only({"type": "no_activity", "record_type": "organisation", "params": {"days": 90}})
    )
    org = organisations.create_organisation(db, actor("alice"), {"name": "Fromagerie Lenoir"})
    clock.advance(timedelta(days=89))
    drain()
    assert runs_of(db, wf) == []
    clock.advance(timedelta(days=2))
    drain()
    assert [r.record_id for r in runs_of(db, wf)] == [org.id]


def test_date_relative_before_expected_close_date(db, make_workflow, make_deal, drain):
    clock.freeze(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    wf = make_workflow(
        stop_only(
            {
                "type": "date_relative",
                "record_type": "deal",
                "params": {"field": "expected_close_date", "days": -3},
            }
        )
    )
    soon = make_deal(expected_close_date="2026-03-10")
    later = make_deal(expected_close_date="2026-04-30")
    drain()
    assert runs_of(db, wf) == []
    clock.advance(timedelta(days=5))  # 7 March 08:00 UTC: 3 days before the 10th (Paris midnight) has passed
    drain()
    assert [r.record_id for r in runs_of(db, wf)] == [soon.id]
    clock.advance(timedelta(days=1))
    drain()
    assert [r.record_id for r in runs_of(db, wf)] == [soon.id]
    assert later.id not in [r.record_id for r in runs_of(db, wf)]


def test_task_due_with_offset(db, make_workflow, actor, drain):
    clock.freeze(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    wf = make_workflow(
        stop_only({"type": "task.due", "record_type": "task", "params": {"offset_minutes": -60}})
    )
    task = tasks.create_task(
        db, actor("alice"), {"title": "Rendez-vous", "due_at": "2026-03-02T12:00:00+00:00"}
    )
    clock.advance(timedelta(hours=2, minutes=59))
    drain()
    assert runs_of(db, wf) == []
    clock.advance(timedelta(minutes=2))
    drain()
    assert [r.record_id for r in runs_of(db, wf)] == [task.id]
    clock.advance(timedelta(minutes=5))
    drain()
    assert len(runs_of(db, wf)) == 1


def test_schedule_in_its_time_zone(db, make_workflow, drain):
    # Sunday 1 March 2026, 20:00 UTC. Monday 9:00 in Paris is 08:00 UTC.
    clock.freeze(datetime(2026, 3, 1, 20, 0, tzinfo=UTC))
    wf = make_workflow(
        stop_only({"type": "schedule", "params": {"cron": "0 9 * * 1", "timezone": "Europe/Paris"}})
    )
    drain()
    assert runs_of(db, wf) == []  # the previous Monday was before the workflow was enabled
    clock.advance(timedelta(hours=11, minutes=59))  # 07:59 UTC
    drain()
    assert runs_of(db, wf) == []
    clock.advance(timedelta(minutes=1))
    drain()
    clock.advance(timedelta(minutes=3))
    drain()
    assert [r.trigger_event_id for r in runs_of(db, wf)] == ["schedule:2026-03-02T08:00:00+00:00"]
    assert runs_of(db, wf)[0].record_type is None


def test_manual_run(db, make_workflow, make_deal, actor, drain):
    from carnet.core.errors import Conflict, NotFound, PermissionDenied
    from carnet.workflows import service

    wf = make_workflow(stop_only({"type": "manual", "record_type": "deal", "params": {}}))
    deal = make_deal("alice")
    run = service.run_manual(db, actor("bob"), wf, "deal", deal.id)  # a reader of workflows, deal visible
    drain()
    db.refresh(run)
    assert (run.status, run.record_id, run.started_by_id) == ("stopped", deal.id, actor("bob").user_id)
    with pytest.raises(NotFound):
        service.run_manual(db, actor("outsider"), wf, "deal", deal.id)  # cannot see the deal
    other = make_workflow(stop_only({"type": "record.created", "record_type": "deal", "params": {}}))
    with pytest.raises(PermissionDenied):
        service.run_manual(db, actor("bob"), other, "deal", deal.id)
    service.disable(db, actor("admin"), wf)
    with pytest.raises(Conflict):
        service.run_manual(db, actor("admin"), wf, "deal", deal.id)
