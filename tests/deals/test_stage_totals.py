"""Stored per-stage totals (deal_stage_totals): every way a deal changes keeps them equal to the
live aggregate of the deals, key by key; the board reads them with each user's visibility; the
maintenance recompute reports and fixes drift."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest
from sqlalchemy import delete, insert, select, text, update

from carnet.accounts import service as accounts
from carnet.core import jobs, permissions
from carnet.core.context import SYSTEM
from carnet.core.listing import parse_params
from carnet.deals import service, totals
from carnet.deals.models import Deal, DealStageTotal

Key = tuple[int, int, int, int]
Sums = tuple[int, Decimal, Decimal, Decimal]


def live_totals(db) -> dict[Key, Sums]:
    """What the table must hold, computed here in Python from the deals themselves."""
    out: dict[Key, list] = defaultdict(lambda: [0, Decimal(0), Decimal(0), Decimal(0)])
    rows = db.execute(
        select(
            Deal.pipeline_id, Deal.stage_id, Deal.department_id, Deal.owner_id, Deal.amount, Deal.probability
        )
    )
    for pipeline_id, stage_id, department_id, owner_id, amount, probability in rows:
        sums = out[(pipeline_id, stage_id, department_id or 0, owner_id or 0)]
        amount = amount or Decimal(0)
        sums[0] += 1
        sums[1] += amount
        if probability is None:
            sums[3] += amount
        else:
            sums[2] += amount * probability / 100
    return {key: tuple(sums) for key, sums in out.items()}


def stored_totals(db) -> dict[Key, Sums]:
    """The table's rows, leaving out the empty ones a deal leaves behind when it moves away."""
    t = DealStageTotal
    rows = db.execute(
        select(
            t.pipeline_id,
            t.stage_id,
            t.department_id,
            t.owner_id,
            t.deal_count,
            t.amount_total,
            t.weighted_total,
            t.unweighted_amount,
        )
    )
    return {tuple(r[:4]): tuple(r[4:]) for r in rows if any(r[4:])}


def assert_totals_match(db) -> dict[Key, Sums]:
    live = live_totals(db)
    assert stored_totals(db) == live
    return live


def _key(deal: dict) -> Key:
    return (deal["pipeline_id"], deal["stage_id"], deal["department_id"] or 0, deal["owner_id"] or 0)


def _actor(db, personas, who):
    return accounts.actor_for(accounts.get_user(db, personas[who].id))


def _column_sums(board) -> dict[str, tuple[int, Decimal, Decimal]]:
    return {c.stage.name: (c.count, c.total, c.weighted) for c in board.columns}


# -- upkeep through every write path ---------------------------------------------------------------------


def test_create_update_amount_move_and_delete_keep_the_totals(api, db, pipes, make_deal):
    b2b = pipes["b2b"]
    alice = api("alice")
    first = make_deal(amount="1000.00")  # Qualification follows the stage's 10 %
    second = make_deal(amount="333.33", probability=33)
    assert assert_totals_match(db)[_key(first)] == (2, Decimal("1333.33"), Decimal("209.9989"), Decimal(0))

    alice.patch(f"/api/v1/deals/{second['id']}", json={"amount": "100.01"})
    assert assert_totals_match(db)[_key(first)] == (2, Decimal("1100.01"), Decimal("133.0033"), Decimal(0))

    r = alice.post(f"/api/v1/deals/{first['id']}/move", json={"stage_id": b2b.stage("Gagné")})
    assert r.status_code == 200, r.text
    live = assert_totals_match(db)
    assert live[_key(first)] == (1, Decimal("100.01"), Decimal("33.0033"), Decimal(0))
    assert live[_key(r.json())] == (1, Decimal("1000.00"), Decimal("1000.00"), Decimal(0))

    assert alice.delete(f"/api/v1/deals/{second['id']}").status_code == 204
    assert alice.delete(f"/api/v1/deals/{first['id']}").status_code == 204
    assert assert_totals_match(db) == {}


