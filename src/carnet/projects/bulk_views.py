"""Bulk creation pages: one project per establishment, either for the organisations selected in
the organisation list (its bulk bar posts the ticked ids here) or for pasted SIREN / SIRET / FINESS
numbers. The result page lists what was created and what was skipped, with the reason."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from carnet.accounts import service as accounts
from carnet.api.deps import DbDep
from carnet.core import lifecycle
from carnet.core.context import Actor
from carnet.core.errors import ValidationFailed
from carnet.organisations import service as organisations
from carnet.projects import service
from carnet.projects.display import as_int
from carnet.web.shell import WebActor, form_errors, render

router = APIRouter(prefix="/projects/bulk", include_in_schema=False)

MAX_ORGANISATIONS = 200


def _form_context(
    db: Session, actor: Actor, values: dict[str, Any], organisation_ids: list[int], errors: dict[str, str]
) -> dict[str, Any]:
    names = organisations.names_by_id(db, actor, set(organisation_ids))
    return {
        "values": values,
        "errors": errors,
        # Only the visible ones are listed and posted on (an id typed by hand shows nothing).
        "selected": [(i, names[i]) for i in organisation_ids if i in names],
        "templates": service.active_templates(db, actor),
        "users": accounts.list_users(db, active_only=True),
    }


def _ids(values: list[Any]) -> list[int]:
    ids = [as_int(v) for v in values]
    return list(dict.fromkeys(i for i in ids if i))[:MAX_ORGANISATIONS]


@router.get("")
def bulk_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    lifecycle.require(actor, service.RECORD_TYPE, "create")
    values = {"owner_id": actor.user_id, "start_date": service.today().isoformat()}
    return render(request, "projects/bulk.html", **_form_context(db, actor, values, [], {}))


@router.post("/selection")
async def from_selection(request: Request, db: DbDep, actor: WebActor) -> Response:
    """The organisation list's "Create projects" button: the ticked rows, then the same form."""
    lifecycle.require(actor, service.RECORD_TYPE, "create")
    form = await request.form()
    values = {"owner_id": actor.user_id, "start_date": service.today().isoformat()}
    return render(
        request, "projects/bulk.html", **_form_context(db, actor, values, _ids(form.getlist("ids")), {})
    )


@router.post("")
async def bulk_create(request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    organisation_ids = _ids(form.getlist("organisation_ids"))
    values = {
        k: str(form.get(k) or "").strip() for k in ("template_id", "owner_id", "start_date", "target_date")
    }
    identifiers = str(form.get("identifiers") or "")
    try:
        result = service.bulk_create(
            db,
            actor,
            template_id=values["template_id"] or None,
            organisation_ids=organisation_ids or None,
            identifiers=None if organisation_ids else identifiers,
            owner_id=values["owner_id"] or None,
            start_date=values["start_date"] or None,
            target_date=values["target_date"] or None,
        )
    except ValidationFailed as exc:
        db.rollback()
        values["identifiers"] = identifiers
        return render(
            request,
            "projects/bulk.html",
            status_code=422,
            **_form_context(db, actor, values, organisation_ids, form_errors(exc, actor.language)),
        )
    return render(
        request,
        "projects/bulk_result.html",
        created=result.created,
        skipped=result.skipped,
        org_names=organisations.names_by_id(db, actor, {p.organisation_id for p in result.created}),
    )
