"""Invoices to clients abroad (issue 4): no SIREN needed, the client is identified by its VAT number
and country (france.md §1.5); 0 % lines declare reverse charge (AE), an intra-EU supply (K) or an
export (G) from their legal mention; the Factur-X XML passes the XSD and both schematrons; the PDF
prints the client's VAT number, country and the mention. The issue check refuses only what cannot
be right, and nothing changes when it does."""

from __future__ import annotations

import pytest
from lxml import etree

from carnet.invoices import facturx
from invoices.test_invoice_pdf import pdf_text
from invoices.validation import NS, all_problems

BELGIAN_VAT = "BE0403019261"  # python-stdnum's test data (be/vat.py)
AUTOLIQUIDATION = "Autoliquidation"
INTRA_EU = "Exonération de TVA, article 262 ter I du CGI"
EXPORT = "Exonération de TVA, article 262 I du CGI"
AGREEMENT = "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement"
SETTLEMENT = "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
BUYER = f"{AGREEMENT}/ram:BuyerTradeParty"


def _org(api, **fields) -> int:
    r = api("alice").post("/api/v1/organisations", json=fields)
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.fixture
def belgian_client(api):
    return _org(
        api,
        name="Clinique Saint-Luc",
        legal_name="Cliniques universitaires Saint-Luc ASBL",
        country="BE",
        vat_number=BELGIAN_VAT,
        address_line1="Avenue Hippocrate 10",
        postal_code="1200",
        city="Woluwe-Saint-Lambert",
    )


@pytest.fixture
def swiss_client(api):
    return _org(
        api,
        name="Hôpital de la Tour",
        country="CH",
        emails=["achats@la-tour.ch"],
        address_line1="Avenue J.-D. Maillard 3",
        postal_code="1217",
        city="Meyrin",
    )


def _line(description: str, price: str, vat_rate: str = "0", reason: str | None = None, **extra) -> dict:
    line = {"description": description, "quantity": "1", "unit_price": price, "vat_rate": vat_rate, **extra}
    if reason:
        line["vat_exemption_reason"] = reason
    return line


def _xml(api, invoice: dict) -> bytes:
    r = api("manager").get(f"/api/v1/invoices/{invoice['id']}/facturx.xml")
    assert r.status_code == 200
    return r.content


def _values(xml: bytes, path: str) -> list[str]:
    return [str(v) for v in etree.fromstring(xml).xpath(path, namespaces=NS)]


def _refused(api, invoice: dict, field: str, code: str) -> None:
    r = api("manager").post(f"/api/v1/invoices/{invoice['id']}/issue", json={})
    assert r.status_code == 422, r.text
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [(field, code)]
    after = api("manager").get(f"/api/v1/invoices/{invoice['id']}").json()
    assert (after["status"], after["number"], after["buyer"]) == ("draft", None, None)


