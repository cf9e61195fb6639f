"""Set-based imports: rows are written a chunk at a time (validated in Python, one statement per
table). These tests make chunks of 3 rows so that every case crosses a chunk boundary: a bad row
in the middle of a chunk, duplicates inside one chunk, across chunks and against the database,
audit entries chained and verified, one event and one search document per record, the undo, and
the row-by-row retry of a chunk the database refuses."""

from __future__ import annotations

import pytest
from import_helpers import csv_bytes, run_file
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from carnet.contacts.models import Contact
from carnet.core import audit, lifecycle, search
from carnet.core.audit import AuditEntry
from carnet.core.events import Event
from carnet.core.search import SearchDocument
from carnet.imports import service
from carnet.imports.models import ImportJob


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "CHUNK_SIZE", 3)


HEADER = ["Prénom", "Nom", "E-mail", "Téléphone", "Étiquettes"]


def _row(i: int, **over: str) -> list[str]:
    values = {
        "first": f"Prénom{i}",
        "last": f"Nom{i}",
        "email": f"personne{i}@exemple.fr",
        "phone": f"06 12 34 56 {i:02d}",
        "tags": "salon" if i % 2 else "",
    }
    values.update(over)
    return [values["first"], values["last"], values["email"], values["phone"], values["tags"]]


def _report(client, job_id: int) -> list[tuple[int, str, str | None, list[str]]]:
    items = client.get(f"/api/v1/imports/{job_id}/report").json()["items"]
    return [(r["line"], r["status"], r["note"], [e["code"] for e in r["errors"]]) for r in items]


def _contacts(client) -> dict[str, dict]:
    items = client.get("/api/v1/contacts", params={"limit": 200}).json()["items"]
    return {c["last_name"]: c for c in items}


def test_rows_across_chunks_with_a_bad_row_in_the_middle_of_one(api, db, database, monkeypatch):
    seen: list[tuple[int, int, int]] = []
    original = service._run_chunk

    def spy(database_, actor, job_id, ctx, chunk):
        original(database_, actor, job_id, ctx, chunk)
        with database.session() as other:  # what a poller sees once the chunk committed
            job = other.get(ImportJob, job_id)
            seen.append((job.processed, job.created, job.failed))

    monkeypatch.setattr(service, "_run_chunk", spy)
    rows = [HEADER] + [_row(i) for i in range(1, 9)]
    rows[5] = _row(5, email="pas-un-email")  # line 6: the middle of the second chunk (lines 5-7)
    alice = api("alice")
    done = run_file(alice, csv_bytes(rows), "contacts.csv", record_type="contact")

    assert (done["status"], done["processed"], done["created"], done["failed"]) == ("done", 8, 7, 1)
    assert seen == [(3, 3, 0), (6, 5, 1), (8, 7, 1)]
    assert _report(alice, done["id"]) == [
        (2, "created", None, []),
        (3, "created", None, []),
        (4, "created", None, []),
        (5, "created", None, []),
        (6, "failed", None, ["invalid_email"]),
        (7, "created", None, []),
        (8, "created", None, []),
        (9, "created", None, []),
    ]
    contacts = _contacts(alice)
    assert sorted(contacts) == ["Nom1", "Nom2", "Nom3", "Nom4", "Nom6", "Nom7", "Nom8"]
    third = contacts["Nom3"]
    assert (third["first_name"], third["emails"], third["phones"], third["tags"], third["version"]) == (
        "Prénom3",
        ["personne3@exemple.fr"],
        ["+33612345603"],
        ["salon"],
        1,
    )
    assert (third["owner_id"], third["created_by_id"]) == (done["user_id"], done["user_id"])
    assert db.scalar(select(func.count()).select_from(Contact).where(Contact.last_name == "Nom5")) == 0


