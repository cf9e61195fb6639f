"""Accounts: users, passwords, logins, sessions, two-factor authentication and API tokens.
Departments, roles and visibility are in access.py. All writes go through here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import available_timezones

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import BigInteger, Integer, Select, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carnet.accounts.models import ApiToken, Department, Role, User, UserSession, user_snapshot
from carnet.accounts.roles import BUILTIN_ROLES
from carnet.core import audit, clock, lifecycle, permissions, security
from carnet.core.context import Actor
from carnet.core.db import Prepared
from carnet.core.errors import (
    Conflict,
    FieldErrors,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
)
from carnet.core.listing import Listing, ListParams, page
from carnet.settings import get_settings

MAX_ID = 2_147_483_647  # ids are 32-bit integers on every database
PROFILE_FIELDS = frozenset({"first_name", "last_name", "language", "timezone"})

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


def require_any(actor: Actor, *permissions_needed: str) -> None:
    if not any(actor.can(p) for p in permissions_needed):
        raise PermissionDenied()


def effective_permissions(actor: Actor) -> list[str]:
    """What the actor may do, spelled out (admins hold every permission)."""
    if actor.is_admin:
        return sorted(permissions.all_permissions())
    return sorted(p for p in permissions.all_permissions() if actor.can(p))


def valid_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


# -- listing helpers -----------------------------------------------------------------------------------


def plain_page(
    db: Session, listing: Listing, stmt: Select, params: ListParams
) -> tuple[list[Any], str | None]:
    """A keyset page of a table that has no custom fields or tags: refuse those filters with a field
    error instead of letting them reach columns the table does not have."""
    errors = FieldErrors()
    for key, value in params.filters.items():
        if key.startswith("cf."):
            errors.add(key, "Unknown filter", "unknown_filter")
            continue
        name, _, op = key.partition("__")
        column = listing.fields.get(name)
        if op != "isnull" and isinstance(getattr(column, "type", None), Integer):
            # Out-of-range numbers would reach the database driver and fail there.
            limit = 2**63 - 1 if isinstance(column.type, BigInteger) else MAX_ID
            if any(p.strip().lstrip("-").isdigit() and abs(int(p)) > limit for p in value.split(",")):
                errors.add(key, "Invalid filter value", "invalid_filter")
    if params.tag:
        errors.add("tag", "Unknown filter", "unknown_filter")
    if params.sort.lstrip("-").startswith("cf."):
        errors.add("sort", "Cannot sort by this field", "invalid_sort")
    for key in ("created_since", "updated_since"):
        if getattr(params, key) is not None and not hasattr(listing.model, key.replace("_since", "_at")):
            errors.add(key, "Unknown filter", "unknown_filter")
    errors.raise_if_any()
    return page(db, listing, stmt, params)


USER_LISTING = Listing(
    model=User,
    record_type="user",
    fields={
        "id": User.id,
        "email": User.email,
        "first_name": User.first_name,
        "last_name": User.last_name,
        "department_id": User.department_id,
        "role_id": User.role_id,
        "manager_id": User.manager_id,
        "language": User.language,
        "timezone": User.timezone,
        "active": User.active,
        "last_login_at": User.last_login_at,
        "created_at": User.created_at,
        "updated_at": User.updated_at,
    },
    sortable={"email", "first_name", "last_name", "last_login_at", "created_at", "updated_at"},
)


# -- departments and roles (reads; writes are in access.py) ---------------------------------------------


def list_departments(db: Session) -> list[Department]:
    return list(db.scalars(select(Department).order_by(Department.name)))


def get_department(db: Session, department_id: int) -> Department:
    dept = db.get(Department, department_id) if valid_id(department_id) else None
    if dept is None:
        raise NotFound()
    return dept


def list_roles(db: Session) -> list[Role]:
    return list(db.scalars(select(Role).order_by(Role.id)))


def get_role(db: Session, role_id: int) -> Role:
    role = db.get(Role, role_id) if valid_id(role_id) else None
    if role is None:
        raise NotFound()
    return role


# -- bootstrap -------------------------------------------------------------------------------------------


def ensure_builtin_roles(db: Session) -> dict[str, Role]:
    roles = {r.name: r for r in db.scalars(select(Role))}
    for name, spec in BUILTIN_ROLES.items():
        if name not in roles:
            role = Role(name=name, builtin=True, **spec)
            db.add(role)
            roles[name] = role
    db.flush()
    return roles


# -- users ------------------------------------------------------------------------------------------


def list_users(db: Session, active_only: bool = False) -> list[User]:
    stmt = select(User).order_by(User.last_name, User.first_name, User.id)
    if active_only:
        stmt = stmt.where(User.active.is_(True))
    return list(db.scalars(stmt))


def page_users(db: Session, actor: Actor, params: ListParams) -> tuple[list[User], str | None]:
    require(actor, "users:read")
    stmt = select(User)
    if params.q:
        like = f"%{params.q.lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(User.email).like(like),
                func.lower(User.first_name).like(like),
                func.lower(User.last_name).like(like),
            )
        )
    return plain_page(db, USER_LISTING, stmt, params)


def get_user(db: Session, user_id: int) -> User:
    user = db.get(User, user_id) if valid_id(user_id) else None
    if user is None:
        raise NotFound()
    return user


def find_user(db: Session, actor: Actor, user_id: int) -> User:
    if not actor.can("users:read") and actor.user_id != user_id:
        raise NotFound()
    return get_user(db, user_id)


def get_user_by_email(db: Session, email: str) -> User | None:
    return db.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def user_ids_by_email(db: Session, emails: set[str]) -> dict[str, int]:
    """{lower-cased email: user id} for those of `emails` (lower-cased) that belong to a user."""
    rows = db.execute(select(func.lower(User.email), User.id).where(func.lower(User.email).in_(emails)))
    return {email: user_id for email, user_id in rows}


def _normalise_email(value: str, errors: FieldErrors, field_name: str = "email") -> str:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        errors.add(field_name, "Enter a valid email address", "invalid_email")
        return value


def _user_fields(db: Session, data: dict[str, Any], user: User | None, errors: FieldErrors) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "email" in data or user is None:
        email = _normalise_email(str(data.get("email") or ""), errors)
        clash = get_user_by_email(db, email) if email else None
        if clash is not None and (user is None or clash.id != user.id):
            errors.add("email", "This value is already used", "unique")
        out["email"] = email
    for key in ("first_name", "last_name"):
        if key in data:
            value = str(data[key] or "").strip()
            if len(value) > 100:
                errors.add(key, "At most {max} characters", "too_long", max=100)
            out[key] = value[:100]
    if "department_id" in data:
        dept_id = data["department_id"]
        if dept_id is not None and (not valid_id(dept_id) or db.get(Department, dept_id) is None):
            errors.add("department_id", "Unknown department", "unknown")
        out["department_id"] = dept_id
    if "role_id" in data or "role" in data or user is None:
        role: Role | None = None
        if data.get("role_id") is not None:
            role = db.get(Role, data["role_id"]) if valid_id(data["role_id"]) else None
        elif data.get("role"):
            role = db.scalar(select(Role).where(Role.name == str(data["role"])))
        if role is None:
            errors.add("role_id" if "role_id" in data else "role", "Unknown role", "unknown")
        else:
            out["role_id"] = role.id
    if "manager_id" in data:
        manager_id = data["manager_id"]
        if manager_id is not None and (not valid_id(manager_id) or db.get(User, manager_id) is None):
            errors.add("manager_id", "Unknown user", "unknown")
        elif manager_id is not None and user is not None and manager_id == user.id:
            errors.add("manager_id", "A user cannot be their own manager", "invalid")
        out["manager_id"] = manager_id
    if "language" in data:
        if data["language"] not in ("fr", "en"):
            errors.add("language", "Choose fr or en", "invalid")
        out["language"] = data["language"]
    if "timezone" in data:
        if data["timezone"] not in available_timezones():
            errors.add("timezone", "Unknown time zone", "invalid")
        out["timezone"] = data["timezone"]
    if "active" in data:
        out["active"] = bool(data["active"])
    return out


def _check_role_grant(actor: Actor, role: Role | None, errors: FieldErrors, field_name: str) -> None:
    """Only admins give the admin role; nobody gives a role with rights they do not hold."""
    if role is None or actor.is_admin:
        return
    stronger = role.is_admin or (role.is_manager and not actor.is_manager)
    if stronger or any(not actor.can(p) for p in role.permissions or ()):
        errors.add(field_name, "You cannot give a role with more rights than your own", "forbidden")


def create_user(db: Session, actor: Actor, data: dict[str, Any]) -> User:
    require(actor, "users:create")
    errors = FieldErrors()
    fields = _user_fields(db, data, None, errors)
    password = data.get("password") or ""
    problem = security.password_problem(str(password))
    if problem:
        errors.add(
            "password",
            problem,
            "weak_password",
            min=security.MIN_PASSWORD_LENGTH,
            max=security.MAX_PASSWORD_LENGTH,
        )
    if "role_id" in fields:
        _check_role_grant(
            actor, db.get(Role, fields["role_id"]), errors, "role_id" if "role_id" in data else "role"
        )
    errors.raise_if_any()
    fields.setdefault("timezone", get_settings().default_timezone)
    user = User(**fields, password_hash=security.hash_password(password), created_by_id=actor.user_id)
    db.add(user)
    db.flush()
    audit.record(db, actor, "create", "user", user.id, audit.diff({}, user_snapshot(user)), user.email)
    db.commit()
    db.refresh(user)
    return user


def update_user(
    db: Session, actor: Actor, user: User, data: dict[str, Any], expected_version: int | None = None
) -> User:
    own_profile = actor.user_id == user.id and not set(data) - PROFILE_FIELDS
    if not own_profile:
        require(actor, "users:update")
        if user.role.is_admin and not actor.is_admin:
            raise PermissionDenied()
    lifecycle.check_version(user, expected_version)
    errors = FieldErrors()
    fields = _user_fields(db, data, user, errors)
    if "role_id" in fields and fields["role_id"] != user.role_id:
        _check_role_grant(
            actor, db.get(Role, fields["role_id"]), errors, "role_id" if "role_id" in data else "role"
        )
        if actor.user_id == user.id:
            errors.add("role_id", "You cannot change your own role", "forbidden")
    if actor.user_id == user.id and fields.get("active") is False:
        errors.add("active", "You cannot deactivate your own account", "forbidden")
    errors.raise_if_any()
    before = user_snapshot(user)
    for key, value in fields.items():
        setattr(user, key, value)
    changes = audit.diff(before, user_snapshot(user))
    if changes:
        user.updated_by_id = actor.user_id
        action = "permission_change" if {"role_id", "department_id", "active"} & set(changes) else "update"
        audit.record(db, actor, action, "user", user.id, changes, user.email)
    if user.active is False:
        _end_all_sessions(db, user.id)
        _revoke_all_tokens(db, user.id)
    db.commit()
    db.refresh(user)
    return user


def update_me(db: Session, actor: Actor, data: dict[str, Any]) -> User:
    """A user's own settings: name, language and time zone, nothing else."""
    if actor.user_id is None:
        raise NotAuthenticated()
    errors = FieldErrors()
    for key in sorted(set(data) - PROFILE_FIELDS):
        errors.add(key, "This field is not allowed", "forbidden")
    errors.raise_if_any()
    return update_user(db, actor, get_user(db, actor.user_id), data)


