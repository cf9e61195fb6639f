"""Organisations over the API: CRUD, validation, visibility, ETags, audit and events."""

from __future__ import annotations

from sqlalchemy import select

from carnet.core.audit import AuditEntry
from carnet.core.events import Event


def test_create_read_update_delete(api, db):
    alice = api("alice")
    r = alice.post(
        "/api/v1/organisations",
        json={
            "name": "Société Générale",
            "siren": "552 120 222",
            "phones": ["01 42 14 20 00"],
            "tags": ["banque"],
        },
    )
    assert r.status_code == 201, r.text
    org = r.json()
    assert org["siren"] == "552120222"
    assert org["phones"] == ["+33142142000"]
    assert org["tags"] == ["banque"]
    assert r.headers["etag"] == '"1"'

    r = alice.patch(f"/api/v1/organisations/{org['id']}", json={"city": "Paris"}, headers={"If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["city"] == "Paris" and r.json()["version"] == 2

    r = alice.patch(f"/api/v1/organisations/{org['id']}", json={"city": "Lyon"}, headers={"If-Match": '"1"'})
    assert r.status_code == 412
    assert alice.get(f"/api/v1/organisations/{org['id']}").json()["city"] == "Paris"

    assert alice.delete(f"/api/v1/organisations/{org['id']}").status_code == 204
    assert alice.get(f"/api/v1/organisations/{org['id']}").status_code == 404
    types = [
        e.type
        for e in db.scalars(
            select(Event).where(Event.record_id == org["id"], Event.record_type == "organisation")
        )
    ]
    assert types == ["organisation.created", "organisation.updated", "organisation.deleted"]
    actions = [
        a.action
        for a in db.scalars(
            select(AuditEntry)
            .where(AuditEntry.record_type == "organisation", AuditEntry.record_id == org["id"])
            .order_by(AuditEntry.seq)
        )
    ]
    assert actions == ["create", "update", "delete"]


def test_invalid_siren_is_a_field_error_and_nothing_is_stored(api, db):
    alice = api("alice")
    before = alice.get("/api/v1/organisations").json()["items"]
    r = alice.post("/api/v1/organisations", json={"name": "Mauvais", "siren": "732829321"})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["errors"][0]["field"] == "siren"
    assert alice.get("/api/v1/organisations").json()["items"] == before


def test_bad_input_never_500(api):
    alice = api("alice")
    for payload in (
        {"name": 12},
        {},
        {"name": "x" * 500},
        {"name": "ok", "headcount": "many"},
        {"name": "ok", "unknown": 1},
        {"name": "ok", "emails": "not-a-list"},
        {"name": "ok", "revenue_history": {"abc": "x"}},
        {"name": "Robert'); DROP TABLE organisations;--"},
        {"name": "ok", "custom_fields": {"nope": 1}},
        {"name": "ok", "parent_id": 999999},
    ):
        r = alice.post("/api/v1/organisations", json=payload)
        assert r.status_code in (201, 422), (payload, r.status_code, r.text)
    assert (
        alice.post(
            "/api/v1/organisations", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )
    assert alice.get("/api/v1/organisations/abc").status_code == 422
    assert alice.get("/api/v1/organisations?limit=1000").status_code == 422
    assert alice.get("/api/v1/organisations?cursor=zzz").status_code == 422
    assert alice.get("/api/v1/organisations?nosuchfield=1").status_code == 422


def test_visibility_by_department(api):
    alice, bob, outsider, manager, admin = (
        api("alice"),
        api("bob"),
        api("outsider"),
        api("manager"),
        api("admin"),
    )
    org = alice.post("/api/v1/organisations", json={"name": "Boulangerie Martin"}).json()
    assert bob.get(f"/api/v1/organisations/{org['id']}").status_code == 200  # same department
    assert manager.get(f"/api/v1/organisations/{org['id']}").status_code == 200
    assert admin.get(f"/api/v1/organisations/{org['id']}").status_code == 200
    r = outsider.get(f"/api/v1/organisations/{org['id']}")
    assert r.status_code == 404 and "Boulangerie" not in r.text
    assert all(o["id"] != org["id"] for o in outsider.get("/api/v1/organisations?limit=200").json()["items"])
    assert outsider.patch(f"/api/v1/organisations/{org['id']}", json={"name": "x"}).status_code == 404


def test_pagination_and_filters(api):
    alice = api("alice")
    ids = [
        alice.post(
            "/api/v1/organisations",
            json={"name": f"Org {i:02d}", "city": "Lyon" if i % 2 else "Paris", "headcount": i},
        ).json()["id"]
        for i in range(7)
    ]
    seen, cursor = [], None
    while True:
        r = alice.get(
            "/api/v1/organisations",
            params={"limit": 3, "sort": "name", "city": "Lyon", **({"cursor": cursor} if cursor else {})},
        )
        assert r.status_code == 200
        seen += [o["name"] for o in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert seen == ["Org 01", "Org 03", "Org 05"]
    r = alice.get("/api/v1/organisations", params={"headcount__gte": 5, "sort": "-headcount"})
    assert [o["name"] for o in r.json()["items"]][:2] == ["Org 06", "Org 05"]
    assert len(ids) == 7


def test_idempotency_key_replays(api):
    alice = api("alice")
    headers = {"Idempotency-Key": "abc-123"}
    r1 = alice.post("/api/v1/organisations", json={"name": "Une fois"}, headers=headers)
    r2 = alice.post("/api/v1/organisations", json={"name": "Une fois"}, headers=headers)
    assert r1.status_code == r2.status_code == 201
    assert r1.json()["id"] == r2.json()["id"]
    assert r2.headers.get("idempotent-replayed") == "true"
    assert alice.post("/api/v1/organisations", json={"name": "Autre"}, headers=headers).status_code == 422


def test_read_only_cannot_write(api):
    r = api("reader").post("/api/v1/organisations", json={"name": "Nope"})
    assert r.status_code == 403


def test_unauthenticated(anon):
    r = anon.get("/api/v1/organisations")
    assert r.status_code == 401
    assert r.json()["status"] == 401


def test_huge_ids_and_long_text_are_user_errors(api, web):
    alice = api("alice")
    assert alice.get("/api/v1/organisations/99999999999").status_code == 404
    assert alice.get("/api/v1/organisations/99999999999/history").status_code == 404
    page = web("alice")
    r = page.post("/organisations/new", data={"csrf_token": page.csrf, "name": "x" * 300})
    assert r.status_code == 422 and 'data-error-for="name"' in r.text


def test_out_of_range_filter_is_a_422(api):
    assert (
        api("alice").get("/api/v1/organisations", params={"owner_id": "99999999999999999999"}).status_code
        == 422
    )