def test_belgian_company_with_reverse_charge_services(make_invoice, issue, api, belgian_client, tmp_path):
    invoice = issue(
        make_invoice(
            organisation_id=belgian_client,
            operation_category="services",
            lines=[
                _line("Maintenance annuelle des pompes", "1200.00", reason=AUTOLIQUIDATION),
                _line("Formation des équipes", "300.00", reason=AUTOLIQUIDATION),
            ],
        )
    )
    assert (invoice["status"], invoice["number"]) == ("issued", "2026-F-0001")
    assert (invoice["total_net"], invoice["total_vat"], invoice["total_gross"]) == (
        "1500.00",
        "0.00",
        "1500.00",
    )
    buyer = invoice["buyer"]
    assert (buyer["country"], buyer["vat_number"], buyer["siren"]) == ("BE", BELGIAN_VAT, None)

    xml = _xml(api, invoice)
    assert all_problems(xml) == {"xsd": [], "en16931": [], "fr_ctc": []}
    # international B2B: no SIREN (BT-47), the VAT number (BT-48) and the country (BT-55)
    assert _values(xml, "//ram:IncludedNote[ram:SubjectCode='BAR']/ram:Content/text()") == ["B2BINT"]
    assert _values(xml, f"{BUYER}/ram:SpecifiedLegalOrganization") == []
    assert _values(xml, f"{BUYER}/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']/text()") == [
        BELGIAN_VAT
    ]
    assert _values(xml, f"{BUYER}/ram:PostalTradeAddress/ram:CountryID/text()") == ["BE"]
    assert _values(xml, f"{BUYER}/ram:PostalTradeAddress/ram:PostcodeCode/text()") == ["1200"]
    assert _values(xml, f"{BUYER}/ram:PostalTradeAddress/ram:CityName/text()") == ["Woluwe-Saint-Lambert"]
    # BT-49: the Belgian VAT number under its EAS scheme
    assert _values(xml, f"{BUYER}/ram:URIUniversalCommunication/ram:URIID/@schemeID") == ["9925"]
    assert _values(xml, f"{BUYER}/ram:URIUniversalCommunication/ram:URIID/text()") == [BELGIAN_VAT]
    # reverse charge on every line and in the one breakdown, with its text and VATEX code
    assert _values(
        xml, "//ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode/text()"
    ) == [
        "AE",
        "AE",
    ]
    tax = f"{SETTLEMENT}/ram:ApplicableTradeTax"
    assert _values(xml, f"{tax}/ram:CategoryCode/text()") == ["AE"]
    assert _values(xml, f"{tax}/ram:ExemptionReason/text()") == [AUTOLIQUIDATION]
    assert _values(xml, f"{tax}/ram:ExemptionReasonCode/text()") == ["VATEX-EU-AE"]
    assert _values(xml, f"{tax}/ram:BasisAmount/text()") == ["1500.00"]
    assert _values(xml, "//ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID/text()") == ["S1"]

    pdf = api("manager").get(f"/api/v1/invoices/{invoice['id']}/pdf").content
    assert facturx.extract_xml(pdf) == xml
    text = pdf_text(pdf, tmp_path)
    for expected in (
        "Cliniques universitaires Saint-Luc ASBL",
        "Avenue Hippocrate 10",
        "1200 Woluwe-Saint-Lambert",
        "Belgique",
        f"N° TVA {BELGIAN_VAT}",
        AUTOLIQUIDATION,
        "N° TVA intracommunautaire FR44732829320",
        "Total TTC 1 500,00 €",
    ):
        assert expected in text, expected
    assert "SIREN du client" not in text


def test_goods_services_and_french_vat_for_one_belgian_client(make_invoice, issue, api, belgian_client):
    """An intra-EU supply of goods (K), installation under reverse charge (AE) and a line the user
    kept at 20 %, with a global discount shared between them: one breakdown per category, the
    bases adding up exactly, and the country delivered to named for the intra-EU supply."""
    invoice = issue(
        make_invoice(
            organisation_id=belgian_client,
            operation_category="mixed",
            global_discount_amount="100.00",
            lines=[
                _line("Lit médicalisé", "2000.00", reason=INTRA_EU, quantity="2"),
                _line("Installation", "500.00", reason=AUTOLIQUIDATION),
                _line("Frais de dossier", "100.00", vat_rate="20"),
            ],
        )
    )
    # nets: K 4000, AE 500, S 100 (4600); discount 100: S 2.17, 0 % 97.83 -> K 86.96, AE 10.87
    assert (invoice["total_net"], invoice["total_vat"], invoice["total_gross"]) == (
        "4500.00",
        "19.57",
        "4519.57",
    )
    xml = _xml(api, invoice)
    assert all_problems(xml) == {"xsd": [], "en16931": [], "fr_ctc": []}
    tax = f"{SETTLEMENT}/ram:ApplicableTradeTax"
    assert _values(xml, f"{tax}/ram:CategoryCode/text()") == ["S", "AE", "K"]
    assert _values(xml, f"{tax}/ram:BasisAmount/text()") == ["97.83", "489.13", "3913.04"]
    assert _values(xml, f"{tax}/ram:ExemptionReasonCode/text()") == ["VATEX-EU-AE", "VATEX-EU-IC"]
    assert _values(xml, f"{tax}/ram:ExemptionReason/text()") == [AUTOLIQUIDATION, INTRA_EU]
    allowances = f"{SETTLEMENT}/ram:SpecifiedTradeAllowanceCharge"
    assert _values(xml, f"{allowances}/ram:CategoryTradeTax/ram:CategoryCode/text()") == ["S", "AE", "K"]
    assert _values(xml, f"{allowances}/ram:ActualAmount/text()") == ["2.17", "10.87", "86.96"]
    ship_to = "//ram:ApplicableHeaderTradeDelivery/ram:ShipToTradeParty/ram:PostalTradeAddress"
    assert _values(xml, f"{ship_to}/ram:CountryID/text()") == ["BE"]


