"""Deals: every write goes through here (validation, visibility, stage moves and their history,
audit, events, search). Pipeline and stage configuration lives in pipelines.py."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Row, Select, cast, delete, exists, func, select, union_all
from sqlalchemy.orm import Session, object_session

from carnet.contacts.models import Contact, ContactOrganisation
from carnet.core import (
    audit,
    clock,
    customfields,
    lifecycle,
    memo,
    ownership,
    permissions,
    records,
    search,
    tags,
)
from carnet.core.context import SYSTEM, Actor
from carnet.core.db import Prepared, ids_param
from carnet.core.errors import DomainError, FieldErrors, NotFound, ValidationFailed, as_result
from carnet.core.listing import Listing, ListParams, fields_of, page, parse_params
from carnet.deals import moves, pipelines, totals
from carnet.deals.models import Deal, DealContact, DealStageHistory, Pipeline, Stage
from carnet.deals.schemas import DealRead
from carnet.organisations import service as organisations

RECORD_TYPE = moves.RECORD_TYPE
records.register(RECORD_TYPE, Deal, "deals", "Deal", "/deals")

MAX_AMOUNT = Decimal("999999999999.99")  # Numeric(14, 2)
CENT = Decimal("0.01")
TEXT_FIELDS = {"title": 200, "source": 80, "description": 20000}


class DealListing(Listing):
    """The generic listing plus `contact_id`, which lives in deal_contacts (an EXISTS filter)."""

    def apply_filters(self, stmt: Select, params: ListParams) -> Select:
        filters = dict(params.filters)
        raw = filters.pop("contact_id", None) or filters.pop("contact_id__in", None)
        if raw is not None:
            try:
                ids = [int(v) for v in raw.split(",")]
            except ValueError:
                raise ValidationFailed.on("contact_id", "Invalid filter value", "invalid_filter")
            stmt = stmt.where(
                exists(
                    select(DealContact.deal_id).where(
                        DealContact.deal_id == Deal.id, DealContact.contact_id.in_(ids)
                    )
                )
            )
        rest = ListParams(**{**params.__dict__, "filters": filters})
        return super().apply_filters(stmt, rest)


LISTING = DealListing(
    model=Deal,
    record_type=RECORD_TYPE,
    fields={
        "id": Deal.id,
        "title": Deal.title,
        "organisation_id": Deal.organisation_id,
        "pipeline_id": Deal.pipeline_id,
        "stage_id": Deal.stage_id,
        "amount": Deal.amount,
        "currency": Deal.currency,
        "expected_close_date": Deal.expected_close_date,
        "probability": Deal.probability,
        "status": Deal.status,
        "lost_reason": Deal.lost_reason,
        "source": Deal.source,
        "description": Deal.description,
        "closed_at": Deal.closed_at,
        "stage_entered_at": Deal.stage_entered_at,
        "owner_id": Deal.owner_id,
        "department_id": Deal.department_id,
        "created_by_id": Deal.created_by_id,
        "created_at": Deal.created_at,
        "updated_at": Deal.updated_at,
    },
    sortable={
        "title",
        "amount",
        "expected_close_date",
        "probability",
        "status",
        "closed_at",
        "stage_entered_at",
        "created_at",
        "updated_at",
    },
)


# -- reading helpers ---------------------------------------------------------------------------------


def visible_clause(db: Session, actor: Actor) -> ColumnElement[bool]:
    return permissions.visible_for_model(db, actor, RECORD_TYPE, Deal)


CONTACTS_OF = Prepared(
    lambda dialect: (
        select(DealContact.deal_id, DealContact.contact_id)
        .where(ids_param(dialect, DealContact.deal_id))
        .order_by(DealContact.deal_id, DealContact.contact_id)
    )
)


def contacts_of(db: Session, deal_ids: list[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = defaultdict(list)
    if not deal_ids:
        return out
    rows = db.execute(CONTACTS_OF(db), {"ids": list(deal_ids)})
    for deal_id, contact_id in rows:
        out[deal_id].append(contact_id)
    return out


def _contact_visibility(db: Session, actor: Actor) -> ColumnElement[bool]:
    # The contacts service is written in parallel: check against its table with the shared filter.
    return permissions.visible(db, actor, "contact", Contact.owner_id, Contact.department_id)


def visible_contacts(db: Session, actor: Actor, ids: list[int]) -> dict[int, str]:
    """Names of the contacts among `ids` that `actor` may see."""
    if not ids or not actor.can("contacts:read"):
        return {}
    rows = db.execute(
        select(Contact.id, Contact.first_name, Contact.last_name).where(
            Contact.id.in_(ids), _contact_visibility(db, actor)
        )
    )
    return {r.id: f"{r.first_name} {r.last_name}".strip() for r in rows}


def organisation_contacts(db: Session, actor: Actor, organisation_id: int) -> dict[int, str]:
    """The visible contacts working at an organisation (choices for a deal's contacts)."""
    if not actor.can("contacts:read"):
        return {}
    rows = db.execute(
        select(Contact.id, Contact.first_name, Contact.last_name)
        .join(ContactOrganisation, ContactOrganisation.contact_id == Contact.id)
        .where(ContactOrganisation.organisation_id == organisation_id, _contact_visibility(db, actor))
        .order_by(Contact.last_name, Contact.first_name, Contact.id)
        .limit(100)
    )
    return {r.id: f"{r.first_name} {r.last_name}".strip() for r in rows}


def snapshot(deal: Deal, contact_ids: list[int], tag_names: list[str]) -> dict[str, Any]:
    return {
        "title": deal.title,
        "organisation_id": deal.organisation_id,
        "contact_ids": sorted(contact_ids),
        "pipeline_id": deal.pipeline_id,
        "stage_id": deal.stage_id,
        "amount": moves.money_str(deal.amount),
        "currency": deal.currency,
        "expected_close_date": deal.expected_close_date,
        "probability": deal.probability,
        "status": deal.status,
        "lost_reason": deal.lost_reason,
        "source": deal.source,
        "description": deal.description,
        "closed_at": deal.closed_at,
        "owner_id": deal.owner_id,
        "department_id": deal.department_id,
        "custom_fields": dict(deal.custom_fields or {}),
        "tags": list(tag_names),
    }


# The fields of DealRead stored as deal columns; the board reads its cards as rows of these.
_READ_COLUMNS = tuple(name for name in DealRead.model_fields if name not in ("tags", "contact_ids"))
CARD_COLUMNS = tuple(Deal.__table__.c[name] for name in _READ_COLUMNS)
_PLAIN_FIELDS = tuple(name for name in _READ_COLUMNS if name not in ("amount", "custom_fields"))


def read_values(deal: Deal | Row[Any], tag_names: list[str], contact_ids: list[int]) -> dict[str, Any]:
    """The DealRead fields of a deal (or a row of CARD_COLUMNS) as Python values, for a route whose
    response model validates and serialises them once."""
    values = fields_of(deal, _PLAIN_FIELDS)
    values["amount"] = moves.money_str(deal.amount)
    values["custom_fields"] = dict(deal.custom_fields or {})
    values["tags"] = tag_names
    values["contact_ids"] = contact_ids
    return values


def to_read(deal: Deal, tag_names: list[str], contact_ids: list[int]) -> dict[str, Any]:
    """The JSON-ready API shape (event payloads, exports)."""
    return DealRead(**read_values(deal, tag_names, contact_ids)).model_dump(mode="json")


def read_values_many(db: Session, rows: list[Deal] | list[Row[Any]]) -> list[dict[str, Any]]:
    """`read_values` of many deals or card rows, with tags and contacts fetched in two queries."""
    ids = [d.id for d in rows]
    tag_map = tags.tags_for(db, RECORD_TYPE, ids)
    contact_map = contacts_of(db, ids)
    return [read_values(d, tag_map.get(d.id, []), contact_map.get(d.id, [])) for d in rows]


def reads(db: Session, rows: list[Deal]) -> list[dict[str, Any]]:
    """JSON-ready API shapes for `rows`, with tags and contacts fetched in two queries."""
    return [DealRead(**values).model_dump(mode="json") for values in read_values_many(db, rows)]


# -- validation ------------------------------------------------------------------------------------------


def clean_amount(value: Any, errors: FieldErrors, name: str = "amount") -> Decimal | None:
    """Euros with at most 2 decimals, from a number or a French-typed string ("12 500,50 €")."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        errors.add(name, "Enter an amount in euros, such as 12500.50", "invalid_amount")
        return None
    text = str(value).replace("\u202f", "").replace("\xa0", "").replace(" ", "").replace("€", "")
    text = text.replace(",", ".")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        errors.add(name, "Enter an amount in euros, such as 12500.50", "invalid_amount")
        return None
    if not amount.is_finite():
        errors.add(name, "Enter an amount in euros, such as 12500.50", "invalid_amount")
        return None
    if amount < 0:
        errors.add(name, "The amount cannot be negative", "negative")
        return None
    if amount != amount.quantize(CENT):
        errors.add(name, "Use at most 2 decimals", "too_many_decimals")
        return None
    if amount > MAX_AMOUNT:
        errors.add(name, "This amount is too large", "too_large")
        return None
    return amount.quantize(CENT)


def _clean_int(value: Any, errors: FieldErrors, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        errors.add(name, "Enter a whole number", "invalid_type")
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        errors.add(name, "Enter a whole number", "invalid_type")
        return None


def _clean_date(value: Any, errors: FieldErrors, name: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        errors.add(name, "Enter a date such as 2026-06-30", "invalid_date")
        return None


def _clean_ids(value: Any, errors: FieldErrors, name: str) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list):
        errors.add(name, "Must be a list of ids", "invalid_type")
        return []
    out: list[int] = []
    for raw in value:
        number = _clean_int(raw, errors, name)
        if number is not None and number not in out:
            out.append(number)
    return out


@dataclass
class _Plan:
    """What a validated write will do besides setting columns."""

    values: dict[str, Any] = field(default_factory=dict)
    tag_names: list[str] | None = None
    contact_ids: list[int] | None = None
    from_stage: Stage | None = None
    to_stage: Stage | None = None
    lost_reason: str | None = None
    probability_set: bool = False  # "probability" was given (None: back to the stage's)
    probability: int | None = None


def _target_stage(
    db: Session, actor: Actor, current: Stage | None, data: dict[str, Any], errors: FieldErrors
) -> Stage | None:
    """The stage `data` asks for when it differs from the current one (None: no move). On creation
    (`current` is None) it defaults to the first open stage of the pipeline, or of the default one."""
    found = FieldErrors()
    stage_id = _clean_int(data.get("stage_id"), found, "stage_id")
    pipeline_id = _clean_int(data.get("pipeline_id"), found, "pipeline_id")
    if current is not None and not found:
        for name, value in (("stage_id", stage_id), ("pipeline_id", pipeline_id)):
            if name in data and value is None:
                found.add(name, "This field is required", "required")
    if found:
        errors.errors.extend(found.errors)
        return None
    if stage_id is not None:
        if current is not None and stage_id == current.id:
            return None
        stage = db.get(Stage, stage_id)
        if stage is None:
            errors.add("stage_id", "Unknown stage", "unknown")
            return None
        if pipeline_id is not None and stage.pipeline_id != pipeline_id:
            errors.add("stage_id", "This stage belongs to another pipeline", "stage_not_in_pipeline")
            return None
        if pipelines.usable_pipeline(db, actor, stage.pipeline_id) is None:
            if pipeline_id is not None:
                errors.add("pipeline_id", "Unknown pipeline", "unknown")
            else:
                errors.add("stage_id", "Unknown stage", "unknown")
            return None
        return stage
    if pipeline_id is not None:
        if current is not None and pipeline_id == current.pipeline_id:
            return None
        pipeline = pipelines.usable_pipeline(db, actor, pipeline_id)
        if pipeline is None:
            errors.add("pipeline_id", "Unknown pipeline", "unknown")
            return None
    elif current is None:
        pipeline = pipelines.default_pipeline(db, actor)
        if pipeline is None:
            errors.add("pipeline_id", "There is no pipeline to put this deal in", "no_pipeline")
            return None
    else:
        return None
    stage = pipelines.first_open_stage(pipelines.stages(db, pipeline))
    if stage is None:
        errors.add("pipeline_id", "This pipeline has no open stage", "no_open_stage")
    return stage


def _stages_by_id(db: Session, ids: set[Any]) -> dict[int, Stage]:
    """The stages among `ids` (values that are not ids are left to validation), in one query."""
    wanted = [i for i in ids if type(i) is int and 0 < i <= lifecycle.MAX_ID]
    return {stage.id: stage for stage in db.scalars(select(Stage).where(Stage.id.in_(wanted)))}


def _plan(
    db: Session, actor: Actor, deal: Deal, data: dict[str, Any], current_contacts: list[int] | None
) -> _Plan:
    """Validate `data` against `deal` without touching it; raises ValidationFailed.
    `current_contacts` is None on creation."""
    creating = current_contacts is None
    errors = FieldErrors()
    plan = _Plan()
    values = plan.values
    for name, max_len in TEXT_FIELDS.items():
        if name in data:
            value = data[name]
            value = value.strip() if isinstance(value, str) else value
            if value is not None and not isinstance(value, str):
                errors.add(name, "Enter text", "invalid_type")
                continue
            if value and len(value) > max_len:
                errors.add(name, "At most {max} characters", "too_long", max=max_len)
            values[name] = value or None
    if (creating or "title" in data) and not values.get("title", deal.title):
        errors.add("title", "This field is required", "required")
    if data.get("currency") is not None:
        if str(data["currency"]).upper() != "EUR":
            errors.add("currency", "Only euros (EUR) are supported", "invalid_choice")
        values["currency"] = "EUR"
    if "amount" in data:
        values["amount"] = clean_amount(data["amount"], errors)
    if "expected_close_date" in data:
        values["expected_close_date"] = _clean_date(
            data["expected_close_date"], errors, "expected_close_date"
        )
    if "probability" in data:
        plan.probability_set = True
        plan.probability = _clean_int(data["probability"], errors, "probability")
        if plan.probability is not None and not 0 <= plan.probability <= 100:
            errors.add("probability", "Enter a whole number between 0 and 100", "out_of_range")
    if "organisation_id" in data:
        org_id = _clean_int(data["organisation_id"], errors, "organisation_id")
        if org_id is not None and org_id != deal.organisation_id:
            organisations.require_visible_id(db, actor, org_id, "organisation_id", errors)
        values["organisation_id"] = org_id
    if "contact_ids" in data:
        current = current_contacts or []
        wanted = _clean_ids(data["contact_ids"], errors, "contact_ids")
        added = [c for c in wanted if c not in current]
        seen = visible_contacts(db, actor, added)
        if any(c not in seen for c in added):
            errors.add("contact_ids", "Unknown contact", "unknown")
        # Links to contacts the actor cannot see are not theirs to remove.
        hidden = set(current) - set(visible_contacts(db, actor, current))
        plan.contact_ids = sorted(set(wanted) | hidden)
    # The current and the requested stage in one query; _target_stage's db.get finds the latter
    # in the session while `known` holds it.
    known = {} if creating else _stages_by_id(db, {deal.stage_id, data.get("stage_id")})
    current_stage = known.get(deal.stage_id)
    target = _target_stage(db, actor, current_stage, data, errors)
    plan.from_stage, plan.to_stage = current_stage, target
    final_kind = target.kind if target is not None else (current_stage.kind if current_stage else None)
    reason = data.get("lost_reason")
    reason = reason.strip() or None if isinstance(reason, str) else None
    if final_kind == "lost" and (target is not None or "lost_reason" in data):
        already_lost = current_stage is not None and current_stage.kind == "lost"
        plan.lost_reason = reason or (
            deal.lost_reason if already_lost and "lost_reason" not in data else None
        )
        if not plan.lost_reason:
            errors.add("lost_reason", "Give the reason this deal was lost", "required")
        elif len(plan.lost_reason) > 200:
            errors.add("lost_reason", "At most {max} characters", "too_long", max=200)
    elif final_kind != "lost" and reason and reason != deal.lost_reason:
        errors.add("lost_reason", "Only a lost deal has a lost reason", "not_lost")
    values["owner_id"], values["department_id"] = ownership.resolve(
        db,
        actor,
        data,
        None if creating else deal.owner_id,
        None if creating else deal.department_id,
        errors,
    )
    if "custom_fields" in data or creating:
        values["custom_fields"] = customfields.validate(
            db, RECORD_TYPE, data.get("custom_fields"), None if creating else deal.custom_fields, errors
        )
    if "tags" in data:
        plan.tag_names = tags.clean_names(data["tags"], errors)
    errors.raise_if_any()
    return plan


def _carry_out(deal: Deal, plan: _Plan, actor: Actor, now: datetime) -> None:
    """Set the validated values on `deal` (no query runs in between)."""
    for key, value in plan.values.items():
        setattr(deal, key, value)
    if plan.to_stage is not None:
        moves.apply_stage(deal, plan.from_stage, plan.to_stage, now)
    if deal.status == "lost" and plan.lost_reason:
        deal.lost_reason = plan.lost_reason
    if plan.probability_set:
        stage = plan.to_stage or plan.from_stage
        fallback = stage.probability if stage is not None else None
        deal.probability = plan.probability if plan.probability is not None else fallback
    deal.updated_by_id = actor.user_id


def _set_contacts(db: Session, deal_id: int, current: list[int], wanted: list[int]) -> None:
    gone = set(current) - set(wanted)
    if gone:
        db.execute(
            delete(DealContact).where(DealContact.deal_id == deal_id, DealContact.contact_id.in_(gone))
        )
    for contact_id in wanted:
        if contact_id not in current:
            db.add(DealContact(deal_id=deal_id, contact_id=contact_id))


def _stage_name(db: Session, deal: Deal) -> str:
    stage = db.get(Stage, deal.stage_id)
    return stage.name if stage else ""


# -- writes ----------------------------------------------------------------------------------------------


def create_deal(db: Session, actor: Actor, data: dict[str, Any]) -> Deal:
    lifecycle.require(actor, RECORD_TYPE, "create")
    deal = Deal(created_by_id=actor.user_id, custom_fields={}, currency="EUR", status="open")
    with db.no_autoflush:
        plan = _plan(db, actor, deal, data, None)
    now = clock.now()
    _carry_out(deal, plan, actor, now)
    db.add(deal)
    db.flush()
    moves.enter_stage(db, deal, deal.stage_id, actor, now)
    contact_ids = plan.contact_ids or []
    _set_contacts(db, deal.id, [], contact_ids)
    names = tags.set_tags(db, actor, "deals", RECORD_TYPE, deal.id, plan.tag_names) if plan.tag_names else []
    db.flush()
    assert plan.to_stage is not None  # creation always resolves a stage
    moves.index(db, deal, plan.to_stage.name)
    lifecycle.created(
        db,
        actor,
        RECORD_TYPE,
        deal,
        snapshot(deal, contact_ids, names),
        deal.title,
        to_read(deal, names, contact_ids),
    )
    moves.record_outcome(db, actor, deal, plan.to_stage)
    db.commit()
    return deal


def update_deal(
    db: Session, actor: Actor, deal: Deal, data: dict[str, Any], expected_version: int | None = None
) -> Deal:
    """Change fields; a new `stage_id` (or `pipeline_id`) moves the deal like move_deal does."""
    return update_deal_read(db, actor, deal, data, expected_version)[0]


def update_deal_read(
    db: Session, actor: Actor, deal: Deal, data: dict[str, Any], expected_version: int | None = None
) -> tuple[Deal, dict[str, Any]]:
    """`update_deal`, and the deal's API fields as written (`read_values`): the route answers with
    them without reading the tags and contacts again."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    lifecycle.check_version(deal, expected_version)
    current_contacts = contacts_of(db, [deal.id]).get(deal.id, [])
    current_tags = tags.tags_for(db, RECORD_TYPE, [deal.id]).get(deal.id, [])
    before = snapshot(deal, current_contacts, current_tags)
    with db.no_autoflush:
        plan = _plan(db, actor, deal, data, current_contacts)
    now = clock.now()
    _carry_out(deal, plan, actor, now)
    contact_ids = plan.contact_ids if plan.contact_ids is not None else current_contacts
    names = (
        tags.set_tags(db, actor, "deals", RECORD_TYPE, deal.id, plan.tag_names)
        if plan.tag_names is not None
        else current_tags
    )
    after = snapshot(deal, contact_ids, names)
    if before == after:
        db.rollback()
        return deal, read_values(deal, current_tags, current_contacts)
    deal.updated_at = now  # also bumps the version when only contacts or tags changed
    db.flush()
    if plan.to_stage is not None:
        moves.enter_stage(db, deal, plan.to_stage.id, actor, now)
    _set_contacts(db, deal.id, current_contacts, contact_ids)
    db.flush()
    moves.index(db, deal, plan.to_stage.name if plan.to_stage else _stage_name(db, deal))
    values = read_values(deal, names, contact_ids)
    with audit.appended_together(db):  # the update and the stage change: one append to the chain
        payload = DealRead(**values).model_dump(mode="json")
        lifecycle.updated(db, actor, RECORD_TYPE, deal, before, after, deal.title, payload)
        if plan.to_stage is not None and plan.from_stage is not None:
            moves.record_transition(db, actor, deal, plan.from_stage, plan.to_stage)
    db.commit()
    if plan.tag_names is not None:  # read back: a record's tags come in the database's name order
        values["tags"] = tags.tags_for(db, RECORD_TYPE, [deal.id]).get(deal.id, [])
    return deal, values


def update_deals(
    db: Session, actor: Actor, items: list[tuple[Deal, dict[str, Any]]]
) -> list[lifecycle.Written | DomainError]:
    """`update_deal` for many deals at once (a workflow step run for many records): each item is
    validated exactly as alone (the result is its error, and nothing of it is written), then the
    changed deals are written with a few statements per table; a stage move writes its history and
    named events deal by deal, as `update_deal` does. A deal the data does not change comes back
    with `before == after`, untouched. Each deal appears once; the caller commits."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    ids = [deal.id for deal, _ in items]
    contact_map = contacts_of(db, ids)
    tag_map = tags.tags_for(db, RECORD_TYPE, ids)
    now = clock.now()
    results: list[lifecycle.Written | DomainError] = []
    changed: list[tuple[lifecycle.Written, _Plan, list[int]]] = []
    with memo.batch(db), db.no_autoflush:
        for deal, data in items:
            current_contacts = contact_map.get(deal.id, [])
            current_tags = tag_map.get(deal.id, [])
            before = snapshot(deal, current_contacts, current_tags)
            try:
                plan = _plan(db, actor, deal, data, current_contacts)
                if plan.tag_names is not None:
                    tags.require_can_create(db, actor, RECORD_TYPE, plan.tag_names)
            except DomainError as exc:
                results.append(as_result(exc))
                continue
            _carry_out(deal, plan, actor, now)
            contact_ids = plan.contact_ids if plan.contact_ids is not None else current_contacts
            names = current_tags if plan.tag_names is None else plan.tag_names
            if sorted(n.lower() for n in names) == sorted(n.lower() for n in current_tags):
                names = current_tags
            after = snapshot(deal, contact_ids, names)
            written = lifecycle.Written(deal, before, after, deal.title, {})
            results.append(written)
            if after == before:
                db.expire(deal)  # not even updated_by changes
            else:
                deal.updated_at = now  # also bumps the version when only contacts or tags changed
                changed.append((written, plan, current_contacts))
    db.flush()
    names_by_deal = tags.set_tags_many(
        db,
        actor,
        RECORD_TYPE,
        {w.obj.id: w.after["tags"] for w, _, _ in changed if w.after["tags"] != w.before["tags"]},
    )
    for w, plan, current_contacts in changed:
        deal = w.obj
        w.after["tags"] = names_by_deal.get(deal.id, w.after["tags"])
        if plan.to_stage is not None:
            moves.enter_stage(db, deal, plan.to_stage.id, actor, now)
        _set_contacts(db, deal.id, current_contacts, w.after["contact_ids"])
        w.payload = to_read(deal, w.after["tags"], w.after["contact_ids"])
    db.flush()
    deals = [w.obj for w, _, _ in changed]
    stages = {sid: db.get(Stage, sid) for sid in {d.stage_id for d in deals}}  # loaded by _plan
    stage_names = {sid: stage.name if stage else "" for sid, stage in stages.items()}
    org_names = moves.organisation_names(db, deals)
    search.index_records(
        db, RECORD_TYPE, [moves.document(d, stage_names.get(d.stage_id, ""), org_names) for d in deals]
    )
    with audit.appended_together(db):  # every deal's entries: one append to the chain
        lifecycle.updated_many(db, actor, RECORD_TYPE, [w for w, _, _ in changed])
        for w, plan, _ in changed:
            if plan.to_stage is not None and plan.from_stage is not None:
                moves.record_transition(db, actor, w.obj, plan.from_stage, plan.to_stage)
    return results


def move_deal(
    db: Session,
    actor: Actor,
    deal: Deal,
    stage_id: Any,
    lost_reason: str | None = None,
    expected_version: int | None = None,
) -> Deal:
    """Move to another stage (of this pipeline or another usable one). A lost stage needs a reason."""
    return update_deal(db, actor, deal, move_data(stage_id, lost_reason), expected_version)


def move_data(stage_id: Any, lost_reason: str | None = None) -> dict[str, Any]:
    """The `update_deal` data of a move."""
    data: dict[str, Any] = {"stage_id": stage_id}
    if lost_reason is not None and str(lost_reason).strip():
        data["lost_reason"] = lost_reason
    return data


def delete_deal(db: Session, actor: Actor, deal: Deal, expected_version: int | None = None) -> None:
    lifecycle.require(actor, RECORD_TYPE, "delete")
    lifecycle.check_version(deal, expected_version)
    contact_ids = contacts_of(db, [deal.id]).get(deal.id, [])
    names = tags.tags_for(db, RECORD_TYPE, [deal.id]).get(deal.id, [])
    lifecycle.deleted(
        db,
        actor,
        RECORD_TYPE,
        deal,
        snapshot(deal, contact_ids, names),
        deal.title,
        to_read(deal, names, contact_ids),
    )
    db.execute(delete(DealContact).where(DealContact.deal_id == deal.id))
    db.execute(delete(DealStageHistory).where(DealStageHistory.deal_id == deal.id))
    db.delete(deal)
    db.commit()


# -- reads -----------------------------------------------------------------------------------------------


def get_deal(db: Session, actor: Actor, deal_id: Any) -> Deal:
    return lifecycle.get_visible(db, actor, RECORD_TYPE, deal_id)


def list_deals(db: Session, actor: Actor, params: ListParams) -> tuple[list[Deal], str | None]:
    lifecycle.require(actor, RECORD_TYPE, "read")
    stmt = select(Deal).where(visible_clause(db, actor))
    if params.q:
        stmt = stmt.where(func.lower(Deal.title).contains(params.q.strip().lower(), autoescape=True))
    return page(db, LISTING, stmt, params)


def count_deals(db: Session, actor: Actor, params: ListParams) -> int:
    lifecycle.require(actor, RECORD_TYPE, "read")
    stmt = select(func.count()).select_from(Deal).where(visible_clause(db, actor))
    if params.q:
        stmt = stmt.where(func.lower(Deal.title).contains(params.q.strip().lower(), autoescape=True))
    return db.scalar(LISTING.apply_filters(stmt, params)) or 0


def for_record(db: Session, actor: Actor, record_type: str, record_id: Any) -> list[Deal]:
    """Visible deals of an organisation or a contact (which must itself be visible), open first."""
    lifecycle.require(actor, RECORD_TYPE, "read")
    try:
        record_id = int(record_id)
    except (TypeError, ValueError):
        raise NotFound()
    stmt = select(Deal).where(visible_clause(db, actor))
    if record_type == "organisation":
        organisations.get_organisation(db, actor, record_id)
        stmt = stmt.where(Deal.organisation_id == record_id)
    elif record_type == "contact":
        if not visible_contacts(db, actor, [record_id]):
            raise NotFound()
        stmt = stmt.where(
            exists(
                select(DealContact.deal_id).where(
                    DealContact.deal_id == Deal.id, DealContact.contact_id == record_id
                )
            )
        )
    else:
        raise NotFound()
    order = [
        (Deal.status == "open").desc(),
        Deal.expected_close_date.is_(None),
        Deal.expected_close_date,
        Deal.id.desc(),
    ]
    return list(db.scalars(stmt.order_by(*order).limit(100)))


def pipeline_names(db: Session, pipeline_ids: set[int]) -> dict[int, str]:
    """Names of the pipelines of deals already read through the visibility filter."""
    if not pipeline_ids:
        return {}
    rows = db.execute(select(Pipeline.id, Pipeline.name).where(Pipeline.id.in_(pipeline_ids)))
    return {row.id: row.name for row in rows}


def stage_map(db: Session, stage_ids: set[int]) -> dict[int, Stage]:
    if not stage_ids:
        return {}
    return {s.id: s for s in db.scalars(select(Stage).where(Stage.id.in_(stage_ids)))}


# -- stage history ---------------------------------------------------------------------------------------


@dataclass
class StageStay:
    stage_id: int
    stage_name: str
    stage_kind: str
    entered_at: datetime
    left_at: datetime | None
    seconds: int
    moved_by_id: int | None


def _stays(db: Session, deal: Deal) -> list[StageStay]:
    now = clock.now()
    rows = db.execute(
        select(DealStageHistory, Stage.name, Stage.kind)
        .join(Stage, Stage.id == DealStageHistory.stage_id)
        .where(DealStageHistory.deal_id == deal.id)
        .order_by(DealStageHistory.entered_at, DealStageHistory.id)
    )
    out = []
    for stay, name, kind in rows:
        end = stay.left_at or now
        out.append(
            StageStay(
                stay.stage_id,
                name,
                kind,
                stay.entered_at,
                stay.left_at,
                max(0, int((end - stay.entered_at).total_seconds())),
                stay.moved_by_id,
            )
        )
    return out


def stage_history(db: Session, actor: Actor, deal: Deal) -> list[StageStay]:
    """Every stay of a visible deal in a stage, oldest first; the current one counts up to now."""
    get_deal(db, actor, deal.id)
    return _stays(db, deal)


def time_in_stages(deal: Deal, db: Session | None = None) -> dict[int, int]:
    """Seconds spent per stage id (several stays in one stage add up); the current stage counts up
    to now (core.clock)."""
    session = db or object_session(deal)
    if session is None:
        raise ValueError("the deal is not attached to a session")
    totals: dict[int, int] = {}
    for stay in _stays(session, deal):
        totals[stay.stage_id] = totals.get(stay.stage_id, 0) + stay.seconds
    return totals


# -- board -----------------------------------------------------------------------------------------------


@dataclass
class BoardColumn:
    stage: Stage
    deals: list[Row[Any]]  # the cards: rows of CARD_COLUMNS, no ORM objects to build
    count: int
    total: Decimal
    weighted: Decimal
    more: int
    stale_days: dict[int, int]  # deal id -> whole days in the stage, for stale deals only


@dataclass
class Board:
    pipeline: Pipeline
    columns: list[BoardColumn]
    count: int
    total: Decimal
    weighted: Decimal


def _euros(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _live_sums(
    db: Session, where: list[Any], params: ListParams, stage_probability: dict[int, int]
) -> dict[int, totals.StageSums]:
    """The per-stage sums aggregated over the matching deals themselves (for the filters the stored
    totals cannot answer)."""
    # Amounts are summed as integer cents: exact on SQLite (which stores NUMERIC as floating
    # point) as on PostgreSQL; the weighting happens in Decimal afterwards.
    cents = cast(func.round(Deal.amount * 100), BigInteger)
    agg = select(Deal.stage_id, Deal.probability, func.count(), func.sum(cents)).where(*where)
    agg = LISTING.apply_filters(agg, params).group_by(Deal.stage_id, Deal.probability)
    out: dict[int, totals.StageSums] = defaultdict(totals.StageSums)
    for stage_id, probability, count, sum_cents in db.execute(agg):
        amount = Decimal(int(sum_cents or 0)) / 100
        prob = probability if probability is not None else stage_probability.get(stage_id, 0)
        sums = out[stage_id]
        sums.count += count
        sums.amount += amount
        sums.weighted += amount * prob / 100
    return out


def board(
    db: Session, actor: Actor, pipeline_id: Any, filters: dict[str, str] | ListParams | None = None
) -> Board:
    """One column per stage with the visible deals matching `filters` (listing filters; `limit` caps
    the cards per column): count, total amount and weighted total (amount × probability / 100) over
    every matching deal, and the deals that sat in an open stage longer than its rotting days.
    The totals come from the stored per-stage totals (deals/totals.py) unless a filter needs the
    deals themselves."""
    lifecycle.require(actor, RECORD_TYPE, "read")
    try:
        pipeline_id = int(pipeline_id)
    except (TypeError, ValueError):
        raise NotFound()
    pipeline = pipelines.usable_pipeline(db, actor, pipeline_id)
    if pipeline is None:
        raise NotFound()
    params = filters if isinstance(filters, ListParams) else parse_params(dict(filters or {}))
    stage_list = pipelines.stages(db, pipeline)
    where = [Deal.pipeline_id == pipeline.id, visible_clause(db, actor)]
    if params.q:
        where.append(func.lower(Deal.title).contains(params.q.strip().lower(), autoescape=True))

    stage_probability = {s.id: s.probability for s in stage_list}
    sums = totals.stored(db, actor, pipeline.id, stage_probability, params)
    if sums is None:
        sums = _live_sums(db, where, params, stage_probability)

    # The newest cards of each stage in one round trip: a UNION ALL of one small limited select
    # per stage, each walking the (stage_id, stage_entered_at, id) index instead of ranking every
    # deal of the pipeline. (Wrapped as subqueries: SQLite takes no ORDER BY/LIMIT in a UNION arm.)
    newest_first = (Deal.stage_entered_at.desc(), Deal.id.desc())
    per_stage = [
        select(
            LISTING.apply_filters(select(Deal.id).where(*where, Deal.stage_id == stage.id), params)
            .order_by(*newest_first)
            .limit(params.limit)
            .subquery()
        )
        for stage in stage_list
    ]
    by_stage: dict[int, list[Row[Any]]] = defaultdict(list)
    if per_stage:
        card_ids = union_all(*per_stage).subquery()
        cards = select(*CARD_COLUMNS).where(Deal.id.in_(select(card_ids.c.id))).order_by(*newest_first)
        for card in db.execute(cards):
            by_stage[card.stage_id].append(card)

    now = clock.now()
    columns = []
    for stage in stage_list:
        deals = by_stage.get(stage.id, [])
        stage_sums = sums.get(stage.id) or totals.StageSums()
        stale: dict[int, int] = {}
        if stage.kind == "open" and stage.rotting_days:
            for deal in deals:
                since = deal.stage_entered_at or deal.created_at
                age = now - since
                if age.total_seconds() > stage.rotting_days * 86400:
                    stale[deal.id] = age.days
        columns.append(
            BoardColumn(
                stage=stage,
                deals=deals,
                count=stage_sums.count,
                total=_euros(stage_sums.amount),
                weighted=_euros(stage_sums.weighted),
                more=max(0, stage_sums.count - len(deals)),
                stale_days=stale,
            )
        )
    return Board(
        pipeline=pipeline,
        columns=columns,
        count=sum(c.count for c in columns),
        total=_euros(sum((sums[s.id].amount for s in stage_list if s.id in sums), Decimal(0))),
        weighted=_euros(sum((sums[s.id].weighted for s in stage_list if s.id in sums), Decimal(0))),
    )


def list_pipelines(db: Session, actor: Actor, include_inactive: bool = False) -> list[Pipeline]:
    return pipelines.list_pipelines(db, actor, include_inactive)


# Pipeline and stage configuration, re-exported so callers need one module.
get_pipeline = pipelines.get_pipeline
create_pipeline = pipelines.create_pipeline
update_pipeline = pipelines.update_pipeline
delete_pipeline = pipelines.delete_pipeline
create_stage = pipelines.create_stage
update_stage = pipelines.update_stage
delete_stage = pipelines.delete_stage
reorder_stages = pipelines.reorder_stages
ensure_default_pipelines = pipelines.ensure_default_pipelines


records.register_actions(RECORD_TYPE, get_deal, update_deal, delete_deal)


def _reindex_for_organisation(db: Session, organisation_id: int) -> None:
    """An organisation was renamed: refresh the search text of its deals."""
    rows = list(db.scalars(select(Deal).where(Deal.organisation_id == organisation_id)))
    if not rows:
        return
    names = organisations.names_by_id(db, SYSTEM, {organisation_id})
    stage_names = dict(
        db.execute(select(Stage.id, Stage.name).where(Stage.id.in_({d.stage_id for d in rows}))).all()
    )
    for deal in rows:
        moves.index(db, deal, stage_names.get(deal.stage_id, ""), names)


search.register_dependent("organisation", _reindex_for_organisation)
