"""Global search over the API: folding, prefixes, numbers, ranking, visibility, hostile input."""

from __future__ import annotations

import pytest


def _org(client, **fields):
    r = client.post("/api/v1/organisations", json=fields)
    assert r.status_code == 201, r.text
    return r.json()


def _titles(client, q, **params):
    r = client.get("/api/v1/search", params={"q": q, **params})
    assert r.status_code == 200, r.text
    return [item["title"] for item in r.json()["items"]]


@pytest.fixture
def sample(api):
    alice = api("alice")
    return {
        "sg": _org(alice, name="Société Générale", siren="552120222", siret="55212022200013", city="Paris"),
        "boul": _org(
            alice,
            name="Boulangerie Martin",
            city="Saint-Étienne",
            phones=["+33612345678"],
            emails=["jean.dupont@boulangerie-martin.fr"],
            website="www.boulangerie-martin.fr",
        ),
        "oreal": _org(alice, name="L'Oréal", siren="404833048", city="Clichy"),
        "other": _org(alice, name="Atelier de la Boulangerie", city="Lyon"),
    }


def test_result_shape(api, sample):
    r = api("alice").get("/api/v1/search", params={"q": "societe"})
    assert r.json() == {
        "items": [
            {
                "record_type": "organisation",
                "record_id": sample["sg"]["id"],
                "title": "Société Générale",
                "subtitle": "Paris · 552120222",
                "url": f"/organisations/{sample['sg']['id']}",
            }
        ]
    }


@pytest.mark.parametrize(
    "query",
    ["societe generale", "SOCIÉTÉ GÉNÉRALE", "Societe", "générale", "gene soc", "paris societe"],
)
def test_accents_and_case_do_not_matter(api, sample, query):
    assert _titles(api("alice"), query) == ["Société Générale"]


def test_prefix_while_typing(api, sample):
    alice = api("alice")
    assert _titles(alice, "boul")[0] == "Boulangerie Martin"
    assert _titles(alice, "boulangerie mar") == ["Boulangerie Martin"]
    assert _titles(alice, "b") == []  # one letter is not a query yet


def test_title_prefix_ranks_first(api, sample):
    alice = api("alice")
    _org(alice, name="Martin Boulangerie Industrielle", city="Nantes")
    titles = _titles(alice, "boulangerie")
    assert titles[0] == "Boulangerie Martin"
    assert set(titles[1:]) == {"Atelier de la Boulangerie", "Martin Boulangerie Industrielle"}
    assert _titles(alice, "martin")[0] == "Martin Boulangerie Industrielle"


@pytest.mark.parametrize(
    "query", ["552120222", "552 120 222", "55212022200013", "552 120 222 00013", "55212"]
)
def test_siren_and_siret_digits(api, sample, query):
    assert _titles(api("alice"), query) == ["Société Générale"]


@pytest.mark.parametrize(
    "query",
    [
        "0612345678",
        "06 12 34 56 78",
        "06.12.34.56.78",
        "+33 6 12 34 56 78",
        "+33612345678",
        "0033 6 12 34 56 78",
    ],
)
def test_phone_digits_in_any_format(api, sample, query):
    assert _titles(api("alice"), query) == ["Boulangerie Martin"]


def test_city_email_and_website(api, sample):
    alice = api("alice")
    assert _titles(alice, "saint-etienne") == ["Boulangerie Martin"]
    assert _titles(alice, "saint etienne") == ["Boulangerie Martin"]
    assert _titles(alice, "clichy") == ["L'Oréal"]
    assert _titles(alice, "jean.dupont@boulangerie-martin.fr") == ["Boulangerie Martin"]
    assert _titles(alice, "jean.dup") == ["Boulangerie Martin"]
    assert _titles(alice, "dupont") == ["Boulangerie Martin"]


@pytest.mark.parametrize("query", ["l'oréal", "L’Oréal", "oreal", "l oreal"])
def test_apostrophes(api, sample, query):
    assert _titles(api("alice"), query) == ["L'Oréal"]


@pytest.mark.parametrize(
    "query",
    [
        '"',
        "AND OR NOT",
        "*",
        "l'oréal",
        "NEAR(a b)",
        "boul*",
        "-boul",
        "a:b",
        "'",
        "\\",
        "%",
        "_",
        "());--",
        "col:val",
        "^boul",
        "{x}",
        "' OR 1=1 --",
        "&|!<->",
        ".",
        "@",
        "+",
        "a" * 190,
    ],
)
def test_hostile_queries_never_error(api, sample, query):
    r = api("alice").get("/api/v1/search", params={"q": query})
    assert r.status_code == 200, r.text
    assert isinstance(r.json()["items"], list)


