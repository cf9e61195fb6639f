"""JSON routes: /api/v1/jobs (admins steer background work) and /api/v1/events (read-only feed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from carnet.api.common import Page
from carnet.api.deps import ActorDep, DbDep
from carnet.background import service
from carnet.background.schemas import EventRead, JobRead

router = APIRouter(tags=["jobs and events"])


@router.get("/jobs", response_model=Page[JobRead])
def list_jobs(request: Request, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Background jobs, newest first. Filters: `status` (queued, running, done, failed, cancelled),
    `queue`, `name`; `limit` (≤ 200) and `cursor` to page back. Needs `jobs:read`."""
    rows, cursor = service.list_jobs(db, actor, dict(request.query_params))
    return {"items": rows, "next_cursor": cursor}


@router.get("/jobs/{job_id}", response_model=JobRead)
def get_job(job_id: int, db: DbDep, actor: ActorDep) -> Any:
    return service.get_job(db, actor, job_id)


@router.post("/jobs/{job_id}/retry", response_model=JobRead)
def retry_job(job_id: int, db: DbDep, actor: ActorDep) -> Any:
    """Run a failed, cancelled or waiting job now with fresh attempts (409 otherwise). Needs `jobs:admin`."""
    return service.retry_job(db, actor, job_id)


@router.post("/jobs/{job_id}/cancel", response_model=JobRead)
def cancel_job(job_id: int, db: DbDep, actor: ActorDep) -> Any:
    """A waiting job will never run (409 if it is not waiting). Needs `jobs:admin`."""
    return service.cancel_job(db, actor, job_id)


@router.get("/events", response_model=Page[EventRead])
def list_events(request: Request, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Domain events, newest first. `since=<id>` returns only newer events (poll with the newest id
    you hold); `cursor` pages back; filters `type`, `record_type`, `record_id`. Needs `events:read`."""
    rows, cursor = service.list_events(db, actor, dict(request.query_params))
    return {"items": rows, "next_cursor": cursor}
