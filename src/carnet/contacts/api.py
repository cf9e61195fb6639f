"""JSON routes for contacts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from carnet.api.common import Page, body_dict, if_match_version, list_params, set_etag
from carnet.api.deps import ActorDep, DbDep, Requires
from carnet.api.exports import add_export_route
from carnet.contacts import establishments, service, transfer
from carnet.contacts.schemas import (
    ContactCreate,
    ContactEstablishmentRead,
    ContactEstablishmentsWrite,
    ContactOrganisationNamedRead,
    ContactRead,
    ContactUpdate,
)
from carnet.core import lifecycle

router = APIRouter(prefix="/contacts", tags=["contacts"])


@router.get("", response_model=Page[ContactRead], dependencies=[Depends(Requires("contacts:read"))])
def list_contacts(request: Request, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """List contacts. Filters on every field (`city=Lyon`, `last_name__contains=mar`,
    `organisation_id=12` for contacts linked to that organisation, `email=a@b.fr` for any of a
    contact's emails, `marketing_consent=granted`, `do_not_call=false`, `cf.segment=x`, `tag=x`),
    `q` (name or email), `sort=last_name|-created_at|...`, `limit`, `cursor`, `created_since`,
    `updated_since`."""
    items, cursor = service.list_contact_reads(db, actor, list_params(request, default_sort="-id"))
    return {"items": items, "next_cursor": cursor}


@router.post("", status_code=201, response_model=ContactRead)
def create_contact(body: ContactCreate, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    """Create a contact. Link organisations with `organisations: [{"organisation_id": 1, "role": "DAF",
    "is_primary": true}]` or the shortcut `organisation_ids: [1, 2]`."""
    contact, read = service.create_contact_read(db, actor, body_dict(body))
    set_etag(response, contact)
    response.headers["Location"] = f"/api/v1/contacts/{contact.id}"
    return read


add_export_route(router, transfer.EXPORTER)


@router.get("/{contact_id}", response_model=ContactRead)
def get_contact(contact_id: int, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    contact = service.get_contact(db, actor, contact_id)
    set_etag(response, contact)
    return service.api_reads(db, [contact])[0]


@router.patch("/{contact_id}", response_model=ContactRead)
def update_contact(
    contact_id: int, body: ContactUpdate, request: Request, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    """Partial update. `organisations` / `organisation_ids` replace the links the caller can see."""
    contact = service.get_contact(db, actor, contact_id)
    contact = service.update_contact(db, actor, contact, body_dict(body), if_match_version(request))
    set_etag(response, contact)
    return service.api_reads(db, [contact])[0]


@router.delete("/{contact_id}", status_code=204)
def delete_contact(contact_id: int, request: Request, db: DbDep, actor: ActorDep) -> Response:
    contact = service.get_contact(db, actor, contact_id)
    service.delete_contact(db, actor, contact, if_match_version(request))
    return Response(status_code=204)


@router.get("/{contact_id}/organisations", response_model=list[ContactOrganisationNamedRead])
def list_contact_organisations(contact_id: int, db: DbDep, actor: ActorDep) -> list[dict[str, Any]]:
    """The organisations this contact is linked to that you may see, with the contact's role."""
    contact = service.get_contact(db, actor, contact_id)
    return service.organisations_of(db, actor, contact)


@router.get("/{contact_id}/establishments", response_model=list[ContactEstablishmentRead])
def list_contact_establishments(contact_id: int, db: DbDep, actor: ActorDep) -> list[dict[str, Any]]:
    """The establishments this health professional works at (that you may see), with the service
    (unit) and role there."""
    contact = service.get_contact(db, actor, contact_id)
    return establishments.establishments_of(db, actor, contact)


@router.put("/{contact_id}/establishments", response_model=list[ContactEstablishmentRead])
def set_contact_establishments(
    contact_id: int, body: ContactEstablishmentsWrite, request: Request, db: DbDep, actor: ActorDep
) -> list[dict[str, Any]]:
    """Replace the list: `{"establishments": [{"organisation_id": 1, "service": "Cardiologie",
    "role": "Chef de service"}]}`. Links to establishments you may not see are kept."""
    contact = service.get_contact(db, actor, contact_id)
    lifecycle.check_version(contact, if_match_version(request))
    return establishments.set_establishments(db, actor, contact, body_dict(body)["establishments"])
