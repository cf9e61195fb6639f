"""The home page and the related-record panels on detail pages."""

from __future__ import annotations

import re

from carnet.core import clock


def test_home_shows_my_tasks_and_deals(web, api):
    alice_api = api("alice")
    org = alice_api.post("/api/v1/organisations", json={"name": "Clinique du Parc"}).json()
    r = alice_api.post(
        "/api/v1/tasks",
        json={
            "title": "Rappeler la clinique",
            "record_type": "organisation",
            "record_id": org["id"],
            "due_at": clock.now().isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    page = web("alice").get("/")
    assert page.status_code == 200
    assert "Mes tâches" in page.text and "Rappeler la clinique" in page.text


def test_detail_pages_load_their_panels(web, api):
    alice_api = api("alice")
    org = alice_api.post("/api/v1/organisations", json={"name": "Pharmacie Centrale"}).json()
    contact = alice_api.post(
        "/api/v1/contacts", json={"last_name": "Durand", "organisation_ids": [org["id"]]}
    ).json()
    alice = web("alice")
    page = alice.get(f"/organisations/{org['id']}")
    assert page.status_code == 200
    urls = re.findall(r'hx-get="([^"]+)"', page.text)
    assert f"/contacts/_for/organisation/{org['id']}" in urls
    for url in urls:
        if url.startswith("/search"):
            continue
        r = alice.get(url.replace("&amp;", "&"))
        assert r.status_code == 200, (url, r.status_code)
    assert "Durand" in alice.get(f"/contacts/_for/organisation/{org['id']}").text
    page = alice.get(f"/contacts/{contact['id']}")
    assert page.status_code == 200
    for url in re.findall(r'hx-get="([^"]+)"', page.text):
        if not url.startswith("/search"):
            assert alice.get(url.replace("&amp;", "&")).status_code == 200, url
