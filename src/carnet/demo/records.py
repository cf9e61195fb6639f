"""Demo steps for contacts, deals (18 months of won/lost history), activities and tasks."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from carnet.activities.models import Activity
from carnet.contacts.models import Contact, ContactOrganisation
from carnet.core import clock
from carnet.core.search import SearchDocument, document_text
from carnet.deals.models import Deal, DealContact, DealStageHistory, Pipeline, Stage
from carnet.demo.loader import BATCH, DemoContext, bulk_insert
from carnet.tasks.models import Task

CONSENTS = ["unknown"] * 5 + ["granted"] * 3 + ["refused"]


def contacts(ctx: DemoContext) -> None:
    gen, db = ctx.gen, ctx.db
    n = ctx.counts["contacts"]
    orgs = ctx.organisation_ids
    first_id = (db.scalar(select(Contact.id).order_by(Contact.id.desc()).limit(1)) or 0) + 1
    now = clock.now()
    rows: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    docs: list[dict[str, Any]] = []
    for i in range(n):
        contact_id = first_id + i
        org_id = orgs[i % len(orgs)]
        meta = ctx.organisation_meta[org_id]
        person = gen.contact(meta["domain"], meta["postal_code"], health=meta["hospital"])
        owner = meta["owner"]
        consent = CONSENTS[i % len(CONSENTS)]
        created_at = now - timedelta(days=gen.rng.randint(0, 540), minutes=i % 1440)
        rows.append(
            {
                "id": contact_id,
                "civility": person["civility"],
                "first_name": person["first_name"],
                "last_name": person["last_name"],
                "job_title": person["job_title"],
                "emails": [person["email"]],
                "phones": [person["mobile"], person["phone"]],
                "primary_email": person["email"],
                "linkedin_url": None,
                "rpps": gen.rpps() if meta["hospital"] and i % 3 == 0 else None,
                "marketing_consent": consent,
                "marketing_consent_at": created_at if consent != "unknown" else None,
                "marketing_consent_source": "Formulaire site web" if consent != "unknown" else None,
                "do_not_call": i % 40 == 0,
                "city": None,
                "notes": None,
                "owner_id": owner["id"],
                "department_id": owner["department_id"],
                "custom_fields": {},
                "version": 1,
                "created_at": created_at,
                "updated_at": created_at,
                "created_by_id": owner["id"],
                "updated_by_id": owner["id"],
            }
        )
        links.append(
            {
                "contact_id": contact_id,
                "organisation_id": org_id,
                "role": person["job_title"],
                "is_primary": True,
                "position": 0,
            }
        )
        ctx.contacts_by_org.setdefault(org_id, []).append(contact_id)
        name = f"{person['first_name']} {person['last_name']}"
        docs.append(
            {
                "record_type": "contact",
                "record_id": contact_id,
                "title": name,
                "subtitle": f"{person['job_title']} · {meta['name']}",
                "body": document_text(
                    name,
                    person["job_title"],
                    person["email"],
                    meta["name"],
                    numbers=(person["mobile"], person["phone"]),
                ),
                "owner_id": owner["id"],
                "department_id": owner["department_id"],
            }
        )
        if len(rows) >= BATCH:
            _flush(ctx, rows, links, docs)
            rows, links, docs = [], [], []
    _flush(ctx, rows, links, docs)
    ctx.created["contacts"] = n


def _flush(ctx: DemoContext, rows: list, links: list, docs: list) -> None:
    bulk_insert(ctx.db, Contact.__table__, rows)
    bulk_insert(ctx.db, ContactOrganisation.__table__, links)
    bulk_insert(ctx.db, SearchDocument.__table__, docs)


def _pipelines(ctx: DemoContext) -> list[tuple[Pipeline, list[Stage]]]:
    from carnet.deals.pipelines import ensure_default_pipelines

    ensure_default_pipelines(ctx.db)
    out = []
    for pipeline in ctx.db.scalars(select(Pipeline).order_by(Pipeline.position, Pipeline.id)):
        stages = list(
            ctx.db.scalars(select(Stage).where(Stage.pipeline_id == pipeline.id).order_by(Stage.position))
        )
        out.append((pipeline, stages))
    return out


def deals(ctx: DemoContext) -> None:
    gen, db = ctx.gen, ctx.db
    pipelines = _pipelines(ctx)
    n = ctx.counts["deals"]
    now = clock.now()
    first_id = (db.scalar(select(Deal.id).order_by(Deal.id.desc()).limit(1)) or 0) + 1
    rows: list[dict[str, Any]] = []
    contacts_rows: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    docs: list[dict[str, Any]] = []
    contacts_by_org = ctx.contacts_by_org
    for i in range(n):
        deal_id = first_id + i
        org_id = ctx.organisation_ids[(i * 7) % len(ctx.organisation_ids)]
        meta = ctx.organisation_meta[org_id]
        pipeline, stages = pipelines[1] if meta["hospital"] and len(pipelines) > 1 else pipelines[0]
        open_stages = [s for s in stages if s.kind == "open"]
        won = next(s for s in stages if s.kind == "won")
        lost = next(s for s in stages if s.kind == "lost")
        age_days = gen.rng.randint(1, 540)
        created_at = now - timedelta(days=age_days, hours=i % 24)
        outcome = gen.rng.random()
        # Older deals are mostly closed; recent ones mostly open.
        closed = age_days > 60 and outcome < 0.8
        if closed:
            final = won if gen.rng.random() < 0.35 else lost
            path = open_stages[: gen.rng.randint(1, len(open_stages))] + [final]
        else:
            final = open_stages[gen.rng.randrange(len(open_stages))]
            path = open_stages[: open_stages.index(final) + 1]
        step = max(1, age_days // (len(path) + 1))
        entered = created_at
        for k, stage in enumerate(path):
            left = entered + timedelta(days=step) if k < len(path) - 1 else None
            history.append(
                {
                    "deal_id": deal_id,
                    "stage_id": stage.id,
                    "entered_at": entered,
                    "left_at": left,
                    "moved_by_id": meta["owner"]["id"],
                }
            )
            if left:
                entered = left
        amount = Decimal(
            gen.rng.choice([1500, 3200, 4800, 7500, 12000, 18500, 25000, 40000, 65000, 120000])
        ) + Decimal(gen.rng.randint(0, 99) * 10)
        status = final.kind
        title = gen.deal_title(meta["name"])
        owner = meta["owner"]
        rows.append(
            {
                "id": deal_id,
                "title": title,
                "organisation_id": org_id,
                "pipeline_id": pipeline.id,
                "stage_id": final.id,
                "amount": amount,
                "currency": "EUR",
                "expected_close_date": (created_at + timedelta(days=gen.rng.randint(20, 120))).date(),
                "probability": final.probability,
                "status": status,
                "lost_reason": gen.lost_reason() if status == "lost" else None,
                "source": gen.source(),
                "closed_at": entered if status != "open" else None,
                "stage_entered_at": entered,
                "description": None,
                "owner_id": owner["id"],
                "department_id": owner["department_id"],
                "custom_fields": {},
                "version": 1,
                "created_at": created_at,
                "updated_at": entered,
                "created_by_id": owner["id"],
                "updated_by_id": owner["id"],
            }
        )
        ctx.deal_ids.append((deal_id, org_id))
        for contact_id in contacts_by_org.get(org_id, [])[:2]:
            contacts_rows.append({"deal_id": deal_id, "contact_id": contact_id, "role": None})
        docs.append(
            {
                "record_type": "deal",
                "record_id": deal_id,
                "title": title,
                "subtitle": f"{final.name} · {meta['name']}",
                "body": document_text(title, meta["name"]),
                "owner_id": owner["id"],
                "department_id": owner["department_id"],
            }
        )
        if len(rows) >= BATCH:
            _flush_deals(ctx, rows, contacts_rows, history, docs)
            rows, contacts_rows, history, docs = [], [], [], []
    _flush_deals(ctx, rows, contacts_rows, history, docs)
    ctx.created["deals"] = n


def _flush_deals(ctx: DemoContext, rows: list, contacts_rows: list, history: list, docs: list) -> None:
    bulk_insert(ctx.db, Deal.__table__, rows)
    bulk_insert(ctx.db, DealContact.__table__, contacts_rows)
    bulk_insert(ctx.db, DealStageHistory.__table__, history)
    bulk_insert(ctx.db, SearchDocument.__table__, docs)


KINDS = ("call", "call", "email", "email", "meeting", "visit", "note")
OUTCOMES = ("Intéressé", "À rappeler", "Pas disponible", "Devis demandé", None)


def activities(ctx: DemoContext) -> None:
    gen, db = ctx.gen, ctx.db
    n = ctx.counts["activities"]
    now = clock.now()
    contacts_by_org = ctx.contacts_by_org
    deal_ids = ctx.deal_ids
    rows: list[dict[str, Any]] = []
    subjects = {k: [gen.activity_subject(k) for _ in range(40)] for k in set(KINDS)}
    bodies = {k: [gen.activity_body(k) for _ in range(40)] for k in set(KINDS)}
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        if deal_ids and i % 3 == 0:
            deal_id, org_id = deal_ids[(i * 13) % len(deal_ids)]
        else:
            deal_id, org_id = None, ctx.organisation_ids[(i * 11) % len(ctx.organisation_ids)]
        org_contacts = contacts_by_org.get(org_id) or [None]
        contact_id = org_contacts[i % len(org_contacts)]
        owner = ctx.organisation_meta[org_id]["owner"]
        when = now - timedelta(minutes=gen.rng.randint(0, 540 * 1440))
        rows.append(
            {
                "kind": kind,
                "subject": subjects[kind][i % 40],
                "body": bodies[kind][(i * 7) % 40],
                "occurred_at": when,
                "duration_minutes": (15, 30, 45, 60)[i % 4] if kind in ("call", "meeting", "visit") else None,
                "outcome": OUTCOMES[i % len(OUTCOMES)] if kind == "call" else None,
                "organisation_id": org_id,
                "contact_id": contact_id,
                "deal_id": deal_id,
                "owner_id": owner["id"],
                "department_id": owner["department_id"],
                "custom_fields": {},
                "version": 1,
                "created_at": when,
                "updated_at": when,
                "created_by_id": owner["id"],
                "updated_by_id": owner["id"],
            }
        )
        if len(rows) >= BATCH:
            bulk_insert(db, Activity.__table__, rows)
            rows = []
    bulk_insert(db, Activity.__table__, rows)
    ctx.created["activities"] = n


PRIORITIES = ("normal", "normal", "high", "low", "urgent")


def tasks(ctx: DemoContext) -> None:
    gen, db = ctx.gen, ctx.db
    n = ctx.counts["tasks"]
    now = clock.now()
    rows: list[dict[str, Any]] = []
    users = ctx.sales_users()
    for i in range(n):
        org_id = ctx.organisation_ids[(i * 17) % len(ctx.organisation_ids)]
        owner = users[i % len(users)] if i % 5 else ctx.organisation_meta[org_id]["owner"]
        due = now + timedelta(days=gen.rng.randint(-20, 30), hours=gen.rng.randint(0, 8))
        done = due < now and i % 3 != 0
        rows.append(
            {
                "title": gen.task_title(),
                "description": None,
                "due_at": due,
                "priority": PRIORITIES[i % len(PRIORITIES)],
                "status": "done" if done else ("in_progress" if i % 7 == 0 else "todo"),
                "record_type": "organisation",
                "record_id": org_id,
                "recurrence": None,
                "completed_at": due if done else None,
                "previous_task_id": None,
                "owner_id": owner["id"],
                "department_id": owner["department_id"],
                "custom_fields": {},
                "version": 1,
                "created_at": due - timedelta(days=5),
                "updated_at": due - timedelta(days=5),
                "created_by_id": owner["id"],
                "updated_by_id": owner["id"],
            }
        )
        if len(rows) >= BATCH:
            bulk_insert(db, Task.__table__, rows)
            rows = []
    bulk_insert(db, Task.__table__, rows)
    ctx.created["tasks"] = n