def delete_user(db: Session, actor: Actor, user: User, expected_version: int | None = None) -> None:
    """Remove a user for good. Their records stay, without an owner; sessions and tokens go."""
    require(actor, "users:delete")
    lifecycle.check_version(user, expected_version)
    if user.id == actor.user_id:
        raise Conflict("You cannot delete your own account")
    if user.role.is_admin and not actor.is_admin:
        raise PermissionDenied()
    audit.record(db, actor, "delete", "user", user.id, audit.diff(user_snapshot(user), {}), user.email)
    try:
        with db.begin_nested():
            db.delete(user)
            db.flush()
    except IntegrityError:
        # Another module's table still points at this user without a delete rule.
        raise Conflict("This user is still referenced by other records; deactivate them instead")
    db.commit()


def set_password(
    db: Session,
    actor: Actor,
    user: User,
    new_password: str,
    current_password: str | None = None,
    confirmation: str | None = None,
) -> None:
    """Users change their own password with the current one; admins reset anyone's."""
    errors = FieldErrors()
    if actor.user_id == user.id:
        if not security.verify_password(user.password_hash, current_password or ""):
            errors.add("current_password", "The current password is wrong", "invalid")
    else:
        require(actor, "users:admin")
        if user.role.is_admin and not actor.is_admin:
            raise PermissionDenied()
    problem = security.password_problem(new_password or "")
    if problem:
        errors.add(
            "password",
            problem,
            "weak_password",
            min=security.MIN_PASSWORD_LENGTH,
            max=security.MAX_PASSWORD_LENGTH,
        )
    elif confirmation is not None and confirmation != new_password:
        errors.add("password_confirm", "The two passwords differ", "mismatch")
    errors.raise_if_any()
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
    # One query for the session, its user and the user's role (joined eagerly): read on every
    # request, never cached, so a closed session or a deactivated user loses access at once.
    found = db.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.token_digest == security.digest(token))
    ).first()
    now = clock.now()
    if found is None:
        return None
    row, user = found
    if row.expires_at <= now or row.last_seen_at + timedelta(minutes=settings.session_idle_minutes) <= now:
        return None
    if not user.active:
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


