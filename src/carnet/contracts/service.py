"""Contracts: every write goes through here (validation, visibility, amendments as frozen versions,
renewals, termination, expiry, audit and events).

Lifecycle: a contract is `active` in its first period; 90 days before the end of a period it is
`to_renew` (the first renewal alert); a renewal, tacit (the daily job, at the end date) or decided,
starts the next period of `renewal_months` the day after and makes it `renewed`; without tacit
renewal it is `expired` the day after its end date; `terminated` with a reason and an effective
date at any time. Terms (type, amount, VAT rate, billing period, end date, tacit renewal, notice,
renewal length) change only through an amendment (avenant), which adds a version: the versions
before it stay as they were.

Events: `contract.created`, `contract.updated` (amendments too), `contract.renewed`,
`contract.terminated`, `contract.expired`.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from carnet.contracts import figures
from carnet.contracts.figures import add_months
from carnet.contracts.models import (
    ACTIVE,
    BILLING_PERIODS,
    CONTRACT_TYPES,
    EXPIRED,
    RENEWED,
    RUNNING_STATUSES,
    TERM_FIELDS,
    TERMINATED,
    TERMINATION_REASONS,
    TO_RENEW,
    Contract,
    ContractAlert,
    ContractBilling,
    ContractRenewal,
    ContractVersion,
)
from carnet.core import (
    audit,
    clock,
    events,
    i18n,
    inputs,
    lifecycle,
    money,
    ownership,
    permissions,
    records,
    timeline,
)
from carnet.core.attachments import Attachment
from carnet.core.context import Actor
from carnet.core.errors import Conflict, FieldErrors, NotFound, ValidationFailed
from carnet.core.events import Event
from carnet.core.listing import Listing, ListParams, page
from carnet.deals import service as deals
from carnet.organisations import service as organisations
from carnet.quotes import service as quotes

RECORD_TYPE = "contract"
records.register(RECORD_TYPE, Contract, "contracts", "Contract", "/contracts")
PARIS = ZoneInfo("Europe/Paris")
LISTING = Listing(
    model=Contract,
    record_type=RECORD_TYPE,
    fields={
        "id": Contract.id,
        "title": Contract.title,
        "status": Contract.status,
        "contract_type": Contract.contract_type,
        "organisation_id": Contract.organisation_id,
        "deal_id": Contract.deal_id,
        "quote_id": Contract.quote_id,
        "start_date": Contract.start_date,
        "end_date": Contract.end_date,
        "amount": Contract.amount,
        "billing_period": Contract.billing_period,
        "tacit_renewal": Contract.tacit_renewal,
        "owner_id": Contract.owner_id,
        "department_id": Contract.department_id,
        "created_at": Contract.created_at,
        "updated_at": Contract.updated_at,
    },
    sortable={"title", "start_date", "end_date", "amount", "created_at", "updated_at"},
)
# Fields a plain update may change; the terms need an amendment, the start date never changes.
EDITABLE = (
    "title",
    "organisation_id",
    "deal_id",
    "quote_id",
    "auto_invoice",
    "next_billing_date",
    "client_email",
    "notify_client",
    "signed_attachment_id",
    "notes",
    "owner_id",
    "department_id",
)


def today() -> date:
    """Business dates are French dates."""
    return clock.now().astimezone(PARIS).date()


def period_end(start: date, months: int) -> date:
    """Last day of a period of `months` starting on `start` (1 Jan + 12 months → 31 Dec)."""
    return add_months(start, months) - timedelta(days=1)


# -- reading ---------------------------------------------------------------------------------------


def visible_clause(db: Session, actor: Actor) -> ColumnElement[bool]:
    return permissions.visible_for_model(db, actor, RECORD_TYPE, Contract)


def get_contract(db: Session, actor: Actor, contract_id: Any) -> Contract:
    return lifecycle.get_visible(db, actor, RECORD_TYPE, contract_id)


def list_contracts(db: Session, actor: Actor, params: ListParams) -> tuple[list[Contract], str | None]:
    lifecycle.require(actor, RECORD_TYPE, "read")
    stmt = select(Contract).where(visible_clause(db, actor))
    if params.q:
        stmt = stmt.where(func.lower(Contract.title).contains(params.q.strip().lower(), autoescape=True))
    return page(db, LISTING, stmt, params)


def count_by_status(db: Session, actor: Actor) -> dict[str, int]:
    lifecycle.require(actor, RECORD_TYPE, "read")
    rows = db.execute(
        select(Contract.status, func.count()).where(visible_clause(db, actor)).group_by(Contract.status)
    )
    return {status: int(n) for status, n in rows}


def versions(db: Session, contract: Contract) -> list[ContractVersion]:
    return list(
        db.scalars(
            select(ContractVersion)
            .where(ContractVersion.contract_id == contract.id)
            .order_by(ContractVersion.version)
        )
    )


def get_version(db: Session, contract: Contract, number: int) -> ContractVersion:
    found = db.scalar(
        select(ContractVersion).where(
            ContractVersion.contract_id == contract.id, ContractVersion.version == number
        )
    )
    if found is None:
        raise NotFound()
    return found


def renewals(db: Session, contract: Contract) -> list[ContractRenewal]:
    return list(
        db.scalars(
            select(ContractRenewal)
            .where(ContractRenewal.contract_id == contract.id)
            .order_by(ContractRenewal.previous_end)
        )
    )


def alerts(db: Session, contract: Contract) -> list[ContractAlert]:
    return list(
        db.scalars(
            select(ContractAlert)
            .where(ContractAlert.contract_id == contract.id)
            .order_by(ContractAlert.period_end, ContractAlert.offset_days.desc())
        )
    )


def billings(db: Session, contract: Contract) -> list[ContractBilling]:
    return list(
        db.scalars(
            select(ContractBilling)
            .where(ContractBilling.contract_id == contract.id)
            .order_by(ContractBilling.period_start)
        )
    )


def monthly_value(contract: Contract) -> Decimal:
    return money.cents(Decimal(contract.amount) / figures.PERIOD_MONTHS[contract.billing_period])


def notice_deadline(contract: Contract) -> date:
    """The last day to give notice before the current period ends."""
    return contract.end_date - timedelta(days=contract.notice_days or 0)


def terms_of(contract: Contract) -> dict[str, Any]:
    return {
        "contract_type": contract.contract_type,
        "amount": money.money_str(contract.amount),
        "vat_rate": money.money_str(contract.vat_rate),
        "billing_period": contract.billing_period,
        "end_date": contract.end_date.isoformat(),
        "tacit_renewal": bool(contract.tacit_renewal),
        "notice_days": contract.notice_days,
        "renewal_months": contract.renewal_months,
    }


def to_read(contract: Contract) -> dict[str, Any]:
    return {
        "id": contract.id,
        "title": contract.title,
        "organisation_id": contract.organisation_id,
        "deal_id": contract.deal_id,
        "quote_id": contract.quote_id,
        "contract_type": contract.contract_type,
        "status": contract.status,
        "start_date": contract.start_date,
        "period_start": contract.period_start,
        "end_date": contract.end_date,
        "amount": money.money_str(contract.amount),
        "vat_rate": money.money_str(contract.vat_rate),
        "billing_period": contract.billing_period,
        "monthly_value": money.money_str(monthly_value(contract)),
        "tacit_renewal": contract.tacit_renewal,
        "notice_days": contract.notice_days,
        "notice_deadline": notice_deadline(contract),
        "renewal_months": contract.renewal_months,
        "current_version": contract.current_version,
        "renewal_count": contract.renewal_count,
        "auto_invoice": contract.auto_invoice,
        "next_billing_date": contract.next_billing_date,
        "client_email": contract.client_email,
        "notify_client": contract.notify_client,
        "signed_attachment_id": contract.signed_attachment_id,
        "notes": contract.notes,
        "termination_reason": contract.termination_reason,
        "termination_date": contract.termination_date,
        "termination_note": contract.termination_note,
        "terminated_at": contract.terminated_at,
        "expired_at": contract.expired_at,
        "owner_id": contract.owner_id,
        "department_id": contract.department_id,
        "custom_fields": dict(contract.custom_fields or {}),
        "version": contract.version,
        "created_at": contract.created_at,
        "updated_at": contract.updated_at,
    }


def version_to_read(version: ContractVersion) -> dict[str, Any]:
    return {
        "version": version.version,
        "effective_date": version.effective_date,
        "terms": dict(version.terms),
        "reason": version.reason,
        "created_at": version.created_at,
        "created_by_id": version.created_by_id,
    }


def renewal_to_read(renewal: ContractRenewal) -> dict[str, Any]:
    return {
        "kind": renewal.kind,
        "previous_start": renewal.previous_start,
        "previous_end": renewal.previous_end,
        "new_start": renewal.new_start,
        "new_end": renewal.new_end,
        "amount": money.money_str(renewal.amount),
        "renewed_at": renewal.renewed_at,
    }


def snapshot(contract: Contract) -> dict[str, Any]:
    """What the audit trail compares."""
    data = to_read(contract)
    for key in ("id", "version", "created_at", "updated_at", "monthly_value", "notice_deadline"):
        data.pop(key)
    return data


def _payload(contract: Contract, **extra: Any) -> dict[str, Any]:
    return {
        "contract_id": contract.id,
        "title": contract.title,
        "status": contract.status,
        "organisation_id": contract.organisation_id,
        "contract_type": contract.contract_type,
        "start_date": contract.start_date.isoformat(),
        "period_start": contract.period_start.isoformat(),
        "end_date": contract.end_date.isoformat(),
        "amount": money.money_str(contract.amount),
        "billing_period": contract.billing_period,
        "monthly_value": money.money_str(monthly_value(contract)),
        **extra,
    }


# -- validation ------------------------------------------------------------------------------------


def _collect(errors: FieldErrors, func_: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return func_(*args, **kwargs)
    except ValidationFailed as exc:
        errors.errors.extend(exc.errors)
        return None


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "on", "yes")
    return bool(value)


def _choice(value: Any, choices: tuple[str, ...], name: str, errors: FieldErrors) -> str | None:
    if value not in choices:
        errors.add(name, "Choose one of: {values}", "invalid_choice", values=", ".join(choices))
        return None
    return str(value)


def _links(db: Session, actor: Actor, contract: Contract, data: dict[str, Any], errors: FieldErrors) -> dict:
    v: dict[str, Any] = {}
    if "organisation_id" in data:
        org_id = inputs.number_in_range(data["organisation_id"], "organisation_id", errors)
        if org_id is not None and org_id != contract.organisation_id:
            organisations.require_visible_id(db, actor, org_id, "organisation_id", errors)
        v["organisation_id"] = org_id
    if "deal_id" in data:
        deal_id = inputs.number_in_range(data["deal_id"], "deal_id", errors)
        if deal_id is not None and deal_id != contract.deal_id:
            try:
                deal = deals.get_deal(db, actor, deal_id)
            except NotFound:
                errors.add("deal_id", "Unknown deal", "unknown")
            else:
                if not data.get("organisation_id") and not contract.organisation_id and deal.organisation_id:
                    v["organisation_id"] = deal.organisation_id
        v["deal_id"] = deal_id
    if "quote_id" in data:
        quote_id = inputs.number_in_range(data["quote_id"], "quote_id", errors)
        if quote_id is not None and quote_id != contract.quote_id:
            try:
                quote = quotes.get_quote(db, actor, quote_id)
            except NotFound:
                errors.add("quote_id", "Unknown quote", "unknown")
            else:
                if not data.get("organisation_id") and not contract.organisation_id and quote.organisation_id:
                    v.setdefault("organisation_id", quote.organisation_id)
        v["quote_id"] = quote_id
    return v


def _clean_terms(data: dict[str, Any], base: dict[str, Any], errors: FieldErrors) -> dict[str, Any]:
    """The terms after applying `data` over `base` (the current terms), validated."""
    v: dict[str, Any] = {}
    if "contract_type" in data:
        v["contract_type"] = _choice(data["contract_type"], CONTRACT_TYPES, "contract_type", errors)
    if "amount" in data:
        v["amount"] = _collect(errors, money.parse_money, data["amount"], "amount")
    if "vat_rate" in data and data["vat_rate"] not in (None, ""):
        v["vat_rate"] = _collect(errors, money.rate, data["vat_rate"], "vat_rate")
    if "billing_period" in data:
        v["billing_period"] = _choice(data["billing_period"], BILLING_PERIODS, "billing_period", errors)
    if "tacit_renewal" in data:
        v["tacit_renewal"] = _bool(data["tacit_renewal"])
    if "notice_days" in data:
        v["notice_days"] = inputs.number_in_range(data["notice_days"], "notice_days", errors, 0, 730) or 0
    if "renewal_months" in data and data["renewal_months"] not in (None, ""):
        v["renewal_months"] = inputs.number_in_range(data["renewal_months"], "renewal_months", errors, 1, 120)
    if "end_date" in data:
        v["end_date"] = inputs.day(data["end_date"], "end_date", errors)
    return {**base, **{k: val for k, val in v.items() if val is not None or k == "end_date"}}


def _clean_email(value: Any, errors: FieldErrors) -> str | None:
    text = inputs.text(value, "client_email", 254, errors)
    if not text:
        return None
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        errors.add("client_email", "Enter a valid email address", "invalid_email")
        return None


def _clean_options(
    db: Session, contract: Contract, data: dict[str, Any], errors: FieldErrors
) -> dict[str, Any]:
    v: dict[str, Any] = {}
    if "title" in data:
        v["title"] = inputs.text(data["title"], "title", 200, errors)
    if "notes" in data:
        v["notes"] = inputs.text(data["notes"], "notes", 10000, errors)
    if "client_email" in data:
        v["client_email"] = _clean_email(data["client_email"], errors)
    if "notify_client" in data:
        v["notify_client"] = _bool(data["notify_client"])
    if "auto_invoice" in data:
        v["auto_invoice"] = _bool(data["auto_invoice"])
    if "next_billing_date" in data:
        v["next_billing_date"] = inputs.day(data["next_billing_date"], "next_billing_date", errors)
    if "signed_attachment_id" in data:
        att_id = inputs.number_in_range(data["signed_attachment_id"], "signed_attachment_id", errors)
        if att_id is not None:
            att = db.get(Attachment, att_id)
            if att is None or att.record_type != RECORD_TYPE or att.record_id != contract.id:
                errors.add("signed_attachment_id", "Choose a file attached to this contract", "unknown")
        v["signed_attachment_id"] = att_id
    return v


def _check(contract: Contract, errors: FieldErrors) -> None:
    """Rules on the whole contract once the changes are applied."""
    if not contract.title:
        errors.add("title", "This field is required", "required")
    if not contract.organisation_id:
        errors.add("organisation_id", "Choose the client organisation", "required")
    if contract.end_date and contract.period_start and contract.end_date < contract.period_start:
        errors.add("end_date", "The end date is before the start of the period", "before_start")
    if contract.notify_client and not contract.client_email:
        errors.add("client_email", "Enter the client's email to send them the renewal alerts", "required")
    if contract.auto_invoice and contract.vat_rate is not None and Decimal(contract.vat_rate) == 0:
        errors.add(
            "auto_invoice",
            "Automatic invoices need a VAT rate above 0 (an exemption needs its legal reason)",
            "exempt_rate",
        )


# -- writes ----------------------------------------------------------------------------------------


def _add_version(
    db: Session, actor: Actor, contract: Contract, effective: date, reason: str | None
) -> ContractVersion:
    version = ContractVersion(
        contract_id=contract.id,
        version=contract.current_version,
        effective_date=effective,
        terms=terms_of(contract),
        reason=reason,
        created_at=clock.now(),
        created_by_id=actor.user_id,
    )
    db.add(version)
    return version


def create_contract(db: Session, actor: Actor, data: dict[str, Any]) -> Contract:
    """A running contract (version 1 of its terms). Required: title, organisation, start date,
    amount; the end date defaults to the start plus `renewal_months` (12) less a day."""
    lifecycle.require(actor, RECORD_TYPE, "create")
    errors = FieldErrors()
    contract = Contract(
        status=ACTIVE,
        custom_fields={},
        current_version=1,
        renewal_count=0,
        created_by_id=actor.user_id,
        auto_invoice=False,
        notify_client=False,
    )
    with db.no_autoflush:
        values = _links(db, actor, contract, data, errors)
        values.update(_clean_options(db, contract, data, errors))
        base = {
            "contract_type": "service",
            "amount": None,
            "vat_rate": Decimal("20.00"),
            "billing_period": "monthly",
            "tacit_renewal": False,
            "notice_days": 0,
            "renewal_months": 12,
            "end_date": None,
        }
        terms = _clean_terms(data, base, errors)
        start = inputs.day(data.get("start_date"), "start_date", errors)
        if start is None and not any(e.field == "start_date" for e in errors.errors):
            errors.add("start_date", "This field is required", "required")
        if terms["amount"] is None and not any(e.field == "amount" for e in errors.errors):
            errors.add("amount", "This field is required", "required")
        owner_id, dept_id = ownership.resolve(db, actor, data, None, None, errors)
    if start is not None and terms["end_date"] is None and terms["renewal_months"]:
        terms["end_date"] = period_end(start, terms["renewal_months"])
    for key, value in {**values, **terms}.items():
        setattr(contract, key, value)
    contract.start_date = start  # type: ignore[assignment]
    contract.period_start = start  # type: ignore[assignment]
    contract.owner_id, contract.department_id = owner_id, dept_id
    if contract.auto_invoice and contract.next_billing_date is None:
        contract.next_billing_date = start
    _check(contract, errors)
    errors.raise_if_any()
    contract.updated_by_id = actor.user_id
    db.add(contract)
    db.flush()
    _add_version(db, actor, contract, contract.start_date, None)
    lifecycle.created(
        db, actor, RECORD_TYPE, contract, snapshot(contract), contract.title, _payload(contract)
    )
    db.commit()
    return contract


def _require_running(contract: Contract, message: str = "This contract has ended") -> None:
    if contract.status not in RUNNING_STATUSES:
        raise Conflict(message, code="contract_ended")


def update_contract(
    db: Session, actor: Actor, contract: Contract, data: dict[str, Any], expected_version: int | None = None
) -> Contract:
    """Change what is not a term (title, links, options, owner). Terms answer 409: they change
    through an amendment, which keeps the previous terms as a version."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    lifecycle.check_version(contract, expected_version)
    frozen = [k for k in data if k in TERM_FIELDS or k == "start_date"]
    if frozen:
        raise Conflict(
            "The terms of a contract change through an amendment", code="amendment_required", fields=frozen
        )
    before = snapshot(contract)
    errors = FieldErrors()
    with db.no_autoflush:
        values = _links(db, actor, contract, data, errors)
        values.update(_clean_options(db, contract, data, errors))
        if "owner_id" in data or "department_id" in data:
            values["owner_id"], values["department_id"] = ownership.resolve(
                db, actor, data, contract.owner_id, contract.department_id, errors
            )
    errors.raise_if_any()
    for key, value in values.items():
        setattr(contract, key, value)
    if values.get("auto_invoice") and contract.next_billing_date is None:
        contract.next_billing_date = max(contract.period_start, today())
    _check(contract, errors)
    if errors:
        db.rollback()
        errors.raise_if_any()
    after = snapshot(contract)
    if before == after:
        db.rollback()
        return contract
    contract.updated_by_id = actor.user_id
    db.flush()
    lifecycle.updated(db, actor, RECORD_TYPE, contract, before, after, contract.title, _payload(contract))
    db.commit()
    return contract


