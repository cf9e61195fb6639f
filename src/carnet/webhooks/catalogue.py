"""The event catalogue: every event type Carnet delivers, with a description and an example
payload, and how each record type is read for a delivery (its own read serialiser, as the API
returns it, with the receiving user's visibility)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.activities import service as activities
from carnet.catalogue import service as products
from carnet.catalogue.schemas import ProductRead
from carnet.company import service as company
from carnet.company.schemas import CompanyRead
from carnet.contacts import service as contacts
from carnet.contracts import service as contracts
from carnet.contracts.schemas import ContractRead
from carnet.core import lifecycle, permissions, records
from carnet.core.context import Actor
from carnet.core.errors import NotFound
from carnet.deals import pipelines
from carnet.deals import service as deals
from carnet.invoices import service as invoices
from carnet.invoices.schemas import InvoiceRead
from carnet.organisations import service as organisations
from carnet.payments import service as payments
from carnet.payments.schemas import PaymentRead
from carnet.projects import service as projects
from carnet.projects.schemas import ProjectRead
from carnet.quotes import service as quotes
from carnet.quotes.schemas import QuoteRead
from carnet.tasks import service as tasks
from carnet.webhooks import billing_examples

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
    *_types("product", "catalogue product or service"),
    EventType("company.updated", "company", "The company's legal identity or document settings changed"),
    *_types(
        "quote",
        "quote",
        (
            ("sent", "A quote was sent to the client (its current version is frozen)"),
            ("accepted", "The client signed the quote online or it was marked accepted"),
            ("refused", "The client refused the quote (with the reason given)"),
            ("expired", "A sent quote passed its validity date unsigned"),
        ),
    ),
    *_types(
        "invoice",
        "invoice or credit note (draft until issued)",
        (
            ("issued", "An invoice got its number and can no longer change"),
            ("paid", "An issued invoice is fully paid"),
            ("overdue", "An issued invoice passed its due date unpaid"),
            ("cancelled", "An invoice was fully cancelled by credit notes"),
        ),
    ),
    EventType(
        "credit_note.issued",
        "invoice",
        "A credit note was issued; `data` is the credit note, `credited_invoice_id` the invoice it corrects",
    ),
    *_types(
        "contract",
        "contract",
        (
            ("renewed", "A contract started its next period (tacit or decided renewal)"),
            ("terminated", "A contract was terminated (reason and effective date)"),
            ("expired", "A contract reached its end date without renewal"),
        ),
    ),
    *_types("payment", "payment received (with its allocations to invoices)"),
    *_types(
        "project",
        "project (an establishment run through the phases of a template)",
        (
            ("phase_changed", "A phase was closed or reopened; `changes` holds the phases left and entered"),
            ("completed", "The last phase was closed: the project is completed"),
        ),
    ),
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
    # Many records at once (deliveries sent in batches): the visible ones among ids, by id, and
    # their API shapes in one go. None: read one by one.
    load_many: Callable[[Session, Actor, list[int]], dict[int, Any]] | None = None
    read_many: Callable[[Session, Actor, list[Any]], list[dict[str, Any]]] | None = None


def _owned_snapshot_visible(record_type: str) -> Callable[[Session, Actor, dict[str, Any]], bool]:
    def check(db: Session, actor: Actor, snapshot: dict[str, Any]) -> bool:
        return permissions.values_visible(
            db, actor, record_type, snapshot.get("owner_id"), snapshot.get("department_id")
        )

    return check


def _visible_by_id(record_type: str) -> Callable[[Session, Actor, list[int]], dict[int, Any]]:
    """The records among `ids` that `actor` may read: the same clause as `lifecycle.get_visible`."""

    def load(db: Session, actor: Actor, ids: list[int]) -> dict[int, Any]:
        rt = records.get(record_type)
        model = rt.model
        clause = (
            rt.visible(db, actor)
            if rt.visible
            else permissions.visible_for_model(db, actor, record_type, model)
        )
        stmt = select(model).where(model.id.in_(ids), clause)
        return {obj.id: obj for obj in db.scalars(stmt).unique()}

    return load


def _owned(
    record_type: str, read_many: Callable[[Session, Actor, list[Any]], list[dict[str, Any]]]
) -> RecordSource:
    return RecordSource(
        permission=f"{records.get(record_type).module}:read",
        read=lambda db, actor, obj: read_many(db, actor, [obj])[0],
        load=lambda db, actor, record_id: lifecycle.get_visible(db, actor, record_type, record_id),
        snapshot_visible=_owned_snapshot_visible(record_type),
        load_many=_visible_by_id(record_type),
        read_many=read_many,
    )


def _as_api(schema: type[BaseModel], record: dict[str, Any]) -> dict[str, Any]:
    """The record exactly as its API answers it (the read schema's JSON form)."""
    return schema.model_validate(record).model_dump(mode="json")


SOURCES: dict[str, RecordSource] = {
    "organisation": _owned("organisation", lambda db, actor, objs: organisations.reads(db, objs)),
    "contact": _owned("contact", lambda db, actor, objs: contacts.reads(db, objs)),
    "deal": _owned("deal", lambda db, actor, objs: deals.reads(db, objs)),
    "activity": _owned("activity", lambda db, actor, objs: activities.reads(db, objs)),
    "task": _owned("task", lambda db, actor, objs: tasks.reads(db, objs, actor)),
    # Team members see their projects too: loaded through the projects service's own visibility.
    "project": RecordSource(
        permission="projects:read",
        read=lambda db, actor, obj: _as_api(ProjectRead, projects.to_read(db, actor, obj)),
        load=projects.get_project,
        snapshot_visible=_owned_snapshot_visible("project"),
    ),
    "pipeline": RecordSource(
        permission="pipelines:read",
        read=lambda db, actor, obj: pipelines.reads(db, [obj])[0],
        load=pipelines.get_pipeline,
        # a deleted pipeline's department rules are gone with it: only pipeline managers hear of it
        snapshot_visible=lambda db, actor, snapshot: pipelines.can_manage(actor),
    ),
    "quote": _owned(
        "quote", lambda db, actor, objs: [_as_api(QuoteRead, quotes.to_read(db, o)) for o in objs]
    ),
    "invoice": _owned(
        "invoice", lambda db, actor, objs: [_as_api(InvoiceRead, invoices.to_read(o)) for o in objs]
    ),
    "contract": _owned(
        "contract", lambda db, actor, objs: [_as_api(ContractRead, contracts.to_read(o)) for o in objs]
    ),
    "payment": _owned(
        "payment", lambda db, actor, objs: [_as_api(PaymentRead, payments.to_read(db, o)) for o in objs]
    ),
    # Products and the company settings are shared by everyone who may read them.
    "product": RecordSource(
        permission="products:read",
        read=lambda db, actor, obj: _as_api(ProductRead, products.to_read(obj)),
        load=products.get_product,
        snapshot_visible=lambda db, actor, snapshot: True,
    ),
    "company": RecordSource(
        permission="company:read",
        read=lambda db, actor, obj: _as_api(CompanyRead, company.to_read(obj)),
        load=lambda db, actor, record_id: company.read_company(db, actor),
        snapshot_visible=lambda db, actor, snapshot: True,
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
    return event_data_many(db, actor, [(event_type, record_type, record_id, payload)])[0]


def event_data_many(
    db: Session, actor: Actor, items: list[tuple[str, str, int | None, dict[str, Any]]]
) -> list[dict[str, Any] | None]:
    """`event_data` for many (event type, record type, record id, payload) at once, in order: the
    records of one type that are still there are read with one visibility-filtered query and one
    call of their read serialiser."""
    out: list[dict[str, Any] | None] = [None] * len(items)
    live: dict[str, dict[int, list[int]]] = {}  # record type -> record id -> positions
    for position, (event_type, record_type, record_id, payload) in enumerate(items):
        source = SOURCES.get(record_type)
        if source is None or not actor.can(source.permission):
            continue
        if event_type.endswith(".deleted") or record_id is None:
            out[position] = _snapshot_data(db, actor, source, payload)
        else:
            live.setdefault(record_type, {}).setdefault(record_id, []).append(position)
    for record_type, positions in live.items():
        source = SOURCES[record_type]
        found = _read_records(db, actor, source, list(positions))
        for record_id, places in positions.items():
            data = found.get(record_id)
            if data is None:
                # Gone since the event: its snapshot. Still there but not visible: nothing.
                model = records.REGISTRY[record_type].model if record_type in records.REGISTRY else None
                if model is not None and db.get(model, record_id) is None:
                    for position in places:
                        out[position] = _snapshot_data(db, actor, source, items[position][3])
                continue
            for position in places:
                out[position] = data
    return out


def _read_records(
    db: Session, actor: Actor, source: RecordSource, ids: list[int]
) -> dict[int, dict[str, Any]]:
    """{id: API shape} of the records among `ids` that `actor` may read now."""
    if source.load_many is not None and source.read_many is not None:
        objs = source.load_many(db, actor, ids)
        ordered = [objs[i] for i in ids if i in objs]
        return {obj.id: data for obj, data in zip(ordered, source.read_many(db, actor, ordered), strict=True)}
    out: dict[int, dict[str, Any]] = {}
    for record_id in ids:
        try:
            out[record_id] = source.read(db, actor, source.load(db, actor, record_id))
        except NotFound:
            pass
    return out


def _snapshot_data(
    db: Session, actor: Actor, source: RecordSource, payload: dict[str, Any]
) -> dict[str, Any] | None:
    snapshot = {k: v for k, v in payload.items() if k != "changes"}
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
    if event_type == "project.phase_changed":
        return {
            "phase": {"old": payload.get("from_phase"), "new": payload.get("to_phase")},
            "phase_name": {"old": payload.get("from_phase_name"), "new": payload.get("to_phase_name")},
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
    "project": {
        "id": 58,
        "name": "Centre Hospitalier – CH de Valence",
        "organisation_id": 812,
        "template": {"id": 2, "name": "Centre Hospitalier", "version": 3},
        "status": "active",
        "start_date": "2026-01-12",
        "target_date": "2026-06-30",
        "completed_at": None,
        "current_phase": {"position": 1, "key": "presentation", "name": "Présentation"},
        "phases": [
            {
                "position": 0,
                "key": "qualification",
                "name": "Qualification",
                "state": "closed",
                "started_at": "2026-01-12T09:00:00.000000Z",
                "closed_at": "2026-03-02T09:15:00.000000Z",
                "closed_by_id": 4,
                "checklist": {"Besoin clinique identifié": True, "Budget connu": True},
            },
            {
                "position": 1,
                "key": "presentation",
                "name": "Présentation",
                "state": "open",
                "started_at": "2026-03-02T09:15:00.000000Z",
                "closed_at": None,
                "closed_by_id": None,
                "checklist": {},
            },
        ],
        "health": {"status": "at_risk", "reasons": ["1 tâche en retard"]},
        "members": [{"user_id": 7, "role": "formateur"}],
        "contacts": [{"contact_id": 2211, "role": "pharmacist"}],
        "deal_ids": [377],
        "description": None,
        "notes": None,
        "owner_id": 4,
        "department_id": 2,
        "custom_fields": {},
        "version": 3,
        "created_at": "2026-01-12T09:00:00.000000Z",
        "updated_at": "2026-03-02T09:15:00.000000Z",
    },
}
EXAMPLES.update(
    quote=billing_examples.QUOTE,
    invoice=billing_examples.INVOICE,
    contract=billing_examples.CONTRACT,
    payment=billing_examples.PAYMENT,
    product=billing_examples.PRODUCT,
    company=billing_examples.COMPANY,
)
# What a status event changes in its record's example.
_EXAMPLE_STATES: dict[str, dict[str, Any]] = {
    "quote.accepted": {"status": "accepted", "accepted_at": EXAMPLE_TIMESTAMP, "accepted_version": 1},
    "quote.refused": {
        "status": "refused",
        "refused_at": EXAMPLE_TIMESTAMP,
        "refusal_reason": "Budget reporté",
    },
    "quote.expired": {"status": "expired", "expired_at": EXAMPLE_TIMESTAMP},
    "invoice.paid": {
        "status": "paid",
        "amount_paid": "3562.95",
        "balance": "0.00",
        "paid_at": EXAMPLE_TIMESTAMP,
    },
    "invoice.overdue": {"status": "overdue"},
    "invoice.cancelled": {
        "status": "cancelled",
        "amount_credited": "3562.95",
        "balance": "0.00",
        "cancelled_at": EXAMPLE_TIMESTAMP,
    },
    "contract.renewed": {
        "status": "renewed",
        "renewal_count": 1,
        "period_start": "2027-01-01",
        "end_date": "2027-12-31",
    },
    "contract.terminated": {
        "status": "terminated",
        "termination_reason": "competitor",
        "termination_date": "2026-06-30",
        "terminated_at": EXAMPLE_TIMESTAMP,
    },
    "contract.expired": {"status": "expired", "expired_at": EXAMPLE_TIMESTAMP},
}
_EXAMPLE_UPDATES: dict[str, tuple[str, Any]] = {
    "organisation": ("city", "Villeurbanne"),
    "contact": ("job_title", "Vendeuse"),
    "deal": ("amount", "15000.00"),
    "activity": ("subject", "Relance devis"),
    "task": ("priority", "normal"),
    "pipeline": ("name", "Pipeline"),
    "quote": ("title", "Équipement"),
    "invoice": ("due_date", "2026-12-31"),
    "contract": ("amount", "1000.00"),
    "payment": ("reference", "VIR"),
    "product": ("unit_price", "1190.00"),
    "company": ("brand_color", "#3b4fd8"),
    "project": ("target_date", "2026-05-31"),
}
_EXAMPLE_CHANGES: dict[str, dict[str, Any]] = {
    "deal.stage_changed": {
        "pipeline_id": {"old": 1, "new": 1},
        "stage_id": {"old": 1, "new": 3},
        "stage_name": {"old": "Qualification", "new": "Proposition"},
        "stage_kind": {"old": "open", "new": "open"},
    },
    "project.phase_changed": {
        "phase": {"old": "qualification", "new": "presentation"},
        "phase_name": {"old": "Qualification", "new": "Présentation"},
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
    elif event_type == "credit_note.issued":
        data = dict(billing_examples.CREDIT_NOTE)
    elif event_type in _EXAMPLE_STATES:
        data.update(_EXAMPLE_STATES[event_type])
    elif event_type == "project.completed":
        data.update(status="completed", completed_at=EXAMPLE_TIMESTAMP, current_phase=None)
    body: dict[str, Any] = {"type": event_type, "timestamp": EXAMPLE_TIMESTAMP, "data": data}
    if event_type.endswith(".updated"):
        field, old = _EXAMPLE_UPDATES[spec.record_type]
        body["changes"] = {field: {"old": old, "new": data[field]}}
    elif event_type in _EXAMPLE_CHANGES:
        body["changes"] = _EXAMPLE_CHANGES[event_type]
    return body
