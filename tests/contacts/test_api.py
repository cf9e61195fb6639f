"""Contacts over the API: CRUD, validation, organisation links, visibility, ETags, filters,
pagination, audit and events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from carnet.contacts.models import ContactOrganisation
from carnet.core import clock
from carnet.core.audit import AuditEntry
from carnet.core.events import Event


def test_create_read_update_delete(api, db, make_org):
    alice = api("alice")
    org = make_org("alice", "Société Générale")
    r = alice.post(
        "/api/v1/contacts",
        json={
            "civility": "Mme",
            "first_name": "Claire",
            "last_name": "Martin",
            "job_title": "Directrice financière",
            "emails": ["claire.martin@example.fr", "c.martin@perso.fr"],
            "phones": ["06 12 34 56 78", "+44 20 7946 0958"],
            "linkedin_url": "https://www.linkedin.com/in/claire-martin",
            "rpps": "101 000 1234 2",
            "organisations": [{"organisation_id": org["id"], "role": "DAF"}],
            "city": "Paris",
            "do_not_call": True,
            "tags": ["décideur"],
        },
    )
    assert r.status_code == 201, r.text
    contact = r.json()
    assert r.headers["etag"] == '"1"'
    assert r.headers["location"] == f"/api/v1/contacts/{contact['id']}"
    assert contact["phones"] == ["+33612345678", "+442079460958"]
    assert contact["primary_email"] == "claire.martin@example.fr"
    assert contact["rpps"] == "10100012342"
    assert contact["organisations"] == [{"organisation_id": org["id"], "role": "DAF", "is_primary": True}]
    assert contact["do_not_call"] is True
    assert contact["marketing_consent"] == "unknown" and contact["marketing_consent_at"] is None
    assert contact["tags"] == ["décideur"]
    assert contact["owner_id"] is not None and contact["department_id"] is not None

    r = alice.get(f"/api/v1/contacts/{contact['id']}")
    assert r.status_code == 200 and r.headers["etag"] == '"1"'
    assert r.json() == contact

    url = f"/api/v1/contacts/{contact['id']}"
    r = alice.patch(url, json={"job_title": "DAF", "emails": ["new@example.fr"]}, headers={"If-Match": '"1"'})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and r.headers["etag"] == '"2"'
    assert r.json()["primary_email"] == "new@example.fr"
    assert r.json()["organisations"] == contact["organisations"]  # untouched when not sent

    r = alice.patch(url, json={"job_title": "Autre"}, headers={"If-Match": '"1"'})
    assert r.status_code == 412
    assert alice.get(url).json()["job_title"] == "DAF"

    assert alice.delete(url, headers={"If-Match": '"1"'}).status_code == 412
    assert alice.delete(url).status_code == 204
    assert alice.get(url).status_code == 404
    assert (
        db.scalars(select(ContactOrganisation).where(ContactOrganisation.contact_id == contact["id"])).all()
        == []
    )

    types = [
        e.type
        for e in db.scalars(
            select(Event)
            .where(Event.record_type == "contact", Event.record_id == contact["id"])
            .order_by(Event.id)
        )
    ]
    assert types == ["contact.created", "contact.updated", "contact.deleted"]
    entries = list(
        db.scalars(
            select(AuditEntry)
            .where(AuditEntry.record_type == "contact", AuditEntry.record_id == contact["id"])
            .order_by(AuditEntry.seq)
        )
    )
    assert [a.action for a in entries] == ["create", "update", "delete"]
    assert entries[0].summary == "Claire Martin"
    assert entries[1].changes["job_title"] == {"old": "Directrice financière", "new": "DAF"}
    assert entries[1].changes["emails"] == {
        "old": ["claire.martin@example.fr", "c.martin@perso.fr"],
        "new": ["new@example.fr"],
    }
    assert set(entries[1].changes) == {"job_title", "emails"}


def test_event_payload_is_the_api_shape(api, db, make_org):
    org = make_org("alice", "ACME")
    contact = (
        api("alice")
        .post("/api/v1/contacts", json={"last_name": "Durand", "organisation_ids": [org["id"]]})
        .json()
    )
    event = db.scalars(
        select(Event).where(Event.record_type == "contact", Event.record_id == contact["id"])
    ).one()
    assert event.payload["last_name"] == "Durand"
    assert event.payload["organisations"] == [
        {"organisation_id": org["id"], "role": None, "is_primary": True}
    ]


def test_unchanged_patch_writes_nothing(api, db, make_contact):
    contact = make_contact("alice", "Petit", city="Lyon")
    r = api("alice").patch(f"/api/v1/contacts/{contact['id']}", json={"city": "Lyon"})
    assert r.status_code == 200 and r.json()["version"] == 1
    assert db.scalars(
        select(Event.type).where(Event.record_type == "contact", Event.record_id == contact["id"])
    ).all() == ["contact.created"]


def test_organisation_links(api, make_org):
    alice = api("alice")
    a, b, c = make_org("alice", "Alpha"), make_org("alice", "Beta"), make_org("bob", "Gamma")
    r = alice.post(
        "/api/v1/contacts",
        json={
            "last_name": "Bernard",
            "organisations": [
                {"organisation_id": a["id"], "role": "Acheteur"},
                {"organisation_id": b["id"], "role": "Conseil", "is_primary": True},
            ],
        },
    )
    assert r.status_code == 201, r.text
    contact = r.json()
    assert contact["organisations"] == [
        {"organisation_id": a["id"], "role": "Acheteur", "is_primary": False},
        {"organisation_id": b["id"], "role": "Conseil", "is_primary": True},
    ]
    named = alice.get(f"/api/v1/contacts/{contact['id']}/organisations").json()
    assert [(o["name"], o["role"], o["is_primary"]) for o in named] == [
        ("Alpha", "Acheteur", False),
        ("Beta", "Conseil", True),
    ]

    # Replace-all: the shortcut gives plain links, the first one becomes the main one.
    r = alice.patch(f"/api/v1/contacts/{contact['id']}", json={"organisation_ids": [c["id"], a["id"]]})
    assert r.status_code == 200, r.text
    assert r.json()["organisations"] == [
        {"organisation_id": c["id"], "role": None, "is_primary": True},
        {"organisation_id": a["id"], "role": None, "is_primary": False},
    ]
    assert r.json()["version"] == 2  # the ETag moves although only links changed

    r = alice.patch(f"/api/v1/contacts/{contact['id']}", json={"organisations": []})
    assert r.status_code == 200 and r.json()["organisations"] == []


@pytest.mark.parametrize(
    ("links", "field"),
    [
        ([{"organisation_id": "A"}, {"organisation_id": "A"}], "organisations.1.organisation_id"),
        (
            [{"organisation_id": "A", "is_primary": True}, {"organisation_id": "B", "is_primary": True}],
            "organisations.1.is_primary",
        ),
        ([{"organisation_id": 99999999}], "organisations.0.organisation_id"),
        ([{"organisation_id": "A"}, {"organisation_id": "F"}], "organisations.1.organisation_id"),
    ],
)
def test_bad_links_are_field_errors(api, make_org, links, field):
    ids = {"A": make_org("alice", "Alpha")["id"], "B": make_org("alice", "Beta")["id"]}
    ids["F"] = make_org("outsider", "Finance Corp")["id"]  # another department: alice cannot see it
    for link in links:
        link["organisation_id"] = ids.get(link["organisation_id"], link["organisation_id"])
    alice = api("alice")
    r = alice.post("/api/v1/contacts", json={"last_name": "Lien", "organisations": links})
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == [field]
    assert alice.get("/api/v1/contacts", params={"last_name": "Lien"}).json()["items"] == []


def test_links_and_shortcut_together_are_refused(api, make_org):
    org = make_org("alice", "Alpha")
    r = api("alice").post(
        "/api/v1/contacts",
        json={
            "last_name": "X",
            "organisation_ids": [org["id"]],
            "organisations": [{"organisation_id": org["id"]}],
        },
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "organisation_ids"


def test_links_to_organisations_the_editor_cannot_see_are_kept(api, make_org):
    """Admin links alice's contact to a Finance organisation; alice replaces the links she sees."""
    alice, admin = api("alice"), api("admin")
    mine = make_org("alice", "Commerce SA")
    other = make_org("outsider", "Finance SA")
    new = make_org("alice", "Nouvelle SA")
    alice_id = alice.get(f"/api/v1/organisations/{mine['id']}").json()["owner_id"]
    contact = admin.post(
        "/api/v1/contacts",
        json={
            "last_name": "Partagé",
            "owner_id": alice_id,
            "organisations": [
                {"organisation_id": mine["id"], "role": "Achats"},
                {"organisation_id": other["id"], "role": "Conseil", "is_primary": True},
            ],
        },
    ).json()
    # alice sees the contact (her own), but only the organisation she may see, by name.
    assert [o["name"] for o in alice.get(f"/api/v1/contacts/{contact['id']}/organisations").json()] == [
        "Commerce SA"
    ]
    r = alice.patch(
        f"/api/v1/contacts/{contact['id']}",
        json={"organisations": [{"organisation_id": new["id"], "role": "DG", "is_primary": True}]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["organisations"] == [
        {"organisation_id": new["id"], "role": "DG", "is_primary": True},
        {"organisation_id": other["id"], "role": "Conseil", "is_primary": False},
    ]
    # Resending the hidden link she read is accepted (round trip), with its role unchanged.
    r = alice.patch(f"/api/v1/contacts/{contact['id']}", json={"organisations": r.json()["organisations"]})
    assert r.status_code == 200 and r.json()["version"] == 2


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"emails": ["pas-un-email"]}, "emails.0"),
        ({"emails": ["ok@example.fr", "a@@b"]}, "emails.1"),
        ({"phones": ["01 23"]}, "phones.0"),
        ({"rpps": "1234"}, "rpps"),
        ({"rpps": "1010001234A"}, "rpps"),
        ({"linkedin_url": "https://example.com/in/claire"}, "linkedin_url"),
        ({"linkedin_url": "https://linkedin.com.evil.fr/in/x"}, "linkedin_url"),
        ({"civility": "Dr"}, "civility"),
        ({"marketing_consent": "maybe"}, "marketing_consent"),
        (
            {"marketing_consent": "granted", "marketing_consent_at": "2999-01-01T00:00:00Z"},
            "marketing_consent_at",
        ),
        ({"last_name": "   "}, "last_name"),
        ({"last_name": "x" * 101}, "last_name"),
        ({"job_title": "x" * 151}, "job_title"),
        ({"notes": "x" * 20001}, "notes"),
        ({"first_name": 12}, "first_name"),
        ({"emails": "a@b.fr"}, "emails"),
        ({"do_not_call": "peut-être"}, "do_not_call"),
        ({"organisation_ids": ["abc"]}, "organisation_ids.0"),
        ({"custom_fields": {"nope": 1}}, "custom_fields.nope"),
        ({"owner_id": 99999999}, "owner_id"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_input_is_a_field_error_and_nothing_is_stored(api, payload, field):
    alice = api("alice")
    before = alice.get("/api/v1/contacts", params={"limit": 200}).json()["items"]
    r = alice.post("/api/v1/contacts", json={"last_name": "Valide", **payload})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in r.json()["errors"]]
    assert alice.get("/api/v1/contacts", params={"limit": 200}).json()["items"] == before


