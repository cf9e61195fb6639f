"""Quotes through the API: numbering, totals, versions, sending, acceptance, refusal, expiry,
permissions."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from carnet.core import clock, jobs
from carnet.core.events import Event
from carnet.core.mail import OutgoingEmail, OutgoingEmailAttachment
from carnet.quotes.models import Quote, QuoteVersion


def _events(db, quote_id):
    return db.scalars(
        select(Event.type).where(Event.record_type == "quote", Event.record_id == quote_id).order_by(Event.id)
    ).all()


def test_create_numbers_and_totals(make_quote, db):
    first = make_quote()
    second = make_quote()
    assert (first["number"], second["number"]) == ("DEV-2026-0001", "DEV-2026-0002")
    assert first["status"] == "draft" and first["current_version"] == 1
    # 2 × 1250 − 10 % = 2250.00 at 5.5 %; 841.00 + 150.00 = 991.00 at 20 %
    assert (first["total_net"], first["total_vat"], first["total_gross"]) == ("3241.00", "321.95", "3562.95")
    current = first["current"]
    assert current["valid_until"] == "2026-12-21"  # 30 days by default
    assert current["payment_terms"] == "30_days"
    assert current["totals"]["vat_by_rate"] == [
        {"rate": "20.00", "base": "991.00", "vat": "198.20"},
        {"rate": "5.50", "base": "2250.00", "vat": "123.75"},
    ]
    assert current["totals"]["sections"] == [
        {"position": 0, "title": "Équipement", "subtotal": "3091.00"},
        {"position": 3, "title": "Services", "subtotal": "150.00"},
    ]
    assert current["buyer"]["name"] == "CHU de Grenoble" and current["buyer"]["siren"] == "356000000"
    assert _events(db, first["id"]) == ["quote.created"]


def test_global_discount_and_validation(make_quote, api):
    quote = make_quote(global_discount_amount="241.00")
    assert (quote["total_net"], quote["total_vat"], quote["total_gross"]) == ("3000.00", "298.01", "3298.01")
    r = api("alice").patch(
        f"/api/v1/quotes/{quote['id']}",
        json={"lines": [{"description": "x", "unit_price": "10", "vat_rate": "7"}]},
    )
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["lines.0.vat_rate"]
    r = api("alice").post("/api/v1/quotes", json={"lines": []})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "organisation_id"


def test_sending_freezes_a_version_and_emails_the_pdf(make_quote, api, db):
    quote = make_quote()
    r = api("alice").post(f"/api/v1/quotes/{quote['id']}/send", json={})
    assert r.status_code == 200, r.text
    sent = r.json()
    assert sent["quote"]["status"] == "sent"
    assert sent["public_url"].startswith("http://127.0.0.1:8000/q/")
    token = sent["public_url"].rsplit("/", 1)[1]
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    row = db.get(Quote, quote["id"])
    assert row.public_token_hash != token and len(row.public_token_hash) == 64  # stored hashed
    assert row.link_expires_at.isoformat() == "2026-12-21T23:00:00+00:00"  # end of 21 Dec in Paris
    email = db.get(OutgoingEmail, sent["email_id"])
    assert email.to_address == "claire.dumas@chu-grenoble.fr"
    assert email.subject == "Devis DEV-2026-0001 — Médicalis"
    assert sent["public_url"] in email.text_body
    attachment = db.scalars(
        select(OutgoingEmailAttachment).where(OutgoingEmailAttachment.email_id == email.id)
    ).one()
    version = db.scalars(select(QuoteVersion).where(QuoteVersion.quote_id == quote["id"])).one()
    assert attachment.filename == "DEV-2026-0001.pdf" and attachment.content == version.pdf
    assert sent["quote"]["current"]["pdf_sha256"] == version.pdf_sha256 and version.frozen_at is not None
    pdf = api("alice").get(f"/api/v1/quotes/{quote['id']}/pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content == version.pdf
    assert _events(db, quote["id"]) == ["quote.created", "quote.sent"]


def test_editing_a_sent_quote_creates_a_new_version_and_keeps_the_old_one(make_quote, api, db):
    quote = make_quote()
    sent = api("alice").post(f"/api/v1/quotes/{quote['id']}/send", json={}).json()
    v1 = api("alice").get(f"/api/v1/quotes/{quote['id']}/versions/1").json()
    v1_pdf = api("alice").get(f"/api/v1/quotes/{quote['id']}/versions/1/pdf").content
    r = api("alice").patch(
        f"/api/v1/quotes/{quote['id']}",
        json={
            "lines": [
                {"description": "Lit médicalisé", "quantity": "3", "unit_price": "1200", "vat_rate": "5.5"}
            ]
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["current_version"], body["status"], body["total_net"]) == (2, "draft", "3600.00")
    versions = api("alice").get(f"/api/v1/quotes/{quote['id']}/versions").json()
    assert [(v["version"], v["frozen"]) for v in versions] == [(1, True), (2, False)]
    assert versions[0] == v1  # unchanged: lines, totals, hash
    assert api("alice").get(f"/api/v1/quotes/{quote['id']}/versions/1/pdf").content == v1_pdf
    # the old link no longer opens anything
    token = sent["public_url"].rsplit("/", 1)[1]
    assert api("alice").get(f"/q/{token}").status_code == 404
    # a frozen version refuses any change, even below the service
    frozen = db.scalars(
        select(QuoteVersion).where(QuoteVersion.quote_id == quote["id"], QuoteVersion.version == 1)
    ).one()
    frozen.notes = "changed"
    try:
        db.flush()
        raise AssertionError("a frozen version was changed")
    except Exception as exc:  # the ORM guard raises Conflict
        assert "cannot be changed" in str(exc)
    db.rollback()


def test_paper_acceptance_moves_the_deal_to_won_with_the_amount(make_quote, api, deal, db):
    quote = make_quote(deal_id=deal["id"])
    api("alice").post(f"/api/v1/quotes/{quote['id']}/send", json={})
    r = api("alice").post(f"/api/v1/quotes/{quote['id']}/accept", json={"signer_name": "Dr Martin"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "accepted" and r.json()["accepted_version"] == 1
    moved = api("alice").get(f"/api/v1/deals/{deal['id']}").json()
    assert (moved["status"], moved["amount"]) == ("won", "3241.00")
    assert _events(db, quote["id"]) == ["quote.created", "quote.sent", "quote.accepted"]
    r = api("alice").patch(f"/api/v1/quotes/{quote['id']}", json={"title": "x"})
    assert r.status_code == 409


def test_refusal_needs_a_reason(make_quote, api, db):
    quote = make_quote()
    api("alice").post(f"/api/v1/quotes/{quote['id']}/send", json={})
    r = api("alice").post(f"/api/v1/quotes/{quote['id']}/refuse", json={"reason": "  "})
    assert r.status_code == 422
    r = api("alice").post(f"/api/v1/quotes/{quote['id']}/refuse", json={"reason": "Budget reporté à 2027"})
    assert r.json()["status"] == "refused" and r.json()["refusal_reason"] == "Budget reporté à 2027"
    assert _events(db, quote["id"])[-1] == "quote.refused"


def test_expiry_job_with_the_clock_moved(make_quote, api, db):
    quote = make_quote()
    draft = make_quote()
    sent = api("alice").post(f"/api/v1/quotes/{quote['id']}/send", json={}).json()
    token = sent["public_url"].rsplit("/", 1)[1]
    clock.advance(timedelta(days=30))  # 2026-12-21 10:00 Paris: still valid today
    jobs.drain()
    assert api("alice").get(f"/api/v1/quotes/{quote['id']}").json()["status"] == "sent"
    assert api("alice").get(f"/q/{token}").status_code == 200
    clock.advance(timedelta(days=1))  # 22 December
    assert api("alice").get(f"/q/{token}").status_code == 404  # the link ends with the validity
    jobs.drain()
    body = api("alice").get(f"/api/v1/quotes/{quote['id']}").json()
    assert body["status"] == "expired" and body["expired_at"] is not None
    assert api("alice").get(f"/api/v1/quotes/{draft['id']}").json()["status"] == "draft"
    assert _events(db, quote["id"])[-1] == "quote.expired"


def test_another_departments_quote_is_404_and_nothing_changes(make_quote, api, db):
    quote = make_quote()
    assert api("outsider").get(f"/api/v1/quotes/{quote['id']}").status_code == 404
    assert api("outsider").get(f"/api/v1/quotes/{quote['id']}/pdf").status_code == 404
    assert api("outsider").patch(f"/api/v1/quotes/{quote['id']}", json={"title": "x"}).status_code == 404
    assert api("outsider").post(f"/api/v1/quotes/{quote['id']}/send", json={}).status_code == 404
    assert api("outsider").get("/api/v1/quotes").json()["items"] == []
    assert api("bob").get(f"/api/v1/quotes/{quote['id']}").status_code == 200  # same department
    assert api("reader").post("/api/v1/quotes", json={"organisation_id": 1}).status_code == 403
    row = db.get(Quote, quote["id"])
    db.refresh(row)
    assert (row.title, row.status) == ("Équipement chambre", "draft")


def test_list_filters_by_status(make_quote, api):
    a = make_quote()
    make_quote()
    api("alice").post(f"/api/v1/quotes/{a['id']}/send", json={})
    items = api("alice").get("/api/v1/quotes?status=sent").json()["items"]
    assert [q["number"] for q in items] == ["DEV-2026-0001"]


def test_send_needs_the_company_and_a_recipient(api, client_org):
    r = api("alice").post(
        "/api/v1/quotes",
        json={
            "organisation_id": client_org,
            "lines": [{"description": "x", "unit_price": "10", "vat_rate": "20"}],
        },
    )
    quote = r.json()
    r = api("alice").post(f"/api/v1/quotes/{quote['id']}/send", json={})
    assert r.status_code == 422
    assert sorted(e["field"] for e in r.json()["errors"]) == ["company", "to"]
    assert api("alice").get(f"/api/v1/quotes/{quote['id']}").json()["status"] == "draft"
