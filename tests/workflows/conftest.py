"""Fixtures for the workflow tests: actors for the personas, the demo pipelines, record factories."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from carnet.accounts import service as accounts
from carnet.accounts.models import User
from carnet.core.context import Actor
from carnet.deals import pipelines
from carnet.deals.models import Pipeline, Stage
from carnet.workflows import service


@pytest.fixture
def actor(db, personas) -> Callable[[str], Actor]:  # type: ignore[no-untyped-def]
    def make(key: str) -> Actor:
        return accounts.actor_for(db.get(User, personas[key].id))

    return make


@pytest.fixture
def stages(db) -> dict[str, Stage]:  # type: ignore[no-untyped-def]
    """The stages of the default demo pipeline (Ventes B2B), by name."""
    pipelines.ensure_default_pipelines(db)
    db.commit()
    pipeline = db.query(Pipeline).filter(Pipeline.is_default.is_(True)).one()
    return {s.name: s for s in pipelines.stages(db, pipeline)}


@pytest.fixture
def make_workflow(db, actor) -> Callable[..., Any]:  # type: ignore[no-untyped-def]
    def make(
        definition: dict[str, Any], name: str = "Test workflow", active: bool = True, who: str = "admin"
    ):
        wf = service.create_workflow(db, actor(who), {"name": name, "definition": definition})
        if active:
            service.enable(db, actor(who), wf)
        return wf

    return make


@pytest.fixture
def make_deal(db, actor, stages):  # type: ignore[no-untyped-def]
    """A deal owned by `who`, in a stage of the default pipeline (by name)."""
    from carnet.deals import service as deals

    def make(who: str = "alice", stage: str = "Qualification", **data: Any):
        return deals.create_deal(
            db,
            actor(who),
            {
                "title": "Offre Premium",
                "pipeline_id": stages[stage].pipeline_id,
                "stage_id": stages[stage].id,
                **data,
            },
        )

    return make


@pytest.fixture
def drain(db):  # type: ignore[no-untyped-def]
    """Dispatch events and run due jobs until nothing is due; expire what the session holds."""
    from carnet.core import jobs

    def run() -> int:
        done = jobs.drain()
        db.expire_all()
        return done

    return run


class Receiver:
    """A local HTTP server recording what it receives; answers with the queued status codes."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                outer.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}' if status < 400 else b'{"error": "boom"}')

            do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def json(self, index: int = -1) -> Any:
        import json

        return json.loads(self.requests[index]["body"])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(monkeypatch):  # type: ignore[no-untyped-def]
    from carnet.settings import get_settings

    monkeypatch.setenv("CARNET_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
    get_settings.cache_clear()
    server = Receiver()
    yield server
    server.close()