# -- two-factor authentication ------------------------------------------------------------------------


def verify_second_factor(
    db: Session, user: User, session: UserSession, code: str, actor: Actor
) -> str | None:
    """Check a TOTP code; on success the session gets a new id (returned: the new cookie value),
    so a cookie seen before the second factor is useless afterwards."""
    if not user.totp_enabled or not user.totp_secret:
        return None
    step = security.totp_step(user.totp_secret, code, user.totp_last_step, clock.now().timestamp())
    if step is None:
        audit.record(db, actor, "2fa_failed", "user", user.id, {}, user.email)
        db.commit()
        raise ValidationFailed.on("code", "This code is not valid")
    user.totp_last_step = step
    session.pending_2fa = False
    token = security.new_token()
    session.token_digest = security.digest(token)
    audit.record(db, actor, "2fa_passed", "user", user.id, {}, user.email)
    db.commit()
    return token


def _own_account(actor: Actor, user: User) -> None:
    if actor.user_id != user.id:
        raise PermissionDenied()


def start_totp_setup(db: Session, actor: Actor, user: User) -> str:
    """A fresh secret, not active until a code from it is confirmed with `enable_totp`."""
    _own_account(actor, user)
    if user.totp_enabled:
        raise Conflict("Two-factor authentication is already on")
    user.totp_secret = security.new_totp_secret()
    user.totp_last_step = None
    audit.record(db, actor, "2fa_setup", "user", user.id, {}, user.email)
    db.commit()
    return user.totp_secret


