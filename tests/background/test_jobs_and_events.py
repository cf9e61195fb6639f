"""Admins see and steer background jobs, and read the events feed; nobody else does."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from carnet.core import clock, events, jobs
from carnet.core.audit import AuditEntry
from carnet.core.context import SYSTEM


@jobs.task("test.background_fail", max_attempts=1)
def _always_fails(payload: dict[str, Any]) -> None:
    raise RuntimeError("receiver answered 500")


@pytest.fixture
def planted(db: Any) -> dict[str, jobs.Job]:
    failed = jobs.enqueue(db, "test.background_fail", {"n": 1})
    waiting = jobs.enqueue(db, "test.background_fail", {"n": 2}, due_at=clock.now() + timedelta(days=1))
    db.commit()
    jobs.run_due()
    db.expire_all()
    return {"failed": failed, "waiting": waiting}


def test_admin_lists_jobs_newest_first_with_filters(api: Any, planted: dict[str, jobs.Job]) -> None:
    admin = api("admin")
    body = admin.get("/api/v1/jobs?name=test.background_fail").json()
    assert [j["id"] for j in body["items"]] == [planted["waiting"].id, planted["failed"].id]
    failed = admin.get("/api/v1/jobs?status=failed&name=test.background_fail").json()["items"]
    assert [(j["id"], j["attempts"], j["status"]) for j in failed] == [(planted["failed"].id, 1, "failed")]
    assert "receiver answered 500" in failed[0]["last_error"]

    page = admin.get("/api/v1/jobs?name=test.background_fail&limit=1").json()
    assert len(page["items"]) == 1 and page["next_cursor"] == str(planted["waiting"].id)
    rest = admin.get(f"/api/v1/jobs?name=test.background_fail&limit=1&cursor={page['next_cursor']}").json()
    assert [j["id"] for j in rest["items"]] == [planted["failed"].id]

    bad = admin.get("/api/v1/jobs?status=exploded")
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "status"
    assert admin.get("/api/v1/jobs?limit=1000").status_code == 422


def test_retry_and_cancel_are_audited_and_refused_when_they_make_no_sense(
    api: Any, db: Any, planted: dict[str, jobs.Job]
) -> None:
    admin = api("admin")
    failed_id, waiting_id = planted["failed"].id, planted["waiting"].id

    retried = admin.post(f"/api/v1/jobs/{failed_id}/retry")
    assert retried.status_code == 200
    assert (retried.json()["status"], retried.json()["attempts"]) == ("queued", 0)
    cancelled = admin.post(f"/api/v1/jobs/{waiting_id}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    again = admin.post(f"/api/v1/jobs/{waiting_id}/cancel")
    assert again.status_code == 409
    assert admin.get(f"/api/v1/jobs/{waiting_id}").json()["status"] == "cancelled"

    summaries = db.scalars(select(AuditEntry.summary).where(AuditEntry.record_type == "job")).all()
    assert sorted(summaries) == [
        f"Cancelled job test.background_fail #{waiting_id}",
        f"Retried job test.background_fail #{failed_id}",
    ]
    assert admin.post("/api/v1/jobs/999999999/retry").status_code == 404


@pytest.mark.parametrize("persona", ["manager", "alice", "fiona", "reader"])
def test_only_admins_see_jobs_and_events(api: Any, planted: dict[str, jobs.Job], persona: str) -> None:
    client = api(persona)
    assert client.get("/api/v1/jobs").status_code == 403
    assert client.post(f"/api/v1/jobs/{planted['failed'].id}/retry").status_code == 403
    assert client.get("/api/v1/events").status_code == 403
    assert api("admin").get(f"/api/v1/jobs/{planted['failed'].id}").json()["status"] == "failed"


def test_events_feed_newest_first_with_since(api: Any, db: Any) -> None:
    first = events.emit(db, SYSTEM, "thing.created", "thing", 1, {"n": 1})
    db.flush()
    second = events.emit(db, SYSTEM, "thing.updated", "thing", 1, {"n": 2})
    third = events.emit(db, SYSTEM, "thing.created", "thing", 2, {"n": 3})
    db.commit()
    admin = api("admin")

    newer = admin.get(f"/api/v1/events?since={first.id}&record_type=thing").json()["items"]
    assert [(e["id"], e["type"], e["payload"]) for e in newer] == [
        (third.id, "thing.created", {"n": 3}),
        (second.id, "thing.updated", {"n": 2}),
    ]
    assert newer[0]["event_id"] == third.event_id
    only = admin.get("/api/v1/events?record_type=thing&record_id=1&type=thing.updated").json()["items"]
    assert [e["id"] for e in only] == [second.id]
    assert admin.get("/api/v1/events?since=abc").status_code == 422


def test_jobs_page_shows_queues_errors_and_retries_with_csrf(web: Any, planted: dict[str, jobs.Job]) -> None:
    admin = web("admin")
    page = admin.get("/settings/jobs?name=test.background_fail")
    assert page.status_code == 200
    assert "receiver answered 500" in page.text
    assert f'data-job-id="{planted["failed"].id}"' in page.text

    no_token = admin.post(f"/settings/jobs/{planted['failed'].id}/retry", data={})
    assert no_token.status_code == 403
    done = admin.post(
        f"/settings/jobs/{planted['failed'].id}/retry",
        data={"csrf_token": admin.csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/settings/jobs"
    assert api_status(admin, planted["failed"].id) == "queued"
    assert web("alice").get("/settings/jobs").status_code == 403


def api_status(client: Any, job_id: int) -> str:
    from carnet.core.db import get_database

    with get_database().session() as session:
        return session.get(jobs.Job, job_id).status
