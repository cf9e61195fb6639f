"""Accounts over the API: me, departments, roles, users; validation, permissions and audit."""

from __future__ import annotations

from sqlalchemy import func, select

from carnet.accounts import service as accounts
from carnet.accounts.models import Department, Role, User
from carnet.core.audit import AuditEntry
from carnet.core.context import SYSTEM

PASSWORD = "a long enough passphrase"


def _audit(db, record_type: str, record_id: int | None = None) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.record_type == record_type).order_by(AuditEntry.seq)
    if record_id is not None:
        stmt = stmt.where(AuditEntry.record_id == record_id)
    return list(db.scalars(stmt))


def _count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


def _fields(response) -> dict[str, str]:
    return {e["field"]: e["code"] for e in response.json().get("errors", [])}


# -- me -----------------------------------------------------------------------------------------------


def test_me_shows_role_department_and_permissions(api, personas):
    r = api("alice").get("/api/v1/me")
    assert r.status_code == 200
    me = r.json()
    assert me["email"] == "alice@example.fr"
    assert me["role"]["name"] == "sales"
    assert me["department"]["name"] == "Commercial"
    assert "organisations:create" in me["permissions"]
    assert "users:create" not in me["permissions"]
    assert not {"password_hash", "totp_secret", "totp_enabled", "totp_last_step"} & set(me)


def test_update_me_changes_only_my_settings(api, db, personas):
    alice = api("alice")
    r = alice.patch(
        "/api/v1/me", json={"first_name": "Alicia", "language": "en", "timezone": "America/Toronto"}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["first_name"], r.json()["language"], r.json()["timezone"]) == (
        "Alicia",
        "en",
        "America/Toronto",
    )
    r = alice.patch("/api/v1/me", json={"role_id": 1})
    assert r.status_code == 422 and _fields(r) == {"role_id": "extra_forbidden"}
    r = alice.patch("/api/v1/me", json={"language": "de", "timezone": "Mars/Olympus"})
    assert r.status_code == 422 and set(_fields(r)) == {"language", "timezone"}
    user = db.get(User, personas["alice"].id)
    db.refresh(user)
    assert (user.language, user.timezone, user.role.name) == ("en", "America/Toronto", "sales")


def test_change_my_password_needs_the_current_one(api, anon, personas):
    alice = api("alice")
    r = alice.post("/api/v1/me/password", json={"current_password": "wrong one!!", "password": PASSWORD})
    assert r.status_code == 422 and _fields(r) == {"current_password": "invalid"}
    r = alice.post(
        "/api/v1/me/password", json={"current_password": "correct horse battery staple", "password": "short"}
    )
    assert r.status_code == 422 and _fields(r) == {"password": "weak_password"}
    r = alice.post(
        "/api/v1/me/password", json={"current_password": "correct horse battery staple", "password": PASSWORD}
    )
    assert r.status_code == 204
    login = anon.post(
        "/login", data={"email": "alice@example.fr", "password": PASSWORD}, follow_redirects=False
    )
    assert login.status_code == 303


# -- departments ----------------------------------------------------------------------------------------


