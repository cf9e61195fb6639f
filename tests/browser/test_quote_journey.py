"""Build a quote, send it, and sign it on the public page on a phone: company settings, a
catalogue product, the editor (catalogue picker, live totals, a section, drag-and-drop), the send
dialog, then the client's page in a phone viewport (typed name, drawn signature, consent). The
quote is accepted and its deal won; then it is invoiced and issued (Factur-X PDF and XML). The
client pays by transfer, recorded on the invoice page, which turns paid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from screenshots import shot

pytestmark = pytest.mark.browser


def build_and_send_quote(page) -> tuple[int, int, str]:  # type: ignore[no-untyped-def]
    """Returns (quote id, deal id, public link)."""
    page.goto("/settings/company")
    page.fill("#f-name", "Médicalis")
    page.fill("#f-legal_form", "SAS")
    page.fill("#f-share_capital", "50 000")
    page.fill("#f-siren", "732 829 320")
    page.fill("#f-rcs_city", "Lyon")
    page.fill("#f-vat_number", "FR44732829320")
    page.fill("#f-address_line1", "12 rue de la République")
    page.fill("#f-postal_code", "69002")
    page.fill("#f-city", "Lyon")
    page.click("form.form.stack button[type=submit]")
    page.wait_for_url(re.compile(r"/settings/company$"))
    assert "732829320" in page.input_value("#f-siren")

    page.goto("/products/new")
    page.fill("#f-name", "Lit médicalisé électrique")
    page.fill("#f-reference", "LIT-E1")
    page.fill("#f-unit_price", "1 250,00")
    page.select_option("#f-vat_rate", "5.50")
    page.click("form.form button[type=submit]")
    page.wait_for_url(re.compile(r"/products$"))

    page.goto("/organisations/new")
    page.fill("#f-name", "Clinique des Alpes")
    page.fill("#f-city", "Grenoble")
    page.click("form.form button[type=submit]")
    page.wait_for_url(re.compile(r"/organisations/\d+$"))
    org_id = int(page.url.rsplit("/", 1)[1])
    page.goto(f"/contacts/new?organisation_id={org_id}")
    page.fill("#f-first_name", "Claire")
    page.fill("#f-last_name", "Dumas")
    page.fill("#f-emails", "claire.dumas@clinique-alpes.fr")
    page.click("form.form button[type=submit]")
    page.wait_for_url(re.compile(r"/contacts/\d+$"))
    contact_id = int(page.url.rsplit("/", 1)[1])
    page.goto(f"/deals/new?organisation_id={org_id}")
    page.fill("#f-title", "Équipement chambres Alpes")
    page.select_option("#f-pipeline_id", label="Ventes B2B")
    page.click("form.form button[type=submit]")
    page.wait_for_url(re.compile(r"/deals/\d+$"))
    deal_id = int(page.url.rsplit("/", 1)[1])

    page.goto(f"/quotes/new?organisation_id={org_id}&contact_id={contact_id}&deal_id={deal_id}")
    page.fill("#f-title", "Équipement de 4 chambres")
    page.click("form.form button[type=submit]")
    page.wait_for_url(re.compile(r"/quotes/\d+$"))
    quote_id = int(page.url.rsplit("/", 1)[1])

    # A line from the catalogue, a free line, a section moved to the top by drag-and-drop.
    page.fill('[data-testid="product-search"]', "lit-e")
    page.locator("[data-product]").first.click()
    rows = page.locator("#document-lines tr.line-row")
    assert rows.count() == 1
    assert rows.first.locator('[name="line_description"]').input_value() == "Lit médicalisé électrique"
    rows.first.locator('[name="line_quantity"]').fill("4")
    page.click('[data-add-line="item"]')
    free = rows.nth(1)
    free.locator('[name="line_description"]').fill("Installation et formation")
    free.locator('[name="line_unit_price"]').fill("300")
    page.click('[data-add-line="section"]')
    rows.nth(2).locator('[name="line_description"]').fill("Chambres 101 à 104")
    handle = rows.nth(2).locator(".drag-handle")
    target = rows.nth(0)
    handle.scroll_into_view_if_needed()
    a, b = handle.bounding_box(), target.bounding_box()
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.wait_for_timeout(50)
    for step in range(1, 31):  # a person's drag: small moves, up to the first row's top edge
        page.mouse.move(
            a["x"] + a["width"] / 2, a["y"] + a["height"] / 2 - step * (a["y"] - b["y"] + 20) / 30
        )
        page.wait_for_timeout(15)
    page.mouse.up()
    assert rows.first.get_attribute("data-kind") == "section"
    # 4 × 1250 = 5000 at 5.5 % (275) + 300 at 20 % (60): 5 635,00 € incl. VAT, recomputed live
    gross = page.locator('#document-totals [data-total="gross"]')
    page.wait_for_function(
        "document.querySelector('#document-totals [data-total=\"gross\"]').innerText.includes('5\u202f635,00')"
    )
    shot(page, "quote-editor")
    page.click('[data-testid="save-quote"]')
    page.wait_for_url(re.compile(rf"/quotes/{quote_id}$"))
    assert "5\u202f635,00" in gross.inner_text()
    assert page.locator("#document-lines tr.line-row").first.get_attribute("data-kind") == "section"

    page.click("[data-open-dialog=send-dialog]")
    assert page.input_value("#send-dialog #f-to") == "claire.dumas@clinique-alpes.fr"
    shot(page, "quote-send-dialog")
    page.click('[data-testid="send-quote"]')
    link = page.locator('[data-testid="public-link"] a')
    link.wait_for()
    assert page.locator('[data-testid="quote-status"]').inner_text() == "Envoyé"
    return quote_id, deal_id, link.get_attribute("href") or ""


def test_build_send_and_sign_a_quote_on_a_phone(page, browser, login, live_server):  # type: ignore[no-untyped-def]
    login(page)
    quote_id, deal_id, url = build_and_send_quote(page)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/q/[A-Za-z0-9_-]{43,}", url)

    phone = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="fr-FR",
    )
    client = phone.new_page()
    client.goto(url.replace("http://127.0.0.1:8000", live_server))
    assert "Devis" in client.locator("h1").inner_text()
    width = client.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing wider than the phone
    client.click('[data-testid="sign"]')  # nothing filled in: the errors show next to the fields
    assert client.locator('[data-error-for="signer_name"]').is_visible()
    assert client.locator('[data-error-for="signature"]').is_visible()
    client.fill("#f-signer_name", "Claire Dumas")
    pad = client.locator('[data-testid="signature-pad"]')
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    client.mouse.move(box["x"] + 30, box["y"] + 120)
    client.mouse.down()
    for step in range(1, 20):
        client.mouse.move(box["x"] + 30 + step * 14, box["y"] + 120 - (step % 5) * 15)
    client.mouse.up()
    client.check('input[name="consent"]')
    shot(client, "quote-public-phone")
    client.click('[data-testid="sign"]')
    client.locator('[data-testid="signed"]').wait_for()
    shot(client, "quote-signed-phone")
    phone.close()

    page.goto(f"/quotes/{quote_id}")
    assert page.locator('[data-testid="quote-status"]').inner_text() == "Accepté"
    assert "Claire Dumas" in page.locator('[data-testid="signature"]').inner_text()
    signed = page.request.get(f"/quotes/{quote_id}/signed.pdf")
    assert signed.status == 200 and signed.body()[:4] == b"%PDF"
    page.goto(f"/deals/{deal_id}")
    assert "Gagn" in page.content()  # the deal moved to the won stage

    # The accepted quote becomes an invoice: the client gets its SIREN (a mandatory mention),
    # the whole quote is invoiced, issued, and the invoice is then read-only with its Factur-X.
    page.goto(f"/quotes/{quote_id}")
    org_href = page.locator('.page-header a[href^="/organisations/"]').first.get_attribute("href")
    page.goto(f"{org_href}/edit")
    page.fill("#f-siren", "356000000")
    page.click("form.form button[type=submit]")
    page.wait_for_url(re.compile(r"/organisations/\d+$"))
    page.goto("/invoices/new")
    page.select_option('[data-testid="quote-choice"]', str(quote_id))
    page.locator("form.detail-side button[type=submit]").click()
    page.wait_for_url(re.compile(r"/invoices/\d+$"))
    assert page.locator('[data-testid="invoice-status"]').inner_text() == "Brouillon"
    assert "5\u202f635,00" in page.locator('[data-testid="invoice-totals"]').inner_text()
    shot(page, "invoice-draft-editor")
    page.click('[data-testid="issue"]')
    page.wait_for_url(re.compile(r"/invoices/\d+$"))
    assert page.locator('[data-testid="invoice-status"]').inner_text() == "Émise"
    assert re.search(r"\d{4}-F-0001", page.locator("h1").inner_text())
    assert page.locator('[data-testid="issue"]').count() == 0
    assert page.locator('[data-testid="save-invoice"]').count() == 0
    shot(page, "invoice-issued")
    invoice_id = int(page.url.rsplit("/", 1)[1])
    pdf = page.request.get(f"/invoices/{invoice_id}/pdf")
    assert pdf.status == 200 and pdf.body()[:4] == b"%PDF"
    xml = page.request.get(f"/invoices/{invoice_id}/facturx.xml")
    assert xml.status == 200 and b"<ram:GrandTotalAmount>5635.00</ram:GrandTotalAmount>" in xml.body()
    page.goto("/invoices?status=issued")
    assert re.search(r"\d{4}-F-0001", page.locator('[data-testid="invoices"]').inner_text())
    shot(page, "invoice-list")

    # The client pays by transfer: the payment is recorded on the invoice page, which is then paid.
    page.goto(f"/invoices/{invoice_id}")
    page.wait_for_selector('[data-testid="pay-form"]')
    page.select_option("#invoice-payments #f-method", "transfer")
    page.fill("#invoice-payments #f-reference", "VIR CLINIQUE DES ALPES")
    page.click('[data-testid="record-payment"]')
    page.wait_for_url(re.compile(rf"/invoices/{invoice_id}$"))
    assert page.locator('[data-testid="invoice-status"]').inner_text() == "Payée"
    page.wait_for_selector('[data-testid="payments"]')
    assert "VIR CLINIQUE DES ALPES" in page.locator('[data-testid="payments"]').inner_text()
    shot(page, "invoice-paid")

    # Finance: the dashboard counts the collected invoice, the accounts can be changed, and the
    # FEC of the period downloads with the invoice and its payment lettered together.
    page.goto("/finance")
    assert page.locator('[data-testid="finance-stats"]').is_visible()
    assert page.locator('[data-testid="finance-chart"]').is_visible()
    assert "5\u202f635,00" in page.locator('[data-testid="months"]').inner_text()
    shot(page, "finance-dashboard")
    page.goto("/finance/settings")
    bank = page.locator('[data-testid="accounts-form"] input[name^="number"]').nth(1)
    bank.fill("512100")
    page.click('[data-testid="accounts-form"] button[type=submit]')
    page.wait_for_url(re.compile(r"/finance/settings$"))
    assert (
        page.locator('[data-testid="accounts-form"] input[name^="number"]').nth(1).input_value() == "512100"
    )
    page.goto("/finance/exports")
    page.fill("#fec-from", "2026-12-31")
    page.fill("#fec-to", "2026-01-01")
    page.click('[data-testid="fec-form"] button[type=submit]')
    assert (
        page.locator('[data-testid="fec-form"] .field-error').count() >= 1
    )  # field error, nothing downloaded
    page.fill("#fec-from", "2000-01-01")
    page.fill("#fec-to", "2099-12-31")
    with page.expect_download() as download:
        page.click('[data-testid="fec-form"] button[type=submit]')
    fec = download.value
    assert fec.suggested_filename == "732829320FEC20991231.txt"
    records = Path(fec.path()).read_bytes().decode("iso-8859-15").split("\r\n")
    assert records[0].startswith("JournalCode\tJournalLib\tEcritureNum")
    customer = [r.split("\t") for r in records[1:] if r and r.split("\t")[4].startswith("411")]
    assert len(customer) == 2 and customer[0][13] == customer[1][13] != ""  # EcritureLet
    assert any(r and r.split("\t")[4] == "512100" for r in records[1:])
    shot(page, "finance-exports")
