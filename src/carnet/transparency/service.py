"""The transparency register: every write of agreements, benefits and thresholds goes through
here (validation, visibility, permission, audit). The rules are in `rules.py`; reports, the
declaration export and contact traceability in `reports.py`.

Writes are audited; no domain event is emitted (these records are not in the webhook catalogue).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from carnet.contacts import service as contacts
from carnet.contacts.models import Contact
from carnet.core import audit, clock, i18n, inputs, lifecycle, money, ownership, permissions, records
from carnet.core.context import Actor
from carnet.core.errors import Conflict, FieldErrors, NotFound, PermissionDenied, ValidationFailed
from carnet.core.listing import Listing, ListParams, page
from carnet.organisations import service as organisations
from carnet.projects import service as projects
from carnet.transparency import rules
from carnet.transparency.models import (
    ANY_NATURE,
    BENEFICIARY_CATEGORIES,
    FORMALITY_STATUSES,
    NATURES,
    THRESHOLD_KEYS,
    Agreement,
    Benefit,
    TransparencyThreshold,
)

AGREEMENT = "agreement"
BENEFIT = "benefit"
THRESHOLD = "transparency_threshold"
records.register(AGREEMENT, Agreement, "transparency", "Agreement", "/transparency/agreements")
records.register(BENEFIT, Benefit, "transparency", "Benefit", "/transparency/benefits")
PARIS = ZoneInfo("Europe/Paris")

BENEFIT_LISTING = Listing(
    model=Benefit,
    record_type=BENEFIT,
    fields={
        "id": Benefit.id,
        "granted_on": Benefit.granted_on,
        "nature": Benefit.nature,
        "amount": Benefit.amount,
        "contact_id": Benefit.contact_id,
        "organisation_id": Benefit.organisation_id,
        "project_id": Benefit.project_id,
        "agreement_id": Benefit.agreement_id,
        "beneficiary_category": Benefit.beneficiary_category,
        "formality_status": Benefit.formality_status,
        "owner_id": Benefit.owner_id,
        "department_id": Benefit.department_id,
        "created_at": Benefit.created_at,
        "updated_at": Benefit.updated_at,
    },
    sortable={"granted_on", "amount", "created_at", "updated_at"},
)
AGREEMENT_LISTING = Listing(
    model=Agreement,
    record_type=AGREEMENT,
    fields={
        "id": Agreement.id,
        "reference": Agreement.reference,
        "signed_on": Agreement.signed_on,
        "nature": Agreement.nature,
        "amount": Agreement.amount,
        "contact_id": Agreement.contact_id,
        "organisation_id": Agreement.organisation_id,
        "project_id": Agreement.project_id,
        "beneficiary_category": Agreement.beneficiary_category,
        "formality_status": Agreement.formality_status,
        "owner_id": Agreement.owner_id,
        "department_id": Agreement.department_id,
        "created_at": Agreement.created_at,
        "updated_at": Agreement.updated_at,
    },
    sortable={"signed_on", "reference", "amount", "created_at", "updated_at"},
)
FORMALITY_FIELDS = (
    "formality_status",
    "declared_on",
    "authorisation_requested_on",
    "authorisation_decided_on",
)


def today() -> date:
    """Business dates are French dates."""
    return clock.now().astimezone(PARIS).date()


# -- parsing -----------------------------------------------------------------------------------------


def _choice(value: Any, choices: tuple[str, ...], name: str, errors: FieldErrors) -> str | None:
    if value not in choices:
        errors.add(name, "Choose one of: {values}", "invalid_choice", values=", ".join(choices))
        return None
    return str(value)


def _amount(value: Any, errors: FieldErrors) -> Decimal | None:
    try:
        return money.parse_money(value, "amount")
    except ValidationFailed as exc:
        errors.errors.extend(exc.errors)
        return None


# -- shared validation -----------------------------------------------------------------------------


def _values(db: Session, actor: Actor, obj: Any, data: dict[str, Any], errors: FieldErrors) -> dict[str, Any]:
    """The beneficiary, project and formality of a benefit or agreement, validated: a dict of the
    fields to set. Links must be visible to the actor (unchanged ones are kept as they are)."""
    v: dict[str, Any] = {}
    for name in ("contact_id", "organisation_id", "project_id"):
        if name in data:
            v[name] = inputs.record_id(data[name], name, errors)
    if v.get("contact_id") is not None and v["contact_id"] != obj.contact_id:
        if not actor.can("contacts:read") or not contacts.names_by_id(db, actor, {v["contact_id"]}):
            errors.add("contact_id", "Unknown contact", "unknown")
    if v.get("organisation_id") is not None and v["organisation_id"] != obj.organisation_id:
        organisations.require_visible_id(db, actor, v["organisation_id"], "organisation_id", errors)
    if v.get("project_id") is not None and v["project_id"] != obj.project_id:
        try:
            projects.get_project(db, actor, v["project_id"])
        except NotFound:
            errors.add("project_id", "Unknown project", "unknown")
    if "beneficiary_category" in data and data["beneficiary_category"] not in (None, ""):
        v["beneficiary_category"] = _choice(
            data["beneficiary_category"], BENEFICIARY_CATEGORIES, "beneficiary_category", errors
        )
    if "nature" in data:
        v["nature"] = _choice(data["nature"], NATURES, "nature", errors)
    if "amount" in data:
        v["amount"] = _amount(data["amount"], errors)
    if "event" in data:
        v["event"] = inputs.text(data["event"], "event", 200, errors)
    if "formality_status" in data:
        v["formality_status"] = _choice(
            data["formality_status"] or "not_required", FORMALITY_STATUSES, "formality_status", errors
        )
    for name in FORMALITY_FIELDS[1:]:
        if name in data:
            v[name] = inputs.day(data[name], name, errors)
    return v


def _check_common(obj: Any, errors: FieldErrors) -> None:
    """Rules on the whole record once the changes are applied."""
    if (obj.contact_id is None) == (obj.organisation_id is None):
        errors.add(
            "contact_id", "Choose the beneficiary: a health professional or an organisation", "beneficiary"
        )
    if obj.amount is None and not any(e.field == "amount" for e in errors.errors):
        errors.add("amount", "This field is required", "required")
    if obj.nature is None and not any(e.field == "nature" for e in errors.errors):
        errors.add("nature", "This field is required", "required")
    status = obj.formality_status
    if status == "declared" and obj.declared_on is None:
        errors.add("declared_on", "Enter the date of the declaration", "required")
    if (
        status in ("authorisation_requested", "authorised", "refused")
        and obj.authorisation_requested_on is None
    ):
        errors.add("authorisation_requested_on", "Enter the date of the authorisation request", "required")
    if status in ("authorised", "refused") and obj.authorisation_decided_on is None:
        errors.add("authorisation_decided_on", "Enter the date of the decision", "required")
    if (
        obj.authorisation_decided_on is not None
        and obj.authorisation_requested_on is not None
        and obj.authorisation_decided_on < obj.authorisation_requested_on
    ):
        errors.add(
            "authorisation_decided_on", "The decision cannot come before the request", "before_request"
        )


def _default_category(obj: Any) -> str:
    """A contact is a health professional and an organisation an establishment unless told."""
    return "health_professional" if obj.contact_id is not None else "establishment"


# -- thresholds --------------------------------------------------------------------------------------


def load_thresholds(db: Session) -> rules.Thresholds:
    cache = db.info.get("transparency_thresholds")
    if cache is None:
        cache = rules.Thresholds(
            rules.ThresholdRow(t.key, t.nature, Decimal(t.amount), t.valid_from, t.valid_to)
            for t in db.scalars(select(TransparencyThreshold).order_by(TransparencyThreshold.valid_from))
        )
        db.info["transparency_thresholds"] = cache
    return cache


def list_thresholds(db: Session, actor: Actor) -> list[TransparencyThreshold]:
    lifecycle.require(actor, BENEFIT, "read")
    return list(
        db.scalars(
            select(TransparencyThreshold).order_by(
                TransparencyThreshold.key, TransparencyThreshold.nature, TransparencyThreshold.valid_from
            )
        )
    )


def get_threshold(db: Session, actor: Actor, threshold_id: Any) -> TransparencyThreshold:
    lifecycle.require(actor, BENEFIT, "read")
    try:
        number = int(threshold_id)
    except (TypeError, ValueError):
        raise NotFound() from None
    # Ids are 32-bit: PostgreSQL refuses to compare with a larger number.
    found = db.get(TransparencyThreshold, number) if 0 < number <= lifecycle.MAX_ID else None
    if found is None:
        raise NotFound()
    return found


def threshold_to_read(t: TransparencyThreshold) -> dict[str, Any]:
    return {
        "id": t.id,
        "key": t.key,
        "nature": t.nature,
        "amount": money.money_str(t.amount),
        "valid_from": t.valid_from,
        "valid_to": t.valid_to,
        "source": t.source,
        "created_at": t.created_at,
        "updated_at": t.updated_at,
    }


def _threshold_snapshot(t: TransparencyThreshold) -> dict[str, Any]:
    data = threshold_to_read(t)
    for key in ("id", "created_at", "updated_at"):
        data.pop(key)
    return data


def _require_admin(actor: Actor) -> None:
    # Thresholds are legal settings: only administrators change them.
    if not actor.is_admin:
        raise PermissionDenied()


def _apply_threshold(db: Session, t: TransparencyThreshold, data: dict[str, Any], creating: bool) -> None:
    errors = FieldErrors()
    if "key" in data or creating:
        t.key = _choice(data.get("key"), THRESHOLD_KEYS, "key", errors)  # type: ignore[assignment]
    if "nature" in data or creating:
        t.nature = _choice(data.get("nature") or ANY_NATURE, (ANY_NATURE, *NATURES), "nature", errors)  # type: ignore[assignment]
    if "amount" in data or creating:
        t.amount = _amount(data.get("amount"), errors)  # type: ignore[assignment]
    if "valid_from" in data or creating:
        t.valid_from = inputs.day(data.get("valid_from"), "valid_from", errors)  # type: ignore[assignment]
        if t.valid_from is None and not any(e.field == "valid_from" for e in errors.errors):
            errors.add("valid_from", "This field is required", "required")
    if "valid_to" in data:
        t.valid_to = inputs.day(data["valid_to"], "valid_to", errors)
    if "source" in data or creating:
        t.source = inputs.text(data.get("source"), "source", 500, errors) or ""
        if not t.source:
            errors.add("source", "Give the legal source of this amount", "required")
    if t.valid_from and t.valid_to and t.valid_to < t.valid_from:
        errors.add("valid_to", "The end is before the start", "before_start")
    errors.raise_if_any()
    # Two amounts valid on the same day for the same key and nature would make the rules ambiguous.
    overlapping = db.scalar(
        select(TransparencyThreshold.id).where(
            TransparencyThreshold.key == t.key,
            TransparencyThreshold.nature == t.nature,
            TransparencyThreshold.id != (t.id or 0),
            TransparencyThreshold.valid_from <= (t.valid_to or date.max),
            (TransparencyThreshold.valid_to.is_(None)) | (TransparencyThreshold.valid_to >= t.valid_from),
        )
    )
    if overlapping is not None:
        raise ValidationFailed.on(
            "valid_from",
            "Another amount of this threshold is valid on these dates: end it first",
            "overlap",
        )


def create_threshold(db: Session, actor: Actor, data: dict[str, Any]) -> TransparencyThreshold:
    _require_admin(actor)
    t = TransparencyThreshold()
    with db.no_autoflush:
        _apply_threshold(db, t, data, creating=True)
    db.add(t)
    db.flush()
    audit.record(db, actor, "create", THRESHOLD, t.id, audit.diff({}, _threshold_snapshot(t)), t.key)
    db.info.pop("transparency_thresholds", None)
    db.commit()
    return t


def update_threshold(
    db: Session, actor: Actor, t: TransparencyThreshold, data: dict[str, Any]
) -> TransparencyThreshold:
    _require_admin(actor)
    before = _threshold_snapshot(t)
    with db.no_autoflush:
        _apply_threshold(db, t, data, creating=False)
    changes = audit.diff(before, _threshold_snapshot(t))
    if not changes:
        db.rollback()
        return t
    db.flush()
    audit.record(db, actor, "update", THRESHOLD, t.id, changes, t.key)
    db.info.pop("transparency_thresholds", None)
    db.commit()
    return t


def delete_threshold(db: Session, actor: Actor, t: TransparencyThreshold) -> None:
    _require_admin(actor)
    audit.record(db, actor, "delete", THRESHOLD, t.id, audit.diff(_threshold_snapshot(t), {}), t.key)
    db.delete(t)
    db.info.pop("transparency_thresholds", None)
    db.commit()


# -- agreements --------------------------------------------------------------------------------------


def agreement_clause(db: Session, actor: Actor) -> ColumnElement[bool]:
    return permissions.visible_for_model(db, actor, AGREEMENT, Agreement)


def benefit_clause(db: Session, actor: Actor) -> ColumnElement[bool]:
    return permissions.visible_for_model(db, actor, BENEFIT, Benefit)


def get_agreement(db: Session, actor: Actor, agreement_id: Any) -> Agreement:
    return lifecycle.get_visible(db, actor, AGREEMENT, agreement_id)


def get_benefit(db: Session, actor: Actor, benefit_id: Any) -> Benefit:
    return lifecycle.get_visible(db, actor, BENEFIT, benefit_id)


def period(raw: dict[str, Any]) -> tuple[date | None, date | None]:
    """The `from` and `to` dates of a request (both included); field errors when malformed."""
    errors = FieldErrors()
    start = inputs.day(raw.get("from"), "from", errors)
    end = inputs.day(raw.get("to"), "to", errors)
    if start and end and end < start:
        errors.add("to", "The end is before the start", "before_start")
    errors.raise_if_any()
    return start, end


def _in_period(stmt: Select, date_col: Any, params: ListParams) -> Select:
    """`from`/`to` of the filters bound the record's date; the other filters are the listing's."""
    start, end = period(params.filters)
    params.filters = {k: v for k, v in params.filters.items() if k not in ("from", "to")}
    if start is not None:
        stmt = stmt.where(date_col >= start)
    if end is not None:
        stmt = stmt.where(date_col <= end)
    return stmt


def list_agreements(db: Session, actor: Actor, params: ListParams) -> tuple[list[Agreement], str | None]:
    lifecycle.require(actor, AGREEMENT, "read")
    stmt = _in_period(select(Agreement).where(agreement_clause(db, actor)), Agreement.signed_on, params)
    if params.q:
        stmt = stmt.where(func.lower(Agreement.reference).contains(params.q.strip().lower(), autoescape=True))
    return page(db, AGREEMENT_LISTING, stmt, params)


def list_benefits(db: Session, actor: Actor, params: ListParams) -> tuple[list[Benefit], str | None]:
    lifecycle.require(actor, BENEFIT, "read")
    stmt = _in_period(select(Benefit).where(benefit_clause(db, actor)), Benefit.granted_on, params)
    return page(db, BENEFIT_LISTING, stmt, params)


def benefits_of_agreements(db: Session, agreement_ids: list[int]) -> dict[int, list[Benefit]]:
    """All benefits recorded under these agreements (the rules count them all, seen or not)."""
    out: dict[int, list[Benefit]] = {i: [] for i in agreement_ids}
    if agreement_ids:
        for b in db.scalars(
            select(Benefit).where(Benefit.agreement_id.in_(agreement_ids)).order_by(Benefit.granted_on)
        ):
            out[b.agreement_id].append(b)  # type: ignore[index]
    return out


def _benefit_facts(b: Benefit) -> rules.BenefitFacts:
    return rules.BenefitFacts(b.granted_on, b.nature, Decimal(b.amount), b.beneficiary_category)


def agreement_outcome(
    db: Session, agreement: Agreement, benefits: list[Benefit] | None = None
) -> rules.Outcome:
    if benefits is None:
        benefits = benefits_of_agreements(db, [agreement.id])[agreement.id]
    facts = rules.AgreementFacts(
        agreement.signed_on,
        agreement.start_date,
        agreement.nature,
        Decimal(agreement.amount),
        agreement.beneficiary_category,
        agreement.formality_status,
        agreement.declared_on,
        agreement.authorisation_requested_on,
    )
    return rules.agreement_outcome(facts, [_benefit_facts(b) for b in benefits], load_thresholds(db), today())


def benefit_outcomes(db: Session, benefits: list[Benefit]) -> dict[int, rules.Outcome]:
    """The outcome of each benefit, reading each agreement involved once."""
    agreement_ids = sorted({b.agreement_id for b in benefits if b.agreement_id})
    agreements = {a.id: a for a in db.scalars(select(Agreement).where(Agreement.id.in_(agreement_ids)))}
    under = benefits_of_agreements(db, agreement_ids)
    by_agreement = {i: agreement_outcome(db, a, under[i]) for i, a in agreements.items()}
    thresholds = load_thresholds(db)
    return {
        b.id: rules.benefit_outcome(
            _benefit_facts(b), thresholds, today(), by_agreement.get(b.agreement_id or 0)
        )
        for b in benefits
    }


def outcome_to_read(outcome: rules.Outcome, language: str | None = None) -> dict[str, Any]:
    """The rules' verdict; reasons in English, or in `language` for a page."""
    if language is not None:
        reasons = [i18n.gettext(text, language, **params) for text, params in outcome.reasons]
    else:
        reasons = [text.format(**params) for text, params in outcome.reasons]
    return {
        "published": outcome.published,
        "publication_due": outcome.publication_due,
        "formality": outcome.formality,
        "deadline": outcome.deadline,
        "reasons": reasons,
        "warnings": list(outcome.warnings),
    }


