"""Test fixtures: a real, migrated database (SQLite by default, PostgreSQL when
CARNET_TEST_DATABASE_URL is set), one rolled-back transaction per test, and named personas
created once per session.

Personas (department → people):
  Direction: admin
  Commercial: manager (manager), alice (sales), bob (sales)
  Finance: fiona (finance), outsider (sales)
  Support: reader (read-only)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_tmp = Path(tempfile.mkdtemp(prefix="carnet-tests-"))
TEST_DB_URL = os.environ.get("CARNET_TEST_DATABASE_URL") or f"sqlite:///{_tmp}/test.db"
os.environ["CARNET_DATABASE_URL"] = TEST_DB_URL
os.environ["CARNET_ENV"] = "test"
os.environ["CARNET_STORAGE_DIR"] = str(_tmp / "files")
os.environ["CARNET_BACKUP_DIR"] = str(_tmp / "backups")
os.environ.setdefault("CARNET_RATE_LIMIT_LOGIN", "0")
os.environ.setdefault("CARNET_RATE_LIMIT_API", "0")
os.environ.setdefault("CARNET_RATE_LIMIT_SEARCH", "0")
os.environ["CARNET_RUNNER"] = "off"  # tests run jobs explicitly with carnet.core.jobs.drain()
if os.environ.get("CARNET_TEST_REDIS_URL"):
    os.environ["CARNET_REDIS_URL"] = os.environ["CARNET_TEST_REDIS_URL"]

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from carnet.core import clock, ratelimit
from carnet.core import db as core_db
from carnet.settings import get_settings


def _reset_database(url: str) -> None:
    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    else:
        path = Path(url.split("///", 1)[1])
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)


@dataclass
class Persona:
    key: str
    id: int
    email: str
    token: str
    department_id: int | None
    role: str


PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def migrated() -> str:
    from carnet.core import migrate

    _reset_database(TEST_DB_URL)
    migrate.upgrade(TEST_DB_URL, _tmp / "backups")
    return TEST_DB_URL


@pytest.fixture(scope="session")
def personas(migrated: str) -> dict[str, Persona]:
    """Committed once: departments, users of each role, and an API token each."""
    from carnet.accounts import service as accounts
    from carnet.accounts.models import Department
    from carnet.core.context import SYSTEM

    database = core_db.Database(migrated)
    people = {
        "admin": ("admin", "direction"),
        "manager": ("manager", "commercial"),
        "alice": ("sales", "commercial"),
        "bob": ("sales", "commercial"),
        "fiona": ("finance", "finance"),
        "outsider": ("sales", "finance"),
        "reader": ("read-only", "support"),
    }
    out: dict[str, Persona] = {}
    with database.session() as session:
        accounts.ensure_builtin_roles(session)
        depts = {}
        for name, code in (
            ("Direction", "direction"),
            ("Commercial", "commercial"),
            ("Finance", "finance"),
            ("Support", "support"),
        ):
            dept = Department(name=name, code=code)
            session.add(dept)
            session.flush()
            depts[code] = dept.id
        session.commit()
        for key, (role, dept) in people.items():
            user = accounts.create_user(
                session,
                SYSTEM,
                {
                    "email": f"{key}@example.fr",
                    "password": PASSWORD,
                    "role": role,
                    "department_id": depts[dept],
                    "first_name": key.capitalize(),
                    "last_name": "Test",
                },
            )
            _tok, secret = accounts.create_token(session, SYSTEM, user, "tests")
            out[key] = Persona(key, user.id, user.email, secret, depts[dept], role)
    out["_departments"] = depts  # type: ignore[assignment]
    return out


class TransactionalDatabase(core_db.Database):
    """Every session joins one outer transaction that the test rolls back."""

    def __init__(self, url: str, connection) -> None:  # type: ignore[no-untyped-def]
        self.url = url
        self.connection = connection
        self.write_engine = connection.engine
        self.read_engine = connection.engine

    def session(self, *, write: bool = True) -> Session:
        return Session(bind=self.connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture
def database(personas: dict[str, Persona]) -> Iterator[TransactionalDatabase]:
    engine = core_db.make_engine(TEST_DB_URL, write=True)
    connection = engine.connect()
    transaction = connection.begin()
    db = TransactionalDatabase(TEST_DB_URL, connection)
    core_db.set_database(db)
    try:
        yield db
    finally:
        core_db.set_database(None)
        transaction.rollback()
        connection.close()


@pytest.fixture
def db(database: TransactionalDatabase) -> Iterator[Session]:
    session = database.session()
    yield session
    session.close()


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    from carnet.core import jobs

    clock.reset()
    jobs._last_slot.clear()  # periodic slots enqueued in a rolled-back test must be enqueued again
    get_settings.cache_clear()
    yield
    clock.reset()
    ratelimit.reset()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def app():  # type: ignore[no-untyped-def]
    from carnet.app import create_app

    return create_app()


@pytest.fixture
def anon(app, database) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def api(app, database, personas):  # type: ignore[no-untyped-def]
    """api("alice") -> a client authenticated with alice's API token."""

    def make(key: str) -> TestClient:
        client = TestClient(app, raise_server_exceptions=False)
        client.headers["Authorization"] = f"Bearer {personas[key].token}"
        return client

    return make


@pytest.fixture
def web(app, database, personas):  # type: ignore[no-untyped-def]
    """web("alice") -> a client logged in through the login form, with its CSRF token."""
    import re

    def make(key: str) -> TestClient:
        client = TestClient(app, raise_server_exceptions=False)
        response = client.post(
            "/login", data={"email": personas[key].email, "password": PASSWORD}, follow_redirects=False
        )
        assert response.status_code == 303, response.text
        page = client.get("/")
        match = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
        client.csrf = match.group(1) if match else ""  # type: ignore[attr-defined]
        return client

    return make


# -- a local SMTP server (aiosmtpd) for everything that sends email ----------------------------------


class SmtpSink:
    """What the local SMTP server received, and the replies it should give instead of accepting:
    `refuse_data` / `refuse_rcpt` hold SMTP replies ("451 4.3.0 Try later") used one per message."""

    def __init__(self) -> None:
        self.messages: list = []  # email.message.EmailMessage, parsed with the default policy
        self.envelopes: list = []
        self.logins: list[tuple[str, str]] = []
        self.refuse_data: list[str] = []
        self.refuse_rcpt: list[str] = []
        self.url = ""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if self.refuse_rcpt:
            return self.refuse_rcpt.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        import email
        from email import policy

        if self.refuse_data:
            return self.refuse_data.pop(0)
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 Message accepted"


@pytest.fixture
def smtp_server(monkeypatch):  # type: ignore[no-untyped-def]
    """An SMTP server on 127.0.0.1 (with AUTH LOGIN/PLAIN over plain text, for the tests only);
    CARNET_SMTP_URL points at it for the test."""
    import socket

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    sink = SmtpSink()

    def authenticator(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        sink.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password == b"s3cret p@ss")

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(
        sink, hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False
    )
    controller.start()
    sink.url = f"smtp://mailer:s3cret%20p%40ss@127.0.0.1:{port}?timeout=5"
    monkeypatch.setenv("CARNET_SMTP_URL", sink.url)
    monkeypatch.setenv("CARNET_MAIL_FROM", "Carnet <crm@example.fr>")
    get_settings.cache_clear()
    try:
        yield sink
    finally:
        controller.stop()
        get_settings.cache_clear()
