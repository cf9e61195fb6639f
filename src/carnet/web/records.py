"""HTML panels every record detail page shares: timeline, history, attachments."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from carnet.api.deps import DbDep
from carnet.api.records import download_response
from carnet.core import attachments, history, lifecycle, timeline
from carnet.core.errors import DomainError, NotFound
from carnet.core.i18n import gettext
from carnet.web import history_labels
from carnet.web.shell import WebActor, render

router = APIRouter(prefix="/records", include_in_schema=False)


@router.get("/{record_type}/{record_id}/timeline")
def timeline_panel(
    record_type: str, record_id: int, request: Request, db: DbDep, actor: WebActor
) -> Response:
    _visible(db, actor, record_type, record_id)
    items = timeline.for_record(db, actor, record_type, record_id)
    return render(request, "_timeline.html", items=items)


@router.get("/{record_type}/{record_id}/history")
def history_panel(record_type: str, record_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    _visible(db, actor, record_type, record_id)
    entries = history.for_record(db, record_type, record_id)
    return render(
        request,
        "_history.html",
        entries=entries,
        names=history_labels.value_names(db, actor, entries),
        field_label=history_labels.field_label,
    )


@router.get("/{record_type}/{record_id}/attachments")
def attachments_panel(
    record_type: str, record_id: int, request: Request, db: DbDep, actor: WebActor
) -> Response:
    _visible(db, actor, record_type, record_id)
    return render(
        request,
        "_attachments.html",
        files=attachments.list_for(db, record_type, record_id),
        record_type=record_type,
        record_id=record_id,
        error=None,
    )


@router.post("/{record_type}/{record_id}/attachments")
async def upload(record_type: str, record_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    _visible(db, actor, record_type, record_id)
    form = await request.form()
    upload_file = form.get("file")
    error = None
    try:
        lifecycle.require(actor, record_type, "update")
        if upload_file is None or isinstance(upload_file, str) or not upload_file.filename:
            error = gettext("Choose a file", actor.language)
        else:
            attachments.store(
                db, actor, record_type, record_id, upload_file.filename, await upload_file.read()
            )
            db.commit()
    except DomainError as exc:
        db.rollback()
        error = gettext(exc.errors[0].message if exc.errors else exc.message, actor.language, **exc.params)
    return render(
        request,
        "_attachments.html",
        files=attachments.list_for(db, record_type, record_id),
        record_type=record_type,
        record_id=record_id,
        error=error,
    )


@router.get("/{record_type}/{record_id}/attachments/{attachment_id}")
def download(record_type: str, record_id: int, attachment_id: int, db: DbDep, actor: WebActor) -> Response:
    _visible(db, actor, record_type, record_id)
    att = attachments.get(db, attachment_id)
    if att.record_type != record_type or att.record_id != record_id:
        raise NotFound()
    return download_response(att)


def _visible(db: DbDep, actor: WebActor, record_type: str, record_id: int) -> None:
    from carnet.core import records

    if record_type not in records.REGISTRY:
        raise NotFound()
    lifecycle.require_visible(db, actor, record_type, record_id)
