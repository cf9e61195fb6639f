"""Accounts: departments, roles, users, logins, sessions and API tokens. All writes go through here."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from carnet.accounts.models import ApiToken, Department, Role, User, UserSession, user_snapshot
from carnet.accounts.roles import BUILTIN_ROLES
from carnet.core import audit, clock, security
from carnet.core.context import Actor
from carnet.core.errors import (
    Conflict,
    FieldErrors,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
)
from carnet.core.permissions import ACTIONS, MODULES
from carnet.settings import get_settings

# -- actors -----------------------------------------------------------------------------------------


def actor_for(user: User, **request_info: Any) -> Actor:
    return Actor(
        user_id=user.id,
        department_id=user.department_id,
        role=user.role.name,
        permissions=frozenset(user.role.permissions or ()),
        is_admin=user.role.is_admin,
        is_manager=user.role.is_manager,
        language=user.language,
        timezone=user.timezone,
        label=user.email,
        **request_info,
    )


def require(actor: Actor, permission: str) -> None:
    if not actor.can(permission):
        raise PermissionDenied()


# -- departments ------------------------------------------------------------------------------------


def list_departments(db: Session) -> list[Department]:
    return list(db.scalars(select(Department).order_by(Department.name)))


def get_department(db: Session, department_id: int) -> Department:
    dept = db.get(Department, department_id)
    if dept is None:
        raise NotFound()
    return dept


def _department_fields(db: Session, data: dict[str, Any], current: Department | None) -> None:
    errors = FieldErrors()
    name = (data.get("name") or "").strip() if "name" in data or current is None else current.name
    if not name:
        errors.add("name", "This field is required", "required")
    code = (data.get("code") or "").strip() if "code" in data else (current.code if current else "")
    if not code:
        code = name.lower().replace(" ", "-")[:40]
    for fld, value in (("name", name), ("code", code)):
        clash = db.scalar(select(Department.id).where(getattr(Department, fld) == value))
        if clash and (current is None or clash != current.id):
            errors.add(fld, "This value is already used", "unique")
    errors.raise_if_any()
    data["name"], data["code"] = name, code


def create_department(db: Session, actor: Actor, data: dict[str, Any]) -> Department:
    require(actor, "departments:create")
    _department_fields(db, data, None)
    dept = Department(
        name=data["name"],
        code=data["code"],
        description=data.get("description") or "",
        created_by_id=actor.user_id,
    )
    db.add(dept)
    db.flush()
    audit.record(
        db, actor, "create", "department", dept.id, {"name": {"old": None, "new": dept.name}}, dept.name
    )
    db.commit()
    return dept


def update_department(db: Session, actor: Actor, dept: Department, data: dict[str, Any]) -> Department:
    require(actor, "departments:update")
    old = {"name": dept.name, "code": dept.code, "description": dept.description}
    _department_fields(db, data, dept)
    dept.name, dept.code = data["name"], data["code"]
    if "description" in data:
        dept.description = data["description"] or ""
    dept.updated_by_id = actor.user_id
    changes = audit.diff(old, {"name": dept.name, "code": dept.code, "description": dept.description})
    if changes:
        audit.record(db, actor, "update", "department", dept.id, changes, dept.name)
    db.commit()
    return dept


def delete_department(db: Session, actor: Actor, dept: Department) -> None:
    require(actor, "departments:delete")
    if db.scalar(select(func.count()).select_from(User).where(User.department_id == dept.id)):
        raise Conflict("This department still has users")
    audit.record(
        db, actor, "delete", "department", dept.id, {"name": {"old": dept.name, "new": None}}, dept.name
    )
    db.delete(dept)
    db.commit()


# -- roles ------------------------------------------------------------------------------------------


def ensure_builtin_roles(db: Session) -> dict[str, Role]:
    roles = {r.name: r for r in db.scalars(select(Role))}
    for name, spec in BUILTIN_ROLES.items():
        if name not in roles:
            role = Role(name=name, builtin=True, **spec)
            db.add(role)
            roles[name] = role
    db.flush()
    return roles


def list_roles(db: Session) -> list[Role]:
    return list(db.scalars(select(Role).order_by(Role.id)))


def get_role(db: Session, role_id: int) -> Role:
    role = db.get(Role, role_id)
    if role is None:
        raise NotFound()
    return role


def _valid_permissions(perms: list[str], errors: FieldErrors) -> list[str]:
    valid = {f"{m}:{a}" for m in MODULES for a in ACTIONS}
    bad = [p for p in perms if p not in valid]
    if bad:
        errors.add("permissions", "Unknown permissions: {names}", "unknown", names=", ".join(bad[:5]))
    return sorted(set(perms))


def create_role(db: Session, actor: Actor, data: dict[str, Any]) -> Role:
    require(actor, "roles:admin")
    errors = FieldErrors()
    name = (data.get("name") or "").strip().lower()
    if not name:
        errors.add("name", "This field is required", "required")
    elif db.scalar(select(Role.id).where(Role.name == name)):
        errors.add("name", "This value is already used", "unique")
    perms = _valid_permissions(list(data.get("permissions") or []), errors)
    errors.raise_if_any()
    role = Role(
        name=name,
        label=data.get("label") or name,
        is_manager=bool(data.get("is_manager")),
        is_admin=False,
        permissions=perms,
        created_by_id=actor.user_id,
    )
    db.add(role)
    db.flush()
    audit.record(
        db, actor, "permission_change", "role", role.id, {"permissions": {"old": None, "new": perms}}, name
    )
    db.commit()
    return role


def update_role(db: Session, actor: Actor, role: Role, data: dict[str, Any]) -> Role:
    require(actor, "roles:admin")
    if role.name == "admin":
        raise Conflict("The administrator role cannot be changed")
    errors = FieldErrors()
    old = {"label": role.label, "is_manager": role.is_manager, "permissions": list(role.permissions)}
    if "permissions" in data:
        role.permissions = _valid_permissions(list(data["permissions"] or []), errors)
    errors.raise_if_any()
    if "label" in data:
        role.label = data["label"] or role.name
    if "is_manager" in data:
        role.is_manager = bool(data["is_manager"])
    changes = audit.diff(
        old, {"label": role.label, "is_manager": role.is_manager, "permissions": role.permissions}
    )
    if changes:
        audit.record(db, actor, "permission_change", "role", role.id, changes, role.name)
    db.commit()
    return role


def delete_role(db: Session, actor: Actor, role: Role) -> None:
    require(actor, "roles:admin")
    if role.builtin:
        raise Conflict("Built-in roles cannot be deleted")
    if db.scalar(select(func.count()).select_from(User).where(User.role_id == role.id)):
        raise Conflict("This role is still given to users")
    audit.record(
        db, actor, "permission_change", "role", role.id, {"name": {"old": role.name, "new": None}}, role.name
    )
    db.delete(role)
    db.commit()


# -- users ------------------------------------------------------------------------------------------


def list_users(db: Session, active_only: bool = False) -> list[User]:
    stmt = select(User).order_by(User.last_name, User.first_name, User.id)
    if active_only:
        stmt = stmt.where(User.active.is_(True))
    return list(db.scalars(stmt))


def get_user(db: Session, user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise NotFound()
    return user


def get_user_by_email(db: Session, email: str) -> User | None:
    return db.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def _normalise_email(value: str, errors: FieldErrors, field_name: str = "email") -> str:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        errors.add(field_name, "Enter a valid email address", "invalid_email")
        return value


def _user_fields(db: Session, data: dict[str, Any], user: User | None, errors: FieldErrors) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "email" in data or user is None:
        email = _normalise_email(data.get("email") or "", errors)
        clash = get_user_by_email(db, email) if email else None
        if clash is not None and (user is None or clash.id != user.id):
            errors.add("email", "This value is already used", "unique")
        out["email"] = email
    for key in ("first_name", "last_name"):
        if key in data:
            out[key] = (data[key] or "").strip()[:100]
    if "department_id" in data:
        dept_id = data["department_id"]
        if dept_id is not None and db.get(Department, dept_id) is None:
            errors.add("department_id", "Unknown department", "unknown")
        out["department_id"] = dept_id
    if "role_id" in data or "role" in data or user is None:
        role: Role | None = None
        if data.get("role_id") is not None:
            role = db.get(Role, data["role_id"])
        elif data.get("role"):
            role = db.scalar(select(Role).where(Role.name == data["role"]))
        if role is None:
            errors.add("role_id" if "role_id" in data else "role", "Unknown role", "unknown")
        else:
            out["role_id"] = role.id
    if "manager_id" in data:
        if data["manager_id"] is not None and db.get(User, data["manager_id"]) is None:
            errors.add("manager_id", "Unknown user", "unknown")
        out["manager_id"] = data["manager_id"]
    if "language" in data:
        if data["language"] not in ("fr", "en"):
            errors.add("language", "Choose fr or en", "invalid")
        out["language"] = data["language"]
    if "timezone" in data:
        from zoneinfo import available_timezones

        if data["timezone"] not in available_timezones():
            errors.add("timezone", "Unknown time zone", "invalid")
        out["timezone"] = data["timezone"]
    if "active" in data:
        out["active"] = bool(data["active"])
    return out


def create_user(db: Session, actor: Actor, data: dict[str, Any]) -> User:
    require(actor, "users:create")
    errors = FieldErrors()
    fields = _user_fields(db, data, None, errors)
    password = data.get("password") or ""
    problem = security.password_problem(password)
    if problem:
        errors.add(
            "password",
            problem,
            "weak_password",
            min=security.MIN_PASSWORD_LENGTH,
            max=security.MAX_PASSWORD_LENGTH,
        )
    errors.raise_if_any()
    role = db.get(Role, fields["role_id"])
    if role is not None and role.is_admin and not actor.is_admin:
        raise PermissionDenied()
    user = User(**fields, password_hash=security.hash_password(password), created_by_id=actor.user_id)
    db.add(user)
    db.flush()
    audit.record(db, actor, "create", "user", user.id, audit.diff({}, user_snapshot(user)), user.email)
    db.commit()
    return user


def update_user(db: Session, actor: Actor, user: User, data: dict[str, Any]) -> User:
    if actor.user_id != user.id or set(data) - {"first_name", "last_name", "language", "timezone"}:
        require(actor, "users:update")
    errors = FieldErrors()
    fields = _user_fields(db, data, user, errors)
    errors.raise_if_any()
    if "role_id" in fields and fields["role_id"] != user.role_id:
        role = db.get(Role, fields["role_id"])
        if (role is not None and role.is_admin) or user.role.is_admin:
            require(actor, "roles:admin")
    before = user_snapshot(user)
    for key, value in fields.items():
        setattr(user, key, value)
    user.updated_by_id = actor.user_id
    changes = audit.diff(before, user_snapshot(user))
    if changes:
        action = "permission_change" if {"role_id", "department_id", "active"} & set(changes) else "update"
        audit.record(db, actor, action, "user", user.id, changes, user.email)
    if user.active is False:
        _end_all_sessions(db, user.id)
        _revoke_all_tokens(db, user.id)
    db.commit()
    db.refresh(user)
    return user


def set_password(
    db: Session, actor: Actor, user: User, new_password: str, current_password: str | None = None
) -> None:
    """Users change their own password with the current one; admins reset anyone's."""
    if actor.user_id == user.id and not security.verify_password(user.password_hash, current_password or ""):
        raise ValidationFailed.on("current_password", "The current password is wrong")
    if actor.user_id != user.id:
        require(actor, "users:admin")
    problem = security.password_problem(new_password)
    if problem:
        raise ValidationFailed.on(
            "password", problem, min=security.MIN_PASSWORD_LENGTH, max=security.MAX_PASSWORD_LENGTH
        )
    user.password_hash = security.hash_password(new_password)
    audit.record(db, actor, "password_change", "user", user.id, {}, user.email)
    keep = actor.session_id if actor.user_id == user.id else None
    _end_all_sessions(db, user.id, keep_session_id=keep)
    db.commit()


