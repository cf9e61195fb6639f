"""The catalogue of products and services: every write goes through here (validation, audit,
events). Everyone who can read quotes can read the catalogue; `products:*` guards the writes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from carnet.catalogue.models import Product
from carnet.core import lifecycle, money
from carnet.core.context import Actor
from carnet.core.errors import FieldErrors, NotFound, PermissionDenied, ValidationFailed
from carnet.core.lifecycle import MAX_ID
from carnet.core.listing import Listing, ListParams, page

RECORD_TYPE = "product"
TEXT_FIELDS = {
    "name": 200,
    "description": 10000,
    "reference": 60,
    "unit": 20,
    "vat_exemption_reason": 200,
    "category": 80,
}
LISTING = Listing(
    model=Product,
    record_type=RECORD_TYPE,
    fields={
        "id": Product.id,
        "name": Product.name,
        "reference": Product.reference,
        "unit": Product.unit,
        "unit_price": Product.unit_price,
        "vat_rate": Product.vat_rate,
        "category": Product.category,
        "active": Product.active,
        "recurring": Product.recurring,
        "created_at": Product.created_at,
        "updated_at": Product.updated_at,
    },
    sortable={"name", "reference", "unit_price", "category", "created_at", "updated_at"},
)


def _require(actor: Actor, action: str) -> None:
    if not actor.can(f"products:{action}"):
        raise PermissionDenied()


def snapshot(product: Product) -> dict[str, Any]:
    return {
        "name": product.name,
        "description": product.description,
        "reference": product.reference,
        "unit": product.unit,
        "unit_price": money.money_str(product.unit_price),
        "vat_rate": money.money_str(product.vat_rate),
        "vat_exemption_reason": product.vat_exemption_reason,
        "category": product.category,
        "active": product.active,
        "recurring": product.recurring,
    }


def to_read(product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        **snapshot(product),
        "version": product.version,
        "created_at": product.created_at,
        "updated_at": product.updated_at,
    }


def _clean(db: Session, product: Product, data: dict[str, Any], creating: bool) -> dict[str, Any]:
    errors = FieldErrors()
    values: dict[str, Any] = {}
    for name, max_len in TEXT_FIELDS.items():
        if name in data:
            value = data[name]
            if value is not None and not isinstance(value, str):
                errors.add(name, "Enter text", "invalid_type")
                continue
            value = (value or "").strip()
            if len(value) > max_len:
                errors.add(name, "At most {max} characters", "too_long", max=max_len)
            values[name] = value or None
    if (creating or "name" in data) and not values.get("name"):
        errors.add("name", "This field is required", "required")
    for name, parse in (("unit_price", money.parse_money), ("vat_rate", money.rate)):
        if creating or name in data:
            try:
                values[name] = parse(data.get(name), name)
            except ValidationFailed as exc:
                errors.errors.extend(exc.errors)
    for name in ("active", "recurring"):
        if name in data and data[name] is not None:
            values[name] = bool(data[name])
    rate = values.get("vat_rate", product.vat_rate)
    reason = values.get("vat_exemption_reason", product.vat_exemption_reason)
    if rate is not None and rate == 0 and not reason:
        # france.md §1.2 item 15: what is sold without VAT states why.
        errors.add(
            "vat_exemption_reason",
            "Give the VAT exemption reason (such as: TVA non applicable, art. 293 B du CGI)",
            "exemption_reason_required",
        )
    if rate is not None and rate != 0 and values.get("vat_exemption_reason"):
        errors.add("vat_exemption_reason", "Only a product at 0 % VAT has an exemption reason", "not_exempt")
    reference = values.get("reference")
    if reference and reference != product.reference:
        taken = db.scalar(select(Product.id).where(Product.reference == reference, Product.id != product.id))
        if taken:
            errors.add("reference", "Another product already has this reference", "duplicate")
    errors.raise_if_any()
    return values


def create_product(db: Session, actor: Actor, data: dict[str, Any]) -> Product:
    _require(actor, "create")
    product = Product(active=True, recurring=False, created_by_id=actor.user_id)
    with db.no_autoflush:
        values = _clean(db, product, data, True)
    for key, value in values.items():
        setattr(product, key, value)
    product.updated_by_id = actor.user_id
    db.add(product)
    db.flush()
    lifecycle.created(db, actor, RECORD_TYPE, product, snapshot(product), product.name, to_read(product))
    db.commit()
    return product


def update_product(
    db: Session, actor: Actor, product: Product, data: dict[str, Any], expected_version: int | None = None
) -> Product:
    _require(actor, "update")
    lifecycle.check_version(product, expected_version)
    before = snapshot(product)
    with db.no_autoflush:
        values = _clean(db, product, data, False)
    for key, value in values.items():
        setattr(product, key, value)
    after = snapshot(product)
    if before == after:
        db.rollback()
        return product
    product.updated_by_id = actor.user_id
    db.flush()
    lifecycle.updated(db, actor, RECORD_TYPE, product, before, after, product.name, to_read(product))
    db.commit()
    return product


def delete_product(db: Session, actor: Actor, product: Product, expected_version: int | None = None) -> None:
    """Documents keep a copy of each line, so deleting a product never changes a quote or invoice."""
    _require(actor, "delete")
    lifecycle.check_version(product, expected_version)
    lifecycle.deleted(db, actor, RECORD_TYPE, product, snapshot(product), product.name, to_read(product))
    db.delete(product)
    db.commit()


def get_product(db: Session, actor: Actor, product_id: Any) -> Product:
    _require(actor, "read")
    try:
        product_id = int(product_id)
    except (TypeError, ValueError):
        raise NotFound()
    if not 0 < product_id <= MAX_ID:
        raise NotFound()
    product = db.get(Product, product_id)
    if product is None:
        raise NotFound()
    return product


def _search(stmt: Any, q: str | None) -> Any:
    if q:
        needle = q.strip().lower()
        stmt = stmt.where(
            or_(
                func.lower(Product.name).contains(needle, autoescape=True),
                func.lower(func.coalesce(Product.reference, "")).contains(needle, autoescape=True),
            )
        )
    return stmt


def list_products(db: Session, actor: Actor, params: ListParams) -> tuple[list[Product], str | None]:
    _require(actor, "read")
    return page(db, LISTING, _search(select(Product), params.q), params)


def active_products(db: Session, actor: Actor, q: str | None = None, limit: int = 20) -> list[Product]:
    """Active products matching `q`, by name: the picker of a document editor."""
    _require(actor, "read")
    stmt = _search(select(Product).where(Product.active.is_(True)), q).order_by(Product.name, Product.id)
    return list(db.scalars(stmt.limit(limit)))


def categories(db: Session) -> list[str]:
    rows = db.scalars(select(Product.category).where(Product.category.is_not(None)).distinct())
    return sorted(r for r in rows if r)
