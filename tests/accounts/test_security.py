"""Sessions, CSRF, login lockout and rate limits, passwords and disabled users: the guarantees a
user relies on without seeing them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carnet.accounts import service as accounts
from carnet.accounts.models import ApiToken, User, UserSession
from carnet.core import clock, security
from carnet.core.audit import AuditEntry
from carnet.core.context import SYSTEM
from carnet.core.errors import ValidationFailed
from carnet.organisations.models import Organisation
from carnet.settings import get_settings

PASSWORD = "correct horse battery staple"  # the personas' password (tests/conftest.py)


def _login(client: TestClient, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post("/login", data={"email": email, "password": password}, follow_redirects=False)


def _set_cookie(response, name: str) -> str:  # type: ignore[no-untyped-def]
    found = [c for c in response.headers.get_list("set-cookie") if c.startswith(f"{name}=")]
    assert len(found) == 1, response.headers.get_list("set-cookie")
    return found[0]


def _cookie_value(header: str) -> str:
    return header.split(";", 1)[0].split("=", 1)[1]


def _is_login_redirect(response) -> bool:  # type: ignore[no-untyped-def]
    return response.status_code == 303 and response.headers["location"].startswith("/login")


def _setenv(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for key, value in values.items():
        monkeypatch.setenv(f"CARNET_{key.upper()}", value)
    get_settings.cache_clear()


# -- the session cookie -----------------------------------------------------------------------------


def test_session_cookie_is_httponly_lax_and_site_wide(app, database, personas):
    client = TestClient(app)
    response = _login(client, personas["alice"].email)

    assert response.status_code == 303
    cookie = _set_cookie(response, "carnet_session").lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/" in cookie
    assert "secure" not in cookie  # plain http: a Secure cookie would never come back
    assert "domain=" not in cookie


def test_over_https_the_cookie_is_host_prefixed_and_secure(app, database, personas, monkeypatch):
    _setenv(monkeypatch, base_url="https://crm.example.fr")
    client = TestClient(app, base_url="https://testserver")

    response = _login(client, personas["alice"].email)

    assert response.status_code == 303
    cookie = _set_cookie(response, "__Host-carnet_session").lower()
    assert "secure" in cookie and "httponly" in cookie and "path=/" in cookie and "samesite=lax" in cookie
    assert "domain=" not in cookie  # required by the __Host- prefix
    assert client.get("/", follow_redirects=False).status_code == 200
    # the unprefixed name means nothing on an https installation
    plain = TestClient(app, base_url="https://testserver")
    plain.cookies.set("carnet_session", _cookie_value(_set_cookie(response, "__Host-carnet_session")))
    assert _is_login_redirect(plain.get("/", follow_redirects=False))


def test_every_login_gets_a_new_session_id_and_the_previous_one_dies(app, database, personas):
    client = TestClient(app)
    client.cookies.set("carnet_session", "chosen-by-an-attacker")  # session fixation attempt

    first = _cookie_value(_set_cookie(_login(client, personas["alice"].email), "carnet_session"))
    assert first != "chosen-by-an-attacker"
    second = _cookie_value(_set_cookie(_login(client, personas["alice"].email), "carnet_session"))
    assert second != first

    replay = TestClient(app)
    replay.cookies.set("carnet_session", first)
    assert _is_login_redirect(replay.get("/", follow_redirects=False))
    fixed = TestClient(app)
    fixed.cookies.set("carnet_session", "chosen-by-an-attacker")
    assert _is_login_redirect(fixed.get("/", follow_redirects=False))
    assert client.get("/", follow_redirects=False).status_code == 200


def test_logout_kills_the_session_on_the_server(web, app, db, personas):
    alice = web("alice")
    cookie = alice.cookies.get("carnet_session")
    assert (
        db.scalar(
            select(func.count()).select_from(UserSession).where(UserSession.user_id == personas["alice"].id)
        )
        == 1
    )

    response = alice.post("/logout", headers={"X-CSRF-Token": alice.csrf}, follow_redirects=False)

    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert (
        db.scalar(
            select(func.count()).select_from(UserSession).where(UserSession.user_id == personas["alice"].id)
        )
        == 0
    )
    replay = TestClient(app, raise_server_exceptions=False)
    replay.cookies.set("carnet_session", cookie)
    page = replay.get("/organisations", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/organisations"
    api = replay.get("/api/v1/organisations")
    assert api.status_code == 401
    assert api.json()["code"] == "not_authenticated"


def test_idle_timeout_slides_with_use_and_ends_an_unused_session(web, monkeypatch):
    _setenv(monkeypatch, session_idle_minutes="60")  # three idle spans fit in the 12 h lifetime
    idle = 60
    alice = web("alice")

    clock.advance(timedelta(minutes=idle - 1))
    assert alice.get("/", follow_redirects=False).status_code == 200
    clock.advance(timedelta(minutes=idle - 1))  # still alive: the last request slid the timeout
    assert alice.get("/", follow_redirects=False).status_code == 200
    clock.advance(timedelta(minutes=idle + 1))

    assert _is_login_redirect(alice.get("/", follow_redirects=False))
    assert alice.get("/api/v1/organisations").status_code == 401


def test_absolute_lifetime_ends_even_a_busy_session(web):
    absolute = get_settings().session_absolute_hours * 60
    alice = web("alice")
    used = 0
    while used + 100 < absolute:
        clock.advance(timedelta(minutes=100))
        used += 100
        assert alice.get("/", follow_redirects=False).status_code == 200
    clock.advance(timedelta(minutes=absolute - used + 1))  # a few minutes idle, past the lifetime

    assert _is_login_redirect(alice.get("/", follow_redirects=False))
    assert alice.get("/api/v1/organisations").status_code == 401


# -- CSRF -------------------------------------------------------------------------------------------


def _org_count(db, name: str) -> int:
    return db.scalar(select(func.count()).select_from(Organisation).where(Organisation.name == name))


def test_a_form_post_without_the_csrf_token_is_refused_and_writes_nothing(web, db):
    alice = web("alice")

    missing = alice.post("/organisations/new", data={"name": "Sans Jeton"}, follow_redirects=False)
    wrong = alice.post(
        "/organisations/new", data={"name": "Sans Jeton", "csrf_token": "forged"}, follow_redirects=False
    )

    assert missing.status_code == 403 and wrong.status_code == 403
    assert _org_count(db, "Sans Jeton") == 0

    ok = alice.post(
        "/organisations/new", data={"name": "Avec Jeton", "csrf_token": alice.csrf}, follow_redirects=False
    )
    assert ok.status_code == 303
    assert _org_count(db, "Avec Jeton") == 1
    htmx = alice.post(
        "/organisations/new",
        data={"name": "Par htmx"},
        headers={"X-CSRF-Token": alice.csrf, "HX-Request": "true"},
        follow_redirects=False,
    )
    assert htmx.status_code == 204 and htmx.headers["hx-redirect"].startswith("/organisations/")
    assert _org_count(db, "Par htmx") == 1


def test_the_csrf_token_of_one_session_is_useless_in_another(web, db):
    alice, bob = web("alice"), web("bob")
    response = alice.post(
        "/organisations/new", data={"name": "Volé", "csrf_token": bob.csrf}, follow_redirects=False
    )
    assert response.status_code == 403
    assert _org_count(db, "Volé") == 0


def test_cookie_authenticated_api_writes_need_the_token_bearer_ones_do_not(web, api, db):
    alice = web("alice")

    refused = alice.post("/api/v1/organisations", json={"name": "Cookie Sans Jeton"})
    assert refused.status_code == 403 and refused.json()["code"] == "csrf"
    assert _org_count(db, "Cookie Sans Jeton") == 0

    accepted = alice.post(
        "/api/v1/organisations", json={"name": "Cookie Avec Jeton"}, headers={"X-CSRF-Token": alice.csrf}
    )
    assert accepted.status_code == 201
    bearer = api("alice").post("/api/v1/organisations", json={"name": "Jeton API"})
    assert bearer.status_code == 201
    assert _org_count(db, "Cookie Avec Jeton") == 1 and _org_count(db, "Jeton API") == 1


def test_logout_without_the_token_does_not_log_out(web):
    alice = web("alice")
    assert alice.post("/logout", follow_redirects=False).status_code == 403
    assert alice.get("/", follow_redirects=False).status_code == 200


# -- login lockout and rate limits ------------------------------------------------------------------


def _audit_actions(db, user_id: int) -> list[str]:
    return list(
        db.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.record_type == "user", AuditEntry.record_id == user_id)
            .where(AuditEntry.action.like("login%"))
            .order_by(AuditEntry.seq)
        )
    )


def test_lockout_after_repeated_failures_refuses_even_the_right_password(
    app, database, db, personas, monkeypatch
):
    _setenv(monkeypatch, login_lockout_attempts="3", login_lockout_minutes="15")
    alice = personas["alice"]
    client = TestClient(app)

    for _ in range(3):
        failed = _login(client, alice.email, "not the password at all")
        assert failed.status_code == 401
    locked = _login(client, alice.email)

    assert locked.status_code == 429
    assert "carnet_session" not in locked.cookies
    assert 0 < int(locked.headers["retry-after"]) <= 15 * 60 + 1
    assert locked.headers["ratelimit-limit"] == "3"
    assert locked.headers["ratelimit-remaining"] == "0"
    assert locked.headers["ratelimit-reset"] == locked.headers["retry-after"]
    assert _audit_actions(db, alice.id) == ["login_failed"] * 3 + ["login_refused"]
    refused = db.scalar(select(AuditEntry).where(AuditEntry.action == "login_refused"))
    assert refused.changes == {"reason": "locked"} and refused.ip == "testclient"

    clock.advance(timedelta(minutes=14))
    assert _login(client, alice.email).status_code == 429
    clock.advance(timedelta(minutes=1, seconds=1))
    assert _login(client, alice.email).status_code == 303
    db.expire_all()
    user = db.get(User, alice.id)
    assert user.failed_logins == 0 and user.locked_until is None


def test_a_successful_login_resets_the_failure_count(app, database, db, personas, monkeypatch):
    _setenv(monkeypatch, login_lockout_attempts="3")
    client = TestClient(app)
    email = personas["bob"].email
    for _ in range(2):
        assert _login(client, email, "wrong password here").status_code == 401
    assert _login(client, email).status_code == 303
    for _ in range(2):
        assert _login(client, email, "wrong password here").status_code == 401
    assert _login(client, email).status_code == 303  # never three in a row: never locked


def test_login_rate_limit_per_ip(app, database, personas, monkeypatch):
    _setenv(monkeypatch, rate_limit_login="3/minute")
    client = TestClient(app)
    email = personas["alice"].email

    first = _login(client, email, "wrong password number 1")
    assert first.status_code == 401
    assert first.headers["ratelimit-limit"] == "3" and first.headers["ratelimit-remaining"] == "2"
    for _ in range(2):
        assert _login(client, email, "wrong password again").status_code == 401
    limited = _login(client, email)  # the right password does not help

    assert limited.status_code == 429
    assert "carnet_session" not in limited.cookies
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.headers["ratelimit-limit"] == "3"
    assert limited.headers["ratelimit-remaining"] == "0"
    assert 1 <= int(limited.headers["ratelimit-reset"]) <= 60
    other_ip = TestClient(app, client=("192.0.2.50", 40000))
    assert _login(other_ip, email).status_code == 303


def test_login_rate_limit_zero_means_unlimited(app, database, personas, monkeypatch):
    _setenv(monkeypatch, rate_limit_login="0", login_lockout_attempts="100")
    client = TestClient(app)
    for _ in range(12):
        response = _login(client, personas["alice"].email, "wrong password again")
        assert response.status_code == 401
        assert "ratelimit-limit" not in response.headers


def test_api_rate_limit_per_token(api, monkeypatch):
    _setenv(monkeypatch, rate_limit_api="3/minute")
    alice = api("alice")

    remaining = []
    for _ in range(3):
        response = alice.get("/api/v1/organisations")
        assert response.status_code == 200
        assert response.headers["ratelimit-limit"] == "3"
        assert 1 <= int(response.headers["ratelimit-reset"]) <= 60
        remaining.append(response.headers["ratelimit-remaining"])
    limited = alice.get("/api/v1/organisations")

    assert remaining == ["2", "1", "0"]
    assert limited.status_code == 429
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.headers["ratelimit-limit"] == "3" and limited.headers["ratelimit-remaining"] == "0"
    bob = api("bob").get("/api/v1/organisations")  # another token has its own budget
    assert bob.status_code == 200 and bob.headers["ratelimit-remaining"] == "2"


def test_api_rate_limit_zero_means_unlimited(api, monkeypatch):
    _setenv(monkeypatch, rate_limit_api="0")
    alice = api("alice")
    for _ in range(15):
        response = alice.get("/api/v1/organisations")
        assert response.status_code == 200
        assert "ratelimit-limit" not in response.headers


# -- passwords --------------------------------------------------------------------------------------


def _create(db, email: str, password: str) -> User:
    return accounts.create_user(db, SYSTEM, {"email": email, "password": password, "role": "sales"})


@pytest.mark.parametrize("length", [12, 128, 256])
def test_passwords_of_12_to_256_characters_are_accepted_and_hashed_with_argon2id(db, length):
    password = "é" + "x7-" * 100
    password = password[:length]
    user = _create(db, f"len{length}@example.fr", password)
    assert user.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert password not in user.password_hash
    assert security.verify_password(user.password_hash, password)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("x" * 11, "Password must be at least 12 characters"),
        ("x" * 257, "Password must be at most 256 characters"),
        ("password1234", "This password is too common"),
        ("AZERTYUIOP12", "This password is too common"),
    ],
)
def test_weak_passwords_are_refused_and_nothing_is_created(db, password, message):
    with pytest.raises(ValidationFailed) as refused:
        _create(db, "weak@example.fr", password)
    error = refused.value.errors[0]
    assert (error.field, error.code) == ("password", "weak_password")
    assert error.message.format(**error.params) == message
    assert accounts.get_user_by_email(db, "weak@example.fr") is None


def test_the_cli_refuses_a_short_password(database, db):
    from carnet.cli import main

    result = CliRunner().invoke(
        main, ["user", "create", "--email", "cli@example.fr", "--password", "short-pw"]
    )
    assert result.exit_code == 1
    assert "password: Password must be at least 12 characters" in result.stderr
    assert accounts.get_user_by_email(db, "cli@example.fr") is None


def test_a_weaker_hash_is_upgraded_at_the_next_login(app, database, db, personas):
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    user = db.get(User, personas["fiona"].id)
    user.password_hash = weak
    db.commit()

    assert _login(TestClient(app), personas["fiona"].email).status_code == 303

    db.expire_all()
    upgraded = db.get(User, personas["fiona"].id).password_hash
    assert upgraded != weak
    assert upgraded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert security.verify_password(upgraded, PASSWORD)
    assert not security.password_needs_rehash(upgraded)


# -- disabling a user -------------------------------------------------------------------------------


def test_disabling_a_user_ends_their_sessions_and_tokens_at_once(web, api, app, db, personas):
    alice_web, alice_api = web("alice"), api("alice")
    assert alice_web.get("/", follow_redirects=False).status_code == 200
    assert alice_api.get("/api/v1/organisations").status_code == 200
    admin = accounts.actor_for(db.get(User, personas["admin"].id))
    user = db.get(User, personas["alice"].id)

    accounts.update_user(db, admin, user, {"active": False})

    assert _is_login_redirect(alice_web.get("/", follow_redirects=False))
    assert alice_api.get("/api/v1/organisations").status_code == 401
    assert db.scalar(select(func.count()).select_from(UserSession).where(UserSession.user_id == user.id)) == 0
    tokens = list(db.scalars(select(ApiToken).where(ApiToken.user_id == user.id)))
    assert tokens and all(t.revoked_at is not None for t in tokens)
    assert _login(TestClient(app), personas["alice"].email).status_code == 401

    # enabling the account again does not bring the old credentials back
    db.refresh(user)
    accounts.update_user(db, admin, user, {"active": True})
    assert alice_api.get("/api/v1/organisations").status_code == 401
    assert _is_login_redirect(alice_web.get("/", follow_redirects=False))
    assert _login(TestClient(app), personas["alice"].email).status_code == 303


def test_csrf_token_is_in_every_page_for_htmx(web):
    page = web("alice").get("/")
    assert re.search(r'hx-headers=\'\{"X-CSRF-Token": "[0-9a-f]{64}"\}\'', page.text)


def test_the_last_use_of_a_token_is_recorded_at_most_once_a_minute(api, db, personas):
    alice = api("alice")
    assert alice.get("/api/v1/organisations").status_code == 200
    db.expire_all()
    token = db.scalar(select(ApiToken).where(ApiToken.user_id == personas["alice"].id))
    first = token.last_used_at
    assert first is not None and abs(first - clock.now()) < timedelta(seconds=5)

    clock.advance(timedelta(seconds=30))
    alice.get("/api/v1/organisations")
    db.expire_all()
    assert db.get(ApiToken, token.id).last_used_at == first
    clock.advance(timedelta(seconds=31))
    alice.get("/api/v1/organisations")
    db.expire_all()
    assert db.get(ApiToken, token.id).last_used_at > first