def test_each_record_has_its_audit_entry_event_and_search_document(api, db, actor_of):
    rows = [HEADER] + [_row(i) for i in range(1, 8)]
    rows[2] = _row(2, last="")  # line 3: a row without a last name writes nothing
    alice = api("alice")
    before = db.scalar(select(func.max(AuditEntry.seq))) or 0
    done = run_file(alice, csv_bytes(rows), "contacts.csv", record_type="contact")
    assert (done["created"], done["failed"]) == (6, 1)
    contacts = _contacts(alice)
    ids = sorted(c["id"] for c in contacts.values())

    creates = db.scalars(
        select(AuditEntry)
        .where(AuditEntry.seq > before, AuditEntry.action == "create", AuditEntry.record_type == "contact")
        .order_by(AuditEntry.seq)
    ).all()
    assert sorted(e.record_id for e in creates) == ids
    first = next(e for e in creates if e.record_id == contacts["Nom1"]["id"])
    assert (first.actor_id, first.summary, first.changes["last_name"], first.changes["emails"]) == (
        done["user_id"],
        "Prénom1 Nom1",
        {"old": None, "new": "Nom1"},
        {"old": None, "new": ["personne1@exemple.fr"]},
    )
    assert first.changes["tags"] == {"old": None, "new": ["salon"]}
    result = audit.verify(db)
    assert (result.ok, result.problem) == (True, "")

    events = db.scalars(select(Event).where(Event.type == "contact.created", Event.record_id.in_(ids))).all()
    assert sorted(e.record_id for e in events) == ids
    assert len({e.event_id for e in events}) == 6
    payload = next(e.payload for e in events if e.record_id == contacts["Nom4"]["id"])
    assert payload == contacts["Nom4"]  # the event carries the record as the API shows it

    docs = db.scalars(
        select(SearchDocument).where(
            SearchDocument.record_type == "contact", SearchDocument.record_id.in_(ids)
        )
    ).all()
    assert len(docs) == 6
    hits = search.search(db, actor_of("alice"), "personne6", record_types=["contact"])
    assert [(h.record_id, h.title) for h in hits] == [(contacts["Nom6"]["id"], "Prénom6 Nom6")]
    assert search.search(db, actor_of("alice"), "Nom2", record_types=["contact"]) == []


def test_duplicates_in_one_chunk_across_chunks_and_in_the_database(api):
    alice = api("alice")
    existing = alice.post(
        "/api/v1/contacts", json={"last_name": "Ancien", "emails": ["deja@exemple.fr"], "job_title": "DAF"}
    ).json()
    rows = [
        HEADER,
        _row(1),  # line 2, chunk 1: created
        _row(2, last="Bis", email="PERSONNE1@exemple.fr", phone=""),  # line 3: same email, same chunk
        _row(3, last="Deja", email="deja@exemple.fr"),  # line 4: matches the database
        _row(4),  # line 5, chunk 2
        _row(5, last="Ter", email="personne1@exemple.fr", phone=""),  # line 6: same email, next chunk
    ]
    skipped = run_file(alice, csv_bytes(rows), "contacts.csv", record_type="contact", duplicate_mode="skip")
    assert (skipped["created"], skipped["skipped"], skipped["updated"]) == (2, 3, 0)
    contacts = _contacts(alice)
    assert sorted(contacts) == ["Ancien", "Nom1", "Nom4"]
    assert [(line, status, note) for line, status, note, _ in _report(alice, skipped["id"])] == [
        (2, "created", None),
        (3, "skipped", "Already exists"),
        (4, "skipped", "Already exists"),
        (5, "created", None),
        (6, "skipped", "Already exists"),
    ]

    rows = [
        HEADER,
        _row(7, email="neuf@exemple.fr"),
        _row(8, last="Neuf2", email="neuf@exemple.fr", tags="vip"),
    ]
    rows.append(_row(9, last="Ancien", email="deja@exemple.fr", phone="06 99 88 77 66", tags="vip"))
    updated = run_file(alice, csv_bytes(rows), "contacts.csv", record_type="contact", duplicate_mode="update")
    assert (updated["created"], updated["updated"], updated["skipped"]) == (1, 2, 0)
    contacts = _contacts(alice)
    # The second row updated the contact the first row created in the same chunk.
    assert (contacts["Neuf2"]["first_name"], contacts["Neuf2"]["tags"], contacts["Neuf2"]["version"]) == (
        "Prénom8",
        ["salon", "vip"],
        2,
    )
    assert "Nom7" not in contacts
    ancien = contacts["Ancien"]
    assert (ancien["id"], ancien["phones"], ancien["tags"], ancien["job_title"]) == (
        existing["id"],
        ["+33699887766"],
        ["vip"],
        "DAF",
    )

    created = run_file(alice, csv_bytes(rows), "contacts.csv", record_type="contact", duplicate_mode="create")
    assert created["created"] == 3


def test_a_duplicate_the_user_cannot_see_is_not_updated(api):
    hidden = (
        api("outsider")
        .post("/api/v1/contacts", json={"last_name": "Cachée", "emails": ["cache@exemple.fr"]})
        .json()
    )
    alice = api("alice")
    rows = [HEADER, _row(1, last="Visible", email="cache@exemple.fr")]
    done = run_file(alice, csv_bytes(rows), "contacts.csv", record_type="contact", duplicate_mode="update")
    assert (done["created"], done["updated"]) == (1, 0)
    assert api("outsider").get(f"/api/v1/contacts/{hidden['id']}").json()["last_name"] == "Cachée"
    assert api("outsider").get(f"/api/v1/contacts/{hidden['id']}").json()["version"] == 1


