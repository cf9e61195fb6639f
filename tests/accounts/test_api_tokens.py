"""Personal API tokens: created once, listed without secret, usable as Bearer, revocable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from carnet.accounts.models import ApiToken
from carnet.core import clock


def _bearer(app, secret: str) -> TestClient:
    client = TestClient(app, raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {secret}"
    return client


def test_token_lifecycle(api, app, db):
    alice = api("alice")
    r = alice.post("/api/v1/me/tokens", json={"name": "Export compta"})
    assert r.status_code == 201, r.text
    created = r.json()
    secret = created["token"]
    assert secret.startswith("crn_") and created["prefix"] == secret[:10]
    assert created["last_used_at"] is None

    listed = alice.get("/api/v1/me/tokens").json()["items"]
    mine = next(t for t in listed if t["id"] == created["id"])
    assert mine["name"] == "Export compta" and "token" not in mine
    assert secret not in alice.get("/api/v1/me/tokens").text

    client = _bearer(app, secret)
    assert client.get("/api/v1/me").json()["email"] == "alice@example.fr"
    token = db.get(ApiToken, created["id"])
    db.refresh(token)
    assert token.last_used_at is not None

    assert alice.delete(f"/api/v1/me/tokens/{created['id']}").status_code == 204
    r = client.get("/api/v1/me")
    assert r.status_code == 401
    assert all(t["id"] != created["id"] for t in alice.get("/api/v1/me/tokens").json()["items"])
    assert alice.delete(f"/api/v1/me/tokens/{created['id']}").status_code == 404


def test_someone_elses_token_cannot_be_revoked(api, app):
    secret = api("alice").post("/api/v1/me/tokens", json={"name": "mine"}).json()
    r = api("bob").delete(f"/api/v1/me/tokens/{secret['id']}")
    assert r.status_code == 404
    assert _bearer(app, secret["token"]).get("/api/v1/me").status_code == 200


def test_token_validation(api):
    alice = api("alice")
    assert alice.post("/api/v1/me/tokens", json={"name": ""}).status_code == 422
    assert alice.post("/api/v1/me/tokens", json={}).status_code == 422
    r = alice.post("/api/v1/me/tokens", json={"name": "old", "expires_at": "2001-01-01T00:00:00Z"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "expires_at"


def test_last_used_is_written_at_most_once_a_minute(api, app, db):
    start = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    clock.freeze(start)
    created = api("alice").post("/api/v1/me/tokens", json={"name": "cron"}).json()
    client = _bearer(app, created["token"])

    def last_used() -> datetime | None:
        token = db.get(ApiToken, created["id"])
        db.refresh(token)
        return token.last_used_at

    client.get("/api/v1/me")
    assert last_used() == start
    clock.advance(timedelta(seconds=30))
    client.get("/api/v1/me")
    assert last_used() == start
    clock.advance(timedelta(seconds=31))
    client.get("/api/v1/me")
    assert last_used() == start + timedelta(seconds=61)


def test_unknown_token_is_401(app, database):
    assert _bearer(app, "crn_nope").get("/api/v1/me").status_code == 401
