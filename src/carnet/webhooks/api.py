"""JSON routes: webhook endpoints (settings, admins) and REST hooks (Zapier, Make)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Response

from carnet.api.common import Page, body_dict
from carnet.api.deps import ActorDep, DbDep, Requires
from carnet.webhooks import catalogue, service
from carnet.webhooks.schemas import (
    DeliveryRead,
    EndpointCreate,
    EndpointCreated,
    EndpointRead,
    EndpointUpdate,
    EventTypeRead,
    HookCreate,
    HookCreated,
    HookRead,
    RotateSecret,
    SecretRotated,
    TestEvent,
)

router = APIRouter()
AdminOnly = [Depends(Requires("webhooks:admin"))]


@router.get("/webhook-endpoints/event-types", response_model=list[EventTypeRead], tags=["webhooks"])
def event_types(actor: ActorDep) -> list[dict[str, Any]]:
    """Every event type Carnet delivers, with an example payload (`{"type", "timestamp", "data"}`,
    plus `changes` on update-like events)."""
    return [
        {
            "type": e.name,
            "record_type": e.record_type,
            "description": e.description,
            "example": catalogue.example_payload(e.name),
        }
        for e in catalogue.EVENT_TYPES
    ]


@router.get(
    "/webhook-endpoints", response_model=Page[EndpointRead], tags=["webhooks"], dependencies=AdminOnly
)
def list_endpoints(db: DbDep, actor: ActorDep) -> dict[str, Any]:
    return {"items": [service.to_read(e) for e in service.list_endpoints(db, actor)], "next_cursor": None}


@router.post("/webhook-endpoints", status_code=201, response_model=EndpointCreated, tags=["webhooks"])
def create_endpoint(body: EndpointCreate, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    """Create an endpoint. The response holds its signing secret: it is never shown again."""
    endpoint, secret = service.create_endpoint(
        db, actor, body_dict(body) | {"url": body.url, "event_types": body.event_types}
    )
    response.headers["Location"] = f"/api/v1/webhook-endpoints/{endpoint.id}"
    return {**service.to_read(endpoint), "secret": secret}


@router.get("/webhook-endpoints/{endpoint_id}", response_model=EndpointRead, tags=["webhooks"])
def get_endpoint(endpoint_id: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    return service.to_read(service.get_endpoint(db, actor, endpoint_id))


@router.patch("/webhook-endpoints/{endpoint_id}", response_model=EndpointRead, tags=["webhooks"])
def update_endpoint(endpoint_id: int, body: EndpointUpdate, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    endpoint = service.get_endpoint(db, actor, endpoint_id)
    return service.to_read(service.update_endpoint(db, actor, endpoint, body_dict(body)))


@router.delete("/webhook-endpoints/{endpoint_id}", status_code=204, tags=["webhooks"])
def delete_endpoint(endpoint_id: int, db: DbDep, actor: ActorDep) -> Response:
    service.delete_endpoint(db, actor, service.get_endpoint(db, actor, endpoint_id))
    return Response(status_code=204)


@router.post(
    "/webhook-endpoints/{endpoint_id}/rotate-secret", response_model=SecretRotated, tags=["webhooks"]
)
def rotate_secret(
    endpoint_id: int, db: DbDep, actor: ActorDep, body: RotateSecret | None = None
) -> dict[str, Any]:
    """A new secret, shown once. The previous one keeps signing (a second signature in
    `webhook-signature`) for `overlap_hours` (default 24)."""
    endpoint = service.get_endpoint(db, actor, endpoint_id)
    overlap = timedelta(hours=(body or RotateSecret()).overlap_hours)
    secret = service.rotate_secret(db, actor, endpoint, overlap)
    return {"secret": secret, "previous_secret_expires_at": endpoint.previous_secret_expires_at}


@router.get(
    "/webhook-endpoints/{endpoint_id}/deliveries", response_model=Page[DeliveryRead], tags=["webhooks"]
)
def list_deliveries(
    endpoint_id: int,
    db: DbDep,
    actor: ActorDep,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """The delivery log, newest first, each with its attempts; `status` = pending, retrying,
    succeeded, failed or skipped. Kept 30 days."""
    endpoint = service.get_endpoint(db, actor, endpoint_id)
    rows, next_cursor = service.list_deliveries(db, actor, endpoint, status or None, limit, cursor)
    return {"items": service.delivery_reads(db, rows), "next_cursor": next_cursor}


@router.get(
    "/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}",
    response_model=DeliveryRead,
    tags=["webhooks"],
)
def get_delivery(endpoint_id: int, delivery_id: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    endpoint = service.get_endpoint(db, actor, endpoint_id)
    return service.delivery_reads(db, [service.get_delivery(db, actor, endpoint, delivery_id)])[0]


@router.post(
    "/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryRead,
    tags=["webhooks"],
)
def redeliver(endpoint_id: int, delivery_id: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Send the same message again now, with the same `webhook-id`."""
    endpoint = service.get_endpoint(db, actor, endpoint_id)
    delivery = service.redeliver(db, actor, service.get_delivery(db, actor, endpoint, delivery_id))
    return service.delivery_reads(db, [delivery])[0]


@router.post(
    "/webhook-endpoints/{endpoint_id}/test", status_code=202, response_model=DeliveryRead, tags=["webhooks"]
)
def send_test(endpoint_id: int, db: DbDep, actor: ActorDep, body: TestEvent | None = None) -> dict[str, Any]:
    """Send an example event now (a new `webhook-id` each time)."""
    endpoint = service.get_endpoint(db, actor, endpoint_id)
    delivery = service.send_test(db, actor, endpoint, (body or TestEvent()).event_type)
    return service.delivery_reads(db, [delivery])[0]


# -- REST hooks -------------------------------------------------------------------------------------------


@router.get("/hooks", response_model=Page[HookRead], tags=["hooks"])
def list_hooks(db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Your REST hook subscriptions."""
    return {"items": [service.hook_read(h) for h in service.list_hooks(db, actor)], "next_cursor": None}


@router.post("/hooks", status_code=201, response_model=HookCreated, tags=["hooks"])
def create_hook(body: HookCreate, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    """Subscribe `target_url` to `event` (see `/webhook-endpoints/event-types`). You receive the
    events about records you may see, signed with the returned secret (shown once)."""
    hook, secret = service.create_hook(db, actor, body.target_url, body.event)
    response.headers["Location"] = f"/api/v1/hooks/{hook.id}"
    return {**service.hook_read(hook), "secret": secret}


@router.get("/hooks/{hook_id}", response_model=HookRead, tags=["hooks"])
def get_hook(hook_id: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    return service.hook_read(service.get_hook(db, actor, hook_id))


@router.delete("/hooks/{hook_id}", status_code=204, tags=["hooks"])
def delete_hook(hook_id: int, db: DbDep, actor: ActorDep) -> Response:
    """Unsubscribe."""
    service.delete_hook(db, actor, service.get_hook(db, actor, hook_id))
    return Response(status_code=204)
