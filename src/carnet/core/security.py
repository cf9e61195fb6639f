"""Passwords (argon2id), random tokens stored as SHA-256 digests, CSRF tokens and TOTP."""

from __future__ import annotations

import hashlib
import hmac
import secrets

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from carnet.settings import get_settings

# argon2-cffi defaults: argon2id, t=3, m=64 MiB, p=4 (above the OWASP floor, see reliability.md §8).
_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
API_TOKEN_PREFIX = "crn_"

COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "password1234",
        "motdepasse123",
        "azertyuiop12",
        "qwertyuiop12",
        "administrator",
        "motdepasse1234",
        "1234567890123",
        "passwordpassword",
        "azertyazerty",
    }
)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None. No composition rules (ASVS 2.1.9)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return "Password must be at least {min} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return "Password must be at most {max} characters"
    if password.lower() in COMMON_PASSWORDS:
        return "This password is too common"
    return None


def new_token(prefix: str = "", nbytes: int = 32) -> str:
    return prefix + secrets.token_urlsafe(nbytes)


def digest(token: str) -> str:
    """SHA-256 of a long random token: enough for lookups, useless to a thief of the table."""
    return hashlib.sha256(token.encode()).hexdigest()


def sign(value: str) -> str:
    key = get_settings().secret_key.encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def csrf_token_for(session_token: str) -> str:
    """The CSRF token is bound to the session (HMAC of the session token)."""
    return sign("csrf:" + session_token)


def csrf_valid(session_token: str, candidate: str | None) -> bool:
    return bool(candidate) and hmac.compare_digest(csrf_token_for(session_token), candidate or "")


def new_totp_secret() -> str:
    return pyotp.random_base32(length=32)  # 160 bits


def totp_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name="Carnet")


def totp_step(secret: str, code: str, last_step: int | None, at: float) -> int | None:
    """The time step a valid code belongs to (±1 step), refusing a step already used."""
    totp = pyotp.TOTP(secret)
    code = code.strip().replace(" ", "")
    for offset in (0, -1, 1):
        t = at + offset * totp.interval
        step = int(t // totp.interval)
        if hmac.compare_digest(totp.at(t), code) and (last_step is None or step > last_step):
            return step
    return None
