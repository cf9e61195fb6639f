"""Settings pages for webhook endpoints: list, create, edit, delivery log, test, redeliver,
rotate the secret."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from carnet.api.deps import DbDep
from carnet.core.context import Actor
from carnet.core.errors import ValidationFailed
from carnet.core.i18n import gettext
from carnet.web.shell import WebActor, form_errors, redirect, render
from carnet.webhooks import catalogue, service
from carnet.webhooks.models import ALL_EVENTS, DELIVERY_STATUSES, WebhookEndpoint

router = APIRouter(prefix="/settings/webhooks", include_in_schema=False)


def _t(actor: Actor, message: str, **params: Any) -> str:
    return gettext(message, actor.language, **params)


def _headers_text(headers: dict[str, str]) -> str:
    return "\n".join(f"{k}: {v}" for k, v in headers.items())


def _parse_headers(text: str) -> dict[str, str] | str:
    """`Name: value` lines; a line without a colon is returned as is, to be reported."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep:
            return line
        out[name.strip()] = value.strip()
    return out


def _form_data(form: FormData) -> tuple[dict[str, Any], dict[str, str]]:
    """The service's input from the form, and errors the form itself can tell."""
    chosen = [v for v in form.getlist("event_types") if isinstance(v, str)]
    if form.get("all_events"):
        chosen = [ALL_EVENTS]
    headers = _parse_headers(str(form.get("headers") or ""))
    data: dict[str, Any] = {
        "url": str(form.get("url") or ""),
        "description": str(form.get("description") or ""),
        "event_types": chosen,
        "active": form.get("active") in ("1", "on", "true"),
    }
    errors: dict[str, str] = {}
    if isinstance(headers, str):
        errors["headers"] = "Write one header per line, as Name: value"
    else:
        data["headers"] = headers
    for name in ("rate_limit_per_second", "max_concurrency"):
        raw = str(form.get(name) or "").strip()
        if raw:
            data[name] = int(raw) if raw.isdigit() and len(raw) < 6 else -1
    return data, errors


def _values(endpoint: WebhookEndpoint | None) -> dict[str, Any]:
    if endpoint is None:
        return {
            "event_types": [ALL_EVENTS],
            "active": True,
            "rate_limit_per_second": 10,
            "max_concurrency": 5,
            "headers": "",
        }
    return {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types or []),
        "active": endpoint.active,
        "headers": _headers_text(endpoint.headers or {}),
        "rate_limit_per_second": endpoint.rate_limit_per_second,
        "max_concurrency": endpoint.max_concurrency,
    }


def _form_values(form: FormData) -> dict[str, Any]:
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    values["event_types"] = [ALL_EVENTS] if form.get("all_events") else list(form.getlist("event_types"))
    values["active"] = form.get("active") in ("1", "on", "true")
    return values


@router.get("")
def endpoints_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    endpoints = service.list_endpoints(db, actor)
    return render(
        request,
        "webhooks/endpoints.html",
        endpoints=endpoints,
        counts=service.status_counts(db, [e.id for e in endpoints]),
    )


def _form_page(
    request: Request,
    actor: Actor,
    endpoint: WebhookEndpoint | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "webhooks/endpoint_form.html",
        status_code=status_code,
        endpoint=endpoint,
        values=values,
        errors=errors,
        event_types=catalogue.EVENT_TYPES,
    )


@router.get("/new")
def new_endpoint_page(request: Request, actor: WebActor) -> Response:
    service.require_admin(actor)
    return _form_page(request, actor, None, _values(None), {})


def _secret_page(request: Request, endpoint: WebhookEndpoint, secret: str, rotated: bool) -> Response:
    return render(request, "webhooks/secret.html", endpoint=endpoint, secret=secret, rotated=rotated)


