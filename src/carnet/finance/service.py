"""Finance settings: the account mapping of the accounting exports and the CSV column layouts.
Every write goes through here (validation, permission `finance:update`, audit).

The FEC export lives in `fec.py`, the CSV exports in `exports.py`, the dashboard figures in
`summary.py`; they read their settings through `chart_of_accounts` and `layout_of`.

Accounts (france.md §5.4, PCG): the customer account 411 (each client on its own auxiliary
account), the bank 512, customer advances 4191 for deposit invoices (§2.2), revenue 706 (services)
by default or one account per product category (707 for goods, for instance), VAT collected
44571 per rate, and VAT collected on hold 4458 (services without the debits option, moved to 44571
as the client pays, see `vat_on_hold.py`). A row of `finance_accounts` overrides a default; a revenue or VAT row with a key
applies to that product category or VAT rate only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from carnet.core import audit, money
from carnet.core.context import Actor
from carnet.core.errors import FieldErrors, PermissionDenied, ValidationFailed
from carnet.finance.models import (
    BANK,
    CUSTOMER,
    DEPOSIT,
    PURPOSES,
    REVENUE,
    VAT,
    VAT_ON_HOLD,
    AccountMapping,
    ExportLayout,
)

RECORD_TYPE = "finance_settings"

# The defaults of the French chart of accounts (PCG), used while no row overrides them.
DEFAULT_ACCOUNTS: dict[str, tuple[str, str]] = {
    CUSTOMER: ("411000", "Clients"),
    BANK: ("512000", "Banque"),
    DEPOSIT: ("419100", "Clients - Avances et acomptes reçus"),
    REVENUE: ("706000", "Prestations de services"),
    VAT: ("445710", "TVA collectée"),
    VAT_ON_HOLD: ("445800", "TVA collectée en attente"),
}
# france.md §5.3: the first 3 characters of CompteNum are digits of the PCG; each purpose stays in
# its own class of accounts so a typo cannot book VAT on a revenue account.
ACCOUNT_PREFIXES = {
    CUSTOMER: "41",
    BANK: "5",
    DEPOSIT: "419",
    REVENUE: "70",
    VAT: "4457",
    VAT_ON_HOLD: "4458",
}
ACCOUNT_NUMBER = re.compile(r"^[0-9]{3}[0-9A-Za-z]{0,17}$")


def require(actor: Actor, action: str) -> None:
    if not actor.can(f"finance:{action}"):
        raise PermissionDenied()


# -- chart of accounts -----------------------------------------------------------------------------


class Account(NamedTuple):
    # A tuple rather than a dataclass: the FEC keys dictionaries by account for each of its
    # hundreds of thousands of lines, and a tuple hashes in C.
    number: str
    label: str


@dataclass(frozen=True)
class ChartOfAccounts:
    customer: Account
    bank: Account
    deposit: Account
    revenue: Account  # default revenue account
    vat: Account  # default VAT account
    vat_on_hold: Account  # VAT collected on services waiting for their payment (4458)
    revenue_by_category: dict[str, Account]
    vat_by_rate: dict[str, Account]  # "20.00" -> account

    def revenue_for(self, category: str | None) -> Account:
        return self.revenue_by_category.get(category or "", self.revenue)

    def vat_for(self, rate: Decimal | str) -> Account:
        return self.vat_by_rate.get(f"{Decimal(rate):.2f}", self.vat)


def chart_of_accounts(db: Session) -> ChartOfAccounts:
    rows = list(db.scalars(select(AccountMapping)))
    base = {p: Account(*DEFAULT_ACCOUNTS[p]) for p in PURPOSES}
    for row in rows:
        if row.key == "":
            base[row.purpose] = Account(row.number, row.label)
    return ChartOfAccounts(
        customer=base[CUSTOMER],
        bank=base[BANK],
        deposit=base[DEPOSIT],
        revenue=base[REVENUE],
        vat=base[VAT],
        vat_on_hold=base[VAT_ON_HOLD],
        revenue_by_category={
            r.key: Account(r.number, r.label) for r in rows if r.purpose == REVENUE and r.key
        },
        vat_by_rate={r.key: Account(r.number, r.label) for r in rows if r.purpose == VAT and r.key},
    )


def accounts_to_read(chart: ChartOfAccounts) -> list[dict[str, Any]]:
    """Every account in use: the six defaults, then the per-category and per-rate ones."""
    out = [
        {"purpose": p, "key": "", "number": a.number, "label": a.label}
        for p, a in (
            (CUSTOMER, chart.customer),
            (BANK, chart.bank),
            (DEPOSIT, chart.deposit),
            (REVENUE, chart.revenue),
            (VAT, chart.vat),
            (VAT_ON_HOLD, chart.vat_on_hold),
        )
    ]
    out += [
        {"purpose": REVENUE, "key": k, "number": a.number, "label": a.label}
        for k, a in sorted(chart.revenue_by_category.items())
    ]
    out += [
        {"purpose": VAT, "key": k, "number": a.number, "label": a.label}
        for k, a in sorted(chart.vat_by_rate.items(), key=lambda kv: Decimal(kv[0]), reverse=True)
    ]
    return out


def get_accounts(db: Session, actor: Actor) -> ChartOfAccounts:
    require(actor, "read")
    return chart_of_accounts(db)


def _clean_account(raw: Any, index: int, errors: FieldErrors) -> tuple[str, str, str, str] | None:
    prefix = f"accounts.{index}"
    if not isinstance(raw, dict):
        errors.add(prefix, "Each account must be an object", "invalid_type")
        return None
    found = FieldErrors()
    purpose = raw.get("purpose")
    if purpose not in PURPOSES:
        found.add(
            f"{prefix}.purpose", "Choose one of: {values}", "invalid_choice", values=", ".join(PURPOSES)
        )
    key = raw.get("key") or ""
    if not isinstance(key, str):
        found.add(f"{prefix}.key", "Enter text", "invalid_type")
        key = ""
    key = key.strip()
    if key and purpose in (CUSTOMER, BANK, DEPOSIT, VAT_ON_HOLD):
        found.add(f"{prefix}.key", "Only revenue and VAT accounts have a key", "no_key")
    elif key and purpose == VAT:
        try:
            key = f"{money.rate(key, f'{prefix}.key'):.2f}"
        except ValidationFailed as exc:
            found.errors.extend(exc.errors)
    elif len(key) > 80:
        found.add(f"{prefix}.key", "At most {max} characters", "too_long", max=80)
    number = str(raw.get("number") or "").strip()
    label = str(raw.get("label") or "").strip()
    if number or not key:
        if not ACCOUNT_NUMBER.match(number):
            found.add(
                f"{prefix}.number",
                "An account number starts with 3 digits of the chart of accounts (up to 20 letters and digits)",
                "invalid_account",
            )
        elif purpose in ACCOUNT_PREFIXES and not number.startswith(ACCOUNT_PREFIXES[purpose]):
            found.add(
                f"{prefix}.number",
                "This account must start with {prefix}",
                "wrong_class",
                prefix=ACCOUNT_PREFIXES[purpose],
            )
        if not label:
            found.add(f"{prefix}.label", "This field is required", "required")
        elif len(label) > 100:
            found.add(f"{prefix}.label", "At most {max} characters", "too_long", max=100)
    errors.errors.extend(found.errors)
    if found:
        return None
    return purpose, key, number, label


def set_accounts(db: Session, actor: Actor, accounts: Any) -> ChartOfAccounts:
    """Set accounts: `[{"purpose", "key", "number", "label"}]`. An entry with a key and an empty
    number removes that category's or rate's account (back to the default). All or nothing."""
    require(actor, "update")
    if not isinstance(accounts, list):
        raise ValidationFailed.on("accounts", "Must be a list of accounts", "invalid_type")
    errors = FieldErrors()
    cleaned = [_clean_account(raw, i, errors) for i, raw in enumerate(accounts)]
    seen: set[tuple[str, str]] = set()
    for i, item in enumerate(cleaned):
        if item is None:
            continue
        if (item[0], item[1]) in seen:
            errors.add(f"accounts.{i}.key", "This account is given twice", "duplicate")
        seen.add((item[0], item[1]))
    errors.raise_if_any()
    before = accounts_to_read(chart_of_accounts(db))
    existing = {(r.purpose, r.key): r for r in db.scalars(select(AccountMapping))}
    for item in cleaned:
        assert item is not None
        purpose, key, number, label = item
        row = existing.get((purpose, key))
        if not number:
            if row is not None:
                db.execute(delete(AccountMapping).where(AccountMapping.id == row.id))
            continue
        if row is None:
            db.add(
                AccountMapping(
                    purpose=purpose, key=key, number=number, label=label, updated_by_id=actor.user_id
                )
            )
        elif (row.number, row.label) != (number, label):
            row.number, row.label, row.updated_by_id = number, label, actor.user_id
    db.flush()
    chart = chart_of_accounts(db)
    after = accounts_to_read(chart)
    if after != before:
        audit.record(db, actor, "update", RECORD_TYPE, None, {"accounts": [before, after]}, "Accounts")
    db.commit()
    return chart


# -- CSV export layouts ----------------------------------------------------------------------------

INVOICES, PAYMENTS, CUSTOMERS = "invoices", "payments", "customers"
EXPORT_KINDS = (INVOICES, PAYMENTS, CUSTOMERS)
# Every field an export kind offers, with its default French header; the default layout takes
# them all in this order (the usual import layout of French accounting tools: date, piece,
# account, label, amounts).
FIELDS: dict[str, dict[str, str]] = {
    INVOICES: {
        "issue_date": "Date",
        "number": "N° pièce",
        "kind": "Type",
        "client_code": "Compte client",
        "client_name": "Client",
        "client_siren": "SIREN",
        "client_vat_number": "N° TVA",
        "total_net": "Montant HT",
        "total_vat": "TVA",
        "total_gross": "Montant TTC",
        "due_date": "Échéance",
        "amount_paid": "Réglé",
        "balance": "Reste dû",
        "status": "Statut",
        "credited_number": "Facture d'origine",
        "currency": "Devise",
    },
    PAYMENTS: {
        "paid_on": "Date",
        "reference": "Référence",
        "method": "Mode de règlement",
        "client_code": "Compte client",
        "client_name": "Client",
        "amount": "Montant",
        "allocated": "Affecté",
        "credit": "Avoir client",
        "invoices": "Factures réglées",
        "currency": "Devise",
    },
    CUSTOMERS: {
        "client_code": "Compte client",
        "name": "Raison sociale",
        "siren": "SIREN",
        "siret": "SIRET",
        "vat_number": "N° TVA",
        "address": "Adresse",
        "postal_code": "Code postal",
        "city": "Ville",
        "country": "Pays",
        "email": "E-mail",
        "phone": "Téléphone",
    },
}
MAX_HEADER = 60


def default_layout(kind: str) -> list[dict[str, str]]:
    return [{"field": f, "header": h} for f, h in FIELDS[kind].items()]


def _kind(kind: Any) -> str:
    if kind not in EXPORT_KINDS:
        raise ValidationFailed.on(
            "kind", "Choose one of: {values}", "invalid_choice", values=", ".join(EXPORT_KINDS)
        )
    return str(kind)


def layout_of(db: Session, kind: str) -> list[dict[str, str]]:
    """The saved columns of `kind`, or the default layout. Fields no longer offered are dropped."""
    row = db.scalar(select(ExportLayout).where(ExportLayout.kind == kind))
    if row is None or not row.columns:
        return default_layout(kind)
    return [c for c in row.columns if c.get("field") in FIELDS[kind]]


def get_layout(db: Session, actor: Actor, kind: Any) -> list[dict[str, str]]:
    require(actor, "read")
    return layout_of(db, _kind(kind))


def set_layout(db: Session, actor: Actor, kind: Any, columns: Any) -> list[dict[str, str]]:
    """Save the chosen, renamed and ordered columns of an export kind: `[{"field", "header"}]`
    (an empty header takes the default one). `columns: null` or `[]` restores the default."""
    require(actor, "update")
    kind = _kind(kind)
    if columns in (None, []):
        cleaned: list[dict[str, str]] = []
    else:
        if not isinstance(columns, list):
            raise ValidationFailed.on("columns", "Must be a list of columns", "invalid_type")
        errors = FieldErrors()
        cleaned = []
        seen: set[str] = set()
        for i, raw in enumerate(columns):
            if not isinstance(raw, dict):
                errors.add(f"columns.{i}", "Each column must be an object", "invalid_type")
                continue
            field = raw.get("field")
            if field not in FIELDS[kind]:
                errors.add(
                    f"columns.{i}.field",
                    "Choose one of: {values}",
                    "invalid_choice",
                    values=", ".join(FIELDS[kind]),
                )
                continue
            if field in seen:
                errors.add(f"columns.{i}.field", "This column is chosen twice", "duplicate")
                continue
            seen.add(field)
            header = raw.get("header")
            header = FIELDS[kind][field] if header in (None, "") else header
            if not isinstance(header, str) or not header.strip():
                errors.add(f"columns.{i}.header", "Enter text", "invalid_type")
                continue
            header = " ".join(header.split())  # no tab or line break inside a CSV header
            if len(header) > MAX_HEADER:
                errors.add(f"columns.{i}.header", "At most {max} characters", "too_long", max=MAX_HEADER)
                continue
            cleaned.append({"field": field, "header": header})
        errors.raise_if_any()
    before = layout_of(db, kind)
    row = db.scalar(select(ExportLayout).where(ExportLayout.kind == kind))
    if row is None:
        row = ExportLayout(kind=kind, columns=cleaned, updated_by_id=actor.user_id)
        db.add(row)
    else:
        row.columns = cleaned
        row.updated_by_id = actor.user_id
    db.flush()
    after = layout_of(db, kind)
    if after != before:
        audit.record(
            db, actor, "update", RECORD_TYPE, None, {f"layout.{kind}": [before, after]}, f"Layout {kind}"
        )
    db.commit()
    return after