def test_export_to_a_swiss_client_without_vat_number(make_invoice, issue, api, swiss_client, tmp_path):
    invoice = issue(
        make_invoice(
            organisation_id=swiss_client,
            operation_category="goods",
            lines=[_line("Pompe à perfusion", "900.00", reason=EXPORT, quantity="3")],
        )
    )
    assert invoice["status"] == "issued" and invoice["total_gross"] == "2700.00"
    xml = _xml(api, invoice)
    assert all_problems(xml) == {"xsd": [], "en16931": [], "fr_ctc": []}
    tax = f"{SETTLEMENT}/ram:ApplicableTradeTax"
    assert _values(xml, f"{tax}/ram:CategoryCode/text()") == ["G"]
    assert _values(xml, f"{tax}/ram:ExemptionReasonCode/text()") == ["VATEX-EU-G"]
    assert _values(xml, f"{BUYER}/ram:SpecifiedTaxRegistration") == []
    assert _values(xml, f"{BUYER}/ram:PostalTradeAddress/ram:CountryID/text()") == ["CH"]
    # no VAT number: the client's email address is its electronic address (scheme EM)
    assert _values(xml, f"{BUYER}/ram:URIUniversalCommunication/ram:URIID/@schemeID") == ["EM"]
    assert _values(xml, f"{BUYER}/ram:URIUniversalCommunication/ram:URIID/text()") == ["achats@la-tour.ch"]
    text = pdf_text(api("manager").get(f"/api/v1/invoices/{invoice['id']}/pdf").content, tmp_path)
    assert "Suisse" in text and EXPORT in text and "1217 Meyrin" in text


def test_french_vat_for_a_foreign_client_stays_the_users_choice(make_invoice, issue, api, belgian_client):
    """Services tied to a building in France, goods that stay in France...: a foreign client may
    owe French VAT, so a 20 % invoice is issued as it is."""
    invoice = issue(
        make_invoice(organisation_id=belgian_client, lines=[_line("Audit du bloc de Lyon", "1000.00", "20")])
    )
    xml = _xml(api, invoice)
    assert invoice["total_gross"] == "1200.00"
    assert all_problems(xml) == {"xsd": [], "en16931": [], "fr_ctc": []}
    assert _values(xml, f"{SETTLEMENT}/ram:ApplicableTradeTax/ram:CategoryCode/text()") == ["S"]


def test_a_french_client_without_siren_is_still_refused(make_invoice, api):
    org = _org(api, name="Sans SIREN", vat_number="FR44732829320")
    _refused(api, make_invoice(organisation_id=org), "organisation_id", "client_siren_required")


def test_a_client_abroad_needs_a_vat_number_or_an_email(make_invoice, api):
    org = _org(api, name="Hospital of Boston", country="US")
    invoice = make_invoice(organisation_id=org, lines=[_line("Lit", "100.00", reason=EXPORT)])
    _refused(api, invoice, "organisation_id", "client_address_required")


