"""The legal mentions of French B2B documents, as the French text printed on them.

Sources (france.md): seller identity and identifiers §1.2 item 4-5 (Code de commerce R123-237);
payment terms, late-penalty rate, the 40 € recovery indemnity and the escompte wording §1.2 items
11-14 and §1.4 (L441-10, D441-5); the e-invoicing reform mentions §1.5 (client SIREN, delivery
address, nature of the operation, VAT-on-debits option); exemption wording §1.2 item 15; the
usual content of a quote §1.6 (validity, deposit, execution date, acceptance block).
The documents are French legal documents, so the wording is French whatever the user's language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from carnet.core import countries, i18n
from carnet.documents import terms as payment_terms

RECOVERY_INDEMNITY = Decimal("40.00")  # D441-5
NATURE_LABELS = {
    "goods": "Livraison de biens",
    "services": "Prestation de services",
    "mixed": "Livraison de biens et prestation de services",
}
VAT_ON_DEBITS = "Option pour le paiement de la taxe d'après les débits"
NO_ESCOMPTE = "Pas d'escompte pour paiement anticipé"


def fr_date(value: date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def fr_money(value: Decimal | None) -> str:
    return i18n.format_money(value, "fr") if value is not None else ""


def fr_percent(value: Decimal) -> str:
    text = f"{value.normalize():f}".replace(".", ",")
    return f"{text} %"


def group_siren(siren: str) -> str:
    return f"{siren[:3]} {siren[3:6]} {siren[6:9]}"


@dataclass(frozen=True)
class Party:
    """The buyer as printed: name, address lines and identifiers."""

    name: str
    address_lines: tuple[str, ...] = ()
    siren: str | None = None
    vat_number: str | None = None
    contact_name: str | None = None
    country: str = countries.DEFAULT


@dataclass
class Mentions:
    seller: list[str]  # name and address, the header block
    seller_legal: list[str]  # legal form, capital, RCS, SIRET, VAT number
    buyer: list[str]
    payment: list[str]
    reform: list[str]
    exemptions: list[str]
    document: list[str] = field(default_factory=list)  # validity, deposit, execution date...
    footer: str | None = None

    def all(self) -> list[str]:
        out = self.seller + self.seller_legal + self.buyer + self.document + self.payment + self.reform
        out += self.exemptions
        if self.footer:
            out.append(self.footer)
        return out


def seller_lines(company: Any) -> list[str]:
    lines = [company.name]
    lines += [v for v in (company.address_line1, company.address_line2) if v]
    city = " ".join(v for v in (company.postal_code, company.city) if v)
    if city:
        lines.append(city)
    if company.email:
        lines.append(company.email)
    if company.phone:
        lines.append(company.phone)
    return lines


def seller_legal(company: Any) -> list[str]:
    """Registered name, legal form, share capital, RCS + court city, SIRET, VAT number (§1.2 4-5)."""
    identity = company.name
    if company.legal_form:
        identity += f", {company.legal_form}"
    if company.share_capital is not None:
        identity += f" au capital de {fr_money(company.share_capital)}"
    lines = [identity]
    if company.siren:
        if company.rcs_city:
            lines.append(f"RCS {company.rcs_city} {group_siren(company.siren)}")
        else:
            lines.append(f"SIREN {group_siren(company.siren)}")
    if company.siret:
        lines.append(f"SIRET {company.siret}")
    if company.vat_number:
        lines.append(f"N° TVA intracommunautaire {company.vat_number}")
    if company.naf_code:
        lines.append(f"Code APE {company.naf_code}")
    return lines


def buyer_lines(buyer: Party) -> list[str]:
    lines = [buyer.name]
    if buyer.contact_name:
        lines.append(f"À l'attention de {buyer.contact_name}")
    lines += list(buyer.address_lines)
    if buyer.country != countries.DEFAULT:
        # A client abroad: its country ends the address, its VAT number identifies it (§1.5).
        lines.append(countries.name(buyer.country, "fr"))
    if buyer.vat_number:
        lines.append(f"N° TVA {buyer.vat_number}")
    return lines


def payment_mentions(company: Any, terms: str, due: date | None = None) -> list[str]:
    """Payment conditions, escompte, late penalties and the 40 € indemnity (§1.2 11-14, §1.4)."""
    lines = [f"Conditions de paiement : {payment_terms.FRENCH_LABELS.get(terms, terms)}"]
    if due is not None:
        lines.append(f"Date d'échéance : {fr_date(due)}")
    lines.append(company.early_payment_discount or NO_ESCOMPTE)
    lines.append(
        f"Pénalités de retard : taux annuel de {fr_percent(company.late_penalty_rate)}, exigibles "
        "dès le lendemain de la date d'échéance sans qu'un rappel soit nécessaire"
    )
    lines.append(
        f"Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement : "
        f"{fr_money(RECOVERY_INDEMNITY)} (art. L441-10 et D441-5 du Code de commerce)"
    )
    if company.iban:
        bank = f"Règlement par virement : IBAN {company.iban}"
        if company.bic:
            bank += f" · BIC {company.bic}"
        lines.append(bank)
    return lines


def reform_mentions(
    company: Any, buyer: Party, operation_category: str, delivery_address: str | None = None
) -> list[str]:
    """The e-invoicing reform mentions (§1.5): client SIREN, delivery address when it differs,
    nature of the operation, and the VAT-on-debits option when chosen."""
    lines = []
    if buyer.siren:
        lines.append(f"SIREN du client : {group_siren(buyer.siren)}")
    if delivery_address:
        lines.append(f"Adresse de livraison : {delivery_address}")
    lines.append(f"Nature de l'opération : {NATURE_LABELS.get(operation_category, operation_category)}")
    if company.vat_on_debits:
        lines.append(VAT_ON_DEBITS)
    return lines


def quote_mentions(
    company: Any,
    buyer: Party,
    *,
    valid_until: date,
    terms: str,
    exemptions: list[str],
    operation_category: str | None = None,
    deposit_percent: Decimal | None = None,
    execution_date: date | None = None,
    delivery_address: str | None = None,
) -> Mentions:
    """Everything a quote prints besides its lines and totals (§1.6)."""
    document = [f"Devis valable jusqu'au {fr_date(valid_until)}"]
    if deposit_percent:
        document.append(f"Acompte à la commande : {fr_percent(deposit_percent)} du montant TTC")
    if execution_date:
        document.append(f"Date de livraison ou d'exécution : {fr_date(execution_date)}")
    return Mentions(
        seller=seller_lines(company),
        seller_legal=seller_legal(company),
        buyer=buyer_lines(buyer),
        payment=payment_mentions(company, terms),
        reform=reform_mentions(
            company, buyer, operation_category or company.operation_category, delivery_address
        ),
        exemptions=list(exemptions),
        document=document,
        footer=company.legal_footer,
    )


def invoice_mentions(
    company: Any,
    buyer: Party,
    *,
    due: date,
    terms: str,
    exemptions: list[str],
    operation_category: str | None = None,
    delivery_address: str | None = None,
    purchase_order: str | None = None,
    sale_date: date | None = None,
) -> Mentions:
    """Everything an invoice prints besides its number, lines and totals (§1.2, §1.4, §1.5)."""
    document = []
    if purchase_order:
        document.append(f"Bon de commande n° {purchase_order}")
    if sale_date:
        document.append(f"Date de la vente ou de la prestation : {fr_date(sale_date)}")
    return Mentions(
        seller=seller_lines(company),
        seller_legal=seller_legal(company),
        buyer=buyer_lines(buyer),
        payment=payment_mentions(company, terms, due),
        reform=reform_mentions(
            company, buyer, operation_category or company.operation_category, delivery_address
        ),
        exemptions=list(exemptions),
        document=document,
        footer=company.legal_footer,
    )
