"""A local HTTP receiver on 127.0.0.1 (a threaded http.server started by the test), endpoints
created through the service, and the clock frozen so retries are moved to, never slept through."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy.orm import Session

from carnet.accounts import service as accounts
from carnet.accounts.models import User
from carnet.core import clock
from carnet.core.context import Actor
from carnet.webhooks import service
from carnet.webhooks.models import WebhookEndpoint

NOW = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every request; answers from `responses[path]` (a queue of (status, headers, body))
    and then 200."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    responses: dict[str, list[tuple[int, dict[str, str], bytes]]] = field(default_factory=dict)

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def answer(self, path: str, *replies: tuple[int, dict[str, str], bytes]) -> None:
        self.responses.setdefault(path, []).extend(replies)

    def on(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            state.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            queue = state.responses.get(self.path) or []
            status, headers, reply = queue.pop(0) if queue else (200, {}, b"ok")
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _private_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The receiver listens on 127.0.0.1: allowed here; the SSRF tests turn it off again."""
    from carnet.settings import get_settings

    monkeypatch.setenv("CARNET_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _frozen(database: Any) -> None:
    clock.freeze(NOW)


@pytest.fixture
def actor_of(db: Session, personas: dict[str, Any]):  # type: ignore[no-untyped-def]
    def make(key: str) -> Actor:
        return accounts.actor_for(db.get(User, personas[key].id))

    return make


@pytest.fixture
def make_endpoint(db: Session, actor_of):  # type: ignore[no-untyped-def]
    def make(url: str, event_types: list[str] | None = None, **extra: Any) -> tuple[WebhookEndpoint, str]:
        data = {"url": url, "event_types": event_types or ["*"], **extra}
        return service.create_endpoint(db, actor_of("admin"), data)

    return make
