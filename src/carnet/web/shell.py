"""Rendering helpers shared by every domain's views: Jinja environment, the web actor dependency
(session cookie + CSRF), full page or htmx fragment, flash messages, error pages, login."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, unquote

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader
from markupsafe import Markup

from carnet import __version__
from carnet.accounts import service as accounts
from carnet.api.deps import DbDep, client_ip, resolve_actor, session_cookie_name
from carnet.core import i18n, ratelimit
from carnet.core.context import Actor
from carnet.core.errors import DomainError, NotAuthenticated, ValidationFailed
from carnet.core.identifiers import format_phone
from carnet.settings import get_settings

PACKAGE = Path(__file__).resolve().parent.parent
STATIC = Path(__file__).resolve().parent / "static"


def _template_dirs() -> list[str]:
    dirs = [str(Path(__file__).resolve().parent / "templates")]
    dirs += [str(p) for p in sorted(PACKAGE.glob("*/templates")) if p.parent.name != "web"]
    return dirs


templates = Jinja2Templates(directory=_template_dirs()[0])
templates.env.loader = ChoiceLoader([FileSystemLoader(d) for d in _template_dirs()])
templates.env.globals["version"] = __version__
templates.env.filters["phone"] = format_phone
templates.env.filters["zip_pairs"] = lambda items: [(x, x) for x in items]
templates.env.filters["tojson_attr"] = lambda v: Markup(json.dumps(v).replace('"', "&quot;"))


def lang_of(request: Request) -> str:
    actor = getattr(request.state, "actor", None)
    if actor is not None:
        return actor.language
    chosen = request.cookies.get("carnet_lang")
    if chosen in i18n.LANGUAGES:
        return chosen
    return i18n.negotiate(request.headers.get("accept-language"), get_settings().default_language)


def context(request: Request, **extra: Any) -> dict[str, Any]:
    lang = lang_of(request)
    actor: Actor | None = getattr(request.state, "actor", None)
    tz = actor.timezone if actor else get_settings().default_timezone

    def _(text: str, **params: Any) -> str:
        return i18n.gettext(text, lang, **params)

    return {
        "request": request,
        "_": _,
        "lang": lang,
        "actor": actor,
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "fdate": lambda v: i18n.format_date(v, lang, tz),
        "fdatetime": lambda v: i18n.format_datetime(v, lang, tz),
        "fmoney": lambda v: i18n.format_money(v, lang),
        "fnumber": lambda v: i18n.format_number(v, lang),
        "fpercent": lambda v: i18n.format_percent(v, lang),
        "flash": unquote(request.cookies.get("carnet_flash") or ""),
        "is_htmx": request.headers.get("hx-request") == "true",
        **extra,
    }


def render(
    request: Request,
    template: str,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request, template, context(request, **extra), status_code=status_code, headers=headers or None
    )
    if request.cookies.get("carnet_flash"):
        response.delete_cookie("carnet_flash")
    return response


def redirect(url: str, flash: str | None = None, request: Request | None = None) -> Response:
    """Redirect after a successful form post; htmx requests get HX-Redirect."""
    if request is not None and request.headers.get("hx-request") == "true":
        response: Response = Response(status_code=204, headers={"HX-Redirect": url})
    else:
        response = RedirectResponse(url, status_code=303)
    if flash:
        response.set_cookie("carnet_flash", quote(flash), max_age=30, httponly=True, samesite="lax")
    return response


async def web_actor(request: Request, db: DbDep) -> Actor:
    """The logged-in user of a web page; forms carry the CSRF token as a hidden field."""
    if request.method not in ("GET", "HEAD") and not request.headers.get("x-csrf-token"):
        ctype = request.headers.get("content-type", "")
        if "form" in ctype:
            form = await request.form()
            request.state.form_csrf = form.get("csrf_token")
    return resolve_actor(request, db)


WebActor = Annotated[Actor, Depends(web_actor)]


def form_errors(exc: ValidationFailed, lang: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for err in exc.errors:
        message = i18n.gettext(err.message, lang, **err.params)
        out.setdefault(err.field, message)
        # "phones.1" is also shown next to the "phones" input.
        out.setdefault(err.field.split(".")[0], message)
    return out


def domain_error_page(request: Request, exc: DomainError) -> Response:
    if isinstance(exc, NotAuthenticated):
        if request.headers.get("hx-request") == "true":
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
    lang = lang_of(request)
    return render(
        request,
        "error.html",
        status_code=exc.status,
        title=i18n.gettext(exc.title, lang),
        message=i18n.gettext(exc.message, lang, **exc.params),
        headers=exc.headers,
    )


def http_error_page(request: Request, status: int) -> Response:
    lang = lang_of(request)
    titles = {404: "Page not found", 405: "Method not allowed", 500: "Something went wrong on our side"}
    return render(
        request,
        "error.html",
        status_code=status,
        title=i18n.gettext(titles.get(status, "Error"), lang),
        message="",
    )


# -- login / logout / language ---------------------------------------------------------------------------

router = APIRouter(include_in_schema=False)


def _safe_next(url: str | None) -> str:
    return url if url and url.startswith("/") and not url.startswith("//") else "/"


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", next=_safe_next(next), errors={}, email="")


@router.post("/login")
def login(
    request: Request,
    db: DbDep,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    lang = lang_of(request)
    try:
        request.state.rate_limit = ratelimit.hit(
            get_settings().rate_limit_login, "login-ip", client_ip(request) or "-"
        )
        user = accounts.authenticate(
            db, email, password, client_ip(request), request.headers.get("user-agent")
        )
    except DomainError as exc:
        return render(
            request,
            "login.html",
            status_code=exc.status,
            headers=exc.headers,
            next=_safe_next(next),
            email=email,
            errors={"form": i18n.gettext(exc.message, lang)},
        )
    previous = request.cookies.get(session_cookie_name())
    if previous:  # a new session id on every login: whatever cookie came in stops working
        accounts.close_session(db, previous)
    token = accounts.open_session(db, user, client_ip(request), request.headers.get("user-agent"))
    target = "/login/2fa?next=" + quote(_safe_next(next)) if user.totp_enabled else _safe_next(next)
    response = RedirectResponse(target, status_code=303)
    _set_session_cookie(response, token)
    response.set_cookie("carnet_lang", user.language, samesite="lax", max_age=365 * 86400)
    return response


def _set_session_cookie(response: Response, token: str) -> None:
    settings = get_settings()
    response.set_cookie(
        session_cookie_name(),
        token,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
        max_age=settings.session_absolute_hours * 3600,
    )


@router.get("/login/2fa")
def second_factor_page(request: Request, db: DbDep, next: str = "/") -> Response:
    resolve_actor(request, db, allow_pending_2fa=True)
    return render(request, "login_2fa.html", next=_safe_next(next), errors={})


@router.post("/login/2fa")
async def second_factor(request: Request, db: DbDep) -> Response:
    form = await request.form()
    request.state.form_csrf = form.get("csrf_token")
    actor = resolve_actor(request, db, allow_pending_2fa=True)
    user = accounts.get_user(db, actor.user_id or 0)
    row = db.get(accounts.UserSession, actor.session_id)
    try:
        ratelimit.hit("5/minute", "2fa", str(user.id))
        token = accounts.verify_second_factor(db, user, row, str(form.get("code") or ""), actor)
    except ValidationFailed as exc:
        return render(
            request,
            "login_2fa.html",
            status_code=422,
            next=_safe_next(str(form.get("next"))),
            errors=form_errors(exc, actor.language),
        )
    response = RedirectResponse(_safe_next(str(form.get("next") or "/")), status_code=303)
    if token:  # the session id changes again once the second factor is proven
        _set_session_cookie(response, token)
    return response


@router.post("/logout")
async def logout(request: Request, db: DbDep, actor: WebActor) -> Response:
    cookie = request.cookies.get(session_cookie_name())
    if cookie:
        accounts.close_session(db, cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(session_cookie_name(), path="/")
    return response


@router.get("/lang/{code}")
def switch_language(code: str, request: Request, next: str = "/") -> Response:
    """Language before login (a cookie). A GET changes no data: logged-in users change their
    account's language with POST /lang/{code} (the profile and the user menu use it)."""
    response = RedirectResponse(_safe_next(next), status_code=303)
    if code in i18n.LANGUAGES:
        response.set_cookie("carnet_lang", code, samesite="lax", max_age=365 * 86400)
    return response


@router.post("/lang/{code}")
async def set_language(code: str, request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    response = RedirectResponse(_safe_next(str(form.get("next") or "/")), status_code=303)
    if code in i18n.LANGUAGES:
        response.set_cookie("carnet_lang", code, samesite="lax", max_age=365 * 86400)
        if actor.language != code:
            accounts.update_me(db, actor, {"language": code})
    return response


def install(app: FastAPI) -> None:
    STATIC.mkdir(parents=True, exist_ok=True)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.include_router(router)
