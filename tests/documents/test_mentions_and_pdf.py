"""Legal mentions built from the company, and the PDF base layout (pdftotext reads them back)."""

from __future__ import annotations

import subprocess
from datetime import date
from decimal import Decimal as D

from pypdf import PdfReader

from carnet.company.models import Company
from carnet.documents import lines, mentions, pdf
from carnet.documents.lines import LineInput

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


def company(**extra) -> Company:
    values = dict(
        name="Médicalis",
        legal_form="SAS",
        share_capital=D("50000"),
        siren="732829320",
        siret="73282932000074",
        rcs_city="Lyon",
        vat_number="FR44732829320",
        address_line1="12 rue de la République",
        postal_code="69002",
        city="Lyon",
        iban="FR7630006000011234567890189",
        bic="BNPAFRPPXXX",
        late_penalty_rate=D("12.15"),
        early_payment_discount=None,
        brand_color="#0a7d5a",
        vat_on_debits=True,
        operation_category="goods",
        legal_footer="Membre d'une association agréée",
        naf_code=None,
        email=None,
        phone=None,
        address_line2=None,
        logo=PNG,
        logo_content_type="image/png",
    )
    values.update(extra)
    return Company(**values)


BUYER = mentions.Party(
    name="CHU de Grenoble",
    address_lines=("Boulevard de la Chantourne", "38700 La Tronche"),
    siren="356000000",
)


def test_quote_mentions():
    m = mentions.quote_mentions(
        company(),
        BUYER,
        valid_until=date(2026, 12, 21),
        terms="45_days_eom",
        exemptions=["Exonération de TVA, art. 262 ter I du CGI"],
        deposit_percent=D("30"),
        execution_date=date(2027, 1, 15),
        delivery_address="Bâtiment B, 38700 La Tronche",
    )
    assert m.seller_legal == [
        "Médicalis, SAS au capital de 50\u202f000,00\xa0€",
        "RCS Lyon 732 829 320",
        "SIRET 73282932000074",
        "N° TVA intracommunautaire FR44732829320",
    ]
    assert m.document == [
        "Devis valable jusqu'au 21/12/2026",
        "Acompte à la commande : 30 % du montant TTC",
        "Date de livraison ou d'exécution : 15/01/2027",
    ]
    assert m.payment[0] == "Conditions de paiement : 45 jours fin de mois"
    assert m.payment[1] == "Pas d'escompte pour paiement anticipé"
    assert m.payment[2].startswith("Pénalités de retard : taux annuel de 12,15 %")
    assert "40,00\xa0€" in m.payment[3]
    assert m.reform == [
        "SIREN du client : 356 000 000",
        "Adresse de livraison : Bâtiment B, 38700 La Tronche",
        "Nature de l'opération : Livraison de biens",
        "Option pour le paiement de la taxe d'après les débits",
    ]
    assert m.exemptions == ["Exonération de TVA, art. 262 ter I du CGI"]


def test_invoice_mentions_carry_the_due_date_and_order_number():
    m = mentions.invoice_mentions(
        company(vat_on_debits=False, early_payment_discount="Escompte de 2 % pour paiement sous 8 jours"),
        BUYER,
        due=date(2026, 3, 16),
        terms="60_days",
        exemptions=[],
        purchase_order="BC-2026-118",
    )
    assert "Date d'échéance : 16/03/2026" in m.payment
    assert "Escompte de 2 % pour paiement sous 8 jours" in m.payment
    assert m.document == ["Bon de commande n° BC-2026-118"]
    assert mentions.VAT_ON_DEBITS not in m.reform


def _text(data: bytes, tmp_path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_pdf_repeats_the_header_and_numbers_every_page(tmp_path):
    many = [
        LineInput(description=f"Article {i}", quantity=D(1), unit_price=D("10"), vat_rate=D("20"))
        for i in range(120)
    ]
    totals = lines.compute(many)
    co = company()
    context = {
        **pdf.base_context(co, totals),
        "doc_title": "Devis",
        "doc_number": "DEV-2026-0042",
        "mentions": mentions.quote_mentions(
            co, BUYER, valid_until=date(2026, 12, 21), terms="30_days", exemptions=[]
        ),
    }
    html_template = "documents/_test_document.html"
    data = pdf.render_pdf(html_template, context)
    reader = PdfReader(__import__("io").BytesIO(data))
    pages = len(reader.pages)
    assert pages >= 3
    text = _text(data, tmp_path)
    page_texts = text.split("\f")[:pages]
    for number, page in enumerate(page_texts, start=1):
        assert f"Page {number} / {pages}" in page
        assert "Désignation" in page  # the table header is repeated
        if number > 1:
            assert "Devis DEV-2026-0042" in page  # the number on every page
    assert "Total TTC" in page_texts[-1] and "Article 119" in page_texts[-1]  # totals never alone
    assert "1\u202f440,00 €" in text or "1 440,00 €" in text
    assert "Médicalis, SAS au capital de 50" in text