def totp_uri(user: User) -> str | None:
    """The otpauth:// address of a set-up in progress (None when there is none)."""
    if user.totp_enabled or not user.totp_secret:
        return None
    return security.totp_uri(user.totp_secret, user.email)


def enable_totp(db: Session, actor: Actor, user: User, code: str) -> None:
    _own_account(actor, user)
    if user.totp_enabled:
        raise Conflict("Two-factor authentication is already on")
    if not user.totp_secret:
        raise ValidationFailed.on("code", "Start the set-up first")
    step = security.totp_step(user.totp_secret, code or "", None, clock.now().timestamp())
    if step is None:
        raise ValidationFailed.on("code", "This code is not valid")
    user.totp_enabled = True
    user.totp_last_step = step  # the code that switched it on cannot log in again
    audit.record(db, actor, "2fa_enabled", "user", user.id, {}, user.email)
    db.commit()


def disable_totp(db: Session, actor: Actor, user: User, password: str) -> None:
    _own_account(actor, user)
    if not security.verify_password(user.password_hash, password or ""):
        raise ValidationFailed.on("password", "The current password is wrong")
    user.totp_enabled = False
    user.totp_secret = None
    user.totp_last_step = None
    audit.record(db, actor, "2fa_disabled", "user", user.id, {}, user.email)
    db.commit()


