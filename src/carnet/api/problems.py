"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from carnet.core import i18n
from carnet.core.errors import DomainError

log = logging.getLogger("carnet.errors")
PROBLEM = "application/problem+json"


def language_of(request: Request) -> str:
    actor = getattr(request.state, "actor", None)
    if actor is not None:
        return actor.language
    return i18n.negotiate(request.headers.get("accept-language"))


def problem(
    request: Request,
    status: int,
    title: str,
    code: str,
    detail: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://carnet.dev/problems/{code}",
        "title": title,
        "status": status,
        "code": code,
        "instance": request.url.path,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def domain_error_response(request: Request, exc: DomainError) -> JSONResponse:
    lang = language_of(request)

    def t(text: str, **params: Any) -> str:
        return i18n.gettext(text, lang, **params)

    return problem(
        request,
        exc.status,
        t(exc.title),
        exc.code,
        detail=t(exc.message, **exc.params) if exc.message != exc.title else None,
        errors=[e.as_dict(t) for e in exc.errors] or None,
        headers=exc.headers or None,
    )


def _loc_to_field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_error_response(request: Request, exc: RequestValidationError) -> JSONResponse:
    lang = language_of(request)
    errors = []
    for err in exc.errors():
        msg = err.get("msg", "Invalid value")
        if err.get("type") == "missing":
            msg = "This field is required"
        elif err.get("type") == "extra_forbidden":
            msg = "This field is not allowed"
        errors.append(
            {
                "field": _loc_to_field(tuple(err.get("loc", ()))),
                "code": err.get("type", "invalid"),
                "message": i18n.gettext(msg, lang),
            }
        )
    return problem(
        request, 422, i18n.gettext("Some fields are invalid", lang), "validation_failed", errors=errors
    )


def http_error_response(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    titles = {
        404: "Not found",
        405: "Method not allowed",
        401: "Authentication required",
        413: "The request is too large",
    }
    title = titles.get(exc.status_code, str(exc.detail))
    return problem(
        request,
        exc.status_code,
        i18n.gettext(title, language_of(request)),
        f"http_{exc.status_code}",
        headers=getattr(exc, "headers", None),
    )


def unexpected_error_response(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return problem(
        request, 500, i18n.gettext("Something went wrong on our side", language_of(request)), "internal_error"
    )
