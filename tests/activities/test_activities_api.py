"""Activities over the API: CRUD, links to organisations/contacts/deals, validation, visibility,
ETags, audit and events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from carnet.activities.models import Activity
from carnet.core import clock
from carnet.core.audit import AuditEntry
from carnet.core.events import Event


def activity(**overrides: Any) -> dict[str, Any]:
    return {"kind": "call", "subject": "Appel de découverte", **overrides}


def _count(db) -> int:  # type: ignore[no-untyped-def]
    return db.scalar(select(func.count()).select_from(Activity))


def test_create_read_update_delete(api, db, make_org, make_contact):
    alice = api("alice")
    org = make_org()
    contact = make_contact(organisations=(org,))
    r = alice.post(
        "/api/v1/activities",
        json=activity(
            contact_id=contact,
            body="Intéressé par l'offre Premium",
            occurred_at="2026-05-12T14:30:00+02:00",
            duration_minutes=20,
            outcome="Rappeler en juin",
        ),
    )
    assert r.status_code == 201, r.text
    act = r.json()
    assert r.headers["etag"] == '"1"'
    assert r.headers["location"] == f"/api/v1/activities/{act['id']}"
    assert act["kind"] == "call"
    assert act["occurred_at"] == "2026-05-12T12:30:00Z"
    assert act["duration_minutes"] == 20
    assert act["contact_id"] == contact
    assert act["organisation_id"] == org  # the contact's only organisation
    assert act["owner_id"] is not None and act["department_id"] is not None

    r = alice.patch(
        f"/api/v1/activities/{act['id']}",
        json={"kind": "meeting", "duration_minutes": 45},
        headers={"If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["kind"], r.json()["duration_minutes"], r.json()["version"]) == ("meeting", 45, 2)
    assert r.headers["etag"] == '"2"'

    r = alice.patch(
        f"/api/v1/activities/{act['id']}", json={"subject": "Trop tard"}, headers={"If-Match": '"1"'}
    )
    assert r.status_code == 412
    assert alice.get(f"/api/v1/activities/{act['id']}").json()["subject"] == "Appel de découverte"

    assert alice.delete(f"/api/v1/activities/{act['id']}", headers={"If-Match": '"2"'}).status_code == 204
    assert alice.get(f"/api/v1/activities/{act['id']}").status_code == 404
    types = list(
        db.scalars(
            select(Event.type)
            .where(Event.record_type == "activity", Event.record_id == act["id"])
            .order_by(Event.id)
        )
    )
    assert types == ["activity.created", "activity.updated", "activity.deleted"]
    actions = list(
        db.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.record_type == "activity", AuditEntry.record_id == act["id"])
            .order_by(AuditEntry.seq)
        )
    )
    assert actions == ["create", "update", "delete"]
    changes = db.scalar(
        select(AuditEntry.changes).where(
            AuditEntry.record_type == "activity",
            AuditEntry.record_id == act["id"],
            AuditEntry.action == "update",
        )
    )
    assert changes == {"duration_minutes": {"old": 20, "new": 45}, "kind": {"old": "call", "new": "meeting"}}


def test_occurred_at_defaults_to_now(api, make_org):
    clock.freeze(datetime(2026, 3, 2, 9, 15, tzinfo=UTC))
    r = api("alice").post("/api/v1/activities", json=activity(kind="note", organisation_id=make_org()))
    assert r.status_code == 201, r.text
    assert r.json()["occurred_at"] == "2026-03-02T09:15:00Z"


def test_a_deal_brings_its_organisation(api, make_org, make_deal):
    org = make_org()
    deal = make_deal(organisation_id=org)
    r = api("alice").post("/api/v1/activities", json=activity(kind="email", deal_id=deal))
    assert r.status_code == 201, r.text
    assert (r.json()["deal_id"], r.json()["organisation_id"]) == (deal, org)


def test_a_contact_of_several_organisations_links_none(api, make_org, make_contact):
    contact = make_contact(organisations=(make_org(name="A"), make_org(name="B")))
    r = api("alice").post("/api/v1/activities", json=activity(contact_id=contact))
    assert r.status_code == 201, r.text
    assert r.json()["organisation_id"] is None


def test_an_explicit_organisation_is_kept(api, make_org, make_contact):
    home, other = make_org(name="Maison"), make_org(name="Autre")
    contact = make_contact(organisations=(home,))
    r = api("alice").post("/api/v1/activities", json=activity(contact_id=contact, organisation_id=other))
    assert r.json()["organisation_id"] == other


def test_bad_input_is_refused_and_nothing_is_stored(api, db, make_org):
    alice = api("alice")
    org = make_org()
    before = _count(db)
    cases = [
        (activity(), "links"),  # no organisation, contact or deal
        (activity(kind="fax", organisation_id=org), "kind"),
        (activity(organisation_id=org, duration_minutes=-5), "duration_minutes"),
        (activity(organisation_id=org, occurred_at="12/05/2026"), "occurred_at"),
        (activity(organisation_id=org, occurred_at="2026-05-12T14:30:00"), "occurred_at"),  # no offset
        (activity(organisation_id=org, subject="  "), "subject"),
        (activity(organisation_id=org, participant_user_ids=[999999]), "participant_user_ids"),
        (activity(organisation_id=org, owner_id=999999), "owner_id"),
        (activity(organisation_id=org, unknown=1), "unknown"),
        (activity(organisation_id=org, custom_fields={"nope": 1}), "custom_fields.nope"),
    ]
    for payload, field in cases:
        r = alice.post("/api/v1/activities", json=payload)
        assert r.status_code == 422, (payload, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert field in [e["field"] for e in r.json()["errors"]], (payload, r.json())
    assert alice.post("/api/v1/activities", json={"subject": "x", "organisation_id": org}).status_code == 422
    assert _count(db) == before


def test_no_link_says_so(api):
    r = api("alice").post("/api/v1/activities", json=activity())
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {
            "field": "links",
            "code": "link_required",
            "message": "Rattachez l'activité à une organisation, un contact ou une affaire",
        }
    ]


def test_invisible_linked_records_are_field_errors(api, db, make_org, make_contact, make_deal):
    """Alice (Commercial) may not link to Finance's records; the answer does not say they exist."""
    org = make_org(owner="outsider")
    contact = make_contact(owner="outsider")
    deal = make_deal(owner="outsider")
    alice = api("alice")
    before = _count(db)
    for field, value, message in (
        ("organisation_id", org, "Organisation inconnue"),
        ("contact_id", contact, "Contact inconnu"),
        ("deal_id", deal, "Affaire inconnue"),
        ("organisation_id", 999999, "Organisation inconnue"),
    ):
        r = alice.post("/api/v1/activities", json=activity(**{field: value}))
        assert r.status_code == 422, r.text
        assert r.json()["errors"] == [{"field": field, "code": "unknown", "message": message}]
    own = make_org()
    r = alice.post(
        "/api/v1/activities", json=activity(organisation_id=own, participant_contact_ids=[contact])
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "participant_contact_ids"
    assert _count(db) == before


def test_participants(api, personas, make_org, make_contact):
    alice = api("alice")
    org = make_org()
    c1, c2 = make_contact(last_name="Durand"), make_contact(last_name="Petit")
    r = alice.post(
        "/api/v1/activities",
        json=activity(
            kind="meeting",
            organisation_id=org,
            participant_user_ids=[personas["bob"].id, personas["bob"].id],
            participant_contact_ids=[c1, c2],
        ),
    )
    assert r.status_code == 201, r.text
    act = r.json()
    assert act["participant_user_ids"] == [personas["bob"].id]
    assert act["participant_contact_ids"] == [c1, c2]
    r = alice.patch(f"/api/v1/activities/{act['id']}", json={"participant_contact_ids": [c2]})
    assert r.json()["participant_contact_ids"] == [c2]
    assert r.json()["participant_user_ids"] == [personas["bob"].id]
    assert r.json()["version"] == 2


def test_visibility_by_department(api, make_org):
    alice = api("alice")
    act = alice.post("/api/v1/activities", json=activity(organisation_id=make_org())).json()
    assert api("bob").get(f"/api/v1/activities/{act['id']}").status_code == 200
    assert api("admin").get(f"/api/v1/activities/{act['id']}").status_code == 200
    outsider = api("outsider")
    r = outsider.get(f"/api/v1/activities/{act['id']}")
    assert r.status_code == 404 and "découverte" not in r.text
    assert outsider.patch(f"/api/v1/activities/{act['id']}", json={"subject": "x"}).status_code == 404
    assert outsider.delete(f"/api/v1/activities/{act['id']}").status_code == 404
    assert all(a["id"] != act["id"] for a in outsider.get("/api/v1/activities?limit=200").json()["items"])
    assert alice.get(f"/api/v1/activities/{act['id']}").json()["subject"] == "Appel de découverte"


def test_read_only_cannot_write(api, db, make_org):
    org = make_org()
    before = _count(db)
    assert api("reader").post("/api/v1/activities", json=activity(organisation_id=org)).status_code == 403
    assert _count(db) == before


def test_list_filters_and_pagination(api, make_org, make_contact):
    alice = api("alice")
    org = make_org()
    contact = make_contact()
    made = []
    for day, kind, link in (
        (1, "call", {"organisation_id": org}),
        (2, "email", {"contact_id": contact}),
        (3, "call", {"contact_id": contact}),
        (4, "meeting", {"organisation_id": org}),
    ):
        r = alice.post(
            "/api/v1/activities",
            json=activity(
                kind=kind, subject=f"Jour {day}", occurred_at=f"2026-04-0{day}T10:00:00+02:00", **link
            ),
        )
        made.append(r.json()["id"])
    r = alice.get("/api/v1/activities", params={"limit": 200})
    mine = [a["subject"] for a in r.json()["items"] if a["id"] in made]
    assert mine == ["Jour 4", "Jour 3", "Jour 2", "Jour 1"]  # newest first
    r = alice.get("/api/v1/activities", params={"kind": "call", "contact_id": contact})
    assert [a["subject"] for a in r.json()["items"]] == ["Jour 3"]
    r = alice.get(
        "/api/v1/activities",
        params={"occurred_at__gte": "2026-04-02T00:00:00Z", "occurred_at__lte": "2026-04-03T23:59:59Z"},
    )
    assert [a["subject"] for a in r.json()["items"]] == ["Jour 3", "Jour 2"]
    seen, cursor = [], None
    while True:
        params = {"limit": 3, "organisation_id": org, "sort": "occurred_at"}
        r = alice.get("/api/v1/activities", params={**params, **({"cursor": cursor} if cursor else {})})
        seen += [a["subject"] for a in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert seen == ["Jour 1", "Jour 4"]
    assert alice.get("/api/v1/activities", params={"nosuchfield": 1}).status_code == 422
    assert alice.get("/api/v1/activities", params={"occurred_at__gte": "hier"}).status_code == 422


def test_custom_field_filter(api, db, make_org):
    from carnet.core import customfields
    from carnet.core.context import SYSTEM

    customfields.create_definition(
        db, SYSTEM, {"record_type": "activity", "key": "canal", "label": "Canal", "field_type": "text"}
    )
    db.commit()
    alice = api("alice")
    org = make_org()
    alice.post(
        "/api/v1/activities",
        json=activity(organisation_id=org, subject="A", custom_fields={"canal": "salon"}),
    )
    alice.post(
        "/api/v1/activities", json=activity(organisation_id=org, subject="B", custom_fields={"canal": "web"})
    )
    r = alice.get("/api/v1/activities", params={"cf.canal": "salon"})
    assert [a["subject"] for a in r.json()["items"]] == ["A"]


def test_recent_for_user(api, db, personas, make_org):
    from carnet.accounts import service as accounts
    from carnet.activities import service

    clock.freeze(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
    alice, bob = api("alice"), api("bob")
    org = make_org()
    alice.post(
        "/api/v1/activities",
        json=activity(organisation_id=org, subject="Ancien", occurred_at="2026-05-01T09:00:00Z"),
    )
    alice.post(
        "/api/v1/activities",
        json=activity(organisation_id=org, subject="Récent", occurred_at="2026-05-30T09:00:00Z"),
    )
    alice.post(
        "/api/v1/activities",
        json=activity(organisation_id=org, subject="Prévu", occurred_at="2026-06-10T09:00:00Z"),
    )
    bob.post("/api/v1/activities", json=activity(organisation_id=org, subject="De Bob"))
    actor = accounts.actor_for(accounts.get_user(db, personas["alice"].id))
    assert [a.subject for a in service.recent_for_user(db, actor, 5)] == ["Récent", "Ancien"]


def test_list_count_is_capped(api, db, personas, make_org):
    from carnet.accounts import service as accounts
    from carnet.activities import service
    from carnet.core.listing import parse_params

    alice = api("alice")
    org = make_org()
    for n in range(4):
        alice.post("/api/v1/activities", json=activity(organisation_id=org, subject=f"N{n}"))
    actor = accounts.actor_for(accounts.get_user(db, personas["alice"].id))
    params = parse_params({"organisation_id": str(org)})
    assert service.count_activities(db, actor, params) == 4
    assert service.count_activities(db, actor, params, cap=2) == 3  # "2+" on the page
