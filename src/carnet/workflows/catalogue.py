"""What a workflow can be made of: record types and their fields, triggers, operators, actions.

The builder's pickers read these catalogues and validate_definition checks definitions against
them, so the two never disagree."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from carnet.activities import service as activities
from carnet.activities.schemas import ActivityRead, ActivityUpdate
from carnet.contacts import service as contacts
from carnet.contacts.schemas import ContactRead, ContactUpdate
from carnet.core import customfields
from carnet.deals import service as deals
from carnet.deals.schemas import DealRead, DealUpdate
from carnet.organisations import service as organisations
from carnet.organisations.schemas import OrganisationRead, OrganisationUpdate
from carnet.projects import service as projects
from carnet.projects.schemas import ProjectRead, ProjectUpdate
from carnet.tasks import service as tasks
from carnet.tasks.schemas import TaskRead, TaskUpdate


@dataclass(frozen=True)
class RecordKind:
    name: str
    label: str
    read_schema: type[BaseModel]
    update_schema: type[BaseModel]
    get: Any  # (db, actor, id) -> record
    update: Any  # (db, actor, record, data) -> record
    reads: Any  # (db, [records]) -> [dict]
    has_tags: bool
    # date/datetime fields a date_relative trigger may key on (plus date custom fields)
    date_fields: tuple[str, ...] = ()
    # (db, actor, [(record, data)]) -> [lifecycle.Written | DomainError]: the set-based update
    # that runs one step for many runs at once (see engine.run_batch); None: one by one
    update_many: Any = None


RECORD_KINDS: dict[str, RecordKind] = {
    "organisation": RecordKind(
        "organisation",
        "Organisation",
        OrganisationRead,
        OrganisationUpdate,
        organisations.get_organisation,
        organisations.update_organisation,
        organisations.reads,
        True,
        ("created_at", "updated_at"),
        organisations.update_organisations,
    ),
    "contact": RecordKind(
        "contact",
        "Contact",
        ContactRead,
        ContactUpdate,
        contacts.get_contact,
        contacts.update_contact,
        contacts.reads,
        True,
        ("created_at", "updated_at", "marketing_consent_at"),
        contacts.update_contacts,
    ),
    "deal": RecordKind(
        "deal",
        "Deal",
        DealRead,
        DealUpdate,
        deals.get_deal,
        deals.update_deal,
        deals.reads,
        True,
        ("expected_close_date", "closed_at", "stage_entered_at", "created_at", "updated_at"),
        deals.update_deals,
    ),
    "task": RecordKind(
        "task",
        "Task",
        TaskRead,
        TaskUpdate,
        tasks.get_task,
        tasks.update_task,
        lambda db, rows: tasks.reads(db, rows),
        False,
        ("due_at", "completed_at", "created_at", "updated_at"),
    ),
    "activity": RecordKind(
        "activity",
        "Activity",
        ActivityRead,
        ActivityUpdate,
        activities.get_activity,
        activities.update_activity,
        activities.reads,
        False,
        ("occurred_at", "created_at", "updated_at"),
    ),
    "project": RecordKind(
        "project",
        "Project",
        ProjectRead,
        ProjectUpdate,
        projects.get_project,
        projects.update_project,
        projects.reads,
        False,
        ("start_date", "target_date", "created_at", "updated_at"),
    ),
}

USER_FIELDS = ("id", "email", "first_name", "last_name", "full_name")
SKIPPED_FIELDS = {"custom_fields", "version", "revenue_history", "organisations"}


def _field_type(name: str, annotation: Any) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and args:
        annotation = args[0]
        origin = typing.get_origin(annotation)
    if origin is list:
        return "list"
    if annotation is bool:
        return "boolean"
    if annotation is int:
        return "user" if name.endswith("owner_id") or name.endswith("_by_id") else "number"
    if annotation is Decimal:
        return "money"
    if annotation is datetime:
        return "datetime"
    if annotation is date:
        return "date"
    return "text"


def native_fields(record_type: str) -> dict[str, str]:
    """{field name: type} of the record as the API reads it."""
    kind = RECORD_KINDS[record_type]
    out = {}
    for name, info in kind.read_schema.model_fields.items():
        if name not in SKIPPED_FIELDS:
            out[name] = _field_type(name, info.annotation)
    if record_type == "deal":
        out["name"] = "text"  # the deal's title, under the name templates often use
        out["amount"] = "money"
    return out


def updatable_fields(record_type: str) -> set[str]:
    kind = RECORD_KINDS[record_type]
    return {n for n in kind.update_schema.model_fields if n not in ("custom_fields", "tags", "contact_ids")}


def custom_fields(db: Session, record_type: str) -> dict[str, str]:
    return {d.key: d.field_type for d in customfields.definitions(db, record_type)}


def field_catalogue(db: Session, record_type: str) -> list[dict[str, Any]]:
    """Fields of a record type for pickers: native ones, then custom fields as `cf.<key>`."""
    if record_type not in RECORD_KINDS:
        return []
    updatable = updatable_fields(record_type)
    out = [
        {
            "path": name,
            "label": name.replace("_", " ").capitalize(),
            "type": ftype,
            "custom": False,
            "updatable": name in updatable,
        }
        for name, ftype in native_fields(record_type).items()
    ]
    for defn in customfields.definitions(db, record_type):
        out.append(
            {
                "path": f"cf.{defn.key}",
                "label": defn.label,
                "type": defn.field_type,
                "custom": True,
                "updatable": True,
                "options": list(defn.options or []),
            }
        )
    return out


# -- triggers ------------------------------------------------------------------------------------------

RECORD_TRIGGER_TYPES = ("organisation", "contact", "deal", "task", "activity")
# Projects fire the event triggers (no time-based scan walks them).
EVENT_RECORD_TYPES = (*RECORD_TRIGGER_TYPES, "project")


@dataclass(frozen=True)
class TriggerSpec:
    type: str
    label: str
    record_types: tuple[str, ...]  # empty: no record
    params: tuple[str, ...]
    required: tuple[str, ...] = ()


TRIGGERS: dict[str, TriggerSpec] = {
    t.type: t
    for t in (
        TriggerSpec("record.created", "Record created", EVENT_RECORD_TYPES, ()),
        TriggerSpec("record.updated", "Record updated", EVENT_RECORD_TYPES, ()),
        TriggerSpec(
            "field.changed", "Field changed", EVENT_RECORD_TYPES, ("field", "from", "to"), ("field",)
        ),
        TriggerSpec(
            "deal.stage_changed",
            "Deal stage changed",
            ("deal",),
            ("from_stage_id", "to_stage_id", "pipeline_id"),
        ),
        TriggerSpec("deal.won", "Deal won", ("deal",), ()),
        TriggerSpec("deal.lost", "Deal lost", ("deal",), ()),
        TriggerSpec("task.completed", "Task completed", ("task",), ()),
        TriggerSpec(
            "project.phase_changed", "Project phase changed", ("project",), ("from_phase", "to_phase")
        ),
        TriggerSpec("project.completed", "Project completed", ("project",), ()),
        TriggerSpec(
            "no_activity", "No activity for N days", ("deal", "organisation"), ("days", "stage_id"), ("days",)
        ),
        TriggerSpec(
            "date_relative",
            "N days before or after a date",
            RECORD_TRIGGER_TYPES,
            ("field", "days"),
            ("field", "days"),
        ),
        TriggerSpec("task.due", "Task due", ("task",), ("offset_minutes",)),
        TriggerSpec("schedule", "Schedule", (), ("cron", "timezone"), ("cron",)),
        TriggerSpec("webhook", "Incoming webhook", (), ()),
        TriggerSpec("manual", "Manual", RECORD_TRIGGER_TYPES, ()),
    )
}
TIME_TRIGGERS = ("no_activity", "date_relative", "task.due", "schedule")
EVENT_TRIGGERS = (
    "record.created",
    "record.updated",
    "field.changed",
    "deal.stage_changed",
    "deal.won",
    "deal.lost",
    "task.completed",
    "project.phase_changed",
    "project.completed",
)


def trigger_catalogue() -> list[dict[str, Any]]:
    return [
        {
            "type": t.type,
            "label": t.label,
            "record_types": list(t.record_types),
            "params": list(t.params),
            "required": list(t.required),
        }
        for t in TRIGGERS.values()
    ]


# -- conditions ------------------------------------------------------------------------------------

OPERATORS = {
    "eq": "equals",
    "ne": "does not equal",
    "gt": "greater than",
    "gte": "greater than or equal to",
    "lt": "less than",
    "lte": "less than or equal to",
    "contains": "contains",
    "not_contains": "does not contain",
    "in": "is one of",
    "not_in": "is none of",
    "is_empty": "is empty",
    "is_not_empty": "is not empty",
    "changed": "changed",
}
UNARY_OPERATORS = ("is_empty", "is_not_empty", "changed")

# -- actions ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionSpec:
    name: str
    label: str
    params: tuple[str, ...]
    required: tuple[str, ...]
    needs_record: bool = False
    record_types: tuple[str, ...] = ()  # empty: any (or none)


RECIPIENTS = ("owner", "manager", "managers", "contact")

ACTIONS: dict[str, ActionSpec] = {
    a.name: a
    for a in (
        ActionSpec(
            "create_task",
            "Create a task",
            ("title", "description", "due_in_days", "priority", "assignee"),
            ("title",),
        ),
        ActionSpec("log_activity", "Log an activity", ("kind", "subject", "body"), ("subject",), True),
        ActionSpec("update_fields", "Update fields", ("fields",), ("fields",), True),
        ActionSpec(
            "assign_owner", "Assign an owner", ("strategy", "user_id", "department_id"), ("strategy",), True
        ),
        ActionSpec("add_tag", "Add a tag", ("tag",), ("tag",), True, ("organisation", "contact", "deal")),
        ActionSpec(
            "remove_tag", "Remove a tag", ("tag",), ("tag",), True, ("organisation", "contact", "deal")
        ),
        ActionSpec(
            "send_email", "Send an email", ("to", "subject", "body", "html"), ("to", "subject", "body")
        ),
        ActionSpec("notify", "In-app notification", ("to", "title", "body"), ("to", "title")),
        ActionSpec("slack", "Slack message", ("webhook_url", "text"), ("webhook_url", "text")),
        ActionSpec("teams", "Microsoft Teams message", ("webhook_url", "text"), ("webhook_url", "text")),
        ActionSpec("http_request", "HTTP request", ("method", "url", "headers", "body"), ("method", "url")),
        ActionSpec(
            "create_project",
            "Create a project from a template",
            ("template_id", "owner", "name", "target_days"),
            ("template_id",),
            True,
            ("deal", "organisation"),
        ),
    )
}
# Params rendered as templates (strings, or every string inside them).
TEMPLATED_PARAMS = {
    "title",
    "description",
    "subject",
    "body",
    "text",
    "html",
    "url",
    "headers",
    "fields",
    "tag",
    "to",
    "name",
}
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ACTIVITY_KINDS = ("call", "email", "meeting", "visit", "note")
TASK_PRIORITIES = ("urgent", "high", "normal", "low")
ASSIGN_STRATEGIES = ("user", "round_robin", "least_open_deals")


def action_catalogue() -> list[dict[str, Any]]:
    return [
        {
            "action": a.name,
            "label": a.label,
            "params": list(a.params),
            "required": list(a.required),
            "needs_record": a.needs_record,
            "record_types": list(a.record_types),
        }
        for a in ACTIONS.values()
    ]
