"""Organisations abroad: an ISO country (France by default), a VAT number checked for that country
with python-stdnum, and no SIREN or SIRET (france.md §1.5: a foreign client is identified by its
VAT number). Refused input is a field error and changes nothing."""

from __future__ import annotations

import pytest

BELGIAN_VAT = "BE0403019261"  # python-stdnum's test data (be/vat.py)


def _error(r) -> tuple[str, str]:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    errors = r.json()["errors"]
    assert len(errors) == 1, errors
    return errors[0]["field"], errors[0]["code"]


def test_country_defaults_to_france_and_is_an_iso_code(api):
    alice = api("alice")
    french = alice.post("/api/v1/organisations", json={"name": "Clinique du Parc"}).json()
    assert french["country"] == "FR"
    belgian = alice.post("/api/v1/organisations", json={"name": "Hôpital Erasme", "country": "be"}).json()
    assert belgian["country"] == "BE"
    for code in ("ZZ", "EU", "XK", "12"):
        r = alice.post("/api/v1/organisations", json={"name": "Nulle part", "country": code})
        assert _error(r) == ("country", "invalid_country")
    r = alice.patch(f"/api/v1/organisations/{belgian['id']}", json={"country": "QQ"})
    assert _error(r) == ("country", "invalid_country")
    assert alice.get(f"/api/v1/organisations/{belgian['id']}").json()["country"] == "BE"
    names = [o["name"] for o in alice.get("/api/v1/organisations", params={"country": "BE"}).json()["items"]]
    assert names == ["Hôpital Erasme"]


@pytest.mark.parametrize(
    ("country", "given", "stored"),
    [
        ("BE", "BE 0403.019.261", BELGIAN_VAT),
        ("BE", "0403019261", BELGIAN_VAT),  # the prefix may be left out
        ("DE", "DE 136 695 976", "DE136695976"),
        ("GR", "094259216", "EL094259216"),  # Greek numbers carry EL
        ("CH", "CHE-107.787.577 MWST", "CHE107787577MWST"),
        ("GB", "GB 980 7806 84", "GB980780684"),
        ("US", "12-3456789", "US123456789"),  # no public check: the shape only
    ],
)
def test_foreign_vat_number_is_checked_for_its_country(api, country, given, stored):
    r = api("alice").post(
        "/api/v1/organisations", json={"name": "Client étranger", "country": country, "vat_number": given}
    )
    assert r.status_code == 201, r.text
    assert r.json()["vat_number"] == stored


@pytest.mark.parametrize(
    ("country", "given"),
    [
        ("BE", "BE0403019262"),  # wrong check digits
        ("BE", "DE136695976"),  # a valid German number is not a Belgian one
        ("CH", "CHE-107.787.578 MWST"),
        ("DE", "FR44732829320"),
    ],
)
def test_wrong_foreign_vat_number_is_a_field_error(api, country, given):
    alice = api("alice")
    before = alice.get("/api/v1/organisations").json()["items"]
    r = alice.post(
        "/api/v1/organisations", json={"name": "Client étranger", "country": country, "vat_number": given}
    )
    assert _error(r) == ("vat_number", "invalid_vat")
    assert alice.get("/api/v1/organisations").json()["items"] == before


def test_a_foreign_organisation_has_no_siren_or_siret(api):
    alice = api("alice")
    r = alice.post("/api/v1/organisations", json={"name": "Acme SA", "country": "BE", "siren": "732829320"})
    assert _error(r) == ("siren", "siren_not_foreign")
    r = alice.post(
        "/api/v1/organisations", json={"name": "Acme SA", "country": "BE", "siret": "73282932000074"}
    )
    assert _error(r) == ("siret", "siret_not_foreign")
    # an invalid SIREN is refused as well, never stored
    r = alice.post("/api/v1/organisations", json={"name": "Acme SA", "country": "CH", "siren": "12"})
    assert _error(r) == ("siren", "siren_not_foreign")
    r = alice.post(
        "/api/v1/organisations",
        json={"name": "Acme SA", "country": "BE", "siren": "", "vat_number": BELGIAN_VAT},
    )
    assert r.status_code == 201 and (r.json()["siren"], r.json()["siret"]) == (None, None)


def test_moving_an_organisation_abroad_rechecks_its_identifiers(api):
    alice = api("alice")
    org = alice.post(
        "/api/v1/organisations",
        json={"name": "Filiale", "siren": "732829320", "vat_number": "FR44732829320"},
    ).json()
    r = alice.patch(f"/api/v1/organisations/{org['id']}", json={"country": "BE", "siren": None})
    assert _error(r) == ("vat_number", "invalid_vat")  # the French number is not a Belgian one
    r = alice.patch(f"/api/v1/organisations/{org['id']}", json={"country": "BE", "vat_number": BELGIAN_VAT})
    assert _error(r) == ("siren", "siren_not_foreign")
    unchanged = alice.get(f"/api/v1/organisations/{org['id']}").json()
    assert (unchanged["country"], unchanged["siren"], unchanged["vat_number"]) == (
        "FR",
        "732829320",
        "FR44732829320",
    )
    r = alice.patch(
        f"/api/v1/organisations/{org['id']}",
        json={"country": "BE", "siren": None, "vat_number": BELGIAN_VAT},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["country"], r.json()["siren"], r.json()["vat_number"]) == ("BE", None, BELGIAN_VAT)


def test_french_rules_stay_for_france(api):
    alice = api("alice")
    r = alice.post("/api/v1/organisations", json={"name": "Lyonnaise", "vat_number": "FR45732829320"})
    assert _error(r) == ("vat_number", "invalid_vat")
    r = alice.post("/api/v1/organisations", json={"name": "Lyonnaise", "postal_code": "1000"})
    assert _error(r) == ("postal_code", "invalid_postal_code")
    # a Belgian postal code has 4 digits: only French ones are checked
    r = alice.post(
        "/api/v1/organisations", json={"name": "Bruxelloise", "country": "BE", "postal_code": "1000"}
    )
    assert r.status_code == 201


def test_form_offers_the_country_and_the_page_shows_it(web, api):
    alice = web("alice")
    page = alice.get("/organisations/new")
    assert '<select id="f-country" name="country">' in page.text
    assert '<option value="FR" selected>France</option>' in page.text
    r = alice.post(
        "/organisations/new",
        data={"csrf_token": alice.csrf, "name": "Acme SA", "country": "BE", "siren": "732829320"},
    )
    assert r.status_code == 422 and 'data-error-for="siren"' in r.text
    assert '<option value="BE" selected>Belgique</option>' in r.text
    r = alice.post(
        "/organisations/new",
        data={"csrf_token": alice.csrf, "name": "Acme SA", "country": "BE", "vat_number": "0403.019.261"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = alice.get(r.headers["location"])
    assert '<dd data-testid="country">Belgique</dd>' in page.text and BELGIAN_VAT in page.text
    listed = alice.get("/organisations?columns=name,country&country=BE")
    assert listed.status_code == 200 and "Acme SA" in listed.text and "<td>BE</td>" in listed.text