def test_custom_fields_are_validated_per_row(api, db, actor_of):
    from carnet.core import customfields

    customfields.create_definition(
        db,
        actor_of("admin"),
        {
            "record_type": "contact",
            "key": "segment",
            "label": "Segment",
            "field_type": "select",
            "options": ["PME", "ETI"],
        },
    )
    rows = [HEADER + ["Segment"]] + [_row(i) + [value] for i, value in enumerate(["PME", "GE", "ETI"], 1)]
    alice = api("alice")
    done = run_file(alice, csv_bytes(rows), "contacts.csv", record_type="contact")
    assert (done["created"], done["failed"]) == (2, 1)
    failed = alice.get(f"/api/v1/imports/{done['id']}/report", params={"status": "failed"}).json()["items"]
    assert [(r["line"], [(e["field"], e["column"], e["code"]) for e in r["errors"]]) for r in failed] == [
        (3, [("custom_fields.segment", "Segment", "invalid_choice")])
    ]
    assert {c["last_name"]: c["custom_fields"] for c in _contacts(alice).values()} == {
        "Nom1": {"segment": "PME"},
        "Nom3": {"segment": "ETI"},
    }


def test_undo_after_a_set_based_import(api, db):
    alice = api("alice")
    existing = alice.post(
        "/api/v1/contacts", json={"last_name": "Ancien", "emails": ["deja@exemple.fr"], "city": "Lyon"}
    ).json()
    rows = [HEADER] + [_row(i) for i in range(1, 6)]
    rows.append(_row(6, last="Nouveau nom", email="deja@exemple.fr"))
    done = run_file(alice, csv_bytes(rows), "contacts.csv", record_type="contact", duplicate_mode="update")
    assert (done["created"], done["updated"]) == (5, 1)
    assert sorted(_contacts(alice)) == ["Nom1", "Nom2", "Nom3", "Nom4", "Nom5", "Nouveau nom"]

    r = alice.post(f"/api/v1/imports/{done['id']}/undo")
    assert r.status_code == 202
    job = alice.get(f"/api/v1/imports/{done['id']}").json()
    assert (job["status"], job["undo_summary"]) == ("undone", {"deleted": 5, "restored": 1, "kept": 0})
    after = _contacts(alice)
    assert sorted(after) == ["Ancien"]
    assert (after["Ancien"]["emails"], after["Ancien"]["phones"], after["Ancien"]["city"]) == (
        ["deja@exemple.fr"],
        [],
        "Lyon",
    )
    assert after["Ancien"]["id"] == existing["id"]
    assert audit.verify(db).ok


def test_a_chunk_the_database_refuses_is_retried_row_by_row(api, db, monkeypatch):
    """A constraint validation cannot see (simulated on the contacts INSERT): only its row fails."""
    real_insert = lifecycle.insert_new

    def refusing_insert(db_, model, objs):
        if any(getattr(o, "last_name", None) == "Refusée" for o in objs):
            raise IntegrityError("INSERT INTO contacts", {}, Exception("refused by the database"))
        real_insert(db_, model, objs)

    monkeypatch.setattr(lifecycle, "insert_new", refusing_insert)
    rows = [HEADER] + [_row(i) for i in range(1, 7)]
    rows[2] = _row(2, last="Refusée")
    alice = api("alice")
    done = run_file(alice, csv_bytes(rows), "contacts.csv", record_type="contact")
    assert (done["status"], done["created"], done["failed"]) == ("done", 5, 1)
    assert _report(alice, done["id"])[:3] == [
        (2, "created", None, []),
        (3, "failed", None, ["database_error"]),
        (4, "created", None, []),
    ]
    assert sorted(_contacts(alice)) == ["Nom1", "Nom3", "Nom4", "Nom5", "Nom6"]
    assert audit.verify(db).ok


def test_a_chunk_with_a_bad_row_is_freed_as_soon_as_it_is_written(db, actor_of):
    """A row's error is kept in the results without its traceback: with it, the traceback held
    the service's frame, which held the results, and the whole chunk (records, snapshots,
    payloads) waited for a full garbage collection, over the whole heap, chunk after chunk."""
    import gc
    import weakref

    from carnet.contacts import service as contacts
    from carnet.core.errors import ValidationFailed

    gc.disable()  # only reference counting frees objects here
    try:
        results = contacts.create_contacts(
            db, actor_of("alice"), [{"last_name": "Valide"}, {"last_name": "", "first_name": "Sans nom"}]
        )
        assert isinstance(results[1], ValidationFailed)
        assert [e.code for e in results[1].errors] == ["required"]
        written, refused = weakref.ref(results[0]), weakref.ref(results[1])
        del results
        assert (written(), refused()) == (None, None)
    finally:
        gc.enable()
