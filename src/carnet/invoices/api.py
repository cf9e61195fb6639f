"""JSON routes of invoices: /api/v1/invoices with /{id}/issue, /{id}/pdf (the Factur-X PDF),
/{id}/facturx.xml and /{id}/credit-notes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from carnet.api.common import Page, body_dict, if_match_version, list_params, set_etag
from carnet.api.deps import ActorDep, DbDep, Requires
from carnet.invoices import service
from carnet.invoices.schemas import CreditNoteCreate, InvoiceCreate, InvoiceIssue, InvoiceRead, InvoiceUpdate

router = APIRouter(prefix="/invoices", tags=["invoices"])


def _data(body: Any) -> dict[str, Any]:
    data = body_dict(body)
    if getattr(body, "lines", None) is not None:
        data["lines"] = [line.model_dump(exclude_unset=True) for line in body.lines]
    return data


@router.get("", response_model=Page[InvoiceRead], dependencies=[Depends(Requires("invoices:read"))])
def list_invoices(request: Request, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Filters: `status=issued,overdue`, `kind=credit_note`, `organisation_id=`, `quote_id=`,
    `due_date__lt=`, `total_gross__gte=`...; `q` searches the number and title."""
    rows, cursor = service.list_invoices(db, actor, list_params(request))
    return {"items": [service.to_read(i) for i in rows], "next_cursor": cursor}


@router.post("", status_code=201, response_model=InvoiceRead)
def create_invoice(body: InvoiceCreate, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    """A draft: from scratch, or with `quote_id` from an accepted quote (the final invoice, which
    deducts the deposits already invoiced) or with `deposit_percent` a deposit invoice."""
    data = _data(body)
    quote_id = data.pop("quote_id", None)
    if quote_id is not None:
        deposit = data.pop("deposit_percent", None)
        data.pop("kind", None)
        invoice = service.create_from_quote(db, actor, quote_id, deposit, data)
    else:
        data.pop("deposit_percent", None)
        invoice = service.create_invoice(db, actor, data)
    set_etag(response, invoice)
    response.headers["Location"] = f"/api/v1/invoices/{invoice.id}"
    return service.to_read(invoice)


@router.get("/{invoice_id}", response_model=InvoiceRead)
def get_invoice(invoice_id: int, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    invoice = service.get_invoice(db, actor, invoice_id)
    set_etag(response, invoice)
    return service.to_read(invoice)


@router.patch("/{invoice_id}", response_model=InvoiceRead)
def update_invoice(
    invoice_id: int, body: InvoiceUpdate, request: Request, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    """Drafts only: an issued invoice answers 409 (correct it with a credit note)."""
    invoice = service.get_invoice(db, actor, invoice_id)
    invoice = service.update_invoice(db, actor, invoice, _data(body), if_match_version(request))
    set_etag(response, invoice)
    return service.to_read(invoice)


@router.delete("/{invoice_id}", status_code=204)
def delete_invoice(invoice_id: int, request: Request, db: DbDep, actor: ActorDep) -> Response:
    """Drafts only: an issued invoice answers 409."""
    invoice = service.get_invoice(db, actor, invoice_id)
    service.delete_invoice(db, actor, invoice, if_match_version(request))
    return Response(status_code=204)


@router.post("/{invoice_id}/issue", response_model=InvoiceRead)
def issue_invoice(
    invoice_id: int, body: InvoiceIssue, request: Request, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    """Give the next number of the series, freeze the invoice and store its Factur-X PDF."""
    invoice = service.get_invoice(db, actor, invoice_id)
    invoice = service.issue_invoice(db, actor, invoice, body.issue_date, if_match_version(request))
    set_etag(response, invoice)
    return service.to_read(invoice)


@router.get("/{invoice_id}/pdf", response_class=Response)
def invoice_pdf(invoice_id: int, db: DbDep, actor: ActorDep) -> Response:
    """The Factur-X PDF (PDF/A-3 with factur-x.xml) stored at issue; a draft gives a preview."""
    invoice = service.get_invoice(db, actor, invoice_id)
    name = invoice.number or f"brouillon-{invoice.id}"
    return Response(
        service.invoice_pdf(db, invoice),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}.pdf"'},
    )


@router.get("/{invoice_id}/facturx.xml", response_class=Response)
def invoice_xml(invoice_id: int, db: DbDep, actor: ActorDep) -> Response:
    """The CII XML (EN 16931) embedded in the PDF; 409 for a draft."""
    invoice = service.get_invoice(db, actor, invoice_id)
    return Response(
        service.invoice_xml(invoice),
        media_type="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{invoice.number}-factur-x.xml"'},
    )


@router.get("/{invoice_id}/credit-notes", response_model=list[InvoiceRead])
def list_credit_notes(invoice_id: int, db: DbDep, actor: ActorDep) -> list[dict[str, Any]]:
    invoice = service.get_invoice(db, actor, invoice_id)
    return [service.to_read(c) for c in service.credit_notes_of(db, invoice)]


@router.post("/{invoice_id}/credit-notes", status_code=201, response_model=InvoiceRead)
def create_credit_note(
    invoice_id: int, body: CreditNoteCreate, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    """A credit note for the whole invoice (no `lines`) or part of it; `issue: true` issues it."""
    invoice = service.get_invoice(db, actor, invoice_id)
    credit = service.create_credit_note(db, actor, invoice, _data(body))
    set_etag(response, credit)
    response.headers["Location"] = f"/api/v1/invoices/{credit.id}"
    return service.to_read(credit)
