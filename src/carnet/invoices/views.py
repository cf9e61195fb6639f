"""HTML pages of invoices: list with status filters and totals, new draft (from scratch or from
an accepted quote), detail with the draft editor, issue, PDF and Factur-X XML downloads, credit
note. Writes on an issued invoice answer 409 like the API (the service raises Conflict)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from carnet.api.deps import DbDep
from carnet.core import listing
from carnet.core.context import Actor
from carnet.core.errors import ValidationFailed
from carnet.core.i18n import gettext
from carnet.documents import editor, terms
from carnet.invoices import rendering, service
from carnet.invoices.models import INVOICE_STATUSES, Invoice
from carnet.organisations import service as organisations
from carnet.quotes import service as quotes
from carnet.web.shell import WebActor, form_errors, redirect, render

router = APIRouter(include_in_schema=False)
invoices = APIRouter(prefix="/invoices")
HEADER_FIELDS = (
    "title",
    "contact_id",
    "deal_id",
    "payment_terms",
    "sale_date",
    "delivery_address",
    "operation_category",
    "purchase_order",
    "notes",
    "global_discount_percent",
    "global_discount_amount",
)
STATUS_LABELS = {
    "draft": "Draft",
    "issued": "Issued",
    "partially_paid": "Partially paid",
    "paid": "Paid",
    "overdue": "Overdue",
    "cancelled": "Cancelled",
}
KIND_LABELS = {"invoice": "Invoice", "deposit": "Deposit invoice", "credit_note": "Credit note"}
CATEGORY_LABELS = {"goods": "Goods", "services": "Services", "mixed": "Goods and services"}


def _t(actor: Actor, text: str, **params: Any) -> str:
    return gettext(text, actor.language, **params)


@invoices.get("")
def list_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    raw = {k: v for k, v in request.query_params.items() if v and k in ("status", "kind", "q", "cursor")}
    error = None
    try:
        params = listing.parse_params(raw, default_sort="-created_at")
        rows, cursor = service.list_invoices(db, actor, params)
    except ValidationFailed as exc:
        db.rollback()
        rows, cursor = [], None
        error = "; ".join(form_errors(exc, actor.language).values())
    by_status = {t.status: t for t in service.totals_by_status(db, actor)}
    return render(
        request,
        "invoices/list.html",
        rows=rows,
        next_cursor=cursor,
        by_status=by_status,
        total_count=sum(t.count for t in by_status.values()),
        outstanding=sum((t.outstanding for s, t in by_status.items() if s not in ("draft", "cancelled")), 0),
        statuses=INVOICE_STATUSES,
        status_labels=STATUS_LABELS,
        kind_labels=KIND_LABELS,
        current_status=raw.get("status", ""),
        q=raw.get("q", ""),
        org_names=organisations.names_by_id(
            db, actor, {i.organisation_id for i in rows if i.organisation_id}
        ),
        balance=service.balance,
        error=error,
    )


def _accepted_quotes(db: Session, actor: Actor) -> list[Any]:
    if not actor.can("quotes:read"):
        return []
    rows, _ = quotes.list_quotes(
        db, actor, listing.parse_params({"status": "accepted"}, default_sort="-created_at")
    )
    return rows


@invoices.get("/new")
def new_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    values = {k: request.query_params.get(k, "") for k in ("organisation_id", "title", "quote_id")}
    return render(
        request, "invoices/new.html", values=values, errors={}, accepted=_accepted_quotes(db, actor)
    )


@invoices.post("/new")
async def create(request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    data = {k: (str(form.get(k) or "").strip() or None) for k in ("organisation_id", "title", "kind")}
    quote_id = str(form.get("quote_id") or "").strip()
    try:
        if quote_id:
            invoice = service.create_from_quote(
                db, actor, quote_id, str(form.get("deposit_percent") or "").strip()
            )
        else:
            invoice = service.create_invoice(
                db, actor, {k: v for k, v in data.items() if v is not None or k == "organisation_id"}
            )
    except ValidationFailed as exc:
        db.rollback()
        values = {**data, "quote_id": quote_id, "deposit_percent": form.get("deposit_percent") or ""}
        return render(
            request,
            "invoices/new.html",
            status_code=422,
            values=values,
            errors=form_errors(exc, actor.language),
            accepted=_accepted_quotes(db, actor),
        )
    return redirect(f"/invoices/{invoice.id}", flash=_t(actor, "Draft invoice created"), request=request)


def _detail(request: Request, db: Session, actor: Actor, invoice: Invoice, **extra: Any) -> Response:
    totals = rendering.totals_of(invoice)
    lines = extra.pop("lines", None) or list(invoice.lines)
    editable = invoice.status == "draft" and actor.can("invoices:update")
    credited = db.get(Invoice, invoice.credited_invoice_id) if invoice.credited_invoice_id else None
    return render(
        request,
        "invoices/detail.html",
        status_code=extra.pop("status_code", 200),
        invoice=invoice,
        totals=totals,
        lines=lines,
        editable=editable,
        values=extra.pop("values", {}),
        errors=extra.pop("errors", {}),
        org_name=organisations.names_by_id(db, actor, {invoice.organisation_id}).get(invoice.organisation_id)
        if invoice.organisation_id
        else (invoice.parties or {}).get("buyer", {}).get("name"),
        credit_notes=service.credit_notes_of(db, invoice),
        credited=credited,
        balance=service.balance(invoice),
        can_credit=invoice.issued_at is not None
        and invoice.kind != "credit_note"
        and actor.can("invoices:create")
        and service.creditable(db, invoice) > 0,
        rates=editor.vat_rate_choices(),
        exemption_mentions=editor.exemption_mentions(),
        terms_choices=[(t, _t(actor, terms.LABELS[t])) for t in terms.TERMS],
        category_choices=[(k, _t(actor, v)) for k, v in CATEGORY_LABELS.items()],
        status_labels=STATUS_LABELS,
        kind_labels=KIND_LABELS,
        **extra,
    )


@invoices.get("/{invoice_id}")
def detail_page(invoice_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    return _detail(request, db, actor, service.get_invoice(db, actor, invoice_id))


@invoices.post("/{invoice_id}/totals")
async def live_totals(invoice_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    """The totals block of the draft editor, recomputed from the lines being typed (htmx)."""
    service.get_invoice(db, actor, invoice_id)
    form = await request.form()
    data = {name: form.get(name) for name in ("global_discount_percent", "global_discount_amount")}
    data["lines"] = editor.lines_from_form(form)
    try:
        totals, error = service.preview_totals(db, actor, data), None
    except ValidationFailed as exc:
        totals, error = None, "; ".join(sorted(set(form_errors(exc, actor.language).values())))
    return render(request, "documents/_totals.html", totals=totals, error=error)


@invoices.post("/{invoice_id}/edit")
async def edit(invoice_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    invoice = service.get_invoice(db, actor, invoice_id)
    form = await request.form()
    data: dict[str, Any] = {name: str(form.get(name) or "").strip() for name in HEADER_FIELDS if name in form}
    for name in ("contact_id", "deal_id", "sale_date"):
        if name in data and not data[name]:
            data[name] = None
    data["lines"] = editor.lines_from_form(form)
    data["public_hospital"] = form.get("public_hospital") == "on"
    try:
        version = int(str(form.get("version") or "")) if form.get("version") else None
        service.update_invoice(db, actor, invoice, data, version)
    except ValidationFailed as exc:
        db.rollback()
        invoice = service.get_invoice(db, actor, invoice_id)
        return _detail(
            request,
            db,
            actor,
            invoice,
            status_code=422,
            values=data,
            lines=data["lines"],
            errors=form_errors(exc, actor.language),
        )
    return redirect(f"/invoices/{invoice.id}", flash=_t(actor, "Invoice saved"), request=request)


@invoices.post("/{invoice_id}/issue")
async def issue(invoice_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    invoice = service.get_invoice(db, actor, invoice_id)
    form = await request.form()
    try:
        invoice = service.issue_invoice(db, actor, invoice, str(form.get("issue_date") or "").strip() or None)
    except ValidationFailed as exc:
        db.rollback()
        invoice = service.get_invoice(db, actor, invoice_id)
        return _detail(request, db, actor, invoice, status_code=422, errors=form_errors(exc, actor.language))
    return redirect(
        f"/invoices/{invoice.id}",
        flash=_t(actor, "Invoice {number} issued", number=invoice.number),
        request=request,
    )


@invoices.post("/{invoice_id}/delete")
async def delete(invoice_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    invoice = service.get_invoice(db, actor, invoice_id)
    service.delete_invoice(db, actor, invoice)
    return redirect("/invoices", flash=_t(actor, "Draft deleted"), request=request)


@invoices.post("/{invoice_id}/credit-note")
async def credit_note(invoice_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    """A draft credit note of the whole invoice; its lines can be reduced before issuing it."""
    invoice = service.get_invoice(db, actor, invoice_id)
    credit = service.create_credit_note(db, actor, invoice, {})
    return redirect(f"/invoices/{credit.id}", flash=_t(actor, "Draft credit note created"), request=request)


@invoices.get("/{invoice_id}/pdf")
def pdf(invoice_id: int, db: DbDep, actor: WebActor) -> Response:
    invoice = service.get_invoice(db, actor, invoice_id)
    name = invoice.number or f"brouillon-{invoice.id}"
    return Response(
        service.invoice_pdf(db, invoice),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}.pdf"'},
    )


@invoices.get("/{invoice_id}/facturx.xml")
def xml(invoice_id: int, db: DbDep, actor: WebActor) -> Response:
    invoice = service.get_invoice(db, actor, invoice_id)
    return Response(
        service.invoice_xml(invoice),
        media_type="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{invoice.number}-factur-x.xml"'},
    )


router.include_router(invoices)
