"""The quote as a PDF (WeasyPrint), and the signature page stamped onto a signed quote (pypdf)."""

from __future__ import annotations

import base64
import io
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pypdf import PdfReader, PdfWriter

from carnet.documents import lines as doc_lines
from carnet.documents import mentions, pdf
from carnet.quotes.models import QuoteVersion

PARIS = ZoneInfo("Europe/Paris")


def buyer_party(parties: dict[str, Any]) -> mentions.Party:
    buyer = parties.get("buyer") or {}
    return mentions.Party(
        name=buyer.get("name") or "",
        address_lines=tuple(buyer.get("address_lines") or ()),
        siren=buyer.get("siren"),
        vat_number=buyer.get("vat_number"),
        contact_name=buyer.get("contact_name"),
        country=buyer.get("country") or "FR",
    )


def totals_of(version: QuoteVersion) -> doc_lines.Totals:
    discount = None
    if version.global_discount_percent or version.global_discount_amount:
        discount = doc_lines.Discount(
            percent=Decimal(version.global_discount_percent) if version.global_discount_percent else None,
            amount=Decimal(version.global_discount_amount) if version.global_discount_amount else None,
        )
    return doc_lines.compute([doc_lines.line_from_dict(d) for d in version.lines], discount)


def quote_context(company: Any, number: str, version: QuoteVersion, issue_date: date) -> dict[str, Any]:
    totals = totals_of(version)
    buyer = buyer_party(version.parties or {})
    line_inputs = [c.line for c in totals.lines]
    return {
        **pdf.base_context(company, totals),
        "doc_title": "Devis",
        "doc_number": number,
        "version": version,
        "issue_date": issue_date,
        "buyer": buyer,
        "global_discount_percent": version.global_discount_percent,
        "mentions": mentions.quote_mentions(
            company,
            buyer,
            valid_until=version.valid_until,
            terms=version.payment_terms,
            exemptions=doc_lines.exemption_reasons(line_inputs),
            operation_category=version.operation_category,
            deposit_percent=version.deposit_percent,
            execution_date=version.execution_date,
            delivery_address=version.delivery_address,
        ),
    }


def quote_pdf(company: Any, number: str, version: QuoteVersion, issue_date: date) -> bytes:
    return pdf.render_pdf("quotes/pdf.html", quote_context(company, number, version, issue_date))


def signature_page(
    company: Any,
    number: str,
    version: int,
    signer_name: str,
    signed_at: datetime,
    ip: str | None,
    user_agent: str | None,
    document_sha256: str,
    signature_png: bytes,
) -> bytes:
    context = {
        **pdf.base_context(company),
        "doc_title": "Devis",
        "doc_number": number,
        "version": version,
        "signer_name": signer_name,
        "signed_at": signed_at.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M:%S (heure de Paris)"),
        "signed_at_utc": signed_at.isoformat(),
        "ip": ip,
        "user_agent": user_agent,
        "document_sha256": document_sha256,
        "signature_url": "data:image/png;base64," + base64.b64encode(signature_png).decode(),
        "mentions": mentions.Mentions(
            seller=mentions.seller_lines(company),
            seller_legal=mentions.seller_legal(company),
            buyer=[],
            payment=[],
            reform=[],
            exemptions=[],
        ),
    }
    return pdf.render_pdf("quotes/signature_page.html", context)


def append_pages(document: bytes, extra: bytes) -> bytes:
    """`document` followed by the pages of `extra` (its own pages are copied unchanged)."""
    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(document)))
    writer.append(PdfReader(io.BytesIO(extra)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
