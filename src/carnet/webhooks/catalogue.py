"""The event catalogue: every event type Carnet delivers, with a description and an example
payload, and how each record type is read for a delivery (its own read serialiser, as the API
returns it, with the receiving user's visibility)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from carnet.activities import service as activities
from carnet.contacts import service as contacts
from carnet.core import lifecycle, permissions, records
from carnet.core.context import Actor
from carnet.core.errors import NotFound
from carnet.deals import pipelines
from carnet.deals import service as deals
from carnet.organisations import service as organisations
from carnet.tasks import service as tasks

EXAMPLE_TIMESTAMP = "2026-03-02T09:15:00.000000Z"


@dataclass(frozen=True)
class EventType:
    name: str
    record_type: str
    description: str  # English; the API documents it as is, the UI translates it


def _types(record_type: str, label: str, extra: tuple[tuple[str, str], ...] = ()) -> list[EventType]:
    base = [
        EventType(f"{record_type}.created", record_type, f"A {label} was created"),
        EventType(
            f"{record_type}.updated",
            record_type,
            f"A {label} was changed; `changes` lists old and new values",
        ),
        EventType(
            f"{record_type}.deleted", record_type, f"A {label} was deleted; `data` is the record as it was"
        ),
    ]
    return base + [EventType(f"{record_type}.{verb}", record_type, text) for verb, text in extra]


EVENT_TYPES: list[EventType] = [
    *_types("organisation", "organisation"),
    *_types("contact", "contact"),
    *_types(
        "deal",
        "deal",
        (
            ("stage_changed", "A deal moved to another stage; `changes` holds the stages left and entered"),
            ("won", "A deal entered a won stage"),
            ("lost", "A deal entered a lost stage (with its lost reason)"),
        ),
    ),
    *_types("activity", "activity (call, meeting, email, note)"),
    *_types("task", "task", (("completed", "A task was marked done"),)),
    *_types("pipeline", "pipeline (with its stages)"),
]
BY_NAME: dict[str, EventType] = {e.name: e for e in EVENT_TYPES}


def names() -> list[str]:
    return [e.name for e in EVENT_TYPES]


# -- reading records for a delivery ------------------------------------------------------------------


@dataclass(frozen=True)
class RecordSource:
    permission: str  # what the receiving user needs to read this record type at all
    read: Callable[[Session, Actor, Any], dict[str, Any]]
    load: Callable[[Session, Actor, int], Any]  # NotFound when missing or not visible
    snapshot_visible: Callable[[Session, Actor, dict[str, Any]], bool]


def _owned_snapshot_visible(record_type: str) -> Callable[[Session, Actor, dict[str, Any]], bool]:
    def check(db: Session, actor: Actor, snapshot: dict[str, Any]) -> bool:
        return permissions.values_visible(
            db, actor, record_type, snapshot.get("owner_id"), snapshot.get("department_id")
        )

    return check


def _owned(record_type: str, read: Callable[[Session, Actor, Any], dict[str, Any]]) -> RecordSource:
    return RecordSource(
        permission=f"{records.get(record_type).module}:read",
        read=read,
        load=lambda db, actor, record_id: lifecycle.get_visible(db, actor, record_type, record_id),
        snapshot_visible=_owned_snapshot_visible(record_type),
    )


SOURCES: dict[str, RecordSource] = {
    "organisation": _owned("organisation", lambda db, actor, obj: organisations.reads(db, [obj])[0]),
    "contact": _owned("contact", lambda db, actor, obj: contacts.reads(db, [obj])[0]),
    "deal": _owned("deal", lambda db, actor, obj: deals.reads(db, [obj])[0]),
    "activity": _owned("activity", lambda db, actor, obj: activities.reads(db, [obj])[0]),
    "task": _owned("task", lambda db, actor, obj: tasks.reads(db, [obj], actor)[0]),
    "pipeline": RecordSource(
        permission="pipelines:read",
        read=lambda db, actor, obj: pipelines.reads(db, [obj])[0],
        load=pipelines.get_pipeline,
        # a deleted pipeline's department rules are gone with it: only pipeline managers hear of it
        snapshot_visible=lambda db, actor, snapshot: pipelines.can_manage(actor),
    ),
}


def readable_by(actor: Actor, record_type: str) -> bool:
    source = SOURCES.get(record_type)
    return source is not None and actor.can(source.permission)


def event_data(
    db: Session,
    actor: Actor,
    event_type: str,
    record_type: str,
    record_id: int | None,
    payload: dict[str, Any],
) -> dict[str, Any] | None:
    """The `data` of a delivery as `actor` (the receiver) may see it, read now; None when the
    actor may not see the record. A deleted record, or one deleted since the event, is the
    event's snapshot, shown only if its owner and department are visible to the actor."""
    source = SOURCES.get(record_type)
    if source is None or not actor.can(source.permission):
        return None
    snapshot = {k: v for k, v in payload.items() if k != "changes"}
    if not event_type.endswith(".deleted") and record_id is not None:
        try:
            return source.read(db, actor, source.load(db, actor, record_id))
        except NotFound:
            model = records.REGISTRY[record_type].model if record_type in records.REGISTRY else None
            if model is None or db.get(model, record_id) is not None:
                return None  # it exists, and the actor may not see it
    return snapshot if source.snapshot_visible(db, actor, snapshot) else None