def agreement_to_read(
    agreement: Agreement, outcome: rules.Outcome, language: str | None = None
) -> dict[str, Any]:
    return {
        "id": agreement.id,
        "reference": agreement.reference,
        "signed_on": agreement.signed_on,
        "contact_id": agreement.contact_id,
        "organisation_id": agreement.organisation_id,
        "beneficiary_category": agreement.beneficiary_category,
        "nature": agreement.nature,
        "purpose": agreement.purpose,
        "amount": money.money_str(agreement.amount),
        "start_date": agreement.start_date,
        "end_date": agreement.end_date,
        "event": agreement.event,
        "project_id": agreement.project_id,
        "formality_status": agreement.formality_status,
        "declared_on": agreement.declared_on,
        "authorisation_requested_on": agreement.authorisation_requested_on,
        "authorisation_decided_on": agreement.authorisation_decided_on,
        "owner_id": agreement.owner_id,
        "department_id": agreement.department_id,
        "rules": outcome_to_read(outcome, language),
        "version": agreement.version,
        "created_at": agreement.created_at,
        "updated_at": agreement.updated_at,
    }


def benefit_to_read(benefit: Benefit, outcome: rules.Outcome, language: str | None = None) -> dict[str, Any]:
    return {
        "id": benefit.id,
        "granted_on": benefit.granted_on,
        "contact_id": benefit.contact_id,
        "organisation_id": benefit.organisation_id,
        "beneficiary_category": benefit.beneficiary_category,
        "nature": benefit.nature,
        "amount": money.money_str(benefit.amount),
        "event": benefit.event,
        "description": benefit.description,
        "project_id": benefit.project_id,
        "agreement_id": benefit.agreement_id,
        "formality_status": benefit.formality_status,
        "declared_on": benefit.declared_on,
        "authorisation_requested_on": benefit.authorisation_requested_on,
        "authorisation_decided_on": benefit.authorisation_decided_on,
        "owner_id": benefit.owner_id,
        "department_id": benefit.department_id,
        "rules": outcome_to_read(outcome, language),
        "version": benefit.version,
        "created_at": benefit.created_at,
        "updated_at": benefit.updated_at,
    }


