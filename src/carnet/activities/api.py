"""JSON routes for activities. A record's timeline (`GET /api/v1/contacts/{id}/timeline`...) is
served by api/records.py from the providers this package registers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from carnet.activities import service
from carnet.activities.schemas import ActivityCreate, ActivityRead, ActivityUpdate
from carnet.api.common import Page, body_dict, if_match_version, list_params, set_etag
from carnet.api.deps import ActorDep, DbDep, Requires

router = APIRouter(prefix="/activities", tags=["activities"])


@router.get("", response_model=Page[ActivityRead], dependencies=[Depends(Requires("activities:read"))])
def list_activities(request: Request, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """List activities, newest first by default. Filters: `kind`, `organisation_id`, `contact_id`,
    `deal_id`, `owner_id`, `occurred_at__gte`, `occurred_at__lte`, `cf.<key>`; `q` searches the
    subject; `sort=-occurred_at|occurred_at|...`, `limit`, `cursor`."""
    rows, cursor = service.list_activities(db, actor, list_params(request, default_sort="-occurred_at"))
    return {"items": service.reads(db, rows), "next_cursor": cursor}


@router.post("", status_code=201, response_model=ActivityRead)
def create_activity(body: ActivityCreate, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    act = service.create_activity(db, actor, body_dict(body))
    set_etag(response, act)
    response.headers["Location"] = f"/api/v1/activities/{act.id}"
    return service.reads(db, [act])[0]


@router.get("/{activity_id}", response_model=ActivityRead)
def get_activity(activity_id: int, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    act = service.get_activity(db, actor, activity_id)
    set_etag(response, act)
    return service.reads(db, [act])[0]


@router.patch("/{activity_id}", response_model=ActivityRead)
def update_activity(
    activity_id: int, body: ActivityUpdate, request: Request, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    act = service.get_activity(db, actor, activity_id)
    act = service.update_activity(db, actor, act, body_dict(body), if_match_version(request))
    set_etag(response, act)
    return service.reads(db, [act])[0]


@router.delete("/{activity_id}", status_code=204)
def delete_activity(activity_id: int, request: Request, db: DbDep, actor: ActorDep) -> Response:
    act = service.get_activity(db, actor, activity_id)
    service.delete_activity(db, actor, act, if_match_version(request))
    return Response(status_code=204)
