"""JSON routes for accounts: me, my API tokens, departments, roles, users and record visibility.
Routes parse and render; permission checks happen in the services."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from carnet.accounts import access, service
from carnet.accounts.models import User
from carnet.accounts.schemas import (
    DepartmentCreate,
    DepartmentRead,
    DepartmentUpdate,
    MeRead,
    MeUpdate,
    PasswordChange,
    PasswordReset,
    RoleCreate,
    RoleRead,
    RoleUpdate,
    TokenCreate,
    TokenCreated,
    TokenRead,
    UserCreate,
    UserRead,
    UserUpdate,
    VisibilityRead,
    VisibilityUpdate,
)
from carnet.api.common import Page, body_dict, if_match_version, list_params, set_etag
from carnet.api.deps import ActorDep, DbDep
from carnet.core.context import Actor

router = APIRouter()


# -- me -------------------------------------------------------------------------------------------------


def _me(user: User, actor: Actor) -> dict[str, Any]:
    data = UserRead.model_validate(user).model_dump()
    data["role"] = user.role
    data["department"] = user.department
    data["permissions"] = service.effective_permissions(actor)
    return data


@router.get("/me", response_model=MeRead, tags=["me"])
def get_me(db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """The current user, their role, department and effective permissions."""
    return _me(service.get_user(db, actor.user_id or 0), actor)


@router.patch("/me", response_model=MeRead, tags=["me"])
def update_me(body: MeUpdate, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Change my name, language (`fr` or `en`) and time zone."""
    user = service.update_me(db, actor, body_dict(body))
    return _me(user, actor)


@router.post("/me/password", status_code=204, tags=["me"])
def change_my_password(body: PasswordChange, db: DbDep, actor: ActorDep) -> Response:
    """Change my password; my other sessions are closed."""
    user = service.get_user(db, actor.user_id or 0)
    service.set_password(db, actor, user, body.password, body.current_password)
    return Response(status_code=204)


