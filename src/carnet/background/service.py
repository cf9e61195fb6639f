"""Reading and steering background jobs, reading domain events. Admins only (jobs:*, events:read)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carnet.core import audit, jobs
from carnet.core.context import Actor
from carnet.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from carnet.core.events import Event

MAX_LIMIT = 200


def require(actor: Actor, permission: str) -> None:
    if not actor.can(permission):
        raise PermissionDenied()


def _limit(raw: Any, default: int = 50) -> int:
    try:
        value = int(raw if raw not in (None, "") else default)
    except (TypeError, ValueError):
        raise ValidationFailed.on("limit", "Invalid filter value") from None
    if not 1 <= value <= MAX_LIMIT:
        raise ValidationFailed.on("limit", "Must be between {low} and {high}", low=1, high=MAX_LIMIT)
    return value


def _id(field: str, raw: Any) -> int | None:
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValidationFailed.on(field, "Invalid filter value") from None
    if value < 0:
        raise ValidationFailed.on(field, "Invalid filter value")
    return value


def list_jobs(db: Session, actor: Actor, params: dict[str, Any]) -> tuple[list[jobs.Job], str | None]:
    """Newest first. Filters: status, queue, name; `cursor` pages back."""
    require(actor, "jobs:read")
    status = params.get("status") or None
    if status is not None and status not in jobs.STATUSES:
        raise ValidationFailed.on("status", "Invalid filter value")
    limit = _limit(params.get("limit"))
    statement = select(jobs.Job)
    if status:
        statement = statement.where(jobs.Job.status == status)
    if params.get("queue"):
        statement = statement.where(jobs.Job.queue == params["queue"])
    if params.get("name"):
        statement = statement.where(jobs.Job.name == params["name"])
    before = _id("cursor", params.get("cursor"))
    if before is not None:
        statement = statement.where(jobs.Job.id < before)
    rows = list(db.scalars(statement.order_by(jobs.Job.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (str(rows[-1].id) if more and rows else None)


def get_job(db: Session, actor: Actor, job_id: int) -> jobs.Job:
    require(actor, "jobs:read")
    job = db.get(jobs.Job, job_id)
    if job is None:
        raise NotFound()
    return job


def counts(db: Session, actor: Actor) -> dict[str, dict[str, int]]:
    """{queue: {status: count}} for the admin page's summary."""
    require(actor, "jobs:read")
    out: dict[str, dict[str, int]] = {}
    for queue, status, count in db.execute(
        select(jobs.Job.queue, jobs.Job.status, func.count()).group_by(jobs.Job.queue, jobs.Job.status)
    ):
        out.setdefault(queue, dict.fromkeys(jobs.STATUSES, 0))[status] = count
    return dict(sorted(out.items()))


def runner_lag(db: Session) -> float:
    return jobs.lag_seconds(db)


def retry_job(db: Session, actor: Actor, job_id: int) -> jobs.Job:
    """Run a failed, cancelled or waiting job now, with its attempts reset."""
    require(actor, "jobs:admin")
    job = get_job(db, actor, job_id)
    before = {"status": job.status, "attempts": job.attempts}
    if jobs.retry_now(db, job_id) is None:
        raise Conflict("Only a failed, cancelled or waiting job can be retried")
    audit.record(
        db,
        actor,
        "update",
        "job",
        job.id,
        audit.diff(before, {"status": job.status, "attempts": 0}),
        f"Retried job {job.name} #{job.id}",
    )
    db.commit()
    return job


def cancel_job(db: Session, actor: Actor, job_id: int) -> jobs.Job:
    """A waiting job will never run."""
    require(actor, "jobs:admin")
    job = get_job(db, actor, job_id)
    if jobs.cancel(db, job_id) is None:
        raise Conflict("Only a waiting job can be cancelled")
    audit.record(
        db,
        actor,
        "update",
        "job",
        job.id,
        audit.diff({"status": "queued"}, {"status": job.status}),
        f"Cancelled job {job.name} #{job.id}",
    )
    db.commit()
    return job


def list_events(db: Session, actor: Actor, params: dict[str, Any]) -> tuple[list[Event], str | None]:
    """Newest first. `since=<id>`: only events after that one (poll with the newest id you have);
    `cursor` pages back; filters `type`, `record_type`, `record_id`."""
    require(actor, "events:read")
    limit = _limit(params.get("limit"))
    statement = select(Event)
    since = _id("since", params.get("since"))
    if since is not None:
        statement = statement.where(Event.id > since)
    before = _id("cursor", params.get("cursor"))
    if before is not None:
        statement = statement.where(Event.id < before)
    if params.get("type"):
        statement = statement.where(Event.type == params["type"])
    if params.get("record_type"):
        statement = statement.where(Event.record_type == params["record_type"])
    record_id = _id("record_id", params.get("record_id"))
    if record_id is not None:
        statement = statement.where(Event.record_id == record_id)
    rows = list(db.scalars(statement.order_by(Event.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (str(rows[-1].id) if more and rows else None)
