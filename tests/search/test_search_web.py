"""The top-bar suggestions fragment, the results page and the keyboard script."""

from __future__ import annotations

import re


def _org(client, **fields):
    r = client.post("/api/v1/organisations", json=fields)
    assert r.status_code == 201, r.text
    return r.json()


def test_suggestions_fragment(api, web):
    org = _org(api("alice"), name="Société Générale", siren="552120222", city="Paris")
    alice = web("alice")
    r = alice.get("/search/suggest", params={"q": "societe gen"}, headers={"HX-Request": "true"})
    assert r.status_code == 200
    html = r.text
    assert "<html" not in html  # a fragment, not a page
    first = re.search(r'<a class="search-result" href="([^"]+)"[^>]*>(.*?)</a>', html)
    assert first.group(1) == f"/organisations/{org['id']}"
    assert '<span class="search-result-type">Organisation</span>' in first.group(2)
    assert "<strong>Société Générale</strong>" in first.group(2)
    assert '<span class="search-result-sub">Paris · 552120222</span>' in first.group(2)
    assert 'href="/search?q=societe%20gen"' in html  # "see all results"


def test_empty_query_is_truly_empty(web):
    alice = web("alice")
    for q in ("", "   "):
        r = alice.get("/search/suggest", params={"q": q})
        assert r.status_code == 200 and r.text == ""


def test_no_result_message_is_translated(web):
    r = web("alice").get("/search/suggest", params={"q": "zzyzx"})
    assert r.text.strip() == "<p>Aucun résultat pour « zzyzx »</p>"


def test_outsider_suggestions_hide_other_departments(api, web):
    _org(api("alice"), name="Boulangerie Martin")
    r = web("outsider").get("/search/suggest", params={"q": "boulangerie"})
    assert "Boulangerie Martin" not in r.text
    assert "search-result" not in r.text


def test_results_page_grouped_by_type(api, web):
    alice_api = api("alice")
    _org(alice_api, name="Boulangerie Martin", city="Lyon")
    _org(alice_api, name="Boulangerie Durand", city="Lyon")
    r = web("alice").get("/search", params={"q": "boulangerie"})
    assert r.status_code == 200
    assert 'data-testid="search-group-organisation"' in r.text
    section = r.text.split('data-testid="search-group-organisation"')[1]
    assert "<h2>Organisation <span" in section
    assert section.index("Boulangerie Durand") < section.index("</section>")
    assert section.index("Boulangerie Martin") < section.index("</section>")
    empty = web("alice").get("/search", params={"q": "zzyzx"})
    assert "Aucun résultat pour « zzyzx »" in empty.text


def test_search_script_is_loaded(web):
    page = web("alice").get("/")
    assert '<script src="/static/js/search.js' in page.text
    script = web("alice").get("/static/js/search.js")
    assert script.status_code == 200 and "ArrowDown" in script.text


