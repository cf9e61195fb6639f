"""Factur-X XML: the official XSD and both schematrons (EN 16931, French CTC) accept what we build,
for an invoice, a credit note and a deposit invoice, and reject what the French rules forbid."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from lxml import etree

from carnet.core.errors import ValidationFailed
from carnet.invoices import facturx
from carnet.invoices.facturx import Address, Allowance, FacturXInvoice, Line, Party, VatBreakdown
from invoices.validation import (
    EN16931_XSLT,
    FR_CTC_XSLT,
    NS,
    all_problems,
    schematron_failures,
    xsd_errors,
)

D = Decimal

SELLER = Party(
    name="Exemple Medical SAS",
    siren="732829320",
    vat_number="FR44732829320",
    address=Address("1 rue Exemple", None, "69003", "Lyon"),
)
BUYER = Party(
    name="Clinique Exemple SA",
    siren="404833048",
    vat_number="FR83404833048",
    address=Address("2 avenue Exemple", None, "75001", "Paris"),
)
NOTES = {
    "penalty_note": "Pénalités de retard : taux annuel de 12,15 %",
    "indemnity_note": "Indemnité forfaitaire pour frais de recouvrement : 40,00 €",
    "escompte_note": "Pas d'escompte pour paiement anticipé",
}


def mixed_invoice(**changes: object) -> FacturXInvoice:
    """Three rates, a line discount, a global discount shared per rate and an exempt line:
    20 %: 2 × 500.00 − 100.00 = 900.00; 5.5 %: 3 × 1.05 = 3.15; 0 % (E): 50.00; lines 953.15."""
    lines = [
        Line("1", "Pompe à perfusion", D("2"), D("500.00"), D("900.00"), D("20.00"), discount=D("100.00")),
        Line("2", "Lancettes", D("3"), D("1.05"), D("3.15"), D("5.50")),
        Line("3", "Formation", D("1"), D("50.00"), D("50.00"), D("0.00"), vat_category="E"),
    ]
    # Global discount 10.00 shared by base: 20 %: 10 × 900/953.15 = 9.44; 5.5 %: 0.03; 0 %: 0.52
    # (0.52 + 0.03 + 9.44 = 9.99, the cent left goes to the largest base, 20 %: 9.45).
    allowances = [
        Allowance(D("9.45"), D("20.00")),
        Allowance(D("0.03"), D("5.50")),
        Allowance(D("0.52"), D("0.00"), "E"),
    ]
    breakdown = [
        VatBreakdown(D("20.00"), D("890.55"), D("178.11")),
        VatBreakdown(D("5.50"), D("3.12"), D("0.17")),
        VatBreakdown(D("0.00"), D("49.48"), D("0.00"), "E", "Exonération de TVA, art. 261-4-4° du CGI"),
    ]
    data: dict[str, object] = dict(
        number="2026-F-0042",
        type_code=facturx.INVOICE,
        issue_date=date(2026, 11, 15),
        operation_category="mixed",
        seller=SELLER,
        buyer=BUYER,
        lines=lines,
        vat_breakdown=breakdown,
        allowances=allowances,
        allowance_total=D("10.00"),
        line_total=D("953.15"),
        tax_basis_total=D("943.15"),
        tax_total=D("178.28"),
        grand_total=D("1121.43"),
        due_payable=D("1121.43"),
        delivery_address=Address("Bloc opératoire, 5 rue de l'Hôpital", None, "69008", "Lyon"),
        delivery_date=date(2026, 11, 10),
        due_date=date(2026, 12, 15),
        payment_terms="Paiement à 30 jours date de facture",
        iban="FR7630006000011234567890189",
        bic="AGRIFRPP",
        vat_on_debits=True,
        purchase_order="BC-1234",
        extra_notes=["Option pour le paiement de la taxe d'après les débits"],
        **NOTES,
    )
    data.update(changes)
    return FacturXInvoice(**data)  # type: ignore[arg-type]


def xpath(xml: bytes, path: str) -> list[str]:
    return [str(v) for v in etree.fromstring(xml).xpath(path, namespaces=NS)]


def test_invoice_passes_the_xsd_and_both_schematrons() -> None:
    xml = facturx.build_xml(mixed_invoice())
    assert all_problems(xml) == {"xsd": [], "en16931": [], "fr_ctc": []}
    # the schematrons did run rules on this document (an empty report proves nothing otherwise)
    assert schematron_failures(xml, EN16931_XSLT)[1] > 50
    assert schematron_failures(xml, FR_CTC_XSLT)[1] > 30


def test_invoice_xml_carries_the_french_mentions() -> None:
    xml = facturx.build_xml(mixed_invoice())
    root = "/rsm:CrossIndustryInvoice"
    assert xpath(
        xml,
        f"{root}/rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID/text()",
    ) == ["urn:cen.eu:en16931:2017"]
    assert xpath(
        xml,
        f"{root}/rsm:ExchangedDocumentContext/ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID/text()",
    ) == ["M1"]
    notes = etree.fromstring(xml).xpath(f"{root}/rsm:ExchangedDocument/ram:IncludedNote", namespaces=NS)
    by_code = {
        n.findtext("ram:SubjectCode", namespaces=NS): n.findtext("ram:Content", namespaces=NS) for n in notes
    }
    assert by_code["PMD"] == NOTES["penalty_note"]
    assert by_code["PMT"] == NOTES["indemnity_note"]
    assert by_code["AAB"] == NOTES["escompte_note"]
    assert by_code["BAR"] == "B2B"
    assert by_code[None] == "Option pour le paiement de la taxe d'après les débits"
    settlement = f"{root}/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
    assert xpath(xml, f"{settlement}/ram:ApplicableTradeTax/ram:DueDateTypeCode/text()") == ["5", "5", "5"]
    assert xpath(xml, f"{settlement}/ram:ApplicableTradeTax/ram:CategoryCode/text()") == ["S", "S", "E"]
    assert xpath(xml, f"{settlement}/ram:ApplicableTradeTax/ram:ExemptionReason/text()") == [
        "Exonération de TVA, art. 261-4-4° du CGI"
    ]
    buyer = f"{root}/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement/ram:BuyerTradeParty"
    assert xpath(xml, f"{buyer}/ram:SpecifiedLegalOrganization/ram:ID[@schemeID='0002']/text()") == [
        "404833048"
    ]
    assert xpath(xml, f"{buyer}/ram:URIUniversalCommunication/ram:URIID[@schemeID='0225']/text()") == [
        "404833048"
    ]
    ship = f"{root}/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeDelivery/ram:ShipToTradeParty"
    assert xpath(xml, f"{ship}/ram:PostalTradeAddress/ram:LineOne/text()") == [
        "Bloc opératoire, 5 rue de l'Hôpital"
    ]
    assert xpath(
        xml,
        f"{settlement}/ram:SpecifiedTradeSettlementPaymentMeans/ram:PayeePartyCreditorFinancialAccount/ram:IBANID/text()",
    ) == ["FR7630006000011234567890189"]
    assert xpath(
        xml,
        f"{settlement}/ram:SpecifiedTradeSettlementPaymentMeans/ram:PayeeSpecifiedCreditorFinancialInstitution/ram:BICID/text()",
    ) == ["AGRIFRPP"]
    assert xpath(
        xml, f"{settlement}/ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString/text()"
    ) == ["20261215"]


def test_without_vat_on_debits_no_vat_point_code() -> None:
    xml = facturx.build_xml(mixed_invoice(vat_on_debits=False, extra_notes=[]))
    assert xpath(xml, "//ram:DueDateTypeCode/text()") == []
    assert all_problems(xml) == {"xsd": [], "en16931": [], "fr_ctc": []}


def test_goods_and_services_codes() -> None:
    for category, code in (("goods", "B1"), ("services", "S1"), ("mixed", "M1")):
        xml = facturx.build_xml(mixed_invoice(operation_category=category))
        assert xpath(xml, "//ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID/text()") == [code]
        assert schematron_failures(xml, FR_CTC_XSLT)[0] == []


def test_credit_note_refers_to_its_invoice() -> None:
    credit = mixed_invoice(
        number="2026-A-0007",
        type_code=facturx.CREDIT_NOTE,
        issue_date=date(2026, 11, 20),
        preceding_number="2026-F-0042",
        preceding_date=date(2026, 11, 15),
    )
    xml = facturx.build_xml(credit)
    assert all_problems(xml) == {"xsd": [], "en16931": [], "fr_ctc": []}
    assert xpath(xml, "//rsm:ExchangedDocument/ram:TypeCode/text()") == ["381"]
    assert xpath(xml, "//ram:InvoiceReferencedDocument/ram:IssuerAssignedID/text()") == ["2026-F-0042"]
    assert xpath(
        xml, "//ram:InvoiceReferencedDocument/ram:FormattedIssueDateTime/qdt:DateTimeString/text()"
    ) == ["20261115"]
    # amounts stay positive: the type code carries the sign (france.md §2.1)
    assert xpath(xml, "//ram:GrandTotalAmount/text()") == ["1121.43"]


def test_credit_note_without_reference_is_refused() -> None:
    with pytest.raises(ValueError):
        facturx.build_xml(mixed_invoice(type_code=facturx.CREDIT_NOTE))


def test_deposit_invoice_and_final_invoice_after_deposit() -> None:
    deposit_line = Line(
        "1", "Acompte de 30 % sur le devis DEV-2026-0001", D("1"), D("300.00"), D("300.00"), D("20.00")
    )
    deposit = mixed_invoice(
        number="2026-F-0043",
        type_code=facturx.DEPOSIT,
        operation_category="goods",
        lines=[deposit_line],
        allowances=[],
        allowance_total=D("0.00"),
        vat_breakdown=[VatBreakdown(D("20.00"), D("300.00"), D("60.00"))],
        line_total=D("300.00"),
        tax_basis_total=D("300.00"),
        tax_total=D("60.00"),
        grand_total=D("360.00"),
        due_payable=D("360.00"),
    )
    xml = facturx.build_xml(deposit)
    assert all_problems(xml) == {"xsd": [], "en16931": [], "fr_ctc": []}
    assert xpath(xml, "//rsm:ExchangedDocument/ram:TypeCode/text()") == ["386"]
    assert xpath(xml, "//ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID/text()") == ["B1"]

    final_line = Line("1", "Pompe à perfusion", D("2"), D("500.00"), D("1000.00"), D("20.00"))
    final = mixed_invoice(
        number="2026-F-0044",
        operation_category="goods",
        final_after_deposit=True,
        lines=[final_line],
        allowances=[],
        allowance_total=D("0.00"),
        vat_breakdown=[VatBreakdown(D("20.00"), D("1000.00"), D("200.00"))],
        line_total=D("1000.00"),
        tax_basis_total=D("1000.00"),
        tax_total=D("200.00"),
        grand_total=D("1200.00"),
        prepaid=D("360.00"),
        due_payable=D("840.00"),
    )
    xml = facturx.build_xml(final)
    assert all_problems(xml) == {"xsd": [], "en16931": [], "fr_ctc": []}
    assert xpath(xml, "//ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID/text()") == ["B4"]
    assert xpath(xml, "//ram:TotalPrepaidAmount/text()") == ["360.00"]
    assert xpath(xml, "//ram:DuePayableAmount/text()") == ["840.00"]


def test_the_schematrons_catch_what_french_rules_forbid() -> None:
    """The checks are live: a number with spaces, a missing PMT note and wrong VAT all fail."""
    good = facturx.build_xml(mixed_invoice())
    bad = (
        good.replace(b"<ram:ID>2026-F-0042</ram:ID>", b"<ram:ID>FA 2026 00042</ram:ID>")
        .replace(b"<ram:SubjectCode>PMT</ram:SubjectCode>", b"<ram:SubjectCode>ZZZ</ram:SubjectCode>")
        .replace(
            b"<ram:CalculatedAmount>178.11</ram:CalculatedAmount>",
            b"<ram:CalculatedAmount>199.11</ram:CalculatedAmount>",
        )
    )
    fr, _ = schematron_failures(bad, FR_CTC_XSLT)
    assert {(f.rule, f.flag) for f in fr} >= {("BR-FR-02_BT-1", "fatal"), ("BR-FR-05_BT-22_PMT", "fatal")}
    en, _ = schematron_failures(bad, EN16931_XSLT)
    assert {f.rule for f in en} >= {"BR-CO-17", "BR-CO-14"}
    assert all(f.flag is None for f in en if f.rule in {"BR-CO-17", "BR-CO-14"})
    assert xsd_errors(good.replace(b"<ram:TypeCode>380</ram:TypeCode>", b"<ram:TypeCod>380</ram:TypeCod>"))


@pytest.mark.parametrize("number", ["FA 2026 00042", "2026-F-0042é", "X" * 36, ""])
def test_invoice_numbers_outside_the_french_limits_are_refused(number: str) -> None:
    with pytest.raises(ValidationFailed):
        facturx.check_number(number)
    with pytest.raises(ValidationFailed):
        facturx.build_xml(mixed_invoice(number=number))


def test_longest_allowed_number_passes() -> None:
    number = "A-Za-z09+_/" + "9" * 24
    assert len(number) == 35
    xml = facturx.build_xml(mixed_invoice(number=number))
    assert schematron_failures(xml, FR_CTC_XSLT)[0] == []


FOREIGN_BUYER = Party(
    name="Cliniques universitaires Saint-Luc ASBL",
    vat_number="BE0403019261",
    address=Address("Avenue Hippocrate 10", None, "1200", "Woluwe-Saint-Lambert", "BE"),
    electronic_address="BE0403019261",
    electronic_scheme="9925",
)


def foreign_invoice(category: str, reason: str, code: str, **changes: object) -> FacturXInvoice:
    """One 0 % line of 1 000.00 to a Belgian business, flagged international B2B."""
    data: dict[str, object] = dict(
        buyer=FOREIGN_BUYER,
        bar_treatment=facturx.B2B_INTERNATIONAL,
        operation_category="goods",
        lines=[Line("1", "Lit médicalisé", D("1"), D("1000.00"), D("1000.00"), D("0.00"), category)],
        vat_breakdown=[VatBreakdown(D("0.00"), D("1000.00"), D("0.00"), category, reason, code)],
        allowances=[],
        allowance_total=D("0.00"),
        line_total=D("1000.00"),
        tax_basis_total=D("1000.00"),
        tax_total=D("0.00"),
        grand_total=D("1000.00"),
        due_payable=D("1000.00"),
        delivery_address=None,
        vat_on_debits=False,
        extra_notes=[],
    )
    data.update(changes)
    return mixed_invoice(**data)


@pytest.mark.parametrize(
    ("category", "reason", "code"),
    [
        ("AE", "Autoliquidation", "VATEX-EU-AE"),
        ("K", "Exonération de TVA, article 262 ter I du CGI", "VATEX-EU-IC"),
        ("G", "Exonération de TVA, article 262 I du CGI", "VATEX-EU-G"),
    ],
)
def test_foreign_buyer_without_siren_passes_the_xsd_and_both_schematrons(category, reason, code) -> None:
    xml = facturx.build_xml(foreign_invoice(category, reason, code))
    assert all_problems(xml) == {"xsd": [], "en16931": [], "fr_ctc": []}
    assert xpath(xml, "//ram:IncludedNote[ram:SubjectCode='BAR']/ram:Content/text()") == ["B2BINT"]
    assert xpath(xml, "//ram:BuyerTradeParty/ram:SpecifiedLegalOrganization") == []
    tax = "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax"
    assert xpath(xml, f"{tax}/ram:ExemptionReason/text()") == [reason]
    assert xpath(xml, f"{tax}/ram:ExemptionReasonCode/text()") == [code]
    # an intra-EU supply names the country delivered to (BR-IC-12): the buyer's, by default
    ship_to = "//ram:ShipToTradeParty/ram:PostalTradeAddress/ram:CountryID/text()"
    assert xpath(xml, ship_to) == (["BE"] if category == "K" else [])


def test_the_rules_that_make_a_foreign_invoice_need_b2bint_and_a_vat_number() -> None:
    """Flagged B2B, a buyer without SIREN breaks the French rules; without its VAT number, reverse
    charge and an intra-EU supply break EN 16931: the issue check refuses both beforehand."""
    as_b2b = facturx.build_xml(
        foreign_invoice("AE", "Autoliquidation", "VATEX-EU-AE", bar_treatment=facturx.B2B)
    )
    fr, _ = schematron_failures(as_b2b, FR_CTC_XSLT)
    assert {f.rule for f in fr} == {"BR-FR-11_BT-47", "BR-FR-21_BT-49"}
    no_vat = Party(
        name="Acme SA",
        address=Address("Rue de la Loi 16", None, "1000", "Bruxelles", "BE"),
        electronic_address="compta@acme.be",
        electronic_scheme=facturx.EMAIL_SCHEME,
    )
    for category, rule in (("AE", "BR-AE-02"), ("K", "BR-IC-02")):
        xml = facturx.build_xml(foreign_invoice(category, "Exonération", None, buyer=no_vat))
        en, _ = schematron_failures(xml, EN16931_XSLT)
        assert rule in {f.rule for f in en}


def test_foreign_buyer_electronic_address() -> None:
    assert facturx.electronic_address("BE", "BE0403019261", ["a@b.be"]) == ("BE0403019261", "9925")
    assert facturx.electronic_address("DK", "DK13585628", ["a@b.dk"]) == ("a@b.dk", "EM")
    assert facturx.electronic_address("CH", None, ["achats@la-tour.ch"]) == ("achats@la-tour.ch", "EM")
    assert facturx.electronic_address("US", None, []) is None
