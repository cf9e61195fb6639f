"""Two-factor authentication: set-up from the profile, login through /login/2fa, replay refused."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
from fastapi.testclient import TestClient

from carnet.accounts.models import User
from carnet.core import clock

PASSWORD = "correct horse battery staple"
START = datetime(2026, 11, 21, 9, 0, 5, tzinfo=UTC)


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def _user(db, user_id: int) -> User:
    user = db.get(User, user_id)
    db.refresh(user)
    return user


def _login_first_step(app, email: str) -> TestClient:
    client = TestClient(app, raise_server_exceptions=False)
    r = client.post("/login", data={"email": email, "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login/2fa")
    return client


def _second_step(client: TestClient, code: str):  # type: ignore[no-untyped-def]
    page = client.get("/login/2fa")
    assert page.status_code == 200
    return client.post(
        "/login/2fa", data={"code": code, "next": "/", "csrf_token": _csrf(page.text)}, follow_redirects=False
    )


def _enable(web, db, personas) -> tuple[TestClient, str]:  # type: ignore[no-untyped-def]
    alice = web("alice")
    r = alice.post("/profile/2fa/setup", data={"csrf_token": alice.csrf}, follow_redirects=False)
    assert r.status_code == 303
    page = alice.get("/profile")
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page.text).group(1)
    uri = re.search(r'data-testid="totp-uri">([^<]+)<', page.text).group(1)
    assert uri.startswith("otpauth://totp/Carnet:alice%40example.fr?secret=" + secret)
    assert _user(db, personas["alice"].id).totp_enabled is False
    return alice, secret


def test_enable_needs_a_valid_code(web, db, personas):
    clock.freeze(START)
    alice, secret = _enable(web, db, personas)
    right = pyotp.TOTP(secret).at(START)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    r = alice.post("/profile/2fa/enable", data={"code": wrong, "csrf_token": alice.csrf})
    assert r.status_code == 422
    assert 'data-error-for="code"' in r.text
    assert _user(db, personas["alice"].id).totp_enabled is False

    r = alice.post(
        "/profile/2fa/enable", data={"code": right, "csrf_token": alice.csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    assert _user(db, personas["alice"].id).totp_enabled is True


def test_login_then_requires_the_code_and_a_code_cannot_be_replayed(web, app, db, personas):
    clock.freeze(START)
    alice, secret = _enable(web, db, personas)
    totp = pyotp.TOTP(secret)
    enable_code = totp.at(START)
    assert (
        alice.post("/profile/2fa/enable", data={"code": enable_code, "csrf_token": alice.csrf}).status_code
        == 200
    )

    client = _login_first_step(app, "alice@example.fr")
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"].startswith("/login")
    assert client.get("/api/v1/me").status_code == 401
    # The code used to switch 2FA on is spent.
    r = _second_step(client, enable_code)
    assert r.status_code == 422

    clock.advance(timedelta(seconds=30))
    code = totp.at(clock.now())
    before = client.cookies.get("carnet_session")
    r = _second_step(client, code)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert client.get("/").status_code == 200
    # The session id changed once the second factor was proven: the earlier cookie is dead.
    assert client.cookies.get("carnet_session") != before
    stale = TestClient(app, raise_server_exceptions=False, cookies={"carnet_session": before})
    assert stale.get("/api/v1/me").status_code == 401

    # Same code, second login: refused.
    other = _login_first_step(app, "alice@example.fr")
    assert _second_step(other, code).status_code == 422
    assert other.get("/", follow_redirects=False).status_code == 303
    clock.advance(timedelta(seconds=30))
    assert _second_step(other, totp.at(clock.now())).status_code == 303


def test_disable_requires_the_password(web, db, personas):
    clock.freeze(START)
    alice, secret = _enable(web, db, personas)
    alice.post("/profile/2fa/enable", data={"code": pyotp.TOTP(secret).at(START), "csrf_token": alice.csrf})
    r = alice.post("/profile/2fa/disable", data={"password": "not my password", "csrf_token": alice.csrf})
    assert r.status_code == 422 and 'data-error-for="password"' in r.text
    assert _user(db, personas["alice"].id).totp_enabled is True
    r = alice.post(
        "/profile/2fa/disable", data={"password": PASSWORD, "csrf_token": alice.csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    user = _user(db, personas["alice"].id)
    assert (user.totp_enabled, user.totp_secret) == (False, None)


def test_set_up_twice_while_on_is_refused(web, db, personas):
    clock.freeze(START)
    alice, secret = _enable(web, db, personas)
    alice.post("/profile/2fa/enable", data={"code": pyotp.TOTP(secret).at(START), "csrf_token": alice.csrf})
    r = alice.post("/profile/2fa/setup", data={"csrf_token": alice.csrf})
    assert r.status_code == 409
    assert _user(db, personas["alice"].id).totp_secret == secret


def test_admin_turns_off_someones_two_factor(web, db, personas):
    clock.freeze(START)
    alice, secret = _enable(web, db, personas)
    alice.post("/profile/2fa/enable", data={"code": pyotp.TOTP(secret).at(START), "csrf_token": alice.csrf})
    manager = web("manager")
    r = manager.post(f"/settings/users/{personas['alice'].id}/2fa-reset", data={"csrf_token": manager.csrf})
    assert r.status_code == 403
    assert _user(db, personas["alice"].id).totp_enabled is True
    admin = web("admin")
    r = admin.post(
        f"/settings/users/{personas['alice'].id}/2fa-reset",
        data={"csrf_token": admin.csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert _user(db, personas["alice"].id).totp_enabled is False
