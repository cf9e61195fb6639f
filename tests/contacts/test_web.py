"""Contacts in the web UI: list, form (with field errors), detail, edit, delete, and the contact
cards of an organisation's page."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from markupsafe import escape

from carnet.core import clock


def _post(client, url: str, data: dict) -> object:  # type: ignore[no-untyped-def]
    return client.post(url, data={"csrf_token": client.csrf, **data}, follow_redirects=False)


def test_create_redirects_to_the_detail_page(web, api, make_org):
    org = make_org("alice", "Société Générale")
    alice = web("alice")
    page = alice.get(f"/contacts/new?organisation_id={org['id']}")
    assert page.status_code == 200
    assert f'<option value="{org["id"]}" selected>Société Générale</option>' in page.text

    r = _post(
        alice,
        "/contacts/new",
        {
            "civility": "Mme",
            "first_name": "Claire",
            "last_name": "Martin",
            "job_title": "Directrice financière",
            "emails": "claire@sg.fr, claire.martin@perso.fr",
            "phones": "06 12 34 56 78",
            "organisation_id": str(org["id"]),
            "role": "DAF",
            "org_primary": "new",
            "marketing_consent": "granted",
            "marketing_consent_source": "Salon",
            "do_not_call": "1",
            "tags": "vip, salon",
        },
    )
    assert r.status_code == 303, r.text
    match = re.fullmatch(r"/contacts/(\d+)", r.headers["location"])
    assert match
    contact_id = int(match[1])

    detail = alice.get(r.headers["location"])
    assert detail.status_code == 200
    html = detail.text
    assert "Contact créé" in html
    assert "Mme Claire Martin" in html
    assert "06 12 34 56 78" in html and 'href="tel:+33612345678"' in html
    assert f'<a href="/organisations/{org["id"]}">Société Générale</a>' in html
    assert "DAF" in html
    assert "Accordé" in html and "Salon" in html
    assert "Ne pas appeler cette personne." in html
    assert f'hx-get="/records/contact/{contact_id}/timeline"' in html

    stored = api("alice").get(f"/api/v1/contacts/{contact_id}").json()
    assert stored["emails"] == ["claire@sg.fr", "claire.martin@perso.fr"]
    assert stored["organisations"] == [{"organisation_id": org["id"], "role": "DAF", "is_primary": True}]
    assert stored["do_not_call"] is True
    assert stored["tags"] == ["salon", "vip"]
    assert stored["marketing_consent_at"] is not None


def test_bad_phone_is_shown_next_to_the_field_and_the_form_keeps_the_values(web, api, make_org):
    org = make_org("alice", "Alpha")
    alice = web("alice")
    before = api("alice").get("/api/v1/contacts").json()["items"]
    r = _post(
        alice,
        "/contacts/new",
        {
            "first_name": "Claire",
            "last_name": "Martin",
            "job_title": "DAF",
            "emails": "claire@alpha.fr",
            "phones": "06 12 34 56 78, 01 23",
            "organisation_id": str(org["id"]),
            "role": "Acheteuse",
            "org_primary": "new",
            "marketing_consent": "refused",
            "notes": "Rappeler en mai",
        },
    )
    assert r.status_code == 422
    html = r.text
    error = re.search(r'<div class="field-error" data-error-for="phones">([^<]*)</div>', html)
    assert error and error[1] == "01 23 : Ce numéro de téléphone n&#39;est pas valide"
    assert 'value="Claire"' in html and 'value="Martin"' in html and 'value="DAF"' in html
    assert 'value="claire@alpha.fr"' in html and 'value="06 12 34 56 78, 01 23"' in html
    assert 'value="Acheteuse"' in html
    assert f'<option value="{org["id"]}" selected>Alpha</option>' in html
    assert '<option value="refused" selected>' in html
    assert "Rappeler en mai</textarea>" in html
    assert api("alice").get("/api/v1/contacts").json()["items"] == before


def test_oversized_form_input_is_a_field_error_not_a_crash(web, api):
    alice = web("alice")
    r = _post(
        alice,
        "/contacts/new",
        {
            "last_name": "x" * 101,
            "job_title": "y" * 151,
            "role": "r" * 121,
            "organisation_id": "",
            "phones": ", ".join(["06 12 34 56 78"] * 21),
            "linkedin_url": "https://www.linkedin.com/in/" + "z" * 300,
        },
    )
    assert r.status_code == 422
    for name, message in (
        ("last_name", "Au plus 100 caractères"),
        ("job_title", "Au plus 150 caractères"),
        ("phones", "20 valeurs au maximum"),
        ("linkedin_url", "Au plus 300 caractères"),
    ):
        assert f'<div class="field-error" data-error-for="{name}">{message}</div>' in r.text, name
    assert api("alice").get("/api/v1/contacts").json()["items"] == []


def test_unknown_organisation_is_shown_next_to_the_organisation_field(web, make_org):
    hidden = make_org("outsider", "Finance SA")
    r = _post(web("alice"), "/contacts/new", {"last_name": "Martin", "organisation_id": str(hidden["id"])})
    assert r.status_code == 422
    assert '<div class="field-error" data-error-for="organisation_id">Organisation inconnue</div>' in r.text
    assert "Finance SA" not in r.text


def test_detail_escapes_what_users_typed(web, make_contact):
    contact = make_contact(
        "alice",
        "<script>alert(1)</script>",
        first_name="Robert'); DROP TABLE contacts;--",
        notes='<img src=x onerror="alert(2)">',
    )
    html = web("alice").get(f"/contacts/{contact['id']}").text
    assert "<script>alert(1)</script>" not in html and "<img src=x" not in html
    assert str(escape("<script>alert(1)</script>")) in html
    assert str(escape('<img src=x onerror="alert(2)">')) in html
    assert str(escape("Robert'); DROP TABLE contacts;--")) in html


def test_rpps_stored_before_the_key_check_shows_a_warning(web, make_contact, db):
    from sqlalchemy import update

    from carnet.contacts.models import Contact

    bad = make_contact("alice", "Docteur", rpps="10100012342")
    good = make_contact("alice", "Docteure", rpps="10100012342")
    # A number saved before the key became a field error (the form refuses it now).
    db.execute(update(Contact).where(Contact.id == bad["id"]).values(rpps="10100012345"))
    db.commit()
    alice = web("alice")
    assert 'data-testid="rpps-warning"' in alice.get(f"/contacts/{bad['id']}").text
    assert 'data-testid="rpps-warning"' not in alice.get(f"/contacts/{good['id']}").text


def test_rpps_with_a_bad_key_is_refused_next_to_the_field(web):
    alice = web("alice")
    r = alice.post(
        "/contacts/new",
        data={"csrf_token": alice.csrf, "last_name": "Docteur", "rpps": "10101201234"},
        follow_redirects=False,
    )
    assert r.status_code == 422
    assert 'data-error-for="rpps"' in r.text and "La clé de ce numéro RPPS est incorrecte" in r.text


def test_outsider_gets_404_pages(web, make_contact):
    contact = make_contact("alice", "Confidentiel")
    outsider = web("outsider")
    for url in (f"/contacts/{contact['id']}", f"/contacts/{contact['id']}/edit"):
        r = outsider.get(url)
        assert r.status_code == 404 and "Confidentiel" not in r.text
    r = _post(outsider, f"/contacts/{contact['id']}/delete", {})
    assert r.status_code == 404
    listing = outsider.get("/contacts")
    assert "Confidentiel" not in listing.text
    assert '<span class="muted small" data-testid="total">0</span>' in listing.text
    assert web("alice").get(f"/contacts/{contact['id']}").status_code == 200


def test_list_filters_total_and_pagination(web, make_org, make_contact):
    alpha = make_org("alice", "Alpha")
    for last in ("Bernard", "Petit", "Durand"):
        make_contact("alice", last, organisation_ids=[alpha["id"]], city="Lyon")
    make_contact("alice", "Ailleurs", city="Brest", marketing_consent="granted")
    alice = web("alice")

    page = alice.get(f"/contacts?organisation_id={alpha['id']}")
    assert page.status_code == 200
    assert '<span class="muted small" data-testid="total">3</span>' in page.text
    assert "Ailleurs" not in page.text
    assert f'<option value="{alpha["id"]}" selected>Alpha</option>' in page.text
    assert page.text.index("Bernard") < page.text.index("Durand") < page.text.index("Petit")

    page = alice.get("/contacts?marketing_consent=granted&org_q=")
    assert "Ailleurs" in page.text and "Bernard" not in page.text
    page = alice.get("/contacts?city__contains=lyo&name__contains=UR")
    assert "Durand" in page.text and "Bernard" not in page.text and "Petit" not in page.text

    first = alice.get(f"/contacts?organisation_id={alpha['id']}&limit=2")
    assert "Bernard" in first.text and "Durand" in first.text and "Petit" not in first.text
    next_link = re.search(r'rel="next" href="\?([^"]+)"', first.text)
    assert next_link
    second = alice.get("/contacts?" + next_link[1].replace("&amp;", "&"))
    assert "Petit" in second.text and "Bernard" not in second.text
    assert 'rel="next"' not in second.text

    newest = alice.get("/contacts?sort=-created_at").text
    assert newest.index("Ailleurs") < newest.index("Bernard")


def test_edit_links_and_consent(web, api, make_org, make_contact):
    alpha, beta = make_org("alice", "Alpha"), make_org("alice", "Beta")
    clock.freeze(datetime(2026, 1, 5, 10, 0, tzinfo=UTC))
    contact = make_contact(
        "alice",
        "Martin",
        organisations=[{"organisation_id": alpha["id"], "role": "DAF"}],
        marketing_consent="granted",
    )
    alice = web("alice")
    form = alice.get(f"/contacts/{contact['id']}/edit").text
    assert f'<input type="hidden" name="org_id" value="{alpha["id"]}">' in form
    assert 'value="2026-01-05"' in form

    clock.freeze(datetime(2026, 1, 5, 10, 20, tzinfo=UTC))
    r = _post(
        alice,
        f"/contacts/{contact['id']}/edit",
        {
            "version": "1",
            "last_name": "Martin",
            "org_id": str(alpha["id"]),
            "org_role": "Ancienne DAF",
            "org_remove": "0",
            "organisation_id": str(beta["id"]),
            "role": "DG",
            "org_primary": "new",
            "marketing_consent": "withdrawn",
            "marketing_consent_at": "2026-01-05",  # the old date, sent back by the form
        },
    )
    assert r.status_code == 303 and r.headers["location"] == f"/contacts/{contact['id']}", r.text
    stored = api("alice").get(f"/api/v1/contacts/{contact['id']}").json()
    assert stored["organisations"] == [{"organisation_id": beta["id"], "role": "DG", "is_primary": True}]
    assert stored["marketing_consent"] == "withdrawn"
    assert stored["marketing_consent_at"] == "2026-01-05T10:20:00Z"
    assert stored["version"] == 2

    # Saving again with the date the form shows keeps the stored time.
    clock.freeze(datetime(2026, 1, 5, 10, 25, tzinfo=UTC))
    r = _post(
        alice,
        f"/contacts/{contact['id']}/edit",
        {
            "version": "2",
            "last_name": "Martin",
            "city": "Nantes",
            "marketing_consent": "withdrawn",
            "marketing_consent_at": "2026-01-05",
            "org_id": str(beta["id"]),
            "org_role": "DG",
            "org_primary": "0",
        },
    )
    assert r.status_code == 303, r.text
    stored = api("alice").get(f"/api/v1/contacts/{contact['id']}").json()
    assert stored["city"] == "Nantes" and stored["marketing_consent_at"] == "2026-01-05T10:20:00Z"
    assert stored["organisations"] == [{"organisation_id": beta["id"], "role": "DG", "is_primary": True}]
    assert stored["version"] == 3

    history = alice.get(f"/records/contact/{contact['id']}/history")
    assert history.status_code == 200
    assert "<td>Sociétés</td>" in history.text and "<td>Ville</td>" in history.text

    # A stale form (version 1) is refused and changes nothing.
    r = _post(alice, f"/contacts/{contact['id']}/edit", {"version": "1", "last_name": "Autre"})
    assert r.status_code == 412
    assert api("alice").get(f"/api/v1/contacts/{contact['id']}").json()["last_name"] == "Martin"


def test_delete(web, api, make_contact):
    contact = make_contact("alice", "Éphémère")
    r = _post(web("alice"), f"/contacts/{contact['id']}/delete", {})
    assert r.status_code == 303 and r.headers["location"] == "/contacts"
    assert api("alice").get(f"/api/v1/contacts/{contact['id']}").status_code == 404


def test_organisation_cards_fragment(web, api, make_org, make_contact):
    org = make_org("alice", "Alpha")
    make_contact(
        "alice",
        "Martin",
        first_name="Claire",
        job_title="Directrice",
        emails=["claire@alpha.fr"],
        phones=["0472000000"],
        organisations=[{"organisation_id": org["id"], "role": "DAF"}],
    )
    outsider_id = api("outsider").post("/api/v1/organisations", json={"name": "Tmp"}).json()["owner_id"]
    api("admin").post(
        "/api/v1/contacts",
        json={"last_name": "Invisible", "owner_id": outsider_id, "organisation_ids": [org["id"]]},
    )
    html = web("alice").get(f"/contacts/_for/organisation/{org['id']}").text
    assert "<html" not in html
    assert "Claire Martin" in html and "Directrice" in html and "DAF" in html
    assert "claire@alpha.fr" in html and "04 72 00 00 00" in html
    assert f'href="/contacts/new?organisation_id={org["id"]}"' in html
    assert "Invisible" not in html
    assert web("outsider").get(f"/contacts/_for/organisation/{org['id']}").status_code == 404


def test_organisation_picker_options(web, make_org):
    make_org("alice", "Alpha Conseil", city="Lyon")
    make_org("outsider", "Alpha Finance")
    html = web("alice").get("/contacts/_organisation_options?org_q=alpha").text
    assert "Alpha Conseil (Lyon)" in html and "Alpha Finance" not in html
    assert (
        "Aucune société ne correspond" in web("alice").get("/contacts/_organisation_options?org_q=zzz").text
    )
