"""Record timelines (`GET /api/v1/<records>/{id}/timeline`): activities and tasks, newest first,
only what the viewer may see, in a fixed number of queries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from carnet.accounts import service as accounts
from carnet.activities import service


def _post(client: Any, **body: Any) -> dict[str, Any]:
    r = client.post("/api/v1/activities", json={"kind": "call", "subject": "Appel", **body})
    assert r.status_code == 201, r.text
    return r.json()


def test_organisation_timeline_newest_first_without_hidden_activities(api, personas, make_org):
    alice, admin = api("alice"), api("admin")
    org = make_org()
    _post(alice, organisation_id=org, subject="Premier appel", occurred_at="2026-04-01T09:00:00Z")
    _post(
        alice, organisation_id=org, kind="visit", subject="Visite du site", occurred_at="2026-04-03T09:00:00Z"
    )
    _post(
        alice, organisation_id=org, kind="email", subject="Devis envoyé", occurred_at="2026-04-02T09:00:00Z"
    )
    # Logged by the admin for someone in Finance: Commercial may not see it.
    _post(
        admin,
        organisation_id=org,
        kind="note",
        subject="Note confidentielle",
        occurred_at="2026-04-04T09:00:00Z",
        owner_id=personas["outsider"].id,
    )

    r = alice.get(f"/api/v1/organisations/{org}/timeline")
    assert r.status_code == 200
    items = [i for i in r.json() if i["kind"] != "event"]
    assert [(i["kind"], i["title"]) for i in items] == [
        ("visit", "Visite du site"),
        ("email", "Devis envoyé"),
        ("call", "Premier appel"),
    ]
    assert items[0]["meta"]["by"] == "Alice Test"
    assert items[0]["url"].startswith("/activities/")
    assert "confidentielle" not in r.text

    titles = [
        i["title"] for i in admin.get(f"/api/v1/organisations/{org}/timeline").json() if i["kind"] != "event"
    ]
    assert titles[0] == "Note confidentielle"
    assert api("outsider").get(f"/api/v1/organisations/{org}/timeline").status_code == 404


def test_contact_timeline(api, personas, make_contact, make_deal):
    alice, admin = api("alice"), api("admin")
    contact = make_contact()
    deal = make_deal()
    _post(alice, contact_id=contact, subject="Appel", occurred_at="2026-04-01T09:00:00Z")
    _post(
        alice,
        contact_id=contact,
        deal_id=deal,
        kind="meeting",
        subject="Rendez-vous",
        occurred_at="2026-04-05T09:00:00Z",
    )
    _post(admin, contact_id=contact, subject="Caché", owner_id=personas["fiona"].id)
    r = alice.get(f"/api/v1/contacts/{contact}/timeline")
    assert r.status_code == 200, r.text
    assert [i["title"] for i in r.json() if i["kind"] != "event"] == ["Rendez-vous", "Appel"]
    r = alice.get(f"/api/v1/deals/{deal}/timeline")
    assert [i["title"] for i in r.json() if i["kind"] != "event"] == ["Rendez-vous"]


def test_timeline_body_is_an_excerpt(api, make_org):
    alice = api("alice")
    org = make_org()
    _post(alice, organisation_id=org, kind="note", body="Compte rendu. " * 100)
    item = alice.get(f"/api/v1/organisations/{org}/timeline").json()[0]
    assert len(item["body"]) <= 300 and item["body"].endswith("rendu.…")
    assert item["body"].startswith("Compte rendu. Compte rendu.")


def test_timeline_shows_the_records_tasks(api, make_org):
    alice = api("alice")
    org = make_org()
    r = alice.post(
        "/api/v1/tasks",
        json={
            "title": "Envoyer la proposition",
            "record_type": "organisation",
            "record_id": org,
            "due_at": "2099-05-12T08:00:00Z",
        },
    )
    assert r.status_code == 201, r.text
    task = r.json()
    item = alice.get(f"/api/v1/organisations/{org}/timeline").json()[0]
    assert item["kind"] == "task"
    assert item["title"] == "Envoyer la proposition"
    assert item["url"] == f"/tasks/{task['id']}"
    assert item["body"] == "À faire · Échéance 12/05/2099 10:00"
    assert item["meta"]["status"] == "todo"
    assert item["meta"]["due_at"] == "2099-05-12T08:00:00+00:00"


@contextmanager
def count_queries(db: Any) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = db.get_bind().engine

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def test_timeline_queries_do_not_grow_with_the_number_of_activities(api, db, personas, make_contact):
    """No N+1: owner names come with the activities, whatever the number of authors."""
    contact = make_contact()
    for key in ("alice", "bob", "manager"):
        client = api(key)
        for n in range(10):
            _post(client, contact_id=contact, subject=f"{key} {n}")
    actor = accounts.actor_for(accounts.get_user(db, personas["manager"].id))
    service.timeline_items(db, actor, "contact", contact, 5)  # warms the visibility-scope cache
    with count_queries(db) as few:
        small = service.timeline_items(db, actor, "contact", contact, 5)
    with count_queries(db) as many:
        big = service.timeline_items(db, actor, "contact", contact, 30)
    assert (len(small), len(big)) == (5, 30)
    assert {i.meta["by"] for i in big} == {"Alice Test", "Bob Test", "Manager Test"}
    assert len(few) == len(many) == 1
    assert " LIMIT " in many[0].upper()


def test_timeline_query_uses_the_link_index(db, personas):
    if db.get_bind().dialect.name != "sqlite":
        pytest.skip("query plan checked on SQLite; PostgreSQL plans depend on table statistics")
    actor = accounts.actor_for(accounts.get_user(db, personas["alice"].id))
    captured: list[tuple[str, Any]] = []
    engine = db.get_bind().engine

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if "FROM activities" in statement:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    try:
        service.timeline_items(db, actor, "contact", 1, 50)
    finally:
        event.remove(engine, "before_cursor_execute", before)
    statement, parameters = captured[0]
    plan = " ".join(
        str(row) for row in db.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
    )
    assert "ix_activities_contact_when" in plan
    assert "TEMP B-TREE" not in plan.upper()  # rows come in index order: no sort of all the matches
