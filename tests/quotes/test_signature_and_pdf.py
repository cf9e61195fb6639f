"""The PDF carries every mandatory quote mention; the public page signs the exact PDF, stamps a
signature page, archives it read-only, and a changed PDF no longer verifies."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import subprocess

from pypdf import PdfReader
from sqlalchemy import select

from carnet.core.audit import AuditEntry
from carnet.quotes import service
from carnet.quotes.models import Quote, QuoteSignature, QuoteVersion

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)
SIGNATURE = "data:image/png;base64," + base64.b64encode(PNG).decode()


def pdf_text(data: bytes, tmp_path) -> str:
    path = tmp_path / "q.pdf"
    path.write_bytes(data)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(text.split())


def test_pdf_carries_every_mandatory_quote_mention(make_quote, api, tmp_path):
    quote = make_quote(
        deposit_percent="30",
        execution_date="2027-01-15",
        payment_terms="45_days_eom",
        lines=[
            {"description": "Lit médicalisé", "quantity": "2", "unit_price": "1250.00", "vat_rate": "5.5"},
            {
                "description": "Formation",
                "quantity": "1",
                "unit_price": "300",
                "vat_rate": "0",
                "vat_exemption_reason": "Exonération de TVA, art. 261-4-4° du CGI",
            },
        ],
    )
    sent = api("alice").post(f"/api/v1/quotes/{quote['id']}/send", json={}).json()
    data = api("alice").get(f"/api/v1/quotes/{quote['id']}/pdf").content
    text = pdf_text(data, tmp_path)
    for mention in [
        "DEVIS",
        "DEV-2026-0001",  # number
        "21/11/2026",  # date
        "Devis valable jusqu'au 21/12/2026",  # validity
        "Médicalis, SAS au capital de 50 000,00 €",  # seller identity
        "RCS Lyon 732 829 320",
        "SIRET 73282932000074",
        "N° TVA intracommunautaire FR44732829320",
        "12 rue de la République",
        "CHU de Grenoble",  # buyer
        "La Tronche",
        "SIREN du client : 356 000 000",
        "Lit médicalisé",  # lines: designation, quantity, unit price, VAT rate
        "1 250,00 €",
        "5,5 %",
        "Total HT 2 800,00 €",  # totals excl. VAT, VAT per rate, incl. VAT
        "TVA 5,5 % 137,50 €",
        "TVA 0 % 0,00 €",
        "Total TTC 2 937,50 €",
        "Exonération de TVA, art. 261-4-4° du CGI",
        "Conditions de paiement : 45 jours fin de mois",  # payment terms
        "Acompte à la commande : 30 % du montant TTC",  # deposit
        "Date de livraison ou d'exécution : 15/01/2027",
        "Pas d'escompte pour paiement anticipé",
        "Pénalités de retard : taux annuel de 12,15 %",
        "Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement : 40,00 €",
        "Nature de l'opération : Prestation de services",
        "Bon pour accord",  # signature block
        "Page 1 / 1",
    ]:
        assert mention.replace("\u202f", " ").replace("\xa0", " ") in text.replace("\u202f", " ").replace(
            "\xa0", " "
        ), mention
    assert sent["quote"]["current"]["pdf_sha256"] == hashlib.sha256(data).hexdigest()


def _sent(make_quote, api, **extra):
    quote = make_quote(**extra)
    sent = api("alice").post(f"/api/v1/quotes/{quote['id']}/send", json={}).json()
    return quote, sent["public_url"].rsplit("/", 1)[1], sent["quote"]["current"]["pdf_sha256"]


def test_public_page_signature_records_the_hash_and_accepts(make_quote, api, anon, deal, db, tmp_path):
    quote, token, sha = _sent(make_quote, api, deal_id=deal["id"])
    page = anon.get(f"/q/{token}", headers={"user-agent": "Mozilla/5.0 (iPhone)"})
    assert page.status_code == 200 and "DEV-2026-0001" in page.text and sha in page.text
    assert anon.get(f"/q/{token}/pdf").content[:4] == b"%PDF"
    r = anon.post(
        f"/q/{token}/sign",
        data={"signer_name": "Claire Dumas", "signature": SIGNATURE, "consent": "on", "document_sha256": sha},
        headers={"user-agent": "Mozilla/5.0 (iPhone)"},
    )
    assert r.status_code == 200, r.text
    assert 'data-testid="signed"' in r.text
    signature = db.scalars(select(QuoteSignature).where(QuoteSignature.quote_id == quote["id"])).one()
    assert (signature.signer_name, signature.version, signature.consent) == ("Claire Dumas", 1, True)
    assert signature.document_sha256 == sha and signature.ip == "testclient"
    assert signature.user_agent == "Mozilla/5.0 (iPhone)" and signature.signature_png == PNG
    signed = service.read_signed_pdf(signature)
    assert hashlib.sha256(signed).hexdigest() == signature.signed_pdf_sha256
    original = db.scalars(select(QuoteVersion).where(QuoteVersion.quote_id == quote["id"])).one().pdf
    assert len(PdfReader(io.BytesIO(signed)).pages) == len(PdfReader(io.BytesIO(original)).pages) + 1
    stamp = pdf_text(signed, tmp_path)
    assert "Signature électronique" in stamp and "Claire Dumas" in stamp and sha in stamp
    assert service.verify_signed_pdf(signature) is True
    # the archive is read-only, and a changed byte no longer verifies
    path = service.get_settings().storage_dir / signature.signed_pdf_path
    assert oct(os.stat(path).st_mode & 0o777) == "0o444"
    tampered = signed.replace(b"Claire", b"Claira", 1) if b"Claire" in signed else signed[:-10] + b"0" * 10
    assert service.verify_signed_pdf(signature, tampered) is False
    os.chmod(path, 0o644)
    path.write_bytes(tampered)
    assert service.verify_signed_pdf(signature) is False
    # accepted, the deal is won with the quote's amount excl. VAT
    db.expire_all()
    assert db.get(Quote, quote["id"]).status == "accepted"
    moved = api("alice").get(f"/api/v1/deals/{deal['id']}").json()
    assert (moved["status"], moved["amount"]) == ("won", "3241.00")
    entry = db.scalars(
        select(AuditEntry).where(AuditEntry.record_type == "quote", AuditEntry.action == "accept")
    ).one()
    assert entry.actor_label == "Claire Dumas (client)" and entry.ip == "testclient"
    # the link cannot sign twice
    again = anon.post(
        f"/q/{token}/sign",
        data={"signer_name": "X", "signature": SIGNATURE, "consent": "on", "document_sha256": sha},
    )
    assert (
        'data-testid="sign"' not in again.text
        and db.scalar(select(QuoteSignature.id).where(QuoteSignature.id != signature.id)) is None
    )


def test_signature_needs_name_drawing_consent_and_the_same_pdf(make_quote, api, anon, db):
    quote, token, sha = _sent(make_quote, api)
    r = anon.post(f"/q/{token}/sign", data={"signer_name": "", "signature": "", "document_sha256": sha})
    assert r.status_code == 422
    for field in ("signer_name", "signature", "consent"):
        assert f'data-error-for="{field}"' in r.text
    r = anon.post(
        f"/q/{token}/sign",
        data={
            "signer_name": "Claire Dumas",
            "signature": SIGNATURE,
            "consent": "on",
            "document_sha256": "0" * 64,
        },
    )
    assert r.status_code == 409
    assert db.scalar(select(QuoteSignature.id)) is None
    assert db.get(Quote, quote["id"]).status == "sent"


def test_wrong_or_expired_links_are_404(make_quote, api, anon):
    _quote, token, _sha = _sent(make_quote, api)
    assert anon.get("/q/" + "x" * 43).status_code == 404
    assert anon.get(f"/q/{token[:-1]}").status_code == 404
    assert anon.post("/q/nope/sign", data={}).status_code == 404
    from datetime import timedelta

    from carnet.core import clock

    clock.advance(timedelta(days=31))
    assert anon.get(f"/q/{token}").status_code == 404
    assert anon.get(f"/q/{token}/pdf").status_code == 404


def test_client_declines_with_a_reason(make_quote, api, anon, db):
    quote, token, _sha = _sent(make_quote, api)
    r = anon.post(f"/q/{token}/refuse", data={"name": "Claire Dumas", "reason": ""})
    assert r.status_code == 422
    r = anon.post(f"/q/{token}/refuse", data={"name": "Claire Dumas", "reason": "Trop cher"})
    assert r.status_code == 200 and 'data-testid="refused"' in r.text
    row = db.get(Quote, quote["id"])
    db.refresh(row)
    assert (row.status, row.refusal_reason) == ("refused", "Trop cher")


def test_public_page_is_rate_limited(make_quote, api, anon):
    _quote, token, _sha = _sent(make_quote, api)
    statuses = [anon.get(f"/q/{token}").status_code for _ in range(61)]
    assert statuses[:60] == [200] * 60 and statuses[60] == 429