def test_suggest_requires_login(anon):
    r = anon.get("/search/suggest", params={"q": "x"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def _options(html: str) -> list[tuple[str, bool, str]]:
    return [
        (value, bool(selected), label.strip())
        for value, selected, label in re.findall(
            r'<option value="(\d*)"\s*(selected)?\s*>([^<]*)</option>', html
        )
    ]


def test_record_picker_options_search_and_keep_the_current_value(api, web):
    alpes = _org(api("alice"), name="Clinique des Alpes", city="Grenoble")
    parc = _org(api("alice"), name="Clinique du Parc", city="Lyon")
    alice = web("alice")
    # Typing with nothing chosen yet: the matches, the best one selected.
    r = alice.get("/search/pick/organisation", params={"pick_q": "clinique", "field": "organisation_id"})
    assert r.status_code == 200 and "<html" not in r.text
    options = _options(r.text)
    assert options[0] == ("", False, "—")
    assert {o[0] for o in options[1:]} == {str(alpes["id"]), str(parc["id"])}
    assert [o[1] for o in options[1:]] == [True, False]
    # With a current value: it stays selected, the matches follow without it.
    r = alice.get(
        "/search/pick/organisation",
        params={"pick_q": "clinique", "field": "organisation_id", "organisation_id": str(parc["id"])},
    )
    assert _options(r.text)[1] == (str(parc["id"]), True, "Clinique du Parc · Lyon")
    assert [o[0] for o in _options(r.text)[2:]] == [str(alpes["id"])]
    # The page load asks for the current value's title alone.
    r = alice.get(
        "/search/pick/organisation", params={"field": "organisation_id", "organisation_id": str(alpes["id"])}
    )
    assert _options(r.text) == [("", False, "—"), (str(alpes["id"]), True, "Clinique des Alpes · Grenoble")]


def test_record_picker_shows_only_what_the_user_may_see(api, web):
    hidden = _org(api("alice"), name="Clinique Confidentielle")
    outsider = web("outsider")
    r = outsider.get(
        "/search/pick/organisation", params={"pick_q": "confidentielle", "field": "organisation_id"}
    )
    assert _options(r.text) == [("", False, "—")]
    # A hidden current value keeps its number only, never its name.
    r = outsider.get(
        "/search/pick/organisation", params={"field": "organisation_id", "organisation_id": str(hidden["id"])}
    )
    assert "Confidentielle" not in r.text and _options(r.text)[1] == (
        str(hidden["id"]),
        True,
        f"#{hidden['id']}",
    )
    assert outsider.get("/search/pick/invoice", params={"pick_q": "x"}).status_code == 404


def _project(db, api, name: str, who: str, org_id: int) -> int:
    from tests.projects.views_support import make_template

    body = {"template_id": make_template(db, name=f"Modèle {name}"), "organisation_id": org_id, "name": name}
    r = api(who).post("/api/v1/projects", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _quote(api, who: str, org_id: int, title: str) -> dict:
    r = api(who).post("/api/v1/quotes", json={"organisation_id": org_id, "title": title, "lines": []})
    assert r.status_code == 201, r.text
    return r.json()


def test_project_picker_looks_projects_up_by_name_within_the_users_visibility(api, web, db):
    valence = _org(api("alice"), name="CH de Valence")["id"]
    lyon = _org(api("outsider"), name="CH de Lyon")["id"]
    mine = _project(db, api, "Déploiement lits Valence", "alice", valence)
    other = _project(db, api, "Déploiement lits Lyon", "outsider", lyon)  # Finance department
    alice = web("alice")
    r = alice.get("/search/pick/project", params={"pick_q": "déploiement", "field": "record_id"})
    assert _options(r.text) == [
        ("", False, "—"),
        (str(mine), True, "Déploiement lits Valence · CH de Valence"),
    ]
    # the client's name finds its projects too; another department's project never shows
    r = alice.get("/search/pick/project", params={"pick_q": "ch de", "field": "record_id"})
    assert [o[0] for o in _options(r.text)] == ["", str(mine)]
    r = alice.get("/search/pick/project", params={"field": "record_id", "record_id": str(other)})
    assert "Lyon" not in r.text and _options(r.text)[1] == (str(other), True, f"#{other}")
    r = web("outsider").get("/search/pick/project", params={"pick_q": "déploiement", "field": "record_id"})
    assert [o[0] for o in _options(r.text)] == ["", str(other)]


def test_quote_picker_offers_number_and_client_of_visible_quotes(api, web):
    martin = _org(api("alice"), name="Boulangerie Martin")["id"]
    first = _quote(api, "alice", martin, "Four à pain")
    second = _quote(api, "alice", martin, "Pétrin")
    hidden = _quote(api, "outsider", _org(api("outsider"), name="Boulangerie Durand")["id"], "Vitrine")
    alice = web("alice")
    r = alice.get("/search/pick/quote", params={"pick_q": "boulangerie", "field": "quote_id"})
    assert _options(r.text) == [
        ("", False, "—"),
        (str(second["id"]), True, f"{second['number']} · Boulangerie Martin"),  # newest first
        (str(first["id"]), False, f"{first['number']} · Boulangerie Martin"),
    ]
    # the number, typed in part, and the title find it too
    number_end = first["number"][-4:]
    assert [o[0] for o in _options(alice.get("/search/pick/quote", params={"pick_q": number_end}).text)] == [
        "",
        str(first["id"]),
    ]
    assert [o[0] for o in _options(alice.get("/search/pick/quote", params={"pick_q": "pétrin"}).text)] == [
        "",
        str(second["id"]),
    ]
    r = alice.get("/search/pick/quote", params={"field": "quote_id", "quote_id": str(hidden["id"])})
    assert "Durand" not in r.text and _options(r.text)[1] == (str(hidden["id"]), True, f"#{hidden['id']}")
    # a user who may not read quotes at all is offered none
    assert _options(web("reader").get("/search/pick/quote", params={"pick_q": "boulangerie"}).text) == [
        ("", False, "—")
    ]


def test_picker_following_a_type_field_searches_the_chosen_type(api, web):
    _org(api("alice"), name="Clinique des Alpes")
    quote = _quote(api, "alice", _org(api("alice"), name="Clinique du Parc")["id"], "Lits")
    alice = web("alice")
    params = {"pick_q": "clinique", "field": "record_id", "type_field": "record_type"}
    orgs = alice.get("/search/pick", params={**params, "record_type": "organisation"}).text
    assert {o[2] for o in _options(orgs)[1:]} == {"Clinique des Alpes", "Clinique du Parc"}
    quotes = alice.get("/search/pick", params={**params, "record_type": "quote"}).text
    assert [o[2] for o in _options(quotes)] == ["—", f"{quote['number']} · Clinique du Parc"]
    # no type chosen yet: nothing to pick; an unknown type is not found
    assert _options(alice.get("/search/pick", params=params).text) == [("", False, "—")]
    assert alice.get("/search/pick", params={**params, "record_type": "invoice"}).status_code == 404


def test_project_and_quote_pickers_ignore_accents_and_case(api, web, db):
    """Typed without accents, with them, or in capitals, a name is found as the search finds it."""
    ecole = _org(api("alice"), name="École Saint-Étienne")["id"]
    other = _org(api("alice"), name="Clinique du Parc")["id"]
    project = _project(db, api, "Société Générale – Rénovation", "alice", other)
    quote = _quote(api, "alice", other, "Œuvre sociale de Noël")
    client_quote = _quote(api, "alice", ecole, "Tableaux")
    alice = web("alice")

    def picked(record_type: str, typed: str) -> list[str]:
        return [
            o[0] for o in _options(alice.get(f"/search/pick/{record_type}", params={"pick_q": typed}).text)
        ][1:]

    for typed in ("societe", "SOCIÉTÉ gén", "renovation", "Rénov"):
        assert picked("project", typed) == [str(project)], typed
    for typed in ("oeuvre", "Œuvre", "noel", "SOCIALE DE NOËL"):
        assert picked("quote", typed) == [str(quote["id"])], typed
    # the client's name, typed without accents, finds the client's quotes
    assert picked("quote", "ecole saint-e") == [str(client_quote["id"])]
    assert picked("quote", "saint") == []  # the client's name must start with it
    assert picked("project", "societe x") == []