def _status_after_change(contract: Contract, on: date) -> str:
    """A running contract whose period end moved further than the first alert is no longer `to_renew`."""
    if contract.status == TO_RENEW and (contract.end_date - on).days > max(figures.HORIZONS):
        return RENEWED if contract.renewal_count else ACTIVE
    return contract.status


def amend_contract(
    db: Session, actor: Actor, contract: Contract, data: dict[str, Any], expected_version: int | None = None
) -> ContractVersion:
    """An amendment (avenant): new terms from `effective_date` (default today, never before the
    previous version's), with a reason. Adds version N+1; versions 1..N stay as they were."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    lifecycle.check_version(contract, expected_version)
    _require_running(contract, "An ended contract cannot be amended")
    errors = FieldErrors()
    reason = inputs.text(data.get("reason"), "reason", 2000, errors)
    if not reason and not any(e.field == "reason" for e in errors.errors):
        errors.add("reason", "Say what the amendment changes", "required")
    effective = inputs.day(data.get("effective_date"), "effective_date", errors) or today()
    unknown = [k for k in data if k not in (*TERM_FIELDS, "reason", "effective_date")]
    for name in unknown:
        errors.add(name, "An amendment changes the terms only", "not_a_term")
    terms = _clean_terms(
        data,
        {
            **terms_of(contract),
            "amount": contract.amount,
            "vat_rate": contract.vat_rate,
            "end_date": contract.end_date,
        },
        errors,
    )
    last = versions(db, contract)[-1]
    if effective < last.effective_date:
        errors.add(
            "effective_date",
            "An amendment cannot take effect before the previous version ({date})",
            "before_previous",
            date=last.effective_date.isoformat(),
        )
    if terms.get("end_date") is None and not any(e.field == "end_date" for e in errors.errors):
        errors.add("end_date", "This field is required", "required")
    errors.raise_if_any()
    before = snapshot(contract)
    for key, value in terms.items():
        setattr(contract, key, value)
    if terms_of(contract) == last.terms:
        db.rollback()
        raise ValidationFailed.on("reason", "The amendment changes none of the terms", "no_change")
    _check(contract, errors)
    if errors:
        db.rollback()
        errors.raise_if_any()
    contract.status = _status_after_change(contract, today())
    contract.current_version += 1
    contract.updated_by_id = actor.user_id
    db.flush()
    version = _add_version(db, actor, contract, effective, reason)
    db.flush()
    lifecycle.updated(
        db,
        actor,
        RECORD_TYPE,
        contract,
        before,
        snapshot(contract),
        contract.title,
        _payload(contract, amendment=version.version, effective_date=effective.isoformat()),
    )
    db.commit()
    return version


def _renew_once(db: Session, actor: Actor, contract: Contract, kind: str, months: int) -> ContractRenewal:
    new_start = contract.end_date + timedelta(days=1)
    renewal = ContractRenewal(
        contract_id=contract.id,
        kind=kind,
        previous_start=contract.period_start,
        previous_end=contract.end_date,
        new_start=new_start,
        new_end=period_end(new_start, months),
        amount=contract.amount,
        renewed_at=clock.now(),
        actor_id=actor.user_id,
    )
    db.add(renewal)
    before = {"period_start": contract.period_start.isoformat(), "end_date": contract.end_date.isoformat()}
    contract.period_start, contract.end_date = renewal.new_start, renewal.new_end
    contract.status = RENEWED  # the alerts of the new period come with the daily job
    contract.expired_at = None
    contract.renewal_count += 1
    contract.updated_by_id = actor.user_id
    db.flush()
    audit.record(
        db,
        actor,
        "renew",
        RECORD_TYPE,
        contract.id,
        {
            "period_start": [before["period_start"], contract.period_start.isoformat()],
            "end_date": [before["end_date"], contract.end_date.isoformat()],
        },
        contract.title,
    )
    events.emit(
        db,
        actor,
        "contract.renewed",
        RECORD_TYPE,
        contract.id,
        _payload(
            contract,
            kind=kind,
            previous_start=renewal.previous_start.isoformat(),
            previous_end=renewal.previous_end.isoformat(),
        ),
    )
    return renewal


def renew_contract(
    db: Session, actor: Actor, contract: Contract, data: dict[str, Any], expected_version: int | None = None
) -> ContractRenewal:
    """Renew for a new period starting the day after the current end (a decided renewal; also of
    an expired contract). `months` defaults to the contract's renewal length; a new `amount`
    makes an amendment effective from the new period."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    lifecycle.check_version(contract, expected_version)
    if contract.status not in (*RUNNING_STATUSES, EXPIRED):
        raise Conflict("A terminated contract cannot be renewed", code="contract_terminated")
    errors = FieldErrors()
    months = inputs.number_in_range(data.get("months"), "months", errors, 1, 120) or contract.renewal_months
    amount = None
    if data.get("amount") not in (None, ""):
        amount = _collect(errors, money.parse_money, data["amount"], "amount")
    errors.raise_if_any()
    renewal = _renew_once(db, actor, contract, "manual", months)
    if amount is not None and amount != contract.amount:
        before = snapshot(contract)
        contract.amount = amount
        renewal.amount = amount
        contract.current_version += 1
        db.flush()
        _add_version(db, actor, contract, renewal.new_start, "Renewal at a new price")
        lifecycle.updated(
            db, actor, RECORD_TYPE, contract, before, snapshot(contract), contract.title, _payload(contract)
        )
    db.commit()
    return renewal