def agreement_reads(
    db: Session, agreements: list[Agreement], language: str | None = None
) -> list[dict[str, Any]]:
    under = benefits_of_agreements(db, [a.id for a in agreements])
    return [agreement_to_read(a, agreement_outcome(db, a, under[a.id]), language) for a in agreements]


def benefit_reads(db: Session, benefits: list[Benefit], language: str | None = None) -> list[dict[str, Any]]:
    outcomes = benefit_outcomes(db, benefits)
    return [benefit_to_read(b, outcomes[b.id], language) for b in benefits]


def _snapshot(read: dict[str, Any]) -> dict[str, Any]:
    data = dict(read)
    for key in ("id", "version", "created_at", "updated_at", "rules"):
        data.pop(key)
    return data


def _apply_agreement(
    db: Session, actor: Actor, agreement: Agreement, data: dict[str, Any], creating: bool
) -> None:
    errors = FieldErrors()
    with db.no_autoflush:
        values = _values(db, actor, agreement, data, errors)
        if "reference" in data or creating:
            values["reference"] = inputs.text(data.get("reference"), "reference", 60, errors)
        if "purpose" in data or creating:
            values["purpose"] = inputs.text(data.get("purpose"), "purpose", 10000, errors)
        for name in ("signed_on", "start_date", "end_date"):
            if name in data:
                values[name] = inputs.day(data[name], name, errors)
        owner_id, dept_id = ownership.resolve(
            db,
            actor,
            data,
            None if creating else agreement.owner_id,
            None if creating else agreement.department_id,
            errors,
        )
    for key, value in values.items():
        setattr(agreement, key, value)
    agreement.owner_id, agreement.department_id = owner_id, dept_id
    if "nature" not in data and creating:
        agreement.nature = "fee"
    if creating and not agreement.formality_status:
        agreement.formality_status = "not_required"
    if not data.get("beneficiary_category") and (
        creating or "contact_id" in data or "organisation_id" in data
    ):
        agreement.beneficiary_category = _default_category(agreement)
    if not agreement.reference and not any(e.field == "reference" for e in errors.errors):
        errors.add("reference", "This field is required", "required")
    if not agreement.purpose and not any(e.field == "purpose" for e in errors.errors):
        errors.add("purpose", "This field is required", "required")
    if agreement.signed_on is None and not any(e.field == "signed_on" for e in errors.errors):
        errors.add("signed_on", "This field is required", "required")
    if agreement.start_date and agreement.end_date and agreement.end_date < agreement.start_date:
        errors.add("end_date", "The end is before the start", "before_start")
    _check_common(agreement, errors)
    errors.raise_if_any()
    agreement.updated_by_id = actor.user_id


