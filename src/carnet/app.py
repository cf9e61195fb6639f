"""create_app(): the API under /api/v1 and the web UI, over the same domain services."""

from __future__ import annotations

import importlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carnet import __version__
from carnet.api import problems
from carnet.api.deps import record_use
from carnet.api.idempotency import IdempotencyMiddleware
from carnet.core import clock
from carnet.core.db import get_database
from carnet.core.errors import DomainError, PayloadTooLarge
from carnet.core.housekeeping import REQUEST_LOG
from carnet.core.logging import configure, request_id_var
from carnet.settings import get_settings

log = logging.getLogger("carnet.http")
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

# Domain packages, low level first. Each may provide `api.router` (JSON) and `views.router` (HTML).
DOMAINS = (
    "accounts",
    "organisations",
    "contacts",
    "deals",
    "activities",
    "tasks",
    "workflows",
    "search",
    "imports",
    "notifications",
    "settings_ui",
    "webhooks",
    "home",
    "background",
    "company",
    "catalogue",
    "quotes",
    "invoices",
    "contracts",
    "projects",
    "transparency",
    "payments",
    "finance",
)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start what runs the jobs (CARNET_RUNNER): threads of this process, or a Celery publisher."""
    from carnet.core import runner

    settings = get_settings()
    if settings.runner == "embedded":
        runner.start_embedded(settings.runner_threads)
    elif settings.runner == "celery":
        from carnet.core import celery_app

        celery_app.install_publisher()
    try:
        yield
    finally:
        runner.stop_embedded()


def _adapter(domain: str, adapter: str) -> Any:
    """The domain's `api` or `views` module, or None when the domain has none."""
    try:
        return importlib.import_module(f"carnet.{domain}.{adapter}")
    except ModuleNotFoundError as exc:
        if exc.name in (f"carnet.{domain}", f"carnet.{domain}.{adapter}"):
            return None
        raise


