"""JSON routes of the establishment portal: /api/v1/projects/{id}/portal-links and
/api/v1/projects/{id}/portal-requests (the public pages are in portal_views)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from carnet.api.common import Page, body_dict
from carnet.api.deps import ActorDep, DbDep, Requires
from carnet.projects import portal
from carnet.projects.portal_schemas import (
    PortalAnswer,
    PortalLinkCreate,
    PortalLinkCreated,
    PortalLinkExtend,
    PortalLinkRead,
    PortalRequestRead,
)

router = APIRouter(tags=["projects"], dependencies=[Depends(Requires("projects:read"))])
LINKS = "/projects/{project_id}/portal-links"
REQUESTS = "/projects/{project_id}/portal-requests"


@router.get(LINKS, response_model=Page[PortalLinkRead])
def list_portal_links(project_id: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Every link of the project, newest first, with its state. Tokens are never shown again."""
    project = portal.get_project(db, actor, project_id)
    links = portal.list_links(db, actor, project)
    return {"items": [portal.link_to_read(link) for link in links], "next_cursor": None}


@router.post(LINKS, status_code=201, response_model=PortalLinkCreated)
def create_portal_link(
    project_id: int, body: PortalLinkCreate, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    """A new secret link; the answer holds the token and URL, the only time they are shown."""
    project = portal.get_project(db, actor, project_id)
    data = body_dict(body)
    data["shares"] = body.shares.model_dump()
    created = portal.create_link(db, actor, project, data)
    response.headers["Location"] = f"/api/v1/projects/{project.id}/portal-links/{created.link.id}"
    return {**portal.link_to_read(created.link), "token": created.token, "url": created.url}


@router.get(LINKS + "/{link_id}", response_model=PortalLinkRead)
def get_portal_link(project_id: int, link_id: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    project = portal.get_project(db, actor, project_id)
    return portal.link_to_read(portal.get_link(db, actor, project, link_id))


@router.delete(LINKS + "/{link_id}", status_code=204)
def revoke_portal_link(project_id: int, link_id: int, db: DbDep, actor: ActorDep) -> Response:
    """Revokes the link (it stays listed, as revoked): its page answers 410 at once."""
    project = portal.get_project(db, actor, project_id)
    portal.revoke_link(db, actor, project, portal.get_link(db, actor, project, link_id))
    return Response(status_code=204)


@router.post(LINKS + "/{link_id}/extend", response_model=PortalLinkRead)
def extend_portal_link(
    project_id: int, link_id: int, body: PortalLinkExtend, db: DbDep, actor: ActorDep
) -> dict[str, Any]:
    """The link expires `days` from now; a revoked link cannot be extended (422)."""
    project = portal.get_project(db, actor, project_id)
    link = portal.extend_link(db, actor, project, portal.get_link(db, actor, project, link_id), body.days)
    return portal.link_to_read(link)


@router.get(REQUESTS, response_model=Page[PortalRequestRead])
def list_portal_requests(project_id: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Requests received through the project's links, newest first."""
    project = portal.get_project(db, actor, project_id)
    rows = portal.list_requests(db, actor, project)
    return {"items": [portal.request_to_read(r) for r in rows], "next_cursor": None}


@router.post(REQUESTS + "/{request_id}/answer", response_model=PortalRequestRead)
def answer_portal_request(
    project_id: int, request_id: int, body: PortalAnswer, db: DbDep, actor: ActorDep
) -> dict[str, Any]:
    """Emails `message` to the requester and logs it as an email activity on the establishment."""
    project = portal.get_project(db, actor, project_id)
    row = portal.get_request(db, actor, project, request_id)
    return portal.request_to_read(portal.answer_request(db, actor, project, row, body.message))