# -- login, sessions ---------------------------------------------------------------------------------


def authenticate(db: Session, email: str, password: str, ip: str | None, user_agent: str | None) -> User:
    """Check a login; lock the account after repeated failures. Raises NotAuthenticated or RateLimited."""
    settings = get_settings()
    user = get_user_by_email(db, email or "")
    request_actor = Actor(user_id=user.id if user else None, label=email or "", ip=ip, user_agent=user_agent)
    now = clock.now()
    if user is not None and user.locked_until is not None and user.locked_until > now:
        audit.record(db, request_actor, "login_refused", "user", user.id, {"reason": "locked"}, user.email)
        db.commit()
        retry = int((user.locked_until - now).total_seconds()) + 1
        raise RateLimited(
            "Too many failed attempts; try again later",
            headers={
                "Retry-After": str(retry),
                "RateLimit-Limit": str(settings.login_lockout_attempts),
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(retry),
            },
        )
    if user is None or not user.active or not security.verify_password(user.password_hash, password or ""):
        if user is not None:
            user.failed_logins += 1
            if user.failed_logins >= settings.login_lockout_attempts:
                user.locked_until = now + timedelta(minutes=settings.login_lockout_minutes)
                user.failed_logins = 0
        audit.record(
            db, request_actor, "login_failed", "user", user.id if user else None, {}, (email or "")[:200]
        )
        db.commit()
        raise NotAuthenticated("Wrong email or password")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if security.password_needs_rehash(user.password_hash):
        user.password_hash = security.hash_password(password)
    return user


