"""The pipeline board: exact totals and weighted totals, stale deals, visibility and filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from carnet.accounts import service as accounts
from carnet.core import clock
from carnet.deals import service


def _actor(db, personas, who):
    return accounts.actor_for(accounts.get_user(db, personas[who].id))


def _column(board, name):
    return next(c for c in board.columns if c.stage.name == name)


def test_board_totals_and_weighted_totals_are_exact(db, personas, pipes, make_deal):
    b2b = pipes["b2b"]
    make_deal(amount="1000.00")
    make_deal(amount="2500.50")
    make_deal(amount=None, title="Sans montant")
    make_deal(amount="333.33", stage_id=b2b.stage("Proposition"))
    make_deal(amount="100.01", stage_id=b2b.stage("Proposition"), probability=33)
    make_deal(amount="0.10", stage_id=b2b.stage("Gagné"))
    make_deal(amount="0.20", stage_id=b2b.stage("Gagné"))
    make_deal(amount="999", stage_id=b2b.stage("Perdu"), lost_reason="Prix")

    board = service.board(db, _actor(db, personas, "alice"), b2b.id)
    assert [c.stage.name for c in board.columns] == [
        "Qualification",
        "Découverte",
        "Proposition",
        "Négociation",
        "Gagné",
        "Perdu",
    ]
    qualification = _column(board, "Qualification")
    assert (qualification.count, qualification.total, qualification.weighted) == (
        3,
        Decimal("3500.50"),
        Decimal("350.05"),
    )
    proposition = _column(board, "Proposition")
    # 333.33 × 50 % + 100.01 × 33 % = 166.665 + 33.0033 = 199.6683
    assert (proposition.count, proposition.total, proposition.weighted) == (
        2,
        Decimal("433.34"),
        Decimal("199.67"),
    )
    won = _column(board, "Gagné")
    assert (won.total, won.weighted) == (Decimal("0.30"), Decimal("0.30"))  # no float drift
    assert (_column(board, "Perdu").total, _column(board, "Perdu").weighted) == (
        Decimal("999.00"),
        Decimal("0.00"),
    )
    assert _column(board, "Découverte").count == 0 and _column(board, "Découverte").total == Decimal("0.00")
    assert board.count == 8
    assert board.total == Decimal("4933.14")
    # 350.05 + 199.6683 + 0.30 + 0 = 550.0183
    assert board.weighted == Decimal("550.02")


def test_board_api_serialises_money_as_strings(api, pipes, make_deal):
    make_deal(amount="1234.56", probability=25)
    body = api("alice").get(f"/api/v1/pipelines/{pipes['b2b'].id}/board").json()
    assert (body["count"], body["total_amount"], body["weighted_amount"]) == (1, "1234.56", "308.64")
    first = body["columns"][0]
    assert first["stage"]["name"] == "Qualification"
    assert (first["count"], first["total_amount"], first["weighted_amount"]) == (1, "1234.56", "308.64")
    assert first["deals"][0]["amount"] == "1234.56" and first["deals"][0]["stale"] is False
    assert [c["stage"]["position"] for c in body["columns"]] == list(range(6))


def test_stale_flag_after_rotting_days(api, db, personas, pipes, make_deal):
    clock.freeze(datetime(2026, 1, 5, 8, 0, tzinfo=UTC))
    b2b = pipes["b2b"]  # Qualification rots after 14 days, won/lost never
    old = make_deal(title="Ancienne")
    won = make_deal(title="Gagnée", stage_id=b2b.stage("Gagné"))
    clock.advance(timedelta(days=14))
    fresh = make_deal(title="Récente")
    alice = _actor(db, personas, "alice")
    assert _column(service.board(db, alice, b2b.id), "Qualification").stale_days == {}
    clock.advance(timedelta(hours=1))
    board = service.board(db, alice, b2b.id)
    assert _column(board, "Qualification").stale_days == {old["id"]: 14}
    assert _column(board, "Gagné").stale_days == {}
    # A stage change resets the clock.
    api("alice").post(f"/api/v1/deals/{old['id']}/move", json={"stage_id": b2b.stage("Découverte")})
    board = service.board(db, alice, b2b.id)
    assert _column(board, "Découverte").stale_days == {}
    body = api("alice").get(f"/api/v1/pipelines/{b2b.id}/board").json()
    flags = {d["title"]: d["stale"] for c in body["columns"] for d in c["deals"]}
    assert flags == {"Ancienne": False, "Gagnée": False, "Récente": False}
    clock.advance(timedelta(days=22))
    body = api("alice").get(f"/api/v1/pipelines/{b2b.id}/board").json()
    flags = {d["title"]: (d["stale"], d["stale_days"]) for c in body["columns"] for d in c["deals"]}
    assert flags == {"Ancienne": (True, 22), "Gagnée": (False, None), "Récente": (True, 22)}
    assert won["status"] == "won" and fresh["status"] == "open"


def test_board_shows_only_visible_deals(api, db, personas, pipes, make_deal):
    make_deal("alice", amount="100")
    make_deal("outsider", amount="7000")
    alice = service.board(db, _actor(db, personas, "alice"), pipes["b2b"].id)
    assert (alice.count, alice.total) == (1, Decimal("100.00"))
    outsider = service.board(db, _actor(db, personas, "outsider"), pipes["b2b"].id)
    assert (outsider.count, outsider.total) == (1, Decimal("7000.00"))
    admin = service.board(db, _actor(db, personas, "admin"), pipes["b2b"].id)
    assert (admin.count, admin.total) == (2, Decimal("7100.00"))
    body = api("alice").get(f"/api/v1/pipelines/{pipes['b2b'].id}/board").json()
    assert [d["amount"] for c in body["columns"] for d in c["deals"]] == ["100.00"]


def test_board_filters_and_card_limit(api, personas, pipes, make_deal):
    for i in range(3):
        make_deal(title=f"Alice {i}", amount="10")
    make_deal("bob", title="Bob", amount="5")
    alice = api("alice")
    url = f"/api/v1/pipelines/{pipes['b2b'].id}/board"
    body = alice.get(url, params={"owner_id": personas["bob"].id}).json()
    assert (body["count"], body["total_amount"]) == (1, "5.00")
    body = alice.get(url, params={"limit": 2}).json()
    first = body["columns"][0]
    assert first["count"] == 4 and len(first["deals"]) == 2 and first["more"] == 2
    assert first["total_amount"] == "35.00"
    # Most recently moved first.
    assert [d["title"] for d in first["deals"]] == ["Bob", "Alice 2"]


def test_board_cards_read_like_the_deal_itself(api, db, personas, pipes, make_deal, make_contact):
    """The board reads its cards as plain rows: each card is the deal's own API shape plus its
    stale flags, field for field."""
    contact = make_contact()
    make_deal(
        title="Complète",
        amount="1234.5",
        probability=15,
        expected_close_date="2026-06-30",
        source="Salon",
        description="Deux sites",
        contact_ids=[contact],
        tags=["grand compte", "relance"],
    )
    make_deal(title="Nue", amount=None)
    make_deal(title="Perdue", stage_id=pipes["b2b"].stage("Perdu"), lost_reason="Prix")
    alice = api("alice")
    body = alice.get(f"/api/v1/pipelines/{pipes['b2b'].id}/board").json()
    cards = [card for column in body["columns"] for card in column["deals"]]
    assert sorted(card["title"] for card in cards) == ["Complète", "Nue", "Perdue"]
    for card in cards:
        deal = alice.get(f"/api/v1/deals/{card['id']}").json()
        assert card == {**deal, "stale": False, "stale_days": None}
        assert list(card) == [*deal, "stale", "stale_days"]
    complete = next(card for card in cards if card["title"] == "Complète")
    assert (complete["amount"], complete["contact_ids"], complete["tags"]) == (
        "1234.50",
        [contact],
        ["grand compte", "relance"],
    )
