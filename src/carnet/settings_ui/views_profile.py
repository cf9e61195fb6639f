"""My profile: name, language, time zone, password, two-factor authentication, API tokens and
saved views."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Request
from fastapi.responses import Response

from carnet.accounts import service as accounts
from carnet.api.deps import DbDep
from carnet.core import records
from carnet.core.context import Actor
from carnet.core.errors import Conflict, ValidationFailed
from carnet.core.i18n import gettext
from carnet.settings_ui import service
from carnet.settings_ui.forms import error_message, t, text, values_of
from carnet.web.shell import WebActor, form_errors, redirect, render

router = APIRouter(prefix="/profile", include_in_schema=False)

LANGUAGES = (("fr", "Français"), ("en", "English"))


def _profile(
    request: Request,
    db: DbDep,
    actor: Actor,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    user = accounts.get_user(db, actor.user_id or 0)
    context: dict[str, Any] = {
        "user": user,
        "values": {
            "first_name": user.first_name,
            "last_name": user.last_name,
            "language": user.language,
            "timezone": user.timezone,
        },
        "errors": {},
        "password_errors": {},
        "totp_errors": {},
        "token_errors": {},
        "token_values": {},
        "new_token": None,
        "error": None,
        "totp_uri": accounts.totp_uri(user),
        "tokens": accounts.list_my_tokens(db, actor),
        "saved_views": service.list_saved_views(db, actor),
        "record_urls": {name: rt.url_prefix for name, rt in records.REGISTRY.items()},
        "languages": LANGUAGES,
        "timezones": sorted(available_timezones()),
    }
    context.update(extra)
    return render(request, "settings_ui/profile.html", status_code=status_code, **context)


@router.get("")
def profile_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    return _profile(request, db, actor)


@router.post("")
async def update_profile(request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    data = {key: text(form, key) for key in ("first_name", "last_name", "language", "timezone")}
    try:
        user = accounts.update_me(db, actor, data)
    except ValidationFailed as exc:
        db.rollback()
        return _profile(
            request, db, actor, 422, values=values_of(form), errors=form_errors(exc, actor.language)
        )
    # The new language applies from this very answer (flash) and every page after it.
    response = redirect("/profile", flash=gettext("Changes saved", user.language), request=request)
    response.set_cookie("carnet_lang", user.language, samesite="lax", max_age=365 * 86400)
    return response


@router.post("/password")
async def change_password(request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    user = accounts.get_user(db, actor.user_id or 0)
    try:
        accounts.set_password(
            db,
            actor,
            user,
            str(form.get("password") or ""),
            str(form.get("current_password") or ""),
            confirmation=str(form.get("password_confirm") or ""),
        )
    except ValidationFailed as exc:
        db.rollback()
        return _profile(request, db, actor, 422, password_errors=form_errors(exc, actor.language))
    return redirect("/profile", flash=t(actor, "Password changed"), request=request)


@router.post("/2fa/setup")
async def start_two_factor(request: Request, db: DbDep, actor: WebActor) -> Response:
    user = accounts.get_user(db, actor.user_id or 0)
    try:
        accounts.start_totp_setup(db, actor, user)
    except Conflict as exc:
        db.rollback()
        return _profile(request, db, actor, 409, error=error_message(actor, exc))
    return redirect("/profile#two-factor", request=request)


@router.post("/2fa/enable")
async def enable_two_factor(request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    user = accounts.get_user(db, actor.user_id or 0)
    try:
        accounts.enable_totp(db, actor, user, text(form, "code"))
    except ValidationFailed as exc:
        db.rollback()
        return _profile(request, db, actor, 422, totp_errors=form_errors(exc, actor.language))
    except Conflict as exc:
        db.rollback()
        return _profile(request, db, actor, 409, error=error_message(actor, exc))
    return redirect("/profile", flash=t(actor, "Two-factor authentication is on"), request=request)


@router.post("/2fa/disable")
async def disable_two_factor(request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    user = accounts.get_user(db, actor.user_id or 0)
    try:
        accounts.disable_totp(db, actor, user, str(form.get("password") or ""))
    except ValidationFailed as exc:
        db.rollback()
        return _profile(request, db, actor, 422, totp_errors=form_errors(exc, actor.language))
    return redirect("/profile", flash=t(actor, "Two-factor authentication turned off"), request=request)


@router.post("/tokens")
async def create_token(request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    user = accounts.get_user(db, actor.user_id or 0)
    try:
        _token, secret = accounts.create_token(db, actor, user, text(form, "name"))
    except ValidationFailed as exc:
        db.rollback()
        return _profile(
            request,
            db,
            actor,
            422,
            token_values=values_of(form),
            token_errors=form_errors(exc, actor.language),
        )
    # Rendered, not redirected: the secret is shown this once and stored nowhere readable.
    return _profile(request, db, actor, new_token=secret)


@router.post("/tokens/{token_id}/revoke")
async def revoke_token(token_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    accounts.revoke_token(db, actor, token_id, owner_id=actor.user_id)
    return redirect("/profile#tokens", flash=t(actor, "Token revoked"), request=request)
