"""HTML pages of payments: the panel on the invoice page (payments, record one, dunning history,
pause), the payments list, bank statement matching and the dunning templates."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from carnet.api.deps import DbDep
from carnet.core import listing, money
from carnet.core.context import Actor
from carnet.core.errors import DomainError, PermissionDenied, ValidationFailed
from carnet.core.i18n import gettext
from carnet.invoices import service as invoices
from carnet.invoices.models import Invoice
from carnet.organisations import service as organisations
from carnet.payments import bank, dunning, service
from carnet.payments.models import DUNNING_STEPS, METHODS
from carnet.web.shell import WebActor, form_errors, redirect, render

router = APIRouter(prefix="/payments", include_in_schema=False)
METHOD_LABELS = {
    "transfer": "Bank transfer",
    "cheque": "Cheque",
    "card": "Card",
    "direct_debit": "Direct debit",
    "cash": "Cash",
}
REASON_LABELS = {
    "number_and_amount": "Invoice number and amount",
    "number": "Invoice number",
    "amount": "Same amount",
}


def _t(actor: Actor, text: str, **params: Any) -> str:
    return gettext(text, actor.language, **params)


def _methods(actor: Actor) -> list[tuple[str, str]]:
    return [(m, _t(actor, METHOD_LABELS[m])) for m in METHODS]


# -- on the invoice page -----------------------------------------------------------------------------


def _panel(
    request: Request,
    db: Session,
    actor: Actor,
    invoice: Invoice,
    errors: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    return render(
        request,
        "payments/_panel.html",
        status_code=422 if errors else 200,
        invoice=invoice,
        balance=invoices.balance(invoice),
        rows=service.payments_of_invoice(db, actor, invoice),
        reminders=dunning.reminders_of(db, actor, invoice),
        paused=dunning.hold(db, actor, invoice) is not None,
        client_paused=dunning.plan_for(db, invoice.organisation_id).paused,
        step_labels=dunning.STEP_LABELS,
        method_choices=_methods(actor),
        method_labels=METHOD_LABELS,
        today=invoices.today(),
        errors=errors or {},
        values=extra.pop("values", {}),
        **extra,
    )


@router.get("/invoice/{invoice_id}")
def invoice_panel(invoice_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    if not actor.can("payments:read"):
        raise PermissionDenied()
    invoice = invoices.get_invoice(db, actor, invoice_id)
    return _panel(request, db, actor, invoice)


@router.post("/invoice/{invoice_id}/pay")
async def pay_invoice(invoice_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    """Record a payment of this invoice (any excess stays the client's credit)."""
    invoice = invoices.get_invoice(db, actor, invoice_id)
    form = await request.form()
    values = {k: str(form.get(k) or "").strip() for k in ("paid_on", "amount", "method", "reference")}
    try:
        amount = values["amount"]
        share = min(invoices.balance(invoice), money.parse_money(amount, "amount")) if amount else None
        service.record_payment(
            db,
            actor,
            {
                **values,
                "organisation_id": invoice.organisation_id,
                "allocations": [{"invoice_id": invoice.id, "amount": f"{share:.2f}"}] if share else [],
            },
        )
    except ValidationFailed as exc:
        db.rollback()
        invoice = invoices.get_invoice(db, actor, invoice_id)
        return _panel(request, db, actor, invoice, form_errors(exc, actor.language), values=values)
    return redirect(f"/invoices/{invoice_id}", flash=_t(actor, "Payment recorded"), request=request)


@router.post("/invoice/{invoice_id}/pause")
async def pause(invoice_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    invoice = invoices.get_invoice(db, actor, invoice_id)
    form = await request.form()
    if form.get("resume"):
        dunning.resume_invoice(db, actor, invoice)
    else:
        dunning.pause_invoice(db, actor, invoice, str(form.get("reason") or ""))
    return redirect(f"/invoices/{invoice_id}", request=request)


@router.get("/invoice/{invoice_id}/letters/{reminder_id}")
def letter(invoice_id: int, reminder_id: int, db: DbDep, actor: WebActor) -> Response:
    invoice = invoices.get_invoice(db, actor, invoice_id)
    return Response(
        dunning.letter_of(db, actor, invoice, reminder_id),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="mise-en-demeure-{invoice.number}.pdf"'},
    )


# -- payments list -----------------------------------------------------------------------------------


@router.get("")
def list_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    raw = {
        k: v
        for k, v in request.query_params.items()
        if v and k in ("q", "cursor", "organisation_id", "method")
    }
    params = listing.parse_params(raw, default_sort="-paid_on")
    rows, cursor = service.list_payments(db, actor, params)
    return render(
        request,
        "payments/list.html",
        rows=rows,
        next_cursor=cursor,
        q=raw.get("q", ""),
        org_names=organisations.names_by_id(
            db, actor, {p.organisation_id for p in rows if p.organisation_id}
        ),
        method_labels=METHOD_LABELS,
        credit=service.credit,
    )


# -- bank matching -------------------------------------------------------------------------------------


def _bank_page(
    request: Request, db: Session, actor: Actor, error: str | None = None, status_code: int = 200
) -> Response:
    lines = bank.list_lines(db, actor)
    return render(
        request,
        "payments/bank.html",
        status_code=status_code,
        lines=[(line, bank.proposals(db, actor, line)) for line in lines],
        reason_labels=REASON_LABELS,
        error=error,
    )


@router.get("/bank")
def bank_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    return _bank_page(request, db, actor)


@router.post("/bank/import")
async def bank_import(request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    upload = form.get("file")
    if upload is None or isinstance(upload, str) or not upload.filename:
        return _bank_page(request, db, actor, _t(actor, "Choose a file"), 422)
    try:
        lines = bank.import_statement(db, actor, upload.filename, await upload.read())
    except DomainError as exc:
        db.rollback()
        messages = [gettext(e.message, actor.language, **e.params) for e in exc.errors] or [
            gettext(exc.message, actor.language)
        ]
        return _bank_page(request, db, actor, "; ".join(messages), 422)
    return redirect(
        "/payments/bank", flash=_t(actor, "{n} bank lines imported", n=len(lines)), request=request
    )


@router.post("/bank/{line_id}/confirm")
async def bank_confirm(line_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    line = bank.get_line(db, actor, line_id)
    try:
        ids = [int(v) for v in str(form.get("invoice_ids") or "").split(",") if v.strip()]
        bank.confirm(db, actor, line, ids)
    except (DomainError, ValueError) as exc:
        db.rollback()
        message = exc.errors[0].message if isinstance(exc, DomainError) and exc.errors else "Unknown invoice"
        return _bank_page(request, db, actor, _t(actor, message), 422)
    return redirect("/payments/bank", flash=_t(actor, "Payment recorded"), request=request)


@router.post("/bank/{line_id}/ignore")
async def bank_ignore(line_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    bank.ignore(db, actor, bank.get_line(db, actor, line_id))
    return redirect("/payments/bank", request=request)


# -- dunning templates ---------------------------------------------------------------------------------


@router.get("/dunning")
def dunning_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    return render(
        request,
        "payments/dunning.html",
        templates=dunning.templates(db, actor),
        steps=DUNNING_STEPS,
        step_labels=dunning.STEP_LABELS,
        placeholders=dunning.PLACEHOLDERS,
        errors={},
        failed_step=None,
    )


@router.post("/dunning/{step}")
async def save_template(step: str, request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    try:
        dunning.set_template(db, actor, step, form.get("subject"), form.get("body"))
    except ValidationFailed as exc:
        db.rollback()
        found = dunning.templates(db, actor)
        found[step] = (str(form.get("subject") or ""), str(form.get("body") or ""))
        return render(
            request,
            "payments/dunning.html",
            status_code=422,
            templates=found,
            steps=DUNNING_STEPS,
            step_labels=dunning.STEP_LABELS,
            placeholders=dunning.PLACEHOLDERS,
            errors=form_errors(exc, actor.language),
            failed_step=step,
        )
    return redirect("/payments/dunning", flash=_t(actor, "Template saved"), request=request)
