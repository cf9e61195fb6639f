"""Bulk actions on list pages: assign an owner, add a tag, delete. Each record goes through its
domain service (permissions, validation, audit, events), so a bulk action is exactly N single ones."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from carnet.api.deps import DbDep
from carnet.core import records, tags
from carnet.core.errors import DomainError, NotFound
from carnet.core.i18n import gettext
from carnet.web.shell import WebActor, redirect

router = APIRouter(prefix="/bulk", include_in_schema=False)
MAX_IDS = 200


@router.post("/{record_type}")
async def bulk_action(record_type: str, request: Request, db: DbDep, actor: WebActor) -> Response:
    if record_type not in records.ACTIONS:
        raise NotFound()
    actions = records.ACTIONS[record_type]
    form = await request.form()
    back = str(form.get("back") or records.get(record_type).url_prefix)
    if not back.startswith("/") or back.startswith("//"):
        back = "/"
    ids = [int(v) for v in form.getlist("ids") if str(v).isdigit()][:MAX_IDS]
    action = str(form.get("action") or "")
    done, failed = 0, 0
    for record_id in ids:
        try:
            record = actions.get(db, actor, record_id)
            if action == "assign" and str(form.get("owner_id") or "").isdigit():
                actions.update(db, actor, record, {"owner_id": int(str(form.get("owner_id")))})
            elif action == "tag" and str(form.get("tag") or "").strip():
                current = tags.tags_for(db, record_type, [record.id]).get(record.id, [])
                actions.update(db, actor, record, {"tags": [*current, str(form.get("tag")).strip()]})
            elif action == "delete":
                actions.delete(db, actor, record)
            else:
                continue
            done += 1
        except DomainError:
            db.rollback()
            failed += 1
    message = gettext("{done} updated, {failed} refused", actor.language, done=done, failed=failed)
    return redirect(back, flash=message, request=request)