@router.get("/me/tokens", response_model=Page[TokenRead], tags=["me"])
def list_my_tokens(db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """My API tokens (never their secrets)."""
    return {"items": service.list_my_tokens(db, actor), "next_cursor": None}


@router.post("/me/tokens", status_code=201, response_model=TokenCreated, tags=["me"])
def create_my_token(body: TokenCreate, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Create an API token. The secret is in this response only: store it now."""
    token, secret = service.create_token(
        db, actor, service.get_user(db, actor.user_id or 0), body.name, body.expires_at
    )
    return {**TokenRead.model_validate(token).model_dump(), "token": secret}


@router.delete("/me/tokens/{token_id}", status_code=204, tags=["me"])
def revoke_my_token(token_id: int, db: DbDep, actor: ActorDep) -> Response:
    service.revoke_token(db, actor, token_id, owner_id=actor.user_id)
    return Response(status_code=204)


# -- departments ------------------------------------------------------------------------------------------


@router.get("/departments", response_model=Page[DepartmentRead], tags=["departments"])
def list_departments(request: Request, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Departments (pôles). Filters: `name`, `code`, `name__contains`...; `sort=name`."""
    rows, cursor = access.page_departments(db, actor, list_params(request, default_sort="name"))
    return {"items": rows, "next_cursor": cursor}


@router.post("/departments", status_code=201, response_model=DepartmentRead, tags=["departments"])
def create_department(body: DepartmentCreate, db: DbDep, actor: ActorDep, response: Response) -> Any:
    dept = access.create_department(db, actor, body_dict(body))
    set_etag(response, dept)
    response.headers["Location"] = f"/api/v1/departments/{dept.id}"
    return dept


@router.get("/departments/{department_id}", response_model=DepartmentRead, tags=["departments"])
def get_department(department_id: int, db: DbDep, actor: ActorDep, response: Response) -> Any:
    dept = access.find_department(db, actor, department_id)
    set_etag(response, dept)
    return dept


@router.patch("/departments/{department_id}", response_model=DepartmentRead, tags=["departments"])
def update_department(
    department_id: int,
    body: DepartmentUpdate,
    request: Request,
    db: DbDep,
    actor: ActorDep,
    response: Response,
) -> Any:
    dept = access.find_department(db, actor, department_id)
    dept = access.update_department(db, actor, dept, body_dict(body), if_match_version(request))
    set_etag(response, dept)
    return dept


@router.delete("/departments/{department_id}", status_code=204, tags=["departments"])
def delete_department(department_id: int, request: Request, db: DbDep, actor: ActorDep) -> Response:
    dept = access.find_department(db, actor, department_id)
    access.delete_department(db, actor, dept, if_match_version(request))
    return Response(status_code=204)


# -- roles --------------------------------------------------------------------------------------------------


@router.get("/roles", response_model=Page[RoleRead], tags=["roles"])
def list_roles(request: Request, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Roles with their `permissions` (`<module>:<action>`)."""
    rows, cursor = access.page_roles(db, actor, list_params(request, default_sort="id"))
    return {"items": rows, "next_cursor": cursor}


@router.post("/roles", status_code=201, response_model=RoleRead, tags=["roles"])
def create_role(body: RoleCreate, db: DbDep, actor: ActorDep, response: Response) -> Any:
    role = access.create_role(db, actor, body_dict(body))
    set_etag(response, role)
    response.headers["Location"] = f"/api/v1/roles/{role.id}"
    return role


@router.get("/roles/{role_id}", response_model=RoleRead, tags=["roles"])
def get_role(role_id: int, db: DbDep, actor: ActorDep, response: Response) -> Any:
    role = access.find_role(db, actor, role_id)
    set_etag(response, role)
    return role


@router.patch("/roles/{role_id}", response_model=RoleRead, tags=["roles"])
def update_role(
    role_id: int, body: RoleUpdate, request: Request, db: DbDep, actor: ActorDep, response: Response
) -> Any:
    role = access.find_role(db, actor, role_id)
    role = access.update_role(db, actor, role, body_dict(body), if_match_version(request))
    set_etag(response, role)
    return role


@router.delete("/roles/{role_id}", status_code=204, tags=["roles"])
def delete_role(role_id: int, request: Request, db: DbDep, actor: ActorDep) -> Response:
    role = access.find_role(db, actor, role_id)
    access.delete_role(db, actor, role, if_match_version(request))
    return Response(status_code=204)


# -- visibility ---------------------------------------------------------------------------------------------


@router.get("/visibility", response_model=Page[VisibilityRead], tags=["roles"])
def get_visibility(db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Who sees the records of each type: `own`, `department` or `all` (managers always see their
    department's records, admins everything)."""
    return {"items": access.visibility_scopes(db, actor), "next_cursor": None}


@router.put("/visibility", response_model=Page[VisibilityRead], tags=["roles"])
def set_visibility(body: VisibilityUpdate, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Set the scope of one or more record types (needs `roles:admin`); audited."""
    return {"items": access.set_visibility(db, actor, body.scopes), "next_cursor": None}


# -- users --------------------------------------------------------------------------------------------------


@router.get("/users", response_model=Page[UserRead], tags=["users"])
def list_users(request: Request, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Users. Filters: `email`, `department_id`, `role_id`, `active`, `q` (name or email)...;
    `sort=last_name|email|-created_at|...`."""
    rows, cursor = service.page_users(db, actor, list_params(request, default_sort="id"))
    return {"items": rows, "next_cursor": cursor}


@router.post("/users", status_code=201, response_model=UserRead, tags=["users"])
def create_user(body: UserCreate, db: DbDep, actor: ActorDep, response: Response) -> Any:
    user = service.create_user(db, actor, body_dict(body))
    set_etag(response, user)
    response.headers["Location"] = f"/api/v1/users/{user.id}"
    return user


@router.get("/users/{user_id}", response_model=UserRead, tags=["users"])
def get_user(user_id: int, db: DbDep, actor: ActorDep, response: Response) -> Any:
    user = service.find_user(db, actor, user_id)
    set_etag(response, user)
    return user


@router.patch("/users/{user_id}", response_model=UserRead, tags=["users"])
def update_user(
    user_id: int, body: UserUpdate, request: Request, db: DbDep, actor: ActorDep, response: Response
) -> Any:
    user = service.find_user(db, actor, user_id)
    user = service.update_user(db, actor, user, body_dict(body), if_match_version(request))
    set_etag(response, user)
    return user


@router.delete("/users/{user_id}", status_code=204, tags=["users"])
def delete_user(user_id: int, request: Request, db: DbDep, actor: ActorDep) -> Response:
    user = service.find_user(db, actor, user_id)
    service.delete_user(db, actor, user, if_match_version(request))
    return Response(status_code=204)


@router.post("/users/{user_id}/password", status_code=204, tags=["users"])
def reset_password(user_id: int, body: PasswordReset, db: DbDep, actor: ActorDep) -> Response:
    """An administrator sets a new password for someone (needs `users:admin`)."""
    user = service.find_user(db, actor, user_id)
    service.set_password(db, actor, user, body.password)
    return Response(status_code=204)
