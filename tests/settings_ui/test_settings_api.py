"""Custom fields, tags, saved views and the audit trail over the API."""

from __future__ import annotations

from sqlalchemy import func, select

from carnet.core.audit import AuditEntry
from carnet.core.customfields import CustomFieldDefinition
from carnet.core.tags import Tag
from carnet.settings_ui.models import SavedView


def _fields(response) -> dict[str, str]:
    return {e["field"]: e["code"] for e in response.json().get("errors", [])}


def _count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


# -- custom fields ------------------------------------------------------------------------------------------


SEGMENT = {
    "record_type": "organisation",
    "key": "segment",
    "label": "Segment",
    "field_type": "select",
    "options": ["PME", "ETI", "Grand compte"],
    "default": "PME",
    "help_text": "Taille commerciale",
}


def test_custom_field_crud_and_use_on_records(api, db):
    admin = api("admin")
    r = admin.post("/api/v1/custom-fields", json=SEGMENT)
    assert r.status_code == 201, r.text
    defn = r.json()
    assert (defn["key"], defn["options"], defn["default"], defn["required"]) == (
        "segment",
        ["PME", "ETI", "Grand compte"],
        "PME",
        False,
    )
    org = api("alice").post("/api/v1/organisations", json={"name": "Avec segment"}).json()
    assert org["custom_fields"] == {"segment": "PME"}

    url = f"/api/v1/custom-fields/{defn['id']}"
    r = admin.patch(url, json={"label": "Segment client", "position": 3, "default": "ETI"})
    assert r.status_code == 200
    assert (r.json()["label"], r.json()["position"], r.json()["default"]) == ("Segment client", 3, "ETI")
    listed = admin.get("/api/v1/custom-fields?record_type=organisation").json()["items"]
    assert [d["key"] for d in listed] == ["segment"]
    assert api("alice").get(url).json()["label"] == "Segment client"  # everyone may read definitions

    assert admin.delete(url).status_code == 204
    assert admin.get(url).status_code == 404
    actions = [
        a.action
        for a in db.scalars(
            select(AuditEntry).where(AuditEntry.record_type == "custom_field").order_by(AuditEntry.seq)
        )
    ]
    assert actions == ["create", "update", "delete"]


def test_custom_field_bad_input_is_field_errors(api, db):
    admin = api("admin")
    r = admin.post("/api/v1/custom-fields", json={**SEGMENT, "default": "Artisan"})
    assert r.status_code == 422 and _fields(r) == {"default": "invalid_choice"}
    r = admin.post("/api/v1/custom-fields", json={**SEGMENT, "options": []})
    assert r.status_code == 422 and "options" in _fields(r)
    r = admin.post(
        "/api/v1/custom-fields",
        json={"record_type": "spaceship", "key": "Bad Key", "label": "X", "field_type": "colour"},
    )
    assert r.status_code == 422 and _fields(r) == {
        "record_type": "unknown",
        "key": "invalid",
        "field_type": "unknown",
    }
    r = admin.post(
        "/api/v1/custom-fields",
        json={
            "record_type": "organisation",
            "key": "budget",
            "label": "Budget",
            "field_type": "money",
            "default": "abc",
        },
    )
    assert r.status_code == 422 and _fields(r) == {"default": "invalid_type"}
    r = admin.post("/api/v1/custom-fields", json={**SEGMENT, "position": "first"})
    assert r.status_code == 422
    assert _count(db, CustomFieldDefinition) == 0

    assert admin.post("/api/v1/custom-fields", json=SEGMENT).status_code == 201
    r = admin.post("/api/v1/custom-fields", json=SEGMENT)
    assert r.status_code == 422 and _fields(r) == {"key": "unique"}
    assert admin.get("/api/v1/custom-fields/424242").status_code == 404


def test_custom_fields_non_admin_is_refused_and_nothing_changes(api, db):
    defn = api("admin").post("/api/v1/custom-fields", json=SEGMENT).json()
    for who in ("alice", "manager"):
        client = api(who)
        assert client.post("/api/v1/custom-fields", json={**SEGMENT, "key": "other"}).status_code == 403
        assert (
            client.patch(f"/api/v1/custom-fields/{defn['id']}", json={"label": "Pirate"}).status_code == 403
        )
        assert client.delete(f"/api/v1/custom-fields/{defn['id']}").status_code == 403
    assert _count(db, CustomFieldDefinition) == 1
    assert api("admin").get(f"/api/v1/custom-fields/{defn['id']}").json()["label"] == "Segment"


def test_required_custom_field_cannot_be_deleted(api):
    admin = api("admin")
    defn = admin.post("/api/v1/custom-fields", json={**SEGMENT, "required": True}).json()
    assert admin.delete(f"/api/v1/custom-fields/{defn['id']}").status_code == 409
    assert admin.get(f"/api/v1/custom-fields/{defn['id']}").status_code == 200


# -- tags ---------------------------------------------------------------------------------------------------