@router.post("/new")
async def create_endpoint(request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_admin(actor)
    form = await request.form()
    data, errors = _form_data(form)
    try:
        if errors:
            raise ValidationFailed()
        endpoint, secret = service.create_endpoint(db, actor, data)
    except ValidationFailed as exc:
        db.rollback()
        errors = {**form_errors(exc, actor.language), **{k: _t(actor, v) for k, v in errors.items()}}
        return _form_page(request, actor, None, _form_values(form), errors, 422)
    return _secret_page(request, endpoint, secret, rotated=False)


@router.get("/{endpoint_id}")
def endpoint_page(endpoint_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    endpoint = service.get_endpoint(db, actor, endpoint_id)
    status = request.query_params.get("status") or None
    if status not in DELIVERY_STATUSES:
        status = None
    cursor = request.query_params.get("cursor") or None
    try:
        rows, next_cursor = service.list_deliveries(db, actor, endpoint, status, 50, cursor)
    except ValidationFailed:
        rows, next_cursor = service.list_deliveries(db, actor, endpoint, status, 50, None)
    return render(
        request,
        "webhooks/endpoint.html",
        endpoint=endpoint,
        deliveries=service.delivery_reads(db, rows),
        next_cursor=next_cursor,
        status=status,
        statuses=DELIVERY_STATUSES,
        counts=service.status_counts(db, [endpoint.id])[endpoint.id],
        event_types=catalogue.EVENT_TYPES,
    )


@router.get("/{endpoint_id}/edit")
def edit_endpoint_page(endpoint_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    endpoint = service.get_endpoint(db, actor, endpoint_id)
    return _form_page(request, actor, endpoint, _values(endpoint), {})


@router.post("/{endpoint_id}/edit")
async def update_endpoint(endpoint_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    endpoint = service.get_endpoint(db, actor, endpoint_id)
    form = await request.form()
    data, errors = _form_data(form)
    try:
        if errors:
            raise ValidationFailed()
        service.update_endpoint(db, actor, endpoint, data)
    except ValidationFailed as exc:
        db.rollback()
        errors = {**form_errors(exc, actor.language), **{k: _t(actor, v) for k, v in errors.items()}}
        return _form_page(request, actor, endpoint, _form_values(form), errors, 422)
    return redirect(f"/settings/webhooks/{endpoint.id}", flash=_t(actor, "Endpoint saved"), request=request)


@router.post("/{endpoint_id}/test")
async def send_test(endpoint_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    endpoint = service.get_endpoint(db, actor, endpoint_id)
    form = await request.form()
    event_type = str(form.get("event_type") or "") or None
    try:
        service.send_test(db, actor, endpoint, event_type)
    except ValidationFailed:
        db.rollback()
        return redirect(
            f"/settings/webhooks/{endpoint.id}", flash=_t(actor, "Unknown event type"), request=request
        )
    return redirect(
        f"/settings/webhooks/{endpoint.id}", flash=_t(actor, "Test event queued"), request=request
    )


@router.post("/{endpoint_id}/rotate-secret")
def rotate_secret(endpoint_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    endpoint = service.get_endpoint(db, actor, endpoint_id)
    secret = service.rotate_secret(db, actor, endpoint)
    return _secret_page(request, endpoint, secret, rotated=True)


@router.post("/{endpoint_id}/delete")
def delete_endpoint(endpoint_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    endpoint = service.get_endpoint(db, actor, endpoint_id)
    service.delete_endpoint(db, actor, endpoint)
    return redirect("/settings/webhooks", flash=_t(actor, "Endpoint deleted"), request=request)


@router.post("/{endpoint_id}/deliveries/{delivery_id}/redeliver")
def redeliver(endpoint_id: int, delivery_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    endpoint = service.get_endpoint(db, actor, endpoint_id)
    service.redeliver(db, actor, service.get_delivery(db, actor, endpoint, delivery_id))
    return redirect(
        f"/settings/webhooks/{endpoint.id}", flash=_t(actor, "Delivery queued again"), request=request
    )
