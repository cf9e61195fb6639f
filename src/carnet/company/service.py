"""The company's legal identity: one row read by every document (quotes, invoices), edited by
those who hold `company:update`. Identifiers are checked with python-stdnum (france.md §6)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session
from stdnum import bic as stdnum_bic
from stdnum import iban as stdnum_iban
from stdnum.exceptions import ValidationError as StdnumError

from carnet.company.models import COMPANY_ID, OPERATION_CATEGORIES, Company
from carnet.core import audit, clock, events, identifiers, lifecycle, money, sequences
from carnet.core.context import Actor
from carnet.core.errors import FieldErrors, PermissionDenied, ValidationFailed
from carnet.documents import terms

RECORD_TYPE = "company"
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
LOGO_TYPES = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
MAX_LOGO_BYTES = 1024 * 1024
TEXT_FIELDS = {
    "name": 200,
    "legal_form": 60,
    "rcs_city": 80,
    "address_line1": 200,
    "address_line2": 200,
    "postal_code": 10,
    "city": 100,
    "bank_name": 120,
    "einvoicing_address": 120,
    "early_payment_discount": 300,
    "legal_footer": 4000,
}
EDITABLE = (
    *TEXT_FIELDS,
    "share_capital",
    "siren",
    "siret",
    "vat_number",
    "naf_code",
    "country",
    "email",
    "phone",
    "website",
    "iban",
    "bic",
    "brand_color",
    "default_payment_terms",
    "late_penalty_rate",
    "quote_number_pattern",
    "invoice_number_pattern",
    "credit_note_number_pattern",
    "quote_validity_days",
    "quote_accepted_stage_id",
    "vat_on_debits",
    "operation_category",
)


def get_company(db: Session) -> Company:
    """The company row; before anyone saved it, an unsaved one holding the defaults."""
    company = db.get(Company, COMPANY_ID)
    if company is not None:
        return company
    return Company(
        id=COMPANY_ID,
        name="",
        country="FR",
        brand_color="#3b4fd8",
        default_payment_terms=terms.DEFAULT_TERMS,
        late_penalty_rate=Decimal("12.15"),
        quote_number_pattern="DEV-{YYYY}-{seq:04}",
        invoice_number_pattern="{YYYY}-F-{seq:04}",
        credit_note_number_pattern="{YYYY}-A-{seq:04}",
        quote_validity_days=30,
        vat_on_debits=False,
        operation_category="services",
    )


def read_company(db: Session, actor: Actor) -> Company:
    if not actor.can("company:read"):
        raise PermissionDenied()
    return get_company(db)


def snapshot(company: Company) -> dict[str, Any]:
    out = {name: getattr(company, name) for name in EDITABLE}
    out["share_capital"] = money.money_str(company.share_capital)
    out["late_penalty_rate"] = money.money_str(company.late_penalty_rate)
    out["has_logo"] = bool(company.logo_content_type)
    return out


def to_read(company: Company) -> dict[str, Any]:
    return {**snapshot(company), "version": company.version, "updated_at": company.updated_at}


def _collect(errors: FieldErrors, func: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return func(*args, **kwargs)
    except ValidationFailed as exc:
        errors.errors.extend(exc.errors)
        return None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _clean(db: Session, data: dict[str, Any], company: Company) -> dict[str, Any]:
    errors = FieldErrors()
    values: dict[str, Any] = {}
    for name, max_len in TEXT_FIELDS.items():
        if name in data:
            value = data[name]
            if value is not None and not isinstance(value, str):
                errors.add(name, "Enter text", "invalid_type")
                continue
            value = (value or "").strip()
            if len(value) > max_len:
                errors.add(name, "At most {max} characters", "too_long", max=max_len)
            values[name] = value or None
    if "name" in data or not company.name:
        if not values.get("name", company.name):
            errors.add("name", "This field is required", "required")
    if "name" in values:
        values["name"] = values["name"] or ""
    if "share_capital" in data:
        raw = data["share_capital"]
        values["share_capital"] = (
            None if _blank(raw) else _collect(errors, money.parse_money, raw, "share_capital")
        )
    if "siren" in data:
        values["siren"] = identifiers.clean_siren(data["siren"], errors)
    if "siret" in data:
        values["siret"] = identifiers.clean_siret(data["siret"], errors)
    if "vat_number" in data:
        values["vat_number"] = identifiers.clean_vat(data["vat_number"], errors)
    if "naf_code" in data:
        values["naf_code"] = identifiers.clean_naf(data["naf_code"], errors)
    siren = values.get("siren", company.siren)
    siret = values.get("siret", company.siret)
    vat = values.get("vat_number", company.vat_number)
    if siren and siret and not siret.startswith(siren) and not errors:
        errors.add("siret", "The SIRET must start with the SIREN", "siret_siren_mismatch")
    if siren and vat and vat.startswith("FR") and vat[4:] != siren and not errors:
        errors.add("vat_number", "This VAT number belongs to another SIREN", "vat_siren_mismatch")
    if "country" in data:
        country = str(data["country"] or "FR").strip().upper()
        if not re.fullmatch(r"[A-Z]{2}", country):
            errors.add("country", "Enter a two-letter country code such as FR", "invalid_country")
        values["country"] = country
    if "email" in data:
        values["email"] = identifiers.clean_email(data["email"], errors, "email")
    if "phone" in data:
        values["phone"] = identifiers.clean_phone(data["phone"], errors, "phone")
    if "website" in data:
        values["website"] = identifiers.clean_url(data["website"], errors, "website")
    if "iban" in data:
        raw = data["iban"]
        if _blank(raw):
            values["iban"] = None
        else:
            try:
                values["iban"] = stdnum_iban.validate(str(raw))
            except StdnumError:
                errors.add("iban", "This IBAN is not valid", "invalid_iban")
    if "bic" in data:
        raw = data["bic"]
        if _blank(raw):
            values["bic"] = None
        else:
            try:
                values["bic"] = stdnum_bic.validate(str(raw))
            except StdnumError:
                errors.add("bic", "This BIC is not valid", "invalid_bic")
    if "brand_color" in data:
        color = str(data["brand_color"] or "").strip()
        if not COLOR_RE.match(color):
            errors.add("brand_color", "Enter a colour such as #3b4fd8", "invalid_color")
        values["brand_color"] = color.lower()
    if "default_payment_terms" in data:
        values["default_payment_terms"] = _collect(
            errors, terms.clean_terms, data["default_payment_terms"], "default_payment_terms"
        )
    if "late_penalty_rate" in data:
        values["late_penalty_rate"] = _collect(
            errors, money.percent, data["late_penalty_rate"], "late_penalty_rate"
        )
    for name in ("quote_number_pattern", "invoice_number_pattern", "credit_note_number_pattern"):
        if name in data:
            values[name] = _collect(errors, sequences.validate_pattern, str(data[name] or ""), name)
    if "quote_validity_days" in data:
        try:
            days = int(data["quote_validity_days"])
            if not 1 <= days <= 365:
                raise ValueError
            values["quote_validity_days"] = days
        except (TypeError, ValueError):
            errors.add("quote_validity_days", "Enter a whole number between 1 and 365", "out_of_range")
    if "quote_accepted_stage_id" in data:
        raw = data["quote_accepted_stage_id"]
        try:
            values["quote_accepted_stage_id"] = None if _blank(raw) else int(raw)
        except (TypeError, ValueError):
            errors.add("quote_accepted_stage_id", "Unknown stage", "unknown")
    if "vat_on_debits" in data:
        values["vat_on_debits"] = bool(data["vat_on_debits"])
    if "operation_category" in data:
        if data["operation_category"] not in OPERATION_CATEGORIES:
            errors.add("operation_category", "Choose goods, services or mixed", "invalid_choice")
        values["operation_category"] = data["operation_category"]
    errors.raise_if_any()
    return values


def update_company(
    db: Session, actor: Actor, data: dict[str, Any], expected_version: int | None = None
) -> Company:
    """Change the legal identity (partial update); every change is audited."""
    if not actor.can("company:update"):
        raise PermissionDenied()
    company = get_company(db)
    creating = db.get(Company, COMPANY_ID) is None
    lifecycle.check_version(company, expected_version)
    before = {} if creating else snapshot(company)
    values = _clean(db, {k: v for k, v in data.items() if k in EDITABLE}, company)
    for key, value in values.items():
        setattr(company, key, value)
    company.updated_by_id = actor.user_id
    if creating:
        company.created_by_id = actor.user_id
        db.add(company)
    after = snapshot(company)
    if not creating and before == after:
        db.rollback()
        return company
    company.updated_at = clock.now()
    db.flush()
    changes = audit.diff(before, after)
    audit.record(db, actor, "update", RECORD_TYPE, COMPANY_ID, changes, company.name)
    events.emit(db, actor, "company.updated", RECORD_TYPE, COMPANY_ID, {"changes": changes})
    db.commit()
    return company


def set_logo(db: Session, actor: Actor, content: bytes, content_type: str) -> Company:
    """A PNG or JPEG logo of at most 1 MB (checked by its first bytes, not the declared type)."""
    if not actor.can("company:update"):
        raise PermissionDenied()
    kind = next((t for t, magic in LOGO_TYPES.items() if content.startswith(magic)), None)
    if kind is None:
        raise ValidationFailed.on("logo", "The logo must be a PNG or JPEG image", "invalid_image")
    if len(content) > MAX_LOGO_BYTES:
        raise ValidationFailed.on("logo", "The logo must be at most 1 MB", "too_large")
    company = db.get(Company, COMPANY_ID)
    if company is None:
        raise ValidationFailed.on("logo", "Save the company details first", "no_company")
    company.logo = content
    company.logo_content_type = kind
    company.updated_at = clock.now()
    company.updated_by_id = actor.user_id
    db.flush()
    audit.record(
        db, actor, "update", RECORD_TYPE, COMPANY_ID, {"logo": {"old": None, "new": kind}}, company.name
    )
    db.commit()
    return company


def remove_logo(db: Session, actor: Actor) -> Company:
    if not actor.can("company:update"):
        raise PermissionDenied()
    company = get_company(db)
    if db.get(Company, COMPANY_ID) is None or not company.logo_content_type:
        return company
    old = company.logo_content_type
    company.logo = None
    company.logo_content_type = None
    company.updated_at = clock.now()
    db.flush()
    audit.record(
        db, actor, "update", RECORD_TYPE, COMPANY_ID, {"logo": {"old": old, "new": None}}, company.name
    )
    db.commit()
    return company


def logo_data_url(company: Company) -> str | None:
    """The logo inlined for a PDF or a page (no file path to resolve)."""
    import base64

    if not company.logo_content_type or not company.logo:
        return None
    return f"data:{company.logo_content_type};base64,{base64.b64encode(company.logo).decode()}"
