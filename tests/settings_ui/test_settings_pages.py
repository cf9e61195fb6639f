"""Settings, profile and audit pages: access, forms, field errors, no 500 on bad input."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from carnet.accounts import access
from carnet.accounts.models import Department, Role, User
from carnet.core import permissions
from carnet.core.audit import AuditEntry
from carnet.core.context import SYSTEM
from carnet.core.customfields import CustomFieldDefinition
from carnet.core.tags import Tag
from carnet.settings_ui.models import SavedView

PASSWORD = "correct horse battery staple"
SETTINGS_PAGES = (
    "/settings",
    "/settings/users",
    "/settings/users/new",
    "/settings/departments",
    "/settings/roles",
    "/settings/roles/new",
    "/settings/custom-fields",
    "/settings/custom-fields?record_type=organisation",
    "/settings/tags",
)


def _count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


def _exists(db, model, record_id: int) -> bool:
    return db.scalar(select(model.id).where(model.id == record_id)) is not None


def _error_for(html: str, name: str) -> str | None:
    match = re.search(rf'data-error-for="{re.escape(name)}">([^<]+)<', html)
    return match.group(1) if match else None


def test_admin_sees_every_settings_page(web, personas):
    admin = web("admin")
    for url in (*SETTINGS_PAGES, f"/settings/users/{personas['bob'].id}/edit", "/audit", "/profile"):
        r = admin.get(url)
        assert r.status_code == 200, (url, r.status_code)
    roles = admin.get("/settings/roles").text
    assert 'name="scope.organisation"' in roles
    matrix = admin.get("/settings/roles/new").text
    assert matrix.count('name="perm"') == len(permissions.MODULES) * len(permissions.ACTIONS)


@pytest.mark.parametrize("who", ["alice", "reader"])
def test_sales_and_readers_get_403_on_settings(web, db, who):
    client = web(who)
    for url in SETTINGS_PAGES:
        assert client.get(url).status_code == 403, url
    assert client.get("/audit").status_code == 403
    before = _count(db, Department)
    r = client.post("/settings/departments", data={"name": "Pirates", "csrf_token": client.csrf})
    assert r.status_code == 403
    assert _count(db, Department) == before


def test_anonymous_is_sent_to_login(anon):
    r = anon.get("/settings/users", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_settings_is_in_french_by_default(web):
    page = web("admin").get("/settings").text
    assert "Utilisateurs" in page and "Paramètres" in page


# -- users -----------------------------------------------------------------------------------------------


def test_create_user_form_shows_field_errors(web, db):
    admin = web("admin")
    before = _count(db, User)
    r = admin.post(
        "/settings/users/new",
        data={"email": "pas-un-email", "password": "court", "role_id": "", "csrf_token": admin.csrf},
    )
    assert r.status_code == 422
    assert _error_for(r.text, "email") == "Saisissez une adresse e-mail valide"
    assert _error_for(r.text, "password") == "Le mot de passe doit comporter au moins 12 caractères"
    assert _error_for(r.text, "role_id") == "Rôle inconnu"
    assert 'value="pas-un-email"' in r.text and 'value="court"' not in r.text
    assert _count(db, User) == before


def test_create_and_edit_a_user(web, db, personas):
    admin = web("admin")
    sales = db.scalar(select(Role.id).where(Role.name == "sales"))
    r = admin.post(
        "/settings/users/new",
        data={
            "email": "hugo@example.fr",
            "password": "une phrase de passe",
            "first_name": "Hugo",
            "last_name": "Lemaire",
            "role_id": str(sales),
            "department_id": str(personas["alice"].department_id),
            "manager_id": str(personas["manager"].id),
            "language": "fr",
            "timezone": "Europe/Paris",
            "active": "1",
            "csrf_token": admin.csrf,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    user = db.scalar(select(User).where(User.email == "hugo@example.fr"))
    assert (user.full_name, user.manager_id, user.active) == ("Hugo Lemaire", personas["manager"].id, True)

    form = {
        "email": "hugo@example.fr",
        "first_name": "Hugo",
        "last_name": "Lemaire",
        "role_id": str(sales),
        "department_id": str(personas["outsider"].department_id),
        "manager_id": "",
        "language": "en",
        "timezone": "Europe/Paris",
        "version": str(user.version),
        "csrf_token": admin.csrf,
    }
    r = admin.post(f"/settings/users/{user.id}/edit", data=form, follow_redirects=False)
    assert r.status_code == 303
    db.refresh(user)
    assert (user.department_id, user.language, user.active, user.manager_id) == (
        personas["outsider"].department_id,
        "en",
        False,
        None,
    )
    changes = db.scalars(
        select(AuditEntry.changes)
        .where(AuditEntry.record_type == "user", AuditEntry.record_id == user.id)
        .order_by(AuditEntry.seq)
    ).all()[-1]
    assert changes["active"] == {"old": True, "new": False}


def test_user_forms_survive_garbage(web, db, personas):
    admin = web("admin")
    bob = personas["bob"].id
    garbage = {
        "email": "x" * 400,
        "department_id": "abc",
        "role_id": "99999999999999999999",
        "manager_id": "-3",
        "language": "klingon",
        "timezone": "Nowhere/Land",
        "first_name": "é" * 300,
        "version": "zz",
        "csrf_token": admin.csrf,
    }
    for url in ("/settings/users/new", f"/settings/users/{bob}/edit"):
        r = admin.post(url, data=garbage)
        assert r.status_code in (412, 422), (url, r.status_code)
    r = admin.post(f"/settings/users/{bob}/edit", data={**garbage, "version": "1"})
    assert r.status_code == 422
    for field in ("email", "department_id", "role_id", "manager_id", "language", "timezone", "first_name"):
        assert _error_for(r.text, field), field
    assert admin.get("/settings/users/abc/edit").status_code == 422
    assert admin.get("/settings/users/987654/edit").status_code == 404
    assert admin.get("/settings/users?cursor=%%%").status_code in (200, 422)


def test_admin_resets_a_password_with_confirmation(web, anon, personas):
    admin = web("admin")
    url = f"/settings/users/{personas['bob'].id}/password"
    r = admin.post(
        url,
        data={"password": "nouvelle phrase", "password_confirm": "autre phrase!", "csrf_token": admin.csrf},
    )
    assert r.status_code == 422 and _error_for(r.text, "password_confirm")
    r = admin.post(
        url,
        data={"password": "nouvelle phrase", "password_confirm": "nouvelle phrase", "csrf_token": admin.csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = anon.post(
        "/login", data={"email": "bob@example.fr", "password": "nouvelle phrase"}, follow_redirects=False
    )
    assert r.status_code == 303


def test_delete_user_from_the_edit_page(web, db, personas):
    admin = web("admin")
    r = admin.post(
        f"/settings/users/{personas['reader'].id}/delete",
        data={"csrf_token": admin.csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert not _exists(db, User, personas["reader"].id)
    r = admin.post(f"/settings/users/{personas['admin'].id}/delete", data={"csrf_token": admin.csrf})
    assert r.status_code == 409 and "flash-error" in r.text


# -- departments ------------------------------------------------------------------------------------------------


def test_department_forms(web, db, personas):
    admin = web("admin")
    r = admin.post("/settings/departments", data={"name": "", "csrf_token": admin.csrf})
    assert r.status_code == 422 and _error_for(r.text, "name") == "Ce champ est obligatoire"
    r = admin.post("/settings/departments", data={"name": "Finance", "csrf_token": admin.csrf})
    assert r.status_code == 422 and _error_for(r.text, "name") == "Cette valeur est déjà utilisée"
    r = admin.post(
        "/settings/departments", data={"name": "Logistique", "csrf_token": admin.csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    dept = db.scalar(select(Department).where(Department.name == "Logistique"))
    assert dept.code == "logistique"
    r = admin.post(
        f"/settings/departments/{dept.id}/edit",
        data={
            "name": "Logistique Sud",
            "code": "log-sud",
            "description": "",
            "version": str(dept.version),
            "csrf_token": admin.csrf,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    db.refresh(dept)
    assert (dept.name, dept.code) == ("Logistique Sud", "log-sud")
    r = admin.post(
        f"/settings/departments/{personas['alice'].department_id}/delete", data={"csrf_token": admin.csrf}
    )
    assert r.status_code == 409 and "Ce pôle a encore des utilisateurs" in r.text
    r = admin.post(
        f"/settings/departments/{dept.id}/delete", data={"csrf_token": admin.csrf}, follow_redirects=False
    )
    assert r.status_code == 303 and not _exists(db, Department, dept.id)


# -- roles and visibility ------------------------------------------------------------------------------------------


def test_create_role_with_the_permission_matrix(web, db):
    admin = web("admin")
    r = admin.post(
        "/settings/roles/new",
        data={
            "name": "assistant",
            "label": "Assistant commercial",
            "perm": ["contacts:read", "contacts:create", "organisations:read"],
            "csrf_token": admin.csrf,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    role = db.scalar(select(Role).where(Role.name == "assistant"))
    assert role.permissions == ["contacts:create", "contacts:read", "organisations:read"]
    assert role.is_manager is False
    entry = db.scalar(
        select(AuditEntry).where(AuditEntry.record_type == "role", AuditEntry.record_id == role.id)
    )
    assert entry.action == "permission_change"

    page = admin.get(f"/settings/roles/{role.id}/edit").text
    assert 'value="contacts:create" aria-label="Contacts · Créer" checked' in page
    r = admin.post(
        f"/settings/roles/{role.id}/edit",
        data={
            "label": "Assistant",
            "perm": ["contacts:read"],
            "is_manager": "1",
            "version": str(role.version),
            "csrf_token": admin.csrf,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    db.refresh(role)
    assert (role.label, role.permissions, role.is_manager) == ("Assistant", ["contacts:read"], True)

    r = admin.post("/settings/roles/new", data={"name": "", "perm": ["nope:fly"], "csrf_token": admin.csrf})
    assert r.status_code == 422
    assert _error_for(r.text, "name") and _error_for(r.text, "permissions")

    r = admin.post(
        f"/settings/roles/{role.id}/delete", data={"csrf_token": admin.csrf}, follow_redirects=False
    )
    assert r.status_code == 303 and not _exists(db, Role, role.id)
    builtin = db.scalar(select(Role).where(Role.name == "sales"))
    r = admin.post(f"/settings/roles/{builtin.id}/delete", data={"csrf_token": admin.csrf})
    assert r.status_code == 409 and _exists(db, Role, builtin.id)


def test_visibility_form(web, db):
    admin = web("admin")
    r = admin.post(
        "/settings/visibility",
        data={"scope.organisation": "own", "csrf_token": admin.csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert permissions.scope_for(db, "organisation") == "own"
    r = admin.post("/settings/visibility", data={"scope.organisation": "universe", "csrf_token": admin.csrf})
    assert r.status_code == 422 and _error_for(r.text, "scope.organisation")
    db.info.pop("visibility_scopes", None)
    assert permissions.scope_for(db, "organisation") == "own"


# -- custom fields and tags -----------------------------------------------------------------------------------------


def test_custom_field_forms(web, db):
    admin = web("admin")
    r = admin.post(
        "/settings/custom-fields",
        data={
            "record_type": "organisation",
            "key": "Mauvaise clé",
            "label": "",
            "field_type": "select",
            "options": "",
            "position": "premier",
            "default": "",
            "csrf_token": admin.csrf,
        },
    )
    assert r.status_code == 422
    for field in ("key", "label", "options", "position"):
        assert _error_for(r.text, field), field
    assert _count(db, CustomFieldDefinition) == 0

    r = admin.post(
        "/settings/custom-fields",
        data={
            "record_type": "organisation",
            "key": "secteur",
            "label": "Secteur",
            "field_type": "select",
            "options": "Santé\nIndustrie\n\nSanté",
            "default": "Industrie",
            "required": "1",
            "position": "2",
            "csrf_token": admin.csrf,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    defn = db.scalar(select(CustomFieldDefinition).where(CustomFieldDefinition.key == "secteur"))
    assert (defn.options, defn.default, defn.required, defn.position) == (
        ["Santé", "Industrie"],
        "Industrie",
        True,
        2,
    )

    r = admin.post(
        f"/settings/custom-fields/{defn.id}/edit",
        data={
            "label": "Secteur",
            "options": "Santé",
            "default": "Industrie",
            "position": "2",
            "csrf_token": admin.csrf,
        },
    )
    assert r.status_code == 422 and _error_for(r.text, "default")
    r = admin.post(f"/settings/custom-fields/{defn.id}/delete", data={"csrf_token": admin.csrf})
    assert r.status_code == 409
    r = admin.post(
        f"/settings/custom-fields/{defn.id}/edit",
        data={
            "label": "Secteur d'activité",
            "options": "Santé\nIndustrie",
            "default": "",
            "position": "1",
            "csrf_token": admin.csrf,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    db.refresh(defn)
    assert (defn.label, defn.required, defn.default) == ("Secteur d'activité", False, None)
    r = admin.post(
        f"/settings/custom-fields/{defn.id}/delete", data={"csrf_token": admin.csrf}, follow_redirects=False
    )
    assert r.status_code == 303 and _count(db, CustomFieldDefinition) == 0


def test_tag_forms(web, db):
    admin = web("admin")
    r = admin.post(
        "/settings/tags",
        data={"record_type": "organisation", "name": "", "color": "bleu", "csrf_token": admin.csrf},
    )
    assert r.status_code == 422 and _error_for(r.text, "name") and _error_for(r.text, "color")
    r = admin.post(
        "/settings/tags",
        data={"record_type": "organisation", "name": "Export", "color": "#3b4fd8", "csrf_token": admin.csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    tag = db.scalar(select(Tag).where(Tag.name == "Export"))
    page = admin.get("/settings/tags?record_type=organisation").text
    assert 'style="--tag-color:#3b4fd8"' in page
    r = admin.post(f"/settings/tags/{tag.id}/edit", data={"name": "", "color": "", "csrf_token": admin.csrf})
    assert r.status_code == 422 and _error_for(r.text, "name")
    r = admin.post(
        f"/settings/tags/{tag.id}/edit",
        data={"name": "Export UE", "color": "", "csrf_token": admin.csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    db.refresh(tag)
    assert (tag.name, tag.color) == ("Export UE", "")
    r = admin.post(f"/settings/tags/{tag.id}/delete", data={"csrf_token": admin.csrf}, follow_redirects=False)
    assert r.status_code == 303 and _count(db, Tag) == 0


# -- profile -------------------------------------------------------------------------------------------------------


def test_profile_password_change_needs_the_current_password(web, anon):
    alice = web("alice")
    r = alice.post(
        "/profile/password",
        data={
            "current_password": "pas le bon",
            "password": "une autre phrase",
            "password_confirm": "une autre phrase",
            "csrf_token": alice.csrf,
        },
    )
    assert r.status_code == 422
    assert _error_for(r.text, "current_password") == "Le mot de passe actuel est incorrect"
    assert (
        anon.post(
            "/login", data={"email": "alice@example.fr", "password": PASSWORD}, follow_redirects=False
        ).status_code
        == 303
    )
    r = alice.post(
        "/profile/password",
        data={
            "current_password": PASSWORD,
            "password": "une autre phrase",
            "password_confirm": "une autre phrase",
            "csrf_token": alice.csrf,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert alice.get("/profile").status_code == 200  # this session stays open
    assert anon.post("/login", data={"email": "alice@example.fr", "password": PASSWORD}).status_code == 401


def test_language_switch_takes_effect_immediately(web, db, personas):
    alice = web("alice")
    assert "Mon profil" in alice.get("/profile").text
    r = alice.post(
        "/profile",
        data={
            "first_name": "Alice",
            "last_name": "Test",
            "language": "en",
            "timezone": "Europe/Paris",
            "csrf_token": alice.csrf,
        },
    )
    assert r.status_code == 200 and "My profile" in r.text and "Changes saved" in r.text
    r = alice.post("/lang/fr", data={"next": "/profile", "csrf_token": alice.csrf})
    assert "Mon profil" in r.text
    user = db.get(User, personas["alice"].id)
    db.refresh(user)
    assert user.language == "fr"
    r = alice.post("/profile", data={"language": "xx", "timezone": "Europe/Paris", "csrf_token": alice.csrf})
    assert r.status_code == 422 and _error_for(r.text, "language")


def test_profile_tokens(web, app, db, personas):
    from fastapi.testclient import TestClient

    alice = web("alice")
    r = alice.post("/profile/tokens", data={"name": "", "csrf_token": alice.csrf})
    assert r.status_code == 422 and _error_for(r.text, "name")
    r = alice.post("/profile/tokens", data={"name": "Zapier", "csrf_token": alice.csrf})
    assert r.status_code == 200
    secret = re.search(r'data-testid="new-token">([^<]+)<', r.text).group(1)
    assert secret not in alice.get("/profile").text  # shown once
    client = TestClient(app, raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {secret}"
    assert client.get("/api/v1/me").status_code == 200
    token_id = next(t["id"] for t in client.get("/api/v1/me/tokens").json()["items"] if t["name"] == "Zapier")
    bob = web("bob")
    assert bob.post(f"/profile/tokens/{token_id}/revoke", data={"csrf_token": bob.csrf}).status_code == 404
    assert (
        alice.post(
            f"/profile/tokens/{token_id}/revoke", data={"csrf_token": alice.csrf}, follow_redirects=False
        ).status_code
        == 303
    )
    assert client.get("/api/v1/me").status_code == 401


# -- saved views ------------------------------------------------------------------------------------------------------


def test_save_current_view_form_redirects_back(web, db, personas):
    alice = web("alice")
    r = alice.post(
        "/saved-views",
        data={
            "record_type": "organisation",
            "name": "Lyonnaises",
            "query": "city=Lyon&sort=name&cursor=xyz",
            "columns": ["name", "city"],
            "csrf_token": alice.csrf,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/organisations?city=Lyon&sort=name"
    view = db.scalar(select(SavedView).where(SavedView.user_id == personas["alice"].id))
    assert (view.name, view.columns) == ("Lyonnaises", ["name", "city"])
    r = alice.post(
        "/saved-views",
        data={
            "record_type": "organisation",
            "name": "Lyonnaises",
            "query": "city=Paris",
            "csrf_token": alice.csrf,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/organisations?city=Paris"
    assert _count(db, SavedView) == 1
    bob = web("bob")
    assert bob.post(f"/saved-views/{view.id}/delete", data={"csrf_token": bob.csrf}).status_code == 404
    assert "Lyonnaises" not in bob.get("/profile").text
    assert "Lyonnaises" in alice.get("/profile").text
    r = alice.post(f"/saved-views/{view.id}/delete", data={"csrf_token": alice.csrf}, follow_redirects=False)
    assert r.status_code == 303 and _count(db, SavedView) == 0


def test_saved_views_partial_renders_pills_and_form():
    from carnet.web.shell import templates

    class View:
        def __init__(self, name: str, query: str) -> None:
            self.name, self.query = name, query

    html = templates.env.get_template("settings_ui/_saved_views.html").render(
        _=lambda text, **kw: text,
        csrf_token="tok",
        record_type="organisation",
        views=[View("Lyon", "city=Lyon"), View("Récentes", "sort=-created_at")],
        current_query="city=Lyon",
        current_columns=["name", "city"],
    )
    assert '<nav class="saved-views"' in html
    assert re.search(r'class="pill active" href="\?city=Lyon"', html)
    assert 'href="?sort=-created_at"' in html
    assert 'action="/saved-views"' in html
    assert 'name="query" value="city=Lyon"' in html
    assert html.count('name="columns"') == 2


# -- audit ----------------------------------------------------------------------------------------------------------------


def test_audit_page_filters_pagination_and_changes(web, db):
    for i in range(55):
        access.create_department(db, SYSTEM, {"name": f"Agence {i:02d}"})
    admin = web("admin")
    r = admin.get("/audit?action=create&record_type=department")
    assert r.status_code == 200
    first = re.findall(r"Agence (\d\d)", r.text)
    assert len(set(first)) == 50 and first[0] == "54"
    older = re.search(r'href="(\?[^"]*cursor=[^"]+)"', r.text).group(1).replace("&amp;", "&")
    r = admin.get("/audit" + older)
    second = re.findall(r"Agence (\d\d)", r.text)
    assert sorted(set(second)) == ["00", "01", "02", "03", "04"]
    assert not set(first) & set(second)

    dept = db.scalar(select(Department).where(Department.name == "Agence 07"))
    access.update_department(db, SYSTEM, dept, {"name": "Agence Sept"})
    r = admin.get(f"/audit?record_type=department&record_id={dept.id}&action=update")
    assert '<del class="diff-old">Agence 07</del> → <ins class="diff-new">Agence Sept</ins>' in r.text

    r = admin.get("/audit?date_from=2001-01-01&date_to=2001-01-31")
    assert "Agence" not in r.text
    r = admin.get("/audit?date_from=hier&record_id=abc")
    assert r.status_code == 422 and _error_for(r.text, "date_from") and _error_for(r.text, "record_id")
    assert web("manager").get("/audit").status_code == 200


# -- robustness ------------------------------------------------------------------------------------------------------------

GARBAGE = (
    {},
    {"name": "x" * 5000, "code": "é" * 300, "label": None, "key": "../../etc", "field_type": "<script>"},
    {"record_type": "organisation'--", "position": "9" * 40, "default": "{}", "options": "\x00"},
    {"perm": "*:*", "is_manager": "maybe", "scope.organisation": "", "scope.nope": "all"},
    {
        "email": "@",
        "password": "p" * 300,
        "department_id": "1e9",
        "role_id": "-1",
        "manager_id": "0x10",
        "version": "-5",
    },
    {"code": "1" * 12, "query": "?" + "a=b&" * 800, "columns": "x" * 100, "current_password": 12},
)


def test_no_form_answers_500(web, db, personas):
    admin = web("admin")
    tag = admin.post(
        "/settings/tags", data={"record_type": "organisation", "name": "Fuzz", "csrf_token": admin.csrf}
    )
    assert tag.status_code == 200
    tag_id = db.scalar(select(Tag.id).where(Tag.name == "Fuzz"))
    defn = admin.post(
        "/settings/custom-fields",
        data={
            "record_type": "organisation",
            "key": "fuzz",
            "label": "Fuzz",
            "field_type": "text",
            "csrf_token": admin.csrf,
        },
    )
    assert defn.status_code == 200
    defn_id = db.scalar(select(CustomFieldDefinition.id).where(CustomFieldDefinition.key == "fuzz"))
    dept_id = db.scalar(select(Department.id).where(Department.code == "support"))
    role_id = db.scalar(select(Role.id).where(Role.name == "finance"))
    urls = (
        "/settings/users/new",
        f"/settings/users/{personas['bob'].id}/edit",
        f"/settings/users/{personas['bob'].id}/password",
        "/settings/departments",
        f"/settings/departments/{dept_id}/edit",
        "/settings/roles/new",
        f"/settings/roles/{role_id}/edit",
        "/settings/visibility",
        "/settings/custom-fields",
        f"/settings/custom-fields/{defn_id}/edit",
        "/settings/tags",
        f"/settings/tags/{tag_id}/edit",
        "/profile",
        "/profile/password",
        "/profile/2fa/enable",
        "/profile/2fa/disable",
        "/profile/tokens",
        "/saved-views",
    )
    for url in urls:
        for data in GARBAGE:
            r = admin.post(url, data={**data, "csrf_token": admin.csrf})
            assert r.status_code < 500, (url, data, r.status_code)
    for url in (
        "/audit?user=99999999999&record_id=-1&date_to=2026-02-30",
        "/settings/users?q=" + "%" * 300,
        "/lang/xx",
    ):
        assert admin.get(url).status_code < 500, url


def test_no_api_answers_500(api, personas):
    admin = api("admin")
    bodies = (
        {},
        [],
        "x",
        {"name": 1},
        {"permissions": [1, None]},
        {"scopes": {"organisation": 3}},
        {"options": "a"},
    )
    for url in (
        "/api/v1/departments",
        "/api/v1/roles",
        "/api/v1/users",
        "/api/v1/custom-fields",
        "/api/v1/tags",
        "/api/v1/saved-views",
        "/api/v1/me/tokens",
        "/api/v1/me/password",
        f"/api/v1/users/{personas['bob'].id}/password",
    ):
        for body in bodies:
            assert admin.post(url, json=body).status_code < 500, (url, body)
    for url in (
        "/api/v1/me",
        f"/api/v1/users/{personas['bob'].id}",
        "/api/v1/roles/1",
        "/api/v1/departments/1",
    ):
        for body in bodies:
            assert admin.patch(url, json=body).status_code < 500, (url, body)
    for body in bodies:
        assert admin.put("/api/v1/visibility", json=body).status_code < 500, body
    for query in ("sort=cf.x", "tag=x", "limit=0", "created_since=x", "role_id=abc", "active=maybe", "q=%25"):
        for url in ("/api/v1/users", "/api/v1/roles", "/api/v1/departments", "/api/v1/tags", "/api/v1/audit"):
            assert admin.get(f"{url}?{query}").status_code < 500, (url, query)
