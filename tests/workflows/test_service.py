"""Workflows: create, save (versions), validate, enable/disable, export/import, permissions."""

from __future__ import annotations

import pytest

from carnet.core.audit import AuditEntry
from carnet.core.errors import Conflict, NotFound, PermissionDenied, PreconditionFailed, ValidationFailed
from carnet.workflows import service
from carnet.workflows.models import Workflow, WorkflowVersion

TASK_ON_DEAL = {
    "trigger": {"type": "record.created", "record_type": "deal", "params": {}},
    "start": "a1",
    "steps": {
        "a1": {
            "type": "action",
            "action": "create_task",
            "params": {"title": "Call about {{ deal.title }}", "due_in_days": 2, "assignee": "owner"},
            "next": None,
        }
    },
}


def problems_of(db, definition) -> list[tuple[str | None, str, str]]:
    return [(p["step"], p["field"], p["message"]) for p in service.validate_definition(db, definition)]


def test_create_save_enable_and_versions(db, actor):
    admin = actor("admin")
    wf = service.create_workflow(db, admin, {"name": "Relances", "definition": TASK_ON_DEAL})
    assert (wf.active, wf.current_version, wf.trigger_type, wf.record_type) == (
        False,
        1,
        "record.created",
        "deal",
    )

    # Never active, never run: editing keeps version 1.
    edited = {**TASK_ON_DEAL, "steps": {"a1": {**TASK_ON_DEAL["steps"]["a1"], "params": {"title": "X"}}}}
    service.save_definition(db, admin, wf, edited, expected_version=wf.version)
    assert wf.current_version == 1
    assert service.current_definition(db, wf)["steps"]["a1"]["params"] == {"title": "X"}

    service.enable(db, admin, wf)
    assert wf.active is True and wf.activated_at is not None

    # Active: an edit makes version 2; version 1 stays as it was.
    service.save_definition(db, admin, wf, TASK_ON_DEAL)
    assert wf.current_version == 2
    versions = {v.number: v.definition for v in service.list_versions(db, admin, wf)}
    assert versions[1]["steps"]["a1"]["params"] == {"title": "X"}
    assert versions[2] == TASK_ON_DEAL

    service.disable(db, admin, wf)
    assert wf.active is False
    actions = [
        e.action
        for e in db.query(AuditEntry)
        .filter_by(record_type="workflow", record_id=wf.id)
        .order_by(AuditEntry.seq)
    ]
    assert actions == ["create", "update", "enable", "update", "disable"]


def test_stale_expected_version_is_refused(db, actor):
    wf = service.create_workflow(db, actor("admin"), {"name": "W", "definition": TASK_ON_DEAL})
    with pytest.raises(PreconditionFailed):
        service.save_definition(db, actor("admin"), wf, TASK_ON_DEAL, expected_version=wf.version + 5)


def test_invalid_definition_is_refused_with_field_errors_and_nothing_saved(db, actor):
    wf = service.create_workflow(db, actor("admin"), {"name": "W", "definition": TASK_ON_DEAL})
    bad = {
        "trigger": {"type": "record.created", "record_type": "deal", "params": {}},
        "start": "a1",
        "steps": {
            "a1": {
                "type": "action",
                "action": "create_task",
                "params": {"title": "Hello {{ deal.nope }} {{ client.name }}"},
                "next": "zz",
            },
        },
    }
    with pytest.raises(ValidationFailed) as exc:
        service.save_definition(db, actor("admin"), wf, bad)
    fields = sorted((e.field, e.message.format(**e.params)) for e in exc.value.errors)
    assert fields == [
        ("steps.a1.next", "Unknown step: zz"),
        ("steps.a1.params.title", "Unknown variable: client.name"),
        ("steps.a1.params.title", "Unknown variable: deal.nope"),
    ]
    assert service.current_definition(db, wf) == TASK_ON_DEAL


