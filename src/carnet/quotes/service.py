"""Quotes: every write goes through here (validation, visibility, versions, sending, the public
link and signature, acceptance moving the deal, expiry, audit and events `quote.*`).

Numbering: a quote takes its number when it is created, from the company's pattern (default
`DEV-{YYYY}-{seq:04}`) and a core.sequences counter. The law asks no continuity of quote numbers
(france.md §1.6), so a deleted draft may leave a gap; numbering at creation lets the team quote
the reference at once (on the phone, in the deal) and the unique index keeps numbers unique.

Versions: the current version is edited in place while it is a draft. Sending freezes it (its
PDF and SHA-256 are stored, nothing in it can change again); editing a sent, refused or expired
quote starts version n + 1 and revokes the public link of the old one. An accepted quote is the
contract (france.md §1.6) and can no longer be edited.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from carnet.catalogue.models import Product
from carnet.company import service as company_service
from carnet.contacts.models import Contact
from carnet.core import (
    audit,
    clock,
    events,
    inputs,
    lifecycle,
    money,
    ownership,
    permissions,
    records,
    search,
    sequences,
)
from carnet.core.context import Actor
from carnet.core.errors import Conflict, FieldErrors, NotFound, ValidationFailed
from carnet.core.listing import Listing, ListParams, page
from carnet.core.text import fold
from carnet.deals import pipelines as deal_pipelines
from carnet.deals import service as deals
from carnet.deals.models import Pipeline, Stage
from carnet.documents import clients, terms
from carnet.documents import lines as doc_lines
from carnet.organisations import service as organisations
from carnet.organisations.models import Organisation
from carnet.quotes import rendering
from carnet.quotes.models import (
    ACCEPTED,
    DRAFT,
    EXPIRED,
    REFUSED,
    SENT,
    Quote,
    QuoteSignature,
    QuoteVersion,
)
from carnet.settings import get_settings

RECORD_TYPE = "quote"
records.register(RECORD_TYPE, Quote, "quotes", "Quote", "/quotes")
PARIS = ZoneInfo("Europe/Paris")
TOKEN_BYTES = 32
MAX_SIGNATURE_BYTES = 512 * 1024
VERSION_FIELDS = (
    "valid_until",
    "payment_terms",
    "deposit_percent",
    "execution_date",
    "delivery_address",
    "operation_category",
    "notes",
    "global_discount_percent",
    "global_discount_amount",
    "lines",
)
LISTING = Listing(
    model=Quote,
    record_type=RECORD_TYPE,
    fields={
        "id": Quote.id,
        "number": Quote.number,
        "title": Quote.title,
        "status": Quote.status,
        "organisation_id": Quote.organisation_id,
        "contact_id": Quote.contact_id,
        "deal_id": Quote.deal_id,
        "valid_until": Quote.valid_until,
        "total_net": Quote.total_net,
        "total_gross": Quote.total_gross,
        "owner_id": Quote.owner_id,
        "department_id": Quote.department_id,
        "sent_at": Quote.sent_at,
        "created_at": Quote.created_at,
        "updated_at": Quote.updated_at,
    },
    sortable={"number", "valid_until", "total_net", "total_gross", "sent_at", "created_at", "updated_at"},
)


def today() -> date:
    """Business dates are French dates."""
    return clock.now().astimezone(PARIS).date()


def _end_of_day(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=PARIS)


# -- reading ---------------------------------------------------------------------------------------


def visible_clause(db: Session, actor: Actor) -> ColumnElement[bool]:
    return permissions.visible_for_model(db, actor, RECORD_TYPE, Quote)


def get_quote(db: Session, actor: Actor, quote_id: Any) -> Quote:
    return lifecycle.get_visible(db, actor, RECORD_TYPE, quote_id)


def list_quotes(db: Session, actor: Actor, params: ListParams) -> tuple[list[Quote], str | None]:
    lifecycle.require(actor, RECORD_TYPE, "read")
    stmt = select(Quote).where(visible_clause(db, actor))
    if params.q:
        needle = params.q.strip().lower()
        stmt = stmt.where(
            func.lower(Quote.number).contains(needle, autoescape=True)
            | func.lower(func.coalesce(Quote.title, "")).contains(needle, autoescape=True)
        )
    return page(db, LISTING, stmt, params)


# -- the record picker (quotes are not in the search index) -----------------------------------------


def _pick_statement(db: Session, actor: Actor) -> Any:
    """Visible quotes with their client's name, the name only when the client is visible too."""
    client = and_(Organisation.id == Quote.organisation_id, organisations.visible_clause(db, actor))
    return (
        select(Quote.id, Quote.number, Quote.title, Organisation.name.label("client"))
        .outerjoin(Organisation, client)
        .where(visible_clause(db, actor))
    )


