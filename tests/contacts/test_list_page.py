"""The contacts list page: chosen columns, sortable headers, bulk actions through the service,
export buttons, saved views."""

from __future__ import annotations

import html
import re

from sqlalchemy import func, select

from carnet.core.audit import AuditEntry


def _post(client, url: str, data: dict):  # type: ignore[no-untyped-def]
    return client.post(url, data={"csrf_token": client.csrf, **data}, follow_redirects=False)


def _headers(page: str) -> list[str]:
    thead = page[page.index("<thead>") : page.index("</thead>")]
    return [re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", thead, re.S)]


def test_columns_param_shows_the_chosen_columns(web, make_org, make_contact, personas):
    org = make_org("alice", "Société Générale")
    make_contact(
        "alice",
        "Martin",
        first_name="Claire",
        rpps="10003456786",
        emails=["claire@sg.fr"],
        organisation_ids=[org["id"]],
        owner_id=personas["bob"].id,
    )
    alice = web("alice")
    page = alice.get("/contacts?columns=name,rpps,owner,nosuch").text
    assert _headers(page) == ["", "Nom", "RPPS", "Propriétaire"]
    assert "10003456786" in page and "Bob Test" in page
    assert "claire@sg.fr" not in page and "Société Générale" not in page
    # The default columns.
    page = alice.get("/contacts").text
    assert _headers(page) == [
        "",
        "Nom",
        "Fonction",
        "Organisation",
        "E-mail",
        "Téléphone",
        "Ville",
        "Étiquettes",
        "Création",
    ]
    assert "claire@sg.fr" in page and "Société Générale" in page and "10003456786" not in page
    # The picker's boxes (one `col` each) become the canonical `columns` in the page's links.
    page = alice.get("/contacts?col=name&col=city&city__contains=a").text
    assert _headers(page) == ["", "Nom", "Ville"]
    assert (
        'href="?city__contains=a&amp;columns=name%2Ccity&amp;sort=job_title"' not in page
    )  # not sortable here
    assert 'href="?city__contains=a&amp;columns=name%2Ccity&amp;sort=city"' in page
    assert 'name="col" value="city" checked' in page and 'name="col" value="email" >' in page


def test_sortable_headers(web, make_contact):
    for last, city in (("Bernard", "Nantes"), ("Petit", "Brest"), ("Durand", "Lyon")):
        make_contact("alice", last, city=city)
    alice = web("alice")
    page = alice.get("/contacts").text
    assert 'class="sort asc" href="?sort=-last_name"' in page  # sorted by name by default
    by_city = alice.get("/contacts?sort=city").text
    assert by_city.index("Petit") < by_city.index("Durand") < by_city.index("Bernard")
    assert 'class="sort asc" href="?sort=-city"' in by_city
    by_city_desc = alice.get("/contacts?sort=-city").text
    assert by_city_desc.index("Bernard") < by_city_desc.index("Durand") < by_city_desc.index("Petit")


def test_bulk_assign_tag_and_delete_go_through_the_service(web, api, db, make_contact, personas):
    ids = [make_contact("alice", name, tags=["existant"])["id"] for name in ("Un", "Deux", "Trois")]
    alice = web("alice")
    page = alice.get("/contacts").text
    assert 'action="/bulk/contact"' in page and f'name="ids" value="{ids[0]}" form="bulk-form"' in page

    r = _post(
        alice,
        "/bulk/contact",
        {
            "ids": [str(i) for i in ids[:2]],
            "action": "assign",
            "owner_id": str(personas["bob"].id),
            "back": "/contacts?city=x",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/contacts?city=x"
    a = api("alice")
    owners = {c["id"]: c["owner_id"] for c in a.get("/api/v1/contacts").json()["items"]}
    assert owners == {ids[0]: personas["bob"].id, ids[1]: personas["bob"].id, ids[2]: personas["alice"].id}
    updates = db.scalar(
        select(func.count()).where(AuditEntry.action == "update", AuditEntry.record_type == "contact")
    )
    assert updates == 2

    _post(alice, "/bulk/contact", {"ids": [str(ids[1]), str(ids[2])], "action": "tag", "tag": "salon-2026"})
    tagged = a.get("/api/v1/contacts", params={"tag": "salon-2026", "sort": "last_name"}).json()["items"]
    assert [(c["id"], c["tags"]) for c in tagged] == [
        (ids[1], ["existant", "salon-2026"]),
        (ids[2], ["existant", "salon-2026"]),
    ]

    _post(alice, "/bulk/contact", {"ids": [str(ids[0])], "action": "delete"})
    assert a.get(f"/api/v1/contacts/{ids[0]}").status_code == 404
    assert (
        db.scalar(
            select(func.count()).where(AuditEntry.action == "delete", AuditEntry.record_type == "contact")
        )
        == 1
    )


def test_read_only_bulk_delete_changes_nothing(web, api, db, make_contact):
    contact = make_contact("alice", "Gardé")
    reader = web("reader")
    assert 'id="bulk-form"' not in reader.get("/contacts").text
    for action in ("delete", "tag"):
        r = _post(reader, "/bulk/contact", {"ids": [str(contact["id"])], "action": action, "tag": "x"})
        assert r.status_code == 303
    assert api("alice").get(f"/api/v1/contacts/{contact['id']}").json() == contact
    deleted = db.scalar(
        select(func.count()).where(AuditEntry.action == "delete", AuditEntry.record_type == "contact")
    )
    assert deleted == 0


def test_export_buttons_need_the_export_permission(web, make_contact):
    make_contact("alice", "Martin", city="Lyon")
    page = (
        web("manager")
        .get("/contacts", params={"city__contains": "Lyon", "sort": "-created_at", "columns": "name,city"})
        .text
    )
    assert 'href="/api/v1/contacts/export?format=csv&city__contains=Lyon&sort=-created_at"' in page
    assert 'href="/api/v1/contacts/export?format=xlsx&city__contains=Lyon&sort=-created_at"' in page
    for key in ("alice", "reader"):
        assert 'data-testid="export-csv"' not in web(key).get("/contacts").text


def test_save_a_view_and_come_back_to_it(web, make_contact):
    for last, city in (("Lyonnais", "Lyon"), ("Brestois", "Brest")):
        make_contact("alice", last, city=city)
    alice = web("alice")
    page = alice.get("/contacts?city__contains=Lyon&columns=name,city&org_q=").text
    query = html.unescape(re.search(r'name="query" value="([^"]*)"', page).group(1))
    assert query == "city__contains=Lyon&columns=name%2Ccity"
    r = _post(
        alice,
        "/saved-views",
        {"record_type": "contact", "name": "Lyonnais", "query": query, "columns": ["name", "city"]},
    )
    assert r.status_code == 303 and r.headers["location"] == f"/contacts?{query}"

    page = alice.get("/contacts").text
    pill = re.search(r'<a class="pill\s*" href="\?([^"]+)"\s*>Lyonnais</a>', page)
    assert pill, "the saved view is offered on the list"
    followed = alice.get("/contacts?" + html.unescape(pill.group(1))).text
    assert "Lyonnais" in followed and "Brestois" not in followed
    assert _headers(followed) == ["", "Nom", "Ville"]
    assert re.search(r'<a class="pill active" href="\?[^"]+" aria-current="page">Lyonnais</a>', followed)
    # Views are personal.
    assert not re.search(r'class="pill[^"]*" href="[^"]*"[^>]*>Lyonnais<', web("bob").get("/contacts").text)