def create_app() -> FastAPI:
    settings = get_settings()
    configure(settings.log_level, settings.json_logs)
    app = FastAPI(
        lifespan=_lifespan,
        title="Carnet API",
        version=__version__,
        description="REST API of Carnet, the CRM for French SMBs. Authenticate with `Authorization: Bearer <token>`.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )

    import carnet.models  # noqa: F401  every table, job function and event consumer
    from carnet.web import shell

    shell.install(app)

    from carnet.api import records as record_routes

    # Every JSON router before the HTML ones: FastAPI matches a request against the routes one
    # after the other, a few µs each, so an API request no longer walks the HTML routes of the
    # domains listed before its own. The order changes no match: every API path, and only those,
    # starts with /api/ (tests/api/test_routes.py).
    for name in DOMAINS:
        api = _adapter(name, "api")
        if api is not None:
            app.include_router(api.router, prefix="/api/v1")
        # the sub-resources every record type shares (timeline, history...), beside its domain's
        record_routes.install(app, name)
    # Project templates (settings of the projects domain) and the establishment portal have
    # routers of their own beside the projects service's.
    from carnet.projects import portal_api, portal_views, template_api, template_views

    app.include_router(template_api.router, prefix="/api/v1")
    app.include_router(portal_api.router, prefix="/api/v1")

    for name in DOMAINS:
        views = _adapter(name, "views")
        if views is not None:
            app.include_router(views.router)
    app.include_router(template_views.router)
    app.include_router(portal_views.router)

    from carnet.web import bulk
    from carnet.web import records as record_views

    app.include_router(record_views.router)
    app.include_router(bulk.router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> Response:
        from carnet.core import jobs

        status: dict[str, Any] = {"status": "ok", "version": __version__, "database": "ok"}
        try:
            with get_database().session(write=False) as db:
                db.execute(text("SELECT 1"))
                lag = jobs.lag_seconds(db)
        except Exception:  # the point is to report it, whatever it is
            status["database"] = "unavailable"
            status["status"] = "degraded"
        else:
            # Runner lag: how late the oldest due job is. Late beyond the limit means no runner runs.
            late = lag > get_settings().jobs_max_lag_seconds
            status["jobs"] = {"runner": get_settings().runner, "lag_seconds": round(lag, 1)}
            status["jobs"]["status"] = "late" if late else "ok"
            if late:
                status["status"] = "degraded"
        return JSONResponse(status, status_code=200 if status["status"] == "ok" else 503)

    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, exc: DomainError) -> Response:
        if not _is_api(request):
            return shell.domain_error_page(request, exc)
        return problems.domain_error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        return problems.validation_error_response(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if not _is_api(request):
            return shell.http_error_page(request, exc.status_code)
        return problems.http_error_response(request, exc)

    def _unexpected_response(request: Request, exc: Exception) -> Response:
        if not _is_api(request):
            log.exception("unexpected error", exc_info=exc)
            return shell.http_error_page(request, 500)
        return problems.unexpected_error_response(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        return _unexpected_response(request, exc)

    # Pure ASGI middlewares (not BaseHTTPMiddleware): no extra task group, stream or copy of the
    # body per request. The last added runs first: the request context wraps the idempotency replay.
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(RequestContextMiddleware, unexpected_response=_unexpected_response)

    return app


class RequestContextMiddleware:
    """Per request: the request id, the body size limit, a logged 500 for an unexpected error,
    the security and rate-limit headers, the access log line, and, once the response is sent,
    the request's bookkeeping writes (request log, last use of the session or token)."""

    def __init__(self, app: ASGIApp, unexpected_response: Callable[[Request, Exception], Response]) -> None:
        self.app = app
        self.unexpected_response = unexpected_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = get_settings()  # cached; read per request so a changed setting is seen at once
        request = Request(scope)  # shares scope["state"] with the routes: request.state.actor etc.
        # a caller's id is kept only if it cannot forge log lines (spaces, brackets, quotes...)
        offered = request.headers.get("x-request-id", "")
        request_id = offered if REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        request.state.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        outcome: dict[str, int] = {}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                outcome["status"] = message["status"]
                outcome["duration_ms"] = int((time.perf_counter() - started) * 1000)
                _finish(request, MutableHeaders(scope=message), message["status"], outcome["duration_ms"])
            await send(message)

        try:
            path = scope["path"]
            length = int(request.headers.get("content-length") or 0)
            limit = (
                settings.import_max_bytes
                if ("/imports" in path or "/attachments" in path)
                else settings.request_max_bytes
            )
            if length > limit:
                await problems.domain_error_response(request, PayloadTooLarge())(
                    scope, receive, send_with_headers
                )
            else:
                try:
                    await self.app(scope, receive, send_with_headers)
                except Exception as exc:
                    if "status" in outcome:
                        raise  # the response has begun: nothing else can be sent
                    # Answered here rather than by Starlette's outermost error middleware, so the
                    # traceback is logged with the request id and the 500 gets the headers.
                    await self.unexpected_response(request, exc)(scope, receive, send_with_headers)
            # The response is sent (a streamed export included): the bookkeeping writes run now,
            # in the thread pool (blocking calls must not stall the event loop), and only when
            # there is something to write: a plain GET usually has nothing.
            if _has_bookkeeping(request, outcome["status"]):
                await run_in_threadpool(_persist, request, outcome["status"], outcome["duration_ms"])
        finally:
            # reset only now: the access log line and the request log belong to this request too
            request_id_var.reset(token)


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline' 'unsafe-eval'; frame-ancestors 'none'"
)


def _finish(request: Request, headers: MutableHeaders, status: int, duration_ms: int) -> None:
    """Security and rate-limit headers, and the access log line."""
    settings = get_settings()
    path = request.scope["path"]
    headers["X-Request-ID"] = request.state.request_id
    headers["X-Content-Type-Options"] = "nosniff"
    if "referrer-policy" not in headers:  # public pages with a secret in the URL send none
        headers["Referrer-Policy"] = "same-origin"
    headers["X-Frame-Options"] = "DENY"
    headers["Content-Security-Policy"] = (
        CONTENT_SECURITY_POLICY if not path.startswith("/api/docs") else "frame-ancestors 'none'"
    )
    if settings.secure_cookies:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    actor = getattr(request.state, "actor", None)
    if actor is not None and "cache-control" not in headers:
        # what a logged-in user sees must not outlive the session in a shared cache or history
        headers["Cache-Control"] = "no-store"
    allowance = getattr(request.state, "rate_limit", None)
    if allowance is not None and "ratelimit-limit" not in headers:
        headers["RateLimit-Limit"] = str(allowance.limit)
        headers["RateLimit-Remaining"] = str(allowance.remaining)
        headers["RateLimit-Reset"] = str(allowance.reset_in)
    if log.isEnabledFor(logging.INFO):
        log.info(
            "%s %s %s %dms",
            request.method,
            path,
            status,
            duration_ms,
            extra={
                "method": request.method,
                "path": path,
                "status": status,
                "duration_ms": duration_ms,
                "user_id": getattr(actor, "user_id", None),
            },
        )


def _logs_request(request: Request, status: int) -> bool:
    return request.scope["path"].startswith("/api/") and (request.method != "GET" or status >= 400)


def _has_bookkeeping(request: Request, status: int) -> bool:
    return _logs_request(request, status) or getattr(request.state, "record_use", None) is not None


def _persist(request: Request, status: int, duration_ms: int) -> None:
    """The request's own database writes after it is answered: request log and last-use times."""
    if _logs_request(request, status):
        actor = getattr(request.state, "actor", None)
        REQUEST_LOG.write(
            {
                "occurred_at": clock.now(),
                "request_id": request.state.request_id,
                "method": request.method,
                "path": request.scope["path"][:500],
                "status": status,
                "duration_ms": duration_ms,
                "user_id": getattr(actor, "user_id", None),
                "token_id": getattr(request.state, "token_id", None),
                "ip": request.client.host if request.client else None,
            }
        )
    record_use(request)
