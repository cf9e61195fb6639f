"""Quotes for clients abroad: the PDF prints the client's country and VAT number and the 0 % line's
legal mention (france.md §1.2 items 7 and 15, §1.5), with no SIREN asked for."""

from __future__ import annotations

import pytest

from quotes.test_signature_and_pdf import pdf_text

BELGIAN_VAT = "BE0403019261"  # python-stdnum's test data (be/vat.py)


@pytest.fixture
def belgian_client(api):
    r = api("alice").post(
        "/api/v1/organisations",
        json={
            "name": "Clinique Saint-Luc",
            "country": "BE",
            "vat_number": BELGIAN_VAT,
            "address_line1": "Avenue Hippocrate 10",
            "postal_code": "1200",
            "city": "Woluwe-Saint-Lambert",
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_quote_for_a_belgian_client_prints_its_vat_number_and_country(
    make_quote, api, belgian_client, tmp_path
):
    quote = make_quote(
        organisation_id=belgian_client,
        contact_id=None,
        operation_category="services",
        lines=[
            {
                "description": "Maintenance annuelle des pompes",
                "quantity": "1",
                "unit_price": "1200.00",
                "vat_rate": "0",
                "vat_exemption_reason": "Autoliquidation",
            }
        ],
    )
    r = api("alice").post(f"/api/v1/quotes/{quote['id']}/send", json={"to": "achats@saintluc.be"})
    assert r.status_code == 200, r.text
    current = api("alice").get(f"/api/v1/quotes/{quote['id']}").json()["current"]
    assert (current["buyer"]["country"], current["buyer"]["vat_number"]) == ("BE", BELGIAN_VAT)
    pdf = api("alice").get(f"/api/v1/quotes/{quote['id']}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = pdf_text(pdf.content, tmp_path)
    for expected in (
        "Clinique Saint-Luc",
        "Avenue Hippocrate 10",
        "1200 Woluwe-Saint-Lambert",
        "Belgique",
        f"N° TVA {BELGIAN_VAT}",
        "Autoliquidation",
        "Nature de l'opération : Prestation de services",
    ):
        assert expected in text, expected
    assert "SIREN du client" not in text


def test_quote_for_a_french_client_prints_no_country(make_quote, api, tmp_path):
    quote = make_quote()
    text = pdf_text(api("alice").get(f"/api/v1/quotes/{quote['id']}/pdf").content, tmp_path)
    assert "38700 La Tronche" in text and "SIREN du client : 356 000 000" in text
    assert "France" not in text
