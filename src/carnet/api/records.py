"""Sub-resources every record type shares: history, timeline, attachments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, FastAPI, File, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel

from carnet.api.deps import ActorDep, DbDep
from carnet.core import attachments, history, lifecycle, records, timeline


class HistoryEntryRead(BaseModel):
    seq: int
    occurred_at: datetime
    actor_id: int | None
    actor_label: str
    action: str
    summary: str
    changes: dict[str, Any]


class TimelineItemRead(BaseModel):
    when: datetime
    kind: str
    title: str
    body: str
    url: str | None
    meta: dict[str, Any]


class AttachmentRead(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime
    uploaded_by_id: int | None


def _routes_for(rt: records.RecordType) -> APIRouter:
    router = APIRouter(prefix=f"/{rt.module}", tags=[rt.module])
    name = rt.name

    @router.get("/{record_id}/history", response_model=list[HistoryEntryRead], name=f"{name}_history")
    def get_history(record_id: int, db: DbDep, actor: ActorDep) -> list[Any]:
        lifecycle.require_visible(db, actor, name, record_id)
        return history.for_record(db, name, record_id)

    @router.get("/{record_id}/timeline", response_model=list[TimelineItemRead], name=f"{name}_timeline")
    def get_timeline(record_id: int, db: DbDep, actor: ActorDep, limit: int = 50) -> list[Any]:
        lifecycle.require_visible(db, actor, name, record_id)
        return timeline.for_record(db, actor, name, record_id, min(max(limit, 1), 200))

    @router.get("/{record_id}/attachments", response_model=list[AttachmentRead], name=f"{name}_attachments")
    def list_attachments(record_id: int, db: DbDep, actor: ActorDep) -> list[Any]:
        lifecycle.require_visible(db, actor, name, record_id)
        return attachments.list_for(db, name, record_id)

    @router.post(
        "/{record_id}/attachments", status_code=201, response_model=AttachmentRead, name=f"{name}_attach"
    )
    async def upload_attachment(
        record_id: int, request: Request, db: DbDep, actor: ActorDep, file: UploadFile = File(...)
    ) -> Any:
        lifecycle.require_visible(db, actor, name, record_id)
        lifecycle.require(actor, name, "update")
        content = await file.read()
        att = attachments.store(db, actor, name, record_id, file.filename or "file", content)
        db.commit()
        return att

    @router.get("/{record_id}/attachments/{attachment_id}", name=f"{name}_download")
    def download_attachment(record_id: int, attachment_id: int, db: DbDep, actor: ActorDep) -> Response:
        lifecycle.require_visible(db, actor, name, record_id)
        att = attachments.get(db, attachment_id)
        if att.record_type != name or att.record_id != record_id:
            from carnet.core.errors import NotFound

            raise NotFound()
        return download_response(att)

    @router.delete("/{record_id}/attachments/{attachment_id}", status_code=204, name=f"{name}_detach")
    def delete_attachment(record_id: int, attachment_id: int, db: DbDep, actor: ActorDep) -> Response:
        lifecycle.require_visible(db, actor, name, record_id)
        lifecycle.require(actor, name, "update")
        att = attachments.get(db, attachment_id)
        if att.record_type != name or att.record_id != record_id:
            from carnet.core.errors import NotFound

            raise NotFound()
        attachments.delete(db, actor, att)
        db.commit()
        return Response(status_code=204)

    return router


def download_response(att: attachments.Attachment) -> Response:
    from urllib.parse import quote

    return Response(
        attachments.read(att),
        media_type=att.content_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(att.filename)}",
            "X-Content-Type-Options": "nosniff",
        },
    )


def install(app: FastAPI, module: str) -> None:
    """The shared routes of the record types of one permission module (`contacts`)."""
    for rt in records.REGISTRY.values():
        if rt.module == module:
            app.include_router(_routes_for(rt), prefix="/api/v1")
