"""The permission matrix: record type × visibility scope × viewer (role and department) × action,
through the API — list, detail, count-free search, export, update and delete.

Alice (sales, Commercial) owns every record. Expected visibility:
  own:        alice, manager (her department's manager), admin
  department: alice, bob (same department), manager, admin
  all:        everyone
A record outside the viewer's scope answers 404 on every path and never shows in a list or a
search; a visible record the viewer's role may not change answers 403 and stays unchanged.
"""

from __future__ import annotations

import pytest

from carnet.core import permissions
from carnet.deals.pipelines import ensure_default_pipelines

VIEWERS = ("alice", "bob", "manager", "admin", "outsider", "fiona", "reader")
SEES = {
    "own": {"alice", "manager", "admin"},
    "department": {"alice", "bob", "manager", "admin"},
    "all": set(VIEWERS),
}
# (record type, API collection, permission module); searchable types are also checked in search.
TYPES = {
    "organisation": "organisations",
    "contact": "contacts",
    "deal": "deals",
    "activity": "activities",
    "task": "tasks",
}
SEARCHABLE = {"organisation", "contact", "deal"}
EXPORTABLE = {"organisation"}
CAN_UPDATE = {
    "alice": set(TYPES),
    "bob": set(TYPES),
    "manager": set(TYPES),
    "admin": set(TYPES),
    "outsider": set(TYPES),
    "fiona": {"organisation", "contact"},
    "reader": set(),
}
CAN_EXPORT = {"manager", "admin", "fiona"}


def _create(client, record_type: str, db) -> dict:  # type: ignore[no-untyped-def]
    name = f"Matrice {record_type} Zéphyr"
    if record_type == "organisation":
        body = {"name": name}
    elif record_type == "contact":
        body = {"first_name": "Zoé", "last_name": name}
    elif record_type == "deal":
        ensure_default_pipelines(db)
        db.commit()
        body = {"title": name, "amount": "1000"}
    elif record_type == "activity":
        org = client.post("/api/v1/organisations", json={"name": "Support matrice"}).json()
        body = {"kind": "note", "subject": name, "organisation_id": org["id"]}
    else:
        body = {"title": name}
    r = client.post(f"/api/v1/{TYPES[record_type]}", json=body)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.mark.parametrize("scope", ["own", "department", "all"])
@pytest.mark.parametrize("record_type", list(TYPES))
def test_matrix(scope, record_type, api, db):  # type: ignore[no-untyped-def]
    for rt in TYPES:
        permissions.set_scope(db, rt, scope)
    db.commit()
    record = _create(api("alice"), record_type, db)
    collection = f"/api/v1/{TYPES[record_type]}"
    url = f"{collection}/{record['id']}"
    for viewer in VIEWERS:
        client = api(viewer)
        visible = viewer in SEES[scope]
        detail = client.get(url)
        assert detail.status_code == (200 if visible else 404), (viewer, detail.status_code)
        if not visible:
            assert "Zéphyr" not in detail.text
        listed = client.get(collection, params={"limit": 200, "sort": "-id"}).json()["items"]
        assert (record["id"] in [r["id"] for r in listed]) == visible, viewer
        assert client.get(f"{url}/history").status_code == (200 if visible else 404)
        if record_type in SEARCHABLE:
            hits = client.get("/api/v1/search", params={"q": "matrice zephyr"}).json()["items"]
            found = any(h["record_type"] == record_type and h["record_id"] == record["id"] for h in hits)
            assert found == visible, (viewer, "search")
        if record_type in EXPORTABLE:
            r = client.get(f"{collection}/export", params={"format": "csv"})
            if viewer in CAN_EXPORT:
                assert r.status_code == 200
                assert ("Zéphyr" in r.content.decode("utf-8-sig")) == visible, (viewer, "export")
            else:
                assert r.status_code == 403
        patch_field = (
            "name"
            if record_type == "organisation"
            else (
                "last_name"
                if record_type == "contact"
                else ("subject" if record_type == "activity" else "title")
            )
        )
        r = client.patch(url, json={patch_field: f"Changé par {viewer}"})
        expected = 404 if not visible else (200 if record_type in CAN_UPDATE[viewer] else 403)
        assert r.status_code == expected, (viewer, "update", r.status_code, r.text)
        if expected == 200:
            client.patch(url, json={patch_field: record.get(patch_field)})
    # deletes: an invisible viewer gets 404 and the record survives; then the owner deletes it
    for viewer in VIEWERS:
        if viewer not in SEES[scope]:
            assert api(viewer).delete(url).status_code == 404
    assert api("reader").delete(url).status_code in (403, 404)
    assert api("alice").get(url).status_code == 200
    assert api("alice").delete(url).status_code == 204
    assert api("alice").get(url).status_code == 404
