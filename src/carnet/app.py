"""create_app(): the API under /api/v1 and the web UI, over the same domain services."""

from __future__ import annotations

import importlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from starlette.background import BackgroundTasks
from starlette.exceptions import HTTPException as StarletteHTTPException

from carnet import __version__
from carnet.api import problems
from carnet.api.deps import record_use
from carnet.api.idempotency import idempotency_middleware
from carnet.core import clock
from carnet.core.db import get_database
from carnet.core.errors import DomainError, NotAuthenticated, PayloadTooLarge
from carnet.core.housekeeping import RequestLog
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
    "home",
    "background",
    "company",
    "catalogue",
    "quotes",
    "invoices",
    "contracts",
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

    for name in DOMAINS:
        for adapter, prefix in (("api", "/api/v1"), ("views", "")):
            try:
                module = importlib.import_module(f"carnet.{name}.{adapter}")
            except ModuleNotFoundError as exc:
                if exc.name in (f"carnet.{name}", f"carnet.{name}.{adapter}"):
                    continue
                raise
            app.include_router(module.router, prefix=prefix)

    from carnet.api import records as record_routes
    from carnet.web import bulk
    from carnet.web import records as record_views

    record_routes.install(app)
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

    app.middleware("http")(idempotency_middleware)

    @app.middleware("http")
    async def _request_context(request: Request, call_next):  # type: ignore[no-untyped-def]
        settings = get_settings()  # cached; read per request so a changed setting is seen at once
        # a caller's id is kept only if it cannot forge log lines (spaces, brackets, quotes...)
        offered = request.headers.get("x-request-id", "")
        request_id = offered if REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        request.state.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            length = int(request.headers.get("content-length") or 0)
            limit = (
                settings.import_max_bytes
                if ("/imports" in request.url.path or "/attachments" in request.url.path)
                else settings.request_max_bytes
            )
            try:
                if length > limit:
                    response = problems.domain_error_response(request, PayloadTooLarge())
                else:
                    response = await call_next(request)
            except NotAuthenticated as exc:  # pragma: no cover - handled by exception handlers
                response = problems.domain_error_response(request, exc)
            except Exception as exc:
                # Answered here rather than by Starlette's outermost error middleware, so the
                # traceback is logged with the request id and the 500 gets the headers below.
                response = _unexpected_response(request, exc)
            duration_ms = int((time.perf_counter() - started) * 1000)
            _finish(request, response, duration_ms)
            # The request's bookkeeping writes run once the body is sent (a streamed export is
            # still reading), in the thread pool: blocking calls must not stall the event loop.
            _after_response(response, _persist, request, response.status_code, duration_ms)
            return response
        finally:
            # reset only now: the access log line and the request log belong to this request too
            request_id_var.reset(token)

    return app


def _finish(request: Request, response: Response, duration_ms: int) -> None:
    """Security and rate-limit headers, the access log line and the API request log."""
    settings = get_settings()
    response.headers["X-Request-ID"] = request.state.request_id
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self' 'unsafe-inline' 'unsafe-eval'; frame-ancestors 'none'"
        if not request.url.path.startswith("/api/docs")
        else "frame-ancestors 'none'"
    )
    if settings.secure_cookies:
        response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    actor = getattr(request.state, "actor", None)
    if actor is not None and "cache-control" not in response.headers:
        # what a logged-in user sees must not outlive the session in a shared cache or history
        response.headers["Cache-Control"] = "no-store"
    allowance = getattr(request.state, "rate_limit", None)
    if allowance is not None and "ratelimit-limit" not in response.headers:
        response.headers["RateLimit-Limit"] = str(allowance.limit)
        response.headers["RateLimit-Remaining"] = str(allowance.remaining)
        response.headers["RateLimit-Reset"] = str(allowance.reset_in)
    log.info(
        "%s %s %s %dms",
        request.method,
        request.url.path,
        response.status_code,
        duration_ms,
        extra={
            "method": request.method,
            "path": request.url.path,
            "status": response.status_code,
            "duration_ms": duration_ms,
            "user_id": getattr(actor, "user_id", None),
        },
    )


def _after_response(response: Response, func: Any, *args: Any) -> None:
    tasks = BackgroundTasks()
    if response.background is not None:
        tasks.add_task(response.background)
    tasks.add_task(func, *args)
    response.background = tasks


def _persist(request: Request, status: int, duration_ms: int) -> None:
    """The request's own database writes after it is answered: request log and last-use times."""
    if _is_api(request) and (request.method != "GET" or status >= 400):
        _log_request(request, status, duration_ms)
    record_use(request)


def _log_request(request: Request, status: int, duration_ms: int) -> None:
    actor = getattr(request.state, "actor", None)
    try:
        with get_database().begin() as db:
            db.add(
                RequestLog(
                    occurred_at=clock.now(),
                    request_id=request.state.request_id,
                    method=request.method,
                    path=request.url.path[:500],
                    status=status,
                    duration_ms=duration_ms,
                    user_id=getattr(actor, "user_id", None),
                    token_id=getattr(request.state, "token_id", None),
                    ip=request.client.host if request.client else None,
                )
            )
    except Exception:  # a request log must never break the request
        log.warning("could not write request log", exc_info=True)
