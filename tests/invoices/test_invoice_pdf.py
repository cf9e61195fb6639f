"""The issued PDF (pdftotext) carries every mandatory mention of a French B2B invoice
(france.md §1.2, §1.4, §1.5), and its amounts are the amounts of the embedded Factur-X XML."""

from __future__ import annotations

import re
import subprocess
from decimal import Decimal

from lxml import etree

from carnet.documents.mentions import fr_money
from carnet.invoices import facturx
from invoices.validation import NS


def pdf_text(content: bytes, tmp_path) -> str:
    path = tmp_path / "invoice.pdf"
    path.write_bytes(content)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(text.replace("\u202f", " ").replace("\xa0", " ").split())


def money(value: str) -> str:
    return " ".join(fr_money(Decimal(value)).replace("\u202f", " ").replace("\xa0", " ").split())


def test_pdf_carries_every_mandatory_invoice_mention(make_invoice, issue, api, tmp_path):
    r = api("admin").put("/api/v1/settings/company", json={"vat_on_debits": True, "naf_code": "4646Z"})
    assert r.status_code == 200, r.text
    invoice = issue(
        make_invoice(
            delivery_address="Pavillon B, 12 avenue des Alpes\n38700 La Tronche",
            purchase_order="BC-2026-118",
            sale_date="2026-11-18",
            operation_category="mixed",
            lines=[
                {
                    "description": "Lit médicalisé",
                    "quantity": "2",
                    "unit_price": "1250.00",
                    "vat_rate": "5.5",
                },
                {"description": "Installation", "quantity": "1", "unit_price": "180", "vat_rate": "20"},
                {
                    "description": "Formation du personnel",
                    "quantity": "1",
                    "unit_price": "300",
                    "vat_rate": "0",
                    "vat_exemption_reason": "Exonération de TVA, art. 261-4-4° du CGI",
                },
            ],
        )
    )
    text = pdf_text(api("manager").get(f"/api/v1/invoices/{invoice['id']}/pdf").content, tmp_path)
    expected = [
        # §1.2 1-2: the word, the date, the number
        "FACTURE",
        "N° 2026-F-0001",
        "Date 21/11/2026",
        # §1.2 3: date of the sale when it differs
        "Date de la vente ou de la prestation : 18/11/2026",
        # §1.2 4-5: seller identity and identifiers
        "Médicalis, SAS au capital de 50 000,00 €",
        "RCS Lyon 732 829 320",
        "SIRET 73282932000074",
        "N° TVA intracommunautaire FR44732829320",
        "12 rue de la République",
        # §1.2 6-7: buyer identity, address and VAT number
        "CHU de Grenoble",
        "Boulevard de la Chantourne",
        "38700 La Tronche",
        "N° TVA FR39356000000",
        # §1.2 8: purchase order
        "Bon de commande n° BC-2026-118",
        # §1.2 9: lines with quantity, unit price, VAT rate (pdftotext reads the cells in two runs)
        "Désignation Qté PU HT Lit médicalisé 2 Installation Formation du personnel",
        "1 250,00 € 5,5 % 2 500,00 € 1 180,00 € 20 % 180,00 € 1 300,00 € 0% 300,00 €",
        # §1.2 10: totals per rate and totals
        "Total HT 2 980,00 €",
        "TVA 5,5 % 137,50 €",
        "TVA 20 % 36,00 €",
        "Total TTC 3 153,50 €",
        # §1.2 11: due date and payment conditions
        "Conditions de paiement : 30 jours à compter de la date de facture",
        "Date d'échéance : 21/12/2026",
        # §1.2 12-14, §1.4: escompte, penalty rate, 40 € indemnity
        "Pas d'escompte pour paiement anticipé",
        "Pénalités de retard : taux annuel de 12,15 %",
        "Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement : 40,00 €",
        # §1.2 15: exemption wording
        "Exonération de TVA, art. 261-4-4° du CGI",
        # §1.5: client SIREN, delivery address, nature of the operation, VAT on debits
        "SIREN du client : 356 000 000",
        "Adresse de livraison : Pavillon B, 12 avenue des Alpes 38700 La Tronche",
        "Nature de l'opération : Livraison de biens et prestation de services",
        "Option pour le paiement de la taxe d'après les débits",
        # bank details
        "IBAN FR7630006000011234567890189",
    ]
    missing = [m for m in expected if m not in text]
    assert missing == [], text


