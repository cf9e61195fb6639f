"""JSON routes of payments: /api/v1/payments (record, allocate credit, delete), the client's
credit, bank statement lines (import, proposals, confirm, ignore) and dunning (templates,
per-client plans, per-invoice pause and history)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, File, Request, Response, UploadFile

from carnet.api.common import Page, body_dict, if_match_version, list_params, set_etag
from carnet.api.deps import ActorDep, DbDep, Requires
from carnet.invoices import service as invoices
from carnet.payments import bank, dunning, service
from carnet.payments.models import DUNNING_STEPS
from carnet.payments.schemas import (
    AllocateCredit,
    BankConfirm,
    BankLineRead,
    CreditRead,
    InvoiceDunningRead,
    PauseWrite,
    PaymentCreate,
    PaymentRead,
    PlanRead,
    PlanWrite,
    ProposalRead,
    TemplateRead,
    TemplateWrite,
)

router = APIRouter(prefix="/payments", tags=["payments"])


def _allocations(items: Any) -> list[dict[str, Any]] | None:
    if items is None:
        return None
    return [item.model_dump(exclude_unset=True) for item in items]


def _line(line: Any) -> dict[str, Any]:
    return {
        "id": line.id,
        "statement": line.statement,
        "line_no": line.line_no,
        "booked_on": line.booked_on,
        "label": line.label,
        "amount": f"{line.amount:.2f}",
        "status": line.status,
        "payment_id": line.payment_id,
    }


@router.get("", response_model=Page[PaymentRead], dependencies=[Depends(Requires("payments:read"))])
def list_payments(request: Request, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Filters: `organisation_id=`, `method=`, `paid_on__gte=`...; `q` searches the reference."""
    rows, cursor = service.list_payments(db, actor, list_params(request, default_sort="-paid_on"))
    return {"items": [service.to_read(db, p) for p in rows], "next_cursor": cursor}


