"""Notification centre: the bell's menu and live count (server-sent events), the full list, mark
read, and the preferences page of the profile."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from jinja2 import pass_context
from starlette.concurrency import run_in_threadpool

from carnet.api.deps import DbDep
from carnet.core.context import Actor
from carnet.core.db import get_database
from carnet.core.errors import ValidationFailed
from carnet.core.i18n import gettext
from carnet.notifications import service
from carnet.settings import get_settings
from carnet.web.shell import WebActor, redirect, render, templates

log = logging.getLogger("carnet.notifications")
router = APIRouter(include_in_schema=False)

MENU_SIZE = 8
PAGE_SIZE = 50
# A stream ends after this long and the browser reconnects: a closed session stops being served.
STREAM_LIFETIME_SECONDS = 300.0
KEEPALIVE_SECONDS = 20.0


def t(actor: Actor, text: str) -> str:
    return gettext(text, actor.language)


def _unread(user_id: int) -> int:
    with get_database().session(write=False) as db:
        return service.unread_count(db, user_id)


@pass_context
def unread_for_page(ctx: Any) -> int:
    """The bell's count in base.html, read in its own short session (the page's session may be
    in any state when an error page is rendered)."""
    actor = ctx.get("actor")
    if actor is None or actor.user_id is None:
        return 0
    try:
        return _unread(actor.user_id)
    except Exception:  # the bell must never break a page
        log.warning("could not count unread notifications", exc_info=True)
        return 0


templates.env.globals["unread_notifications"] = unread_for_page
templates.env.globals["notification_type_label"] = service.type_label


@router.get("/notifications")
def notifications_page(
    request: Request, db: DbDep, actor: WebActor, unread: bool = False, cursor: int | None = None
) -> Response:
    rows, next_id = service.list_notifications(db, actor, unread=unread, before_id=cursor, limit=PAGE_SIZE)
    return render(
        request,
        "notifications/index.html",
        notifications=rows,
        next_cursor=next_id,
        unread_only=unread,
        unread_count=service.unread_count(db, actor.user_id or 0),
    )


@router.get("/notifications/menu")
def notifications_menu(request: Request, db: DbDep, actor: WebActor) -> Response:
    """The bell's dropdown (an htmx fragment): the newest notifications."""
    rows, _next = service.list_notifications(db, actor, limit=MENU_SIZE)
    return render(
        request,
        "notifications/_menu.html",
        notifications=rows,
        unread_count=service.unread_count(db, actor.user_id or 0),
    )


@router.post("/notifications/read-all")
async def mark_all_read(request: Request, db: DbDep, actor: WebActor) -> Response:
    service.mark_all_read(db, actor)
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Trigger": "notifications-changed"})
    return redirect("/notifications", flash=t(actor, "All notifications marked read"), request=request)


@router.post("/notifications/{notification_id}/read")
async def mark_read(notification_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    service.mark_read(db, actor, notification_id)
    if request.headers.get("hx-request") == "true" or request.headers.get("x-csrf-token"):
        return Response(status_code=204, headers={"HX-Trigger": "notifications-changed"})
    return redirect("/notifications", request=request)


async def _count_events(request: Request, user_id: int, interval: float) -> AsyncIterator[str]:
    """`event: count` with the unread count at once, then whenever it changes."""
    loop = asyncio.get_running_loop()
    started = last_sent_at = loop.time()
    last: int | None = None
    yield f"retry: {int(interval * 1000) + 2000}\n\n"
    while loop.time() - started < STREAM_LIFETIME_SECONDS:
        if await request.is_disconnected():
            return
        count = await run_in_threadpool(_unread, user_id)
        now = loop.time()
        if count != last:
            last, last_sent_at = count, now
            yield f"event: count\ndata: {count}\n\n"
        elif now - last_sent_at >= KEEPALIVE_SECONDS:
            last_sent_at = now
            yield ": keep-alive\n\n"  # a comment: proxies keep the connection open
        await asyncio.sleep(interval)


@router.get("/notifications/stream")
def notifications_stream(request: Request, actor: WebActor) -> StreamingResponse:
    """Server-sent events for the bell (`EventSource`): the unread count when it changes."""
    interval = max(0.05, get_settings().notifications_stream_seconds)
    return StreamingResponse(
        _count_events(request, actor.user_id or 0, interval),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# -- preferences (in the profile) -----------------------------------------------------------------


def _preferences_page(
    request: Request, db: DbDep, actor: WebActor, status_code: int = 200, error: str | None = None
) -> Response:
    return render(
        request,
        "notifications/preferences.html",
        status_code=status_code,
        types=list(service.TYPES.values()),
        prefs=service.preferences(db, actor.user_id or 0),
        channels=service.CHANNELS,
        error=error,
    )


@router.get("/profile/notifications")
def preferences_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    return _preferences_page(request, db, actor)


@router.post("/profile/notifications")
async def save_preferences(request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    # A checkbox is sent only when ticked: every (type, channel) of the form is set explicitly.
    changes = {
        key: {channel: form.get(f"{key}.{channel}") == "on" for channel in service.CHANNELS}
        for key in service.TYPES
    }
    try:
        service.set_preferences(db, actor, changes)
    except ValidationFailed:
        db.rollback()
        return _preferences_page(request, db, actor, 422, t(actor, "Some fields are invalid"))
    return redirect(
        "/profile/notifications", flash=t(actor, "Notification preferences saved"), request=request
    )
