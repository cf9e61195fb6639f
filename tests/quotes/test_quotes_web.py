"""The quote pages: list with status filters, creation, the editor (form lines, live totals),
sending from the dialog, versions."""

from __future__ import annotations

from sqlalchemy import select

from carnet.documents.editor import LINE_FIELDS as FIELDS
from carnet.quotes.models import QuoteVersion


def _form(client, rows, **extra):
    """The editor's form: one value per line for each `line_<field>`, in order."""
    data = {f"line_{f}": [row.get(f, "") for row in rows] for f in FIELDS}
    return {"csrf_token": client.csrf, **data, **extra}


def test_list_page_filters_by_status(make_quote, api, web):
    a = make_quote(title="Chambre 12")
    make_quote(title="Chambre 14")
    api("alice").post(f"/api/v1/quotes/{a['id']}/send", json={})
    client = web("alice")
    page = client.get("/quotes")
    assert page.status_code == 200 and "DEV-2026-0001" in page.text and "DEV-2026-0002" in page.text
    sent = client.get("/quotes?status=sent")
    assert "DEV-2026-0001" in sent.text and "DEV-2026-0002" not in sent.text


def test_create_then_edit_lines_in_the_editor(web, company, client_org, db):
    client = web("alice")
    r = client.post(
        "/quotes/new",
        data={"csrf_token": client.csrf, "organisation_id": str(client_org), "title": "Chambre"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    url = r.headers["location"]
    quote_id = int(url.rsplit("/", 1)[1])
    editor = client.get(url)
    assert editor.status_code == 200 and 'id="document-lines"' in editor.text
    rows = [
        {"kind": "section", "description": "Matériel"},
        {
            "kind": "item",
            "description": "Lit",
            "quantity": "2",
            "unit_price": "1 000,00",
            "vat_rate": "5.50",
            "discount_percent": "5",
        },
        {
            "kind": "item",
            "description": "",
            "quantity": "1",
            "unit_price": "",
            "vat_rate": "20.00",
        },  # empty row, ignored
    ]
    totals = client.post(f"/quotes/{quote_id}/totals", data=_form(client, rows))
    assert totals.status_code == 200
    assert "1\u202f900,00\xa0€" in totals.text and "2\u202f004,50\xa0€" in totals.text
    bad = client.post(
        f"/quotes/{quote_id}/totals",
        data=_form(client, [{"kind": "item", "description": "x", "unit_price": "abc", "vat_rate": "20.00"}]),
    )
    assert bad.status_code == 200 and "field-error" in bad.text
    saved = client.post(
        f"/quotes/{quote_id}/edit",
        data=_form(client, rows, title="Chambre 12", payment_terms="60_days"),
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    version = db.scalars(select(QuoteVersion).where(QuoteVersion.quote_id == quote_id)).one()
    db.refresh(version)
    assert [line["description"] for line in version.lines] == ["Matériel", "Lit"]
    assert (version.total_net, version.total_gross, version.payment_terms) == (
        1900,
        __import__("decimal").Decimal("2004.50"),
        "60_days",
    )
    invalid = client.post(
        f"/quotes/{quote_id}/edit",
        data=_form(client, [{"kind": "item", "description": "x", "unit_price": "10", "vat_rate": "0.00"}]),
    )
    assert invalid.status_code == 422 and 'data-error-for="lines.0.vat_exemption_reason"' in invalid.text


def test_send_from_the_dialog_shows_the_link_once_and_versions(make_quote, web, db):
    quote = make_quote()
    client = web("alice")
    r = client.post(
        f"/quotes/{quote['id']}/send",
        data={"csrf_token": client.csrf, "to": "achats@chu-grenoble.fr", "message": ""},
    )
    assert r.status_code == 200
    assert 'data-testid="public-link"' in r.text and "/q/" in r.text
    page = client.get(f"/quotes/{quote['id']}")
    assert 'data-testid="public-link"' not in page.text  # shown once
    assert "achats@chu-grenoble.fr" in page.text and "v1" in page.text
    pdf = client.get(f"/quotes/{quote['id']}/pdf")
    assert pdf.headers["content-type"] == "application/pdf"


def test_other_department_gets_404_pages(make_quote, web):
    quote = make_quote()
    client = web("outsider")
    assert client.get(f"/quotes/{quote['id']}").status_code == 404
    assert client.get(f"/quotes/{quote['id']}/pdf").status_code == 404