def test_xml_amounts_equal_the_pdf_amounts(make_invoice, issue, api, tmp_path):
    invoice = issue(make_invoice(global_discount_percent="5"))
    pdf = api("manager").get(f"/api/v1/invoices/{invoice['id']}/pdf").content
    text = pdf_text(pdf, tmp_path)
    root = etree.fromstring(facturx.extract_xml(pdf))
    summation = root.xpath("//ram:SpecifiedTradeSettlementHeaderMonetarySummation", namespaces=NS)[0]

    def amount(name: str) -> str:
        return summation.findtext(f"ram:{name}", namespaces=NS)

    assert (amount("LineTotalAmount"), amount("AllowanceTotalAmount")) == ("3241.00", "162.05")
    assert (amount("TaxBasisTotalAmount"), amount("TaxTotalAmount")) == ("3078.95", "305.85")
    assert amount("GrandTotalAmount") == "3384.80" == invoice["total_gross"]
    assert f"Total des lignes HT {money(amount('LineTotalAmount'))}" in text
    assert f"Remise globale (5 %) − {money(amount('AllowanceTotalAmount'))}" in text
    assert f"Total HT {money(amount('TaxBasisTotalAmount'))}" in text
    assert f"Total TTC {money(amount('GrandTotalAmount'))}" in text
    for tax in root.xpath("//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", namespaces=NS):
        rate = Decimal(tax.findtext("ram:RateApplicablePercent", namespaces=NS))
        vat = tax.findtext("ram:CalculatedAmount", namespaces=NS)
        base = tax.findtext("ram:BasisAmount", namespaces=NS)
        label = f"{rate.normalize():f}".replace(".", ",") + " %"
        assert f"TVA {label} {money(vat)}" in text
        assert re.search(rf"{re.escape(label)} {re.escape(money(base))} {re.escape(money(vat))}", text)
    due = root.xpath(
        "//ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString/text()", namespaces=NS
    )
    assert due == ["20261221"] and "Date d'échéance : 21/12/2026" in text


def test_final_invoice_pdf_shows_the_deposit_and_net_to_pay(accepted_quote, issue, api, tmp_path):
    deposit = (
        api("manager")
        .post("/api/v1/invoices", json={"quote_id": accepted_quote["id"], "deposit_percent": "30"})
        .json()
    )
    deposit = issue(deposit)
    deposit_text = pdf_text(api("manager").get(f"/api/v1/invoices/{deposit['id']}/pdf").content, tmp_path)
    assert "FACTURE D'ACOMPTE" in deposit_text
    assert f"Acompte de 30 % sur le devis n° {accepted_quote['number']}" in deposit_text
    final = issue(api("manager").post("/api/v1/invoices", json={"quote_id": accepted_quote["id"]}).json())
    text = pdf_text(api("manager").get(f"/api/v1/invoices/{final['id']}/pdf").content, tmp_path)
    assert f"Acompte déjà facturé : facture n° 2026-F-0001 du 21/11/2026, {money('1068.89')} TTC" in text
    assert f"Acomptes déjà facturés TTC − {money('1068.89')}" in text
    assert f"Net à payer TTC {money('2494.06')}" in text


def test_credit_note_pdf_refers_to_the_invoice(make_invoice, issue, api, tmp_path):
    invoice = issue(make_invoice())
    credit = (
        api("manager").post(f"/api/v1/invoices/{invoice['id']}/credit-notes", json={"issue": True}).json()
    )
    text = pdf_text(api("manager").get(f"/api/v1/invoices/{credit['id']}/pdf").content, tmp_path)
    assert "AVOIR" in text and "N° 2026-A-0001" in text
    assert "Avoir sur la facture n° 2026-F-0001 du 21/11/2026" in text
    assert "Pénalités de retard" in text and "40,00 €" in text


def test_issued_pdf_has_the_pdfa3_structure_factur_x_needs(make_invoice, issue, api):
    """What a PDF/A-3b validator checks first, read with pypdf: the PDF/A identification in the
    XMP metadata, the sRGB output intent its colours refer to, every font embedded, the Factur-X
    XML attached as an associated file (/AF, AFRelationship, MIME type), a file identifier, and no
    encryption, JavaScript or launch action (ISO 19005-3 §6)."""
    from io import BytesIO

    from pypdf import PdfReader
    from pypdf.generic import IndirectObject

    invoice = issue(make_invoice())
    content = api("admin").get(f"/api/v1/invoices/{invoice['id']}/pdf").content
    reader = PdfReader(BytesIO(content))
    assert not reader.is_encrypted
    root = reader.trailer["/Root"]
    xmp = root["/Metadata"].get_object().get_data().decode()
    assert re.search(r"pdfaid:part(>|=\")3", xmp) and re.search(r"pdfaid:conformance(>|=\")B", xmp)
    assert "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#" in xmp  # the Factur-X extension schema
    intents = [i.get_object() for i in root["/OutputIntents"]]
    assert any(i["/S"] == "/GTS_PDFA1" and "/DestOutputProfile" in i for i in intents)
    assert len(reader.trailer["/ID"]) == 2
    assert "/JavaScript" not in root.get("/Names", {}) and "/OpenAction" not in root

    def fonts(resources) -> list:  # type: ignore[no-untyped-def]
        found = []
        for font in (resources.get("/Font") or {}).values():
            font = font.get_object()
            found += [d.get_object() for d in font.get("/DescendantFonts", [])] or [font]
        return found

    page_fonts = [f for page in reader.pages for f in fonts(page["/Resources"])]
    assert page_fonts
    for font in page_fonts:
        descriptor = font["/FontDescriptor"].get_object()
        assert {"/FontFile", "/FontFile2", "/FontFile3"} & set(descriptor), font["/BaseFont"]
    attached = [a.get_object() for a in root["/AF"]]
    assert [(a["/F"], a["/AFRelationship"]) for a in attached] == [("factur-x.xml", "/Data")]
    stream = attached[0]["/EF"]["/F"].get_object()
    assert stream["/Subtype"] == "/text#2Fxml" or stream["/Subtype"] == "/text/xml"
    assert isinstance(root["/AF"][0], IndirectObject)