def open_session(db: Session, user: User, ip: str | None, user_agent: str | None) -> str:
    """Start a web session; returns the cookie value (shown nowhere else)."""
    settings = get_settings()
    token = security.new_token()
    now = clock.now()
    db.add(
        UserSession(
            user_id=user.id,
            token_digest=security.digest(token),
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=settings.session_absolute_hours),
            ip=ip,
            user_agent=(user_agent or "")[:500],
            pending_2fa=user.totp_enabled,
        )
    )
    actor = actor_for(user, ip=ip, user_agent=user_agent)
    audit.record(db, actor, "login", "user", user.id, {}, user.email)
    db.commit()
    return token


def session_user(db: Session, token: str) -> tuple[UserSession, User] | None:
    """The live session and user for a cookie, sliding the idle timeout."""
    settings = get_settings()
    row = db.scalar(select(UserSession).where(UserSession.token_digest == security.digest(token)))
    now = clock.now()
    if row is None or row.expires_at <= now:
        return None
    if row.last_seen_at + timedelta(minutes=settings.session_idle_minutes) <= now:
        return None
    user = db.get(User, row.user_id)
    if user is None or not user.active:
        return None
    return row, user


def touch_session(db: Session, session_id: int) -> None:
    """Slide the idle timeout of a session in use."""
    db.execute(update(UserSession).where(UserSession.id == session_id).values(last_seen_at=clock.now()))
    db.commit()