def create_agreement(db: Session, actor: Actor, data: dict[str, Any]) -> Agreement:
    lifecycle.require(actor, AGREEMENT, "create")
    agreement = Agreement(created_by_id=actor.user_id, custom_fields={}, formality_status="not_required")
    _apply_agreement(db, actor, agreement, data, creating=True)
    db.add(agreement)
    db.flush()
    read = agreement_reads(db, [agreement])[0]
    audit.record(
        db, actor, "create", AGREEMENT, agreement.id, audit.diff({}, _snapshot(read)), agreement.reference
    )
    db.commit()
    return agreement


def update_agreement(
    db: Session, actor: Actor, agreement: Agreement, data: dict[str, Any], expected_version: int | None = None
) -> Agreement:
    lifecycle.require(actor, AGREEMENT, "update")
    lifecycle.check_version(agreement, expected_version)
    before = _snapshot(agreement_reads(db, [agreement])[0])
    _apply_agreement(db, actor, agreement, data, creating=False)
    after = _snapshot(agreement_to_read(agreement, rules.Outcome(True, None, "")))
    changes = audit.diff(before, after)
    if not changes:
        db.rollback()
        return agreement
    if "contact_id" in changes or "organisation_id" in changes:
        _require_same_beneficiary_for_benefits(db, agreement)
    db.flush()
    audit.record(db, actor, "update", AGREEMENT, agreement.id, changes, agreement.reference)
    db.commit()
    return agreement


