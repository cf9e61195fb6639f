"""Organisation pages: list with columns and bulk actions, form errors next to fields."""

from __future__ import annotations


def test_form_shows_siren_error_and_keeps_values(web):
    alice = web("alice")
    r = alice.post(
        "/organisations/new",
        data={"csrf_token": alice.csrf, "name": "Atelier des Alpes", "siren": "732829321", "city": "Annecy"},
    )
    assert r.status_code == 422
    assert 'data-error-for="siren"' in r.text and "SIREN" in r.text
    assert 'value="Atelier des Alpes"' in r.text and 'value="Annecy"' in r.text
    r = alice.post(
        "/organisations/new",
        data={"csrf_token": alice.csrf, "name": "Atelier des Alpes", "siren": "732829320"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = alice.get(r.headers["location"])
    assert "Atelier des Alpes" in page.text and "732829320" in page.text


def test_list_columns_and_bulk_tag(web, api):
    a = api("alice")
    ids = [
        a.post("/api/v1/organisations", json={"name": f"Bulk {i}", "naf_code": "62.01Z"}).json()["id"]
        for i in range(3)
    ]
    alice = web("alice")
    page = alice.get("/organisations?columns=name,naf_code&name__contains=Bulk")
    assert page.status_code == 200 and "62.01Z" in page.text
    r = alice.post(
        "/bulk/organisation",
        data={
            "csrf_token": alice.csrf,
            "ids": [str(i) for i in ids[:2]],
            "action": "tag",
            "tag": "salon-2026",
            "back": "/organisations",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    tagged = a.get("/api/v1/organisations", params={"tag": "salon-2026"}).json()["items"]
    assert sorted(o["id"] for o in tagged) == sorted(ids[:2])


def test_bulk_delete_refused_for_read_only(web, api):
    org = api("alice").post("/api/v1/organisations", json={"name": "Gardée"}).json()
    reader = web("reader")
    r = reader.post(
        "/bulk/organisation",
        data={"csrf_token": reader.csrf, "ids": [str(org["id"])], "action": "delete"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert api("alice").get(f"/api/v1/organisations/{org['id']}").status_code == 200


def test_detail_shows_the_parent_only_when_visible(web, api, personas):
    group = api("alice").post("/api/v1/organisations", json={"name": "Groupe Hospitalier Alpha"}).json()
    finance = personas["outsider"].department_id
    site = (
        api("admin")
        .post(
            "/api/v1/organisations",
            json={
                "name": "Site de Lyon",
                "parent_id": group["id"],
                "department_id": finance,
                "owner_id": personas["outsider"].id,
            },
        )
        .json()
    )
    assert "Groupe Hospitalier Alpha" in web("admin").get(f"/organisations/{site['id']}").text
    page = web("outsider").get(f"/organisations/{site['id']}")
    assert page.status_code == 200 and "Site de Lyon" in page.text
    assert "Groupe Hospitalier Alpha" not in page.text  # another department's record stays hidden


def test_the_parent_is_picked_by_name_and_an_unknown_one_is_a_field_error(web, api):
    group = api("alice").post("/api/v1/organisations", json={"name": "Groupe Hospitalier Beta"}).json()
    alice = web("alice")
    form = alice.get("/organisations/new").text
    assert 'data-record-picker="organisation"' in form and 'hx-get="/search/pick/organisation"' in form
    assert 'name="parent_id"' in form and 'type="number"' not in form.split('name="parent_id"')[0][-200:]
    r = alice.post(
        "/organisations/new",
        data={"csrf_token": alice.csrf, "name": "Site de Grenoble", "parent_id": "999999"},
    )
    assert r.status_code == 422 and 'data-error-for="parent_id"' in r.text
    r = alice.post(
        "/organisations/new",
        data={"csrf_token": alice.csrf, "name": "Site de Grenoble", "parent_id": str(group["id"])},
        follow_redirects=False,
    )
    assert r.status_code == 303
    site_id = int(r.headers["location"].rstrip("/").split("/")[-1])
    assert api("alice").get(f"/api/v1/organisations/{site_id}").json()["parent_id"] == group["id"]
    edit = alice.get(f"/organisations/{site_id}/edit").text
    # the current parent is kept as the picker's selected option; its name loads from the picker
    assert f'<option value="{group["id"]}" selected>' in edit
    options = alice.get(f"/search/pick/organisation?field=parent_id&parent_id={group['id']}").text
    assert "Groupe Hospitalier Beta" in options