def test_change_owner_and_department(api, db, personas, pipes, make_deal):
    deal = make_deal(amount="500")
    r = api("alice").patch(f"/api/v1/deals/{deal['id']}", json={"owner_id": personas["bob"].id})
    assert r.status_code == 200, r.text
    assert assert_totals_match(db) == {_key(r.json()): (1, Decimal("500.00"), Decimal("50.0000"), Decimal(0))}
    assert _key(r.json())[3] == personas["bob"].id

    finance = personas["_departments"]["finance"]
    r = api("admin").patch(f"/api/v1/deals/{deal['id']}", json={"department_id": finance})
    assert r.status_code == 200, r.text
    assert assert_totals_match(db) == {_key(r.json()): (1, Decimal("500.00"), Decimal("50.0000"), Decimal(0))}
    assert _key(r.json())[2] == finance


def test_import_and_its_undo(api, db, pipes):
    alice = api("alice")
    rows = "Titre;Montant;Étape\r\nPremière;1 200,50;Proposition\r\nSeconde;300;Qualification\r\n"
    files = {"file": ("affaires.csv", rows.encode(), "text/csv")}
    job = alice.post("/api/v1/imports", files=files, data={"record_type": "deal"}).json()
    assert (
        alice.post(f"/api/v1/imports/{job['id']}/mapping", json={"mapping": job["mapping"]}).status_code
        == 200
    )
    assert alice.post(f"/api/v1/imports/{job['id']}/run").status_code == 202
    jobs.drain()
    assert alice.get(f"/api/v1/imports/{job['id']}").json()["created"] == 2
    live = assert_totals_match(db)
    assert sorted(sums[:2] for sums in live.values()) == [(1, Decimal("300.00")), (1, Decimal("1200.50"))]

    assert alice.post(f"/api/v1/imports/{job['id']}/undo").status_code == 202
    jobs.drain()
    assert assert_totals_match(db) == {}


def test_bulk_assign_and_bulk_delete(web, db, personas, pipes, make_deal):
    ids = [make_deal(title=t, amount="10")["id"] for t in ("Un", "Deux", "Trois")]
    alice = web("alice")
    data = {"ids": [str(i) for i in ids[:2]], "action": "assign", "owner_id": str(personas["bob"].id)}
    r = alice.post("/bulk/deal", data={"csrf_token": alice.csrf, **data}, follow_redirects=False)
    assert r.status_code == 303
    live = assert_totals_match(db)
    assert sorted(sums[0] for sums in live.values()) == [1, 2]

    data = {"ids": [str(ids[0])], "action": "delete"}
    alice.post("/bulk/deal", data={"csrf_token": alice.csrf, **data}, follow_redirects=False)
    assert sorted(sums[0] for sums in assert_totals_match(db).values()) == [1, 1]


def test_set_based_writes_stage_probability_and_stage_deletion(api, db, pipes, make_deal):
    """Changing a stage's probability updates the deals that followed it in one UPDATE statement;
    deleting a stage moves its deals."""
    admin = api("admin")
    b2b = pipes["b2b"]
    make_deal(amount="200", stage_id=b2b.stage("Proposition"))  # follows the stage's 50 %
    make_deal(amount="100", stage_id=b2b.stage("Proposition"), probability=65)
    url = f"/api/v1/pipelines/{b2b.id}/stages/{b2b.stage('Proposition')}"
    assert admin.patch(url, json={"probability": 55}).status_code == 200
    live = assert_totals_match(db)
    assert [sums[2] for sums in live.values()] == [Decimal("175.0000")]  # 110 + 65

    r = admin.delete(url, params={"target_stage_id": b2b.stage("Négociation")})
    assert r.status_code == 204, r.text
    live = assert_totals_match(db)
    assert [key[1] for key in live] == [b2b.stage("Négociation")]


