"""The audit trail is a hash chain: `carnet audit verify` passes on an intact trail and names the
first entry that was altered, removed, reordered or inserted behind the application's back."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, event, func, insert, select, update

from carnet.cli import main
from carnet.core import audit
from carnet.core.audit import GENESIS, AuditEntry, AuditHead
from carnet.core.context import Actor


def _append(db, count: int) -> list[AuditEntry]:
    actor = Actor(user_id=None, label="tests", ip="192.0.2.7", user_agent="pytest")
    seqs = [
        audit.record(
            db, actor, "update", "organisation", 1000 + i, {"city": {"old": "Lyon", "new": f"Paris {i}"}}, "x"
        )
        for i in range(count)
    ]
    db.commit()
    entries = _entries(db)[-count:]
    assert [entry.seq for entry in entries] == seqs
    return entries


def _verify_cli():  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["audit", "verify"])


def _entries(db) -> list[AuditEntry]:
    db.expire_all()
    return list(db.scalars(select(AuditEntry).order_by(AuditEntry.seq)))


def test_entries_chain_from_genesis_and_the_head_follows(db):
    _append(db, 3)
    entries = _entries(db)

    assert entries[0].seq == 1 and entries[0].prev_hash == GENESIS
    for previous, entry in pairwise(entries):
        assert entry.seq == previous.seq + 1
        assert entry.prev_hash == previous.entry_hash
    for entry in entries:
        assert entry.entry_hash == audit.compute_hash(entry.prev_hash, entry)
    head = db.get(AuditHead, audit.HEAD_ID)
    assert (head.seq, head.entry_hash) == (entries[-1].seq, entries[-1].entry_hash)
    assert entries[-1].changes == {"city": {"old": "Lyon", "new": "Paris 2"}}
    assert entries[-1].ip == "192.0.2.7" and entries[-1].user_agent == "pytest"


def test_verify_passes_on_an_intact_chain(db):
    _append(db, 5)
    total = db.scalar(select(func.count()).select_from(AuditEntry))

    result = _verify_cli()

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"audit trail intact: {total} entries verified"


def test_verify_names_an_entry_whose_changes_were_edited(db):
    target = _append(db, 5)[2].seq
    db.execute(
        update(AuditEntry)
        .where(AuditEntry.seq == target)
        .values(changes={"city": {"old": "Lyon", "new": "X"}})
    )

    result = _verify_cli()

    assert result.exit_code == 1
    assert f"audit trail broken at entry {target}: entry {target} was altered" in result.stderr


def test_verify_names_a_removed_entry(db):
    target = _append(db, 5)[1].seq
    db.execute(delete(AuditEntry).where(AuditEntry.seq == target))

    result = _verify_cli()

    assert result.exit_code == 1
    assert f"audit trail broken at entry {target}: entry {target} is missing or out of order" in result.stderr


def test_verify_sees_entries_cut_from_the_end(db):
    entries = _append(db, 5)
    last = entries[-1].seq
    db.execute(delete(AuditEntry).where(AuditEntry.seq >= last - 1))

    result = _verify_cli()

    assert result.exit_code == 1
    assert (
        f"audit trail broken at entry {last - 1}: entries {last - 1} to {last} were removed" in result.stderr
    )


def _forge(db, entry_hash: str | None) -> int:
    """Append a row directly, linked to the real last entry; None computes a valid hash."""
    last = _entries(db)[-1]
    forged = AuditEntry(
        seq=last.seq + 1,
        occurred_at=last.occurred_at + timedelta(seconds=1),
        actor_id=None,
        actor_label="intruder",
        action="delete",
        record_type="organisation",
        record_id=1,
        summary="",
        changes={},
        ip=None,
        user_agent=None,
        request_id=None,
        prev_hash=last.entry_hash,
    )
    forged.entry_hash = entry_hash or audit.compute_hash(last.entry_hash, forged)
    db.execute(
        insert(AuditEntry).values(
            {c.key: getattr(forged, c.key) for c in AuditEntry.__table__.columns if c.key != "id"}
        )
    )
    return forged.seq


def test_verify_names_an_inserted_entry_with_a_forged_hash(db):
    _append(db, 3)
    seq = _forge(db, hashlib.sha256(b"whatever").hexdigest())

    result = _verify_cli()

    assert result.exit_code == 1
    assert f"audit trail broken at entry {seq}: entry {seq} was altered" in result.stderr


def test_verify_names_an_inserted_entry_even_with_a_correctly_computed_hash(db):
    _append(db, 3)
    seq = _forge(db, None)

    result = _verify_cli()

    assert result.exit_code == 1
    assert f"audit trail broken at entry {seq}: entry {seq} was added after the recorded end" in result.stderr


def test_verify_refuses_a_trail_whose_head_was_removed(db):
    _append(db, 2)
    db.execute(delete(AuditHead))
    result = _verify_cli()
    assert result.exit_code == 1
    assert "the record of the last entry is missing" in result.stderr


# -- property: any tampering is detected --------------------------------------------------------------

FIELDS = (
    "changes",
    "summary",
    "actor_label",
    "action",
    "record_id",
    "ip",
    "occurred_at",
    "prev_hash",
    "entry_hash",
)


def _altered(entry: AuditEntry, field: str, salt: int) -> object:
    value = getattr(entry, field)
    if field == "changes":
        return {**value, "tampered": salt}
    if field in ("summary", "actor_label"):
        return f"{value}~{salt}"
    if field == "action":
        return "create" if value != "create" else "delete"
    if field == "record_id":
        return (value or 0) + salt + 1
    if field == "ip":
        return f"203.0.113.{salt % 250 + 1}" if value != f"203.0.113.{salt % 250 + 1}" else "198.51.100.1"
    if field == "occurred_at":
        return value + timedelta(microseconds=salt + 1)
    forged = hashlib.sha256(f"{salt}".encode()).hexdigest()
    return forged if forged != value else GENESIS


def test_any_random_tampering_is_detected(db):
    _append(db, 30)
    entries = _entries(db)
    seqs = [e.seq for e in entries]
    assert audit.verify(db).ok

    # the ends of the chain are where an unanchored chain is weak: draw them often
    index = st.one_of(st.just(0), st.just(len(seqs) - 1), st.integers(0, len(seqs) - 1))

    @settings(max_examples=150, deadline=None, database=None)
    @given(
        kind=st.sampled_from(["alter", "delete", "swap"]),
        i=index,
        j=index,
        field=st.sampled_from(FIELDS),
        salt=st.integers(0, 10_000),
    )
    def tamper_and_verify(kind: str, i: int, j: int, field: str, salt: int) -> None:
        savepoint = db.begin_nested()
        try:
            if kind == "alter":
                entry = db.scalar(select(AuditEntry).where(AuditEntry.seq == seqs[i]))
                new_value = _altered(entry, field, salt)
                db.execute(update(AuditEntry).where(AuditEntry.id == entry.id).values({field: new_value}))
            elif kind == "delete":
                db.execute(delete(AuditEntry).where(AuditEntry.seq == seqs[i]))
            else:
                a, b = seqs[i], seqs[j] if j != i else seqs[(i + 1) % len(seqs)]
                db.execute(update(AuditEntry).where(AuditEntry.seq == a).values(seq=-1))
                db.execute(update(AuditEntry).where(AuditEntry.seq == b).values(seq=a))
                db.execute(update(AuditEntry).where(AuditEntry.seq == -1).values(seq=b))
            db.expire_all()
            result = audit.verify(db)
            assert not result.ok, (kind, seqs[i], field)
            assert result.first_bad_seq is not None
        finally:
            savepoint.rollback()
            db.expire_all()

    tamper_and_verify()
    assert audit.verify(db).ok  # every tampering was rolled back: the chain is whole again


def test_appends_while_verifying_are_not_reported_as_tampering(db, monkeypatch):
    """`carnet audit verify` runs against a live database: entries appended after it read the head,
    or after it read the entries, are not tampering."""
    _append(db, 3)
    real_head = audit._head
    calls = []

    def head_then_append(session):  # type: ignore[no-untyped-def]
        found = real_head(session)
        calls.append(found)
        _append(db, 2)  # another request commits entries right after each read of the head
        return found

    monkeypatch.setattr(audit, "_head", head_then_append)

    result = audit.verify(db)

    assert len(calls) == 2
    assert result.ok, result.problem
    assert result.checked == calls[1].seq  # the entries appended before the last read were checked
    monkeypatch.setattr(audit, "_head", real_head)
    assert audit.verify(db).ok


def _statements(db):  # type: ignore[no-untyped-def]
    statements: list[str] = []
    engine = db.get_bind().engine

    def before(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    return statements, lambda: event.remove(engine, "before_cursor_execute", before)


def test_entries_recorded_together_are_appended_at_the_end_of_the_block_in_order(db):
    alice = Actor(user_id=None, label="alice", ip="192.0.2.7")
    bob = Actor(user_id=None, label="bob", ip="192.0.2.8")
    statements, stop = _statements(db)
    try:
        with audit.appended_together(db):
            assert audit.record(db, alice, "update", "deal", 7, {"stage_id": {"old": 1, "new": 2}}, "x") == 0
            with audit.appended_together(db):  # nested: belongs to the outer block
                audit.record_many(db, alice, [audit.Change("stage_change", "deal", 7, {}, "x")])
            audit.record(db, bob, "won", "deal", 7, {"status": {"old": None, "new": "won"}}, "x")
            assert not [s for s in statements if "audit_entries" in s]
    finally:
        stop()
    db.commit()
    entries = _entries(db)[-3:]
    assert [(e.action, e.actor_label) for e in entries] == [
        ("update", "alice"),
        ("stage_change", "alice"),
        ("won", "bob"),
    ]
    assert entries[0].changes == {"stage_id": {"old": 1, "new": 2}}
    # One append per actor in turn: alice's two entries went in with one INSERT.
    assert len([s for s in statements if s.startswith("INSERT INTO audit_entries")]) == 2
    assert audit.verify(db).ok
    assert _verify_cli().exit_code == 0


def test_nothing_recorded_together_is_appended_when_the_block_raises(db):
    actor = Actor(user_id=None, label="tests")
    before = len(_entries(db))
    with pytest.raises(ValueError), audit.appended_together(db):
        audit.record(db, actor, "update", "deal", 7, {}, "x")
        raise ValueError("the write failed")
    assert len(_entries(db)) == before
    assert audit.record(db, actor, "update", "deal", 7, {}, "x") > 0  # appended at once again


def test_a_commit_inside_the_block_is_refused_rather_than_losing_entries(db):
    actor = Actor(user_id=None, label="tests")
    with pytest.raises(RuntimeError, match="audit entries"), audit.appended_together(db):
        audit.record(db, actor, "update", "deal", 7, {}, "x")
        db.commit()


def test_a_creation_diffs_as_any_other_change():
    """`diff({}, new)` takes a shortcut (imports diff thousands of new records): the same fields,
    values and order as the general comparison."""
    new = {
        "name": "Société",
        "none": None,
        "empty": [],
        "zero": 0,
        "false": False,
        "when": datetime(2026, 11, 21, 9, 30, tzinfo=UTC),
        "amount": Decimal("12.50"),
        "links": [{"organisation_id": 3, "since": date(2026, 1, 2)}],
        "custom_fields": {},
    }
    general = audit.diff({"~unrelated": 1}, new)
    del general["~unrelated"]
    assert audit.diff({}, new) == general
    assert list(audit.diff({}, new)) == list(general)
    assert "none" not in general and general["empty"] == {"old": None, "new": []}