def _choice(row: Any) -> search.Choice:
    return search.Choice(row.id, row.number, row.client or row.title or "")


def pick_matching(db: Session, actor: Actor, query: str, limit: int) -> list[search.Choice]:
    """For a form's quote picker: visible quotes whose number or title contains `query` or whose
    client's name starts with it, accents and case aside; newest first."""
    needle = fold(query)
    stmt = (
        _pick_statement(db, actor)
        .where(
            func.lower(Quote.number).contains(needle, autoescape=True)
            | search.folded(func.coalesce(Quote.title, "")).contains(needle, autoescape=True)
            | Quote.organisation_id.in_(organisations.visible_ids_named(db, actor, needle))
        )
        .order_by(Quote.id.desc())
        .limit(limit)
    )
    return [_choice(r) for r in db.execute(stmt)]


def pick_one(db: Session, actor: Actor, quote_id: int) -> search.Choice | None:
    row = db.execute(_pick_statement(db, actor).where(Quote.id == quote_id)).first()
    return _choice(row) if row else None


search.register_lookup(RECORD_TYPE, pick_matching, pick_one)


def count_by_status(db: Session, actor: Actor) -> dict[str, int]:
    lifecycle.require(actor, RECORD_TYPE, "read")
    rows = db.execute(
        select(Quote.status, func.count()).where(visible_clause(db, actor)).group_by(Quote.status)
    )
    return {status: count for status, count in rows}


def current_version(db: Session, quote: Quote) -> QuoteVersion:
    version = db.scalar(
        select(QuoteVersion).where(
            QuoteVersion.quote_id == quote.id, QuoteVersion.version == quote.current_version
        )
    )
    assert version is not None  # every quote has its current version
    return version


def list_versions(db: Session, actor: Actor, quote: Quote) -> list[QuoteVersion]:
    get_quote(db, actor, quote.id)
    return list(
        db.scalars(
            select(QuoteVersion).where(QuoteVersion.quote_id == quote.id).order_by(QuoteVersion.version)
        )
    )


def get_version(db: Session, actor: Actor, quote: Quote, number: Any) -> QuoteVersion:
    get_quote(db, actor, quote.id)
    try:
        number = int(number)
    except (TypeError, ValueError):
        raise NotFound()
    version = db.scalar(
        select(QuoteVersion).where(QuoteVersion.quote_id == quote.id, QuoteVersion.version == number)
    )
    if version is None:
        raise NotFound()
    return version


def signatures(db: Session, quote: Quote) -> list[QuoteSignature]:
    return list(
        db.scalars(
            select(QuoteSignature).where(QuoteSignature.quote_id == quote.id).order_by(QuoteSignature.id)
        )
    )


def version_to_read(version: QuoteVersion) -> dict[str, Any]:
    return {
        "version": version.version,
        "issue_date": version.issue_date,
        "valid_until": version.valid_until,
        "payment_terms": version.payment_terms,
        "deposit_percent": money.money_str(version.deposit_percent),
        "execution_date": version.execution_date,
        "delivery_address": version.delivery_address,
        "operation_category": version.operation_category,
        "notes": version.notes,
        "global_discount_percent": money.money_str(version.global_discount_percent),
        "global_discount_amount": money.money_str(version.global_discount_amount),
        "lines": version.lines,
        "totals": version.totals,
        "buyer": (version.parties or {}).get("buyer"),
        "frozen": version.frozen_at is not None,
        "frozen_at": version.frozen_at,
        "sent_to": version.sent_to,
        "pdf_sha256": version.pdf_sha256,
        "created_at": version.created_at,
    }


