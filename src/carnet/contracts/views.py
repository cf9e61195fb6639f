"""HTML pages of contracts: list, new, detail (terms, amendments, renewals, alerts, invoices,
timeline and files; amend, renew, terminate) and the recurring-revenue dashboard."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from carnet.api.deps import DbDep
from carnet.contracts import figures, service
from carnet.contracts.models import (
    BILLING_PERIODS,
    CONTRACT_STATUSES,
    CONTRACT_TYPES,
    RUNNING_STATUSES,
    TERMINATION_REASONS,
    Contract,
)
from carnet.core import attachments, listing
from carnet.core.context import Actor
from carnet.core.errors import ValidationFailed
from carnet.core.i18n import gettext
from carnet.core.money import VAT_RATES
from carnet.organisations import service as organisations
from carnet.search import service as search
from carnet.web.forms import form_to_data
from carnet.web.shell import WebActor, form_errors, redirect, render

router = APIRouter(prefix="/contracts", include_in_schema=False)

STATUS_LABELS = {
    "active": "Active",
    "to_renew": "To renew",
    "renewed": "Renewed",
    "terminated": "Terminated",
    "expired": "Expired",
}
STATUS_BADGES = {
    "active": "client",
    "to_renew": "open",
    "renewed": "won",
    "terminated": "lost",
    "expired": "former",
}
TYPE_LABELS = {"service": "Service", "subscription": "Subscription", "maintenance": "Maintenance"}
PERIOD_LABELS = {"monthly": "Monthly", "quarterly": "Quarterly", "yearly": "Yearly"}
REASON_LABELS = {
    "price": "Price",
    "dissatisfaction": "Dissatisfaction",
    "competitor": "Competitor",
    "other": "Other",
    "not_renewed": "Not renewed",
}
TERM_INPUTS = (
    "contract_type",
    "amount",
    "vat_rate",
    "billing_period",
    "end_date",
    "notice_days",
    "renewal_months",
)
OPTION_INPUTS = (
    "title",
    "organisation_id",
    "deal_id",
    "quote_id",
    "next_billing_date",
    "client_email",
    "signed_attachment_id",
    "notes",
)
CHECKBOXES = ("tacit_renewal", "auto_invoice", "notify_client")


def _t(actor: Actor, text: str, **params: Any) -> str:
    return gettext(text, actor.language, **params)


def _choices(actor: Actor) -> dict[str, Any]:
    return {
        "type_choices": [(t, _t(actor, TYPE_LABELS[t])) for t in CONTRACT_TYPES],
        "period_choices": [(p, _t(actor, PERIOD_LABELS[p])) for p in BILLING_PERIODS],
        "reason_choices": [(r, _t(actor, REASON_LABELS[r])) for r in TERMINATION_REASONS],
        "rate_choices": [(f"{r:.2f}", f"{r.normalize():f} %".replace(".", ",")) for r in VAT_RATES],
        "status_labels": STATUS_LABELS,
        "status_badges": STATUS_BADGES,
        "type_labels": TYPE_LABELS,
        "period_labels": PERIOD_LABELS,
        "reason_labels": REASON_LABELS,
    }


def _form_data(form: Any, fields: tuple[str, ...], checkboxes: tuple[str, ...] = ()) -> dict[str, Any]:
    data = form_to_data(form, fields)
    for name in checkboxes:
        data[name] = name in form
    return data


# -- list and creation -----------------------------------------------------------------------------


@router.get("")
def list_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    raw = {
        k: v
        for k, v in request.query_params.items()
        if v and k in ("status", "q", "cursor", "organisation_id")
    }
    error = None
    try:
        params = listing.parse_params(raw, default_sort="end_date")
        rows, cursor = service.list_contracts(db, actor, params)
    except ValidationFailed as exc:
        db.rollback()
        rows, cursor = [], None
        error = "; ".join(form_errors(exc, actor.language).values())
    return render(
        request,
        "contracts/list.html",
        rows=rows,
        next_cursor=cursor,
        counts=service.count_by_status(db, actor),
        statuses=CONTRACT_STATUSES,
        current_status=raw.get("status", ""),
        q=raw.get("q", ""),
        org_names=organisations.names_by_id(
            db, actor, {c.organisation_id for c in rows if c.organisation_id}
        ),
        monthly=service.monthly_value,
        error=error,
        **_choices(actor),
    )


@router.get("/new")
def new_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    values = {k: request.query_params.get(k, "") for k in ("organisation_id", "deal_id", "quote_id", "title")}
    values.update(
        {"contract_type": "service", "billing_period": "monthly", "vat_rate": "20.00", "renewal_months": 12}
    )
    return render(
        request,
        "contracts/new.html",
        values=values,
        errors={},
        quote_label=search.choice_label(db, actor, "quote", values["quote_id"]),
        **_choices(actor),
    )


@router.post("/new")
async def create(request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    data = _form_data(form, (*OPTION_INPUTS, *TERM_INPUTS, "start_date"), CHECKBOXES)
    try:
        contract = service.create_contract(db, actor, data)
    except ValidationFailed as exc:
        db.rollback()
        return render(
            request,
            "contracts/new.html",
            status_code=422,
            values=data,
            errors=form_errors(exc, actor.language),
            quote_label=search.choice_label(db, actor, "quote", data.get("quote_id")),
            **_choices(actor),
        )
    return redirect(f"/contracts/{contract.id}", flash=_t(actor, "Contract created"), request=request)


# -- recurring revenue -----------------------------------------------------------------------------


def _bars(points: list[figures.MonthPoint], lang: str) -> dict[str, Any]:
    """Geometry of the server-drawn SVG bar chart (viewBox 0 0 720 240)."""
    top = max((p.mrr for p in points), default=Decimal(0)) or Decimal(1)
    width, height, gap = 720, 200, 12
    slot = width / max(len(points), 1)
    bars = []
    for i, p in enumerate(points):
        h = float(p.mrr / top) * (height - 20)
        bars.append(
            {
                "x": round(i * slot + gap / 2, 1),
                "y": round(height - h, 1),
                "w": round(slot - gap, 1),
                "h": round(h, 1),
                "label": p.month.strftime("%m/%y"),
                "value": p.mrr,
                "cx": round(i * slot + slot / 2, 1),
            }
        )
    return {"bars": bars, "height": height}


@router.get("/recurring")
def recurring_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    month = request.query_params.get("month") or None
    error = None
    try:
        result = service.recurring_figures(db, actor, month)
    except ValidationFailed as exc:
        db.rollback()
        error = "; ".join(form_errors(exc, actor.language).values())
        result = service.recurring_figures(db, actor, None)
    top_reason = max((r.count for r in result.churn_by_reason), default=0) or 1
    return render(
        request,
        "contracts/recurring.html",
        f=result,
        chart=_bars(result.series, actor.language),
        top_reason=top_reason,
        month_value=result.month.isoformat()[:7],
        error=error,
        **_choices(actor),
    )


# -- detail ----------------------------------------------------------------------------------------


def _detail(db: Session, actor: Actor, contract: Contract, **extra: Any) -> dict[str, Any]:
    files = attachments.list_for(db, service.RECORD_TYPE, contract.id)
    return {
        "contract": contract,
        "versions": service.versions(db, contract),
        "renewals": service.renewals(db, contract),
        "alerts": service.alerts(db, contract),
        "billings": service.billings(db, contract),
        "files": files,
        "file_choices": [(f.id, f.filename) for f in files],
        "signed_file": next((f for f in files if f.id == contract.signed_attachment_id), None),
        "org_name": organisations.names_by_id(db, actor, {contract.organisation_id}).get(
            contract.organisation_id
        )
        if contract.organisation_id
        else None,
        "monthly_value": service.monthly_value(contract),
        "notice_deadline": service.notice_deadline(contract),
        "running": contract.status in RUNNING_STATUSES,
        "can_update": actor.can("contracts:update"),
        "record_type": service.RECORD_TYPE,
        "rid": contract.id,
        "errors": {},
        "values": {},
        "open_dialog": None,
        "today": service.today(),
        # the edit dialog's quote picker shows the quote's number and client with the page
        "quote_label": search.choice_label(
            db, actor, "quote", extra.get("values", {}).get("quote_id", contract.quote_id)
        ),
        **_choices(actor),
        **extra,
    }


@router.get("/{contract_id}")
def detail_page(contract_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    contract = service.get_contract(db, actor, contract_id)
    return render(request, "contracts/detail.html", **_detail(db, actor, contract))


async def _act(
    request: Request,
    db: Session,
    actor: Actor,
    contract_id: int,
    dialog: str,
    fields: tuple[str, ...],
    action: Any,
) -> Response:
    contract = service.get_contract(db, actor, contract_id)
    form = await request.form()
    checkboxes = CHECKBOXES if dialog == "edit" else ("tacit_renewal",) if dialog == "amend" else ()
    data = _form_data(form, fields, checkboxes)
    version = form.get("version")
    try:
        message = action(contract, data, int(version) if version else None)
    except ValidationFailed as exc:
        db.rollback()
        contract = service.get_contract(db, actor, contract_id)
        return render(
            request,
            "contracts/detail.html",
            status_code=422,
            **_detail(
                db, actor, contract, errors=form_errors(exc, actor.language), values=data, open_dialog=dialog
            ),
        )
    return redirect(f"/contracts/{contract_id}", flash=message, request=request)


@router.post("/{contract_id}/edit")
async def edit(contract_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    def action(contract: Contract, data: dict[str, Any], version: int | None) -> str:
        service.update_contract(db, actor, contract, data, version)
        return _t(actor, "Contract saved")

    return await _act(request, db, actor, contract_id, "edit", OPTION_INPUTS, action)


@router.post("/{contract_id}/amend")
async def amend(contract_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    def action(contract: Contract, data: dict[str, Any], version: int | None) -> str:
        amendment = service.amend_contract(db, actor, contract, data, version)
        return _t(actor, "Amendment {n} recorded", n=amendment.version)

    return await _act(
        request, db, actor, contract_id, "amend", (*TERM_INPUTS, "effective_date", "reason"), action
    )


@router.post("/{contract_id}/renew")
async def renew(contract_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    def action(contract: Contract, data: dict[str, Any], version: int | None) -> str:
        renewal = service.renew_contract(db, actor, contract, data, version)
        return _t(actor, "Contract renewed until {date}", date=renewal.new_end.strftime("%d/%m/%Y"))

    return await _act(request, db, actor, contract_id, "renew", ("months", "amount"), action)


@router.post("/{contract_id}/terminate")
async def terminate(contract_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    def action(contract: Contract, data: dict[str, Any], version: int | None) -> str:
        service.terminate_contract(db, actor, contract, data, version)
        return _t(actor, "Contract terminated")

    return await _act(
        request, db, actor, contract_id, "terminate", ("reason", "effective_date", "note"), action
    )
