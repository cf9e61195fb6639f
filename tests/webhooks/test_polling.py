"""Polling fallback for Zapier and Make triggers: every list reads newest first with
`created_since` / `updated_since` and `sort=-created_at` / `-updated_at` (core/listing.py, shown
on contacts and tasks)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from carnet.core import clock

from .conftest import NOW


def _iso(moment: Any) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _make(api: Any, path: str, bodies: list[dict[str, Any]]) -> list[int]:
    ids = []
    for body in bodies:
        r = api("alice").post(path, json=body)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
        clock.advance(timedelta(minutes=10))
    return ids


def test_contacts_new_since_newest_first(api: Any) -> None:
    first, second, third = _make(
        api, "/api/v1/contacts", [{"first_name": "A", "last_name": n} for n in ("Un", "Deux", "Trois")]
    )
    since = _iso(NOW + timedelta(minutes=10))
    r = api("alice").get(f"/api/v1/contacts?created_since={since}&sort=-created_at")
    assert r.status_code == 200
    assert [c["id"] for c in r.json()["items"]] == [third, second]

    clock.advance(timedelta(hours=1))
    touched_at = clock.now()
    assert api("alice").patch(f"/api/v1/contacts/{first}", json={"job_title": "Gérante"}).status_code == 200
    r = api("alice").get(f"/api/v1/contacts?updated_since={_iso(touched_at)}&sort=-updated_at")
    assert [c["id"] for c in r.json()["items"]] == [first]
    page = api("alice").get(f"/api/v1/contacts?created_since={_iso(NOW)}&sort=-created_at&limit=2").json()
    rest = (
        api("alice")
        .get(
            f"/api/v1/contacts?created_since={_iso(NOW)}&sort=-created_at&limit=2&cursor={page['next_cursor']}"
        )
        .json()
    )
    assert [c["id"] for c in page["items"] + rest["items"]] == [third, second, first]


def test_tasks_new_since_newest_first(api: Any) -> None:
    first, second = _make(api, "/api/v1/tasks", [{"title": "Appeler"}, {"title": "Relancer"}])
    r = api("alice").get(f"/api/v1/tasks?created_since={_iso(NOW)}&sort=-created_at")
    assert [t["id"] for t in r.json()["items"]] == [second, first]
    clock.advance(timedelta(hours=1))
    touched_at = clock.now()
    api("alice").post(f"/api/v1/tasks/{first}/complete")
    r = api("alice").get(f"/api/v1/tasks?updated_since={_iso(touched_at)}&sort=-updated_at")
    assert [(t["id"], t["status"]) for t in r.json()["items"]] == [(first, "done")]


def test_bad_polling_parameters_are_field_errors(api: Any) -> None:
    r = api("alice").get("/api/v1/contacts?created_since=yesterday")
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "created_since"
    # the audit trail has no created_at: a field error, never a 500
    r = api("admin").get("/api/v1/audit?created_since=2026-01-01T00:00:00Z")
    assert r.status_code == 422
    assert r.json()["errors"][0] == {
        "field": "created_since",
        "code": "unknown_filter",
        "message": "Filtre inconnu",
    }
