"""Per-record-type visibility set by admins: own, department, all; audited as permission changes."""

from __future__ import annotations

from sqlalchemy import select

from carnet.core import permissions
from carnet.core.audit import AuditEntry


def _scopes(client) -> dict[str, str]:
    return {i["record_type"]: i["scope"] for i in client.get("/api/v1/visibility").json()["items"]}


def test_scope_own_hides_a_teammates_record_but_not_from_the_manager(api):
    alice, bob, manager, outsider, admin = (api(k) for k in ("alice", "bob", "manager", "outsider", "admin"))
    org = alice.post("/api/v1/organisations", json={"name": "Menuiserie Roux"}).json()
    url = f"/api/v1/organisations/{org['id']}"
    assert _scopes(admin)["organisation"] == "department"
    assert bob.get(url).status_code == 200
    assert outsider.get(url).status_code == 404

    r = admin.put("/api/v1/visibility", json={"scopes": {"organisation": "own"}})
    assert r.status_code == 200
    assert {i["record_type"]: i["scope"] for i in r.json()["items"]}["organisation"] == "own"
    assert bob.get(url).status_code == 404
    assert all(o["id"] != org["id"] for o in bob.get("/api/v1/organisations?limit=200").json()["items"])
    assert alice.get(url).status_code == 200
    assert manager.get(url).status_code == 200
    assert outsider.get(url).status_code == 404

    assert admin.put("/api/v1/visibility", json={"scopes": {"organisation": "all"}}).status_code == 200
    assert outsider.get(url).status_code == 200
    assert bob.get(url).status_code == 200


def test_visibility_change_is_audited(api, db):
    admin = api("admin")
    admin.put("/api/v1/visibility", json={"scopes": {"organisation": "own"}})
    admin.put("/api/v1/visibility", json={"scopes": {"organisation": "own"}})  # no change, no entry
    entries = list(
        db.scalars(select(AuditEntry).where(AuditEntry.record_type == "visibility").order_by(AuditEntry.seq))
    )
    assert len(entries) == 1
    assert entries[0].action == "permission_change"
    assert entries[0].changes == {"organisation": {"old": "department", "new": "own"}}
    assert entries[0].actor_label == "admin@example.fr"


def test_only_admins_set_visibility_and_bad_input_is_refused(api, db):
    for who in ("alice", "manager", "reader"):
        r = api(who).put("/api/v1/visibility", json={"scopes": {"organisation": "all"}})
        assert r.status_code == 403
        assert _scopes(api(who))["organisation"] == "department"
    admin = api("admin")
    r = admin.put("/api/v1/visibility", json={"scopes": {"organisation": "everyone", "spaceship": "all"}})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"scopes.organisation", "scopes.spaceship"}
    assert admin.put("/api/v1/visibility", json={"scopes": {}}).status_code == 422
    assert admin.put("/api/v1/visibility", json={"organisation": "all"}).status_code == 422
    assert permissions.scope_for(db, "organisation") == "department"


def test_the_token_query_reads_every_rule_so_the_request_reads_none_again(db, personas):
    from carnet.accounts import service as accounts

    assert accounts.token_actor(db, personas["alice"].token) is not None
    assert db.info["visibility_scopes"] == {}  # no rule saved: every record type has the default
    permissions.set_scope(db, "organisation", "own")
    permissions.set_scope(db, "contact", "all")
    db.flush()
    assert accounts.token_actor(db, personas["alice"].token) is not None
    assert db.info["visibility_scopes"] == {"organisation": "own", "contact": "all"}
    assert permissions.scope_for(db, "deal") == "department"
    # set_scope forgets what was read: the next read sees the change
    permissions.set_scope(db, "contact", "own")
    assert permissions.scope_for(db, "contact") == "own"