def _require_same_beneficiary_for_benefits(db: Session, agreement: Agreement) -> None:
    other = db.scalar(
        select(func.count())
        .select_from(Benefit)
        .where(
            Benefit.agreement_id == agreement.id,
            (Benefit.contact_id.is_distinct_from(agreement.contact_id))
            | (Benefit.organisation_id.is_distinct_from(agreement.organisation_id)),
        )
    )
    if other:
        raise ValidationFailed.on(
            "contact_id",
            "Benefits recorded under this agreement go to its beneficiary: move them first",
            "benefits_attached",
        )


def delete_agreement(
    db: Session, actor: Actor, agreement: Agreement, expected_version: int | None = None
) -> None:
    lifecycle.require(actor, AGREEMENT, "delete")
    lifecycle.check_version(agreement, expected_version)
    if db.scalar(select(Benefit.id).where(Benefit.agreement_id == agreement.id).limit(1)) is not None:
        raise Conflict("Benefits are recorded under this agreement: delete or move them first", code="in_use")
    read = agreement_reads(db, [agreement])[0]
    audit.record(
        db, actor, "delete", AGREEMENT, agreement.id, audit.diff(_snapshot(read), {}), agreement.reference
    )
    db.delete(agreement)
    db.commit()


# -- benefits ----------------------------------------------------------------------------------------


