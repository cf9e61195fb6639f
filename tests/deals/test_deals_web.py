"""Deals web UI: pages, the kanban board and its move endpoint (CSRF header), forms, settings."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from carnet.core import clock
from carnet.deals.models import Deal, Pipeline


def _deal(db, deal_id: int) -> Deal:
    db.expire_all()
    return db.get(Deal, deal_id)


def test_pages_render(web, pipes, make_org, make_deal, make_contact):
    org = make_org(name="Clinique du Parc")
    contact = make_contact()
    deal = make_deal(organisation_id=org, contact_ids=[contact], amount="1500")
    alice = web("alice")
    r = alice.get("/deals")
    assert r.status_code == 200 and "Offre Premium" in r.text and "1\u202f500,00\xa0€" in r.text
    r = alice.get(f"/deals?pipeline_id={pipes['b2b'].id}&status=open&amount__gte=1000&sort=-amount")
    assert r.status_code == 200 and "Offre Premium" in r.text
    r = alice.get("/deals?amount__gte=abc")
    assert r.status_code == 200 and "flash-error" in r.text and "Offre Premium" not in r.text
    r = alice.get(f"/deals/new?organisation_id={org}")
    assert r.status_code == 200 and "Clinique du Parc" in r.text
    assert 'name="stage_id"' in r.text and 'name="pipeline_id"' in r.text
    r = alice.get(f"/deals/{deal['id']}")
    assert r.status_code == 200
    assert "Clinique du Parc" in r.text and "Marc Dupont" in r.text
    assert 'data-testid="stage-history"' in r.text and "Qualification" in r.text
    assert "Marquer comme gagnée" in r.text and 'id="lost-dialog"' in r.text
    assert 'hx-get="/records/deal/' in r.text  # record tabs
    assert alice.get(f"/deals/{deal['id']}/edit").status_code == 200
    r = alice.get(f"/deals/_for/organisation/{org}")
    assert (
        r.status_code == 200 and "Offre Premium" in r.text and f"/deals/new?organisation_id={org}" in r.text
    )
    r = alice.get(f"/deals/_for/contact/{contact}")
    assert r.status_code == 200 and "Offre Premium" in r.text and f"/deals/new?contact_id={contact}" in r.text
    assert web("outsider").get(f"/deals/{deal['id']}").status_code == 404
    assert web("outsider").get(f"/deals/_for/organisation/{org}").status_code == 404


def test_kanban_page(web, pipes, make_deal, make_org):
    clock.freeze(datetime(2026, 2, 2, 9, 0, tzinfo=UTC))
    org = make_org(name="Pharmacie Centrale")
    stale = make_deal(title="Vieille affaire", organisation_id=org, amount="2000")
    clock.advance(timedelta(days=20))
    make_deal(title="Nouvelle affaire", amount="1000", stage_id=pipes["b2b"].stage("Proposition"))
    r = web("alice").get(f"/deals/board?pipeline_id={pipes['b2b'].id}")
    assert r.status_code == 200
    assert '<script src="/static/lib/Sortable.min.js' in r.text and "/static/js/kanban.js" in r.text
    assert len(re.findall(r'<section class="kanban-col"', r.text)) == 6
    assert 'data-stage-kind="lost"' in r.text
    card = re.search(r'<article class="kanban-card stale" data-deal-id="(\d+)" data-stale="20 j"', r.text)
    assert card and int(card.group(1)) == stale["id"]
    assert "Pharmacie Centrale" in r.text and "2\u202f000,00\xa0€" in r.text
    assert "Pondéré\xa0: 500,00\xa0€" in r.text  # 1000 × 50 %
    # The default pipeline is shown without a parameter; an unknown one is a 404.
    assert "Vieille affaire" in web("alice").get("/deals/board").text
    assert web("alice").get("/deals/board?pipeline_id=999999").status_code == 404
    assert 'data-can-move="1"' in r.text
    assert 'data-can-move="0"' in web("reader").get("/deals/board").text  # read-only: no dragging
    # Only the sortable library's page loads it.
    assert "Sortable.min.js" not in web("alice").get("/deals").text


def test_board_move_with_csrf_header_returns_the_updated_board(web, db, pipes, make_deal):
    deal = make_deal(amount="4000")
    alice = web("alice")
    target = pipes["b2b"].stage("Négociation")
    r = alice.post(
        f"/deals/{deal['id']}/move",
        data={"stage_id": target, "board": "1", "filters": ""},
        headers={"X-CSRF-Token": alice.csrf, "HX-Request": "true"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["x-carnet-board"] == "1"
    assert r.text.lstrip().startswith('<div id="board"') and "<html" not in r.text
    negotiation = r.text.split(f'data-stage-id="{target}"', 1)[1]
    assert '<span class="kanban-count" data-testid="col-count">1</span>' in negotiation
    assert "Pondéré\xa0: 3\u202f000,00\xa0€" in negotiation  # 4000 × 75 %
    moved = _deal(db, deal["id"])
    assert moved.stage_id == target and moved.probability == 75


def test_board_move_without_csrf_is_refused(web, db, pipes, make_deal):
    deal = make_deal()
    alice = web("alice")
    r = alice.post(f"/deals/{deal['id']}/move", data={"stage_id": pipes["b2b"].stage("Gagné"), "board": "1"})
    assert r.status_code == 403
    assert _deal(db, deal["id"]).status == "open"


def test_board_move_to_lost_needs_a_reason(web, db, pipes, make_deal):
    deal = make_deal()
    alice = web("alice")
    lost = pipes["b2b"].stage("Perdu")
    headers = {"X-CSRF-Token": alice.csrf}
    r = alice.post(f"/deals/{deal['id']}/move", data={"stage_id": lost, "board": "1"}, headers=headers)
    assert r.status_code == 422 and r.headers["x-carnet-board"] == "1"
    assert "data-board-error" in r.text and "Indiquez pourquoi cette affaire a été perdue" in r.text
    assert _deal(db, deal["id"]).stage_id == pipes["b2b"].stage("Qualification")
    r = alice.post(
        f"/deals/{deal['id']}/move",
        data={"stage_id": lost, "board": "1", "lost_reason": "Concurrent moins cher"},
        headers=headers,
    )
    assert r.status_code == 200
    moved = _deal(db, deal["id"])
    assert (moved.status, moved.lost_reason) == ("lost", "Concurrent moins cher")


def test_board_move_of_an_invisible_deal_is_not_found(web, db, pipes, make_deal):
    deal = make_deal()
    outsider = web("outsider")
    r = outsider.post(
        f"/deals/{deal['id']}/move",
        data={"stage_id": pipes["b2b"].stage("Gagné"), "board": "1"},
        headers={"X-CSRF-Token": outsider.csrf},
    )
    assert r.status_code == 404 and "x-carnet-board" not in r.headers
    assert _deal(db, deal["id"]).status == "open"


def test_detail_won_and_lost_buttons(web, db, pipes, make_deal):
    deal = make_deal()
    alice = web("alice")
    r = alice.post(
        f"/deals/{deal['id']}/move",
        data={"stage_id": pipes["b2b"].stage("Perdu"), "csrf_token": alice.csrf},
        follow_redirects=False,
    )
    assert r.status_code == 422 and 'data-testid="move-error"' in r.text
    assert _deal(db, deal["id"]).status == "open"
    r = alice.post(
        f"/deals/{deal['id']}/move",
        data={"stage_id": pipes["b2b"].stage("Gagné"), "csrf_token": alice.csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/deals/{deal['id']}"
    assert _deal(db, deal["id"]).status == "won"
    page = alice.get(f"/deals/{deal['id']}").text
    assert "Affaire gagnée" in page and "Rouvrir" in page


def test_create_and_edit_through_forms(web, db, pipes, make_org):
    org = make_org()
    alice = web("alice")
    r = alice.post(
        "/deals/new",
        data={
            "csrf_token": alice.csrf,
            "title": "Renouvellement",
            "organisation_id": str(org),
            "pipeline_id": str(pipes["b2b"].id),
            "stage_id": str(pipes["b2b"].stage("Découverte")),
            "amount": "12 500,50",
            "probability": "",
            "expected_close_date": "2026-09-30",
            "contact_ids": "",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    deal_id = int(r.headers["location"].rsplit("/", 1)[1])
    deal = _deal(db, deal_id)
    assert (str(deal.amount), deal.probability, deal.organisation_id) == ("12500.50", 25, org)

    r = alice.post(
        "/deals/new",
        data={
            "csrf_token": alice.csrf,
            "title": "Mauvais",
            "amount": "-5",
            "pipeline_id": str(pipes["b2b"].id),
        },
    )
    assert r.status_code == 422 and "Le montant ne peut pas être négatif" in r.text

    # The edit form posts the probability back unchanged: moving still takes the new stage's.
    r = alice.post(
        f"/deals/{deal_id}/edit",
        data={
            "csrf_token": alice.csrf,
            "version": str(deal.version),
            "title": "Renouvellement",
            "pipeline_id": str(pipes["b2b"].id),
            "stage_id": str(pipes["b2b"].stage("Négociation")),
            "amount": "12500.50",
            "probability": "25",
            "lost_reason": "",
            "contact_ids": "",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    deal = _deal(db, deal_id)
    assert (deal.stage_id, deal.probability) == (pipes["b2b"].stage("Négociation"), 75)


def test_pipeline_settings(web, db, pipes, make_deal):
    assert web("alice").get("/settings/pipelines").status_code == 403
    assert web("manager").get("/settings/pipelines").status_code == 403
    admin = web("admin")
    r = admin.get("/settings/pipelines")
    assert r.status_code == 200 and "Ventes B2B" in r.text and "Établissements de santé" in r.text
    r = admin.post(
        "/settings/pipelines",
        data={"csrf_token": admin.csrf, "name": "Distributeurs"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    pipeline = db.scalar(select(Pipeline).where(Pipeline.name == "Distributeurs"))
    base = f"/settings/pipelines/{pipeline.id}"
    assert r.headers["location"] == base
    r = admin.post(
        f"{base}/stages",
        data={
            "csrf_token": admin.csrf,
            "name": "Référencement",
            "kind": "open",
            "probability": "30",
            "rotting_days": "20",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = admin.get(base).text
    names = re.findall(r'name="name" value="([^"]+)"', page)
    assert names == [
        "Distributeurs",
        "Qualification",
        "Proposition",
        "Négociation",
        "Référencement",
        "Gagné",
        "Perdu",
    ]
    stage_id = int(
        re.search(r'<tr data-stage-id="(\d+)">(?:(?!</tr>).)*value="Référencement"', page, re.S).group(1)
    )
    admin.post(f"{base}/stages/{stage_id}/move", data={"csrf_token": admin.csrf, "direction": "up"})
    names = re.findall(r'name="name" value="([^"]+)"', admin.get(base).text)
    assert names[3:5] == ["Référencement", "Négociation"]
    # The won stage cannot be deleted: the page says why.
    won = int(re.search(r'<tr data-stage-id="(\d+)">(?:(?!</tr>).)*value="Gagné"', page, re.S).group(1))
    r = admin.post(f"{base}/stages/{won}/delete", data={"csrf_token": admin.csrf})
    assert r.status_code == 422 and "exactement une étape gagnée" in r.text
    r = admin.post(
        f"{base}/stages/{stage_id}/delete", data={"csrf_token": admin.csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    assert "Référencement" not in admin.get(base).text
    # A pipeline holding deals is not deleted.
    make_deal(pipeline_id=pipeline.id)
    r = admin.post(f"{base}/delete", data={"csrf_token": admin.csrf})
    assert r.status_code == 409 and "Déplacez ou supprimez les affaires" in r.text