def test_bad_input_on_update_changes_nothing(api, make_contact):
    contact = make_contact("alice", "Stable", phones=["0612345678"])
    url = f"/api/v1/contacts/{contact['id']}"
    for payload, field in (
        ({"phones": ["0612345678", "123"], "city": "Lyon"}, "phones.1"),
        ({"last_name": "  ", "city": "Lyon"}, "last_name"),
        ({"last_name": None, "city": "Lyon"}, "last_name"),
        ({"city": "Lyon", "organisation_ids": [99999999]}, "organisations.0.organisation_id"),
        ({"city": "Lyon", "department_id": 99999999}, "department_id"),
    ):
        r = api("alice").patch(url, json=payload)
        assert r.status_code == 422, (payload, r.text)
        assert {e["field"] for e in r.json()["errors"]} == {field}
        assert api("alice").get(url).json() == contact


def test_malformed_requests_never_500(api):
    alice = api("alice")
    r = alice.post("/api/v1/contacts", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert alice.post("/api/v1/contacts", json={}).status_code == 422
    assert alice.post("/api/v1/contacts", json={"last_name": "X", "organisations": "1"}).status_code == 422
    assert (
        alice.post("/api/v1/contacts", json={"last_name": "X", "organisations": [{"role": "x"}]}).status_code
        == 422
    )
    assert alice.get("/api/v1/contacts/abc").status_code == 422
    assert alice.get("/api/v1/contacts?limit=1000").status_code == 422
    assert alice.get("/api/v1/contacts?cursor=zzz").status_code == 422
    assert alice.get("/api/v1/contacts?nosuchfield=1").status_code == 422
    assert alice.get("/api/v1/contacts?organisation_id=abc").status_code == 422
    assert alice.get("/api/v1/contacts?organisation_id__gte=3").status_code == 422
    assert alice.get("/api/v1/contacts?sort=notes").status_code == 422


def test_ids_beyond_the_database_range_are_not_found(api, web):
    alice = api("alice")
    huge = 2**40
    assert alice.get(f"/api/v1/contacts/{huge}").status_code == 404
    assert alice.patch(f"/api/v1/contacts/{huge}", json={"city": "x"}).status_code == 404
    r = alice.post("/api/v1/contacts", json={"last_name": "X", "organisation_ids": [huge]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "organisations.0.organisation_id"
    assert alice.get(f"/api/v1/contacts?organisation_id={huge}").status_code == 422
    page = web("alice")
    assert page.get(f"/contacts/{huge}").status_code == 404
    assert page.get(f"/contacts/_for/organisation/{huge}").status_code == 404
    assert page.get(f"/contacts/new?organisation_id={huge}").status_code == 200
    r = page.post(
        "/contacts/new",
        data={"csrf_token": page.csrf, "last_name": "X", "org_id": str(huge), "org_role": ""},
        follow_redirects=False,
    )
    assert r.status_code == 422


def test_rpps_with_a_bad_key_is_refused_and_nothing_is_stored(api):
    before = api("alice").get("/api/v1/contacts").json()["items"]
    r = api("alice").post("/api/v1/contacts", json={"last_name": "Docteur", "rpps": "10100012345"})
    assert r.status_code == 422
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [("rpps", "invalid_rpps_key")]
    assert api("alice").get("/api/v1/contacts").json()["items"] == before


def test_injection_looking_strings_are_stored_literally(api):
    alice = api("alice")
    name = "Robert'); DROP TABLE contacts;--"
    r = alice.post("/api/v1/contacts", json={"last_name": name, "city": "%' OR 1=1 --"})
    assert r.status_code == 201
    assert alice.get(f"/api/v1/contacts/{r.json()['id']}").json()["last_name"] == name
    found = alice.get("/api/v1/contacts", params={"city__contains": "%' or"}).json()["items"]
    assert [c["id"] for c in found] == [r.json()["id"]]
    assert alice.get("/api/v1/contacts", params={"city__contains": "%"}).json()["items"] == found


def test_visibility_by_department(api, make_contact):
    alice, bob, manager, admin = api("alice"), api("bob"), api("manager"), api("admin")
    outsider, reader = api("outsider"), api("reader")
    contact = make_contact("alice", "Confidentiel", emails=["secret@example.fr"])
    url = f"/api/v1/contacts/{contact['id']}"
    for client in (bob, manager, admin):
        assert client.get(url).status_code == 200
    for client in (outsider, reader):
        r = client.get(url)
        assert r.status_code == 404 and "Confidentiel" not in r.text
        assert client.get(f"{url}/organisations").status_code == 404
        assert client.get(f"{url}/history").status_code == 404
        listed = client.get("/api/v1/contacts", params={"limit": 200}).json()["items"]
        assert all(c["id"] != contact["id"] for c in listed)
        assert client.get("/api/v1/contacts", params={"email": "secret@example.fr"}).json()["items"] == []
    assert outsider.patch(url, json={"last_name": "Pirate"}).status_code == 404
    assert outsider.delete(url).status_code == 404
    assert reader.patch(url, json={"last_name": "Pirate"}).status_code == 404
    assert alice.get(url).json() == contact


def test_read_only_cannot_write(api, make_contact):
    contact = make_contact("alice", "Lecture")
    reader = api("reader")
    assert reader.post("/api/v1/contacts", json={"last_name": "Nope"}).status_code == 403
    # fiona (finance) may update contacts she sees but not create or delete them.
    fiona = api("fiona")
    assert fiona.post("/api/v1/contacts", json={"last_name": "Nope"}).status_code == 403
    assert api("alice").get(f"/api/v1/contacts/{contact['id']}").json()["version"] == 1


def test_contacts_do_not_inherit_organisation_visibility(api, make_org):
    """An admin files a Finance contact under a Commercial organisation: alice sees the
    organisation, not the contact."""
    org = make_org("alice", "Client Commun")
    admin = api("admin")
    finance = api("outsider").get("/api/v1/contacts").json()  # outsider is in Finance
    assert finance["items"] == []
    outsider_id = api("outsider").post("/api/v1/organisations", json={"name": "Tmp"}).json()["owner_id"]
    contact = admin.post(
        "/api/v1/contacts",
        json={"last_name": "Caché", "owner_id": outsider_id, "organisation_ids": [org["id"]]},
    ).json()
    alice = api("alice")
    assert alice.get(f"/api/v1/contacts/{contact['id']}").status_code == 404
    assert alice.get("/api/v1/contacts", params={"organisation_id": org["id"]}).json()["items"] == []
    assert [c["id"] for c in api("outsider").get("/api/v1/contacts").json()["items"]] == [contact["id"]]


def test_filters(api, db, actor_of, make_org, make_contact):
    from carnet.contacts import service
    from carnet.core import customfields
    from carnet.core.listing import ListParams

    customfields.create_definition(
        db,
        actor_of("admin"),
        {
            "record_type": "contact",
            "key": "segment",
            "label": "Segment",
            "field_type": "select",
            "options": ["PME", "ETI"],
        },
    )
    alpha, beta = make_org("alice", "Alpha"), make_org("alice", "Beta")
    martin = make_contact(
        "alice",
        "Martin",
        emails=["claire@alpha.fr", "Claire.Martin@Perso.fr"],
        organisation_ids=[alpha["id"], beta["id"]],
        custom_fields={"segment": "PME"},
        tags=["vip"],
        marketing_consent="granted",
    )
    dupont = make_contact(
        "alice",
        "Dupont",
        emails=["jean@beta.fr"],
        organisation_ids=[beta["id"]],
        custom_fields={"segment": "ETI"},
        do_not_call=True,
    )
    lone = make_contact("alice", "Seul")
    alice = api("alice")

    def names(**params):
        r = alice.get("/api/v1/contacts", params={"sort": "last_name", **params})
        assert r.status_code == 200, r.text
        return [c["last_name"] for c in r.json()["items"]]

    assert names(organisation_id=alpha["id"]) == ["Martin"]
    assert names(organisation_id=beta["id"]) == ["Dupont", "Martin"]
    assert names(organisation_id=f"{alpha['id']},{beta['id']}") == ["Dupont", "Martin"]
    assert names(organisation_id__isnull="true") == ["Seul"]
    assert names(email="claire.martin@perso.fr") == ["Martin"]  # a secondary email, any case
    assert names(email="CLAIRE@ALPHA.FR") == ["Martin"]
    assert names(email="claire@") == []  # equality, not substring
    assert names(email__contains="beta.fr") == ["Dupont"]
    assert names(**{"cf.segment": "PME"}) == ["Martin"]
    assert names(**{"cf.segment": "ETI"}) == ["Dupont"]
    assert names(tag="VIP") == ["Martin"]
    assert names(marketing_consent="granted") == ["Martin"]
    assert names(do_not_call="true") == ["Dupont"]
    assert names(last_name__contains="mar", organisation_id=beta["id"]) == ["Martin"]
    assert names(q="dupo") == ["Dupont"]

    alice_actor = actor_of("alice")
    params = ListParams(filters={"organisation_id": str(beta["id"])})
    assert service.count_contacts(db, alice_actor, params) == 2
    assert service.count_contacts(db, actor_of("outsider"), params) == 0
    assert [c.id for c in service.for_organisation(db, alice_actor, beta["id"])] == [
        dupont["id"],
        martin["id"],
    ]
    assert service.for_organisation(db, actor_of("outsider"), beta["id"]) == []
    assert service.find_by_email(db, alice_actor, " claire.martin@PERSO.fr ").id == martin["id"]
    assert service.find_by_email(db, actor_of("outsider"), "claire@alpha.fr") is None
    assert service.names_by_id(db, alice_actor, {martin["id"], lone["id"]}) == {
        martin["id"]: "Martin",
        lone["id"]: "Seul",
    }
    assert service.names_by_id(db, actor_of("outsider"), {martin["id"]}) == {}


def test_cursor_pagination_sorted_by_last_name(api, make_contact):
    for last, first in (
        ("Petit", "B"),
        ("Bernard", "A"),
        ("Petit", "A"),
        ("Dubois", "C"),
        ("André", "D"),
        ("Zola", "E"),
    ):
        make_contact("alice", last, first_name=first, city="Nantes")
    make_contact("alice", "Autre", city="Brest")
    alice = api("alice")
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, "sort": "last_name", "city": "Nantes", **({"cursor": cursor} if cursor else {})}
        r = alice.get("/api/v1/contacts", params=params)
        assert r.status_code == 200, r.text
        seen += [(c["last_name"], c["first_name"]) for c in r.json()["items"]]
        cursor, pages = r.json()["next_cursor"], pages + 1
        if not cursor:
            break
    # Ties on the last name keep creation order (id); every contact appears exactly once.
    assert seen == [
        ("André", "D"),
        ("Bernard", "A"),
        ("Dubois", "C"),
        ("Petit", "B"),
        ("Petit", "A"),
        ("Zola", "E"),
    ]
    assert pages == 3
    r = alice.get("/api/v1/contacts", params={"sort": "-last_name", "city": "Nantes", "limit": 1})
    assert r.json()["items"][0]["last_name"] == "Zola"


def test_consent_date_is_set_when_the_status_changes(api):
    alice = api("alice")
    t1 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    clock.freeze(t1)
    contact = alice.post(
        "/api/v1/contacts",
        json={"last_name": "Opt", "marketing_consent": "granted", "marketing_consent_source": "Salon"},
    ).json()
    assert contact["marketing_consent_at"] == "2026-03-02T09:30:00Z"
    url = f"/api/v1/contacts/{contact['id']}"
    clock.freeze(datetime(2026, 4, 1, 8, 0, tzinfo=UTC))
    assert alice.patch(url, json={"city": "Lille"}).json()["marketing_consent_at"] == "2026-03-02T09:30:00Z"
    r = alice.patch(url, json={"marketing_consent": "withdrawn"})
    assert r.json()["marketing_consent"] == "withdrawn"
    assert r.json()["marketing_consent_at"] == "2026-04-01T08:00:00Z"
    r = alice.patch(
        url, json={"marketing_consent": "granted", "marketing_consent_at": "2026-03-30T10:00:00+02:00"}
    )
    assert r.json()["marketing_consent_at"] == "2026-03-30T08:00:00Z"
    assert alice.post("/api/v1/contacts", json={"last_name": "Neutre"}).json()["marketing_consent_at"] is None


def test_search_document(api, db, make_org):
    from carnet.core.search import SearchDocument

    org = make_org("alice", "Boulangerie Dupain")
    contact = (
        api("alice")
        .post(
            "/api/v1/contacts",
            json={
                "first_name": "Élodie",
                "last_name": "Lefèvre",
                "job_title": "Gérante",
                "emails": ["elodie@dupain.fr"],
                "phones": ["06 98 76 54 32"],
                "city": "Angers",
                "organisation_ids": [org["id"]],
            },
        )
        .json()
    )

    def document() -> SearchDocument | None:
        return db.scalars(
            select(SearchDocument).where(
                SearchDocument.record_type == "contact", SearchDocument.record_id == contact["id"]
            )
        ).one_or_none()

    doc = document()
    assert (doc.title, doc.subtitle) == ("Élodie Lefèvre", "Gérante · Boulangerie Dupain")
    assert (doc.owner_id, doc.department_id) == (contact["owner_id"], contact["department_id"])
    for word in (
        "elodie",
        "lefevre",
        "gerante",
        "elodie@dupain.fr",
        "angers",
        "boulangerie dupain",
        "0698765432",
    ):
        assert word in doc.body.split(" ") or word in doc.body, word
    api("alice").patch(f"/api/v1/contacts/{contact['id']}", json={"job_title": "Associée"})
    db.expire_all()
    assert document().subtitle == "Associée · Boulangerie Dupain"
    api("alice").delete(f"/api/v1/contacts/{contact['id']}")
    db.expire_all()
    assert document() is None


def test_reads_loads_tags_and_links_in_one_query_each(api, db, make_org, make_contact):
    from sqlalchemy import event

    from carnet.contacts import service
    from carnet.contacts.models import Contact

    org = make_org("alice", "Alpha")
    for i in range(5):
        make_contact("alice", f"Nom {i}", tags=["t"], organisation_ids=[org["id"]])
    rows = list(db.scalars(select(Contact)))
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    engine = db.get_bind().engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        out = service.reads(db, rows)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(out) == 5 and all(c["tags"] == ["t"] and len(c["organisations"]) == 1 for c in out)
    assert len(statements) == 2


def test_unauthenticated(anon):
    assert anon.get("/api/v1/contacts").status_code == 401
