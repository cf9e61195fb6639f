"""JSON routes of finance: /api/v1/finance/summary, the FEC (/api/v1/exports/fec), the accounting
CSV exports (/api/v1/finance/exports/{kind}), the account mapping and the CSV layouts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response, StreamingResponse

from carnet.api.deps import ActorDep, DbDep, Requires
from carnet.finance import exports, fec, service, summary
from carnet.finance.schemas import AccountsRead, AccountsWrite, LayoutRead, LayoutWrite, SummaryRead

router = APIRouter(tags=["finance"])


def _attachment(name: str) -> str:
    return f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"


@router.get("/finance/summary", response_model=SummaryRead, dependencies=[Depends(Requires("finance:read"))])
def finance_summary(db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Invoiced vs collected over 12 months, unpaid invoices, aged receivables, cash forecast at
    J+30/60/90 (invoices and contract billing) and MRR/ARR, over the records the user may see."""
    return summary.to_read(summary.compute(db, actor))


@router.get(
    "/exports/fec",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
    dependencies=[Depends(Requires("finance:export"))],
)
def export_fec(
    db: DbDep,
    actor: ActorDep,
    date_from: str | None = Query(None, alias="from", description="YYYY-MM-DD"),
    date_to: str | None = Query(
        None, alias="to", description="YYYY-MM-DD, the closing date in the file name"
    ),
) -> Response:
    """The FEC of the period (france.md §5): 18 tab-separated columns, ISO-8859-15, CRLF, named
    `<SIREN>FEC<YYYYMMDD>.txt`; sales (VT) and bank (BQ) journals. Audited."""
    result = fec.export_fec(db, actor, date_from, date_to)

    def send() -> Iterator[bytes]:
        yield result.content
        fec.record_export(actor, result)  # once sent, after the request's own session has ended

    return StreamingResponse(
        send(),
        media_type="text/plain; charset=iso-8859-15",
        headers={"Content-Disposition": _attachment(result.filename)},
    )


@router.get(
    "/finance/exports/{kind}",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
    dependencies=[Depends(Requires("finance:export"))],
)
def export_csv(
    kind: str,
    db: DbDep,
    actor: ActorDep,
    date_from: str | None = Query(None, alias="from"),
    date_to: str | None = Query(None, alias="to"),
) -> Response:
    """`invoices`, `payments` or `customers` as CSV for an accounting tool, in the saved layout."""
    result = exports.export_csv(db, actor, kind, date_from, date_to)

    def send() -> Iterator[bytes]:
        yield result.content
        exports.record_export(actor, result)

    return StreamingResponse(
        send(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": _attachment(result.filename)},
    )


@router.get("/finance/accounts", response_model=AccountsRead)
def get_accounts(db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """The accounts of the FEC: customer, bank, deposit, default revenue and VAT, VAT on hold
    (services without the debits option), then revenue per product category and VAT per rate."""
    return {"accounts": service.accounts_to_read(service.get_accounts(db, actor))}


@router.put("/finance/accounts", response_model=AccountsRead)
def set_accounts(body: AccountsWrite, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Set accounts (all or none); a revenue or VAT entry with a key and no number removes it."""
    data = [a.model_dump() for a in body.accounts]
    return {"accounts": service.accounts_to_read(service.set_accounts(db, actor, data))}


def _layout(db: DbDep, kind: str, columns: list[dict[str, str]]) -> dict[str, Any]:
    return {"kind": kind, "columns": columns, "fields": service.default_layout(kind)}


@router.get("/finance/export-layouts/{kind}", response_model=LayoutRead)
def get_layout(kind: str, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    return _layout(db, kind, service.get_layout(db, actor, kind))


@router.put("/finance/export-layouts/{kind}", response_model=LayoutRead)
def set_layout(kind: str, body: LayoutWrite, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Choose, rename and order the columns of an export kind."""
    columns = None if body.columns is None else [c.model_dump() for c in body.columns]
    return _layout(db, kind, service.set_layout(db, actor, kind, columns))