def test_validation_finds_unknown_fields_cycles_unreachable_and_missing_params(db):
    definition = {
        "trigger": {"type": "field.changed", "record_type": "deal", "params": {"field": "colour"}},
        "start": "c1",
        "steps": {
            "c1": {
                "type": "condition",
                "if": {
                    "all": [
                        {"field": "amount", "op": "gt", "value": "10"},
                        {"any": [{"field": "cf.nope", "op": "is_empty"}]},
                    ]
                },
                "then": "a1",
                "else": None,
            },
            "a1": {
                "type": "action",
                "action": "update_fields",
                "params": {"fields": {"title": "x"}},
                "next": "a2",
            },
            "a2": {"type": "action", "action": "send_email", "params": {"to": "owner"}, "next": "a1"},
            "lonely": {"type": "stop"},
        },
    }
    assert sorted(problems_of(db, definition), key=str) == sorted(
        [
            ("trigger", "params.field", "Unknown field: colour"),
            ("c1", "if.all.1.any.0.field", "Unknown field: cf.nope"),
            ("a2", "params.subject", "This field is required"),
            ("a2", "params.body", "This field is required"),
            ("lonely", "id", "This step cannot be reached from the first step"),
            ("a1", "next", "These steps loop without a wait"),
        ],
        key=str,
    )
    # The same loop through a wait is fine.
    definition["steps"]["a2"]["next"] = "w1"
    definition["steps"]["a2"]["params"].update(subject="s", body="b")
    definition["steps"]["w1"] = {"type": "wait", "params": {"duration": "P1D"}, "next": "a1"}
    definition["trigger"]["params"]["field"] = "amount"
    definition["steps"]["c1"]["if"]["all"].pop()
    del definition["steps"]["lonely"]
    assert problems_of(db, definition) == []


def test_enable_refuses_an_empty_workflow(db, actor):
    wf = service.create_workflow(db, actor("admin"), {"name": "Empty"})
    with pytest.raises(ValidationFailed) as exc:
        service.enable(db, actor("admin"), wf)
    assert [e.field for e in exc.value.errors] == ["steps"]
    assert wf.active is False


def test_permissions_managers_write_others_read(db, actor):
    wf = service.create_workflow(db, actor("manager"), {"name": "By manager", "definition": TASK_ON_DEAL})
    assert [w.id for w in service.list_workflows(db, actor("reader"))] == [wf.id]
    for key in ("alice", "reader", "fiona"):
        with pytest.raises(PermissionDenied):
            service.create_workflow(db, actor(key), {"name": "Nope"})
        with pytest.raises(PermissionDenied):
            service.enable(db, actor(key), wf)
    assert db.query(Workflow).count() == 1 and wf.active is False


def test_delete_needs_a_disabled_workflow(db, actor):
    wf = service.create_workflow(db, actor("admin"), {"name": "W", "definition": TASK_ON_DEAL})
    service.enable(db, actor("admin"), wf)
    with pytest.raises(Conflict):
        service.delete_workflow(db, actor("admin"), wf)
    service.disable(db, actor("admin"), wf)
    service.delete_workflow(db, actor("admin"), wf)
    with pytest.raises(NotFound):
        service.get_workflow(db, actor("admin"), wf.id)
    assert db.query(WorkflowVersion).filter_by(workflow_id=wf.id).count() == 0


def test_export_import_round_trip(db, actor):
    wf = service.create_workflow(
        db, actor("admin"), {"name": "Export me", "description": "d", "definition": TASK_ON_DEAL}
    )
    document = service.export_workflow(db, actor("admin"), wf)
    assert document == {
        "format": "carnet.workflow/1",
        "name": "Export me",
        "description": "d",
        "definition": TASK_ON_DEAL,
    }
    copy = service.import_workflow(db, actor("admin"), document)
    assert copy.id != wf.id and copy.active is False
    assert service.current_definition(db, copy) == TASK_ON_DEAL
    with pytest.raises(ValidationFailed):
        service.import_workflow(db, actor("admin"), {"name": "x"})