def test_intra_eu_supply_only_to_another_eu_country(make_invoice, api, swiss_client, client_org):
    for org in (swiss_client, client_org):
        invoice = make_invoice(organisation_id=org, lines=[_line("Lit", "100.00", reason=INTRA_EU)])
        _refused(api, invoice, "lines.0.vat_exemption_reason", "intra_eu_client_outside_eu")


def test_intra_eu_supply_and_reverse_charge_need_the_clients_vat_number(make_invoice, api):
    org = _org(api, name="Acme SA", country="BE", emails=["compta@acme.be"])
    for reason in (INTRA_EU, AUTOLIQUIDATION):
        invoice = make_invoice(organisation_id=org, lines=[_line("Lit", "100.00", reason=reason)])
        _refused(api, invoice, "organisation_id", "client_vat_required")


def test_exemptions_need_the_companys_vat_number(make_invoice, api, belgian_client):
    r = api("admin").put("/api/v1/settings/company", json={"vat_number": None})
    assert r.status_code == 200, r.text
    invoice = make_invoice(
        organisation_id=belgian_client, lines=[_line("Maintenance", "100.00", reason=AUTOLIQUIDATION)]
    )
    _refused(api, invoice, "company", "company_vat_required")


def test_deposit_from_a_quote_keeps_each_exemption(api, issue, company, belgian_client):
    """A deposit invoice pays part of each category: one line per exemption, each with its
    mention, so the deposit declares the same codes as the quote it pays for."""
    alice = api("alice")
    quote = alice.post(
        "/api/v1/quotes",
        json={
            "organisation_id": belgian_client,
            "title": "Équipement et installation",
            "operation_category": "mixed",
            "lines": [
                _line("Lit médicalisé", "2000.00", reason=INTRA_EU),
                _line("Installation", "500.00", reason=AUTOLIQUIDATION),
            ],
        },
    ).json()
    assert (
        alice.post(f"/api/v1/quotes/{quote['id']}/send", json={"to": "achats@saintluc.be"}).status_code == 200
    )
    assert (
        alice.post(f"/api/v1/quotes/{quote['id']}/accept", json={"signer_name": "Dr Peeters"}).status_code
        == 200
    )
    r = api("manager").post("/api/v1/invoices", json={"quote_id": quote["id"], "deposit_percent": "30"})
    assert r.status_code == 201, r.text
    lines = [(line["unit_price"], line["vat_exemption_reason"]) for line in r.json()["lines"]]
    assert lines == [("150.00", AUTOLIQUIDATION), ("600.00", INTRA_EU)]
    deposit = issue(r.json())
    xml = _xml(api, deposit)
    assert all_problems(xml) == {"xsd": [], "en16931": [], "fr_ctc": []}
    assert _values(xml, f"{SETTLEMENT}/ram:ApplicableTradeTax/ram:CategoryCode/text()") == ["AE", "K"]
    assert _values(xml, "//rsm:ExchangedDocument/ram:TypeCode/text()") == ["386"]


def test_the_editor_offers_the_standard_mentions(make_invoice, web, belgian_client):
    draft = make_invoice(organisation_id=belgian_client)
    page = web("manager").get(f"/invoices/{draft['id']}")
    assert 'list="vat-exemption-mentions"' in page.text
    for mention in (AUTOLIQUIDATION, INTRA_EU, EXPORT):
        assert f'<option value="{mention}">' in page.text


def test_draft_preview_prints_the_clients_country(make_invoice, api, belgian_client, tmp_path):
    draft = make_invoice(
        organisation_id=belgian_client, lines=[_line("Maintenance", "100.00", reason=AUTOLIQUIDATION)]
    )
    text = pdf_text(api("manager").get(f"/api/v1/invoices/{draft['id']}/pdf").content, tmp_path)
    assert "BROUILLON" in text and "Belgique" in text and f"N° TVA {BELGIAN_VAT}" in text
