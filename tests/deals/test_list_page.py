"""The deals list page: chosen columns, sortable headers, bulk actions through the service, export
buttons, saved views; and the saved views bar of the organisations list."""

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


def _audits(db, action: str) -> int:
    return db.scalar(
        select(func.count()).where(AuditEntry.action == action, AuditEntry.record_type == "deal")
    )


def test_columns_param_and_sortable_headers(web, pipes, make_deal):
    make_deal(title="Petite offre", amount="100", probability=30, source="Salon")
    make_deal(title="Grosse offre", amount="90000", source="Site web")
    alice = web("alice")
    page = alice.get("/deals?columns=title,pipeline,probability,source").text
    assert _headers(page) == ["", "Titre", "Pipeline", "Probabilité", "Source"]
    assert "Ventes B2B" in page and "30 %" in page and "Site web" in page
    assert "90\u202f000,00\xa0€" not in page  # the amount column is not shown
    assert 'href="?columns=title%2Cpipeline%2Cprobability%2Csource&amp;sort=probability"' in page

    page = alice.get("/deals").text
    assert _headers(page) == [
        "",
        "Titre",
        "Organisation",
        "Étape",
        "Statut",
        "Montant",
        "Clôture prévue",
        "Propriétaire",
        "Étiquettes",
        "Création",
    ]
    assert 'class="sort desc" href="?sort=created_at"' in page  # newest first by default
    by_amount = alice.get("/deals?sort=-amount").text
    assert by_amount.index("Grosse offre") < by_amount.index("Petite offre")
    assert 'class="sort desc" href="?sort=amount"' in by_amount
    by_amount = alice.get("/deals?sort=amount").text
    assert by_amount.index("Petite offre") < by_amount.index("Grosse offre")


def test_bulk_assign_tag_and_delete_go_through_the_service(web, api, db, pipes, make_deal, personas):
    ids = [make_deal(title=title, tags=["existant"])["id"] for title in ("Un", "Deux", "Trois")]
    alice = web("alice")
    page = alice.get("/deals").text
    assert 'action="/bulk/deal"' in page and f'name="ids" value="{ids[0]}" form="bulk-form"' in page

    r = _post(
        alice,
        "/bulk/deal",
        {"ids": [str(i) for i in ids[:2]], "action": "assign", "owner_id": str(personas["bob"].id)},
    )
    assert r.status_code == 303
    a = api("alice")
    owners = {d["id"]: d["owner_id"] for d in a.get("/api/v1/deals").json()["items"]}
    assert owners == {ids[0]: personas["bob"].id, ids[1]: personas["bob"].id, ids[2]: personas["alice"].id}
    assert _audits(db, "update") == 2

    _post(alice, "/bulk/deal", {"ids": [str(ids[2])], "action": "tag", "tag": "salon-2026"})
    assert a.get(f"/api/v1/deals/{ids[2]}").json()["tags"] == ["existant", "salon-2026"]

    _post(alice, "/bulk/deal", {"ids": [str(ids[0]), str(ids[1])], "action": "delete"})
    assert [d["id"] for d in a.get("/api/v1/deals").json()["items"]] == [ids[2]]
    assert _audits(db, "delete") == 2


def test_read_only_bulk_actions_change_nothing(web, api, db, pipes, make_deal, personas):
    deal = make_deal(title="Gardée")
    reader = web("reader")
    assert 'id="bulk-form"' not in reader.get("/deals").text
    for action in ("delete", "assign", "tag"):
        data = {"ids": [str(deal["id"])], "action": action, "owner_id": str(personas["bob"].id), "tag": "x"}
        assert _post(reader, "/bulk/deal", data).status_code == 303
    assert api("alice").get(f"/api/v1/deals/{deal['id']}").json() == deal
    assert (_audits(db, "delete"), _audits(db, "update")) == (0, 0)


def test_export_buttons_need_the_export_permission(web, pipes, make_deal):
    make_deal()
    page = (
        web("manager").get("/deals", params={"status": "open", "amount__gte": "100", "columns": "title"}).text
    )
    assert 'href="/api/v1/deals/export?format=csv&status=open&amount__gte=100"' in page
    assert 'href="/api/v1/deals/export?format=xlsx&status=open&amount__gte=100"' in page
    for key in ("alice", "reader"):
        assert 'data-testid="export-csv"' not in web(key).get("/deals").text


def test_saved_views_on_the_deals_and_organisations_lists(web, pipes, make_deal, make_org):
    make_deal(title="Grosse offre", amount="90000")
    make_deal(title="Petite offre", amount="100")
    alice = web("alice")
    page = alice.get("/deals?amount__gte=1000&sort=-amount").text
    query = html.unescape(re.search(r'name="query" value="([^"]*)"', page).group(1))
    assert query == "amount__gte=1000&sort=-amount"
    r = _post(alice, "/saved-views", {"record_type": "deal", "name": "Gros montants", "query": query})
    assert r.status_code == 303
    page = alice.get("/deals").text
    link = re.search(r'<a class="pill\s*" href="\?([^"]+)"\s*>Gros montants</a>', page)
    followed = alice.get("/deals?" + html.unescape(link.group(1))).text
    assert "Grosse offre" in followed and "Petite offre" not in followed

    make_org("alice", "Atelier Lyonnais", city="Lyon")
    make_org("alice", "Atelier Brestois", city="Brest")
    r = _post(alice, "/saved-views", {"record_type": "organisation", "name": "Lyon", "query": "city=Lyon"})
    assert r.status_code == 303
    page = alice.get("/organisations").text
    link = re.search(r'<a class="pill\s*" href="\?([^"]+)"\s*>Lyon</a>', page)
    followed = alice.get("/organisations?" + html.unescape(link.group(1))).text
    assert "Atelier Lyonnais" in followed and "Atelier Brestois" not in followed
