"""The mechanics of a deal changing stage, shared by deal edits (service.py) and stage deletion
(pipelines.py): status and probability from the stage kind, the stage history rows, the events and
audit entries, and the search document whose subtitle names the stage."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.orm import Session

from carnet.core import audit, events, i18n, search
from carnet.core.context import SYSTEM, Actor
from carnet.core.db import Prepared
from carnet.deals.models import Deal, DealStageHistory, Stage
from carnet.organisations import service as organisations

RECORD_TYPE = "deal"


def apply_stage(deal: Deal, from_stage: Stage | None, to_stage: Stage, now: datetime) -> None:
    """Put `deal` in `to_stage`: status follows the stage kind; closing stamps closed_at and
    reopening clears it. The probability follows the stage unless it was set by hand: between open
    stages a probability that differs from the old stage's is kept; closing or reopening always
    takes the new stage's probability (a won deal is certain, a lost one is not)."""
    follows = (
        from_stage is None
        or deal.probability is None
        or deal.probability == from_stage.probability
        or from_stage.kind != "open"
        or to_stage.kind != "open"
    )
    if follows:
        deal.probability = to_stage.probability
    deal.pipeline_id = to_stage.pipeline_id
    deal.stage_id = to_stage.id
    if to_stage.kind != deal.status or from_stage is None:
        deal.closed_at = None if to_stage.kind == "open" else now
    deal.status = to_stage.kind
    deal.stage_entered_at = now
    if to_stage.kind != "lost":
        deal.lost_reason = None


# Every move runs both: built once, and the stay goes in without an ORM object to flush.
_STAYS = DealStageHistory.__table__
_CLOSE_STAY = Prepared(
    lambda _dialect: (
        update(_STAYS)
        .where(_STAYS.c.deal_id == bindparam("deal"), _STAYS.c.left_at.is_(None))
        .values(left_at=bindparam("now"))
    )
)
_OPEN_STAY = Prepared(lambda _dialect: insert(_STAYS))


def enter_stage(db: Session, deal: Deal, stage_id: int, actor: Actor, now: datetime) -> None:
    """Close the deal's current stay (if any) and open one in `stage_id` (the deal is flushed)."""
    db.execute(_CLOSE_STAY(db), {"deal": deal.id, "now": now})
    db.execute(
        _OPEN_STAY(db),
        {
            "deal_id": deal.id,
            "stage_id": stage_id,
            "entered_at": now,
            "left_at": None,
            "moved_by_id": actor.user_id,
        },
    )


def stage_changed_payload(deal: Deal, from_stage: Stage, to_stage: Stage) -> dict[str, Any]:
    return {
        "deal_id": deal.id,
        "title": deal.title,
        "pipeline_id": to_stage.pipeline_id,
        "from_pipeline_id": from_stage.pipeline_id,
        "from_stage_id": from_stage.id,
        "from_stage_name": from_stage.name,
        "from_stage_kind": from_stage.kind,
        "to_stage_id": to_stage.id,
        "to_stage_name": to_stage.name,
        "to_stage_kind": to_stage.kind,
        "status": deal.status,
        "amount": money_str(deal.amount),
        "probability": deal.probability,
    }


def record_transition(db: Session, actor: Actor, deal: Deal, from_stage: Stage, to_stage: Stage) -> None:
    """The named business events (and their audit entries) of one stage change."""
    payload = stage_changed_payload(deal, from_stage, to_stage)
    events.emit(db, actor, "deal.stage_changed", RECORD_TYPE, deal.id, payload)
    audit.record(
        db,
        actor,
        "stage_change",
        RECORD_TYPE,
        deal.id,
        {"stage": {"old": from_stage.name, "new": to_stage.name}},
        deal.title,
    )
    if to_stage.kind != from_stage.kind:
        record_outcome(db, actor, deal, to_stage)


def record_outcome(db: Session, actor: Actor, deal: Deal, stage: Stage) -> None:
    """deal.won / deal.lost when a deal lands in a closed stage."""
    if stage.kind not in ("won", "lost"):
        return
    payload: dict[str, Any] = {
        "deal_id": deal.id,
        "title": deal.title,
        "stage_id": stage.id,
        "stage_name": stage.name,
        "amount": money_str(deal.amount),
        "organisation_id": deal.organisation_id,
    }
    changes: dict[str, Any] = {"status": {"old": None, "new": stage.kind}}
    if stage.kind == "lost":
        payload["lost_reason"] = deal.lost_reason
        changes["lost_reason"] = {"old": None, "new": deal.lost_reason}
    events.emit(db, actor, f"deal.{stage.kind}", RECORD_TYPE, deal.id, payload)
    audit.record(db, actor, stage.kind, RECORD_TYPE, deal.id, changes, deal.title)


def organisation_names(db: Session, deals: list[Deal]) -> dict[int, str]:
    """Names of the deals' organisations (all of them: search documents are filtered on read)."""
    return organisations.names_by_id(db, SYSTEM, {d.organisation_id for d in deals if d.organisation_id})


def money_str(amount: Decimal | None) -> str | None:
    return None if amount is None else f"{Decimal(amount):.2f}"


def document(deal: Deal, stage_name: str, org_names: dict[int, str]) -> search.Document:
    """Search document: title and organisation name are searchable; subtitle "stage · amount"."""
    org_name = org_names.get(deal.organisation_id, "") if deal.organisation_id is not None else ""
    parts = [stage_name]
    if deal.amount is not None:
        parts.append(i18n.format_money(deal.amount, "fr"))
    body = search.document_text(deal.title, org_name, deal.source)
    return search.Document(deal.id, deal.title, " · ".join(parts), body, deal.owner_id, deal.department_id)


def index(db: Session, deal: Deal, stage_name: str, org_names: dict[int, str] | None = None) -> None:
    """Write the deal's search document. Batch callers pass `org_names` (organisation id -> name)
    to save a query per deal."""
    if org_names is None and deal.organisation_id is not None:
        org_names = organisations.names_by_id(db, SYSTEM, {deal.organisation_id})
    doc = document(deal, stage_name, org_names or {})
    search.index_record(
        db, RECORD_TYPE, doc.record_id, doc.title, doc.subtitle, doc.body, doc.owner_id, doc.department_id
    )
