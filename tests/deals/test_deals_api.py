"""Deals over the API: CRUD, moves with their history and events, won/lost, validation,
visibility, filters and the deals of an organisation or contact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select

from carnet.accounts import service as accounts
from carnet.core import clock, customfields
from carnet.core.audit import AuditEntry
from carnet.core.context import SYSTEM
from carnet.core.errors import FieldErrors, NotFound
from carnet.core.events import Event
from carnet.core.search import SearchDocument
from carnet.deals import service
from carnet.deals.models import DealStageHistory


def _events(db, deal_id: int) -> list[Event]:
    return list(
        db.scalars(
            select(Event).where(Event.record_type == "deal", Event.record_id == deal_id).order_by(Event.id)
        )
    )


def _audit_actions(db, deal_id: int) -> list[str]:
    return list(
        db.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.record_type == "deal", AuditEntry.record_id == deal_id)
            .order_by(AuditEntry.seq)
        )
    )


def test_create_read_update_delete(api, db, pipes, make_org, make_contact):
    alice = api("alice")
    org = make_org(name="Société Générale")
    contact = make_contact()
    r = alice.post(
        "/api/v1/deals",
        json={
            "title": "Offre Premium",
            "organisation_id": org,
            "contact_ids": [contact],
            "pipeline_id": pipes["b2b"].id,
            "amount": "148500.00",
            "expected_close_date": "2026-12-31",
            "source": "Salon",
            "tags": ["grand compte"],
        },
    )
    assert r.status_code == 201, r.text
    deal = r.json()
    assert r.headers["etag"] == '"1"'
    assert r.headers["location"] == f"/api/v1/deals/{deal['id']}"
    assert deal["stage_id"] == pipes["b2b"].stage("Qualification")  # first open stage
    assert deal["probability"] == 10  # the stage's
    assert deal["status"] == "open" and deal["currency"] == "EUR"
    assert deal["amount"] == "148500.00"
    assert deal["contact_ids"] == [contact] and deal["tags"] == ["grand compte"]
    assert deal["owner_id"] is not None and deal["closed_at"] is None

    r = alice.patch(f"/api/v1/deals/{deal['id']}", json={"amount": 150000}, headers={"If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["amount"] == "150000.00" and r.json()["version"] == 2
    r = alice.patch(f"/api/v1/deals/{deal['id']}", json={"amount": "1.00"}, headers={"If-Match": '"1"'})
    assert r.status_code == 412
    assert alice.get(f"/api/v1/deals/{deal['id']}").json()["amount"] == "150000.00"
    # Removing contacts or tags alone is a change too (and bumps the ETag).
    r = alice.patch(f"/api/v1/deals/{deal['id']}", json={"contact_ids": []})
    assert r.json()["contact_ids"] == [] and r.headers["etag"] == '"3"'

    doc = db.scalar(
        select(SearchDocument).where(
            SearchDocument.record_type == "deal", SearchDocument.record_id == deal["id"]
        )
    )
    assert doc.title == "Offre Premium"
    assert doc.subtitle == "Qualification · 150\u202f000,00\xa0€"
    assert doc.body == "offre premium societe generale salon"

    assert alice.delete(f"/api/v1/deals/{deal['id']}").status_code == 204
    assert alice.get(f"/api/v1/deals/{deal['id']}").status_code == 404
    assert [e.type for e in _events(db, deal["id"])] == [
        "deal.created",
        "deal.updated",
        "deal.updated",
        "deal.deleted",
    ]
    assert _audit_actions(db, deal["id"]) == ["create", "update", "update", "delete"]
    assert db.scalars(select(DealStageHistory).where(DealStageHistory.deal_id == deal["id"])).all() == []


def test_move_records_history_time_in_stage_and_events(api, db, pipes, make_deal):
    clock.freeze(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    b2b = pipes["b2b"]
    deal = make_deal(amount="10000")
    alice = api("alice")
    clock.advance(timedelta(days=3))
    r = alice.post(f"/api/v1/deals/{deal['id']}/move", json={"stage_id": b2b.stage("Proposition")})
    assert r.status_code == 200, r.text
    assert r.json()["stage_id"] == b2b.stage("Proposition") and r.json()["probability"] == 50
    assert r.json()["stage_entered_at"] == "2026-03-05T09:00:00Z"
    clock.advance(timedelta(hours=2))
    r = alice.patch(f"/api/v1/deals/{deal['id']}", json={"stage_id": b2b.stage("Qualification")})
    assert r.status_code == 200
    clock.advance(timedelta(minutes=30))

    obj = service.get_deal(db, SYSTEM, deal["id"])
    assert service.time_in_stages(obj) == {
        b2b.stage("Qualification"): 3 * 86400 + 1800,
        b2b.stage("Proposition"): 7200,
    }
    stays = db.scalars(
        select(DealStageHistory).where(DealStageHistory.deal_id == deal["id"]).order_by(DealStageHistory.id)
    ).all()
    assert [(s.stage_id, s.left_at is None) for s in stays] == [
        (b2b.stage("Qualification"), False),
        (b2b.stage("Proposition"), False),
        (b2b.stage("Qualification"), True),
    ]
    history = alice.get(f"/api/v1/deals/{deal['id']}/stage-history").json()
    assert [(i["stage_name"], i["seconds"]) for i in history["items"]] == [
        ("Qualification", 3 * 86400),
        ("Proposition", 7200),
        ("Qualification", 1800),
    ]
    assert {t["stage_name"]: t["seconds"] for t in history["totals"]} == {
        "Qualification": 3 * 86400 + 1800,
        "Proposition": 7200,
    }
    changes = [e for e in _events(db, deal["id"]) if e.type == "deal.stage_changed"]
    assert [(e.payload["from_stage_name"], e.payload["to_stage_name"]) for e in changes] == [
        ("Qualification", "Proposition"),
        ("Proposition", "Qualification"),
    ]
    assert changes[0].payload["from_stage_id"] == b2b.stage("Qualification")
    assert changes[0].payload["to_stage_id"] == b2b.stage("Proposition")
    assert _audit_actions(db, deal["id"]).count("stage_change") == 2
    # The timeline shows the named event.
    timeline = alice.get(f"/api/v1/deals/{deal['id']}/timeline").json()
    assert any(i["meta"]["params"]["to_stage"] == "Proposition" for i in timeline)
    # Moving to the stage it is in changes nothing.
    version = alice.get(f"/api/v1/deals/{deal['id']}").json()["version"]
    r = alice.post(f"/api/v1/deals/{deal['id']}/move", json={"stage_id": b2b.stage("Qualification")})
    assert r.json()["version"] == version


def test_won_and_lost_set_status_closed_at_and_events(api, db, pipes, make_deal):
    clock.freeze(datetime(2026, 5, 4, 10, 0, tzinfo=UTC))
    b2b = pipes["b2b"]
    deal = make_deal(amount="2500", probability=60, stage_id=b2b.stage("Négociation"))
    assert deal["probability"] == 60  # set by hand
    alice = api("alice")
    clock.advance(timedelta(days=1))
    r = alice.post(f"/api/v1/deals/{deal['id']}/move", json={"stage_id": b2b.stage("Gagné")})
    won = r.json()
    assert won["status"] == "won" and won["probability"] == 100
    assert won["closed_at"] == "2026-05-05T10:00:00Z"
    assert _events(db, deal["id"])[-1].type == "deal.won"
    assert _events(db, deal["id"])[-1].payload["amount"] == "2500.00"

    r = alice.post(
        f"/api/v1/deals/{deal['id']}/move",
        json={"stage_id": b2b.stage("Perdu"), "lost_reason": "Budget gelé"},
    )
    lost = r.json()
    assert lost["status"] == "lost" and lost["lost_reason"] == "Budget gelé" and lost["probability"] == 0
    event = _events(db, deal["id"])[-1]
    assert event.type == "deal.lost" and event.payload["lost_reason"] == "Budget gelé"

    # Reopening clears the outcome.
    r = alice.post(f"/api/v1/deals/{deal['id']}/move", json={"stage_id": b2b.stage("Proposition")})
    reopened = r.json()
    assert reopened["status"] == "open" and reopened["closed_at"] is None
    assert reopened["lost_reason"] is None and reopened["probability"] == 50
    actions = _audit_actions(db, deal["id"])
    assert actions.count("won") == 1 and actions.count("lost") == 1
    types = [e.type for e in _events(db, deal["id"])]
    assert types.count("deal.stage_changed") == 3


def test_lost_requires_a_reason_and_nothing_changes_without_one(api, db, pipes, make_deal):
    b2b = pipes["b2b"]
    deal = make_deal(stage_id=b2b.stage("Proposition"))
    alice = api("alice")
    before = alice.get(f"/api/v1/deals/{deal['id']}").json()
    events_before = len(_events(db, deal["id"]))
    for body in ({"stage_id": b2b.stage("Perdu")}, {"stage_id": b2b.stage("Perdu"), "lost_reason": "   "}):
        r = alice.post(f"/api/v1/deals/{deal['id']}/move", json=body)
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == "lost_reason"
    r = alice.patch(f"/api/v1/deals/{deal['id']}", json={"stage_id": b2b.stage("Perdu"), "amount": "5"})
    assert r.status_code == 422
    assert alice.get(f"/api/v1/deals/{deal['id']}").json() == before
    assert len(_events(db, deal["id"])) == events_before
    assert len(db.scalars(select(DealStageHistory).where(DealStageHistory.deal_id == deal["id"])).all()) == 1
    # Created directly in a lost stage: a reason too.
    r = alice.post("/api/v1/deals", json={"title": "Perdue d'avance", "stage_id": b2b.stage("Perdu")})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "lost_reason"
    # A reason on an open deal is a mistake.
    r = alice.patch(f"/api/v1/deals/{deal['id']}", json={"lost_reason": "Prix"})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "not_lost"


def test_stage_of_another_pipeline_and_unknown_stage(api, pipes, make_deal):
    deal = make_deal()
    alice = api("alice")
    r = alice.patch(
        f"/api/v1/deals/{deal['id']}",
        json={"pipeline_id": pipes["b2b"].id, "stage_id": pipes["sante"].stage("Référencement")},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "stage_not_in_pipeline"
    r = alice.post(
        "/api/v1/deals",
        json={
            "title": "X",
            "pipeline_id": pipes["b2b"].id,
            "stage_id": pipes["sante"].stage("Référencement"),
        },
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "stage_id"
    r = alice.post(f"/api/v1/deals/{deal['id']}/move", json={"stage_id": 999999})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "stage_id"
    assert alice.get(f"/api/v1/deals/{deal['id']}").json()["stage_id"] == pipes["b2b"].stage("Qualification")
    # Changing pipeline alone lands in its first open stage.
    r = alice.patch(f"/api/v1/deals/{deal['id']}", json={"pipeline_id": pipes["sante"].id})
    assert r.status_code == 200
    assert r.json()["stage_id"] == pipes["sante"].stage("Premier contact")
    assert r.json()["pipeline_id"] == pipes["sante"].id


def test_invisible_organisation_or_contact_is_a_field_error(api, pipes, make_org, make_contact, make_deal):
    outsider_org = make_org("outsider", name="Compta Finance")
    outsider_contact = make_contact("outsider", last_name="Secret")
    alice = api("alice")
    r = alice.post("/api/v1/deals", json={"title": "X", "organisation_id": outsider_org})
    assert r.status_code == 422 and r.json()["errors"][0] == {
        "field": "organisation_id",
        "code": "unknown",
        "message": "Organisation inconnue",
    }
    r = alice.post("/api/v1/deals", json={"title": "X", "contact_ids": [outsider_contact]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "contact_ids"
    r = alice.post("/api/v1/deals", json={"title": "X", "contact_ids": [999999], "organisation_id": 999999})
    assert {e["field"] for e in r.json()["errors"]} == {"contact_ids", "organisation_id"}
    deal = make_deal()
    r = alice.patch(f"/api/v1/deals/{deal['id']}", json={"contact_ids": [outsider_contact]})
    assert r.status_code == 422
    assert alice.get(f"/api/v1/deals/{deal['id']}").json()["contact_ids"] == []


def test_contacts_the_editor_cannot_see_stay_linked(api, personas, pipes, make_contact):
    admin = api("admin")
    hidden = make_contact("outsider", last_name="Caché")
    mine = make_contact("alice", last_name="Visible")
    r = admin.post(
        "/api/v1/deals",
        json={
            "title": "Partagée",
            "pipeline_id": pipes["b2b"].id,
            "contact_ids": [hidden, mine],
            "owner_id": personas["alice"].id,
        },
    )
    assert r.status_code == 201, r.text
    r = api("alice").patch(f"/api/v1/deals/{r.json()['id']}", json={"contact_ids": []})
    assert r.status_code == 200 and r.json()["contact_ids"] == [hidden]


def test_bad_inputs_are_422_or_404_never_500(api, pipes, make_deal):
    alice = api("alice")
    deal = make_deal()
    for payload in (
        {"title": "X", "amount": "-1"},
        {"title": "X", "amount": "abc"},
        {"title": "X", "amount": "12.345"},
        {"title": "X", "amount": "NaN"},
        {"title": "X", "amount": "1e20"},
        {"title": "X", "amount": True},
        {"title": "X", "probability": 150},
        {"title": "X", "probability": "high"},
        {"title": "X", "stage_id": 999999},
        {"title": "X", "stage_id": "abc"},
        {"title": "X", "pipeline_id": 999999},
        {"title": "X", "organisation_id": 999999},
        {"title": "X", "contact_ids": "1,2"},
        {"title": "X", "currency": "USD"},
        {"title": "X", "expected_close_date": "2026-13-45"},
        {"title": "X", "owner_id": 999999},
        {"title": "X", "custom_fields": {"nope": 1}},
        {"title": "X", "status": "won"},
        {"title": ""},
        {},
    ):
        r = alice.post("/api/v1/deals", json=payload)
        assert r.status_code == 422, (payload, r.status_code, r.text)
    r = alice.post("/api/v1/deals", json={"title": "X", "amount": "-1"})
    assert r.json()["errors"][0] == {
        "field": "amount",
        "code": "negative",
        "message": "Le montant ne peut pas être négatif",
    }
    assert alice.get("/api/v1/deals/999999").status_code == 404
    assert alice.get("/api/v1/deals/abc").status_code == 422
    assert alice.patch("/api/v1/deals/999999", json={"title": "x"}).status_code == 404
    assert alice.post("/api/v1/deals/999999/move", json={"stage_id": 1}).status_code == 404
    assert alice.post(f"/api/v1/deals/{deal['id']}/move", json={"stage_id": "x"}).status_code == 422
    assert alice.post(f"/api/v1/deals/{deal['id']}/move", json={}).status_code == 422
    assert alice.patch(f"/api/v1/deals/{deal['id']}", json={"stage_id": None}).status_code == 422
    for query in (
        "amount__gte=abc",
        "contact_id=abc",
        "stage_id=x",
        "nosuch=1",
        "sort=description",
        "cursor=zz",
    ):
        assert alice.get(f"/api/v1/deals?{query}").status_code == 422, query
    assert alice.get("/api/v1/deals/999999/stage-history").status_code == 404
    assert alice.get("/api/v1/pipelines/999999/board").status_code == 404
    assert alice.get(f"/api/v1/pipelines/{pipes['b2b'].id}/board?amount__gte=abc").status_code == 422
    assert alice.get(f"/api/v1/deals/{deal['id']}").json()["title"] == "Offre Premium"


def test_money_is_a_decimal_string_and_accepts_french_input(api, pipes, make_deal):
    deal = make_deal(amount="12500.5")
    assert deal["amount"] == "12500.50"
    assert make_deal(amount=0)["amount"] == "0.00"
    assert make_deal(amount=99.99)["amount"] == "99.99"
    deal2 = service.clean_amount("12 500,50 €", errors := FieldErrors())
    assert str(deal2) == "12500.50" and not errors


def test_visibility(api, personas, pipes, make_deal):
    deal = make_deal(amount="100")
    outsider, bob, manager = api("outsider"), api("bob"), api("manager")
    r = outsider.get(f"/api/v1/deals/{deal['id']}")
    assert r.status_code == 404 and "Offre" not in r.text
    assert deal["id"] not in [d["id"] for d in outsider.get("/api/v1/deals?limit=200").json()["items"]]
    assert outsider.patch(f"/api/v1/deals/{deal['id']}", json={"title": "x"}).status_code == 404
    assert (
        outsider.post(
            f"/api/v1/deals/{deal['id']}/move", json={"stage_id": pipes["b2b"].stage("Gagné")}
        ).status_code
        == 404
    )
    assert outsider.get(f"/api/v1/deals/{deal['id']}/stage-history").status_code == 404
    assert outsider.delete(f"/api/v1/deals/{deal['id']}").status_code == 404
    assert bob.get(f"/api/v1/deals/{deal['id']}").status_code == 200
    assert manager.get(f"/api/v1/deals/{deal['id']}").status_code == 200
    assert api("alice").get(f"/api/v1/deals/{deal['id']}").json()["title"] == "Offre Premium"
    # Read-only users read but do not write.
    assert api("reader").post("/api/v1/deals", json={"title": "Non"}).status_code == 403
    # Finance sees its department's deals but may not change them.
    theirs = (
        api("admin")
        .post("/api/v1/deals", json={"title": "Finance", "owner_id": personas["outsider"].id, "amount": "10"})
        .json()
    )
    fiona = api("fiona")
    assert fiona.get(f"/api/v1/deals/{theirs['id']}").status_code == 200
    r = fiona.post(f"/api/v1/deals/{theirs['id']}/move", json={"stage_id": pipes["b2b"].stage("Gagné")})
    assert r.status_code == 403
    assert fiona.patch(f"/api/v1/deals/{theirs['id']}", json={"amount": "99"}).status_code == 403
    assert fiona.get(f"/api/v1/deals/{theirs['id']}").json()["status"] == "open"


def test_filters(api, pipes, make_org, make_contact, make_deal):
    org = make_org()
    contact = make_contact()
    b2b, sante = pipes["b2b"], pipes["sante"]
    a = make_deal(
        title="A", amount="1000", expected_close_date="2026-06-15", organisation_id=org, contact_ids=[contact]
    )
    b = make_deal(
        title="B", amount="5000", expected_close_date="2026-07-15", stage_id=b2b.stage("Proposition")
    )
    c = make_deal(title="C", amount="20000", pipeline_id=sante.id)
    d = make_deal(title="D", amount="300", stage_id=b2b.stage("Gagné"))
    alice = api("alice")

    def titles(query: str) -> list[str]:
        r = alice.get(f"/api/v1/deals?{query}")
        assert r.status_code == 200, r.text
        return [x["title"] for x in r.json()["items"]]

    assert titles(f"pipeline_id={b2b.id}&sort=title") == ["A", "B", "D"]
    assert titles(f"stage_id={b2b.stage('Proposition')}") == ["B"]
    assert titles("status=won") == ["D"]
    assert titles("status=open&sort=-amount") == ["C", "B", "A"]
    assert titles(f"organisation_id={org}") == ["A"]
    assert titles(f"contact_id={contact}") == ["A"]
    assert titles("amount__gte=1000&sort=amount") == ["A", "B", "C"]
    assert titles("expected_close_date__gte=2026-07-01") == ["B"]
    assert titles("expected_close_date__lte=2026-06-30&expected_close_date__gte=2026-06-01") == ["A"]
    assert titles("q=b") == ["B"]
    assert titles("sort=expected_close_date") == ["A", "B", "C", "D"]  # undated last
    assert alice.get("/api/v1/deals?limit=2&sort=amount").json()["next_cursor"]
    assert {a["id"], b["id"], c["id"], d["id"]} == {
        x["id"] for x in alice.get("/api/v1/deals").json()["items"]
    }


def test_custom_field_filter(api, db, pipes, make_deal):
    customfields.create_definition(
        db, SYSTEM, {"record_type": "deal", "key": "segment", "label": "Segment", "field_type": "text"}
    )
    make_deal(title="Santé", custom_fields={"segment": "hôpital"})
    make_deal(title="Autre")
    r = api("alice").get("/api/v1/deals?cf.segment=hôpital")
    assert [d["title"] for d in r.json()["items"]] == ["Santé"]


def test_for_record_lists_visible_deals_of_an_organisation_or_contact(
    api, db, personas, pipes, make_org, make_contact, make_deal
):
    org = make_org()
    contact = make_contact()
    mine = make_deal(title="Visible", organisation_id=org, contact_ids=[contact])
    hidden = (
        api("admin")
        .post(
            "/api/v1/deals",
            json={
                "title": "Cachée",
                "organisation_id": org,
                "contact_ids": [contact],
                "owner_id": personas["outsider"].id,
            },
        )
        .json()
    )
    actor = accounts.actor_for(accounts.get_user(db, personas["alice"].id))
    assert [d.id for d in service.for_record(db, actor, "organisation", org)] == [mine["id"]]
    assert [d.id for d in service.for_record(db, actor, "contact", contact)] == [mine["id"]]
    admin_actor = accounts.actor_for(accounts.get_user(db, personas["admin"].id))
    assert {d.id for d in service.for_record(db, admin_actor, "organisation", org)} == {
        mine["id"],
        hidden["id"],
    }
    outsider = accounts.actor_for(accounts.get_user(db, personas["outsider"].id))
    with pytest.raises(NotFound):
        service.for_record(db, outsider, "organisation", org)
    with pytest.raises(NotFound):
        service.for_record(db, actor, "invoice", org)


def test_a_move_answers_the_deal_as_read_back_and_appends_its_audit_entries_once(api, db, pipes, make_deal):
    b2b = pipes["b2b"]
    deal = make_deal(amount="900", tags=["relance"])
    alice = api("alice")
    statements: list[str] = []
    engine = db.get_bind().engine

    def before(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        r = alice.patch(f"/api/v1/deals/{deal['id']}", json={"stage_id": b2b.stage("Gagné")})
    finally:
        event.remove(engine, "before_cursor_execute", before)
    assert r.status_code == 200, r.text
    read_back = alice.get(f"/api/v1/deals/{deal['id']}")
    assert r.json() == read_back.json() and r.headers["etag"] == read_back.headers["etag"]
    assert r.json()["status"] == "won" and r.json()["tags"] == ["relance"]
    # The field-level entry, then the named ones, in that order and in one INSERT.
    assert _audit_actions(db, deal["id"]) == ["create", "update", "stage_change", "won"]
    assert len([s for s in statements if s.startswith("INSERT INTO audit_entries")]) == 1
    assert [e.type for e in _events(db, deal["id"])][-3:] == [
        "deal.updated",
        "deal.stage_changed",
        "deal.won",
    ]
    entry = db.scalars(
        select(AuditEntry).where(AuditEntry.record_id == deal["id"], AuditEntry.action == "stage_change")
    ).one()
    assert entry.changes == {"stage": {"old": "Qualification", "new": "Gagné"}}


def test_an_update_answers_tags_and_contacts_in_the_order_they_read_back(api, make_deal, make_contact):
    first, second = make_contact(last_name="Martin"), make_contact(last_name="Bernard")
    deal = make_deal()
    alice = api("alice")
    r = alice.patch(
        f"/api/v1/deals/{deal['id']}",
        json={"tags": ["zèbre", "Alpha", "mango"], "contact_ids": [second, first]},
    )
    assert r.status_code == 200, r.text
    read_back = alice.get(f"/api/v1/deals/{deal['id']}").json()
    assert r.json() == read_back
    assert read_back["contact_ids"] == sorted([first, second])
