"""API shapes of accounts. Write models refuse unknown fields; read models never carry password
hashes or two-factor secrets."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Id = Annotated[int, Field(ge=1, le=2_147_483_647)]


class _Write(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- departments ----------------------------------------------------------------------------------------


class DepartmentWrite(_Write):
    name: str | None = Field(default=None, max_length=120)
    code: str | None = Field(default=None, max_length=40)
    description: str | None = Field(default=None, max_length=500)


class DepartmentCreate(DepartmentWrite):
    name: str = Field(min_length=1, max_length=120)


class DepartmentUpdate(DepartmentWrite):
    pass


class DepartmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    code: str
    description: str
    version: int
    created_at: datetime
    updated_at: datetime


class DepartmentBrief(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    code: str


# -- roles ------------------------------------------------------------------------------------------------


class RoleWrite(_Write):
    label: str | None = Field(default=None, max_length=120)
    is_manager: bool | None = None
    permissions: list[str] | None = Field(default=None, max_length=200)


class RoleCreate(RoleWrite):
    name: str = Field(min_length=1, max_length=60)


class RoleUpdate(RoleWrite):
    pass


class RoleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    label: str
    builtin: bool
    is_admin: bool
    is_manager: bool
    permissions: list[str]
    version: int
    created_at: datetime
    updated_at: datetime


class RoleBrief(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    label: str
    is_admin: bool
    is_manager: bool


# -- users ------------------------------------------------------------------------------------------------


class UserWrite(_Write):
    email: str | None = Field(default=None, max_length=254)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    department_id: Id | None = None
    role_id: Id | None = None
    role: str | None = Field(default=None, max_length=60, description="Role name, instead of role_id")
    manager_id: Id | None = None
    language: str | None = Field(default=None, max_length=5)
    timezone: str | None = Field(default=None, max_length=64)
    active: bool | None = None


class UserCreate(UserWrite):
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(max_length=256, description="At least 12 characters")


class UserUpdate(UserWrite):
    pass


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    first_name: str
    last_name: str
    full_name: str
    department_id: int | None
    role_id: int
    manager_id: int | None
    language: str
    timezone: str
    active: bool
    last_login_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


class PasswordReset(_Write):
    password: str = Field(max_length=256)


# -- me -----------------------------------------------------------------------------------------------------


class MeRead(UserRead):
    role: RoleBrief
    department: DepartmentBrief | None
    permissions: list[str]


class MeUpdate(_Write):
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    language: str | None = Field(default=None, max_length=5)
    timezone: str | None = Field(default=None, max_length=64)


class PasswordChange(_Write):
    current_password: str = Field(max_length=256)
    password: str = Field(max_length=256)


# -- API tokens ----------------------------------------------------------------------------------------------


class TokenCreate(_Write):
    name: str = Field(min_length=1, max_length=120)
    expires_at: datetime | None = None


class TokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None


class TokenCreated(TokenRead):
    token: str = Field(description="The secret, shown this once only")


# -- visibility ----------------------------------------------------------------------------------------------


class VisibilityRead(BaseModel):
    record_type: str
    label: str
    scope: str


class VisibilityUpdate(_Write):
    scopes: dict[str, str] = Field(max_length=100, description='Record type → "own", "department" or "all"')