def _apply_benefit(db: Session, actor: Actor, benefit: Benefit, data: dict[str, Any], creating: bool) -> None:
    errors = FieldErrors()
    with db.no_autoflush:
        values = _values(db, actor, benefit, data, errors)
        if "granted_on" in data:
            values["granted_on"] = inputs.day(data["granted_on"], "granted_on", errors)
        if "description" in data:
            values["description"] = inputs.text(data["description"], "description", 10000, errors)
        agreement: Agreement | None = None
        if "agreement_id" in data:
            values["agreement_id"] = inputs.record_id(data["agreement_id"], "agreement_id", errors)
        agreement_id = values.get("agreement_id", benefit.agreement_id)
        if agreement_id is not None:
            try:
                agreement = get_agreement(db, actor, agreement_id)
            except NotFound:
                if agreement_id != benefit.agreement_id:
                    errors.add("agreement_id", "Unknown agreement", "unknown")
                agreement = db.get(Agreement, agreement_id)
        owner_id, dept_id = ownership.resolve(
            db,
            actor,
            data,
            None if creating else benefit.owner_id,
            None if creating else benefit.department_id,
            errors,
        )
    for key, value in values.items():
        setattr(benefit, key, value)
    benefit.owner_id, benefit.department_id = owner_id, dept_id
    if creating and not benefit.formality_status:
        benefit.formality_status = "not_required"
    if agreement is not None:
        # A benefit under an agreement goes to its beneficiary: default to it, refuse another.
        if benefit.contact_id is None and benefit.organisation_id is None:
            benefit.contact_id, benefit.organisation_id = agreement.contact_id, agreement.organisation_id
        elif (benefit.contact_id, benefit.organisation_id) != (
            agreement.contact_id,
            agreement.organisation_id,
        ):
            errors.add(
                "agreement_id", "This agreement was made with another beneficiary", "other_beneficiary"
            )
        if "beneficiary_category" not in data and creating:
            benefit.beneficiary_category = agreement.beneficiary_category
    if not data.get("beneficiary_category") and (
        creating or "contact_id" in data or "organisation_id" in data
    ):
        if agreement is None or not creating:
            benefit.beneficiary_category = _default_category(benefit)
        else:
            benefit.beneficiary_category = agreement.beneficiary_category
    if benefit.granted_on is None and not any(e.field == "granted_on" for e in errors.errors):
        errors.add("granted_on", "This field is required", "required")
    _check_common(benefit, errors)
    errors.raise_if_any()
    benefit.updated_by_id = actor.user_id


