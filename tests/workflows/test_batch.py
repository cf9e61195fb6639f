"""Runs carried on together (engine.run_batch): the same records, steps, audit, events and loop
protection as one run at a time, with the cases the batch leaves to the careful path."""

from __future__ import annotations

from typing import Any

import pytest

from carnet.core import events
from carnet.core.audit import AuditEntry
from carnet.core.search import SearchDocument
from carnet.core.tags import tags_for
from carnet.deals import service as deals
from carnet.deals import totals
from carnet.deals.models import Deal, DealStageHistory
from carnet.workflows import engine
from carnet.workflows.models import WorkflowEventOrigin, WorkflowRun, WorkflowRunStep


@pytest.fixture
def one_by_one(monkeypatch) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The payloads the careful path (`engine.run_step`) took."""
    taken: list[dict[str, Any]] = []
    careful = engine.run_step

    def spy(payload: dict[str, Any]) -> None:
        taken.append(payload)
        careful(payload)

    monkeypatch.setattr(engine, "run_step", spy)
    return taken


def on_created_deal(*steps: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    chained = {}
    for (step_id, step), following in zip(steps, [*steps[1:], (None, None)], strict=True):
        chained[step_id] = {**step, "next": following[0]} if step["type"] == "action" else step
    return {
        "trigger": {"type": "record.created", "record_type": "deal", "params": {}},
        "start": steps[0][0],
        "steps": chained,
    }


def steps_of(db, run) -> list[tuple[str, int, str]]:  # type: ignore[no-untyped-def]
    rows = db.query(WorkflowRunStep).filter_by(run_id=run.id).order_by(WorkflowRunStep.id)
    return [(s.step_id, s.attempt, s.status) for s in rows]


def test_fresh_runs_update_their_records_together_with_audit_events_and_search(
    db, make_workflow, make_deal, drain, one_by_one
):
    wf = make_workflow(
        {
            "trigger": {"type": "record.created", "record_type": "deal", "params": {}},
            "start": "c",
            "steps": {
                "c": {
                    "type": "condition",
                    "if": {"all": [{"field": "amount", "op": "gt", "value": "10"}]},
                    "then": "u",
                    "else": None,
                },
                "u": {
                    "type": "action",
                    "action": "update_fields",
                    "params": {"fields": {"source": "Salon {{ deal.id }}"}},
                    "next": "t",
                },
                "t": {"type": "action", "action": "add_tag", "params": {"tag": "Auto"}, "next": None},
            },
        },
        name="Source",
    )
    big = [make_deal(title=f"Offre {i}", amount="1200") for i in range(4)]
    small = make_deal(title="Petite offre", amount="5")
    drain()

    runs = {r.record_id: r for r in db.query(WorkflowRun).filter_by(workflow_id=wf.id)}
    for deal in big:
        row = db.get(Deal, deal.id)
        assert row.source == f"Salon {deal.id}"
        assert tags_for(db, "deal", [deal.id])[deal.id] == ["Auto"]
        run = runs[deal.id]
        assert run.status == "completed"
        assert steps_of(db, run) == [("c", 1, "completed"), ("u", 1, "completed"), ("t", 1, "completed")]
        update = db.query(WorkflowRunStep).filter_by(run_id=run.id, step_id="u").one()
        assert update.output == {"record_type": "deal", "record_id": deal.id, "version": row.version - 1}
        assert update.input["rendered"]["data"] == {"source": f"Salon {deal.id}"}
        # the search document follows the new source; the audit entry names the workflow
        body = db.query(SearchDocument).filter_by(record_type="deal", record_id=deal.id).one().body
        assert f"salon {deal.id}" in body
        entry = (
            db.query(AuditEntry)
            .filter_by(record_type="deal", record_id=deal.id, action="update")
            .order_by(AuditEntry.seq)
            .first()
        )
        assert entry.actor_label == "Workflow Source"
        assert entry.changes["source"] == {"old": None, "new": f"Salon {deal.id}"}
        # the deal.updated event carries its run as origin (loop protection)
        event = (
            db.query(events.Event)
            .filter_by(type="deal.updated", record_id=deal.id)
            .order_by(events.Event.id)
            .first()
        )
        origin = db.get(WorkflowEventOrigin, event.event_id)
        assert (origin.run_id, origin.depth) == (run.id, 1)
    assert steps_of(db, runs[small.id]) == [("c", 1, "completed")]
    assert db.get(Deal, small.id).source is None
    # The first jobs were all carried on together; only the tag steps after the update (a job of
    # their own per run) went one at a time.
    assert all(p["seq"] > 0 for p in one_by_one)
    assert sorted(p["run_id"] for p in one_by_one) == sorted(runs[d.id].id for d in big)


def test_a_refused_update_fails_its_own_run_only(db, make_workflow, make_deal, drain, one_by_one):
    wf = make_workflow(
        on_created_deal(
            (
                "u",
                {
                    "type": "action",
                    "action": "update_fields",
                    "params": {"fields": {"amount": "{{ deal.title }}"}},
                },
            )
        )
    )
    good = make_deal(title="1500")
    bad = make_deal(title="mille euros")
    drain()
    runs = {r.record_id: r for r in db.query(WorkflowRun).filter_by(workflow_id=wf.id)}
    assert str(db.get(Deal, good.id).amount) == "1500.00"
    assert runs[good.id].status == "completed"
    failed = runs[bad.id]
    assert failed.status == "failed"
    assert "amount" in failed.error
    assert steps_of(db, failed) == [("u", 1, "failed")]
    assert db.get(Deal, bad.id).amount is None
    assert [p["run_id"] for p in one_by_one] == [failed.id]  # the refused one, on the careful path


def test_two_runs_on_one_record_both_apply_one_after_the_other(
    db, make_workflow, make_deal, actor, drain, one_by_one
):
    wf = make_workflow(
        {
            "trigger": {"type": "record.updated", "record_type": "deal", "params": {}},
            "start": "c",
            "steps": {
                "c": {
                    "type": "condition",
                    "if": {"all": [{"field": "changes.source", "op": "is_not_empty"}]},
                    "then": "t",
                    "else": None,
                },
                "t": {
                    "type": "action",
                    "action": "add_tag",
                    "params": {"tag": "{{ deal.source }}"},
                    "next": None,
                },
            },
        }
    )
    deal = make_deal()
    drain()
    deals.update_deal(db, actor("alice"), deal, {"source": "Salon"})
    # The second run reads the deal when it runs: its source is already "Web" for both.
    deals.update_deal(db, actor("alice"), deal, {"source": "Web"})
    drain()
    runs = db.query(WorkflowRun).filter_by(workflow_id=wf.id).order_by(WorkflowRun.id).all()
    assert [r.status for r in runs][:2] == ["completed", "completed"]
    assert tags_for(db, "deal", [deal.id])[deal.id] == ["Web"]
    tag_steps = [db.query(WorkflowRunStep).filter_by(run_id=r.id, step_id="t").one().output for r in runs[:2]]
    assert tag_steps == [{"tags": ["Web"], "changed": True}, {"tags": ["Web"], "changed": False}]
    assert [p["run_id"] for p in one_by_one] == [runs[1].id]  # the record's second run


def test_a_stage_move_in_a_batch_writes_its_history_and_named_events(
    db, make_workflow, make_deal, stages, drain
):
    won = stages["Gagné"]
    wf = make_workflow(
        on_created_deal(
            ("u", {"type": "action", "action": "update_fields", "params": {"fields": {"stage_id": won.id}}})
        )
    )
    created = [make_deal(amount="900") for _ in range(3)]
    drain()
    for deal in created:
        row = db.get(Deal, deal.id)
        assert (row.stage_id, row.status, row.probability) == (won.id, "won", 100)
        stays = db.query(DealStageHistory).filter_by(deal_id=deal.id).order_by(DealStageHistory.id).all()
        assert [s.stage_id for s in stays][-1] == won.id
        assert stays[0].left_at is not None and stays[-1].left_at is None
        types = [
            e.type for e in db.query(events.Event).filter_by(record_id=deal.id).order_by(events.Event.id)
        ]
        assert {"deal.updated", "deal.stage_changed", "deal.won"} <= set(types)
        won_event = db.query(events.Event).filter_by(type="deal.won", record_id=deal.id).one()
        run = db.query(WorkflowRun).filter_by(workflow_id=wf.id, record_id=deal.id).one()
        assert db.get(WorkflowEventOrigin, won_event.event_id).run_id == run.id
    assert totals.drifted(db) == 0  # the board's stored stage totals followed the moves
