"""Health professionals: profession, speciality, RPPS rules and their establishments."""

from __future__ import annotations

from typing import Any


def _org(api: Any, name: str, who: str = "alice", **fields: Any) -> int:
    r = api(who).post("/api/v1/organisations", json={"name": name, "establishment_category": "ch", **fields})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_profession_and_speciality(api: Any) -> None:
    r = api("alice").post(
        "/api/v1/contacts",
        json={
            "last_name": "Durand",
            "rpps": "10003879623",
            "profession": "physician",
            "speciality": "Cardiologie",
        },
    )
    assert r.status_code == 201, r.text
    assert (r.json()["profession"], r.json()["speciality"], r.json()["rpps"]) == (
        "physician",
        "Cardiologie",
        "10003879623",
    )
    r = api("alice").post("/api/v1/contacts", json={"last_name": "X", "profession": "surgeon"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "profession"


def test_a_biomedical_engineer_has_no_rpps(api: Any) -> None:
    before = api("alice").get("/api/v1/contacts").json()["items"]
    r = api("alice").post(
        "/api/v1/contacts",
        json={"last_name": "Petit", "profession": "biomedical_engineer", "rpps": "10005173140"},
    )
    assert r.status_code == 422
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [("rpps", "no_rpps")]
    assert api("alice").get("/api/v1/contacts").json()["items"] == before
    r = api("alice").post(
        "/api/v1/contacts", json={"last_name": "Petit", "profession": "biomedical_engineer"}
    )
    assert r.status_code == 201


def test_establishments_sub_resource(api: Any) -> None:
    chu = _org(api, "CHU de Nantes")
    clinic = _org(api, "Clinique Jules Verne")
    contact = api("alice").post("/api/v1/contacts", json={"last_name": "Martin"}).json()
    body = {
        "establishments": [
            {"organisation_id": chu, "service": "Cardiologie", "role": "Chef de service"},
            {"organisation_id": clinic, "service": "Bloc"},
        ]
    }
    r = api("alice").put(f"/api/v1/contacts/{contact['id']}/establishments", json=body)
    assert r.status_code == 200, r.text
    assert [(e["name"], e["service"], e["role"]) for e in r.json()] == [
        ("CHU de Nantes", "Cardiologie", "Chef de service"),
        ("Clinique Jules Verne", "Bloc", None),
    ]
    assert api("alice").get(f"/api/v1/contacts/{contact['id']}").json()["version"] == contact["version"] + 1
    # An unknown establishment is a field error on its row; nothing changes.
    r = api("alice").put(
        f"/api/v1/contacts/{contact['id']}/establishments",
        json={"establishments": [{"organisation_id": 999999}]},
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "establishments.0.organisation_id"
    assert len(api("alice").get(f"/api/v1/contacts/{contact['id']}/establishments").json()) == 2


def test_read_only_cannot_change_establishments(api: Any, db: Any) -> None:
    from carnet.core import permissions

    permissions.set_scope(db, "contact", "all")  # the reader sees the contact, may not change it
    db.commit()
    chu = _org(api, "CHU de Brest")
    contact = api("alice").post("/api/v1/contacts", json={"last_name": "Le Goff"}).json()
    r = api("reader").put(
        f"/api/v1/contacts/{contact['id']}/establishments",
        json={"establishments": [{"organisation_id": chu}]},
    )
    assert r.status_code == 403
    assert api("alice").get(f"/api/v1/contacts/{contact['id']}/establishments").json() == []


def test_establishment_added_and_removed_on_the_contact_page(api: Any, web: Any) -> None:
    chu = _org(api, "CHU de Rennes")
    contact = (
        api("alice").post("/api/v1/contacts", json={"last_name": "Morvan", "profession": "nurse"}).json()
    )
    alice = web("alice")
    page = alice.get(f"/contacts/{contact['id']}").text
    assert 'data-testid="add-establishment"' in page and "Infirmier" in page
    r = alice.post(
        f"/contacts/{contact['id']}/establishments",
        data={"csrf_token": alice.csrf, "organisation_id": str(chu), "service": "Urgences", "role": "IDE"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert [
        e["service"] for e in api("alice").get(f"/api/v1/contacts/{contact['id']}/establishments").json()
    ] == ["Urgences"]
    r = alice.post(
        f"/contacts/{contact['id']}/establishments",
        data={"csrf_token": alice.csrf, "organisation_id": "", "service": "", "role": ""},
        follow_redirects=False,
    )
    assert r.status_code == 422 and 'data-error-for="organisation_id"' in r.text
    r = alice.post(
        f"/contacts/{contact['id']}/establishments/{chu}/remove",
        data={"csrf_token": alice.csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert api("alice").get(f"/api/v1/contacts/{contact['id']}/establishments").json() == []