def test_operators_are_plain_words(api, sample):
    alice = api("alice")
    _org(alice, name="Or et Argent", city="Paris")
    assert _titles(alice, "OR") == ["Or et Argent", "L'Oréal"]  # a prefix of "oreal" too
    assert _titles(alice, "boul*") == ["Boulangerie Martin", "Atelier de la Boulangerie"]
    assert _titles(alice, "%oul") == []  # no LIKE wildcard: nothing starts with "oul"


def test_visibility_outsider_never_sees_another_department(api, sample):
    outsider = api("outsider")
    for query in ("societe", "552120222", "boulangerie", "0612345678", "jean.dupont"):
        assert _titles(outsider, query) == []
    mine = _org(outsider, name="Société Finance Interne", city="Paris")
    assert _titles(outsider, "societe") == ["Société Finance Interne"]
    assert mine["id"] not in [
        i["record_id"] for i in api("alice").get("/api/v1/search?q=societe").json()["items"]
    ]
    assert set(_titles(api("admin"), "societe")) == {"Société Générale", "Société Finance Interne"}


def test_types_filter_and_limit(api, sample):
    alice = api("alice")
    assert _titles(alice, "boulangerie", types="organisation", limit=1) == ["Boulangerie Martin"]
    assert _titles(alice, "boulangerie", types="nosuchtype") == []
    assert alice.get("/api/v1/search", params={"q": "x", "limit": 0}).status_code == 422
    assert alice.get("/api/v1/search", params={"q": "x", "limit": 51}).status_code == 422


def test_updates_and_deletes_reach_the_index(api, sample):
    alice = api("alice")
    org = sample["other"]
    alice.patch(f"/api/v1/organisations/{org['id']}", json={"name": "Atelier Pâtissier"})
    assert _titles(alice, "patissier") == ["Atelier Pâtissier"]
    assert "Atelier de la Boulangerie" not in _titles(alice, "boulangerie")
    alice.delete(f"/api/v1/organisations/{org['id']}")
    assert _titles(alice, "patissier") == []


def test_requires_authentication(anon):
    assert anon.get("/api/v1/search?q=societe").status_code == 401


def test_rate_limited_per_user(api, sample, monkeypatch):
    monkeypatch.setenv("CARNET_RATE_LIMIT_SEARCH", "3/minute")
    from carnet.settings import get_settings

    get_settings.cache_clear()
    alice, bob = api("alice"), api("bob")
    assert [alice.get("/api/v1/search?q=societe").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert bob.get("/api/v1/search?q=societe").status_code == 200


def test_renaming_an_organisation_refreshes_its_contacts_and_deals_in_search(api, db):
    """Contacts and deals carry their organisation's name in their search text."""
    from carnet.deals.pipelines import ensure_default_pipelines

    ensure_default_pipelines(db)
    db.commit()
    alice = api("alice")
    org = alice.post("/api/v1/organisations", json={"name": "Ancien Nom Industries"}).json()
    contact = alice.post(
        "/api/v1/contacts", json={"last_name": "Roussel", "organisation_ids": [org["id"]]}
    ).json()
    deal = alice.post("/api/v1/deals", json={"title": "Renouvellement", "organisation_id": org["id"]}).json()
    assert (
        alice.patch(f"/api/v1/organisations/{org['id']}", json={"name": "Zygomatique Conseil"}).status_code
        == 200
    )
    hits = {
        (h["record_type"], h["record_id"])
        for h in alice.get("/api/v1/search", params={"q": "zygomatique"}).json()["items"]
    }
    assert ("contact", contact["id"]) in hits and ("deal", deal["id"]) in hits
    stale = alice.get("/api/v1/search", params={"q": "ancien nom"}).json()["items"]
    assert not [h for h in stale if h["record_type"] in ("contact", "deal")]


def test_each_record_type_keeps_its_own_visibility_scope(api):
    """One search filters every record type by its own scope (own, department, all) at once."""
    alice, bob, admin = api("alice"), api("bob"), api("admin")  # alice and bob: same department
    bobs_org = _org(bob, name="Zircon Industries")
    r = bob.post("/api/v1/contacts", json={"first_name": "Zoé", "last_name": "Zircon"})
    assert r.status_code == 201, r.text
    assert sorted(_titles(alice, "zircon")) == ["Zircon Industries", "Zoé Zircon"]
    r = admin.put("/api/v1/visibility", json={"scopes": {"organisation": "own", "deal": "all"}})
    assert r.status_code == 200
    assert _titles(alice, "zircon") == ["Zoé Zircon"]  # bob's organisation is his own now
    assert sorted(_titles(bob, "zircon")) == ["Zircon Industries", "Zoé Zircon"]
    assert _titles(api("outsider"), "zircon") == []
    admin.put("/api/v1/visibility", json={"scopes": {"organisation": "all"}})
    assert _titles(api("outsider"), "zircon") == ["Zircon Industries"]
    assert bobs_org["id"] in [i["record_id"] for i in alice.get("/api/v1/search?q=zirc").json()["items"]]


def test_titles_starting_with_the_query_fill_the_limit_before_other_matches(api):
    alice = api("alice")
    for name in ("Quartz Nord", "Quartz Sud", "Quartz Est"):
        _org(alice, name=name)
    _org(alice, name="Atelier Quartz")
    _org(alice, name="Verrerie", city="Quartzville")
    starting = {"Quartz Est", "Quartz Nord", "Quartz Sud"}
    assert set(_titles(alice, "quartz", limit=3)) == starting
    titles = _titles(alice, "quartz", limit=5)
    assert set(titles[:3]) == starting
    assert set(titles[3:]) == {"Atelier Quartz", "Verrerie"}
    assert _titles(alice, "quartz n", limit=1) == ["Quartz Nord"]


def test_short_words_and_hyphenated_names_still_count(api, sample):
    """Every word must match, a short one too, even when the index looks up only the longer ones;
    a hyphenated name matches whole or while being typed."""
    alice = api("alice")
    _org(alice, name="Port Autonome", city="La Roche-sur-Yon")
    assert _titles(alice, "la roche-sur-yon") == ["Port Autonome"]
    assert _titles(alice, "la roche") == ["Port Autonome"]
    assert _titles(alice, "roche-sur") == ["Port Autonome"]
    assert _titles(alice, "lx roche") == []
    assert _titles(alice, "la roche-sur-yonne") == []
    assert _titles(alice, "saint-eti") == ["Boulangerie Martin"]
    assert _titles(alice, "l oreal") == ["L'Oréal"]


# -- a typo in a name (PostgreSQL: the documents' vocabulary and its trigram index, migration 0069) --


def _skip_unless_postgresql(db) -> None:
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("typo tolerance uses pg_trgm; SQLite searches with FTS5 only")


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("societe generalle", "Société Générale"),
        ("SOCIETE GENRALE", "Société Générale"),
        ("boulangerie martn", "Boulangerie Martin"),
        ("boulanjerie martin", "Boulangerie Martin"),
    ],
)
def test_a_typo_in_a_name_still_finds_it(api, db, sample, query, first):
    _skip_unless_postgresql(db)
    titles = _titles(api("alice"), query)
    assert titles and titles[0] == first, titles


