"""JSON routes of the company settings: GET/PUT /api/v1/settings/company."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from carnet.api.common import body_dict, if_match_version
from carnet.api.deps import ActorDep, DbDep
from carnet.company import service
from carnet.company.schemas import CompanyRead, CompanyUpdate

router = APIRouter(prefix="/settings/company", tags=["company"])


def _etag(response: Response, company: Any) -> None:
    if company.version is not None:
        response.headers["ETag"] = f'"{company.version}"'


@router.get("", response_model=CompanyRead)
def get_company(db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    """The legal identity printed on quotes and invoices (defaults until it is first saved)."""
    company = service.read_company(db, actor)
    _etag(response, company)
    return service.to_read(company)


@router.put("", response_model=CompanyRead)
def update_company(
    body: CompanyUpdate, request: Request, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    """Set the fields sent (others keep their value). SIREN, SIRET, VAT number, IBAN and BIC are
    checked with their keys; numbering patterns take {YYYY}, {YY}, {MM}, {DD} and {seq:04}."""
    company = service.update_company(db, actor, body_dict(body), if_match_version(request))
    _etag(response, company)
    return service.to_read(company)