def test_tags_crud_follows_permissions(api, db):
    alice, manager, admin = api("alice"), api("manager"), api("admin")
    r = alice.post("/api/v1/tags", json={"record_type": "organisation", "name": "VIP", "color": "#d97706"})
    assert r.status_code == 201, r.text
    tag = r.json()
    url = f"/api/v1/tags/{tag['id']}"
    org = alice.post("/api/v1/organisations", json={"name": "Étiquetée", "tags": ["VIP"]}).json()

    assert alice.patch(url, json={"name": "Très VIP"}).status_code == 403  # sales: create only
    r = manager.patch(url, json={"name": "Grand compte"})
    assert r.status_code == 200 and r.json()["name"] == "Grand compte"
    assert alice.get(f"/api/v1/organisations/{org['id']}").json()["tags"] == ["Grand compte"]

    assert manager.delete(url).status_code == 403
    assert admin.delete(url).status_code == 204
    assert admin.get(url).status_code == 404
    assert alice.get(f"/api/v1/organisations/{org['id']}").json()["tags"] == []
    assert [t["name"] for t in admin.get("/api/v1/tags?record_type=organisation").json()["items"]] == []


def test_tag_bad_input(api, db):
    admin = api("admin")
    admin.post("/api/v1/tags", json={"record_type": "organisation", "name": "VIP"})
    r = admin.post("/api/v1/tags", json={"record_type": "organisation", "name": "vip"})
    assert r.status_code == 422 and _fields(r) == {"name": "unique"}
    r = admin.post("/api/v1/tags", json={"record_type": "nope", "name": "A", "color": "red;x:url(y)"})
    assert r.status_code == 422 and _fields(r) == {"record_type": "unknown", "color": "invalid"}
    r = admin.post("/api/v1/tags", json={"record_type": "organisation", "name": "a,b"})
    assert r.status_code == 422 and _fields(r) == {"name": "invalid"}
    assert (
        api("reader").post("/api/v1/tags", json={"record_type": "organisation", "name": "R"}).status_code
        == 403
    )
    assert _count(db, Tag) == 1


# -- saved views ------------------------------------------------------------------------------------------------


def test_saved_views_belong_to_their_owner(api, db):
    alice, bob = api("alice"), api("bob")
    r = alice.post(
        "/api/v1/saved-views",
        json={
            "record_type": "organisation",
            "name": "Lyon",
            "query": "?city=Lyon&sort=-created_at&cursor=abc",
            "columns": ["name", "city", "cf.segment"],
        },
    )
    assert r.status_code == 201, r.text
    view = r.json()
    assert (view["query"], view["columns"]) == ("city=Lyon&sort=-created_at", ["name", "city", "cf.segment"])
    assert [v["name"] for v in alice.get("/api/v1/saved-views?record_type=organisation").json()["items"]] == [
        "Lyon"
    ]

    assert bob.get("/api/v1/saved-views").json()["items"] == []
    assert bob.get(f"/api/v1/saved-views/{view['id']}").status_code == 404
    assert bob.delete(f"/api/v1/saved-views/{view['id']}").status_code == 404
    assert db.get(SavedView, view["id"]) is not None

    r = alice.post("/api/v1/saved-views", json={"record_type": "organisation", "name": "lyon"})
    assert r.status_code == 422 and _fields(r) == {"name": "unique"}
    # bob may use the same name for his own view
    assert (
        bob.post("/api/v1/saved-views", json={"record_type": "organisation", "name": "Lyon"}).status_code
        == 201
    )

    assert alice.delete(f"/api/v1/saved-views/{view['id']}").status_code == 204
    assert alice.get("/api/v1/saved-views").json()["items"] == []


def test_saved_view_bad_input(api):
    alice = api("alice")
    r = alice.post(
        "/api/v1/saved-views",
        json={"record_type": "spaceship", "name": " ", "columns": ["ok", "DROP TABLE"]},
    )
    assert r.status_code == 422 and _fields(r) == {
        "record_type": "unknown",
        "name": "required",
        "columns": "invalid",
    }
    assert alice.post("/api/v1/saved-views", json={"record_type": "organisation"}).status_code == 422
    assert alice.get("/api/v1/saved-views?updated_since=2026-01-01").status_code == 422


# -- audit --------------------------------------------------------------------------------------------------------


def test_audit_api_filters_and_scope(api, db, personas):
    admin, manager = api("admin"), api("manager")
    theirs = api("outsider").post("/api/v1/organisations", json={"name": "Chez Finance"}).json()
    ours = api("alice").post("/api/v1/organisations", json={"name": "Chez Commercial"}).json()

    r = admin.get(f"/api/v1/audit?record_type=organisation&record_id={theirs['id']}")
    assert r.status_code == 200
    assert [(e["action"], e["actor_label"]) for e in r.json()["items"]] == [("create", "outsider@example.fr")]
    assert r.json()["items"][0]["changes"]["name"] == {"old": None, "new": "Chez Finance"}

    seen = {
        e["record_id"]
        for e in manager.get("/api/v1/audit?record_type=organisation&limit=200").json()["items"]
    }
    assert ours["id"] in seen and theirs["id"] not in seen
    assert api("alice").get("/api/v1/audit").status_code == 403

    newest_first = [e["seq"] for e in admin.get("/api/v1/audit?limit=5").json()["items"]]
    assert newest_first == sorted(newest_first, reverse=True)
    assert admin.get("/api/v1/audit?occurred_at__gte=yesterday").status_code == 422
    assert admin.get("/api/v1/audit?record_id=99999999999").status_code == 422
