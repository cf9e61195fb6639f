"""JSON routes of the catalogue: /api/v1/products."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from carnet.api.common import Page, body_dict, if_match_version, list_params, set_etag
from carnet.api.deps import ActorDep, DbDep, Requires
from carnet.catalogue import service
from carnet.catalogue.schemas import ProductCreate, ProductRead, ProductUpdate

router = APIRouter(prefix="/products", tags=["products"])


@router.get("", response_model=Page[ProductRead], dependencies=[Depends(Requires("products:read"))])
def list_products(request: Request, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Filters: `active=true`, `category=`, `recurring=`, `vat_rate=`, `unit_price__gte=`...;
    `q` searches the name and reference; `sort=name|-unit_price|...`."""
    rows, cursor = service.list_products(db, actor, list_params(request))
    return {"items": [service.to_read(p) for p in rows], "next_cursor": cursor}


@router.post("", status_code=201, response_model=ProductRead)
def create_product(body: ProductCreate, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    """`vat_rate` is one of 20, 10, 5.5, 2.1, 0; at 0 % `vat_exemption_reason` is required."""
    product = service.create_product(db, actor, body_dict(body))
    set_etag(response, product)
    response.headers["Location"] = f"/api/v1/products/{product.id}"
    return service.to_read(product)


@router.get("/{product_id}", response_model=ProductRead)
def get_product(product_id: int, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    product = service.get_product(db, actor, product_id)
    set_etag(response, product)
    return service.to_read(product)


@router.patch("/{product_id}", response_model=ProductRead)
def update_product(
    product_id: int, body: ProductUpdate, request: Request, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    product = service.get_product(db, actor, product_id)
    product = service.update_product(db, actor, product, body_dict(body), if_match_version(request))
    set_etag(response, product)
    return service.to_read(product)


@router.delete("/{product_id}", status_code=204)
def delete_product(product_id: int, request: Request, db: DbDep, actor: ActorDep) -> Response:
    product = service.get_product(db, actor, product_id)
    service.delete_product(db, actor, product, if_match_version(request))
    return Response(status_code=204)