def to_read(db: Session, quote: Quote, version: QuoteVersion | None = None) -> dict[str, Any]:
    version = version or current_version(db, quote)
    return {
        "id": quote.id,
        "number": quote.number,
        "title": quote.title,
        "status": quote.status,
        "organisation_id": quote.organisation_id,
        "contact_id": quote.contact_id,
        "deal_id": quote.deal_id,
        "current_version": quote.current_version,
        "total_net": money.money_str(quote.total_net),
        "total_vat": money.money_str(quote.total_vat),
        "total_gross": money.money_str(quote.total_gross),
        "sent_at": quote.sent_at,
        "accepted_at": quote.accepted_at,
        "accepted_version": quote.accepted_version,
        "refused_at": quote.refused_at,
        "refusal_reason": quote.refusal_reason,
        "expired_at": quote.expired_at,
        "link_expires_at": quote.link_expires_at if quote.public_token_hash else None,
        "owner_id": quote.owner_id,
        "department_id": quote.department_id,
        "custom_fields": dict(quote.custom_fields or {}),
        "version": quote.version,
        "created_at": quote.created_at,
        "updated_at": quote.updated_at,
        "current": version_to_read(version),
    }


def _event_payload(quote: Quote, **extra: Any) -> dict[str, Any]:
    return {
        "quote_id": quote.id,
        "number": quote.number,
        "status": quote.status,
        "version": quote.current_version,
        "organisation_id": quote.organisation_id,
        "contact_id": quote.contact_id,
        "deal_id": quote.deal_id,
        "total_net": money.money_str(quote.total_net),
        "total_vat": money.money_str(quote.total_vat),
        "total_gross": money.money_str(quote.total_gross),
        "valid_until": quote.valid_until,
        **extra,
    }


def snapshot(quote: Quote, version: QuoteVersion) -> dict[str, Any]:
    """What the audit trail compares, field by field."""
    return {
        "title": quote.title,
        "organisation_id": quote.organisation_id,
        "contact_id": quote.contact_id,
        "deal_id": quote.deal_id,
        "owner_id": quote.owner_id,
        "department_id": quote.department_id,
        "status": quote.status,
        "current_version": quote.current_version,
        "valid_until": version.valid_until,
        "payment_terms": version.payment_terms,
        "deposit_percent": money.money_str(version.deposit_percent),
        "execution_date": version.execution_date,
        "delivery_address": version.delivery_address,
        "operation_category": version.operation_category,
        "notes": version.notes,
        "global_discount_percent": money.money_str(version.global_discount_percent),
        "global_discount_amount": money.money_str(version.global_discount_amount),
        "lines": version.lines,
        "total_net": money.money_str(version.total_net),
        "total_gross": money.money_str(version.total_gross),
    }


# -- validation ------------------------------------------------------------------------------------


@dataclass
class _Plan:
    quote: dict[str, Any]
    version: dict[str, Any]
    totals: doc_lines.Totals