def test_bulk_insert_and_a_deleted_owner(db, personas, pipes):
    """Writes no Python hook would see: a multi-row INSERT (as the demo loader does) and the foreign
    key that sets the owner of a deleted user's deals to NULL."""
    b2b = pipes["b2b"]
    user = accounts.create_user(
        db,
        SYSTEM,
        {
            "email": "partante@example.fr",
            "password": "correct horse battery staple",
            "role": "sales",
            "department_id": personas["alice"].department_id,
            "first_name": "Partante",
            "last_name": "Test",
        },
    )
    rows = [
        {
            "title": f"Lot {i}",
            "pipeline_id": b2b.id,
            "stage_id": b2b.stage("Découverte"),
            "amount": Decimal(f"{i}00.10"),
            "probability": None if i == 3 else 20,
            "status": "open",
            "currency": "EUR",
            "owner_id": user.id,
            "department_id": personas["alice"].department_id,
            "custom_fields": {},
            "version": 1,
        }
        for i in range(1, 4)
    ]
    db.execute(insert(Deal), rows)
    assert assert_totals_match(db)[
        (b2b.id, b2b.stage("Découverte"), personas["alice"].department_id, user.id)
    ] == (
        3,
        Decimal("600.30"),
        Decimal("60.0400"),
        Decimal("300.10"),
    )
    accounts.delete_user(db, _actor(db, personas, "admin"), user)
    live = assert_totals_match(db)
    assert list(live) == [(b2b.id, b2b.stage("Découverte"), personas["alice"].department_id, 0)]


def test_triggers_are_installed(db):
    """A later migration that rebuilds `deals` (SQLite batch mode) must create them again."""
    if db.get_bind().dialect.name == "postgresql":
        sql = "SELECT tgname FROM pg_trigger WHERE tgrelid = 'deals'::regclass AND NOT tgisinternal"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'deals'"
    assert set(db.scalars(text(sql))) == {
        "deals_stage_totals_insert",
        "deals_stage_totals_update",
        "deals_stage_totals_delete",
    }


def test_totals_pages_keep_room_for_in_place_updates(db):
    """Every deal write updates a totals row: with half of each page free PostgreSQL rewrites it in
    place (HOT) instead of leaving a dead row and an index entry for a VACUUM that may never run."""
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("a PostgreSQL storage parameter")
    options = db.scalar(text("SELECT reloptions FROM pg_class WHERE relname = 'deal_stage_totals'"))
    assert "fillfactor=50" in options


# -- the board reads them --------------------------------------------------------------------------------


@pytest.fixture
def spread(make_deal, pipes, personas):
    """Deals of several owners and departments, one without a probability of its own."""
    b2b = pipes["b2b"]
    make_deal("alice", amount="1000", probability=40)
    make_deal("alice", amount="250.50", stage_id=b2b.stage("Proposition"))
    make_deal("bob", amount="300", stage_id=b2b.stage("Proposition"))
    make_deal("manager", amount="80.25", stage_id=b2b.stage("Gagné"))
    make_deal("outsider", amount="7000")
    make_deal("admin", amount="5", department_id=personas["_departments"]["commercial"])
    make_deal("admin", amount="9")  # Direction
    return b2b


def test_board_totals_per_persona(db, personas, spread):
    from carnet.deals.models import Stage

    # a deal without a probability of its own is weighted by its stage's current probability
    db.execute(update(Deal).where(Deal.amount == Decimal("9")).values(probability=None))
    db.execute(update(Stage).where(Stage.id == spread.stage("Qualification")).values(probability=20))
    expected = {
        # Qualification: alice 1000 × 40 %, outsider 7000 × 10 %, admin 5 × 10 %, 9 × 20 % (stage's)
        "admin": (7, Decimal("8644.75"), (4, Decimal("8014.00"), Decimal("1102.30"))),
        # the Commercial department: alice, bob, the manager, and the admin's deal filed there
        "manager": (5, Decimal("1635.75"), (2, Decimal("1005.00"), Decimal("400.50"))),
        "alice": (5, Decimal("1635.75"), (2, Decimal("1005.00"), Decimal("400.50"))),
        "outsider": (1, Decimal("7000.00"), (1, Decimal("7000.00"), Decimal("700.00"))),
    }
    for who, (count, total, qualification) in expected.items():
        board = service.board(db, _actor(db, personas, who), spread.id)
        assert (board.count, board.total) == (count, total), who
        columns = _column_sums(board)
        assert columns["Qualification"] == qualification, who
        # the same board through the live aggregate (a search needs the deals themselves)
        live = service.board(db, _actor(db, personas, who), spread.id, {"q": "offre"})
        assert _column_sums(live) == columns, who


