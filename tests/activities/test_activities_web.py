"""Activity pages and the quick-add form of record pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from carnet.activities.models import Activity
from carnet.core import clock

SRC = Path(__file__).resolve().parents[2] / "src" / "carnet"


def _htmx(client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"X-CSRF-Token": client.csrf, "HX-Request": "true"}


def test_quick_add_form(web, make_contact):
    clock.freeze(datetime(2026, 5, 12, 8, 5, tzinfo=UTC))
    alice = web("alice")
    contact = make_contact()
    r = alice.get(f"/activities/_quick_add?record_type=contact&record_id={contact}")
    assert r.status_code == 200
    assert 'hx-post="/activities/_quick_add"' in r.text and 'hx-target="#record-tab"' in r.text
    assert 'value="2026-05-12T10:05"' in r.text  # now, in Paris time
    assert '<option value="meeting" >Rendez-vous</option>' in r.text


def test_quick_add_creates_the_activity_and_returns_the_timeline(web, db, make_org, make_contact):
    alice = web("alice")
    org = make_org()
    contact = make_contact(organisations=(org,))
    r = alice.post(
        "/activities/_quick_add",
        data={
            "record_type": "contact",
            "record_id": str(contact),
            "kind": "visit",
            "subject": "Visite de l'atelier",
            "body": "Machines neuves",
            "occurred_at": "2026-05-12T10:00",
            "duration_minutes": "90",
        },
        headers=_htmx(alice),
    )
    assert r.status_code == 200, r.text
    assert '<ul class="timeline">' in r.text
    assert "Visite de l&#39;atelier" in r.text and "Machines neuves" in r.text
    assert "t-visit" in r.text
    assert 'hx-swap-oob="true"' in r.text  # a blank form replaces the filled one
    act = db.scalar(select(Activity).where(Activity.contact_id == contact))
    assert (act.kind, act.duration_minutes, act.organisation_id) == ("visit", 90, org)
    assert act.occurred_at == datetime(2026, 5, 12, 8, 0, tzinfo=UTC)  # 10:00 in Paris
    # The record's timeline panel now shows it too.
    panel = alice.get(f"/records/organisation/{org}/timeline")
    assert "Visite de l&#39;atelier" in panel.text


def test_quick_add_errors_come_back_on_the_form(web, db, make_org):
    alice = web("alice")
    org = make_org()
    before = db.scalar(select(func.count()).select_from(Activity))
    r = alice.post(
        "/activities/_quick_add",
        data={
            "record_type": "organisation",
            "record_id": str(org),
            "kind": "call",
            "subject": " ",
            "duration_minutes": "-3",
        },
        headers=_htmx(alice),
    )
    assert r.status_code == 200
    assert r.headers["hx-retarget"] == "#activity-quick-add"
    assert r.headers["hx-reswap"] == "outerHTML"
    assert '<div class="field-error" data-error-for="subject">Ce champ est obligatoire</div>' in r.text
    assert 'data-error-for="duration_minutes"' in r.text
    assert 'value="-3"' in r.text  # what was typed is kept
    r = alice.post(
        "/activities/_quick_add",
        data={"record_type": "organisation", "record_id": str(org), "kind": "call", "subject": ""},
        headers={"X-CSRF-Token": alice.csrf},
    )
    assert r.status_code == 422
    assert db.scalar(select(func.count()).select_from(Activity)) == before


def test_quick_add_on_a_record_i_cannot_see(web, db, make_org):
    org = make_org(owner="outsider")
    alice = web("alice")
    assert alice.get(f"/activities/_quick_add?record_type=organisation&record_id={org}").status_code == 404
    assert alice.get(f"/activities/_quick_add?record_type=invoice&record_id={org}").status_code == 404
    r = alice.post(
        "/activities/_quick_add",
        data={"record_type": "organisation", "record_id": str(org), "kind": "call", "subject": "Espion"},
        headers=_htmx(alice),
    )
    assert "Organisation inconnue" in r.text
    assert db.scalar(select(func.count()).select_from(Activity).where(Activity.organisation_id == org)) == 0


def test_quick_add_needs_the_csrf_token(web, db, make_org):
    alice = web("alice")
    org = make_org()
    r = alice.post(
        "/activities/_quick_add",
        data={"record_type": "organisation", "record_id": str(org), "kind": "call", "subject": "Sans jeton"},
    )
    assert r.status_code == 403
    assert db.scalar(select(func.count()).select_from(Activity).where(Activity.organisation_id == org)) == 0


def test_read_only_users_get_no_quick_add_form(web, db, make_org):
    from carnet.core import permissions

    org = make_org()
    reader = web("reader")
    assert reader.get(f"/activities/_quick_add?record_type=organisation&record_id={org}").status_code == 404
    permissions.set_scope(db, "organisation", "all")
    db.commit()
    r = reader.get(f"/activities/_quick_add?record_type=organisation&record_id={org}")
    assert (r.status_code, r.text) == (200, "")


def test_list_page_filters(web, api, make_org):
    client = api("alice")
    org = make_org()
    for kind, subject, when in (
        ("call", "Appel du lundi", "2026-04-06T09:00:00+02:00"),
        ("email", "Mail du mardi", "2026-04-07T09:00:00+02:00"),
        ("call", "Appel tardif", "2026-04-07T23:30:00+02:00"),
    ):
        client.post(
            "/api/v1/activities",
            json={"kind": kind, "subject": subject, "organisation_id": org, "occurred_at": when},
        )
    alice = web("alice")
    page = alice.get("/activities")
    assert page.status_code == 200
    assert (
        page.text.index("Appel tardif") < page.text.index("Mail du mardi") < page.text.index("Appel du lundi")
    )
    page = alice.get("/activities?kind=call")
    assert "Appel du lundi" in page.text and "Mail du mardi" not in page.text
    # Whole days in the user's time zone: 23:30 in Paris on the 7th is still the 7th.
    page = alice.get("/activities?from=2026-04-07&to=2026-04-07")
    assert "Appel tardif" in page.text and "Mail du mardi" in page.text and "Appel du lundi" not in page.text
    assert "Boulangerie Martin" in page.text


def test_create_edit_delete_pages(web, db, make_org):
    alice = web("alice")
    org = make_org()
    assert alice.get("/activities/new").status_code == 200
    r = alice.post(
        "/activities/new",
        data={
            "csrf_token": alice.csrf,
            "kind": "meeting",
            "subject": "Revue de contrat",
            "occurred_at": "2026-05-20T14:00",
            "organisation_id": str(org),
            "_participants_present": "1",
            "participant_contact_ids": "",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    act_id = int(r.headers["location"].rsplit("/", 1)[1])
    page = alice.get(f"/activities/{act_id}")
    assert (
        "Revue de contrat" in page.text and "Rendez-vous" in page.text and "Boulangerie Martin" in page.text
    )
    assert alice.get(f"/activities/{act_id}/edit").status_code == 200
    r = alice.post(
        f"/activities/{act_id}/edit",
        data={"csrf_token": alice.csrf, "subject": "", "version": "1"},
        follow_redirects=False,
    )
    assert r.status_code == 422 and "Ce champ est obligatoire" in r.text
    r = alice.post(
        f"/activities/{act_id}/edit",
        data={"csrf_token": alice.csrf, "subject": "Revue annuelle", "version": "1"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert db.get(Activity, act_id).subject == "Revue annuelle"
    assert web("outsider").get(f"/activities/{act_id}").status_code == 404
    r = alice.post(f"/activities/{act_id}/delete", data={"csrf_token": alice.csrf}, follow_redirects=False)
    assert r.status_code == 303
    db.expire_all()
    assert db.get(Activity, act_id) is None


def test_quick_add_left_at_the_prefilled_minute_logs_the_exact_time(web, db, make_org):
    clock.freeze(datetime(2026, 5, 12, 8, 5, 42, tzinfo=UTC))
    alice = web("alice")
    org = make_org()
    form = alice.get(f"/activities/_quick_add?record_type=organisation&record_id={org}").text
    now_value = re.search(r'name="_now_value" value="([^"]+)"', form).group(1)
    assert now_value == "2026-05-12T10:05"
    alice.post(
        "/activities/_quick_add",
        data={
            "record_type": "organisation",
            "record_id": str(org),
            "kind": "call",
            "subject": "Appel à l'instant",
            "occurred_at": now_value,
            "_now_value": now_value,
        },
        headers=_htmx(alice),
    )
    act = db.scalar(select(Activity).where(Activity.organisation_id == org))
    assert act.occurred_at == datetime(2026, 5, 12, 8, 5, 42, tzinfo=UTC)