def _plan(db: Session, actor: Actor, quote: Quote, base: QuoteVersion | None, data: dict[str, Any]) -> _Plan:
    """Validate `data` against the quote and the version it starts from; raises ValidationFailed."""
    creating = base is None
    errors = FieldErrors()
    q: dict[str, Any] = {}
    v: dict[str, Any] = {}
    if "title" in data:
        q["title"] = inputs.text(data["title"], "title", 200, errors)
    q.update(clients.clean_links(db, actor, quote, data, errors))
    if (creating and not q.get("organisation_id")) or (
        "organisation_id" in data and not q.get("organisation_id")
    ):
        errors.add("organisation_id", "Choose the client organisation", "required")
    q["owner_id"], q["department_id"] = ownership.resolve(
        db,
        actor,
        data,
        None if creating else quote.owner_id,
        None if creating else quote.department_id,
        errors,
    )
    company = company_service.get_company(db)
    if creating:
        v["valid_until"] = today() + timedelta(days=company.quote_validity_days or 30)
        v["payment_terms"] = company.default_payment_terms
        v["operation_category"] = company.operation_category
    if "validity_days" in data and data["validity_days"] not in (None, ""):
        days = inputs.whole_number(data["validity_days"], "validity_days", errors)
        if days is not None and not 1 <= days <= 365:
            errors.add("validity_days", "Enter a whole number between 1 and 365", "out_of_range")
        elif days is not None:
            v["valid_until"] = today() + timedelta(days=days)
    if data.get("valid_until") not in (None, ""):
        valid_until = inputs.day(data["valid_until"], "valid_until", errors)
        if valid_until is not None and valid_until < today():
            errors.add("valid_until", "The validity date cannot be in the past", "in_the_past")
        v["valid_until"] = valid_until
    if data.get("payment_terms") not in (None, ""):
        v["payment_terms"] = inputs.collect(errors, terms.clean_terms, data["payment_terms"])
    if "deposit_percent" in data:
        raw = data["deposit_percent"]
        v["deposit_percent"] = (
            None if raw in (None, "") else inputs.collect(errors, money.percent, raw, "deposit_percent")
        )
    if "execution_date" in data:
        v["execution_date"] = inputs.day(data["execution_date"], "execution_date", errors)
    if "delivery_address" in data:
        v["delivery_address"] = inputs.text(data["delivery_address"], "delivery_address", 500, errors)
    if data.get("operation_category") not in (None, ""):
        if data["operation_category"] not in ("goods", "services", "mixed"):
            errors.add("operation_category", "Choose goods, services or mixed", "invalid_choice")
        v["operation_category"] = data["operation_category"]
    if "notes" in data:
        v["notes"] = inputs.text(data["notes"], "notes", 10000, errors)
    parsed = None
    if "lines" in data or creating:
        parsed = inputs.collect(errors, doc_lines.parse_lines, data.get("lines") or [])
        if parsed is not None:
            product_ids = {line.product_id for line in parsed if line.product_id}
            if product_ids:
                known = set(db.scalars(select(Product.id).where(Product.id.in_(product_ids))))
                for i, line in enumerate(parsed):
                    if line.product_id and line.product_id not in known:
                        errors.add(f"lines.{i}.product_id", "Unknown product", "unknown")
    line_inputs = (
        parsed
        if parsed is not None
        else ([doc_lines.line_from_dict(d) for d in base.lines] if base is not None else [])
    )
    lines_net = doc_lines.compute(line_inputs).lines_net
    percent_raw = data.get("global_discount_percent", base.global_discount_percent if base else None)
    amount_raw = data.get("global_discount_amount", base.global_discount_amount if base else None)
    discount = inputs.collect(errors, doc_lines.parse_discount, percent_raw, amount_raw, lines_net)
    errors.raise_if_any()
    if "global_discount_percent" in data or "global_discount_amount" in data:
        v["global_discount_percent"] = discount.percent if discount else None
        v["global_discount_amount"] = discount.amount if discount else None
    if parsed is not None:
        v["lines"] = [doc_lines.line_to_dict(line) for line in parsed]
    totals = doc_lines.compute(line_inputs, discount)
    return _Plan(q, v, totals)


def _parties(db: Session, quote: Quote) -> dict[str, Any]:
    """The buyer as it will be printed (read without visibility: the quote itself is visible)."""
    org = db.get(Organisation, quote.organisation_id) if quote.organisation_id else None
    contact = db.get(Contact, quote.contact_id) if quote.contact_id else None
    if org is None:
        return {"buyer": None}
    address = [v for v in (org.address_line1, org.address_line2) if v]
    city = " ".join(v for v in (org.postal_code, org.city) if v)
    if city:
        address.append(city)
    return {
        "buyer": {
            "organisation_id": org.id,
            "name": org.legal_name or org.name,
            "address_lines": address,
            "country": org.country or "FR",
            "siren": org.siren,
            "vat_number": org.vat_number,
            "contact_name": f"{contact.first_name} {contact.last_name}".strip() if contact else None,
            "contact_email": (contact.primary_email or (contact.emails[0] if contact.emails else None))
            if contact
            else None,
        }
    }


def _apply_version(version: QuoteVersion, values: dict[str, Any], totals: doc_lines.Totals) -> None:
    for key, value in values.items():
        setattr(version, key, value)
    version.totals = totals.as_dict()
    version.total_net = totals.total_net
    version.total_vat = totals.total_vat
    version.total_gross = totals.total_gross


def _sync_quote(quote: Quote, version: QuoteVersion) -> None:
    quote.valid_until = version.valid_until
    quote.total_net = version.total_net
    quote.total_vat = version.total_vat
    quote.total_gross = version.total_gross


# -- writes ----------------------------------------------------------------------------------------