def test_departments_crud_with_etags_and_audit(api, db):
    admin = api("admin")
    r = admin.post("/api/v1/departments", json={"name": "Marketing digital"})
    assert r.status_code == 201, r.text
    dept = r.json()
    assert (dept["code"], dept["version"], r.headers["etag"]) == ("marketing-digital", 1, '"1"')

    r = admin.post("/api/v1/departments", json={"name": "Marketing digital"})
    assert r.status_code == 422 and _fields(r) == {"name": "unique", "code": "unique"}
    r = admin.post("/api/v1/departments", json={"name": "X", "code": "Pas Valide"})
    assert r.status_code == 422 and _fields(r) == {"code": "invalid"}

    url = f"/api/v1/departments/{dept['id']}"
    r = admin.patch(url, json={"description": "Acquisition"}, headers={"If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["description"] == "Acquisition" and r.json()["version"] == 2
    assert admin.patch(url, json={"name": "Y"}, headers={"If-Match": '"1"'}).status_code == 412
    assert admin.get(url).json()["name"] == "Marketing digital"

    assert admin.delete(url).status_code == 204
    assert admin.get(url).status_code == 404
    assert [a.action for a in _audit(db, "department", dept["id"])] == ["create", "update", "delete"]
    assert _audit(db, "department", dept["id"])[1].changes == {
        "description": {"old": "", "new": "Acquisition"}
    }


def test_department_with_users_cannot_be_deleted(api, personas):
    dept_id = personas["alice"].department_id
    r = api("admin").delete(f"/api/v1/departments/{dept_id}")
    assert r.status_code == 409
    assert api("admin").get(f"/api/v1/departments/{dept_id}").status_code == 200


def test_departments_non_admin_is_refused_and_nothing_changes(api, db, personas):
    before = _count(db, Department)
    alice = api("alice")
    assert alice.post("/api/v1/departments", json={"name": "Pirates"}).status_code == 403
    dept_id = personas["alice"].department_id
    assert alice.patch(f"/api/v1/departments/{dept_id}", json={"name": "Pirates"}).status_code == 403
    assert alice.delete(f"/api/v1/departments/{dept_id}").status_code == 403
    assert _count(db, Department) == before
    assert alice.get(f"/api/v1/departments/{dept_id}").json()["name"] == "Commercial"
    assert alice.get("/api/v1/departments/999999").status_code == 404
    names = [d["name"] for d in alice.get("/api/v1/departments").json()["items"]]
    assert names == ["Commercial", "Direction", "Finance", "Support"]


# -- roles ---------------------------------------------------------------------------------------------------


def test_roles_crud_is_audited_as_permission_change(api, db):
    admin = api("admin")
    r = admin.post(
        "/api/v1/roles",
        json={
            "name": "support-lead",
            "label": "Support lead",
            "permissions": ["contacts:update", "contacts:read"],
        },
    )
    assert r.status_code == 201, r.text
    role = r.json()
    assert role["permissions"] == ["contacts:read", "contacts:update"] and role["builtin"] is False

    r = admin.patch(f"/api/v1/roles/{role['id']}", json={"permissions": ["contacts:read", "deals:read"]})
    assert r.status_code == 200 and r.json()["permissions"] == ["contacts:read", "deals:read"]
    assert admin.delete(f"/api/v1/roles/{role['id']}").status_code == 204
    assert admin.get(f"/api/v1/roles/{role['id']}").status_code == 404

    entries = _audit(db, "role", role["id"])
    assert [e.action for e in entries] == ["permission_change"] * 3
    assert entries[0].changes["permissions"] == {"old": None, "new": ["contacts:read", "contacts:update"]}
    assert entries[1].changes == {
        "permissions": {"old": ["contacts:read", "contacts:update"], "new": ["contacts:read", "deals:read"]}
    }
    assert entries[1].actor_label == "admin@example.fr"


def test_role_validation_and_protected_roles(api, db):
    admin = api("admin")
    r = admin.post("/api/v1/roles", json={"name": "Bad Name!", "permissions": ["contacts:fly"]})
    assert r.status_code == 422 and _fields(r) == {"name": "invalid", "permissions": "unknown"}
    r = admin.post("/api/v1/roles", json={"name": "sales"})
    assert r.status_code == 422 and _fields(r) == {"name": "unique"}
    r = admin.post("/api/v1/roles", json={"name": "x", "permissions": "contacts:read"})
    assert r.status_code == 422
    roles = {r["name"]: r for r in admin.get("/api/v1/roles").json()["items"]}
    assert admin.delete(f"/api/v1/roles/{roles['sales']['id']}").status_code == 409
    assert admin.patch(f"/api/v1/roles/{roles['admin']['id']}", json={"permissions": []}).status_code == 409
    assert (
        admin.get(f"/api/v1/roles/{roles['admin']['id']}").json()["permissions"]
        == roles["admin"]["permissions"]
    )


def test_roles_non_admin_is_refused_and_nothing_changes(api, db):
    before = _count(db, Role)
    for who in ("alice", "manager", "reader"):
        client = api(who)
        assert client.post("/api/v1/roles", json={"name": "sneaky", "permissions": []}).status_code == 403
        sales = next(r for r in client.get("/api/v1/roles").json()["items"] if r["name"] == "sales")
        r = client.patch(f"/api/v1/roles/{sales['id']}", json={"permissions": ["users:admin"]})
        assert r.status_code == 403
    assert _count(db, Role) == before
    sales_role = db.scalar(select(Role).where(Role.name == "sales"))
    assert "users:admin" not in sales_role.permissions


def test_custom_role_with_only_contacts_read_cannot_create_organisations(api, db):
    admin = api("admin")
    role = admin.post(
        "/api/v1/roles", json={"name": "contacts-reader", "permissions": ["contacts:read"]}
    ).json()
    user = admin.post(
        "/api/v1/users",
        json={"email": "lecteur@example.fr", "password": PASSWORD, "role_id": role["id"]},
    ).json()
    _token, secret = accounts.create_token(db, SYSTEM, accounts.get_user(db, user["id"]), "t")
    client = api("admin")
    client.headers["Authorization"] = f"Bearer {secret}"
    assert client.get("/api/v1/me").json()["permissions"] == ["contacts:read"]
    r = client.post("/api/v1/organisations", json={"name": "Interdite"})
    assert r.status_code == 403
    assert client.get("/api/v1/organisations").status_code == 403
    names = [o["name"] for o in admin.get("/api/v1/organisations?limit=200").json()["items"]]
    assert "Interdite" not in names


# -- users ---------------------------------------------------------------------------------------------------


def test_users_crud_never_exposes_secrets(api, db, personas):
    admin = api("admin")
    sales = db.scalar(select(Role.id).where(Role.name == "sales"))
    dept = personas["outsider"].department_id
    r = admin.post(
        "/api/v1/users",
        json={
            "email": "Nadia.Benali@Example.FR",
            "password": PASSWORD,
            "first_name": "Nadia",
            "last_name": "Benali",
            "role_id": sales,
            "department_id": dept,
            "manager_id": personas["manager"].id,
        },
    )
    assert r.status_code == 201, r.text
    user = r.json()
    assert (user["email"], user["full_name"], user["department_id"]) == (
        "nadia.benali@example.fr",
        "Nadia Benali",
        dept,
    )
    assert not [k for k in user if "password" in k or "totp" in k]
    assert all("password_hash" not in u for u in admin.get("/api/v1/users?limit=200").json()["items"])

    url = f"/api/v1/users/{user['id']}"
    r = admin.patch(url, json={"active": False, "role": "finance"})
    assert r.status_code == 200 and r.json()["active"] is False
    assert r.json()["role_id"] == db.scalar(select(Role.id).where(Role.name == "finance"))
    entries = _audit(db, "user", user["id"])
    assert [e.action for e in entries] == ["create", "permission_change"]
    assert entries[1].changes["active"] == {"old": True, "new": False}

    filtered = admin.get(f"/api/v1/users?department_id={dept}&sort=email").json()["items"]
    assert [u["email"] for u in filtered] == [
        "fiona@example.fr",
        "nadia.benali@example.fr",
        "outsider@example.fr",
    ]
    assert [u["email"] for u in admin.get("/api/v1/users?q=benali").json()["items"]] == [
        "nadia.benali@example.fr"
    ]

    assert admin.delete(url).status_code == 204
    assert admin.get(url).status_code == 404
    assert admin.get("/api/v1/users/123456789").status_code == 404


def test_user_validation_errors_are_field_errors(api, db):
    admin = api("admin")
    before = _count(db, User)
    r = admin.post("/api/v1/users", json={"email": "x@example.fr", "role": "sales"})
    assert r.status_code == 422 and _fields(r) == {"password": "missing"}
    r = admin.post(
        "/api/v1/users",
        json={"email": "not-an-email", "password": "short", "role": "nope", "department_id": 999999},
    )
    assert r.status_code == 422
    assert _fields(r) == {
        "email": "invalid_email",
        "password": "weak_password",
        "role": "unknown",
        "department_id": "unknown",
    }
    r = admin.post("/api/v1/users", json={"email": "alice@example.fr", "password": PASSWORD, "role": "sales"})
    assert r.status_code == 422 and _fields(r) == {"email": "unique"}
    r = admin.post(
        "/api/v1/users", json={"email": "y@example.fr", "password": PASSWORD, "role_id": 10**12, "x": 1}
    )
    assert r.status_code == 422
    assert admin.get("/api/v1/users?cf.x=1").status_code == 422
    assert admin.get("/api/v1/users?id=99999999999999999999").status_code == 422
    assert admin.get("/api/v1/users/99999999999999999999").status_code == 404
    assert _count(db, User) == before


def test_users_non_admin_is_refused_and_nothing_changes(api, db, personas):
    before = _count(db, User)
    alice, manager = api("alice"), api("manager")
    r = alice.post("/api/v1/users", json={"email": "z@example.fr", "password": PASSWORD, "role": "admin"})
    assert r.status_code == 403
    r = manager.patch(f"/api/v1/users/{personas['bob'].id}", json={"role": "admin", "active": False})
    assert r.status_code == 403
    assert alice.delete(f"/api/v1/users/{personas['bob'].id}").status_code == 403
    r = alice.post(f"/api/v1/users/{personas['bob'].id}/password", json={"password": PASSWORD})
    assert r.status_code == 403
    assert _count(db, User) == before
    bob = db.get(User, personas["bob"].id)
    db.refresh(bob)
    assert (bob.active, bob.role.name) == (True, "sales")


def test_no_one_grants_rights_they_do_not_hold(api, db, personas):
    """A role holding users:create/update but not roles:admin cannot hand out a stronger role."""
    admin = api("admin")
    role = admin.post(
        "/api/v1/roles", json={"name": "hr", "permissions": ["users:read", "users:create", "users:update"]}
    ).json()
    hr = admin.post(
        "/api/v1/users", json={"email": "rh@example.fr", "password": PASSWORD, "role_id": role["id"]}
    ).json()
    _token, secret = accounts.create_token(db, SYSTEM, accounts.get_user(db, hr["id"]), "t")
    client = api("admin")
    client.headers["Authorization"] = f"Bearer {secret}"
    r = client.post("/api/v1/users", json={"email": "m@example.fr", "password": PASSWORD, "role": "manager"})
    assert r.status_code == 422 and _fields(r) == {"role": "forbidden"}
    r = client.patch(f"/api/v1/users/{hr['id']}", json={"role": "admin"})
    assert r.status_code == 422
    # Same permissions but the manager flag widens what the holder sees: refused too.
    admin.post("/api/v1/roles", json={"name": "team-lead", "permissions": ["users:read"], "is_manager": True})
    r = client.post(
        "/api/v1/users", json={"email": "tl@example.fr", "password": PASSWORD, "role": "team-lead"}
    )
    assert r.status_code == 422 and _fields(r) == {"role": "forbidden"}
    r = client.patch(f"/api/v1/users/{personas['admin'].id}", json={"first_name": "Pwned"})
    assert r.status_code == 403
    r = client.post(
        "/api/v1/users", json={"email": "ok@example.fr", "password": PASSWORD, "role_id": role["id"]}
    )
    assert r.status_code == 201


def test_admin_resets_a_password_and_cannot_delete_themselves(api, anon, personas):
    admin = api("admin")
    r = admin.post(f"/api/v1/users/{personas['bob'].id}/password", json={"password": "short"})
    assert r.status_code == 422 and _fields(r) == {"password": "weak_password"}
    assert (
        admin.post(f"/api/v1/users/{personas['bob'].id}/password", json={"password": PASSWORD}).status_code
        == 204
    )
    r = anon.post("/login", data={"email": "bob@example.fr", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303
    assert admin.delete(f"/api/v1/users/{personas['admin'].id}").status_code == 409
    assert admin.patch(f"/api/v1/users/{personas['admin'].id}", json={"active": False}).status_code == 422
