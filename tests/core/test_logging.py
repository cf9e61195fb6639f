"""Logs: JSON lines in production with the request id, the request id on every line written while
serving a request, and never a password, token or session cookie."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.core.audit import AuditEntry
from carnet.core.logging import configure, make_handler, request_id_var
from carnet.settings import get_settings

PASSWORD = "correct horse battery staple"  # the personas' password (tests/conftest.py)


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Everything the root logger writes, through Carnet's own handler, at DEBUG."""
    stream = io.StringIO()
    handler = make_handler(False, stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_json_lines_carry_the_request_id_and_stay_one_object_per_line(monkeypatch):
    monkeypatch.setenv("CARNET_LOG_FORMAT", "json")
    get_settings.cache_clear()
    assert get_settings().json_logs
    stream = io.StringIO()
    logger = logging.getLogger("carnet.tests.json")
    handler = make_handler(get_settings().json_logs, stream)
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    token = request_id_var.set("req-42")
    try:
        logger.info(
            "créé %s", "l'organisation", extra={"method": "POST", "path": "/x", "status": 201, "user_id": 7}
        )
        try:
            raise ValueError('a "quoted"\nmessage')
        except ValueError:
            logger.exception("failed")
    finally:
        request_id_var.reset(token)
    logger.warning("outside any request")
    logger.removeHandler(handler)

    lines = stream.getvalue().splitlines()
    assert len(lines) == 3  # the traceback stays inside its line
    first, second, third = (json.loads(line) for line in lines)
    assert first["message"] == "créé l'organisation"
    assert first["request_id"] == "req-42"
    assert (first["level"], first["logger"]) == ("info", "carnet.tests.json")
    assert (first["method"], first["path"], first["status"], first["user_id"]) == ("POST", "/x", 201, 7)
    assert datetime.fromisoformat(first["time"]).tzinfo is not None
    assert second["request_id"] == "req-42" and second["level"] == "error"
    assert 'ValueError: a "quoted"\nmessage' in second["exception"]
    assert third["request_id"] == "-"


def test_json_is_the_default_in_production_and_configure_installs_it(monkeypatch):
    monkeypatch.setenv("CARNET_ENV", "production")
    monkeypatch.setenv("CARNET_SECRET_KEY", "s" * 40)
    monkeypatch.delenv("CARNET_LOG_FORMAT", raising=False)
    get_settings.cache_clear()
    assert get_settings().json_logs
    monkeypatch.setenv("CARNET_LOG_FORMAT", "text")
    get_settings.cache_clear()
    assert not get_settings().json_logs

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    try:
        configure("INFO", json_lines=True, stream=stream)
        logging.getLogger("carnet.tests").info("hello")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    assert json.loads(stream.getvalue())["message"] == "hello"


def test_every_line_written_while_serving_a_request_carries_its_id(api, captured):
    alice = api("alice")
    alice.get("/api/v1/organisations", headers={"X-Request-ID": "req-list"})
    alice.post("/api/v1/organisations", json={"name": 12}, headers={"X-Request-ID": "req-invalid"})
    alice.get("/api/v1/organisations/999999", headers={"X-Request-ID": "req-missing"})

    # the test client's own lines (httpx, its event loop starting) come from outside the server
    harness = re.compile(r"\] (httpx|httpcore[.\w]*|asyncio): ")
    lines = [line for line in captured.getvalue().splitlines() if not harness.search(line)]
    assert len(lines) >= 3
    for line in lines:
        assert re.search(r"\[req-(list|invalid|missing)\]", line), line
    assert any("[req-list] carnet.http: GET /api/v1/organisations 200" in line for line in lines)
    assert any("[req-invalid] carnet.http: POST /api/v1/organisations 422" in line for line in lines)
    assert any("[req-missing] carnet.http: GET /api/v1/organisations/999999 404" in line for line in lines)


def test_passwords_tokens_and_cookies_never_reach_the_logs(app, database, db, personas, caplog, captured):
    caplog.set_level(logging.DEBUG)
    alice = personas["alice"]
    planted_password = "planted-Password-4242!"
    planted_token = "crn_planted-token-0123456789abcdef"

    browser = TestClient(app)
    assert (
        browser.post("/login", data={"email": alice.email, "password": planted_password}).status_code == 401
    )
    assert browser.post("/login", data={"email": alice.email, "password": PASSWORD}).status_code == 200
    cookie = browser.cookies.get("carnet_session")
    assert cookie
    client = TestClient(app, headers={"Authorization": f"Bearer {alice.token}"})
    assert client.get("/api/v1/organisations").status_code == 200
    assert client.post("/api/v1/organisations", json={"name": "Journal SA"}).status_code == 201
    intruder = TestClient(app, headers={"Authorization": f"Bearer {planted_token}"})
    assert intruder.get("/api/v1/organisations").status_code == 401

    secrets = [planted_password, PASSWORD, alice.token, planted_token, cookie]
    records = "\n".join(repr(record.__dict__) for record in caplog.records)
    audit_rows = repr(db.execute(select(AuditEntry)).all())
    assert caplog.records  # the requests were logged
    for secret in secrets:
        assert secret not in caplog.text
        assert secret not in records
        assert secret not in captured.getvalue()
        assert secret not in audit_rows


def test_a_request_id_that_could_forge_log_lines_is_replaced(anon):
    kept = anon.get("/healthz", headers={"X-Request-ID": "lb-7f3a.42:x"})
    assert kept.headers["x-request-id"] == "lb-7f3a.42:x"
    for offered in ("abc] carnet.auth: admin logged in", "x" * 65, 'a"b'):
        replaced = anon.get("/healthz", headers={"X-Request-ID": offered})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"]), offered


def test_an_unexpected_error_is_logged_with_its_request_id_and_answered_with_the_usual_headers(
    database, captured
):
    from carnet.app import create_app

    root = logging.getLogger()
    saved = root.handlers[:]
    fresh = create_app()
    root.handlers[:] = saved  # create_app configured logging afresh: keep capturing

    @fresh.get("/boom")
    def boom() -> None:
        raise RuntimeError("kaput")

    @fresh.get("/api/v1/boom")
    def api_boom() -> None:
        raise RuntimeError("kaput")

    client = TestClient(fresh, raise_server_exceptions=False)
    page = client.get("/boom", headers={"X-Request-ID": "req-boom"})
    api = client.get("/api/v1/boom", headers={"X-Request-ID": "req-api-boom"})

    assert page.status_code == 500 and api.status_code == 500
    assert api.json()["code"] == "internal_error" and api.json()["request_id"] == "req-api-boom"
    assert "kaput" not in page.text and "kaput" not in api.text  # no internals shown to the user
    for response, rid in ((page, "req-boom"), (api, "req-api-boom")):
        assert response.headers["x-request-id"] == rid
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    text = captured.getvalue()
    assert re.search(r"ERROR   \[req-boom\] carnet\.http: unexpected error", text)
    assert re.search(r"ERROR   \[req-api-boom\] carnet\.errors: unexpected error", text)
    assert "RuntimeError: kaput" in text
    assert "[req-boom] carnet.http: GET /boom 500" in text
