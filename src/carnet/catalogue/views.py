"""HTML pages of the catalogue: the product list and the product form."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from carnet.api.deps import DbDep
from carnet.catalogue import service
from carnet.catalogue.models import Product
from carnet.core import listing
from carnet.core.errors import PermissionDenied, ValidationFailed
from carnet.core.i18n import gettext
from carnet.core.money import VAT_RATES
from carnet.web.forms import form_to_data
from carnet.web.shell import WebActor, form_errors, redirect, render

router = APIRouter(prefix="/products", include_in_schema=False)
FORM_FIELDS = (
    "name",
    "description",
    "reference",
    "unit",
    "unit_price",
    "vat_rate",
    "vat_exemption_reason",
    "category",
)


def _data(form: Any) -> dict[str, Any]:
    data = form_to_data(form, FORM_FIELDS)
    data["active"] = form.get("active") == "on"
    data["recurring"] = form.get("recurring") == "on"
    return data


def _rates() -> list[tuple[str, str]]:
    return [(f"{r:.2f}", f"{r.normalize():f} %".replace(".", ",")) for r in VAT_RATES]


@router.get("")
def list_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    raw = {k: v for k, v in request.query_params.items() if v}
    raw.setdefault("active", "true")
    if raw["active"] == "all":
        raw.pop("active")
    error = None
    try:
        params = listing.parse_params(raw, default_sort="name")
        rows, cursor = service.list_products(db, actor, params)
    except ValidationFailed as exc:
        db.rollback()
        rows, cursor = [], None
        error = "; ".join(form_errors(exc, actor.language).values())
    return render(
        request,
        "catalogue/list.html",
        rows=rows,
        next_cursor=cursor,
        params=dict(request.query_params),
        categories=service.categories(db),
        error=error,
    )


@router.get("/picker")
def picker(request: Request, db: DbDep, actor: WebActor, q: str = "") -> Response:
    """Products matching `q` for a document editor (an htmx fragment)."""
    return render(request, "catalogue/_picker.html", rows=service.active_products(db, actor, q))


def _form(
    request: Request,
    product: Product | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    return render(
        request,
        "catalogue/form.html",
        status_code=status,
        product=product,
        values=values,
        errors=errors,
        rates=_rates(),
    )


@router.get("/new")
def new_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    if not actor.can("products:create"):
        raise PermissionDenied()
    return _form(request, None, {"vat_rate": "20.00", "active": True}, {})


@router.post("/new")
async def create(request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    data = _data(form)
    try:
        service.create_product(db, actor, data)
    except ValidationFailed as exc:
        db.rollback()
        return _form(request, None, data, form_errors(exc, actor.language), 422)
    return redirect("/products", flash=gettext("Product saved", actor.language), request=request)


@router.get("/{product_id}/edit")
def edit_page(product_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    product = service.get_product(db, actor, product_id)
    return _form(request, product, service.snapshot(product), {})


@router.post("/{product_id}/edit")
async def update(product_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    product = service.get_product(db, actor, product_id)
    form = await request.form()
    data = _data(form)
    try:
        version = int(str(form.get("version") or ""))
    except ValueError:
        version = None
    try:
        service.update_product(db, actor, product, data, version)
    except ValidationFailed as exc:
        db.rollback()
        return _form(request, product, data, form_errors(exc, actor.language), 422)
    return redirect("/products", flash=gettext("Product saved", actor.language), request=request)