@router.post("", status_code=201, response_model=PaymentRead)
def record_payment(body: PaymentCreate, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    """Money received; `allocations` spread it over invoices, the rest is the client's credit."""
    data = body_dict(body)
    data["allocations"] = _allocations(body.allocations)
    payment = service.record_payment(db, actor, data)
    set_etag(response, payment)
    response.headers["Location"] = f"/api/v1/payments/{payment.id}"
    return service.to_read(db, payment)


@router.get("/credit", response_model=CreditRead)
def client_credit(organisation_id: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    return {
        "organisation_id": organisation_id,
        "credit": f"{service.client_credit(db, actor, organisation_id):.2f}",
    }


@router.get("/bank-lines", response_model=list[BankLineRead])
def list_bank_lines(db: DbDep, actor: ActorDep, status: str | None = "pending") -> list[dict[str, Any]]:
    return [_line(line) for line in bank.list_lines(db, actor, status or None)]


@router.post("/bank-lines", status_code=201, response_model=list[BankLineRead])
async def import_bank_statement(
    db: DbDep, actor: ActorDep, file: UploadFile = File(...)
) -> list[dict[str, Any]]:
    """A CSV of `date;label;amount` lines; the lines already imported are skipped."""
    content = await file.read()
    return [
        _line(line) for line in bank.import_statement(db, actor, file.filename or "statement.csv", content)
    ]


@router.get("/bank-lines/{line_id}/proposals", response_model=list[ProposalRead])
def bank_proposals(line_id: int, db: DbDep, actor: ActorDep) -> list[dict[str, Any]]:
    """Candidate invoices, best first: invoice number in the label, then the same amount."""
    line = bank.get_line(db, actor, line_id)
    return [
        {
            "invoice_ids": list(p.invoice_ids),
            "numbers": list(p.numbers),
            "organisation_id": p.organisation_id,
            "amount": f"{p.amount:.2f}",
            "reason": p.reason,
        }
        for p in bank.proposals(db, actor, line)
    ]


@router.post("/bank-lines/{line_id}/confirm", response_model=PaymentRead)
def confirm_bank_line(line_id: int, body: BankConfirm, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    line = bank.get_line(db, actor, line_id)
    return service.to_read(db, bank.confirm(db, actor, line, body.invoice_ids))


@router.post("/bank-lines/{line_id}/ignore", response_model=BankLineRead)
def ignore_bank_line(line_id: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    return _line(bank.ignore(db, actor, bank.get_line(db, actor, line_id)))


@router.get("/dunning/templates", response_model=list[TemplateRead])
def dunning_templates(db: DbDep, actor: ActorDep) -> list[dict[str, Any]]:
    found = dunning.templates(db, actor)
    return [{"step": step, "subject": found[step][0], "body": found[step][1]} for step in DUNNING_STEPS]


@router.put("/dunning/templates/{step}", response_model=TemplateRead)
def set_dunning_template(step: str, body: TemplateWrite, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Placeholders: {client}, {number}, {issue_date}, {due_date}, {balance}, {company}, {iban}, {penalty_rate}."""
    subject, text = dunning.set_template(db, actor, step, body.subject, body.body)
    return {"step": step, "subject": subject, "body": text}


@router.get("/dunning/plans/{organisation_id}", response_model=PlanRead)
def dunning_plan(organisation_id: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    from carnet.organisations import service as organisations

    organisations.get_organisation(db, actor, organisation_id)
    plan = dunning.plan_for(db, organisation_id)
    return {
        "organisation_id": organisation_id,
        **{f"{s}_days": plan.offsets[s] for s in DUNNING_STEPS},
        "paused": plan.paused,
    }


@router.put("/dunning/plans/{organisation_id}", response_model=PlanRead)
def set_dunning_plan(organisation_id: int, body: PlanWrite, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """The client's schedule in days from the due date, and its pause."""
    plan = dunning.set_plan(db, actor, organisation_id, body_dict(body))
    return {
        "organisation_id": organisation_id,
        **{f"{s}_days": plan.offsets[s] for s in DUNNING_STEPS},
        "paused": plan.paused,
    }


def _invoice_dunning(db: Any, actor: Any, invoice: Any) -> dict[str, Any]:
    return {
        "invoice_id": invoice.id,
        "paused": dunning.hold(db, actor, invoice) is not None,
        "reminders": [
            {
                "id": r.id,
                "step": r.step,
                "sent": r.sent,
                "due_date": r.due_date,
                "balance": f"{r.balance:.2f}",
                "to_address": r.to_address,
                "email_id": r.email_id,
                "has_letter": r.step == "formal" and r.sent,
                "created_at": r.created_at,
            }
            for r in dunning.reminders_of(db, actor, invoice)
        ],
    }


@router.get(
    "/dunning/invoices/{invoice_id}",
    response_model=InvoiceDunningRead,
    dependencies=[Depends(Requires("payments:read"))],
)
def invoice_dunning(invoice_id: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    return _invoice_dunning(db, actor, invoices.get_invoice(db, actor, invoice_id))


@router.post("/dunning/invoices/{invoice_id}/pause", response_model=InvoiceDunningRead)
def pause_invoice(invoice_id: int, body: PauseWrite, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    invoice = invoices.get_invoice(db, actor, invoice_id)
    dunning.pause_invoice(db, actor, invoice, body.reason)
    return _invoice_dunning(db, actor, invoice)


@router.delete("/dunning/invoices/{invoice_id}/pause", response_model=InvoiceDunningRead)
def resume_invoice(invoice_id: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    invoice = invoices.get_invoice(db, actor, invoice_id)
    dunning.resume_invoice(db, actor, invoice)
    return _invoice_dunning(db, actor, invoice)


@router.get("/dunning/invoices/{invoice_id}/letters/{reminder_id}", response_class=Response)
def formal_notice(invoice_id: int, reminder_id: int, db: DbDep, actor: ActorDep) -> Response:
    invoice = invoices.get_invoice(db, actor, invoice_id)
    content = dunning.letter_of(db, actor, invoice, reminder_id)
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="mise-en-demeure-{invoice.number}.pdf"'},
    )


@router.get("/{payment_id}", response_model=PaymentRead)
def get_payment(payment_id: int, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    payment = service.get_payment(db, actor, payment_id)
    set_etag(response, payment)
    return service.to_read(db, payment)


@router.post("/{payment_id}/allocations", response_model=PaymentRead)
def allocate_credit(payment_id: int, body: AllocateCredit, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Allocate what is left of the payment (credit) to invoices (default: oldest due first)."""
    payment = service.get_payment(db, actor, payment_id)
    return service.to_read(db, service.allocate_credit(db, actor, payment, _allocations(body.allocations)))


@router.delete("/{payment_id}", status_code=204)
def delete_payment(payment_id: int, request: Request, db: DbDep, actor: ActorDep) -> Response:
    payment = service.get_payment(db, actor, payment_id)
    service.delete_payment(db, actor, payment, if_match_version(request))
    return Response(status_code=204)
