"""What an invoice prints and declares: the PDF context (WeasyPrint) and the Factur-X data, both
built from the same frozen invoice fields so the XML amounts are the PDF's amounts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from carnet.core import countries
from carnet.documents import exemptions, mentions, pdf
from carnet.documents import lines as doc_lines
from carnet.documents import terms as payment_terms
from carnet.invoices import facturx
from carnet.invoices.models import CREDIT_NOTE, DEPOSIT, Invoice

TYPE_CODES = {"invoice": facturx.INVOICE, DEPOSIT: facturx.DEPOSIT, CREDIT_NOTE: facturx.CREDIT_NOTE}
TITLES = {"invoice": "Facture", DEPOSIT: "Facture d'acompte", CREDIT_NOTE: "Avoir"}
POSTCODE_CITY = re.compile(r"^(\d{4,5})\s+(.+)$")
# The company fields frozen with an issued invoice (what its mentions print).
SELLER_FIELDS = (
    "name",
    "legal_form",
    "share_capital",
    "siren",
    "siret",
    "rcs_city",
    "vat_number",
    "naf_code",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "country",
    "email",
    "phone",
    "einvoicing_address",
    "iban",
    "bic",
    "late_penalty_rate",
    "early_payment_discount",
    "legal_footer",
    "vat_on_debits",
)


def seller_snapshot(company: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in SELLER_FIELDS:
        value = getattr(company, name)
        out[name] = str(value) if isinstance(value, Decimal) else value
    return out


def seller_view(seller: dict[str, Any], company: Any) -> Any:
    """An object with the company's attributes as frozen in `seller` (the logo and colour stay live:
    they are presentation, not mentions)."""
    values = dict(seller)
    for name in ("share_capital", "late_penalty_rate"):
        if values.get(name) is not None:
            values[name] = Decimal(values[name])
    values["logo"] = getattr(company, "logo", None)
    values["logo_content_type"] = getattr(company, "logo_content_type", None)
    values["brand_color"] = getattr(company, "brand_color", None)
    return SimpleNamespace(**values)


def buyer_party(buyer: dict[str, Any]) -> mentions.Party:
    return mentions.Party(
        name=buyer.get("name") or "",
        address_lines=tuple(buyer.get("address_lines") or ()),
        siren=buyer.get("siren"),
        vat_number=buyer.get("vat_number"),
        contact_name=buyer.get("contact_name"),
        country=buyer.get("country") or countries.DEFAULT,
    )


def totals_of(invoice: Invoice) -> doc_lines.Totals:
    discount = None
    if invoice.global_discount_percent or invoice.global_discount_amount:
        discount = doc_lines.Discount(
            percent=Decimal(invoice.global_discount_percent) if invoice.global_discount_percent else None,
            amount=Decimal(invoice.global_discount_amount) if invoice.global_discount_amount else None,
        )
    return doc_lines.compute([doc_lines.line_from_dict(d) for d in invoice.lines], discount)


@dataclass(frozen=True)
class Notes:
    """The three mandatory B2B payment notes (france.md §0 item 2, §1.4): PMD, PMT, AAB."""

    penalty: str
    indemnity: str
    escompte: str


def payment_notes(seller: Any) -> Notes:
    found = mentions.payment_mentions(seller, payment_terms.ON_RECEIPT)
    penalty = next(line for line in found if line.startswith("Pénalités de retard"))
    indemnity = next(line for line in found if line.startswith("Indemnité forfaitaire"))
    return Notes(penalty, indemnity, seller.early_payment_discount or mentions.NO_ESCOMPTE)


def document_lines(invoice: Invoice, references: dict[str, Any]) -> list[str]:
    """The mentions particular to this document: what it corrects, what it deposits, its period."""
    out = []
    if invoice.kind == CREDIT_NOTE and references.get("credited"):
        credited = references["credited"]
        out.append(
            f"Avoir sur la facture n° {credited['number']} du {mentions.fr_date(credited['issue_date'])}"
        )
    if invoice.kind == DEPOSIT and invoice.deposit_percent is not None and references.get("quote_number"):
        out.append(
            f"Acompte de {mentions.fr_percent(invoice.deposit_percent)} sur le devis n° "
            f"{references['quote_number']}"
        )
    if invoice.period_start and invoice.period_end:
        out.append(
            f"Période facturée : du {mentions.fr_date(invoice.period_start)} "
            f"au {mentions.fr_date(invoice.period_end)}"
        )
    for deposit in references.get("deposits") or []:
        out.append(
            f"Acompte déjà facturé : facture n° {deposit['number']} du "
            f"{mentions.fr_date(deposit['issue_date'])}, {mentions.fr_money(Decimal(deposit['amount']))} TTC"
        )
    return out


def pdf_context(invoice: Invoice, company: Any, references: dict[str, Any]) -> dict[str, Any]:
    """Everything the PDF template needs; `invoice.parties` holds the frozen seller and buyer."""
    seller = seller_view(invoice.parties["seller"], company)
    totals = totals_of(invoice)
    buyer = buyer_party(invoice.parties.get("buyer") or {})
    found = mentions.invoice_mentions(
        seller,
        buyer,
        due=invoice.due_date,
        terms=invoice.payment_terms,
        exemptions=doc_lines.exemption_reasons([c.line for c in totals.lines]),
        operation_category=invoice.operation_category,
        delivery_address=invoice.delivery_address,
        purchase_order=invoice.purchase_order,
        sale_date=invoice.sale_date,
    )
    found.document = document_lines(invoice, references) + found.document
    return {
        **pdf.base_context(seller, totals),
        "doc_title": TITLES[invoice.kind],
        "doc_number": invoice.number or "BROUILLON",
        "invoice": invoice,
        "issue_date": invoice.issue_date,
        "buyer": buyer,
        "global_discount_percent": invoice.global_discount_percent,
        "mentions": found,
    }


def render_pdf(invoice: Invoice, company: Any, references: dict[str, Any]) -> bytes:
    # PDF/A-3b before factur-x attaches the XML (its writer keeps the output intent): Factur-X
    # is a PDF/A-3 file (france.md §4.3).
    return pdf.render_pdf("invoices/pdf.html", pdf_context(invoice, company, references), "pdf/a-3b")


def _address(lines: list[str], country: str = "FR") -> facturx.Address:
    """A postal address from printed lines: the last "69003 Lyon" line gives postcode and city."""
    lines = [line.strip() for line in lines if line and line.strip()]
    postal_code = city = None
    if lines and (match := POSTCODE_CITY.match(lines[-1])):
        postal_code, city = match.group(1), match.group(2)
        lines = lines[:-1]
    return facturx.Address(
        line1=lines[0] if lines else None,
        line2=", ".join(lines[1:]) or None,
        postal_code=postal_code,
        city=city,
        country=country or "FR",
    )


def _buyer_address(buyer: dict[str, Any]) -> facturx.Address:
    """The buyer's postal address. Snapshots taken since foreign clients are invoiced carry the
    postal code and city apart (a foreign postal code need not be "69003 Lyon"-shaped); older ones
    only the printed lines."""
    country = buyer.get("country") or countries.DEFAULT
    lines = [line for line in buyer.get("address_lines") or [] if line]
    if "city" not in buyer:
        return _address(lines, country)
    if buyer.get("postal_code") or buyer.get("city"):
        lines = lines[:-1]  # the printed "postal code city" line
    return facturx.Address(
        line1=lines[0] if lines else None,
        line2=", ".join(lines[1:]) or None,
        postal_code=buyer.get("postal_code"),
        city=buyer.get("city"),
        country=country,
    )


def facturx_data(invoice: Invoice, references: dict[str, Any]) -> facturx.FacturXInvoice:
    """The Factur-X view of an issued invoice, from its frozen fields. VAT categories come from
    the lines' exemption mentions (documents/exemptions.py); a buyer outside France is flagged
    B2BINT and addressed by the electronic address frozen with it (invoices/facturx.py)."""
    seller = invoice.parties["seller"]
    buyer = invoice.parties.get("buyer") or {}
    totals = totals_of(invoice)
    items = totals.items
    groups = exemptions.vat_groups(totals)

    lines = [
        facturx.Line(
            line_id=str(i),
            name=c.line.description[:500],
            quantity=c.line.quantity,
            unit_price=c.line.unit_price,
            net_amount=c.net,
            vat_rate=c.line.vat_rate,
            vat_category=exemptions.category_of(c.line),
            discount=c.discount,
            seller_reference=c.line.reference,
        )
        for i, c in enumerate(items, start=1)
    ]
    breakdown = [
        facturx.VatBreakdown(
            rate=g.rate,
            base=g.base,
            amount=g.vat,
            category=g.category,
            exemption_reason="; ".join(g.reasons) or None,
            exemption_code=g.code,
        )
        for g in groups
    ]
    allowances = [
        facturx.Allowance(amount=g.discount, vat_rate=g.rate, vat_category=g.category)
        for g in groups
        if g.discount
    ]
    seller_address = _address(
        [
            seller.get("address_line1") or "",
            seller.get("address_line2") or "",
            f"{seller.get('postal_code') or ''} {seller.get('city') or ''}".strip(),
        ],
        seller.get("country") or "FR",
    )
    notes = payment_notes(seller_view(seller, None))
    credited = references.get("credited") or {}
    delivery = None
    if invoice.delivery_address:
        delivery = _address(re.split(r"[\n\r]+", invoice.delivery_address), buyer.get("country") or "FR")
    foreign = not countries.uses_siren(buyer.get("country"))
    extra_notes = [mentions.VAT_ON_DEBITS] if seller.get("vat_on_debits") else []
    return facturx.FacturXInvoice(
        number=invoice.number or "",
        type_code=TYPE_CODES[invoice.kind],
        issue_date=invoice.issue_date or date.today(),
        operation_category=invoice.operation_category,
        seller=facturx.Party(
            name=seller["name"],
            siren=seller.get("siren"),
            vat_number=seller.get("vat_number"),
            address=seller_address,
            electronic_address=seller.get("einvoicing_address") or seller.get("siren"),
        ),
        buyer=facturx.Party(
            name=buyer.get("name") or "",
            siren=None if foreign else buyer.get("siren"),
            vat_number=buyer.get("vat_number"),
            address=_buyer_address(buyer),
            electronic_address=buyer.get("einvoicing_address") or buyer.get("siren"),
            electronic_scheme=buyer.get("einvoicing_scheme") or facturx.SIRENE_ADDRESS_SCHEME,
        ),
        lines=lines,
        vat_breakdown=breakdown,
        allowances=allowances,
        allowance_total=totals.global_discount,
        line_total=totals.lines_net,
        tax_basis_total=totals.total_net,
        tax_total=totals.total_vat,
        grand_total=totals.total_gross,
        prepaid=Decimal(invoice.prepaid_amount or 0),
        due_payable=Decimal(invoice.amount_due),
        final_after_deposit=bool(invoice.deducted_deposit_ids),
        delivery_address=delivery,
        # BT-72: the sale is dated by the invoice unless another date was given (france.md §1.2 item 3)
        delivery_date=invoice.sale_date or invoice.issue_date,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        due_date=invoice.due_date,
        payment_terms=payment_terms.FRENCH_LABELS.get(invoice.payment_terms, invoice.payment_terms),
        iban=seller.get("iban"),
        bic=seller.get("bic"),
        vat_on_debits=bool(seller.get("vat_on_debits")),
        preceding_number=credited.get("number"),
        preceding_date=credited.get("issue_date"),
        purchase_order=invoice.purchase_order,
        penalty_note=notes.penalty,
        indemnity_note=notes.indemnity,
        escompte_note=notes.escompte,
        extra_notes=extra_notes,
        bar_treatment=facturx.B2B_INTERNATIONAL if foreign else facturx.B2B,
    )