def create_benefit(db: Session, actor: Actor, data: dict[str, Any]) -> Benefit:
    lifecycle.require(actor, BENEFIT, "create")
    benefit = Benefit(created_by_id=actor.user_id, custom_fields={}, formality_status="not_required")
    _apply_benefit(db, actor, benefit, data, creating=True)
    db.add(benefit)
    db.flush()
    read = benefit_reads(db, [benefit])[0]
    audit.record(db, actor, "create", BENEFIT, benefit.id, audit.diff({}, _snapshot(read)), _summary(benefit))
    db.commit()
    return benefit


def update_benefit(
    db: Session, actor: Actor, benefit: Benefit, data: dict[str, Any], expected_version: int | None = None
) -> Benefit:
    lifecycle.require(actor, BENEFIT, "update")
    lifecycle.check_version(benefit, expected_version)
    before = _snapshot(benefit_to_read(benefit, rules.Outcome(True, None, "")))
    _apply_benefit(db, actor, benefit, data, creating=False)
    changes = audit.diff(before, _snapshot(benefit_to_read(benefit, rules.Outcome(True, None, ""))))
    if not changes:
        db.rollback()
        return benefit
    db.flush()
    audit.record(db, actor, "update", BENEFIT, benefit.id, changes, _summary(benefit))
    db.commit()
    return benefit


