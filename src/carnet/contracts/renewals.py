"""The daily pass over contracts (job `contracts.daily`), one short transaction per contract:

1. end of period: a tacit-renewal contract renews itself on its end date for `renewal_months`
   (recorded as a renewal, event `contract.renewed`; several times if the runner was down for
   long); any other running contract is `expired` the day after its end date (`contract.expired`);
2. renewal alerts at J-90, J-60, J-30 before the end of the current period: the contract becomes
   `to_renew`, its owner gets a task (due on the notice deadline) and a notification, and the
   client an email if the contract asks for it. Each alert happens at most once per period end (a
   unique row); when a contract is first seen inside a closer horizon, only the closest alert is
   sent and the farther ones are recorded as skipped;
3. automatic invoices: one draft invoice per billing period due (`invoices.service.
   create_invoice_from_schedule`), at most once per period start (a unique row).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carnet.accounts.models import User
from carnet.contracts import figures, service
from carnet.contracts.models import (
    ALERT_OFFSETS,
    EXPIRED,
    RUNNING_STATUSES,
    TO_RENEW,
    Contract,
    ContractAlert,
    ContractBilling,
)
from carnet.core import audit, clock, events, i18n, lifecycle, mail
from carnet.core.context import SYSTEM
from carnet.core.db import get_database
from carnet.core.errors import DomainError
from carnet.notifications import service as notifications
from carnet.settings import get_settings
from carnet.tasks import service as tasks

log = logging.getLogger("carnet.contracts")

BATCH = 200
MAX_RENEWALS = 50  # per contract and run: a runner down for years still ends in bounded work
MAX_BILLINGS = 36

notifications.TYPES["contract_renewal"] = notifications.NotificationType(
    "contract_renewal", "Contract renewals", True
)


def due_ids(db: Session, on: date, after_id: int, limit: int) -> list[int]:
    """Contracts with something to do on `on`: running ones whose period ends within the alert
    horizon (or has ended), and those with an automatic invoice due."""
    horizon = on + timedelta(days=max(ALERT_OFFSETS))
    stmt = (
        select(Contract.id)
        .where(
            Contract.id > after_id,
            or_(
                and_(Contract.status.in_(RUNNING_STATUSES), Contract.end_date <= horizon),
                and_(Contract.auto_invoice.is_(True), Contract.next_billing_date <= on),
            ),
        )
        .order_by(Contract.id)
        .limit(limit)
    )
    return list(db.scalars(stmt))


# -- 1. end of period ------------------------------------------------------------------------------


def close_period(db: Session, contract: Contract, on: date) -> None:
    for _ in range(MAX_RENEWALS):
        if contract.status not in RUNNING_STATUSES:
            return
        if contract.tacit_renewal and contract.end_date <= on:
            service._renew_once(db, SYSTEM, contract, "tacit", contract.renewal_months)
            continue
        if not contract.tacit_renewal and contract.end_date < on:
            before = service.snapshot(contract)
            contract.status = EXPIRED
            contract.expired_at = clock.now()
            db.flush()
            audit.record(
                db,
                SYSTEM,
                "expire",
                service.RECORD_TYPE,
                contract.id,
                audit.diff(before, service.snapshot(contract)),
                contract.title,
            )
            events.emit(
                db, SYSTEM, "contract.expired", service.RECORD_TYPE, contract.id, service._payload(contract)
            )
        return


# -- 2. renewal alerts -----------------------------------------------------------------------------


def _owner(db: Session, contract: Contract) -> User | None:
    if contract.owner_id is None:
        return None
    user = db.get(User, contract.owner_id)
    return user if user is not None and user.active else None


def _texts(contract: Contract, lang: str, on: date) -> tuple[str, str]:
    end = i18n.format_date(contract.end_date, lang)
    title = i18n.gettext("Contract to renew by {date}: {title}", lang, date=end, title=contract.title)
    lines = [
        i18n.gettext(
            "The current period of the contract \u201c{title}\u201d ends on {date}.",
            lang,
            title=contract.title,
            date=end,
        ),
    ]
    if contract.tacit_renewal:
        deadline = i18n.format_date(service.notice_deadline(contract), lang)
        lines.append(
            i18n.gettext(
                "It renews itself tacitly for {months} months unless notice is given by {date}.",
                lang,
                months=contract.renewal_months,
                date=deadline,
            )
        )
    else:
        lines.append(i18n.gettext("It ends unless it is renewed.", lang))
    lines.append(
        i18n.gettext(
            "Amount: {amount} excl. VAT per period ({period}).",
            lang,
            amount=i18n.format_money(contract.amount, lang),
            period=i18n.gettext(PERIOD_LABELS[contract.billing_period], lang),
        )
    )
    return title, "\n\n".join(lines)


PERIOD_LABELS = {"monthly": "monthly", "quarterly": "quarterly", "yearly": "yearly"}


def send_alerts(db: Session, contract: Contract, on: date) -> int | None:
    """Send the closest alert due for the current period end, once; returns its offset or None."""
    if contract.status not in RUNNING_STATUSES:
        return None
    days_left = (contract.end_date - on).days
    reached = [o for o in ALERT_OFFSETS if days_left <= o]
    if days_left < 0 or not reached:
        return None
    offset = min(reached)
    done = set(
        db.scalars(
            select(ContractAlert.offset_days).where(
                ContractAlert.contract_id == contract.id, ContractAlert.period_end == contract.end_date
            )
        )
    )
    if offset in done:
        return None
    alert = ContractAlert(
        contract_id=contract.id, offset_days=offset, period_end=contract.end_date, sent=True
    )
    skipped = [
        ContractAlert(contract_id=contract.id, offset_days=o, period_end=contract.end_date, sent=False)
        for o in reached
        if o != offset and o not in done
    ]
    try:
        with db.begin_nested():
            db.add_all([*skipped, alert])
    except IntegrityError:
        return None  # another run sent it
    if contract.status != TO_RENEW:
        before = service.snapshot(contract)
        contract.status = TO_RENEW
        db.flush()
        lifecycle.updated(
            db,
            SYSTEM,
            service.RECORD_TYPE,
            contract,
            before,
            service.snapshot(contract),
            contract.title,
            service._payload(contract),
        )
    owner = _owner(db, contract)
    if owner is not None:
        title, body = _texts(contract, owner.language, on)
        due = max(service.notice_deadline(contract), on)
        try:
            with db.begin_nested():
                task = tasks.create_task(
                    db,
                    SYSTEM,
                    {
                        "title": title[:200],
                        "description": body,
                        "due_at": f"{due.isoformat()}T09:00:00",
                        "owner_id": owner.id,
                        "priority": "high" if offset == min(ALERT_OFFSETS) else "normal",
                        "record_type": "organisation" if contract.organisation_id else None,
                        "record_id": contract.organisation_id,
                    },
                )
            alert.task_id = task.id
        except DomainError as exc:
            log.warning("contract %s: no renewal task (%s)", contract.id, exc)
        notifications.notify(
            db,
            owner.id,
            "contract_renewal",
            title,
            body,
            service.RECORD_TYPE,
            contract.id,
            key=f"contract-renewal:{contract.id}:{offset}:{contract.end_date.isoformat()}",
        )
    if contract.notify_client and contract.client_email:
        lang = get_settings().default_language
        title, body = _texts(contract, lang, on)
        try:
            email = mail.queue_email(
                db, contract.client_email, title, body, record_type=service.RECORD_TYPE, record_id=contract.id
            )
            alert.email_id = email.id
        except DomainError as exc:
            log.warning("contract %s: no renewal email to the client (%s)", contract.id, exc)
    db.flush()
    return offset


# -- 3. automatic invoices -------------------------------------------------------------------------


def bill_due_periods(db: Session, contract: Contract, on: date) -> int:
    """Draft invoices for the billing periods started by `on`; returns how many were made."""
    from carnet.invoices import service as invoices  # invoices sit beside contracts, called lazily

    made = 0
    facts = service.facts_of(db, [contract])[0]
    for _ in range(MAX_BILLINGS):
        start = contract.next_billing_date
        if not contract.auto_invoice or start is None or start > on:
            break
        if not figures.is_live(facts, start):
            break  # after the end, or terminated
        terms = figures.terms_on(facts, start)
        end = service.period_end(start, figures.PERIOD_MONTHS[terms.billing_period])
        exists = db.scalar(
            select(ContractBilling.id).where(
                ContractBilling.contract_id == contract.id, ContractBilling.period_start == start
            )
        )
        if exists is None:
            billing = ContractBilling(contract_id=contract.id, period_start=start, period_end=end)
            db.add(billing)
            db.flush()
            line = {
                "description": f"{contract.title} — période du {start:%d/%m/%Y} au {end:%d/%m/%Y}",
                "quantity": "1",
                "unit_price": f"{Decimal(terms.amount):.2f}",
                "vat_rate": f"{Decimal(terms.vat_rate):.2f}",
            }
            invoice = invoices.create_invoice_from_schedule(
                db,
                SYSTEM,
                contract.id,
                start,
                end,
                [line],
                organisation_id=contract.organisation_id,
                deal_id=contract.deal_id,
                title=contract.title,
            )
            invoices.update_invoice(
                db, SYSTEM, invoice, {"owner_id": contract.owner_id, "department_id": contract.department_id}
            )
            billing.invoice_id = invoice.id
            made += 1
        contract.next_billing_date = end + timedelta(days=1)
        db.flush()
    return made


# -- the pass --------------------------------------------------------------------------------------


def process(contract_id: int, on: date) -> None:
    """Everything due for one contract, in its own transaction (idempotent: it may run twice)."""
    try:
        with get_database().begin() as db:
            contract = db.get(Contract, contract_id)
            if contract is None:
                return
            close_period(db, contract, on)
            send_alerts(db, contract, on)
            bill_due_periods(db, contract, on)
    except DomainError as exc:
        # One contract's problem (e.g. its client was deleted) must not stop the others.
        log.warning("contract %s: daily pass failed: %s", contract_id, exc)


def run_daily(on: date | None = None, max_batches: int = 50) -> int:
    """Walk the contracts with something due in bounded batches; returns how many were looked at."""
    on = on or service.today()
    after_id, seen = 0, 0
    for _ in range(max_batches):
        with get_database().begin(write=False) as db:
            ids = due_ids(db, on, after_id, BATCH)
        for contract_id in ids:
            process(contract_id, on)
        seen += len(ids)
        if len(ids) < BATCH:
            break
        after_id = ids[-1]
    return seen
