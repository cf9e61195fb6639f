"""Idempotency-Key on POST (Stripe's model): the first response is stored for 24 h and replayed
for a retry of the same request; the same key with a different body is refused."""

from __future__ import annotations

import hashlib

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carnet.api.problems import problem
from carnet.core import clock
from carnet.core.db import get_database
from carnet.core.housekeeping import IdempotencyRecord


def _principal(request: Request) -> str:
    credential = (
        request.headers.get("authorization")
        or request.cookies.get("carnet_session")
        or request.cookies.get("__Host-carnet_session")
        or ""
    )
    return hashlib.sha256(credential.encode()).hexdigest()


# Database work runs in the thread pool: a blocking call on the event loop would stall every request.
def _lookup(principal: str, key: str) -> IdempotencyRecord | None:
    with get_database().session(write=False) as db:
        return db.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.principal == principal, IdempotencyRecord.key == key
            )
        )


def _store(record: IdempotencyRecord) -> None:
    try:
        with get_database().begin() as db:
            db.add(record)
    except IntegrityError:
        pass  # a concurrent retry stored it first


class IdempotencyMiddleware:
    """A pure ASGI middleware: every request without an Idempotency-Key passes straight through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        key = request.headers.get("idempotency-key")
        if not key:
            await self.app(scope, receive, send)
            return
        await self._idempotent(request, key, scope, send)

    async def _idempotent(self, request: Request, key: str, scope: Scope, send: Send) -> None:
        if len(key) > 255:
            await problem(request, 422, "Idempotency-Key is too long", "validation_failed")(
                scope, request.receive, send
            )
            return
        body = await request.body()
        request_hash = hashlib.sha256(request.url.path.encode() + b"\n" + body).hexdigest()
        principal = _principal(request)
        stored = await run_in_threadpool(_lookup, principal, key)
        if stored is not None:
            if stored.request_hash != request_hash:
                response = problem(
                    request,
                    422,
                    "This Idempotency-Key was used with a different request",
                    "idempotency_mismatch",
                )
            else:
                headers = dict(stored.headers)
                headers["Idempotent-Replayed"] = "true"
                response = Response(
                    stored.body,
                    status_code=stored.status,
                    headers=headers,
                    media_type=headers.get("content-type"),
                )
            await response(scope, request.receive, send)
            return

        # The route reads the body already read here; the response is held until it is complete,
        # so that what is stored is exactly what the client gets.
        body_sent = False

        async def replay_body() -> Message:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await request.receive()  # http.disconnect

        start: Message = {}
        chunks: list[bytes] = []

        async def hold(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, replay_body, hold)
        status = start["status"]
        content = b"".join(chunks)
        response = Response(content, status_code=status)
        response.raw_headers = list(start.get("headers", []))
        if status < 500:
            headers = {
                k: v for k, v in response.headers.items() if k.lower() in ("content-type", "location", "etag")
            }
            record = IdempotencyRecord(
                key=key,
                principal=principal,
                request_hash=request_hash,
                status=status,
                headers=headers,
                body=content.decode("utf-8", "replace"),
                created_at=clock.now(),
            )
            await run_in_threadpool(_store, record)
        await response(scope, request.receive, send)


__all__ = ["IdempotencyMiddleware"]
