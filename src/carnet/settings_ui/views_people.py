"""Settings pages for users, departments, roles and record visibility."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Request
from fastapi.responses import Response

from carnet.accounts import access
from carnet.accounts import service as accounts
from carnet.accounts.models import Department, Role, User
from carnet.api.deps import DbDep
from carnet.core.context import Actor
from carnet.core.errors import Conflict, ValidationFailed
from carnet.core.listing import ListParams
from carnet.core.permissions import SCOPES
from carnet.settings_ui import service
from carnet.settings_ui.forms import checked, error_message, parse_id, t, text, values_of
from carnet.web.shell import WebActor, form_errors, redirect, render

router = APIRouter(prefix="/settings", include_in_schema=False)

LANGUAGES = (("fr", "Français"), ("en", "English"))


# -- users ----------------------------------------------------------------------------------------------


def _user_form_context(db: DbDep) -> dict[str, Any]:
    return {
        "departments": accounts.list_departments(db),
        "roles": accounts.list_roles(db),
        "managers": accounts.list_users(db, active_only=True),
        "languages": LANGUAGES,
        "timezones": sorted(available_timezones()),
    }


def _user_data(form: Any, creating: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "email": text(form, "email"),
        "first_name": text(form, "first_name"),
        "last_name": text(form, "last_name"),
        "department_id": parse_id(form.get("department_id")),
        "role_id": parse_id(form.get("role_id")),
        "manager_id": parse_id(form.get("manager_id")),
        "language": text(form, "language"),
        "timezone": text(form, "timezone"),
        "active": checked(form, "active"),
    }
    if data["role_id"] is None:
        data["role_id"] = 0  # reported as "Unknown role" next to the field
    if creating:
        data["password"] = form.get("password") if isinstance(form.get("password"), str) else ""
    return data


def _user_values(user: User) -> dict[str, Any]:
    return {
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "department_id": user.department_id or "",
        "role_id": user.role_id,
        "manager_id": user.manager_id or "",
        "language": user.language,
        "timezone": user.timezone,
        "active": "1" if user.active else "",
    }


@router.get("/users")
def users_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "users")
    q = (request.query_params.get("q") or "").strip()[:100]
    params = ListParams(
        sort="last_name", limit=50, cursor=request.query_params.get("cursor") or None, q=q or None
    )
    rows, cursor = accounts.page_users(db, actor, params)
    return render(request, "settings_ui/users.html", rows=rows, next_cursor=cursor, q=q)


@router.get("/users/new")
def new_user_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "users")
    values = {
        "language": "fr",
        "timezone": actor.timezone,
        "active": "1",
        "department_id": actor.department_id,
    }
    return render(
        request, "settings_ui/user_form.html", user=None, values=values, errors={}, **_user_form_context(db)
    )


@router.post("/users/new")
async def create_user(request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "users")
    form = await request.form()
    try:
        user = accounts.create_user(db, actor, _user_data(form, creating=True))
    except ValidationFailed as exc:
        db.rollback()
        return render(
            request,
            "settings_ui/user_form.html",
            status_code=422,
            user=None,
            values=values_of(form),
            errors=form_errors(exc, actor.language),
            **_user_form_context(db),
        )
    return redirect(f"/settings/users/{user.id}/edit", flash=t(actor, "User created"), request=request)


def _edit_user_page(
    request: Request,
    db: DbDep,
    user: User,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    password_errors: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "settings_ui/user_form.html",
        status_code=status_code,
        user=user,
        values=values if values is not None else _user_values(user),
        errors=errors or {},
        password_errors=password_errors or {},
        error=error,
        **_user_form_context(db),
    )


@router.get("/users/{user_id}/edit")
def edit_user_page(user_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "users")
    return _edit_user_page(request, db, accounts.find_user(db, actor, user_id))


@router.post("/users/{user_id}/edit")
async def update_user(user_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "users")
    user = accounts.find_user(db, actor, user_id)
    form = await request.form()
    try:
        accounts.update_user(db, actor, user, _user_data(form, creating=False), parse_id(form.get("version")))
    except ValidationFailed as exc:
        db.rollback()
        return _edit_user_page(
            request, db, user, values_of(form), form_errors(exc, actor.language), status_code=422
        )
    return redirect(f"/settings/users/{user.id}/edit", flash=t(actor, "Changes saved"), request=request)


@router.post("/users/{user_id}/password")
async def reset_password(user_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "users")
    user = accounts.find_user(db, actor, user_id)
    form = await request.form()
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
        return _edit_user_page(
            request, db, user, password_errors=form_errors(exc, actor.language), status_code=422
        )
    return redirect(f"/settings/users/{user.id}/edit", flash=t(actor, "Password changed"), request=request)


@router.post("/users/{user_id}/2fa-reset")
async def reset_two_factor(user_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "users")
    user = accounts.find_user(db, actor, user_id)
    accounts.reset_totp(db, actor, user)
    return redirect(
        f"/settings/users/{user.id}/edit",
        flash=t(actor, "Two-factor authentication turned off"),
        request=request,
    )


@router.post("/users/{user_id}/delete")
async def delete_user(user_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "users")
    user = accounts.find_user(db, actor, user_id)
    try:
        accounts.delete_user(db, actor, user)
    except Conflict as exc:
        db.rollback()
        return _edit_user_page(request, db, user, error=error_message(actor, exc), status_code=409)
    return redirect("/settings/users", flash=t(actor, "User deleted"), request=request)


# -- departments -------------------------------------------------------------------------------------------


def _departments_page(
    request: Request,
    db: DbDep,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "settings_ui/departments.html",
        status_code=status_code,
        departments=accounts.list_departments(db),
        counts=access.user_counts_by_department(db),
        values=values or {},
        errors=errors or {},
        error=error,
    )


def _department_data(form: Any) -> dict[str, Any]:
    return {"name": text(form, "name"), "code": text(form, "code"), "description": text(form, "description")}


@router.get("/departments")
def departments_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "departments")
    return _departments_page(request, db)


@router.post("/departments")
async def create_department(request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "departments")
    form = await request.form()
    try:
        access.create_department(db, actor, _department_data(form))
    except ValidationFailed as exc:
        db.rollback()
        return _departments_page(
            request, db, values_of(form), form_errors(exc, actor.language), status_code=422
        )
    return redirect("/settings/departments", flash=t(actor, "Department created"), request=request)


def _department_form(
    request: Request, dept: Department, values: dict[str, Any], errors: dict[str, str], status_code: int = 200
) -> Response:
    return render(
        request,
        "settings_ui/department_form.html",
        status_code=status_code,
        dept=dept,
        values=values,
        errors=errors,
    )


@router.get("/departments/{department_id}/edit")
def edit_department_page(department_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "departments")
    dept = access.find_department(db, actor, department_id)
    values = {"name": dept.name, "code": dept.code, "description": dept.description}
    return _department_form(request, dept, values, {})


@router.post("/departments/{department_id}/edit")
async def update_department(department_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "departments")
    dept = access.find_department(db, actor, department_id)
    form = await request.form()
    try:
        access.update_department(db, actor, dept, _department_data(form), parse_id(form.get("version")))
    except ValidationFailed as exc:
        db.rollback()
        return _department_form(request, dept, values_of(form), form_errors(exc, actor.language), 422)
    return redirect("/settings/departments", flash=t(actor, "Changes saved"), request=request)


@router.post("/departments/{department_id}/delete")
async def delete_department(department_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "departments")
    dept = access.find_department(db, actor, department_id)
    try:
        access.delete_department(db, actor, dept)
    except Conflict as exc:
        db.rollback()
        return _departments_page(request, db, error=error_message(actor, exc), status_code=409)
    return redirect("/settings/departments", flash=t(actor, "Department deleted"), request=request)


# -- roles and visibility ------------------------------------------------------------------------------------


def _roles_page(
    request: Request,
    db: DbDep,
    actor: Actor,
    scope_values: dict[str, str] | None = None,
    scope_errors: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    scopes = access.visibility_scopes(db, actor)
    return render(
        request,
        "settings_ui/roles.html",
        status_code=status_code,
        roles=accounts.list_roles(db),
        scopes=scopes,
        scope_values=scope_values or {s["record_type"]: s["scope"] for s in scopes},
        scope_choices=SCOPES,
        scope_errors=scope_errors or {},
        error=error,
    )


@router.get("/roles")
def roles_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "roles")
    return _roles_page(request, db, actor)


@router.post("/visibility")
async def set_visibility(request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "roles")
    form = await request.form()
    scopes = {k[6:]: v for k, v in form.items() if k.startswith("scope.") and isinstance(v, str)}
    try:
        access.set_visibility(db, actor, scopes)
    except ValidationFailed as exc:
        db.rollback()
        errors = {k.removeprefix("scopes."): v for k, v in form_errors(exc, actor.language).items()}
        return _roles_page(request, db, actor, scopes, errors, status_code=422)
    return redirect("/settings/roles", flash=t(actor, "Visibility saved"), request=request)


def _role_form(
    request: Request,
    role: Role | None,
    values: dict[str, Any],
    perms: set[str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    modules, actions = access.permission_matrix()
    return render(
        request,
        "settings_ui/role_form.html",
        status_code=status_code,
        role=role,
        values=values,
        perms=perms,
        modules=modules,
        actions=actions,
        errors=errors,
    )


def _role_data(form: Any, creating: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "label": text(form, "label"),
        "is_manager": checked(form, "is_manager"),
        "permissions": [p for p in form.getlist("perm") if isinstance(p, str)],
    }
    if creating:
        data["name"] = text(form, "name")
    return data


@router.get("/roles/new")
def new_role_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "roles")
    return _role_form(request, None, {}, set(), {})


@router.post("/roles/new")
async def create_role(request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "roles")
    form = await request.form()
    data = _role_data(form, creating=True)
    try:
        access.create_role(db, actor, data)
    except ValidationFailed as exc:
        db.rollback()
        return _role_form(
            request, None, values_of(form), set(data["permissions"]), form_errors(exc, actor.language), 422
        )
    return redirect("/settings/roles", flash=t(actor, "Role created"), request=request)


@router.get("/roles/{role_id}/edit")
def edit_role_page(role_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "roles")
    role = access.find_role(db, actor, role_id)
    values = {"label": role.label, "is_manager": "1" if role.is_manager else ""}
    return _role_form(request, role, values, set(role.permissions or []), {})


@router.post("/roles/{role_id}/edit")
async def update_role(role_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "roles")
    role = access.find_role(db, actor, role_id)
    form = await request.form()
    data = _role_data(form, creating=False)
    try:
        access.update_role(db, actor, role, data, parse_id(form.get("version")))
    except Conflict as exc:
        db.rollback()
        return _roles_page(request, db, actor, error=error_message(actor, exc), status_code=409)
    except ValidationFailed as exc:
        db.rollback()
        return _role_form(
            request, role, values_of(form), set(data["permissions"]), form_errors(exc, actor.language), 422
        )
    return redirect("/settings/roles", flash=t(actor, "Changes saved"), request=request)


@router.post("/roles/{role_id}/delete")
async def delete_role(role_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    service.require_section(actor, "roles")
    role = access.find_role(db, actor, role_id)
    try:
        access.delete_role(db, actor, role)
    except Conflict as exc:
        db.rollback()
        return _roles_page(request, db, actor, error=error_message(actor, exc), status_code=409)
    return redirect("/settings/roles", flash=t(actor, "Role deleted"), request=request)