def test_board_with_own_scope_and_owner_filters(db, personas, spread):
    permissions.set_scope(db, "deal", "own")
    db.commit()
    alice = service.board(db, _actor(db, personas, "alice"), spread.id)
    assert (alice.count, alice.total) == (2, Decimal("1250.50"))
    manager = service.board(db, _actor(db, personas, "manager"), spread.id)  # managers see their department
    assert (manager.count, manager.total) == (5, Decimal("1635.75"))

    admin = _actor(db, personas, "admin")
    bob_only = service.board(db, admin, spread.id, {"owner_id": str(personas["bob"].id)})
    assert (bob_only.count, bob_only.total) == (1, Decimal("300.00"))
    both = {"owner_id__in": f"{personas['bob'].id},{personas['alice'].id}"}
    assert service.board(db, admin, spread.id, both).count == 3
    by_department = {"department_id": str(personas["_departments"]["finance"])}
    assert service.board(db, admin, spread.id, by_department).total == Decimal("7000.00")
    assert totals.answers(parse_params({"owner_id": "1", "department_id__isnull": "false"}))
    assert not totals.answers(parse_params({"amount__gte": "100"}))


def test_board_falls_back_to_the_deals_for_other_filters(db, personas, spread):
    admin = _actor(db, personas, "admin")
    board = service.board(db, admin, spread.id, {"amount__gte": "1000"})
    assert (board.count, board.total) == (2, Decimal("8000.00"))
    # the stored path gives the same answer as the live one for the filters it takes
    stored = service.board(db, admin, spread.id, {"owner_id": str(personas["alice"].id)})
    live = service.board(db, admin, spread.id, {"owner_id": str(personas["alice"].id), "q": "offre"})
    assert _column_sums(stored) == _column_sums(live)


def test_a_bad_owner_filter_is_a_field_error(api, pipes):
    r = api("alice").get(f"/api/v1/pipelines/{pipes['b2b'].id}/board", params={"owner_id": "moi"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "owner_id"


# -- maintenance -----------------------------------------------------------------------------------------


def test_recompute_reports_then_fixes_a_tampered_row(db, pipes, make_deal):
    first = make_deal(amount="1000")
    make_deal(amount="50", stage_id=pipes["b2b"].stage("Proposition"))
    t = DealStageTotal
    key = _key(first)
    where = (t.pipeline_id == key[0], t.stage_id == key[1], t.department_id == key[2], t.owner_id == key[3])
    db.execute(update(t).where(*where).values(deal_count=t.deal_count + 5, amount_total=1))
    db.add(
        DealStageTotal(
            pipeline_id=key[0],
            stage_id=999_999,
            department_id=0,
            owner_id=0,
            deal_count=1,
            amount_total=0,
            weighted_total=0,
            unweighted_amount=0,
        )
    )
    db.commit()
    tampered = stored_totals(db)

    assert totals.recompute(db, dry_run=True) == 2
    assert stored_totals(db) == tampered  # a dry run only reports

    assert totals.recompute(db, dry_run=False) == 2
    assert_totals_match(db)
    assert totals.recompute(db, dry_run=True) == 0


def test_recompute_drops_empty_rows_and_finds_a_missing_one(api, db, pipes, make_deal):
    deal = make_deal(amount="10")
    r = api("alice").post(
        f"/api/v1/deals/{deal['id']}/move", json={"stage_id": pipes["b2b"].stage("Découverte")}
    )
    assert r.status_code == 200, r.text
    assert (
        db.scalar(select(DealStageTotal.deal_count).where(DealStageTotal.stage_id == deal["stage_id"])) == 0
    )
    assert totals.recompute(db, dry_run=False) == 0
    assert (
        db.scalar(select(DealStageTotal.deal_count).where(DealStageTotal.stage_id == deal["stage_id"]))
        is None
    )

    db.execute(delete(DealStageTotal))
    db.commit()
    assert totals.recompute(db, dry_run=False) == 1
    assert_totals_match(db)
