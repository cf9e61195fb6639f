"""The audit trail page: newest first, filters, keyset pagination, field-level changes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from carnet.accounts import service as accounts
from carnet.api.deps import DbDep
from carnet.core import records
from carnet.core.errors import ValidationFailed
from carnet.settings_ui import service
from carnet.web.shell import WebActor, form_errors, render

router = APIRouter(include_in_schema=False)

FILTERS = ("user", "action", "record_type", "record_id", "date_from", "date_to")


@router.get("/audit")
def audit_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    raw = {k: v for k, v in request.query_params.items() if k in (*FILTERS, "cursor")}
    errors: dict[str, str] = {}
    rows: list = []
    cursor = None
    try:
        rows, cursor = service.search_audit(db, actor, raw, actor.timezone)
    except ValidationFailed as exc:
        errors = form_errors(exc, actor.language)
    filters = {k: raw[k] for k in FILTERS if raw.get(k)}
    return render(
        request,
        "settings_ui/audit.html",
        status_code=422 if errors else 200,
        entries=rows,
        next_cursor=cursor,
        filters=filters,
        errors=errors,
        users=accounts.list_users(db),
        actions=service.KNOWN_ACTIONS,
        record_type_names=sorted(set(records.REGISTRY) | set(service.ACCOUNT_RECORD_TYPES)),
        record_urls={name: rt.url_prefix for name, rt in records.REGISTRY.items()},
    )