def create_quote(db: Session, actor: Actor, data: dict[str, Any]) -> Quote:
    lifecycle.require(actor, RECORD_TYPE, "create")
    quote = Quote(status=DRAFT, current_version=1, custom_fields={}, created_by_id=actor.user_id)
    with db.no_autoflush:
        plan = _plan(db, actor, quote, None, data)
    company = company_service.get_company(db)
    issued = today()
    quote.number = sequences.format_number(
        company.quote_number_pattern,
        sequences.next_value(db, sequences.series_key("quote", company.quote_number_pattern, issued)),
        issued,
    )
    for key, value in plan.quote.items():
        setattr(quote, key, value)
    quote.updated_by_id = actor.user_id
    version = QuoteVersion(
        version=1,
        created_at=clock.now(),
        created_by_id=actor.user_id,
        issue_date=issued,
        lines=[],
        notes=None,
    )
    _apply_version(version, plan.version, plan.totals)
    _sync_quote(quote, version)
    db.add(quote)
    db.flush()
    version.quote_id = quote.id
    version.parties = _parties(db, quote)
    db.add(version)
    db.flush()
    lifecycle.created(
        db, actor, RECORD_TYPE, quote, snapshot(quote, version), quote.number, _event_payload(quote)
    )
    db.commit()
    return quote