def delete_benefit(db: Session, actor: Actor, benefit: Benefit, expected_version: int | None = None) -> None:
    lifecycle.require(actor, BENEFIT, "delete")
    lifecycle.check_version(benefit, expected_version)
    before = _snapshot(benefit_to_read(benefit, rules.Outcome(True, None, "")))
    audit.record(db, actor, "delete", BENEFIT, benefit.id, audit.diff(before, {}), _summary(benefit))
    db.delete(benefit)
    db.commit()


def _summary(benefit: Benefit) -> str:
    return f"{benefit.nature} {money.money_str(benefit.amount)} € {benefit.granted_on.isoformat()}"


# -- names for display -------------------------------------------------------------------------------


def beneficiary_names(db: Session, actor: Actor, rows: list[Any]) -> dict[tuple[str, int], str]:
    """{("contact", id) | ("organisation", id): name} for the beneficiaries the actor may see."""
    contact_ids = {r.contact_id for r in rows if r.contact_id}
    org_ids = {r.organisation_id for r in rows if r.organisation_id}
    out: dict[tuple[str, int], str] = {}
    if contact_ids and actor.can("contacts:read"):
        out.update({("contact", i): n for i, n in contacts.names_by_id(db, actor, contact_ids).items()})
    if org_ids and actor.can("organisations:read"):
        out.update({("organisation", i): n for i, n in organisations.names_by_id(db, actor, org_ids).items()})
    return out


def contact_choices(db: Session, actor: Actor, limit: int = 500) -> list[Contact]:
    """Visible health professionals (an RPPS or a profession), for the register's forms."""
    if not actor.can("contacts:read"):
        return []
    return list(
        db.scalars(
            select(Contact)
            .where(
                contacts.visible_clause(db, actor),
                Contact.rpps.is_not(None) | Contact.profession.is_not(None),
            )
            .order_by(Contact.last_name, Contact.first_name, Contact.id)
            .limit(limit)
        )
    )


def project_choices(db: Session, actor: Actor, limit: int = 500) -> list[tuple[int, str]]:
    """(id, name) of the projects `actor` may see, open ones first, for the register's forms."""
    if not actor.can("projects:read"):
        return []
    from carnet.projects.models import OPEN_STATUSES, Project

    rows = db.execute(
        select(Project.id, Project.name)
        .where(projects.visible_clause(db, actor))
        .order_by(Project.status.not_in(OPEN_STATUSES), Project.name, Project.id)
        .limit(limit)
    )
    return [(row.id, row.name) for row in rows]


def agreement_choices(db: Session, actor: Actor, limit: int = 500) -> list[Agreement]:
    return list(
        db.scalars(
            select(Agreement)
            .where(agreement_clause(db, actor))
            .order_by(Agreement.signed_on.desc(), Agreement.id.desc())
            .limit(limit)
        )
    )