def touch_token(db: Session, token_id: int) -> None:
    db.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=clock.now()))
    db.commit()


def close_session(db: Session, token: str) -> None:
    row = db.scalar(select(UserSession).where(UserSession.token_digest == security.digest(token)))
    if row is not None:
        db.delete(row)
        db.commit()


def _end_all_sessions(db: Session, user_id: int, keep_session_id: int | None = None) -> None:
    stmt = UserSession.__table__.delete().where(UserSession.user_id == user_id)
    if keep_session_id is not None:
        stmt = stmt.where(UserSession.id != keep_session_id)
    db.execute(stmt)


def _revoke_all_tokens(db: Session, user_id: int) -> None:
    """A disabled user's tokens stay dead even if the account is enabled again."""
    db.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )


def verify_second_factor(db: Session, user: User, session: UserSession, code: str, actor: Actor) -> None:
    if not user.totp_enabled or not user.totp_secret:
        return
    step = security.totp_step(user.totp_secret, code, user.totp_last_step, clock.now().timestamp())
    if step is None:
        audit.record(db, actor, "2fa_failed", "user", user.id, {}, user.email)
        db.commit()
        raise ValidationFailed.on("code", "This code is not valid")
    user.totp_last_step = step
    session.pending_2fa = False
    audit.record(db, actor, "2fa_passed", "user", user.id, {}, user.email)
    db.commit()


def start_totp_setup(db: Session, user: User) -> str:
    user.totp_secret = security.new_totp_secret()
    user.totp_enabled = False
    db.commit()
    return user.totp_secret


def enable_totp(db: Session, actor: Actor, user: User, code: str) -> None:
    if not user.totp_secret:
        raise ValidationFailed.on("code", "Start the set-up first")
    step = security.totp_step(user.totp_secret, code, None, clock.now().timestamp())
    if step is None:
        raise ValidationFailed.on("code", "This code is not valid")
    user.totp_enabled = True
    user.totp_last_step = step
    audit.record(db, actor, "2fa_enabled", "user", user.id, {}, user.email)
    db.commit()


def disable_totp(db: Session, actor: Actor, user: User, password: str) -> None:
    if not security.verify_password(user.password_hash, password or ""):
        raise ValidationFailed.on("password", "The current password is wrong")
    user.totp_enabled = False
    user.totp_secret = None
    audit.record(db, actor, "2fa_disabled", "user", user.id, {}, user.email)
    db.commit()


# -- API tokens ---------------------------------------------------------------------------------------


def create_token(
    db: Session, actor: Actor, user: User, name: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    if actor.user_id != user.id:
        require(actor, "users:admin")
    name = (name or "").strip()
    if not name:
        raise ValidationFailed.on("name", "This field is required")
    secret = security.new_token(security.API_TOKEN_PREFIX)
    token = ApiToken(
        user_id=user.id,
        name=name[:120],
        token_digest=security.digest(secret),
        prefix=secret[:10],
        created_at=clock.now(),
        expires_at=expires_at,
    )
    db.add(token)
    db.flush()
    audit.record(
        db, actor, "token_create", "user", user.id, {"token": {"old": None, "new": token.name}}, user.email
    )
    db.commit()
    return token, secret


def list_tokens(db: Session, user_id: int) -> list[ApiToken]:
    return list(db.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc())))


def revoke_token(db: Session, actor: Actor, token_id: int) -> None:
    token = db.get(ApiToken, token_id)
    if token is None or (token.user_id != actor.user_id and not actor.can("users:admin")):
        raise NotFound()
    token.revoked_at = clock.now()
    audit.record(
        db,
        actor,
        "token_revoke",
        "user",
        token.user_id,
        {"token": {"old": token.name, "new": None}},
        token.name,
    )
    db.commit()


def token_user(db: Session, secret: str) -> tuple[ApiToken, User] | None:
    token = db.scalar(select(ApiToken).where(ApiToken.token_digest == security.digest(secret)))
    now = clock.now()
    if token is None or token.revoked_at is not None or (token.expires_at and token.expires_at <= now):
        return None
    user = db.get(User, token.user_id)
    if user is None or not user.active:
        return None
    return token, user
