"""Dunning (relances): for each issued invoice still owed, the client's schedule (default J-3
friendly reminder, J+7 firm reminder, J+30 formal notice, in days from the due date) sends each
step once, as an email from an editable template; the formal notice also carries a PDF letter
(mise en demeure). A pause per client (its plan) or per invoice (a hold) stops them; when the pause
ends the step due by then goes out. If several steps are due at once (an invoice found late), only
the latest is sent and the earlier ones are recorded as skipped. History: the reminders of an
invoice, on the invoice page and in the invoice's and the client's timelines.

Late payment (france.md §1.4, Code de commerce L441-10): penalties are due without any reminder
from the day after the due date, plus the fixed 40 € recovery indemnity per invoice paid late
(D441-5); the letters restate both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carnet.company import service as company_service
from carnet.contacts.models import Contact
from carnet.core import audit, events, i18n, lifecycle, mail, timeline
from carnet.core.context import SYSTEM, Actor
from carnet.core.db import get_database
from carnet.core.errors import DomainError, FieldErrors, NotFound, PermissionDenied, ValidationFailed
from carnet.documents import mentions, pdf
from carnet.invoices import service as invoices
from carnet.invoices.models import CREDIT_NOTE, OPEN_STATUSES, Invoice
from carnet.organisations.models import Organisation
from carnet.payments import service
from carnet.payments.models import (
    DEFAULT_OFFSETS,
    DUNNING_STEPS,
    FIRM,
    FORMAL,
    FRIENDLY,
    DunningHold,
    DunningPlan,
    DunningReminder,
    DunningTemplate,
)

log = logging.getLogger("carnet.payments.dunning")
BATCH = 200
STEP_LABELS = {FRIENDLY: "Friendly reminder", FIRM: "Firm reminder", FORMAL: "Formal notice"}
PLACEHOLDERS = ("client", "number", "issue_date", "due_date", "balance", "company", "iban", "penalty_rate")
# The client reads French: the default texts are French data, editable in the dunning settings.
DEFAULT_TEMPLATES = {
    FRIENDLY: (
        "Rappel : facture {number} à régler le {due_date}",
        "Bonjour,\n\nSauf erreur de notre part, la facture {number} du {issue_date}, d'un montant "
        "restant dû de {balance}, arrive à échéance le {due_date}.\n\nSi votre règlement est déjà "
        "parti, merci de ne pas tenir compte de ce message. Coordonnées bancaires : {iban}.\n\n"
        "Cordialement,\n{company}",
    ),
    FIRM: (
        "Relance : facture {number} échue le {due_date}",
        "Bonjour,\n\nLa facture {number} du {issue_date} était à régler le {due_date} et reste "
        "impayée à hauteur de {balance}.\n\nNous vous remercions de procéder à son règlement dans "
        "les meilleurs délais. Des pénalités de retard au taux de {penalty_rate} et une indemnité "
        "forfaitaire de 40 € pour frais de recouvrement sont dues depuis l'échéance "
        "(articles L441-10 et D441-5 du Code de commerce).\n\nCordialement,\n{company}",
    ),
    FORMAL: (
        "Mise en demeure : facture {number}",
        "Madame, Monsieur,\n\nMalgré nos relances, la facture {number} du {issue_date}, échue le "
        "{due_date}, reste impayée à hauteur de {balance}. Vous trouverez ci-joint notre mise en "
        "demeure de payer.\n\n{company}",
    ),
}


# -- templates and plans ---------------------------------------------------------------------------


def template_for(db: Session, step: str) -> tuple[str, str]:
    row = db.scalar(select(DunningTemplate).where(DunningTemplate.step == step))
    return (row.subject, row.body) if row else DEFAULT_TEMPLATES[step]


def templates(db: Session, actor: Actor) -> dict[str, tuple[str, str]]:
    lifecycle.require(actor, service.RECORD_TYPE, "read")
    return {step: template_for(db, step) for step in DUNNING_STEPS}


def _check_template(text: str, name: str, errors: FieldErrors) -> None:
    try:
        text.format(**{p: "" for p in PLACEHOLDERS})
    except (KeyError, IndexError, ValueError):
        errors.add(
            name,
            "Use only the placeholders {values}",
            "bad_placeholder",
            values=", ".join("{" + p + "}" for p in PLACEHOLDERS),
        )


def set_template(db: Session, actor: Actor, step: str, subject: Any, body: Any) -> tuple[str, str]:
    """Edit the email of a dunning step (managers and finance: `payments:update`)."""
    lifecycle.require(actor, service.RECORD_TYPE, "update")
    if step not in DUNNING_STEPS:
        raise NotFound()
    errors = FieldErrors()
    subject = " ".join(str(subject or "").split())
    body = str(body or "").strip()
    for name, value, limit in (("subject", subject, 300), ("body", body, 20000)):
        if not value:
            errors.add(name, "This field is required", "required")
        elif len(value) > limit:
            errors.add(name, "At most {max} characters", "too_long", max=limit)
        else:
            _check_template(value, name, errors)
    errors.raise_if_any()
    row = db.scalar(select(DunningTemplate).where(DunningTemplate.step == step))
    before = template_for(db, step)
    if row is None:
        row = DunningTemplate(step=step, subject=subject, body=body, updated_by_id=actor.user_id)
        db.add(row)
    else:
        row.subject, row.body, row.updated_by_id = subject, body, actor.user_id
    db.flush()
    audit.record(
        db,
        actor,
        "update",
        "dunning_template",
        row.id,
        {"subject": [before[0], subject], "body": [before[1], body]},
        step,
    )
    db.commit()
    return subject, body


@dataclass(frozen=True)
class Plan:
    offsets: dict[str, int]
    paused: bool


def plan_for(db: Session, organisation_id: int | None) -> Plan:
    row = (
        db.scalar(select(DunningPlan).where(DunningPlan.organisation_id == organisation_id))
        if organisation_id
        else None
    )
    if row is None:
        return Plan(dict(DEFAULT_OFFSETS), False)
    return Plan({FRIENDLY: row.friendly_days, FIRM: row.firm_days, FORMAL: row.formal_days}, row.paused)


def set_plan(db: Session, actor: Actor, organisation_id: int, data: dict[str, Any]) -> Plan:
    """A client's schedule (`friendly_days`, `firm_days`, `formal_days` from the due date, in
    increasing order) and pause (`paused`)."""
    lifecycle.require(actor, service.RECORD_TYPE, "update")
    from carnet.organisations import service as organisations

    errors = FieldErrors()
    organisations.require_visible_id(db, actor, organisation_id, "organisation_id", errors)
    if errors:
        raise NotFound()
    current = plan_for(db, organisation_id)
    offsets = dict(current.offsets)
    for step in DUNNING_STEPS:
        key = f"{step}_days"
        if key in data and data[key] not in (None, ""):
            try:
                value = int(data[key])
            except (TypeError, ValueError):
                errors.add(key, "Must be a number", "invalid_type")
                continue
            if not -60 <= value <= 365:
                errors.add(key, "Must be between {min} and {max}", "out_of_range", min=-60, max=365)
                continue
            offsets[step] = value
    if not errors and not offsets[FRIENDLY] < offsets[FIRM] < offsets[FORMAL]:
        errors.add("firm_days", "The steps must follow each other: friendly, firm, formal notice", "order")
    errors.raise_if_any()
    paused = bool(data["paused"]) if "paused" in data and data["paused"] is not None else current.paused
    row = db.scalar(select(DunningPlan).where(DunningPlan.organisation_id == organisation_id))
    if row is None:
        row = DunningPlan(organisation_id=organisation_id)
        db.add(row)
    row.friendly_days, row.firm_days, row.formal_days, row.paused = (
        offsets[FRIENDLY],
        offsets[FIRM],
        offsets[FORMAL],
        paused,
    )
    db.flush()
    audit.record(
        db,
        actor,
        "update",
        "organisation",
        organisation_id,
        {"dunning": [{**current.offsets, "paused": current.paused}, {**offsets, "paused": paused}]},
        "dunning",
    )
    db.commit()
    return Plan(offsets, paused)


def hold(db: Session, actor: Actor, invoice: Invoice) -> DunningHold | None:
    return db.scalar(select(DunningHold).where(DunningHold.invoice_id == invoice.id))


def pause_invoice(db: Session, actor: Actor, invoice: Invoice, reason: str | None = None) -> DunningHold:
    lifecycle.require(actor, service.RECORD_TYPE, "update")
    existing = hold(db, actor, invoice)
    if existing is not None:
        return existing
    row = DunningHold(
        invoice_id=invoice.id, reason=(reason or "").strip()[:500] or None, created_by_id=actor.user_id
    )
    db.add(row)
    db.flush()
    audit.record(
        db, actor, "update", "invoice", invoice.id, {"dunning_paused": [False, True]}, invoice.number or ""
    )
    db.commit()
    return row


def resume_invoice(db: Session, actor: Actor, invoice: Invoice) -> None:
    lifecycle.require(actor, service.RECORD_TYPE, "update")
    existing = hold(db, actor, invoice)
    if existing is None:
        return
    db.delete(existing)
    audit.record(
        db, actor, "update", "invoice", invoice.id, {"dunning_paused": [True, False]}, invoice.number or ""
    )
    db.commit()


def reminders_of(db: Session, actor: Actor, invoice: Invoice) -> list[DunningReminder]:
    if not actor.can("payments:read"):
        return []
    return list(
        db.scalars(
            select(DunningReminder)
            .where(DunningReminder.invoice_id == invoice.id)
            .order_by(DunningReminder.id)
        )
    )


def letter_of(db: Session, actor: Actor, invoice: Invoice, reminder_id: int) -> bytes:
    if not actor.can("payments:read"):
        raise PermissionDenied()
    row = db.get(DunningReminder, reminder_id)
    if row is None or row.invoice_id != invoice.id or row.letter is None:
        raise NotFound()
    return row.letter


# -- the daily pass --------------------------------------------------------------------------------


def due_step(invoice: Invoice, plan: Plan, on: date) -> list[str]:
    """The steps whose day has come for `invoice` on `on`, in schedule order."""
    assert invoice.due_date is not None
    return [s for s in DUNNING_STEPS if on >= invoice.due_date + timedelta(days=plan.offsets[s])]


def _recipient(db: Session, invoice: Invoice) -> str | None:
    if invoice.contact_id:
        contact = db.get(Contact, invoice.contact_id)
        if contact is not None and contact.primary_email:
            return contact.primary_email
    org = db.get(Organisation, invoice.organisation_id) if invoice.organisation_id else None
    if org is not None and org.emails:
        return org.emails[0]
    return None


def _values(db: Session, invoice: Invoice, company: Any) -> dict[str, str]:
    buyer = (invoice.parties or {}).get("buyer") or {}
    return {
        "client": buyer.get("name") or "",
        "number": invoice.number or "",
        "issue_date": mentions.fr_date(invoice.issue_date),
        "due_date": mentions.fr_date(invoice.due_date),
        "balance": mentions.fr_money(invoices.balance(invoice)),
        "company": company.name or "",
        "iban": company.iban or "",
        "penalty_rate": mentions.fr_percent(Decimal(company.late_penalty_rate)),
    }


def formal_notice_pdf(db: Session, invoice: Invoice, on: date) -> bytes:
    """The mise en demeure letter (france.md §1.4: penalties and the 40 € indemnity)."""
    company = company_service.get_company(db)
    context = {
        **pdf.base_context(company),
        "mentions": {
            "seller": mentions.seller_lines(company),
            "seller_legal": mentions.seller_legal(company),
            "footer": company.legal_footer,
        },
        "doc_title": "Mise en demeure",
        "doc_number": invoice.number,
        "invoice": invoice,
        "buyer": (invoice.parties or {}).get("buyer") or {},
        "balance": invoices.balance(invoice),
        "on": on,
        "penalty_rate": Decimal(company.late_penalty_rate),
        "days_late": (on - invoice.due_date).days if invoice.due_date else 0,
    }
    return pdf.render_pdf("payments/formal_notice.html", context)


def send_due(db: Session, invoice: Invoice, on: date) -> str | None:
    """Send the latest dunning step due for `invoice`, once; returns it, or None."""
    if invoice.issued_at is None or invoice.kind == CREDIT_NOTE or invoice.status not in OPEN_STATUSES:
        return None
    if invoice.due_date is None or invoices.balance(invoice) <= 0:
        return None
    plan = plan_for(db, invoice.organisation_id)
    if plan.paused or db.scalar(select(DunningHold.id).where(DunningHold.invoice_id == invoice.id)):
        return None
    reached = due_step(invoice, plan, on)
    if not reached:
        return None
    done = set(db.scalars(select(DunningReminder.step).where(DunningReminder.invoice_id == invoice.id)))
    step = reached[-1]
    if step in done:
        return None
    to = _recipient(db, invoice)
    reminder = DunningReminder(
        invoice_id=invoice.id,
        organisation_id=invoice.organisation_id,
        step=step,
        sent=True,
        due_date=invoice.due_date,
        balance=invoices.balance(invoice),
        to_address=to,
    )
    skipped = [
        DunningReminder(
            invoice_id=invoice.id,
            organisation_id=invoice.organisation_id,
            step=s,
            sent=False,
            due_date=invoice.due_date,
            balance=invoices.balance(invoice),
        )
        for s in reached[:-1]
        if s not in done
    ]
    try:
        with db.begin_nested():
            db.add_all([*skipped, reminder])
    except IntegrityError:
        return None
    company = company_service.get_company(db)
    subject, body = template_for(db, step)
    values = _values(db, invoice, company)
    attachments = []
    if step == FORMAL:
        reminder.letter = formal_notice_pdf(db, invoice, on)
        attachments.append(
            mail.MailAttachment(f"mise-en-demeure-{invoice.number}.pdf", reminder.letter, "application/pdf")
        )
    if to:
        try:
            email = mail.queue_email(
                db,
                to,
                subject.format(**values),
                body.format(**values),
                attachments=attachments,
                record_type="invoice",
                record_id=invoice.id,
            )
            reminder.email_id = email.id
        except ValidationFailed as exc:
            log.warning("invoice %s: dunning email not queued (%s)", invoice.id, exc)
    db.flush()
    events.emit(
        db,
        SYSTEM,
        f"invoice.dunning_{step}",
        "invoice",
        invoice.id,
        {
            "invoice_id": invoice.id,
            "number": invoice.number,
            "step": step,
            "to": to,
            "organisation_id": invoice.organisation_id,
            "balance": f"{reminder.balance:.2f}",
        },
    )
    return step


def candidate_ids(db: Session, on: date, after_id: int, limit: int) -> list[int]:
    # The earliest step may come before the due date (J-3 by default, up to J-60 in a plan).
    horizon = on + timedelta(days=60)
    return list(
        db.scalars(
            select(Invoice.id)
            .where(
                Invoice.id > after_id,
                Invoice.status.in_(OPEN_STATUSES),
                Invoice.kind != CREDIT_NOTE,
                Invoice.due_date <= horizon,
            )
            .order_by(Invoice.id)
            .limit(limit)
        )
    )


def run(on: date | None = None, max_batches: int = 50) -> int:
    """Walk the open invoices in batches, one short transaction each; returns how many steps went out."""
    on = on or invoices.today()
    after_id, sent = 0, 0
    for _ in range(max_batches):
        with get_database().begin(write=False) as db:
            ids = candidate_ids(db, on, after_id, BATCH)
        for invoice_id in ids:
            try:
                with get_database().begin() as db:
                    invoice = db.get(Invoice, invoice_id)
                    if invoice is not None and send_due(db, invoice, on):
                        sent += 1
            except DomainError as exc:
                log.warning("invoice %s: dunning failed: %s", invoice_id, exc)
        if len(ids) < BATCH:
            break
        after_id = ids[-1]
    return sent


# -- timeline --------------------------------------------------------------------------------------


@timeline.register
def timeline_items(
    db: Session, actor: Actor, record_type: str, record_id: int, limit: int
) -> list[timeline.TimelineItem]:
    """Payments and dunning steps on the invoice's timeline and on its client's."""
    if record_type not in ("invoice", "organisation") or not actor.can("payments:read"):
        return []
    column = DunningReminder.invoice_id if record_type == "invoice" else DunningReminder.organisation_id
    items = []
    rows = db.execute(
        select(DunningReminder, Invoice.number)
        .join(Invoice, Invoice.id == DunningReminder.invoice_id)
        .where(column == record_id, DunningReminder.sent.is_(True), invoices.visible_clause(db, actor))
        .order_by(DunningReminder.id.desc())
        .limit(limit)
    )
    for reminder, number in rows:
        items.append(
            timeline.TimelineItem(
                when=reminder.created_at,
                kind="email",
                title=STEP_LABELS[reminder.step] + ": {number}",
                body=reminder.to_address or i18n.gettext("No email address", actor.language),
                url=f"/invoices/{reminder.invoice_id}",
                meta={"params": {"number": number or ""}},
            )
        )
    from carnet.payments.models import Payment, PaymentAllocation

    stmt = select(Payment).where(service.visible_clause(db, actor))
    if record_type == "invoice":
        stmt = stmt.join(PaymentAllocation, PaymentAllocation.payment_id == Payment.id).where(
            PaymentAllocation.invoice_id == record_id
        )
    else:
        stmt = stmt.where(Payment.organisation_id == record_id)
    for payment in db.scalars(stmt.order_by(Payment.id.desc()).limit(limit)):
        items.append(
            timeline.TimelineItem(
                when=payment.created_at,
                kind="event",
                title="Payment received: {amount}",
                body=payment.reference or "",
                url=None,
                meta={"params": {"amount": i18n.format_money(payment.amount, actor.language)}},
            )
        )
    return items
