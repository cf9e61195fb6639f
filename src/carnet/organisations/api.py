"""JSON routes for organisations."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from carnet.api.common import Page, body_dict, if_match_version, list_params, set_etag
from carnet.api.deps import ActorDep, DbDep, Requires
from carnet.api.exports import add_export_route
from carnet.organisations import service, transfer
from carnet.organisations.schemas import OrganisationCreate, OrganisationRead, OrganisationUpdate

router = APIRouter(prefix="/organisations", tags=["organisations"])


@router.get("", response_model=Page[OrganisationRead], dependencies=[Depends(Requires("organisations:read"))])
def list_organisations(request: Request, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """List organisations. Filters on every field (`city=Lyon`, `headcount__gte=10`, `cf.segment=x`),
    `sort=name|-created_at|...`, `limit`, `cursor`, `created_since`, `updated_since`, `tag`."""
    items, cursor = service.list_organisation_reads(db, actor, list_params(request, default_sort="-id"))
    return {"items": items, "next_cursor": cursor}


@router.post("", status_code=201, response_model=OrganisationRead)
def create_organisation(
    body: OrganisationCreate, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    org = service.create_organisation(db, actor, body_dict(body))
    set_etag(response, org)
    response.headers["Location"] = f"/api/v1/organisations/{org.id}"
    return service.api_reads(db, [org])[0]


add_export_route(router, transfer.EXPORTER)


@router.get("/{org_id}", response_model=OrganisationRead)
def get_organisation(org_id: int, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    org = service.get_organisation(db, actor, org_id)
    set_etag(response, org)
    return service.api_reads(db, [org])[0]


@router.patch("/{org_id}", response_model=OrganisationRead)
def update_organisation(
    org_id: int, body: OrganisationUpdate, request: Request, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    org = service.get_organisation(db, actor, org_id)
    org = service.update_organisation(db, actor, org, body_dict(body), if_match_version(request))
    set_etag(response, org)
    return service.api_reads(db, [org])[0]


@router.delete("/{org_id}", status_code=204)
def delete_organisation(org_id: int, request: Request, db: DbDep, actor: ActorDep) -> Response:
    org = service.get_organisation(db, actor, org_id)
    service.delete_organisation(db, actor, org, if_match_version(request))
    return Response(status_code=204)


@router.get("/{org_id}/establishments", response_model=list[OrganisationRead])
def list_establishments(org_id: int, db: DbDep, actor: ActorDep) -> list[dict[str, Any]]:
    org = service.get_organisation(db, actor, org_id)
    return service.api_reads(db, service.establishments(db, actor, org))