def terminate_contract(
    db: Session, actor: Actor, contract: Contract, data: dict[str, Any], expected_version: int | None = None
) -> Contract:
    """Terminate with a reason (price, dissatisfaction, competitor, other) and the effective date
    (the first day without service; at most the day after the current period ends)."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    lifecycle.check_version(contract, expected_version)
    _require_running(contract, "This contract has already ended")
    errors = FieldErrors()
    reason = _choice(data.get("reason"), TERMINATION_REASONS, "reason", errors)
    effective = inputs.day(data.get("effective_date"), "effective_date", errors)
    if effective is None and not any(e.field == "effective_date" for e in errors.errors):
        errors.add("effective_date", "This field is required", "required")
    note = inputs.text(data.get("note"), "note", 2000, errors)
    if effective is not None:
        if effective <= contract.start_date:
            errors.add(
                "effective_date", "The termination must take effect after the start date", "before_start"
            )
        elif effective > contract.end_date + timedelta(days=1):
            errors.add(
                "effective_date",
                "The termination must take effect by the day after the current period ends ({date})",
                "after_end",
                date=(contract.end_date + timedelta(days=1)).isoformat(),
            )
    errors.raise_if_any()
    before = snapshot(contract)
    contract.status = TERMINATED
    contract.termination_reason = reason
    contract.termination_date = effective
    contract.termination_note = note
    contract.terminated_at = clock.now()
    contract.updated_by_id = actor.user_id
    db.flush()
    changes = audit.diff(before, snapshot(contract))
    audit.record(db, actor, "terminate", RECORD_TYPE, contract.id, changes, contract.title)
    events.emit(
        db,
        actor,
        "contract.terminated",
        RECORD_TYPE,
        contract.id,
        _payload(contract, reason=reason, effective_date=effective.isoformat() if effective else None),
    )
    db.commit()
    return contract


def delete_contract(
    db: Session, actor: Actor, contract: Contract, expected_version: int | None = None
) -> None:
    """Deleting removes the contract and its history (managers and admins: `contracts:delete`)."""
    lifecycle.require(actor, RECORD_TYPE, "delete")
    lifecycle.check_version(contract, expected_version)
    lifecycle.deleted(
        db, actor, RECORD_TYPE, contract, snapshot(contract), contract.title, _payload(contract)
    )
    db.delete(contract)
    db.commit()


records.register_actions(RECORD_TYPE, get_contract, update_contract, delete_contract)


# -- figures ---------------------------------------------------------------------------------------


def facts_of(db: Session, contracts: list[Contract]) -> list[figures.ContractFacts]:
    """The plain facts the figures are computed from (3 queries whatever the number of contracts)."""
    ids = [c.id for c in contracts]
    terms: dict[int, list[figures.Terms]] = {i: [] for i in ids}
    renewed: dict[int, list[date]] = {i: [] for i in ids}
    for chunk in range(0, len(ids), 500):
        part = ids[chunk : chunk + 500]
        for v in db.scalars(
            select(ContractVersion)
            .where(ContractVersion.contract_id.in_(part))
            .order_by(ContractVersion.contract_id, ContractVersion.version)
        ):
            terms[v.contract_id].append(
                figures.Terms(
                    v.effective_date,
                    Decimal(v.terms["amount"]),
                    v.terms["billing_period"],
                    Decimal(v.terms.get("vat_rate") or "20.00"),
                )
            )
        for contract_id, previous_end in db.execute(
            select(ContractRenewal.contract_id, ContractRenewal.previous_end).where(
                ContractRenewal.contract_id.in_(part)
            )
        ):
            renewed[contract_id].append(previous_end)
    out = []
    for c in contracts:
        own = terms[c.id] or [
            figures.Terms(c.start_date, Decimal(c.amount), c.billing_period, Decimal(c.vat_rate))
        ]
        out.append(
            figures.ContractFacts(
                id=c.id,
                organisation_id=c.organisation_id,
                status=c.status,
                start_date=c.start_date,
                end_date=c.end_date,
                terms=tuple(sorted(own, key=lambda t: t.effective_date)),
                termination_date=c.termination_date,
                termination_reason=c.termination_reason,
                renewals=tuple(sorted(renewed[c.id])),
            )
        )
    return out


def parse_month(raw: Any) -> date:
    """`YYYY-MM` (or a date) → the first day of that month; empty → the current month."""
    if raw in (None, ""):
        return today().replace(day=1)
    if isinstance(raw, date):
        return raw.replace(day=1)
    try:
        return date.fromisoformat(f"{str(raw).strip()[:7]}-01")
    except ValueError:
        raise ValidationFailed.on("month", "Enter a month as YYYY-MM", "invalid_month")


def recurring_figures(db: Session, actor: Actor, month: Any = None) -> figures.Figures:
    """MRR, ARR, month-over-month change, renewal rate, churn, lifetime value, contracts to renew
    and churn by reason for `month` (YYYY-MM, default the current one), over the contracts the
    actor may see. Formulas: `carnet.contracts.figures`."""
    lifecycle.require(actor, RECORD_TYPE, "read")
    first = parse_month(month)
    contracts = list(db.scalars(select(Contract).where(visible_clause(db, actor)).order_by(Contract.id)))
    return figures.compute(facts_of(db, contracts), first, today())


def figures_to_read(result: figures.Figures) -> dict[str, Any]:
    def m(value: Decimal | None) -> str | None:
        return money.money_str(value)

    def p(value: Decimal | None) -> str | None:
        return None if value is None else f"{value:.1f}"

    return {
        "month": result.month.isoformat()[:7],
        "as_of": result.as_of,
        "mrr": m(result.mrr),
        "arr": m(result.arr),
        "previous_mrr": m(result.previous_mrr),
        "mrr_change": m(result.mrr_change),
        "mrr_change_percent": p(result.mrr_change_percent),
        "customers": result.customers,
        "arpa": m(result.arpa),
        "churn": {
            "customers_at_start": result.churn_start_customers,
            "customers_lost": result.churned_customers,
            "rate_percent": p(result.churn_rate),
            "average_rate_percent_12_months": p(result.average_churn_rate),
        },
        "lifetime_value": m(result.lifetime_value),
        "renewal": {
            "renewed": result.renewed,
            "came_to_end": result.came_to_end,
            "rate_percent": p(result.renewal_rate),
        },
        "to_renew": [{"days": h.days, "count": h.count, "mrr": m(h.mrr)} for h in result.to_renew],
        "churn_by_reason": [
            {"reason": r.reason, "count": r.count, "mrr": m(r.mrr)} for r in result.churn_by_reason
        ],
        "series": [{"month": pt.month.isoformat()[:7], "mrr": m(pt.mrr)} for pt in result.series],
    }


# -- timeline --------------------------------------------------------------------------------------

TIMELINE_EVENTS = {
    "contract.created": "Contract created: {title}",
    "contract.renewed": "Contract renewed until {end_date}: {title}",
    "contract.terminated": "Contract terminated: {title}",
    "contract.expired": "Contract expired: {title}",
    "contract.updated": "Amendment {amendment}: {title}",
}


@timeline.register
def timeline_items(
    db: Session, actor: Actor, record_type: str, record_id: int, limit: int
) -> list[timeline.TimelineItem]:
    """Contract events on the contract's own timeline and on its organisation's."""
    if record_type not in (RECORD_TYPE, "organisation") or not actor.can("contracts:read"):
        return []
    if record_type == RECORD_TYPE:
        ids = [record_id]
    else:
        ids = list(
            db.scalars(
                select(Contract.id).where(Contract.organisation_id == record_id, visible_clause(db, actor))
            )
        )
    if not ids:
        return []
    rows = db.scalars(
        select(Event)
        .where(
            Event.record_type == RECORD_TYPE,
            Event.record_id.in_(ids),
            Event.type.in_(list(TIMELINE_EVENTS)),
        )
        .order_by(Event.id.desc())
        .limit(limit * 2)
    )
    items = []
    for ev in rows:
        if ev.type == "contract.updated" and not ev.payload.get("amendment"):
            continue  # plain edits are in the history tab
        lang = actor.language
        end = ev.payload.get("end_date")
        params = {
            "title": ev.payload.get("title", ""),
            "amendment": ev.payload.get("amendment", ""),
            "end_date": i18n.format_date(date.fromisoformat(end), lang) if end else "",
        }
        items.append(
            timeline.TimelineItem(
                when=ev.occurred_at,
                kind="event",
                title=TIMELINE_EVENTS[ev.type],
                url=f"/contracts/{ev.record_id}" if record_type != RECORD_TYPE else None,
                meta={"params": params, "type": ev.type},
            )
        )
    return items[:limit]
