"""JSON routes of contracts: /api/v1/contracts (+ amendments, renew, terminate) and the
recurring-revenue figures at /api/v1/finance/recurring."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from carnet.api.common import Page, body_dict, if_match_version, list_params, set_etag
from carnet.api.deps import ActorDep, DbDep, Requires
from carnet.contracts import service
from carnet.contracts.schemas import (
    AmendmentCreate,
    ContractCreate,
    ContractRead,
    ContractRenewalRead,
    ContractUpdate,
    ContractVersionRead,
    RecurringFigures,
    RenewRequest,
    TerminateRequest,
)

router = APIRouter(tags=["contracts"])


@router.get(
    "/contracts", response_model=Page[ContractRead], dependencies=[Depends(Requires("contracts:read"))]
)
def list_contracts(request: Request, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Filters: `status=active,to_renew`, `contract_type=`, `organisation_id=`, `end_date__lte=`,
    `billing_period=`...; `q` searches the title; `sort=end_date|-amount|...`."""
    rows, cursor = service.list_contracts(db, actor, list_params(request))
    return {"items": [service.to_read(c) for c in rows], "next_cursor": cursor}


@router.post("/contracts", status_code=201, response_model=ContractRead)
def create_contract(body: ContractCreate, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    """Version 1 of the terms; the end date defaults to the start + `renewal_months` − 1 day."""
    contract = service.create_contract(db, actor, body_dict(body))
    set_etag(response, contract)
    response.headers["Location"] = f"/api/v1/contracts/{contract.id}"
    return service.to_read(contract)


@router.get("/contracts/{contract_id}", response_model=ContractRead)
def get_contract(contract_id: int, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    contract = service.get_contract(db, actor, contract_id)
    set_etag(response, contract)
    return service.to_read(contract)


@router.patch("/contracts/{contract_id}", response_model=ContractRead)
def update_contract(
    contract_id: int, body: ContractUpdate, request: Request, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    """Title, links, options, owner. Terms answer 409 `amendment_required`."""
    contract = service.get_contract(db, actor, contract_id)
    contract = service.update_contract(db, actor, contract, body_dict(body), if_match_version(request))
    set_etag(response, contract)
    return service.to_read(contract)


@router.delete("/contracts/{contract_id}", status_code=204)
def delete_contract(contract_id: int, request: Request, db: DbDep, actor: ActorDep) -> Response:
    contract = service.get_contract(db, actor, contract_id)
    service.delete_contract(db, actor, contract, if_match_version(request))
    return Response(status_code=204)


@router.get("/contracts/{contract_id}/amendments", response_model=list[ContractVersionRead])
def list_amendments(contract_id: int, db: DbDep, actor: ActorDep) -> list[dict[str, Any]]:
    """Every version of the terms, version 1 (the signature) first."""
    contract = service.get_contract(db, actor, contract_id)
    return [service.version_to_read(v) for v in service.versions(db, contract)]


@router.get("/contracts/{contract_id}/amendments/{number}", response_model=ContractVersionRead)
def get_amendment(contract_id: int, number: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    contract = service.get_contract(db, actor, contract_id)
    return service.version_to_read(service.get_version(db, contract, number))


@router.post("/contracts/{contract_id}/amendments", status_code=201, response_model=ContractVersionRead)
def amend_contract(
    contract_id: int, body: AmendmentCreate, request: Request, db: DbDep, actor: ActorDep
) -> dict[str, Any]:
    """New terms from `effective_date` with a `reason`; earlier versions stay unchanged."""
    contract = service.get_contract(db, actor, contract_id)
    version = service.amend_contract(db, actor, contract, body_dict(body), if_match_version(request))
    return service.version_to_read(version)


@router.get("/contracts/{contract_id}/renewals", response_model=list[ContractRenewalRead])
def list_renewals(contract_id: int, db: DbDep, actor: ActorDep) -> list[dict[str, Any]]:
    contract = service.get_contract(db, actor, contract_id)
    return [service.renewal_to_read(r) for r in service.renewals(db, contract)]


@router.post("/contracts/{contract_id}/renew", response_model=ContractRead)
def renew_contract(
    contract_id: int, body: RenewRequest, request: Request, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    """A new period from the day after the current end (optionally at a new `amount`)."""
    contract = service.get_contract(db, actor, contract_id)
    service.renew_contract(db, actor, contract, body_dict(body), if_match_version(request))
    set_etag(response, contract)
    return service.to_read(contract)


@router.post("/contracts/{contract_id}/terminate", response_model=ContractRead)
def terminate_contract(
    contract_id: int, body: TerminateRequest, request: Request, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    contract = service.get_contract(db, actor, contract_id)
    service.terminate_contract(db, actor, contract, body_dict(body), if_match_version(request))
    set_etag(response, contract)
    return service.to_read(contract)


@router.get("/finance/recurring", response_model=RecurringFigures)
def recurring(db: DbDep, actor: ActorDep, month: str | None = None) -> dict[str, Any]:
    """MRR, ARR, month-over-month change, renewal rate, churn, lifetime value, contracts to renew
    in 30/60/90 days and churn by reason for `month` (YYYY-MM, default the current month)."""
    return service.figures_to_read(service.recurring_figures(db, actor, month))