def update_quote(
    db: Session, actor: Actor, quote: Quote, data: dict[str, Any], expected_version: int | None = None
) -> Quote:
    """Change a quote. A draft version changes in place; a sent (or refused, expired) quote gets
    a new version and goes back to draft, and its public link stops working."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    lifecycle.check_version(quote, expected_version)
    if quote.status == ACCEPTED:
        raise Conflict("An accepted quote is the contract: it cannot be changed", code="quote_accepted")
    base = current_version(db, quote)
    before = snapshot(quote, base)
    with db.no_autoflush:
        plan = _plan(db, actor, quote, base, data)
    now = clock.now()
    if base.frozen_at is not None:
        version = QuoteVersion(
            quote_id=quote.id,
            version=base.version + 1,
            created_at=now,
            created_by_id=actor.user_id,
            issue_date=today(),
            **{name: getattr(base, name) for name in VERSION_FIELDS},
        )
        if version.valid_until < today():
            version.valid_until = today() + timedelta(
                days=company_service.get_company(db).quote_validity_days
            )
        quote.current_version = version.version
        quote.status = DRAFT
        quote.public_token_hash = None
        quote.link_expires_at = None
        db.add(version)
    else:
        version = base
    for key, value in plan.quote.items():
        setattr(quote, key, value)
    _apply_version(version, plan.version, plan.totals)
    version.parties = _parties(db, quote)
    _sync_quote(quote, version)
    after = snapshot(quote, version)
    if before == after:
        db.rollback()
        return quote
    quote.updated_by_id = actor.user_id
    quote.updated_at = now
    db.flush()
    lifecycle.updated(db, actor, RECORD_TYPE, quote, before, after, quote.number, _event_payload(quote))
    db.commit()
    return quote


def delete_quote(db: Session, actor: Actor, quote: Quote, expected_version: int | None = None) -> None:
    """Only a quote that was never sent can be deleted; a sent one stays as evidence."""
    lifecycle.require(actor, RECORD_TYPE, "delete")
    lifecycle.check_version(quote, expected_version)
    version = current_version(db, quote)
    if quote.status != DRAFT or quote.current_version > 1 or version.frozen_at is not None:
        raise Conflict("Only a quote that was never sent can be deleted", code="quote_sent")
    lifecycle.deleted(
        db, actor, RECORD_TYPE, quote, snapshot(quote, version), quote.number, _event_payload(quote)
    )
    db.delete(version)
    db.delete(quote)
    db.commit()


def render_version_pdf(db: Session, quote: Quote, version: QuoteVersion) -> bytes:
    """The stored PDF of a sent version, or a preview of a draft one (dated today)."""
    if version.frozen_at is not None and version.pdf:
        return version.pdf
    return rendering.quote_pdf(company_service.get_company(db), quote.number, version, today())


def preview_totals(db: Session, actor: Actor, data: dict[str, Any]) -> doc_lines.Totals:
    """Totals of lines being edited, without saving anything (the editor's live totals)."""
    lifecycle.require(actor, RECORD_TYPE, "read")
    return doc_lines.preview(data)


# -- sending and the public link -------------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def public_url(token: str) -> str:
    return f"{get_settings().base_url.rstrip('/')}/q/{token}"


@dataclass
class Sent:
    quote: Quote
    version: QuoteVersion
    token: str
    url: str
    email_id: int | None


def send_quote(
    db: Session, actor: Actor, quote: Quote, to: str | None = None, message: str | None = None
) -> Sent:
    """Freeze the current version with its PDF, open a public link valid until the end of the
    validity date, and email the PDF and the link. Sending again (a sent quote) sends the same
    version with a new link; the old link stops working."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    if quote.status not in (DRAFT, SENT):
        raise Conflict("Only a draft or sent quote can be sent", code="invalid_status")
    version = current_version(db, quote)
    company = company_service.get_company(db)
    errors = FieldErrors()
    if not company.name or db.get(type(company), company.id) is None:
        errors.add("company", "Fill in the company settings first (Settings > Company)", "company_missing")
    if not any(line.get("kind") == doc_lines.ITEM for line in version.lines):
        errors.add("lines", "Add at least one line", "required")
    if quote.organisation_id is None:
        errors.add("organisation_id", "Choose the client organisation", "required")
    if version.valid_until < today():
        errors.add("valid_until", "The validity date cannot be in the past", "in_the_past")
    buyer = (
        (_parties(db, quote).get("buyer") or {})
        if version.frozen_at is None
        else (version.parties or {}).get("buyer") or {}
    )
    recipient = (to or "").strip() or buyer.get("contact_email")
    if not recipient:
        errors.add("to", "Give the email address to send the quote to", "required")
    errors.raise_if_any()
    from carnet.core import mail  # the email outbox

    now = clock.now()
    if version.frozen_at is None:
        version.parties = _parties(db, quote)
        version.issue_date = today()
        pdf = rendering.quote_pdf(company, quote.number, version, version.issue_date)
        version.pdf = pdf
        version.pdf_sha256 = hashlib.sha256(pdf).hexdigest()
        version.sent_to = recipient
        version.frozen_at = now
    token = secrets.token_urlsafe(TOKEN_BYTES)
    before_status = quote.status
    quote.public_token_hash = hash_token(token)
    quote.link_expires_at = _end_of_day(version.valid_until)
    quote.status = SENT
    quote.sent_at = now
    quote.updated_at = now
    quote.updated_by_id = actor.user_id
    db.flush()
    url = public_url(token)
    body = (message or "").strip() or (
        f"Bonjour,\n\nVeuillez trouver ci-joint notre devis {quote.number} "
        f"d'un montant de {rendering.mentions.fr_money(version.total_gross)} TTC, "
        f"valable jusqu'au {rendering.mentions.fr_date(version.valid_until)}."
    )
    body += f"\n\nPour le consulter et le signer en ligne : {url}\n\n{company.name}"
    email = mail.queue_email(
        db,
        recipient,
        f"Devis {quote.number} — {company.name}",
        body,
        attachments=[
            mail.MailAttachment(
                f"{quote.number}.pdf", render_version_pdf(db, quote, version), "application/pdf"
            )
        ],
        record_type=RECORD_TYPE,
        record_id=quote.id,
        reply_to=company.email or None,
    )
    audit.record(
        db,
        actor,
        "send",
        RECORD_TYPE,
        quote.id,
        {"status": {"old": before_status, "new": SENT}, "sent_to": {"old": None, "new": recipient}},
        quote.number,
    )
    events.emit(
        db,
        actor,
        "quote.sent",
        RECORD_TYPE,
        quote.id,
        _event_payload(
            quote, sent_to=recipient, pdf_sha256=version.pdf_sha256, link_expires_at=quote.link_expires_at
        ),
    )
    db.commit()
    return Sent(quote, version, token, url, email.id)


def quote_for_token(db: Session, token: str) -> tuple[Quote, QuoteVersion]:
    """The quote a public link opens; NotFound for a wrong, revoked or expired link."""
    if not token or len(token) > 200:
        raise NotFound()
    quote = db.scalar(select(Quote).where(Quote.public_token_hash == hash_token(token)))
    if quote is None or quote.link_expires_at is None or clock.now() >= quote.link_expires_at:
        raise NotFound()
    if quote.status not in (SENT, ACCEPTED, REFUSED):
        raise NotFound()
    return quote, current_version(db, quote)


def _public_actor(name: str, ip: str | None, user_agent: str | None) -> Actor:
    """Who acts when the client signs on the public page (no account): the audit shows their name."""
    return Actor(
        user_id=None,
        role="system",
        is_admin=True,
        label=f"{name} (client)"[:200],
        ip=ip,
        user_agent=user_agent,
    )


def _decode_signature(data_url: Any) -> bytes:
    prefix = "data:image/png;base64,"
    if not isinstance(data_url, str) or not data_url.startswith(prefix):
        raise ValidationFailed.on("signature", "Draw your signature", "required")
    try:
        png = base64.b64decode(data_url[len(prefix) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed.on("signature", "Draw your signature", "invalid_image")
    if not png.startswith(b"\x89PNG\r\n\x1a\n") or len(png) > MAX_SIGNATURE_BYTES:
        raise ValidationFailed.on("signature", "Draw your signature", "invalid_image")
    return png


def _archive(quote: Quote, version: int, content: bytes, sha: str) -> str:
    """Write the signed PDF once, read-only, under the storage folder; returns its relative path."""
    relative = Path("quotes") / "signed" / f"{quote.id}-v{version}-{sha[:16]}.pdf"
    path = get_settings().storage_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(content)
        os.chmod(tmp, 0o444)
        os.replace(tmp, path)
    return str(relative)


def read_signed_pdf(signature: QuoteSignature) -> bytes:
    return (get_settings().storage_dir / signature.signed_pdf_path).read_bytes()


def verify_signed_pdf(signature: QuoteSignature, content: bytes | None = None) -> bool:
    """True when the archived signed PDF (or `content`) is exactly the one signed: its SHA-256 is
    the one recorded at signature time. Any changed byte makes it fail."""
    try:
        data = content if content is not None else read_signed_pdf(signature)
    except OSError:
        return False
    return secrets.compare_digest(hashlib.sha256(data).hexdigest(), signature.signed_pdf_sha256)


def sign_quote(
    db: Session,
    token: str,
    signer_name: Any,
    signature_data_url: Any,
    consent: Any,
    document_sha256: Any,
    ip: str | None,
    user_agent: str | None,
) -> QuoteSignature:
    """The client signs the version they read on the public page: the signature page is stamped
    onto that exact PDF, archived read-only, and the quote is accepted."""
    quote, version = quote_for_token(db, token)
    if quote.status != SENT:
        raise Conflict("This quote can no longer be signed", code="invalid_status")
    errors = FieldErrors()
    name = inputs.text(signer_name, "signer_name", 200, errors)
    if not name:
        errors.add("signer_name", "Type your full name", "required")
    if consent not in (True, "on", "true", "1", 1):
        errors.add("consent", "Tick the box to accept the quote", "required")
    png = inputs.collect(errors, _decode_signature, signature_data_url)
    errors.raise_if_any()
    if document_sha256 != version.pdf_sha256:
        raise Conflict("The quote changed since you opened it: reload the page", code="document_changed")
    company = company_service.get_company(db)
    signed_at = clock.now()
    original = version.pdf or b""
    page_pdf = rendering.signature_page(
        company, quote.number, version.version, name, signed_at, ip, user_agent, version.pdf_sha256 or "", png
    )
    signed = rendering.append_pages(original, page_pdf)
    signed_sha = hashlib.sha256(signed).hexdigest()
    signature = QuoteSignature(
        quote_id=quote.id,
        version=version.version,
        signer_name=name,
        signed_at=signed_at,
        ip=ip,
        user_agent=(user_agent or "")[:1000] or None,
        consent=True,
        document_sha256=version.pdf_sha256,
        signature_png=png,
        signed_pdf_path=_archive(quote, version.version, signed, signed_sha),
        signed_pdf_sha256=signed_sha,
    )
    db.add(signature)
    db.flush()
    actor = _public_actor(name, ip, user_agent)
    _accept(
        db,
        actor,
        quote,
        {
            "signer_name": name,
            "signed_at": signed_at,
            "document_sha256": version.pdf_sha256,
            "signed_pdf_sha256": signed_sha,
            "via": "e-signature",
        },
    )
    return signature


def accept_quote(db: Session, actor: Actor, quote: Quote, signer_name: Any = None, note: Any = None) -> Quote:
    """Record the acceptance of a signed paper copy."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    if quote.status != SENT:
        raise Conflict("Only a sent quote can be accepted", code="invalid_status")
    errors = FieldErrors()
    name = inputs.text(signer_name, "signer_name", 200, errors)
    inputs.text(note, "note", 500, errors)
    errors.raise_if_any()
    _accept(db, actor, quote, {"signer_name": name, "via": "paper"})
    return quote


def _accepted_stage(db: Session, deal: Any) -> Stage | None:
    """The configured stage, or the won stage of the deal's pipeline."""
    company = company_service.get_company(db)
    if company.quote_accepted_stage_id:
        stage = db.get(Stage, company.quote_accepted_stage_id)
        if stage is not None and stage.pipeline_id == deal.pipeline_id:
            return stage
    pipeline = db.get(Pipeline, deal.pipeline_id)
    if pipeline is None:
        return None
    return next((s for s in deal_pipelines.stages(db, pipeline) if s.kind == "won"), None)


def _accept(db: Session, actor: Actor, quote: Quote, details: dict[str, Any]) -> None:
    now = clock.now()
    quote.status = ACCEPTED
    quote.accepted_at = now
    quote.accepted_version = quote.current_version
    quote.updated_at = now
    quote.updated_by_id = actor.user_id
    db.flush()
    audit.record(
        db,
        actor,
        "accept",
        RECORD_TYPE,
        quote.id,
        {
            "status": {"old": SENT, "new": ACCEPTED},
            **{k: {"old": None, "new": v} for k, v in details.items() if v},
        },
        quote.number,
    )
    events.emit(db, actor, "quote.accepted", RECORD_TYPE, quote.id, _event_payload(quote, **details))
    if quote.deal_id:
        # Last: the deals service commits, with everything above in the same transaction.
        deal = deals.get_deal(db, actor, quote.deal_id)
        stage = _accepted_stage(db, deal)
        change: dict[str, Any] = {"amount": quote.total_net}
        if stage is not None and stage.id != deal.stage_id:
            change["stage_id"] = stage.id
        deals.update_deal(db, actor, deal, change)
    db.commit()


def refuse_quote(db: Session, actor: Actor, quote: Quote, reason: Any) -> Quote:
    lifecycle.require(actor, RECORD_TYPE, "update")
    return _refuse(db, actor, quote, reason)


def refuse_by_token(
    db: Session, token: str, reason: Any, name: Any, ip: str | None, user_agent: str | None
) -> Quote:
    quote, _version = quote_for_token(db, token)
    label = name.strip() if isinstance(name, str) and name.strip() else "Client"
    return _refuse(db, _public_actor(label, ip, user_agent), quote, reason)


def _refuse(db: Session, actor: Actor, quote: Quote, reason: Any) -> Quote:
    if quote.status != SENT:
        raise Conflict("Only a sent quote can be refused", code="invalid_status")
    errors = FieldErrors()
    text = inputs.text(reason, "reason", 500, errors)
    if not text:
        errors.add("reason", "Give the reason for the refusal", "required")
    errors.raise_if_any()
    now = clock.now()
    quote.status = REFUSED
    quote.refused_at = now
    quote.refusal_reason = text
    quote.updated_at = now
    quote.updated_by_id = actor.user_id
    db.flush()
    audit.record(
        db,
        actor,
        "refuse",
        RECORD_TYPE,
        quote.id,
        {"status": {"old": SENT, "new": REFUSED}, "refusal_reason": {"old": None, "new": text}},
        quote.number,
    )
    events.emit(db, actor, "quote.refused", RECORD_TYPE, quote.id, _event_payload(quote, reason=text))
    db.commit()
    return quote


def expire_due(db: Session, limit: int = 500) -> int:
    """Sent quotes past their validity date become expired (the daily job); returns how many."""
    from carnet.core.context import SYSTEM

    due = list(
        db.scalars(
            select(Quote)
            .where(Quote.status == SENT, Quote.valid_until < today())
            .order_by(Quote.id)
            .limit(limit)
        )
    )
    now = clock.now()
    for quote in due:
        quote.status = EXPIRED
        quote.expired_at = now
        quote.public_token_hash = None
        quote.link_expires_at = None
        quote.updated_at = now
        db.flush()
        audit.record(
            db,
            SYSTEM,
            "expire",
            RECORD_TYPE,
            quote.id,
            {"status": {"old": SENT, "new": EXPIRED}},
            quote.number,
        )
        events.emit(db, SYSTEM, "quote.expired", RECORD_TYPE, quote.id, _event_payload(quote))
    db.commit()
    return len(due)


records.register_actions(RECORD_TYPE, get_quote, update_quote, delete_quote)
