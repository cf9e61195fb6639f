"""Health establishments: FINESS EJ/ET with their key, category, status, GHT membership."""

from __future__ import annotations

from typing import Any


def _create(api: Any, who: str = "alice", **fields: Any) -> Any:
    return api(who).post("/api/v1/organisations", json={"name": "CHU de Test", **fields})


def test_establishment_fields_are_stored_and_read(api: Any) -> None:
    r = _create(
        api,
        finess_ej="750712184",
        finess="950000364",
        establishment_category="chu",
        establishment_status="public",
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["finess_ej"], body["finess"]) == ("750712184", "950000364")
    assert (body["establishment_category"], body["establishment_status"]) == ("chu", "public")


def test_bad_finess_is_a_field_error_and_nothing_is_stored(api: Any) -> None:
    before = api("alice").get("/api/v1/organisations").json()["items"]
    r = _create(api, finess_ej="750712185", finess="75071218")
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert sorted((e["field"], e["code"]) for e in r.json()["errors"]) == [
        ("finess", "invalid_finess"),
        ("finess_ej", "invalid_finess_key"),
    ]
    assert api("alice").get("/api/v1/organisations").json()["items"] == before


def test_unknown_category_or_status_is_refused(api: Any) -> None:
    r = _create(api, establishment_category="hospital", establishment_status="state")
    assert r.status_code == 422
    assert sorted(e["field"] for e in r.json()["errors"]) == [
        "establishment_category",
        "establishment_status",
    ]


def test_list_filters_by_category_and_status(api: Any) -> None:
    chu = _create(api, establishment_category="chu", establishment_status="public").json()["id"]
    clinic = _create(
        api,
        name="Clinique du Parc",
        establishment_category="clinic",
        establishment_status="private_for_profit",
    ).json()["id"]
    ids = [
        o["id"]
        for o in api("alice").get("/api/v1/organisations?establishment_category=clinic").json()["items"]
    ]
    assert ids == [clinic]
    ids = [
        o["id"] for o in api("alice").get("/api/v1/organisations?establishment_status=public").json()["items"]
    ]
    assert ids == [chu]


def test_ght_membership_on_the_establishment_and_members_on_the_ght(api: Any, web: Any) -> None:
    ght = _create(api, name="GHT Loire", establishment_category="ght").json()["id"]
    member = _create(api, name="CH de Roanne", establishment_category="ch", parent_id=ght).json()["id"]
    alice = web("alice")
    page = alice.get(f"/organisations/{member}").text
    assert 'data-testid="ght-membership"' in page and "Membre du GHT GHT Loire" in page
    page = alice.get(f"/organisations/{ght}").text
    assert 'data-testid="ght-members"' in page and "CH de Roanne" in page
    assert "Établissements membres du GHT" in page


def test_form_shows_the_finess_error_next_to_the_field(web: Any) -> None:
    alice = web("alice")
    r = alice.post(
        "/organisations/new",
        data={
            "csrf_token": alice.csrf,
            "name": "CH X",
            "finess_ej": "750712185",
            "establishment_category": "ch",
        },
        follow_redirects=False,
    )
    assert r.status_code == 422
    assert 'data-error-for="finess_ej"' in r.text
    assert "La clé de ce numéro FINESS est incorrecte" in r.text
    assert "FINESS géographique (ET)" in r.text and "FINESS juridique (EJ)" in r.text