def event_changes(event_type: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    """What changed, for update-like events: field-level old/new values."""
    if event_type.endswith(".updated"):
        return payload.get("changes") or {}
    if event_type == "deal.stage_changed":
        return {
            "pipeline_id": {"old": payload.get("from_pipeline_id"), "new": payload.get("pipeline_id")},
            "stage_id": {"old": payload.get("from_stage_id"), "new": payload.get("to_stage_id")},
            "stage_name": {"old": payload.get("from_stage_name"), "new": payload.get("to_stage_name")},
            "stage_kind": {"old": payload.get("from_stage_kind"), "new": payload.get("to_stage_kind")},
        }
    return None


# -- examples (documentation, the event-types endpoint and test events) ---------------------------------

_STAMPS = {
    "version": 3,
    "created_at": "2026-02-27T14:02:11.412000Z",
    "updated_at": "2026-03-02T09:15:00.000000Z",
    "created_by_id": 4,
    "updated_by_id": 4,
}
EXAMPLES: dict[str, dict[str, Any]] = {
    "organisation": {
        "id": 812,
        "name": "Boulangerie Martin",
        "legal_name": "BOULANGERIE MARTIN SARL",
        "siren": "732829320",
        "siret": "73282932000074",
        "vat_number": "FR44732829320",
        "naf_code": "10.71C",
        "legal_form": "SARL",
        "headcount_bracket": "03",
        "headcount": 8,
        "size_category": "TPE",
        "revenue_history": {"2024": "612000.00"},
        "website": "https://boulangerie-martin.fr",
        "emails": ["contact@boulangerie-martin.fr"],
        "phones": ["+33478000000"],
        "address_line1": "12 rue de la République",
        "address_line2": None,
        "postal_code": "69002",
        "city": "Lyon",
        "country": "FR",
        "type": "client",
        "source": "salon",
        "parent_id": None,
        "finess": None,
        "finess_ej": None,
        "establishment_category": None,
        "establishment_status": None,
        "description": None,
        "owner_id": 4,
        "department_id": 2,
        "tags": ["artisan"],
        "custom_fields": {},
        **_STAMPS,
    },
    "contact": {
        "id": 2211,
        "civility": "Mme",
        "first_name": "Claire",
        "last_name": "Martin",
        "job_title": "Gérante",
        "emails": ["claire@boulangerie-martin.fr"],
        "phones": ["+33612345678"],
        "primary_email": "claire@boulangerie-martin.fr",
        "linkedin_url": None,
        "rpps": None,
        "profession": None,
        "speciality": None,
        "marketing_consent": "granted",
        "marketing_consent_at": "2026-02-27T14:02:11.412000Z",
        "marketing_consent_source": "form",
        "do_not_call": False,
        "city": "Lyon",
        "notes": None,
        "organisations": [{"organisation_id": 812, "role": "Gérante", "is_primary": True}],
        "owner_id": 4,
        "department_id": 2,
        "tags": [],
        "custom_fields": {},
        **_STAMPS,
    },
    "deal": {
        "id": 377,
        "title": "Four à sole — Boulangerie Martin",
        "organisation_id": 812,
        "contact_ids": [2211],
        "pipeline_id": 1,
        "stage_id": 3,
        "amount": "18500.00",
        "currency": "EUR",
        "expected_close_date": "2026-04-15",
        "probability": 60,
        "status": "open",
        "lost_reason": None,
        "source": "salon",
        "description": None,
        "closed_at": None,
        "stage_entered_at": "2026-03-02T09:15:00.000000Z",
        "owner_id": 4,
        "department_id": 2,
        "tags": [],
        "custom_fields": {},
        **_STAMPS,
    },
    "activity": {
        "id": 9051,
        "kind": "call",
        "subject": "Relance devis four",
        "body": "Décision attendue fin mars.",
        "occurred_at": "2026-03-02T09:00:00.000000Z",
        "duration_minutes": 15,
        "outcome": "reached",
        "organisation_id": 812,
        "contact_id": 2211,
        "deal_id": 377,
        "participant_user_ids": [4],
        "participant_contact_ids": [2211],
        "owner_id": 4,
        "department_id": 2,
        "custom_fields": {},
        **_STAMPS,
    },
    "task": {
        "id": 1540,
        "title": "Envoyer le devis révisé",
        "description": None,
        "due_at": "2026-03-05T16:00:00.000000Z",
        "priority": "high",
        "status": "todo",
        "owner_id": 4,
        "department_id": 2,
        "record_type": "deal",
        "record_id": 377,
        "recurrence": None,
        "completed_at": None,
        "previous_task_id": None,
        "next_task_id": None,
        "overdue": False,
        "custom_fields": {},
        **_STAMPS,
    },
    "pipeline": {
        "id": 1,
        "name": "Ventes",
        "department_id": None,
        "position": 0,
        "is_default": True,
        "active": True,
        "version": 2,
        "stages": [
            {
                "id": 1,
                "pipeline_id": 1,
                "name": "Qualification",
                "position": 0,
                "kind": "open",
                "probability": 10,
                "rotting_days": 30,
                "color": None,
            },
            {
                "id": 3,
                "pipeline_id": 1,
                "name": "Proposition",
                "position": 1,
                "kind": "open",
                "probability": 60,
                "rotting_days": 30,
                "color": None,
            },
            {
                "id": 5,
                "pipeline_id": 1,
                "name": "Gagné",
                "position": 2,
                "kind": "won",
                "probability": 100,
                "rotting_days": None,
                "color": None,
            },
        ],
        "created_at": "2026-01-05T08:00:00.000000Z",
        "updated_at": "2026-03-02T09:15:00.000000Z",
    },
}
_EXAMPLE_UPDATES: dict[str, tuple[str, Any]] = {
    "organisation": ("city", "Villeurbanne"),
    "contact": ("job_title", "Vendeuse"),
    "deal": ("amount", "15000.00"),
    "activity": ("subject", "Relance devis"),
    "task": ("priority", "normal"),
    "pipeline": ("name", "Pipeline"),
}
_EXAMPLE_CHANGES: dict[str, dict[str, Any]] = {
    "deal.stage_changed": {
        "pipeline_id": {"old": 1, "new": 1},
        "stage_id": {"old": 1, "new": 3},
        "stage_name": {"old": "Qualification", "new": "Proposition"},
        "stage_kind": {"old": "open", "new": "open"},
    },
}


def example_payload(event_type: str) -> dict[str, Any]:
    """A realistic body of `event_type`, the same shape a delivery has."""
    spec = BY_NAME[event_type]
    data = dict(EXAMPLES[spec.record_type])
    if event_type == "deal.won":
        data.update(status="won", stage_id=5, probability=100, closed_at=EXAMPLE_TIMESTAMP)
    elif event_type == "deal.lost":
        data.update(status="lost", lost_reason="Budget", probability=0, closed_at=EXAMPLE_TIMESTAMP)
    elif event_type == "task.completed":
        data.update(status="done", completed_at=EXAMPLE_TIMESTAMP)
    body: dict[str, Any] = {"type": event_type, "timestamp": EXAMPLE_TIMESTAMP, "data": data}
    if event_type.endswith(".updated"):
        field, old = _EXAMPLE_UPDATES[spec.record_type]
        body["changes"] = {field: {"old": old, "new": data[field]}}
    elif event_type in _EXAMPLE_CHANGES:
        body["changes"] = _EXAMPLE_CHANGES[event_type]
    return body
