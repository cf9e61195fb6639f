"""Idempotency-Key on POST (Stripe's model): the first response is stored for 24 h and replayed
for a retry of the same request; the same key with a different body is refused."""

from __future__ import annotations

import hashlib

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

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


async def idempotency_middleware(request: Request, call_next):  # type: ignore[no-untyped-def]
    key = request.headers.get("idempotency-key")
    if request.method != "POST" or not key or not request.url.path.startswith("/api/"):
        return await call_next(request)
    if len(key) > 255:
        return problem(request, 422, "Idempotency-Key is too long", "validation_failed")
    body = await request.body()
    request_hash = hashlib.sha256(request.url.path.encode() + b"\n" + body).hexdigest()
    principal = _principal(request)
    stored = await run_in_threadpool(_lookup, principal, key)
    if stored is not None:
        if stored.request_hash != request_hash:
            return problem(
                request, 422, "This Idempotency-Key was used with a different request", "idempotency_mismatch"
            )
        headers = dict(stored.headers)
        headers["Idempotent-Replayed"] = "true"
        return Response(
            stored.body, status_code=stored.status, headers=headers, media_type=headers.get("content-type")
        )
    response = await call_next(request)
    if response.status_code >= 500:
        return response
    chunks = [chunk async for chunk in response.body_iterator]  # type: ignore[attr-defined]
    content = b"".join(chunks)
    headers = {k: v for k, v in response.headers.items() if k.lower() in ("content-type", "location", "etag")}
    record = IdempotencyRecord(
        key=key,
        principal=principal,
        request_hash=request_hash,
        status=response.status_code,
        headers=headers,
        body=content.decode("utf-8", "replace"),
        created_at=clock.now(),
    )
    await run_in_threadpool(_store, record)
    return Response(content, status_code=response.status_code, headers=dict(response.headers))


__all__ = ["idempotency_middleware"]