def test_words_of_a_new_record_are_known_at_once(api, db, sample):
    _skip_unless_postgresql(db)
    alice = api("alice")
    assert _titles(alice, "zirtanex") == []
    _org(alice, name="Zyrtanex Biotech", city="Grenoble")
    assert _titles(alice, "zirtanex") == ["Zyrtanex Biotech"]
    assert _titles(alice, "zirtanex grenoble") == ["Zyrtanex Biotech"]


def test_a_renamed_record_teaches_its_new_name(api, db, sample):
    _skip_unless_postgresql(db)
    alice = api("alice")
    r = alice.patch(f"/api/v1/organisations/{sample['other']['id']}", json={"name": "Atelier Quorvane"})
    assert r.status_code == 200, r.text
    assert _titles(alice, "qorvane") == ["Atelier Quorvane"]


def test_no_correction_when_the_query_matches_or_nothing_is_alike(api, db, sample):
    _skip_unless_postgresql(db)
    alice = api("alice")
    assert set(_titles(alice, "boulangerie")) == {"Boulangerie Martin", "Atelier de la Boulangerie"}
    assert _titles(alice, "qzxw") == []
    # every word known, no record holds them all: nothing is "corrected" into another match
    assert _titles(alice, "boulangerie clichy") == []


def test_a_corrected_search_keeps_visibility(api, db, sample):
    _skip_unless_postgresql(db)
    outsider = api("outsider")
    assert _titles(outsider, "societe generalle") == []
    assert _titles(outsider, "boulangerie martn") == []
    _org(outsider, name="Société Finance Interne", city="Paris")
    assert _titles(outsider, "societe finanse") == ["Société Finance Interne"]
    assert "Société Finance Interne" not in _titles(api("alice"), "societe finanse")


def test_vocabulary_words_are_runs_of_four_to_forty_letters():
    from carnet.core.search import words_of

    body = "jean-pierre dupont 0612345678 j.dupont@acme.fr ab " + "x" * 41
    assert words_of([body, "dupont saint-etienne"]) == [
        "acme",
        "dupont",
        "etienne",
        "jean",
        "pierre",
        "saint",
    ]


def test_documents_written_directly_get_their_words_added(db):
    _skip_unless_postgresql(db)
    from sqlalchemy import insert, text

    from carnet.core.search import SearchDocument, add_missing_words, words_of

    body = "quixotique etablissements 75001 paris"
    db.execute(
        insert(SearchDocument.__table__).values(
            record_type="organisation", record_id=987654, title="Quixotique", subtitle="", body=body
        )
    )
    assert add_missing_words(db) >= 1
    known = set(db.scalars(text("SELECT word FROM search_words")))
    assert set(words_of([body])) <= known
    assert add_missing_words(db) == 0
