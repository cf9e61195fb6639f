"""HTML pages of finance: the dashboard (invoiced vs collected, unpaid, aged receivables, cash
forecast, MRR/ARR), the accounting exports (FEC, CSV with their column layouts) and the account
mapping settings."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.api.deps import DbDep
from carnet.catalogue.models import Product
from carnet.core.context import Actor
from carnet.core.errors import PermissionDenied, ValidationFailed
from carnet.core.i18n import gettext
from carnet.core.money import VAT_RATES
from carnet.finance import exports, fec, service, summary
from carnet.finance.models import BANK, CUSTOMER, DEPOSIT, REVENUE, VAT, VAT_ON_HOLD
from carnet.invoices import service as invoices
from carnet.web.shell import WebActor, form_errors, redirect, render

router = APIRouter(prefix="/finance", include_in_schema=False)

BUCKET_LABELS = {
    "not_due": "Not yet due",
    "0_30": "0–30 days",
    "31_60": "31–60 days",
    "61_90": "61–90 days",
    "over_90": "Over 90 days",
}
PURPOSE_LABELS = {
    CUSTOMER: "Customers",
    BANK: "Bank",
    DEPOSIT: "Customer advances (deposits)",
    REVENUE: "Revenue (default)",
    VAT: "VAT collected (default)",
    VAT_ON_HOLD: "VAT collected on hold (services, no debits option)",
}
KIND_LABELS = {"invoices": "Invoices", "payments": "Payments", "customers": "Customers"}


def _attachment(name: str) -> str:
    return f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"


# -- dashboard -------------------------------------------------------------------------------------


def _chart(result: summary.Summary) -> dict[str, Any]:
    """Geometry of the server-drawn SVG chart: two bars a month (viewBox 0 0 720 240)."""
    top = result.top_month if result.top_month > 0 else Decimal(1)
    width, height = 720, 200
    slot = width / len(result.months)
    bar = (slot - 12) / 2
    months = []
    for i, m in enumerate(result.months):
        x = i * slot + 6
        h_inv = float(max(m.invoiced, Decimal(0)) / top) * (height - 20)
        h_col = float(max(m.collected, Decimal(0)) / top) * (height - 20)
        months.append(
            {
                "label": m.month.strftime("%m/%y"),
                "invoiced": m.invoiced,
                "collected": m.collected,
                "x1": round(x, 1),
                "x2": round(x + bar, 1),
                "w": round(bar, 1),
                "y1": round(height - h_inv, 1),
                "h1": round(h_inv, 1),
                "y2": round(height - h_col, 1),
                "h2": round(h_col, 1),
                "cx": round(i * slot + slot / 2, 1),
            }
        )
    return {"months": months, "height": height}


@router.get("")
def dashboard(request: Request, db: DbDep, actor: WebActor) -> Response:
    result = summary.compute(db, actor)
    top_bucket = max((b.amount for b in result.aged), default=Decimal(0)) or Decimal(1)
    return render(
        request,
        "finance/dashboard.html",
        s=result,
        chart=_chart(result),
        top_bucket=top_bucket,
        bucket_labels=BUCKET_LABELS,
    )


# -- exports ---------------------------------------------------------------------------------------


def _exports_page(
    request: Request,
    db: Session,
    actor: Actor,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    failed_kind: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    if not actor.can("finance:export"):
        raise PermissionDenied()
    layouts = {}
    for kind in service.EXPORT_KINDS:
        chosen = {c["field"]: (i, c["header"]) for i, c in enumerate(service.layout_of(db, kind))}
        rows = []
        for field, default in service.FIELDS[kind].items():
            position, header = chosen.get(field, (None, default))
            rows.append(
                {
                    "field": field,
                    "default": default,
                    "header": header,
                    "chosen": position is not None,
                    "position": (position + 1) if position is not None else "",
                }
            )
        rows.sort(key=lambda r: (not r["chosen"], r["position"] or 0))
        layouts[kind] = rows
    today = invoices.today()
    return render(
        request,
        "finance/exports.html",
        status_code=status_code,
        layouts=layouts,
        kind_labels=KIND_LABELS,
        errors=errors or {},
        failed_kind=failed_kind,
        values=values
        or {
            "from": today.replace(month=1, day=1).isoformat(),
            "to": today.replace(month=12, day=31).isoformat(),
        },
    )


@router.get("/exports")
def exports_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    return _exports_page(request, db, actor)


@router.get("/exports/fec")
def download_fec(request: Request, db: DbDep, actor: WebActor) -> Response:
    params = request.query_params
    try:
        result = fec.export_fec(db, actor, params.get("from"), params.get("to"))
    except ValidationFailed as exc:
        db.rollback()
        values = {"from": params.get("from") or "", "to": params.get("to") or ""}
        return _exports_page(request, db, actor, 422, form_errors(exc, actor.language), "fec", values)

    def send() -> Iterator[bytes]:
        yield result.content
        fec.record_export(actor, result)

    return StreamingResponse(
        send(),
        media_type="text/plain; charset=iso-8859-15",
        headers={"Content-Disposition": _attachment(result.filename)},
    )


@router.get("/exports/{kind}.csv")
def download_csv(kind: str, request: Request, db: DbDep, actor: WebActor) -> Response:
    params = request.query_params
    try:
        result = exports.export_csv(db, actor, kind, params.get("from"), params.get("to"))
    except ValidationFailed as exc:
        db.rollback()
        values = {"from": params.get("from") or "", "to": params.get("to") or ""}
        return _exports_page(request, db, actor, 422, form_errors(exc, actor.language), kind, values)

    def send() -> Iterator[bytes]:
        yield result.content
        exports.record_export(actor, result)

    return StreamingResponse(
        send(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": _attachment(result.filename)},
    )


@router.post("/exports/layouts/{kind}")
async def save_layout(kind: str, request: Request, db: DbDep, actor: WebActor) -> Response:
    """The layout form: a checkbox, a header and a position per field; checked fields are kept,
    ordered by position (then by their order on the page)."""
    form = await request.form()
    if form.get("reset"):
        columns = None
    else:
        picked = []
        for index, field in enumerate(form.getlist("field")):
            if form.get(f"use.{field}"):
                raw_position = str(form.get(f"position.{field}") or "").strip()
                position = int(raw_position) if raw_position.isdigit() else 10_000
                picked.append(
                    (position, index, {"field": field, "header": form.get(f"header.{field}") or ""})
                )
        columns = [c for _p, _i, c in sorted(picked, key=lambda t: (t[0], t[1]))]
    try:
        service.set_layout(db, actor, kind, columns)
    except ValidationFailed as exc:
        db.rollback()
        return _exports_page(request, db, actor, 422, form_errors(exc, actor.language), kind)
    return redirect("/finance/exports", gettext("Export layout saved", actor.language), request)


# -- settings --------------------------------------------------------------------------------------


def _settings_page(
    request: Request, db: Session, actor: Actor, status_code: int = 200, errors: dict[str, str] | None = None
) -> Response:
    chart = service.get_accounts(db, actor)
    categories = sorted(
        {c for c in db.scalars(select(Product.category).where(Product.category.is_not(None))) if c}
        | set(chart.revenue_by_category)
    )
    rates = sorted(
        {f"{r:.2f}" for r in VAT_RATES if r > 0} | set(chart.vat_by_rate), key=Decimal, reverse=True
    )
    defaults = [
        (CUSTOMER, chart.customer),
        (BANK, chart.bank),
        (DEPOSIT, chart.deposit),
        (REVENUE, chart.revenue),
        (VAT, chart.vat),
        (VAT_ON_HOLD, chart.vat_on_hold),
    ]
    return render(
        request,
        "finance/settings.html",
        status_code=status_code,
        defaults=defaults,
        categories=[(c, chart.revenue_by_category.get(c)) for c in categories],
        rates=[(r, chart.vat_by_rate.get(r)) for r in rates],
        purpose_labels=PURPOSE_LABELS,
        errors=errors or {},
        can_edit=actor.can("finance:update"),
    )


@router.get("/settings")
def settings_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    return _settings_page(request, db, actor)


@router.post("/settings")
async def save_settings(request: Request, db: DbDep, actor: WebActor) -> Response:
    """One row per account of the page: `purpose.N`, `key.N`, `number.N`, `label.N`; a category or
    rate left without a number uses the default account."""
    form = await request.form()
    accounts = []
    for index in form.getlist("row"):
        accounts.append(
            {
                "purpose": form.get(f"purpose.{index}"),
                "key": form.get(f"key.{index}") or "",
                "number": (form.get(f"number.{index}") or "").strip(),
                "label": (form.get(f"label.{index}") or "").strip(),
            }
        )
    try:
        service.set_accounts(db, actor, accounts)
    except ValidationFailed as exc:
        db.rollback()
        return _settings_page(request, db, actor, 422, form_errors(exc, actor.language))
    return redirect("/finance/settings", gettext("Accounts saved", actor.language), request)