def reset_totp(db: Session, actor: Actor, user: User) -> None:
    """An administrator turns off someone's two-factor authentication (lost phone)."""
    require(actor, "users:admin")
    if user.role.is_admin and not actor.is_admin:
        raise PermissionDenied()
    user.totp_enabled = False
    user.totp_secret = None
    user.totp_last_step = None
    audit.record(db, actor, "2fa_disabled", "user", user.id, {}, user.email)
    db.commit()


# -- API tokens ---------------------------------------------------------------------------------------


def create_token(
    db: Session, actor: Actor, user: User, name: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    if actor.user_id != user.id:
        require(actor, "users:admin")
    errors = FieldErrors()
    name = (name or "").strip()
    if not name:
        errors.add("name", "This field is required", "required")
    elif len(name) > 120:
        errors.add("name", "At most {max} characters", "too_long", max=120)
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= clock.now()):
        errors.add("expires_at", "Give a future date and time with its time zone", "invalid")
    errors.raise_if_any()
    secret = security.new_token(security.API_TOKEN_PREFIX)
    token = ApiToken(
        user_id=user.id,
        name=name,
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


def list_my_tokens(db: Session, actor: Actor) -> list[ApiToken]:
    """The actor's tokens that still work or merely expired; revoked ones are gone for good."""
    if actor.user_id is None:
        raise NotAuthenticated()
    return list(
        db.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == actor.user_id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.id.desc())
        )
    )


def revoke_token(db: Session, actor: Actor, token_id: int, owner_id: int | None = None) -> None:
    """Revoke a token; `owner_id` restricts it to that user's tokens (the /me routes)."""
    token = db.get(ApiToken, token_id) if valid_id(token_id) else None
    if (
        token is None
        or token.revoked_at is not None
        or (owner_id is not None and token.user_id != owner_id)
        or (token.user_id != actor.user_id and not actor.can("users:admin"))
    ):
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


@dataclass(frozen=True)
class TokenAuth:
    """An API token that authenticates a request: its id, its last use and who acts with it."""

    token_id: int
    last_used_at: datetime | None
    actor: Actor


def _token_statement(dialect: str) -> Any:
    # Table columns, not ORM attributes: a Core statement skips the ORM's execution layer.
    token, user, role = ApiToken.__table__.c, User.__table__.c, Role.__table__.c
    return (
        select(
            token.id,
            token.last_used_at,
            token.expires_at,
            token.revoked_at,
            user.id.label("user_id"),
            user.active,
            user.department_id,
            user.language,
            user.timezone,
            user.email,
            role.name.label("role_name"),
            role.permissions,
            role.is_admin,
            role.is_manager,
            # read now rather than by a query of its own when the request reads records
            permissions.rules_column(dialect).label("visibility_rules"),
        )
        .join_from(ApiToken.__table__, User.__table__, user.id == token.user_id)
        .join(Role.__table__, role.id == user.role_id)
        .where(token.token_digest == bindparam("digest"))
    )


TOKEN_AUTH = Prepared(_token_statement)


def token_actor(db: Session, secret: str, **request_info: Any) -> TokenAuth | None:
    """The live token for `secret` and the actor it stands for, in one query of plain columns
    (no ORM objects, a statement built once: this runs on every API request). Never cached, so a
    revoked or expired token and a deactivated user lose access at once."""
    row = db.execute(TOKEN_AUTH(db), {"digest": security.digest(secret)}).first()
    if row is None or row.revoked_at is not None or not row.active:
        return None
    permissions.remember_scopes(db, row.visibility_rules or {})
    if row.expires_at is not None and row.expires_at <= clock.now():
        return None
    actor = Actor(
        user_id=row.user_id,
        department_id=row.department_id,
        role=row.role_name,
        permissions=frozenset(row.permissions or ()),
        is_admin=row.is_admin,
        is_manager=row.is_manager,
        language=row.language,
        timezone=row.timezone,
        label=row.email,
        token_id=row.id,
        **request_info,
    )
    return TokenAuth(token_id=row.id, last_used_at=row.last_used_at, actor=actor)
