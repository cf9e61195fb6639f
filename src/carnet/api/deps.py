"""Request-scoped dependencies: the database session and the acting user.

Security is visible in route signatures: `ActorDep` requires a logged-in user (Bearer token or
session cookie with CSRF on unsafe methods); `Requires("contacts:read")` adds a permission.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Annotated

import anyio
from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from carnet.accounts import service as accounts
from carnet.core import clock, ratelimit, security
from carnet.core.context import Actor
from carnet.core.db import get_database
from carnet.core.errors import NotAuthenticated, PermissionDenied
from carnet.settings import get_settings

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# Sessions and tokens record their last use at most this often: one small write a minute, not one
# per request (the idle timeout is measured in hours).
TOUCH_EVERY = timedelta(minutes=1)

log = logging.getLogger("carnet.auth")


def session_cookie_name() -> str:
    return "__Host-carnet_session" if get_settings().secure_cookies else "carnet_session"


def _end(db: Session) -> None:
    db.rollback()
    db.close()


async def get_db(request: Request) -> AsyncIterator[Session]:
    # Opening a session touches no connection, so it is done here rather than in a worker thread;
    # ending it talks to the database and runs in the thread pool, shielded from cancellation (a
    # client that hangs up must not leak the connection).
    db = get_database().session(write=request.method not in SAFE_METHODS)
    request.state.db = db
    try:
        yield db
    finally:
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(_end, db)


# scope="function": the transaction ends when the route returns, before the response is sent.
DbDep = Annotated[Session, Depends(get_db, scope="function")]


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _request_info(request: Request) -> dict:
    return {
        "ip": client_ip(request),
        "user_agent": request.headers.get("user-agent"),
        "request_id": getattr(request.state, "request_id", None),
    }


def resolve_actor(request: Request, db: Session, *, allow_pending_2fa: bool = False) -> Actor:
    """Authenticate the request; raises NotAuthenticated."""
    settings = get_settings()
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        found = accounts.token_actor(db, auth[7:].strip(), **_request_info(request))
        if found is None:
            raise NotAuthenticated("Invalid or revoked API token")
        request.state.rate_limit = ratelimit.hit(settings.rate_limit_api, "api-token", str(found.token_id))
        if found.last_used_at is None or clock.now() - found.last_used_at >= TOUCH_EVERY:
            request.state.record_use = (accounts.touch_token, found.token_id)
        request.state.actor = found.actor
        request.state.token_id = found.token_id
        return found.actor
    cookie = request.cookies.get(session_cookie_name())
    if not cookie:
        raise NotAuthenticated()
    found_session = accounts.session_user(db, cookie)
    if found_session is None:
        raise NotAuthenticated("Your session has expired; please log in again")
    row, user = found_session
    if row.pending_2fa and not allow_pending_2fa:
        raise NotAuthenticated("Two-factor verification required")
    if request.method not in SAFE_METHODS:
        candidate = request.headers.get("x-csrf-token") or getattr(request.state, "form_csrf", None)
        if not security.csrf_valid(cookie, candidate):
            raise PermissionDenied(
                "The form expired or the CSRF token is missing; reload the page", code="csrf"
            )
    if request.url.path.startswith("/api/"):
        request.state.rate_limit = ratelimit.hit(settings.rate_limit_api, "api-session", str(row.id))
    if clock.now() - row.last_seen_at >= TOUCH_EVERY:
        request.state.record_use = (accounts.touch_session, row.id)  # slides the idle timeout
    actor = accounts.actor_for(user, session_id=row.id, **_request_info(request))
    request.state.actor = actor
    request.state.csrf_token = security.csrf_token_for(cookie)
    request.state.session_row_id = row.id
    return actor


def record_use(request: Request) -> None:
    """Record when a session or token was last used. Called once the request's own transaction
    is over (the app middleware), in a short write transaction of its own: most requests only
    read, and the request's session may be read-only."""
    pending: tuple[Callable[[Session, int], None], int] | None = getattr(request.state, "record_use", None)
    if pending is None:
        return
    touch, row_id = pending
    try:
        with get_database().session() as wdb:
            touch(wdb, row_id)
    except Exception:  # bookkeeping must never fail the request it belongs to
        log.warning("could not record the last use of a session or token", exc_info=True)


def current_actor(request: Request, db: DbDep) -> Actor:
    return resolve_actor(request, db)


ActorDep = Annotated[Actor, Depends(current_actor)]


class Requires:
    """Dependency: the acting user must hold `permission`."""

    def __init__(self, permission: str) -> None:
        self.permission = permission

    async def __call__(self, actor: ActorDep) -> Actor:  # no I/O: no hop to a worker thread
        if not actor.can(self.permission):
            raise PermissionDenied()
        return actor
